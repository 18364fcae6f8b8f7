package stacks

import (
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

// TestMemberWithoutRemediations: with nothing enabled the member stack
// grants no instance change and starts no runbook.
func TestMemberWithoutRemediations(t *testing.T) {
	needNode(t)
	p := testProps(t, lambdaDir(t))
	p.EnabledRemediations = nil
	a := awscdk.NewApp(nil)
	m, err := NewMember(a, MemberStackName, p, RemediationScopeOf(p))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *assertions.Template_FromStack(m.Stack, nil).ToJSON()
	sts := statements(tmpl)
	if len(sts) == 0 {
		t.Fatal("no statements found")
	}
	for _, st := range sts {
		for _, a := range []string{"ec2:ModifyInstanceMetadataOptions", "ec2:AssociateIamInstanceProfile", "ec2:ModifyInstanceMetadataDefaults",
			"ssm:StartAutomationExecution", "iam:PassRole", "ssm:UpdateServiceSetting"} {
			if st.effect == "Allow" && slices.Contains(st.actions, a) {
				t.Errorf("%s allows %s with no remediation enabled", st.policy, a)
			}
		}
		if slices.Contains(st.actions, "ssm:SendCommand") && len(st.resources) != 2 {
			t.Errorf("SendCommand on %v: want the diagnose document and instances only", st.resources)
		}
	}
}
