package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	tasks "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// StateMachineProps configures StateMachine.
type StateMachineProps struct {
	// Functions are the Lambdas the Task states invoke.
	Functions map[string]awslambda.IFunction
	// Bucket holds the targets file the Distributed Map reads.
	Bucket awss3.IBucket
	// MaxConcurrency bounds the account-regions discovered at once.
	MaxConcurrency int
}

// Concurrency of the inline maps: diagnose batches run 10 at a time (SSM
// SendCommand is paced inside a batch); remediate batches run one at a
// time because the executor paces StartAutomationExecution (1 TPS per
// account-region) and runs its waves inside a batch.
const (
	DiagnoseMapConcurrency  = 10
	RemediateMapConcurrency = 1
)

// LambdaRetryErrors are the Lambda service errors every Task retries.
var LambdaRetryErrors = []string{
	"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
	"Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException",
}

// StateMachine is the run: validate, resolve targets, discover every
// account-region (Distributed Map over the targets file), optionally
// diagnose and remediate in batches, report.
type StateMachine struct {
	cdk.Construct
	// StateMachine is the Standard state machine.
	StateMachine sfn.StateMachine
	// Logs receives its execution history events.
	Logs awslogs.LogGroup
}

// at is a JSONPath reference.
func at(path string) *string { return sfn.JsonPath_StringAt(jsii.String(path)) }

// NewStateMachine builds the definition with the contract's state names
// (pkg/service) and JSONPath only, so aws-local-stepfunctions can run it.
func NewStateMachine(scope cdk.Construct, id string, props *StateMachineProps) *StateMachine {
	c := cdk.NewConstruct(scope, jsii.String(id))
	invoke := func(state, fn string, payload map[string]any, resultPath *string) tasks.LambdaInvoke {
		t := tasks.NewLambdaInvoke(c, jsii.String(state), &tasks.LambdaInvokeProps{
			StateName:                jsii.String(state),
			LambdaFunction:           props.Functions[fn],
			Payload:                  sfn.TaskInput_FromObject(&payload),
			PayloadResponseOnly:      jsii.Bool(true),
			RetryOnServiceExceptions: jsii.Bool(false),
			ResultPath:               resultPath,
		})
		t.AddRetry(&sfn.RetryProps{
			Errors:         jsii.Strings(LambdaRetryErrors...),
			Interval:       awscdk.Duration_Seconds(jsii.Number(2)),
			MaxAttempts:    jsii.Number(6),
			BackoffRate:    jsii.Number(2),
			JitterStrategy: sfn.JitterType_FULL,
		})
		return t
	}
	caught := jsii.String("$.error")
	errorOf := map[string]any{"error": at("$.error.Error"), "cause": at("$.error.Cause")}
	with := func(m map[string]any, extra map[string]any) map[string]any {
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	rejected := sfn.NewFail(c, jsii.String(service.StateInputRejected), &sfn.FailProps{
		StateName: jsii.String(service.StateInputRejected),
		ErrorPath: at("$.error.Error"),
		CausePath: at("$.error.Cause"),
	})
	validate := invoke(service.StateValidateInput, service.LambdaTargets, map[string]any{
		"action":        "validate",
		"input":         sfn.JsonPath_EntirePayload(),
		"executionName": sfn.JsonPath_ExecutionName(),
	}, jsii.String("$"))
	validate.AddCatch(rejected, &sfn.CatchProps{Errors: jsii.Strings(service.ErrorInvalidInput), ResultPath: caught})

	resolve := invoke(service.StateResolveTargets, service.LambdaTargets, map[string]any{
		"action": "resolve", "input": at("$.input"),
	}, jsii.String("$.targets"))

	// Discover: one child execution per account-region of the targets
	// file. A failed account-region is recorded as an audit_incomplete
	// finding and the run goes on (per-item Catch, and 100% tolerated).
	discover := invoke(service.StateDiscover, service.LambdaDiscover, map[string]any{
		"runId": at("$.runId"), "account": at("$.account"), "region": at("$.region"), "input": at("$.input"),
	}, nil)
	discoverFailed := invoke(service.StateDiscoverFailed, service.LambdaDiscover, with(map[string]any{
		"action": "recordFailure", "runId": at("$.runId"), "account": at("$.account"), "region": at("$.region"), "input": at("$.input"),
	}, errorOf), nil)
	discover.AddCatch(discoverFailed, &sfn.CatchProps{Errors: jsii.Strings(*sfn.Errors_ALL()), ResultPath: caught})
	discoverMap := sfn.NewDistributedMap(c, jsii.String(service.StateDiscoverMap), &sfn.DistributedMapProps{
		StateName: jsii.String(service.StateDiscoverMap),
		ItemReader: sfn.NewS3JsonItemReader(&sfn.S3FileItemReaderProps{
			Bucket: props.Bucket,
			Key:    at("$.targets.key"),
		}),
		ItemSelector: &map[string]any{
			"runId":   at("$$.Map.Item.Value.runId"),
			"account": at("$$.Map.Item.Value.account"),
			"region":  at("$$.Map.Item.Value.region"),
			"input":   at("$.input"),
		},
		MaxConcurrency:             jsii.Number(float64(props.MaxConcurrency)),
		ToleratedFailurePercentage: jsii.Number(100),
		MapExecutionType:           sfn.StateMachineType_STANDARD,
		ResultPath:                 sfn.JsonPath_DISCARD(),
	})
	discoverMap.ItemProcessor(discover, nil)

	report := invoke(service.StateReport, service.LambdaReport, map[string]any{
		"runId": at("$.input.runId"), "input": at("$.input"),
	}, jsii.String("$.report"))
	reportFailed := sfn.NewFail(c, jsii.String(service.StateReportFailed), &sfn.FailProps{
		StateName: jsii.String(service.StateReportFailed),
		ErrorPath: at("$.error.Error"),
		CausePath: at("$.error.Cause"),
	})
	report.AddCatch(reportFailed, &sfn.CatchProps{Errors: jsii.Strings(*sfn.Errors_ALL()), ResultPath: caught})
	report.Next(sfn.NewSucceed(c, jsii.String(service.StateSucceeded), &sfn.SucceedProps{StateName: jsii.String(service.StateSucceeded)}))

	// batchMap runs one Task per batch of a plan, recording a failed batch
	// instead of failing the run.
	batchMap := func(mapState, batchState, failedState, fn, plan string, concurrency int) sfn.Map {
		item := map[string]any{"action": "batch", "runId": at("$.runId"), "input": at("$.input"), "batch": at("$.batch")}
		batch := invoke(batchState, fn, item, nil)
		failed := invoke(failedState, fn, with(map[string]any{
			"action": "recordFailure", "runId": at("$.runId"), "input": at("$.input"), "batch": at("$.batch"),
		}, errorOf), nil)
		batch.AddCatch(failed, &sfn.CatchProps{Errors: jsii.Strings(*sfn.Errors_ALL()), ResultPath: caught})
		m := sfn.NewMap(c, jsii.String(mapState), &sfn.MapProps{
			StateName: jsii.String(mapState),
			ItemsPath: jsii.String(plan + ".batches"),
			ItemSelector: &map[string]any{
				"runId": at("$.input.runId"), "input": at("$.input"), "batch": at("$$.Map.Item.Value"),
			},
			MaxConcurrency: jsii.Number(float64(concurrency)),
			ResultPath:     sfn.JsonPath_DISCARD(),
		})
		m.ItemProcessor(batch, nil)
		return m
	}

	planDiagnosis := invoke(service.StatePlanDiagnosis, service.LambdaDiagnose, map[string]any{
		"action": "plan", "runId": at("$.input.runId"), "input": at("$.input"),
	}, jsii.String("$.diagnosis"))
	diagnoseMap := batchMap(service.StateDiagnoseMap, service.StateDiagnoseBatch, service.StateDiagnoseFailed,
		service.LambdaDiagnose, "$.diagnosis", DiagnoseMapConcurrency)
	planRemediation := invoke(service.StatePlanRemediation, service.LambdaRemediate, map[string]any{
		"action": "plan", "runId": at("$.input.runId"), "input": at("$.input"),
	}, jsii.String("$.remediation"))
	remediateMap := batchMap(service.StateRemediateMap, service.StateRemediateBatch, service.StateRemediateFailed,
		service.LambdaRemediate, "$.remediation", RemediateMapConcurrency)

	mode := jsii.String("$.input.mode")
	applyChoice := sfn.NewChoice(c, jsii.String(service.StateChooseApply), &sfn.ChoiceProps{StateName: jsii.String(service.StateChooseApply)}).
		When(sfn.Condition_And(
			sfn.Condition_IsPresent(jsii.String("$.input.dryRun")),
			sfn.Condition_BooleanEquals(jsii.String("$.input.dryRun"), jsii.Bool(false)),
			sfn.Condition_NumberGreaterThan(jsii.String("$.remediation.planned"), jsii.Number(0)),
		), remediateMap.Next(report), nil).
		Otherwise(report)
	remediateChoice := sfn.NewChoice(c, jsii.String(service.StateChooseRemediate), &sfn.ChoiceProps{StateName: jsii.String(service.StateChooseRemediate)}).
		When(sfn.Condition_StringEquals(mode, jsii.String(service.ModeRemediate)), planRemediation.Next(applyChoice), nil).
		Otherwise(report)
	diagnoseChoice := sfn.NewChoice(c, jsii.String(service.StateChooseDiagnose), &sfn.ChoiceProps{StateName: jsii.String(service.StateChooseDiagnose)}).
		When(sfn.Condition_Or(
			sfn.Condition_StringEquals(mode, jsii.String(service.ModeDiagnose)),
			sfn.Condition_StringEquals(mode, jsii.String(service.ModeRemediate)),
		), planDiagnosis.Next(diagnoseMap).Next(remediateChoice), nil).
		Otherwise(report)

	definition := validate.Next(resolve).Next(discoverMap).Next(diagnoseChoice)

	logs := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	sm := sfn.NewStateMachine(c, jsii.String("StateMachine"), &sfn.StateMachineProps{
		StateMachineType: sfn.StateMachineType_STANDARD,
		DefinitionBody:   sfn.DefinitionBody_FromChainable(definition),
		TracingEnabled:   jsii.Bool(true),
		Timeout:          awscdk.Duration_Hours(jsii.Number(12)),
		Logs: &sfn.LogOptions{
			Destination: logs,
			// ALL events without the execution data: inputs and outputs
			// name accounts and instances; they stay in S3.
			Level:                sfn.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false),
		},
	})
	suppress(sm, map[string]string{
		"AwsSolutions-IAM5": "CDK's generated policy: lambda:InvokeFunction on <function>:* (all versions of the five fleetdoctor functions), X-Ray and CloudWatch Logs delivery actions which have no resource-level permissions, states:StartExecution/DescribeExecution on this state machine's own child executions (Distributed Map), and s3:GetObject on the report bucket's objects for the ItemReader.",
	})
	return &StateMachine{Construct: c, StateMachine: sm, Logs: logs}
}
