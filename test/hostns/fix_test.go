package hostns

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// The whole loop on a real kernel: the sandbox's SendCommand reaches a
// namespace host through nsRunner; diagnose finds the uid-range REJECT rule
// with the real script; the planner turns the finding into a repair; the
// executor runs the real repair document through SendCommand; the next
// diagnosis is clean, and the rule is gone from the namespace's iptables.
func TestFixApplyRepairsARealHost(t *testing.T) {
	h := newHost(t, hostOptions{})
	h.sh("iptables -A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT")

	const acct, role = "111111111111", "FleetDoctorAudit"
	f := fake.New(acct)
	f.AddProfile(acct, "ssm-profile", "ssm-role", fake.CorePolicyARN)
	f.AddVPC(acct, testRegion, fake.VPCSpec{ID: "vpc-0e2e", CIDR: "10.0.0.0/16", Subnets: []fake.SubnetSpec{{ID: "subnet-0e2e", CIDR: "10.0.0.0/20", Default: "nat-0e2e"}}})
	f.AddInstance(acct, testRegion, fake.InstanceSpec{ID: testInstanceID, VPC: "vpc-0e2e", Subnet: "subnet-0e2e", SGs: []string{"vpc-0e2e-sg"}, Profile: "ssm-profile", PrivateIP: "10.0.0.10"})
	f.Register(acct, testRegion, testInstanceID, "Online", testAgentVersion)
	now := time.Now()
	w := &scenario.World{Fleet: f, CallerAccount: acct, AuditRole: role, Assumable: map[string][]string{acct: {role}},
		Accounts: []string{acct}, Regions: []string{testRegion}, Now: now}
	sb, err := sandbox.New(sandbox.Options{World: w, Runner: &nsRunner{hosts: map[string]*nsHost{testInstanceID: h}}, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	ctx := context.Background()
	prov := sb.Provider(testRegion)
	fast := diagnose.Options{PollInterval: 200 * time.Millisecond, MaxPollInterval: time.Second, Timeout: 2 * time.Minute}

	diagnoseHost := func() (*audit.Run, map[string]checks.Finding) {
		t.Helper()
		run, err := audit.Audit(ctx, prov, audit.Options{Accounts: []string{acct}, Regions: []string{testRegion}, RoleName: role,
			Checks: checks.DefaultConfig(), Clock: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		res, err := diagnose.Run(ctx, prov, run, fast)
		if err != nil {
			t.Fatal(err)
		}
		if res.Answered != 1 {
			t.Fatalf("diagnosis: %d answered, %d failed, %d not diagnosable; findings %+v", res.Answered, res.Failed, res.NotDiagnosable, res.Findings)
		}
		got := map[string]checks.Finding{}
		for _, fd := range res.Findings {
			got[fd.Check] = fd
		}
		return run, got
	}

	run, before := diagnoseHost()
	fw, ok := before[hostdiag.CheckIMDSBlockedByFirewall]
	if !ok || fw.Status != checks.Fail || fw.Resource != testInstanceID {
		t.Fatalf("the REJECT rule was not found: %+v", before)
	}
	if !strings.Contains(js(fw.Evidence), "1000-10000") {
		t.Errorf("firewall evidence lacks the rule's uid range: %s", js(fw.Evidence))
	}
	var hostFindings []checks.Finding
	for _, fd := range before {
		hostFindings = append(hostFindings, fd)
	}

	pol := policy.Default()
	pol.Remediations[policy.HostRemoveFirewall] = policy.Remediation{Enabled: true}
	plan, err := remediate.Build(remediate.Input{RunID: "e2e", Now: time.Now(), Run: run, HostFindings: hostFindings, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Changes() != 1 || plan.Batches[0].Remediation != policy.HostRemoveFirewall {
		t.Fatalf("plan: %+v", plan)
	}
	j, err := remediate.NewFileJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	res, err := remediate.NewExecutor(prov, j, remediate.ExecOptions{PollInterval: 200 * time.Millisecond, VerifyInterval: 200 * time.Millisecond,
		VerifyTimeout: time.Minute}).Apply(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Outcome != remediate.OutcomeApplied || res.Commands != 1 {
		t.Fatalf("apply: %+v", res)
	}
	if rules := h.sh("iptables -S OUTPUT"); strings.Contains(rules, "169.254.169.254") {
		t.Errorf("the rule is still there after the repair:\n%s", rules)
	}

	_, after := diagnoseHost()
	for _, id := range []string{hostdiag.CheckIMDSBlockedByFirewall, hostdiag.CheckIMDSUnreachable} {
		if fd, ok := after[id]; ok {
			t.Errorf("after the repair %s is %s: %s", id, fd.Status, fd.Detail)
		}
	}
}
