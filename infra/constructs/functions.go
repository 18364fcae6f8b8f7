package constructs

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// FunctionsProps configures Functions.
type FunctionsProps struct {
	// LambdaDir holds <name>/bootstrap for each Lambda.
	LambdaDir string
	// RoleNamePrefix starts every execution role's name; the member
	// role trusts roles of the hub account with this prefix.
	RoleNamePrefix string
	// RoleNameSuffix ends it (the hub region, as IAM names are global).
	RoleNameSuffix string
	// Environment is set on every function (pkg/service Env* keys).
	Environment map[string]string
	// MemberRoleARNs are the roles discover, diagnose and remediate may
	// assume (one per member account, or a pattern when the accounts come
	// from an OU).
	MemberRoleARNs []string
	// OrgOU is set when the targets function lists accounts of an OU.
	OrgOU bool
	// Bucket, Topic and SlackSecret are what the functions use.
	Bucket      awss3.IBucket
	Topic       awssns.ITopic
	SlackSecret awssecretsmanager.ISecret
}

// function is one Lambda's sizing.
type function struct {
	timeout awscdk.Duration
	memory  float64
	// assumes: the function enters member accounts.
	assumes bool
}

// sizing of each Lambda. Discover audits one account-region (paged EC2,
// SSM and IAM reads at the published rates), so it gets Lambda's 15-minute
// maximum; remediate paces waves of Automation executions. Report holds
// the whole run and renders its set: 100,000 findings peak at about
// 450 MB (BENCHMARKS.md), so it gets 2 GB for fleets with more.
var sizing = map[string]function{
	service.LambdaTargets:   {awscdk.Duration_Minutes(jsii.Number(2)), 256, false},
	service.LambdaDiscover:  {awscdk.Duration_Minutes(jsii.Number(15)), 1024, true},
	service.LambdaDiagnose:  {awscdk.Duration_Minutes(jsii.Number(10)), 512, true},
	service.LambdaRemediate: {awscdk.Duration_Minutes(jsii.Number(15)), 512, true},
	service.LambdaReport:    {awscdk.Duration_Minutes(jsii.Number(5)), 2048, false},
}

// Functions are the five Lambdas of pkg/service's contract.
type Functions struct {
	cdk.Construct
	// ByName maps service.Lambda* to its function.
	ByName map[string]awslambda.Function
	// Roles maps service.Lambda* to its execution role.
	Roles map[string]awsiam.Role
}

// FunctionNames lists the Lambdas in contract order.
var FunctionNames = []string{service.LambdaTargets, service.LambdaDiscover, service.LambdaDiagnose, service.LambdaRemediate, service.LambdaReport}

// NewFunctions creates the functions (provided.al2023, arm64, handler
// bootstrap), their log groups and least-privilege roles.
func NewFunctions(scope cdk.Construct, id string, props *FunctionsProps) *Functions {
	c := cdk.NewConstruct(scope, jsii.String(id))
	f := &Functions{Construct: c, ByName: map[string]awslambda.Function{}, Roles: map[string]awsiam.Role{}}
	env := map[string]*string{}
	for k, v := range props.Environment {
		env[k] = jsii.String(v)
	}
	for _, name := range FunctionNames {
		s := sizing[name]
		logs := awslogs.NewLogGroup(c, jsii.String(name+"Logs"), &awslogs.LogGroupProps{
			Retention:     awslogs.RetentionDays_THREE_MONTHS,
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		role := awsiam.NewRole(c, jsii.String(name+"Role"), &awsiam.RoleProps{
			RoleName:    jsii.String(props.RoleNamePrefix + name + "-" + props.RoleNameSuffix),
			AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
			Description: jsii.String("fleetdoctor " + name + " Lambda"),
		})
		logs.GrantWrite(role)
		fn := awslambda.NewFunction(c, jsii.String(name), &awslambda.FunctionProps{
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.LambdaDir, name)), nil),
			Timeout:      s.timeout,
			MemorySize:   jsii.Number(s.memory),
			Role:         role,
			LogGroup:     logs,
			Environment:  &env,
			Description:  jsii.String("fleetdoctor " + name),
		})
		switch name {
		case service.LambdaTargets:
			props.Bucket.GrantReadWrite(role, jsii.String(service.KeyRuns+"*"))
			if props.OrgOU {
				role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid:       jsii.String("ListOrganizationAccounts"),
					Actions:   jsii.Strings("organizations:ListAccountsForParent", "organizations:ListChildren", "organizations:DescribeAccount"),
					Resources: jsii.Strings("*"),
				}))
			}
		case service.LambdaReport:
			props.Bucket.GrantReadWrite(role, nil)
			props.Topic.GrantPublish(role)
			props.SlackSecret.GrantRead(role, nil)
			role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("ImportFindings"),
				Actions:   jsii.Strings("securityhub:BatchImportFindings"),
				Resources: jsii.Strings(*awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"), nil)),
			}))
		default:
			props.Bucket.GrantReadWrite(role, jsii.String(service.KeyRuns+"*"))
			props.Bucket.GrantRead(role, jsii.String(service.KeyLatest))
		}
		if s.assumes {
			role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("AssumeMemberRole"),
				Actions:   jsii.Strings("sts:AssumeRole"),
				Resources: jsii.Strings(props.MemberRoleARNs...),
			}))
		}
		suppress(role, map[string]string{
			"AwsSolutions-IAM5": "Wildcards are scoped: log streams of this function's own log group (logs:CreateLogStream needs :*), objects under the report bucket's runs/ prefix (s3:GetObject*/PutObject* from grantReadWrite), the member role in accounts of the OU when the scope is an OU, and Organizations list calls which have no resource-level permissions.",
		})
		f.ByName[name] = fn
		f.Roles[name] = role
	}
	return f
}
