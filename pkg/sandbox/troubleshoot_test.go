package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

const troubleshoot = "FleetDoctor-TroubleshootInstance"

// demoHost finds, in the demo world, an online Linux instance whose
// on-host state has exactly the problem want describes.
func demoHost(t *testing.T, w *scenario.World, want func(*host.State) bool) (account, region, id string) {
	t.Helper()
	for _, a := range w.Accounts {
		if id, r := demoHostIn(w, a, want); id != "" {
			return a, r, id
		}
	}
	t.Fatal("the demo world has no such host")
	return "", "", ""
}

func demoHostIn(w *scenario.World, account string, want func(*host.State) bool) (id, region string) {
	acct := w.Fleet.Accounts[account]
	for _, r := range w.Regions {
		reg := acct.Regions[r]
		if reg == nil {
			continue
		}
		online := map[string]bool{}
		for _, m := range reg.Managed {
			online[aws.ToString(m.InstanceId)] = m.PingStatus == ssmtypes.PingStatusOnline
		}
		for _, inst := range reg.Instances {
			id := aws.ToString(inst.InstanceId)
			st := w.Hosts[id]
			if st == nil || !online[id] || inst.Platform == ec2types.PlatformValuesWindows ||
				(inst.State != nil && inst.State.Name != ec2types.InstanceStateNameRunning) {
				continue
			}
			if want(st) {
				return id, r
			}
		}
	}
	return "", ""
}

// onlyFirewall: a blocking iptables rule and nothing else wrong. (In the
// demo, hosts whose rule blocks root too have lost their agent connection —
// their credentials come from IMDS — so Run Command cannot reach them; the
// online ones block a uid range.)
func onlyFirewall(s *host.State) bool {
	return len(s.Firewall) == 1 && s.Firewall[0].Tool == "iptables" &&
		len(s.AgentEnv) == 0 && len(s.SystemEnv) == 0 && !s.NoRouteToIMDS && !s.PolicyRoutesLost && s.IMDSStatus == 0 &&
		!s.Agent.Stopped && !s.Agent.NotInstalled
}

// onlySystemProxy: a system proxy whose no_proxy lacks IMDS and nothing
// else wrong. (The demo's hosts whose agent proxies IMDS have lost their
// agent connection; its system-proxy hosts set only https_proxy, which
// IMDS, plain HTTP, does not use.)
func onlySystemProxy(s *host.State) bool {
	return len(s.Firewall) == 0 && len(s.AgentEnv) == 0 && s.SystemEnv["https_proxy"] != "" &&
		!strings.Contains(s.SystemEnv["no_proxy"], "169.254.169.254") &&
		!s.NoRouteToIMDS && !s.PolicyRoutesLost && s.IMDSStatus == 0 && !s.Agent.Stopped && !s.Agent.NotInstalled
}

type troubleshootEnv struct {
	t   *testing.T
	sb  *sandbox.Sandbox
	ssm *ssm.Client
}

// newTroubleshootEnv serves w; its SSM client works in account (through
// the world's automation role when that is not the caller's account).
func newTroubleshootEnv(t *testing.T, w *scenario.World, account, region string) *troubleshootEnv {
	sb := start(t, sandbox.Options{World: w, AutomationClock: instantClock{}})
	cfg := sb.Config(region, 1)
	if account != w.CallerAccount {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
			"arn:aws:iam::"+account+":role/"+w.AutomationRole))
	}
	return &troubleshootEnv{t: t, sb: sb, ssm: ssm.NewFromConfig(cfg)}
}

// run starts the runbook and waits for the execution to end.
func (e *troubleshootEnv) run(params map[string][]string) *ssmtypes.AutomationExecution {
	e.t.Helper()
	ctx := context.Background()
	var out *ssm.StartAutomationExecutionOutput
	var err error
	for attempt := 0; attempt < 50; attempt++ { // 1 TPS: wait out the bucket
		out, err = e.ssm.StartAutomationExecution(ctx, &ssm.StartAutomationExecutionInput{DocumentName: aws.String(troubleshoot), Parameters: params})
		if apiCode(err) != "ThrottlingException" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		g, err := e.ssm.GetAutomationExecution(ctx, &ssm.GetAutomationExecutionInput{AutomationExecutionId: out.AutomationExecutionId})
		if err == nil {
			switch g.AutomationExecution.AutomationExecutionStatus {
			case ssmtypes.AutomationExecutionStatusInprogress, ssmtypes.AutomationExecutionStatusPending:
			default:
				return g.AutomationExecution
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatal("execution did not finish")
	return nil
}

// stdout is the full output of a command's step on the instance.
func (e *troubleshootEnv) stdout(commandID, instanceID, step string) string {
	e.t.Helper()
	inv, err := e.ssm.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
		CommandId: aws.String(commandID), InstanceId: aws.String(instanceID), PluginName: aws.String(step)})
	if err != nil {
		e.t.Fatalf("GetCommandInvocation %s: %v", commandID, err)
	}
	return aws.ToString(inv.StandardOutputContent)
}

// diagnose sends the diagnose document directly and returns its report.
func (e *troubleshootEnv) diagnose(id string) hostdiag.Report {
	e.t.Helper()
	out, err := e.ssm.SendCommand(context.Background(), &ssm.SendCommandInput{DocumentName: aws.String(host.DiagnoseDocument), InstanceIds: []string{id}})
	if err != nil {
		e.t.Fatal(err)
	}
	return parseReport(e.t, e.stdout(aws.ToString(out.Command.CommandId), id, host.DiagnoseLinuxStep))
}

func parseReport(t *testing.T, s string) hostdiag.Report {
	t.Helper()
	var r hostdiag.Report
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("diagnose output is not a report: %v\n%s", err, s)
	}
	return r
}

func status(r hostdiag.Report, id string) hostdiag.Status {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return "missing"
}

func output(x *ssmtypes.AutomationExecution, name string) string {
	return strings.Join(x.Outputs[name], "\n")
}

func stepStatuses(x *ssmtypes.AutomationExecution) map[string]ssmtypes.AutomationExecutionStatus {
	m := map[string]ssmtypes.AutomationExecutionStatus{}
	for _, s := range x.StepExecutions {
		m[aws.ToString(s.StepName)] = s.StepStatus
	}
	return m
}

// The troubleshooting runbook over the wire, on a demo host whose firewall
// blocks IMDS: AutoRepair=false diagnoses and leaves the host alone;
// AutoRepair=true repairs it (RepairHost with DryRun=false) and the second
// diagnosis is healthy; a third run finds nothing to repair.
func TestTroubleshootInstanceFirewall(t *testing.T) {
	w, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	account, region, id := demoHost(t, w, onlyFirewall)
	e := newTroubleshootEnv(t, w, account, region)

	x := e.run(map[string][]string{"InstanceId": {id}})
	if x.AutomationExecutionStatus != ssmtypes.AutomationExecutionStatusSuccess {
		t.Fatalf("diagnose-only run ended %s: %s", x.AutomationExecutionStatus, aws.ToString(x.FailureMessage))
	}
	steps := stepStatuses(x)
	if steps["DiagnoseBefore"] != ssmtypes.AutomationExecutionStatusSuccess || steps["NothingToRepair"] != ssmtypes.AutomationExecutionStatusSuccess {
		t.Errorf("diagnose-only steps = %v", steps)
	}
	for _, s := range []string{"RepairHost", "DiagnoseAfter"} {
		if _, ran := steps[s]; ran {
			t.Errorf("AutoRepair=false ran %s", s)
		}
	}
	if !strings.Contains(output(x, "DiagnoseBefore.Output"), `"id":"host_imds_blocked_by_firewall","status":"FAIL"`) {
		t.Errorf("DiagnoseBefore.Output lacks the firewall failure:\n%s", output(x, "DiagnoseBefore.Output"))
	}
	full := e.stdout(output(x, "DiagnoseBefore.CommandId"), id, host.DiagnoseLinuxStep)
	if out := output(x, "DiagnoseBefore.Output"); len(out) > host.PluginOutputLimit || !strings.HasPrefix(full, strings.TrimSuffix(out, "\n---Output truncated---")) {
		t.Errorf("DiagnoseBefore.Output (%d chars) is not the start of the command's stdout", len(out))
	}
	if s := status(e.diagnose(id), hostdiag.CheckIMDSBlockedByFirewall); s != hostdiag.Fail {
		t.Errorf("after AutoRepair=false the firewall check is %s, want FAIL (host unchanged)", s)
	}

	x = e.run(map[string][]string{"InstanceId": {id}, "AutoRepair": {"true"}})
	if x.AutomationExecutionStatus != ssmtypes.AutomationExecutionStatusSuccess {
		t.Fatalf("repair run ended %s: %s (steps %v)", x.AutomationExecutionStatus, aws.ToString(x.FailureMessage), stepStatuses(x))
	}
	for _, s := range []string{"DiagnoseBefore", "ChooseRepair", "RepairHost", "WaitForAgentRestart", "DiagnoseAfter"} {
		if got := stepStatuses(x)[s]; got != ssmtypes.AutomationExecutionStatusSuccess {
			t.Errorf("step %s = %q, want Success", s, got)
		}
	}
	rep, err := hostdiag.ParseRepair([]byte(e.stdout(output(x, "RepairHost.CommandId"), id, host.RepairLinuxStep)))
	if err != nil {
		t.Fatalf("repair output: %v", err)
	}
	if rep.DryRun || rep.Actions[0].ID != hostdiag.ActionRemoveIMDSFirewallRule || rep.Actions[0].Status != hostdiag.RepairChanged {
		t.Errorf("repair report = %+v", rep)
	}
	if !strings.Contains(output(x, "RepairHost.Output"), `"status":"changed"`) {
		t.Errorf("RepairHost.Output = %s", output(x, "RepairHost.Output"))
	}
	after := parseReport(t, e.stdout(output(x, "DiagnoseAfter.CommandId"), id, host.DiagnoseLinuxStep))
	for _, c := range []string{hostdiag.CheckIMDSBlockedByFirewall, hostdiag.CheckIMDSUnreachable} {
		if s := status(after, c); s != hostdiag.Pass {
			t.Errorf("after the repair %s is %s, want PASS", c, s)
		}
	}
	if !strings.Contains(output(x, "DiagnoseAfter.Output"), `"id":"host_imds_blocked_by_firewall","status":"PASS"`) {
		t.Errorf("DiagnoseAfter.Output lacks the passing firewall check:\n%s", output(x, "DiagnoseAfter.Output"))
	}
	if s := status(e.diagnose(id), hostdiag.CheckIMDSBlockedByFirewall); s != hostdiag.Pass {
		t.Errorf("a later diagnosis finds the firewall check %s, want PASS", s)
	}

	// Nothing left to repair: the runbook stops after the diagnosis.
	x = e.run(map[string][]string{"InstanceId": {id}, "AutoRepair": {"true"}})
	if _, ran := stepStatuses(x)["RepairHost"]; ran || x.AutomationExecutionStatus != ssmtypes.AutomationExecutionStatusSuccess {
		t.Errorf("third run: %s, steps %v; want Success without RepairHost", x.AutomationExecutionStatus, stepStatuses(x))
	}
}

// The same for a proxy without NO_PROXY, repairing only add_no_proxy
// and restart_agent, with a VPC endpoint name added.
func TestTroubleshootInstanceProxy(t *testing.T) {
	w, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	account, region, id := demoHost(t, w, onlySystemProxy)
	// The system proxy covers plain HTTP too, so IMDS goes through it.
	st := *w.Hosts[id]
	st.SystemEnv = map[string]string{"http_proxy": st.SystemEnv["https_proxy"]}
	for k, v := range w.Hosts[id].SystemEnv {
		st.SystemEnv[k] = v
	}
	w.Hosts[id] = &st
	e := newTroubleshootEnv(t, w, account, region)
	if s := status(e.diagnose(id), hostdiag.CheckProxyWithoutNoProxy); s != hostdiag.Fail {
		t.Fatalf("test host: proxy check %s before, want FAIL", s)
	}
	vpce := "vpce-0abc.ssm." + region + ".vpce.amazonaws.com"
	x := e.run(map[string][]string{"InstanceId": {id}, "AutoRepair": {"true"},
		"RepairActions": {"add_no_proxy,restart_agent"}, "NoProxyHosts": {vpce}})
	if x.AutomationExecutionStatus != ssmtypes.AutomationExecutionStatusSuccess {
		t.Fatalf("repair run ended %s: %s (steps %v)", x.AutomationExecutionStatus, aws.ToString(x.FailureMessage), stepStatuses(x))
	}
	rep, err := hostdiag.ParseRepair([]byte(e.stdout(output(x, "RepairHost.CommandId"), id, host.RepairLinuxStep)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]hostdiag.RepairStatus{
		hostdiag.ActionRemoveIMDSFirewallRule: hostdiag.RepairSkipped,
		hostdiag.ActionAddNoProxy:             hostdiag.RepairChanged,
		hostdiag.ActionRestartAgent:           hostdiag.RepairChanged,
	}
	for _, a := range rep.Actions {
		if a.Status != want[a.ID] {
			t.Errorf("%s = %s, want %s", a.ID, a.Status, want[a.ID])
		}
		if a.ID == hostdiag.ActionAddNoProxy && !strings.Contains(fmt.Sprint(a.After["agent"], a.After["system"]), vpce) {
			t.Errorf("NO_PROXY after = %v, want it to hold %s", a.After, vpce)
		}
	}
	after := parseReport(t, e.stdout(output(x, "DiagnoseAfter.CommandId"), id, host.DiagnoseLinuxStep))
	if s := status(after, hostdiag.CheckProxyWithoutNoProxy); s != hostdiag.Pass {
		t.Errorf("after the repair the proxy check is %s, want PASS", s)
	}
}

// A parameter outside its allowedPattern is refused at the start.
func TestTroubleshootInstanceRejectsBadParameters(t *testing.T) {
	sb := start(t, sandbox.Options{World: sampleWorld(2), AutomationClock: instantClock{}})
	c := ssm.NewFromConfig(sb.Config(regions[0], 1))
	for _, p := range []map[string][]string{
		{"InstanceId": {"i-0123; reboot"}},
		{"InstanceId": {"i-00000000000000000"}, "AutoRepair": {"yes"}},
		{"InstanceId": {"i-00000000000000000"}, "RepairActions": {"rm_rf"}},
	} {
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			_, err = c.StartAutomationExecution(context.Background(), &ssm.StartAutomationExecutionInput{DocumentName: aws.String(troubleshoot), Parameters: p})
			if apiCode(err) != "ThrottlingException" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
