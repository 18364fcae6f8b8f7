package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// MemberRoleProps configures MemberRole.
type MemberRoleProps struct {
	// RoleName is the role's name (the hub's FLEETDOCTOR_ROLE_NAME).
	RoleName string
	// HubAccount is trusted, but only its roles whose name starts with
	// HubRolePrefix (the hub Lambdas' execution roles).
	HubAccount    string
	HubRolePrefix string
	// ExternalID must be presented (sts:ExternalId).
	ExternalID string
	// Remediations scopes the write permissions.
	Remediations RemediationScope
}

// MemberRole is the role the hub's Lambdas assume in a member account:
// read-only audit permissions, diagnosis with fleetdoctor's own Command
// document, and writes only for the enabled remediations.
type MemberRole struct {
	cdk.Construct
	// Role is the member role.
	Role awsiam.Role
}

// auditReads are the calls pkg/audit makes (docs/audit-role-policy.json)
// plus reading back commands and automations fleetdoctor started.
var auditReads = []string{
	"cloudwatch:GetMetricData",
	"ec2:Describe*",
	"ec2:GetInstanceMetadataDefaults",
	"iam:GetInstanceProfile", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
	"iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:SimulatePrincipalPolicy",
	"ssm:DescribeInstanceInformation", "ssm:GetServiceSetting",
	"ssm:GetCommandInvocation", "ssm:ListCommandInvocations", "ssm:ListCommands",
	"ssm:DescribeAutomationExecutions", "ssm:GetAutomationExecution", "ssm:DescribeAutomationStepExecutions",
	"ssm:DescribeDocument", "ssm:GetDocument", "ssm:ListInventoryEntries",
}

// NewMemberRole creates the role.
func NewMemberRole(scope cdk.Construct, id string, props *MemberRoleProps) *MemberRole {
	c := cdk.NewConstruct(scope, jsii.String(id))
	hubRoles := awscdkSub("arn:${AWS::Partition}:iam::" + props.HubAccount + ":role/" + props.HubRolePrefix + "*")
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		RoleName: jsii.String(props.RoleName),
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewAccountPrincipal(jsii.String(props.HubAccount)), &map[string]any{
			"StringEquals": map[string]any{"sts:ExternalId": props.ExternalID},
			"ArnLike":      map[string]any{"aws:PrincipalArn": hubRoles},
		}),
		Description: jsii.String("fleetdoctor: assumed by the hub's Lambdas to audit, diagnose and remediate this account"),
	})
	role.AddToPolicy(statement("AuditReadOnly", awsiam.Effect_ALLOW, auditReads, []*string{jsii.String("*")}, nil))

	s := props.Remediations
	automation, command := s.runbooks()
	// Diagnosis runs fleetdoctor's read-only Command document; the host
	// repairs run FleetDoctor-RepairHost when enabled.
	docs := []*string{DocumentARN(hostdiag.DiagnoseDocumentName)}
	for _, d := range command {
		docs = append(docs, DocumentARN(d))
	}
	role.AddToPolicy(statement("SendFleetDoctorCommands", awsiam.Effect_ALLOW, []string{"ssm:SendCommand"},
		append(docs, instancesARN()), nil))
	if len(automation) > 0 {
		var runbooks []*string
		for _, d := range automation {
			runbooks = append(runbooks, runbookARN(d))
		}
		role.AddToPolicy(statement("StartFleetDoctorRunbooks", awsiam.Effect_ALLOW, []string{"ssm:StartAutomationExecution"}, runbooks, nil))
		role.AddToPolicy(statement("PassAutomationRole", awsiam.Effect_ALLOW, []string{"iam:PassRole"}, []*string{roleARN(s.AutomationRoleName)},
			map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ssm.amazonaws.com"}}))
	}
	for _, st := range s.instanceChanges() {
		role.AddToPolicy(st)
	}
	suppress(role, map[string]string{
		"AwsSolutions-IAM5": "Audit reads (ec2:Describe*, IAM/SSM/CloudWatch Get/List) have no resource-level permissions or target resources found at run time; ssm:SendCommand is limited to fleetdoctor's documents (any region: the role is global) and this account's instances; runbook ARNs end in :* for every document version; instance writes are on instance/* with an explicit Deny for fleetdoctor:exempt.",
	})
	return &MemberRole{Construct: c, Role: role}
}
