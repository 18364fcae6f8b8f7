package stacks

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	fd "github.com/fleetdoctor/fleetdoctor/infra/constructs"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// Hub is the hub stack and its parts, for tests and outputs.
type Hub struct {
	awscdk.Stack
	// Storage is the report bucket and its access-log bucket.
	Storage *fd.Storage
	// Notifications is the topic, its key and the Slack secret.
	Notifications *fd.Notifications
	// Functions are the five Lambdas.
	Functions *fd.Functions
	// StateMachine is the run.
	StateMachine *fd.StateMachine
	// Schedule starts the scheduled dry run.
	Schedule *fd.Schedule
	// Monitoring is the dashboard and alarms.
	Monitoring *fd.Monitoring
}

// Member is the member stack and its parts.
type Member struct {
	awscdk.Stack
	// Role is the role the hub assumes.
	Role *fd.MemberRole
	// Automation is the runbooks' role, the instance profile and the
	// DHMC role.
	Automation *fd.Automation
	// Documents are fleetdoctor's SSM documents.
	Documents *fd.Documents
}

// Build adds the hub and member stacks to app, with the AwsSolutions
// cdk-nag checks on both. props must have passed Validate.
func Build(app awscdk.App, props Props) (*Hub, *Member, error) {
	scope := RemediationScopeOf(props)
	hub := NewHub(app, HubStackName, props)
	member, err := NewMember(app, MemberStackName, props, scope)
	if err != nil {
		return nil, nil, err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return hub, member, nil
}

// PolicyDocument is the remediation policy (pkg/policy, JSON) the
// Lambdas get in FLEETDOCTOR_POLICY: the enabled remediations, with the
// instance profile and DHMC role the member stack creates. Empty when no
// remediation is enabled (policy.Default enables none).
func PolicyDocument(props Props) string {
	if len(props.EnabledRemediations) == 0 {
		return ""
	}
	type enabled struct {
		Enabled bool `json:"enabled"`
	}
	doc := struct {
		Version             int                `json:"version"`
		Remediations        map[string]enabled `json:"remediations"`
		InstanceProfileName string             `json:"instanceProfileName,omitempty"`
		DHMCRoleName        string             `json:"dhmcRoleName,omitempty"`
	}{Version: 1, Remediations: map[string]enabled{}}
	for _, id := range props.EnabledRemediations {
		doc.Remediations[id] = enabled{true}
		switch id {
		case policy.AttachProfile:
			doc.InstanceProfileName = InstanceProfileName
		case policy.EnableDHMC:
			doc.DHMCRoleName = DHMCRoleName
		}
	}
	b, _ := json.Marshal(doc) // plain structs: cannot fail
	return string(b)
}

// RemediationScopeOf is the write scope the props enable.
func RemediationScopeOf(props Props) fd.RemediationScope {
	return fd.RemediationScope{
		Enabled:            props.EnabledRemediations,
		Regions:            props.Regions,
		AutomationRoleName: AutomationRoleName,
		InstanceRoleName:   InstanceRoleName,
		DHMCRoleName:       DHMCRoleName,
	}
}

// NewHub builds the hub stack in props.HubAccount / props.Region.
func NewHub(scope cdk.Construct, id string, props Props) *Hub {
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Env:         &awscdk.Environment{Account: jsii.String(props.HubAccount), Region: jsii.String(props.Region)},
		Description: jsii.String("fleetdoctor hub: audits EC2 fleets for IMDS/SSM reachability on a schedule"),
	})
	h := &Hub{Stack: stack}
	h.Storage = fd.NewStorage(stack, "Storage", &fd.StorageProps{RunsRetentionDays: props.RunsRetentionDays})
	h.Notifications = fd.NewNotifications(stack, "Notifications", &fd.NotificationsProps{
		SlackSecretName: props.SlackSecretName, Email: props.NotificationEmail,
	})
	partition := *awscdk.Aws_PARTITION()
	var memberRoles []string
	if props.OrgOU != "" {
		memberRoles = []string{"arn:" + partition + ":iam::*:role/" + props.MemberRoleName}
	}
	for _, a := range props.Accounts {
		memberRoles = append(memberRoles, "arn:"+partition+":iam::"+a+":role/"+props.MemberRoleName)
	}
	env := map[string]string{
		service.EnvBucket:      *h.Storage.Bucket.BucketName(),
		service.EnvRoleName:    props.MemberRoleName,
		service.EnvExternalID:  props.ExternalID,
		service.EnvAccounts:    strings.Join(props.Accounts, ","),
		service.EnvRegions:     strings.Join(props.Regions, ","),
		service.EnvOrgOU:       props.OrgOU,
		service.EnvSecurityHub: "false",
		// The profile lives in every member account under a fixed name.
		// EnvAutomationRoleARN stays unset: it is one ARN for every
		// account, so the runbooks run with the caller's (the member
		// role's) permissions, which carry the same remediation-scoped
		// writes as FleetDoctorAutomation.
		service.EnvInstanceProfile: InstanceProfileName,
		service.EnvSlackSecretARN:  *h.Notifications.SlackSecret.SecretArn(),
		service.EnvSNSTopicARN:     *h.Notifications.Topic.TopicArn(),
	}
	if doc := PolicyDocument(props); doc != "" {
		env[service.EnvPolicy] = doc
	}
	h.Functions = fd.NewFunctions(stack, "Functions", &fd.FunctionsProps{
		LambdaDir:      props.LambdaDir,
		RoleNamePrefix: hubLambdaRoleNamePrefix,
		RoleNameSuffix: props.Region,
		Environment:    env,
		MemberRoleARNs: memberRoles,
		OrgOU:          props.OrgOU != "",
		Bucket:         h.Storage.Bucket,
		Topic:          h.Notifications.Topic,
		SlackSecret:    h.Notifications.SlackSecret,
	})
	fns := map[string]awslambda.IFunction{}
	for k, v := range h.Functions.ByName {
		fns[k] = v
	}
	h.StateMachine = fd.NewStateMachine(stack, "Run", &fd.StateMachineProps{
		Functions: fns, Bucket: h.Storage.Bucket, MaxConcurrency: props.MaxConcurrency,
	})
	h.Schedule = fd.NewSchedule(stack, "Schedule", &fd.ScheduleProps{
		Expression: props.Schedule, TimeZone: props.TimeZone, Mode: props.Mode, StateMachine: h.StateMachine.StateMachine,
	})
	h.Monitoring = fd.NewMonitoring(stack, "Monitoring", &fd.MonitoringProps{
		StateMachine: h.StateMachine.StateMachine, Functions: fns, Topic: h.Notifications.Topic,
		DriftThreshold: props.DriftThreshold, Namespace: report.DefaultEMFNamespace,
	})
	out := func(id string, v *string, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out("StateMachineArn", h.StateMachine.StateMachine.StateMachineArn(), "start on-demand runs here")
	out("ReportBucket", h.Storage.Bucket.BucketName(), "reports land under runs/<runId>/report/")
	out("SlackSecretArn", h.Notifications.SlackSecret.SecretArn(), "put the Slack webhook URL or token here")
	out("TopicArn", h.Notifications.Topic.TopicArn(), "run summaries and alarms")
	return h
}

// NewMember builds the member stack: environment-agnostic and without
// assets (BootstraplessSynthesizer), so it deploys with CloudFormation
// StackSets into every member account and region. IAM is global, so the
// roles are created only in props.Region (a CloudFormation condition);
// the documents are created in every region.
func NewMember(scope cdk.Construct, id string, props Props, s fd.RemediationScope) (*Member, error) {
	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Synthesizer: awscdk.NewBootstraplessSynthesizer(&awscdk.BootstraplessSynthesizerProps{}),
		Description: jsii.String("fleetdoctor member: the role the hub assumes, SSM documents and the Automation role (deploy with StackSets)"),
	})
	m := &Member{Stack: stack}
	docs, err := fd.NewDocuments(stack, "Documents")
	if err != nil {
		return nil, err
	}
	m.Documents = docs
	m.Automation = fd.NewAutomation(stack, "Automation", s, InstanceProfileName)
	m.Role = fd.NewMemberRole(stack, "MemberRole", &fd.MemberRoleProps{
		RoleName:      props.MemberRoleName,
		HubAccount:    props.HubAccount,
		HubRolePrefix: hubLambdaRoleNamePrefix,
		ExternalID:    props.ExternalID,
		Remediations:  s,
	})
	iamRegion := awscdk.NewCfnCondition(stack, jsii.String("IsIamRegion"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), jsii.String(props.Region)),
	})
	for _, c := range []cdk.IConstruct{m.Automation, m.Role} {
		for _, child := range *c.Node().FindAll(cdk.ConstructOrder_PREORDER) {
			if r, ok := child.(awscdk.CfnResource); ok {
				r.CfnOptions().SetCondition(iamRegion)
			}
		}
	}
	return m, nil
}
