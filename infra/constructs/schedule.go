package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ScheduleProps configures Schedule.
type ScheduleProps struct {
	// Expression is the Scheduler expression, e.g. cron(0 6 * * ? *).
	Expression string
	// TimeZone is the IANA zone the expression is evaluated in.
	TimeZone string
	// Mode is the scheduled run's mode; it is always a dry run.
	Mode string
	// StateMachine is started by the schedule.
	StateMachine sfn.IStateMachine
}

// Schedule starts the state machine on a cron with the input
// {"mode": Mode, "dryRun": true}. Its role (created by the target) may
// only call states:StartExecution on this state machine; failed
// deliveries are retried for up to an hour.
type Schedule struct {
	cdk.Construct
	// Schedule is the EventBridge Scheduler schedule.
	Schedule awsscheduler.Schedule
}

// NewSchedule creates the schedule.
func NewSchedule(scope cdk.Construct, id string, props *ScheduleProps) *Schedule {
	c := cdk.NewConstruct(scope, jsii.String(id))
	target := awsschedulertargets.NewStepFunctionsStartExecution(props.StateMachine, &awsschedulertargets.ScheduleTargetBaseProps{
		Input: awsscheduler.ScheduleTargetInput_FromObject(map[string]any{
			"mode": props.Mode, "dryRun": true,
		}),
		RetryAttempts: jsii.Number(5),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
	})
	s := awsscheduler.NewSchedule(c, jsii.String("Schedule"), &awsscheduler.ScheduleProps{
		Schedule:    awsscheduler.ScheduleExpression_Expression(jsii.String(props.Expression), awscdk.TimeZone_Of(jsii.String(props.TimeZone))),
		Target:      target,
		Description: jsii.String("fleetdoctor scheduled " + props.Mode + " (dry run)"),
	})
	return &Schedule{Construct: c, Schedule: s}
}
