package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	cw "github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// DriftMetric is the EMF metric (report.WriteEMF) the drift alarm sums:
// FAIL findings per account-region.
const DriftMetric = "FailingFindings"

// MonitoringProps configures Monitoring.
type MonitoringProps struct {
	// StateMachine and Functions are watched.
	StateMachine sfn.IStateMachine
	Functions    map[string]awslambda.IFunction
	// Topic receives the alarms.
	Topic awssns.ITopic
	// DriftThreshold: alarm when a run's failing findings exceed it.
	DriftThreshold float64
	// Namespace is the EMF namespace (report.DefaultEMFNamespace).
	Namespace string
}

// Monitoring is the dashboard and the alarms: failed executions, each
// Lambda's errors and drift above the threshold.
type Monitoring struct {
	cdk.Construct
	// Dashboard shows executions, Lambda errors and drift.
	Dashboard cw.Dashboard
	// Alarms are every alarm, all notifying the topic.
	Alarms []cw.IAlarm
}

// NewMonitoring creates the dashboard and alarms.
func NewMonitoring(scope cdk.Construct, id string, props *MonitoringProps) *Monitoring {
	c := cdk.NewConstruct(scope, jsii.String(id))
	ns := props.Namespace
	if ns == "" {
		ns = report.DefaultEMFNamespace
	}
	m := &Monitoring{Construct: c}
	action := awscloudwatchactions.NewSnsAction(props.Topic)
	add := func(a cw.Alarm) {
		a.AddAlarmAction(action)
		m.Alarms = append(m.Alarms, a)
	}
	failed := props.StateMachine.MetricFailed(&cw.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")})
	add(failed.CreateAlarm(c, jsii.String("ExecutionsFailed"), &cw.CreateAlarmOptions{
		AlarmDescription:   jsii.String("fleetdoctor: a run of the state machine failed"),
		Threshold:          jsii.Number(0),
		ComparisonOperator: cw.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   cw.TreatMissingData_NOT_BREACHING,
	}))
	var errs []cw.IMetric
	for _, name := range FunctionNames {
		e := props.Functions[name].MetricErrors(&cw.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum"), Label: jsii.String(name)})
		errs = append(errs, e)
		add(e.CreateAlarm(c, jsii.String(name+"Errors"), &cw.CreateAlarmOptions{
			AlarmDescription:   jsii.String(fmt.Sprintf("fleetdoctor: the %s Lambda returned errors", name)),
			Threshold:          jsii.Number(0),
			ComparisonOperator: cw.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   cw.TreatMissingData_NOT_BREACHING,
		}))
	}
	// Drift: the sum of FailingFindings over every account-region. The
	// account-regions are not known at synth time (an OU, a scoped run),
	// so the alarm uses a Metrics Insights query, which an alarm may
	// evaluate; the query sees the last 3 hours, so a daily run's point
	// fires the alarm and it returns to OK by itself.
	query := fmt.Sprintf(`SELECT SUM(%s) FROM SCHEMA("%s", Account, Region)`, DriftMetric, ns)
	drift := cw.NewCfnAlarm(c, jsii.String("Drift"), &cw.CfnAlarmProps{
		AlarmDescription:   jsii.String(fmt.Sprintf("fleetdoctor: more than %v failing findings in the last run", props.DriftThreshold)),
		ComparisonOperator: jsii.String("GreaterThanThreshold"),
		Threshold:          jsii.Number(props.DriftThreshold),
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   jsii.String("notBreaching"),
		AlarmActions:       &[]any{props.Topic.TopicArn()},
		Metrics: []any{&cw.CfnAlarm_MetricDataQueryProperty{
			Id:         jsii.String("drift"),
			Expression: jsii.String(query),
			Period:     jsii.Number(3600),
			ReturnData: jsii.Bool(true),
			Label:      jsii.String("failing findings"),
		}},
	})
	m.Alarms = append(m.Alarms, cw.Alarm_FromAlarmArn(c, jsii.String("DriftRef"), drift.AttrArn()))

	m.Dashboard = cw.NewDashboard(c, jsii.String("Dashboard"), &cw.DashboardProps{
		DefaultInterval: awscdk.Duration_Days(jsii.Number(7)),
	})
	m.Dashboard.AddWidgets(
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: jsii.String("Runs"), Width: jsii.Number(8), Left: &[]cw.IMetric{
			props.StateMachine.MetricSucceeded(nil), failed,
		}}),
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: jsii.String("Lambda errors"), Width: jsii.Number(8), Left: &errs}),
		cw.NewGraphWidget(&cw.GraphWidgetProps{Title: jsii.String("Failing findings (drift)"), Width: jsii.Number(8), Left: &[]cw.IMetric{
			cw.NewMathExpression(&cw.MathExpressionProps{
				Expression: jsii.String(query), Label: jsii.String("failing findings"), Period: awscdk.Duration_Hours(jsii.Number(1)),
				UsingMetrics: &map[string]cw.IMetric{},
			}),
		}, LeftAnnotations: &[]*cw.HorizontalAnnotation{{Value: jsii.Number(props.DriftThreshold), Label: jsii.String("threshold")}}}),
	)
	return m
}
