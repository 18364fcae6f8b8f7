package host

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

const endpointName = "vpce-0123-abcd.ssm.eu-west-1.vpce.amazonaws.com"

// brokenHost has a blocking iptables rule, an ACCEPT rule the repair must
// keep, an agent proxy without NO_PROXY and a system proxy whose no_proxy
// lacks IMDS.
func brokenHost() Facts {
	return Facts{
		InstanceID: "i-0123456789abcdef0", Region: "eu-west-1", Platform: "Linux", AgentVersion: "3.3.1142.0",
		HasCredentials: true, Now: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC),
		State: &State{
			Firewall: []Rule{
				{Tool: "iptables", Text: "-A OUTPUT -d 169.254.169.254/32 -m owner --uid-owner 0 -j ACCEPT", Action: "ACCEPT", UIDRange: "0"},
				{Tool: "iptables", Text: "-A OUTPUT -d 169.254.169.254/32 -j DROP", Action: "DROP"},
				{Tool: "nftables", Text: "ip daddr 169.254.169.254 tcp dport 80 reject", Action: "REJECT"},
			},
			AgentEnv:  map[string]string{"HTTP_PROXY": "http://proxy:3128", "HTTPS_PROXY": "http://proxy:3128"},
			SystemEnv: map[string]string{"https_proxy": "http://proxy:3128", "http_proxy": "http://proxy:3128", "no_proxy": "localhost"},
		},
	}
}

func checkStatus(t *testing.T, r hostdiag.Report, id string) hostdiag.Status {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	t.Fatalf("report has no check %s", id)
	return ""
}

func statuses(r hostdiag.RepairReport) map[string]hostdiag.RepairStatus {
	m := map[string]hostdiag.RepairStatus{}
	for _, a := range r.Actions {
		m[a.ID] = a.Status
	}
	return m
}

// roundTrip checks that the report passes the consumer's parser.
func roundTrip(t *testing.T, r hostdiag.RepairReport) hostdiag.RepairReport {
	t.Helper()
	b, err := hostdiag.EncodeRepair(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hostdiag.ParseRepair(b)
	if err != nil {
		t.Fatalf("ParseRepair: %v\n%s", err, b)
	}
	return got
}

func TestRepairDryRunChangesNothing(t *testing.T) {
	f := brokenHost()
	orig := cloneState(f.State)
	rep, next, changed := Repair(f, RepairOptions{DryRun: true, NoProxyHosts: []string{endpointName}})
	if changed {
		t.Error("a dry run reports a change")
	}
	if !reflect.DeepEqual(next, orig) || !reflect.DeepEqual(*f.State, orig) {
		t.Errorf("a dry run changed the state:\nnext %+v\norig %+v", next, orig)
	}
	want := map[string]hostdiag.RepairStatus{
		hostdiag.ActionRemoveIMDSFirewallRule: hostdiag.RepairWouldChange,
		hostdiag.ActionAddNoProxy:             hostdiag.RepairWouldChange,
		hostdiag.ActionRestartAgent:           hostdiag.RepairWouldChange,
	}
	if got := statuses(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("dry run statuses = %v, want %v", got, want)
	}
	if !rep.DryRun || rep.Host.InstanceID != f.InstanceID || rep.Host.Platform != "Linux" {
		t.Errorf("report header = %+v", rep)
	}
	got := roundTrip(t, rep)
	fw := got.Actions[0]
	if rules, _ := fw.Before["rules"].([]any); len(rules) != 3 {
		t.Errorf("firewall before = %v, want the 3 rules", fw.Before)
	}
	if !strings.Contains(fw.Detail, "-j DROP") || strings.Contains(fw.Detail, "ACCEPT") {
		t.Errorf("firewall detail %q should name the DROP rule and not the ACCEPT rule", fw.Detail)
	}
}

func TestRepairFixesTheHostAndIsIdempotent(t *testing.T) {
	f := brokenHost()
	orig := cloneState(f.State)
	before := Diagnose(f)
	for _, id := range []string{hostdiag.CheckIMDSBlockedByFirewall, hostdiag.CheckProxyWithoutNoProxy, hostdiag.CheckIMDSUnreachable} {
		if s := checkStatus(t, before, id); s != hostdiag.Fail {
			t.Fatalf("test host: %s is %s before the repair, want FAIL", id, s)
		}
	}
	opts := RepairOptions{NoProxyHosts: []string{endpointName}}
	rep, next, changed := Repair(f, opts)
	if !changed {
		t.Fatal("the repair reports no change")
	}
	if !reflect.DeepEqual(*f.State, orig) {
		t.Error("Repair modified the caller's state")
	}
	for id, s := range statuses(rep) {
		if s != hostdiag.RepairChanged {
			t.Errorf("%s = %s, want changed", id, s)
		}
	}
	roundTrip(t, rep)
	if len(next.Firewall) != 1 || next.Firewall[0].Action != "ACCEPT" {
		t.Errorf("firewall after = %+v, want only the ACCEPT rule", next.Firewall)
	}
	for scope, env := range map[string]map[string]string{"agent": next.AgentEnv, "system": next.SystemEnv} {
		for _, k := range []string{"NO_PROXY", "no_proxy"} {
			if !strings.Contains(env[k], imdsAddr) || !strings.Contains(env[k], endpointName) {
				t.Errorf("%s %s = %q, want 169.254.169.254 and %s", scope, k, env[k], endpointName)
			}
		}
	}
	if !strings.HasPrefix(next.SystemEnv["no_proxy"], "localhost,") {
		t.Errorf("system no_proxy = %q, want the existing entries kept first", next.SystemEnv["no_proxy"])
	}

	f.State = &next
	after := Diagnose(f)
	for _, id := range []string{hostdiag.CheckIMDSBlockedByFirewall, hostdiag.CheckProxyWithoutNoProxy, hostdiag.CheckIMDSUnreachable} {
		if s := checkStatus(t, after, id); s != hostdiag.Pass {
			t.Errorf("%s is %s after the repair, want PASS", id, s)
		}
	}

	again, next2, changed := Repair(f, opts)
	if changed || !reflect.DeepEqual(next2, next) {
		t.Errorf("second run changed the host: %+v", next2)
	}
	for id, s := range statuses(again) {
		if s != hostdiag.RepairUnchanged {
			t.Errorf("second run: %s = %s, want unchanged", id, s)
		}
	}
	roundTrip(t, again)
}

func TestRepairActionsAndAgentStates(t *testing.T) {
	f := brokenHost()
	rep, next, _ := Repair(f, RepairOptions{Actions: []string{RepairActionFirewall, RepairActionRestart}})
	want := map[string]hostdiag.RepairStatus{
		hostdiag.ActionRemoveIMDSFirewallRule: hostdiag.RepairChanged,
		hostdiag.ActionAddNoProxy:             hostdiag.RepairSkipped,
		hostdiag.ActionRestartAgent:           hostdiag.RepairChanged,
	}
	if got := statuses(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(next.AgentEnv, f.State.AgentEnv) {
		t.Error("add_no_proxy ran although not asked for")
	}

	// Nothing to repair: restart is unchanged.
	healthy := Facts{InstanceID: "i-0123456789abcdef1", Region: "eu-west-1", Platform: "Linux"}
	rep, _, changed := Repair(healthy, RepairOptions{})
	if changed {
		t.Error("healthy host changed")
	}
	for id, s := range statuses(rep) {
		if s != hostdiag.RepairUnchanged {
			t.Errorf("healthy host: %s = %s, want unchanged", id, s)
		}
	}

	// A stopped agent is started; a missing one is skipped.
	stopped := Facts{InstanceID: "i-0123456789abcdef2", Region: "eu-west-1", Platform: "Linux", State: &State{Agent: Agent{Stopped: true}}}
	rep, next, changed = Repair(stopped, RepairOptions{Actions: []string{RepairActionRestart}})
	if !changed || next.Agent.Stopped || statuses(rep)[hostdiag.ActionRestartAgent] != hostdiag.RepairChanged {
		t.Errorf("stopped agent: changed %v, next %+v, report %+v", changed, next.Agent, rep.Actions)
	}
	missing := Facts{InstanceID: "i-0123456789abcdef3", Region: "eu-west-1", Platform: "Linux", State: &State{Agent: Agent{NotInstalled: true}}}
	rep, _, _ = Repair(missing, RepairOptions{Actions: []string{RepairActionRestart}})
	if s := statuses(rep)[hostdiag.ActionRestartAgent]; s != hostdiag.RepairSkipped {
		t.Errorf("missing agent: restart %s, want skipped", s)
	}

	// Windows: the Block rule goes, the report says Windows.
	win := Facts{InstanceID: "i-0123456789abcdef4", Region: "eu-west-1", Platform: "Windows", State: &State{OS: "windows2022",
		Firewall: []Rule{{Tool: "windows", Text: "Block-IMDS: Outbound Block TCP RemoteAddress=169.254.169.254", Action: "DROP"}}}}
	rep, next, _ = Repair(win, RepairOptions{})
	if rep.Host.Platform != "Windows" || len(next.Firewall) != 0 || statuses(rep)[hostdiag.ActionRemoveIMDSFirewallRule] != hostdiag.RepairChanged {
		t.Errorf("windows: %+v, firewall after %v", rep, next.Firewall)
	}
	roundTrip(t, rep)
}

func TestParseRepairParameters(t *testing.T) {
	o, err := ParseRepairParameters(nil)
	if err != nil || !o.DryRun || len(o.Actions) != 0 || len(o.NoProxyHosts) != 0 {
		t.Errorf("defaults = %+v, %v; want a dry run of every action", o, err)
	}
	o, err = ParseRepairParameters(map[string][]string{"Actions": {"add_no_proxy,restart_agent,add_no_proxy"}, "DryRun": {"false"}, "NoProxyHosts": {"a.example,b.example"}})
	if err != nil || o.DryRun || !reflect.DeepEqual(o.Actions, []string{RepairActionNoProxy, RepairActionRestart}) || !reflect.DeepEqual(o.NoProxyHosts, []string{"a.example", "b.example"}) {
		t.Errorf("ParseRepairParameters = %+v, %v", o, err)
	}
	for _, bad := range []map[string][]string{{"Actions": {"format_disk"}}, {"DryRun": {"yes"}}} {
		if _, err := ParseRepairParameters(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// Through Run Command with the real document's parameters: a dry run
// leaves the host as it is; a repair is kept for the instance's later
// commands, so the next diagnosis is healthy; the world's state is never
// written.
func TestCommandsKeepRepairedState(t *testing.T) {
	f := brokenHost()
	worldState := f.State
	orig := cloneState(worldState)
	lookup := func(id string) (Target, bool) {
		g := f
		g.InstanceID = id
		return Target{Facts: g, Registered: true, Online: true}, true
	}
	c := NewCommands("111111111111", "eu-west-1", nil, nil)
	c.SetDocumentSource(func(name string) ([]byte, bool) {
		b, err := documents.Read(name)
		return b, err == nil
	})
	ctx := context.Background()
	send := func(doc string, params map[string][]string) string {
		t.Helper()
		out, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String(doc), InstanceIds: []string{f.InstanceID}, Parameters: params}, lookup, nil)
		if err != nil {
			t.Fatalf("SendCommand %s: %v", doc, err)
		}
		step := RepairLinuxStep
		if doc == DiagnoseDocument {
			step = DiagnoseLinuxStep
		}
		inv, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: out.Command.CommandId, InstanceId: aws.String(f.InstanceID), PluginName: aws.String(step)})
		if err != nil {
			t.Fatal(err)
		}
		if inv.Status != "Success" {
			t.Fatalf("%s ended %s: %s", doc, inv.Status, aws.ToString(inv.StandardErrorContent))
		}
		return aws.ToString(inv.StandardOutputContent)
	}
	repair := func(params map[string][]string) hostdiag.RepairReport {
		t.Helper()
		r, err := hostdiag.ParseRepair([]byte(send(RepairDocument, params)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	diagnose := func() hostdiag.Report {
		t.Helper()
		var r hostdiag.Report
		if err := json.Unmarshal([]byte(send(DiagnoseDocument, nil)), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	// The document's default is a dry run.
	if r := repair(nil); !r.DryRun || statuses(r)[hostdiag.ActionRemoveIMDSFirewallRule] != hostdiag.RepairWouldChange {
		t.Errorf("default run: %+v", r)
	}
	if _, ok := c.HostState(f.InstanceID); ok {
		t.Error("a dry run left a state behind")
	}
	if s := checkStatus(t, diagnose(), hostdiag.CheckIMDSBlockedByFirewall); s != hostdiag.Fail {
		t.Errorf("after a dry run the firewall check is %s, want FAIL", s)
	}

	// An invalid parameter is refused by the document's allowedPattern.
	if _, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String(RepairDocument), InstanceIds: []string{f.InstanceID},
		Parameters: map[string][]string{"NoProxyHosts": {"a.example;reboot"}}}, lookup, nil); err == nil {
		t.Error("NoProxyHosts with a ';' accepted")
	}

	r := repair(map[string][]string{"DryRun": {"false"}, "NoProxyHosts": {endpointName}})
	for id, s := range statuses(r) {
		if s != hostdiag.RepairChanged {
			t.Errorf("repair: %s = %s, want changed", id, s)
		}
	}
	st, ok := c.HostState(f.InstanceID)
	if !ok || len(st.Firewall) != 1 {
		t.Fatalf("HostState = %+v, %v; want the repaired state", st, ok)
	}
	d := diagnose()
	for _, id := range []string{hostdiag.CheckIMDSBlockedByFirewall, hostdiag.CheckProxyWithoutNoProxy, hostdiag.CheckIMDSUnreachable} {
		if s := checkStatus(t, d, id); s != hostdiag.Pass {
			t.Errorf("after the repair %s is %s, want PASS", id, s)
		}
	}
	for id, s := range statuses(repair(map[string][]string{"DryRun": {"false"}, "NoProxyHosts": {endpointName}})) {
		if s != hostdiag.RepairUnchanged {
			t.Errorf("second repair: %s = %s, want unchanged", id, s)
		}
	}
	if !reflect.DeepEqual(*worldState, orig) {
		t.Error("the repair wrote through to the world's state")
	}
}

func TestModelRunnerRefusesUnknownDocuments(t *testing.T) {
	res, err := ModelRunner{}.Run(context.Background(), Invocation{DocumentName: "Some-Other-Document", Step: "x"})
	if err != nil || res.Status != ResultFailed || !strings.Contains(res.Stderr, RepairDocument) {
		t.Errorf("unknown document: %+v, %v", res, err)
	}
	res, err = ModelRunner{}.Run(context.Background(), Invocation{DocumentName: RepairDocument, Parameters: map[string][]string{"DryRun": {"maybe"}}})
	if err != nil || res.Status != ResultFailed || res.ResponseCode != 2 || res.State != nil {
		t.Errorf("bad parameters: %+v, %v", res, err)
	}
}
