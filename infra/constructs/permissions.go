package constructs

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
)

// ExemptTag is the tag whose presence on an instance denies every change
// fleetdoctor's roles could make to it.
const ExemptTag = policy.ExemptTag

// arn builds an ARN of this account with ${AWS::Partition} and
// ${AWS::AccountId} substituted.
func arn(format string) *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:"+format), nil)
}

// instancesARN matches every instance of the account (any region: the
// roles are global).
func instancesARN() *string { return arn("ec2:*:${AWS::AccountId}:instance/*") }

// DocumentARN is the named fleetdoctor document in any region of the
// account (for ssm:SendCommand).
func DocumentARN(name string) *string { return arn("ssm:*:${AWS::AccountId}:document/" + name) }

// runbookARN is the named runbook's definition, every version (for
// ssm:StartAutomationExecution).
func runbookARN(name string) *string {
	return arn("ssm:*:${AWS::AccountId}:automation-definition/" + name + ":*")
}

// roleARN is the named role of this account.
func roleARN(name string) *string { return arn("iam::${AWS::AccountId}:role/" + name) }

func statement(sid string, effect awsiam.Effect, actions []string, resources []*string, conditions map[string]any) awsiam.PolicyStatement {
	p := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Effect: effect, Actions: jsii.Strings(actions...), Resources: &resources}
	if conditions != nil {
		p.Conditions = &conditions
	}
	return awsiam.NewPolicyStatement(p)
}

// RemediationScope says what the write statements cover.
type RemediationScope struct {
	// Enabled are the remediation ids with write permissions.
	Enabled []string
	// Regions bound the account-wide calls without resource-level
	// permissions (ModifyInstanceMetadataDefaults) through
	// aws:RequestedRegion.
	Regions []string
	// AutomationRoleName and InstanceRoleName are passed with
	// iam:PassRole (to ssm.amazonaws.com and ec2.amazonaws.com).
	AutomationRoleName string
	InstanceRoleName   string
	// DHMCRoleName is the role dhmc_enable sets as the DHMC role (passed
	// to ssm.amazonaws.com).
	DHMCRoleName string
}

func (s RemediationScope) has(ids ...string) bool {
	for _, id := range ids {
		if slices.Contains(s.Enabled, id) {
			return true
		}
	}
	return false
}

// ExemptDeny denies the instance changes on instances tagged ExemptTag,
// whatever else allows them.
func ExemptDeny() awsiam.PolicyStatement {
	return statement("DenyChangesToExemptInstances", awsiam.Effect_DENY,
		[]string{"ec2:ModifyInstanceMetadataOptions", "ec2:AssociateIamInstanceProfile"},
		[]*string{instancesARN()},
		map[string]any{"Null": map[string]any{"aws:ResourceTag/" + ExemptTag: "false"}})
}

// instanceChanges are the EC2 write statements the enabled remediations
// need, for the role that calls EC2 (the member role directly, or the
// Automation role inside a runbook).
func (s RemediationScope) instanceChanges() []awsiam.PolicyStatement {
	var out []awsiam.PolicyStatement
	if s.has(policy.EnableEndpoint, policy.RequireTokens, policy.SetHopLimit) {
		out = append(out, statement("ModifyInstanceMetadataOptions", awsiam.Effect_ALLOW,
			[]string{"ec2:ModifyInstanceMetadataOptions"}, []*string{instancesARN()}, nil))
	}
	if s.has(policy.AttachProfile) {
		out = append(out,
			statement("AssociateInstanceProfile", awsiam.Effect_ALLOW,
				[]string{"ec2:AssociateIamInstanceProfile"}, []*string{instancesARN()}, nil),
			statement("PassInstanceRole", awsiam.Effect_ALLOW, []string{"iam:PassRole"}, []*string{roleARN(s.InstanceRoleName)},
				map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ec2.amazonaws.com"}}))
	}
	if s.has(policy.AccountDefaults) {
		// No resource-level permissions: bound to the audited regions.
		out = append(out, statement("ModifyInstanceMetadataDefaults", awsiam.Effect_ALLOW,
			[]string{"ec2:ModifyInstanceMetadataDefaults"}, []*string{jsii.String("*")},
			map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": s.Regions}}))
	}
	if s.has(policy.EnableDHMC) {
		out = append(out,
			statement("EnableDHMC", awsiam.Effect_ALLOW, []string{"ssm:UpdateServiceSetting"},
				[]*string{arn("ssm:*:${AWS::AccountId}:servicesetting/ssm/managed-instance/default-ec2-instance-management-role")}, nil),
			statement("PassDHMCRole", awsiam.Effect_ALLOW, []string{"iam:PassRole"}, []*string{roleARN(s.DHMCRoleName)},
				map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ssm.amazonaws.com"}}))
	}
	if len(out) > 0 {
		out = append(out, ExemptDeny())
	}
	return out
}

// runbooks are the runbooks and Command documents of the enabled
// remediations.
func (s RemediationScope) runbooks() (automation, command []string) {
	for _, id := range s.Enabled {
		doc, ok := remediate.DocumentOf(id)
		if !ok {
			continue
		}
		if slices.Contains([]string{hostdiag.RepairDocumentName}, doc) {
			if !slices.Contains(command, doc) {
				command = append(command, doc)
			}
		} else if !slices.Contains(automation, doc) {
			automation = append(automation, doc)
		}
	}
	slices.Sort(automation)
	slices.Sort(command)
	return automation, command
}

// awscdkSub substitutes pseudo parameters in s.
func awscdkSub(s string) *string { return awscdk.Fn_Sub(jsii.String(s), nil) }
