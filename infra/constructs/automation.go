package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	cdk "github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
)

// Automation is, in a member account, the role fleetdoctor's runbooks run
// as (AutomationAssumeRole, trusted by ssm.amazonaws.com of this account)
// and the instance profile the attach-profile remediation associates.
type Automation struct {
	cdk.Construct
	// Role is the Automation assume role.
	Role awsiam.Role
	// InstanceRole carries AmazonSSMManagedInstanceCore.
	InstanceRole awsiam.Role
	// InstanceProfile wraps InstanceRole.
	InstanceProfile awsiam.InstanceProfile
	// DHMCRole is the Default Host Management Configuration role
	// (dhmc_enable enabled only).
	DHMCRole awsiam.Role
}

// NewAutomation creates the roles with the permissions of the enabled
// remediations only.
func NewAutomation(scope cdk.Construct, id string, s RemediationScope, instanceProfileName string) *Automation {
	c := cdk.NewConstruct(scope, jsii.String(id))
	instanceRole := awsiam.NewRole(c, jsii.String("InstanceRole"), &awsiam.RoleProps{
		RoleName:        jsii.String(s.InstanceRoleName),
		AssumedBy:       awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		Description:     jsii.String("fleetdoctor: lets the SSM agent of an instance without a profile register"),
		ManagedPolicies: &[]awsiam.IManagedPolicy{awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonSSMManagedInstanceCore"))},
	})
	suppress(instanceRole, map[string]string{
		"AwsSolutions-IAM4": "AmazonSSMManagedInstanceCore is the AWS-maintained minimum an SSM agent needs; a copy would drift from what SSM requires.",
	})
	profile := awsiam.NewInstanceProfile(c, jsii.String("InstanceProfile"), &awsiam.InstanceProfileProps{
		InstanceProfileName: jsii.String(instanceProfileName),
		Role:                instanceRole,
	})
	var dhmc awsiam.Role
	if s.has(policy.EnableDHMC) {
		dhmc = awsiam.NewRole(c, jsii.String("DHMCRole"), &awsiam.RoleProps{
			RoleName:        jsii.String(s.DHMCRoleName),
			AssumedBy:       awsiam.NewServicePrincipal(jsii.String("ssm.amazonaws.com"), nil),
			Description:     jsii.String("fleetdoctor: the Default Host Management Configuration role dhmc_enable sets"),
			ManagedPolicies: &[]awsiam.IManagedPolicy{awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("AmazonSSMManagedEC2InstanceDefaultPolicy"))},
		})
		suppress(dhmc, map[string]string{
			"AwsSolutions-IAM4": "DHMC requires its role to carry AmazonSSMManagedEC2InstanceDefaultPolicy (SSM checks for it).",
		})
	}
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		RoleName: jsii.String(s.AutomationRoleName),
		AssumedBy: awsiam.NewPrincipalWithConditions(awsiam.NewServicePrincipal(jsii.String("ssm.amazonaws.com"), nil), &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		}),
		Description: jsii.String("fleetdoctor: the AutomationAssumeRole of its runbooks"),
	})
	role.AddToPolicy(statement("ReadInstances", awsiam.Effect_ALLOW,
		[]string{"ec2:DescribeInstances", "ec2:DescribeIamInstanceProfileAssociations", "ec2:GetInstanceMetadataDefaults", "ssm:GetServiceSetting"},
		[]*string{jsii.String("*")}, nil))
	for _, st := range s.instanceChanges() {
		role.AddToPolicy(st)
	}
	suppress(role, map[string]string{
		"AwsSolutions-IAM5": "ec2:Describe*/GetInstanceMetadataDefaults and ssm:GetServiceSetting reads have no resource-level permissions; writes are on instance/* of this account (instances are chosen at run time) with an explicit Deny on fleetdoctor:exempt instances, and ModifyInstanceMetadataDefaults (no resource-level permissions) is bound by aws:RequestedRegion.",
	})
	return &Automation{Construct: c, Role: role, InstanceRole: instanceRole, InstanceProfile: profile, DHMCRole: dhmc}
}
