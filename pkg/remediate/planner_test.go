package remediate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
)

const (
	tAcct   = "111122223333"
	tRegion = "eu-west-1"
	tRun    = "run-1"
	tRole   = "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
	tWindow = 14 * 24 * time.Hour
)

var tNow = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// healthy is an instance no IMDS check fails on: tokens required, hop
// limit 2, a profile, an Online agent and no IMDSv1 calls.
func healthy(n int) inventory.Instance {
	return inventory.Instance{
		ID: fmt.Sprintf("i-%017x", n), State: "running", Platform: "linux", LaunchTime: tNow.Add(-30 * 24 * time.Hour),
		ProfileARN: "arn:aws:iam::" + tAcct + ":instance-profile/app",
		Tags:       map[string]string{},
		Metadata:   inventory.MetadataOptions{HTTPEndpoint: "enabled", HTTPTokens: "required", HopLimit: 2, State: "applied"},
		Agent:      &inventory.Agent{PingStatus: "Online", Version: "3.3.2746.0", PlatformType: "Linux"},
		IMDSCalls:  &inventory.IMDSCalls{HasData: true},
	}
}

// fleet is one account-region holding insts, with good account defaults
// and DHMC on.
func fleet(insts ...inventory.Instance) *inventory.Snapshot {
	return &inventory.Snapshot{
		CollectedAt: tNow, MetricWindow: tWindow,
		Accounts: []*inventory.Account{{ID: tAcct, Regions: []*inventory.Region{{
			Account: tAcct, Name: tRegion, Instances: insts,
			Defaults: &inventory.MetadataDefaults{HTTPTokens: "required", HopLimit: 2, ManagedBy: "account"},
			DHMC:     &inventory.DHMCSetting{Value: tRole, RoleName: "AWSSystemsManagerDefaultEC2InstanceManagementRole"},
		}}}},
	}
}

func region(s *inventory.Snapshot) *inventory.Region { return s.Accounts[0].Regions[0] }

// runOf evaluates the checks over snap, as an audit would.
func runOf(t testing.TB, snap *inventory.Snapshot) *audit.Run {
	t.Helper()
	res, err := checks.Evaluate(snap, checks.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &audit.Run{Findings: res.Findings, Snapshot: snap}
}

// allOn enables every remediation with generous caps.
func allOn() *policy.Policy {
	p := &policy.Policy{
		Version:             1,
		Remediations:        map[string]policy.Remediation{},
		Tokens:              policy.TokensPolicy{Window: tWindow},
		HopLimit:            policy.HopLimitPolicy{ContainerHostsNeedIMDS: true, Target: 2, NestedTarget: 3},
		InstanceProfileName: "fleetdoctor-ssm",
		DHMCRoleName:        tRole,
		NoProxyHosts:        []string{"ssm.eu-west-1.amazonaws.com"},
		Caps:                policy.Caps{PerRun: 10000, PerAccount: 10000},
	}
	for _, id := range policy.RemediationIDs() {
		p.Remediations[id] = policy.Remediation{Enabled: true}
	}
	return p
}

func build(t testing.TB, snap *inventory.Snapshot, pol *policy.Policy, host ...checks.Finding) *Plan {
	t.Helper()
	p, err := Build(Input{RunID: tRun, Now: tNow, Run: runOf(t, snap), HostFindings: host, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// changesOf lists the plan's changes of one remediation, with their batch.
func changesOf(p *Plan, rem string) (out []Change, bs []Batch) {
	for _, b := range p.Batches {
		if b.Remediation == rem {
			out = append(out, b.Changes...)
			bs = append(bs, b)
		}
	}
	return out, bs
}

func skipsOf(p *Plan, rem string) []Skip {
	var out []Skip
	for _, s := range p.Skips {
		if s.Remediation == rem {
			out = append(out, s)
		}
	}
	return out
}

func hostFinding(check, id, detail string) checks.Finding {
	rem := map[string]string{
		hostdiag.CheckIMDSBlockedByFirewall: policy.HostRemoveFirewall,
		hostdiag.CheckProxyWithoutNoProxy:   policy.HostAddNoProxy,
		hostdiag.CheckAgentNotRunning:       policy.HostRestartAgent,
	}[check]
	return checks.Finding{Check: check, Status: checks.Fail, Severity: checks.High, Account: tAcct, Region: tRegion,
		ResourceType: checks.TypeInstance, Resource: id, Detail: detail,
		Remediation: &checks.Remediation{ID: rem, Automatic: true, Document: hostdiag.RepairDocumentName}}
}

func TestEnableEndpoint(t *testing.T) {
	in := healthy(1)
	in.Metadata.HTTPEndpoint = "disabled"
	p := build(t, fleet(in, healthy(2)), allOn())
	cs, bs := changesOf(p, policy.EnableEndpoint)
	if len(cs) != 1 || len(bs) != 1 {
		t.Fatalf("changes %+v", p.Batches)
	}
	c, b := cs[0], bs[0]
	if want := tRun + "|" + tAcct + "|" + tRegion + "|" + in.ID + "|" + policy.EnableEndpoint; c.ID != want {
		t.Errorf("id %q, want %q", c.ID, want)
	}
	if b.Document != checks.DocSetMetadataOptions {
		t.Errorf("document %q", b.Document)
	}
	wantParams := map[string][]string{"HttpEndpoint": {"enabled"}, "HttpTokens": {"unchanged"}, "HttpPutResponseHopLimit": {"0"}}
	if !reflect.DeepEqual(b.Params, wantParams) {
		t.Errorf("params %v", b.Params)
	}
	if c.Before["HttpEndpoint"] != "disabled" || c.After["HttpEndpoint"] != "enabled" {
		t.Errorf("before %v after %v", c.Before, c.After)
	}
	if !strings.HasPrefix(c.Reason, "imds_endpoint_disabled") {
		t.Errorf("reason %q", c.Reason)
	}
}

func TestRequireTokensGate(t *testing.T) {
	const force = " (force it per instance in tokens.force)"
	cases := []struct {
		name   string
		calls  *inventory.IMDSCalls
		window time.Duration
		forced bool
		failed bool // metrics could not be read in the region
		skip   string
	}{
		{name: "no IMDSv1 calls", calls: &inventory.IMDSCalls{HasData: true}},
		{name: "IMDSv1 in use", calls: &inventory.IMDSCalls{HasData: true, NoToken: 12},
			skip: "MetadataNoToken was 12 over the last 336h: requiring tokens would break IMDSv1 callers" + force},
		{name: "IMDSv1 in use, forced", calls: &inventory.IMDSCalls{HasData: true, NoToken: 12}, forced: true},
		{name: "metrics not read", calls: nil,
			skip: "MetadataNoToken is unknown (no CloudWatch datapoints): requiring tokens waits for evidence that nothing calls IMDSv1" + force},
		{name: "no datapoints", calls: &inventory.IMDSCalls{},
			skip: "MetadataNoToken is unknown (no CloudWatch datapoints): requiring tokens waits for evidence that nothing calls IMDSv1" + force},
		{name: "window too short", calls: &inventory.IMDSCalls{HasData: true}, window: 72 * time.Hour,
			skip: "MetadataNoToken was 0, but only over the audit's 72h metric window, shorter than tokens.window 336h: audit with a window of at least 336h" + force},
		{name: "metrics failed in region", failed: true,
			skip: "the IMDS metrics of " + tAcct + "/" + tRegion + " could not be read: requiring tokens waits for evidence that nothing calls IMDSv1" + force},
		{name: "metrics failed, forced", failed: true, forced: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy(1)
			in.Metadata.HTTPTokens = "optional"
			in.IMDSCalls = tc.calls
			snap := fleet(in)
			if tc.window > 0 {
				snap.MetricWindow = tc.window
			}
			if tc.failed {
				region(snap).Errors = map[inventory.Source]*inventory.CollectError{
					inventory.SourceMetrics: {What: "IMDS metrics", API: "cloudwatch:GetMetricData", Kind: "access-denied"}}
			}
			pol := allOn()
			if tc.forced {
				pol.Tokens.Force = []string{in.ID}
			}
			p := build(t, snap, pol)
			cs, _ := changesOf(p, policy.RequireTokens)
			ss := skipsOf(p, policy.RequireTokens)
			if tc.skip == "" {
				if len(cs) != 1 || cs[0].After["HttpTokens"] != "required" || cs[0].Before["HttpTokens"] != "optional" {
					t.Fatalf("want a change, got %+v skips %+v", cs, ss)
				}
				return
			}
			if len(cs) != 0 || len(ss) != 1 || ss[0].Reason != tc.skip || ss[0].Check != "imds_v1_allowed" {
				t.Fatalf("want skip %q, got changes %+v skips %+v", tc.skip, cs, ss)
			}
		})
	}
}

func TestHopLimitGate(t *testing.T) {
	cases := []struct {
		name    string
		tags    map[string]string
		hop     int32
		needs   bool
		keep    []string
		want    int32 // 0: no change
		skip    string
		finding bool // a skip is expected only when the check fails
	}{
		{name: "ecs host", tags: map[string]string{"aws:ecs:clusterName": "web"}, hop: 1, needs: true, want: 2},
		{name: "eks node", tags: map[string]string{"eks:cluster-name": "prod"}, hop: 1, needs: true, want: 2},
		{name: "nested declared", tags: map[string]string{checks.DeclareContainerHostTag: "nested"}, hop: 2, needs: true, want: 3},
		{name: "nested tag", tags: map[string]string{"aws:ecs:clusterName": "web", NestedContainersTag: "true"}, hop: 1, needs: true, want: 3},
		{name: "irsa cluster kept at 1", tags: map[string]string{"eks:cluster-name": "irsa"}, hop: 1, needs: true, keep: []string{"irsa"},
			skip: "EKS cluster irsa is in hopLimit.keepIrsaClusters: its nodes keep hop limit 1 so pods stay off the node role"},
		{name: "eks node without cluster while some are kept", tags: map[string]string{"karpenter.sh/nodepool": "default"}, hop: 1,
			needs: true, keep: []string{"irsa"},
			skip: "EKS node without a cluster tag while hopLimit.keepIrsaClusters names IRSA-only clusters: it may be one of them (tag it with its cluster)"},
		{name: "policy says containers do not need IMDS", tags: map[string]string{"aws:ecs:clusterName": "web"}, hop: 1,
			skip: "the policy does not say container workloads need IMDS (hopLimit.containerHostsNeedIMDS is false): hop limits are left alone"},
		{name: "not a container host", tags: map[string]string{}, hop: 1, needs: true},
		{name: "container host above target is never lowered", tags: map[string]string{"aws:ecs:clusterName": "web"}, hop: 5, needs: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy(1)
			in.Tags = tc.tags
			in.Metadata.HopLimit = tc.hop
			pol := allOn()
			pol.HopLimit.ContainerHostsNeedIMDS = tc.needs
			pol.HopLimit.KeepIRSAClusters = tc.keep
			p := build(t, fleet(in), pol)
			cs, bs := changesOf(p, policy.SetHopLimit)
			ss := skipsOf(p, policy.SetHopLimit)
			switch {
			case tc.want > 0:
				if len(cs) != 1 {
					t.Fatalf("want a change to %d, got %+v skips %+v", tc.want, cs, ss)
				}
				w := strconv.Itoa(int(tc.want))
				if cs[0].After["HttpPutResponseHopLimit"] != w || cs[0].Before["HttpPutResponseHopLimit"] != strconv.Itoa(int(tc.hop)) ||
					bs[0].Params["HttpPutResponseHopLimit"][0] != w || bs[0].Params["HttpTokens"][0] != "unchanged" {
					t.Fatalf("change %+v params %v", cs[0], bs[0].Params)
				}
			case tc.skip != "":
				if len(cs) != 0 || len(ss) != 1 || ss[0].Reason != tc.skip {
					t.Fatalf("want skip %q, got %+v skips %+v", tc.skip, cs, ss)
				}
			default:
				if len(cs) != 0 || len(ss) != 0 {
					t.Fatalf("want nothing, got %+v skips %+v", cs, ss)
				}
			}
		})
	}
}

// TestHopLimitNeverLowered drives the gate with a finding the checks would
// not raise (a policy target above the check's need), to show the planner
// itself refuses to lower.
func TestHopLimitNeverLowered(t *testing.T) {
	in := healthy(1)
	in.Tags = map[string]string{"aws:ecs:clusterName": "web"}
	in.Metadata.HopLimit = 4
	snap := fleet(in)
	run := runOf(t, snap)
	run.Findings = append(run.Findings, checks.Finding{Check: "imds_hop_limit_too_low_for_containers", Status: checks.Fail,
		Account: tAcct, Region: tRegion, Resource: in.ID,
		Remediation: &checks.Remediation{ID: policy.SetHopLimit, Automatic: true, Document: checks.DocSetMetadataOptions}})
	p, err := Build(Input{RunID: tRun, Now: tNow, Run: run, Policy: allOn()})
	if err != nil {
		t.Fatal(err)
	}
	ss := skipsOf(p, policy.SetHopLimit)
	if p.Changes() != 0 || len(ss) != 1 || ss[0].Reason != "hop limit is already 4 (target 2): fleetdoctor never lowers a hop limit" {
		t.Fatalf("changes %+v skips %+v", p.Batches, p.Skips)
	}
}

func TestAccountDefaultsGate(t *testing.T) {
	cases := []struct {
		name   string
		d      inventory.MetadataDefaults
		before map[string]string
		after  map[string]string
		skip   string
	}{
		{name: "no preference", d: inventory.MetadataDefaults{ManagedBy: "account"},
			before: map[string]string{"HttpTokens": "no-preference", "HttpPutResponseHopLimit": "no-preference"},
			after:  map[string]string{"HttpTokens": "required", "HttpPutResponseHopLimit": "2"}},
		{name: "hop 3 is kept", d: inventory.MetadataDefaults{HTTPTokens: "optional", HopLimit: 3, ManagedBy: "account"},
			before: map[string]string{"HttpTokens": "optional", "HttpPutResponseHopLimit": "3"},
			after:  map[string]string{"HttpTokens": "required", "HttpPutResponseHopLimit": "3"}},
		{name: "declarative policy", d: inventory.MetadataDefaults{HTTPTokens: "optional", ManagedBy: "declarative-policy"},
			skip: "account defaults are managed by a declarative policy: only the organization's policy can change them"},
		{name: "already v2 with hop 3", d: inventory.MetadataDefaults{HTTPTokens: "required", HopLimit: 3, ManagedBy: "account"},
			skip: "account defaults already require tokens with hop limit 3 (never lowered)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := fleet(healthy(1))
			d := tc.d
			region(snap).Defaults = &d
			p := build(t, snap, allOn())
			cs, bs := changesOf(p, policy.AccountDefaults)
			ss := skipsOf(p, policy.AccountDefaults)
			if tc.skip != "" {
				if len(cs) != 0 || len(ss) != 1 || ss[0].Reason != tc.skip || ss[0].Resource != AccountResource {
					t.Fatalf("want skip %q, got %+v %+v", tc.skip, cs, ss)
				}
				return
			}
			if len(cs) != 1 || !reflect.DeepEqual(cs[0].Before, tc.before) || !reflect.DeepEqual(cs[0].After, tc.after) {
				t.Fatalf("changes %+v skips %+v", cs, ss)
			}
			if cs[0].Resource != AccountResource || bs[0].Document != checks.DocSetAccountMetadataDefaults ||
				!reflect.DeepEqual(bs[0].Params, map[string][]string{"HttpTokens": {"required"}, "HttpPutResponseHopLimit": {tc.after["HttpPutResponseHopLimit"]}}) {
				t.Fatalf("change %+v batch %+v", cs[0], bs[0])
			}
		})
	}
	t.Run("defaults not read", func(t *testing.T) {
		snap := fleet(healthy(1))
		run := runOf(t, snap)
		region(snap).Defaults = nil
		p, err := Build(Input{RunID: tRun, Now: tNow, Run: run, Policy: allOn()})
		if err != nil {
			t.Fatal(err)
		}
		if p.Changes() != 0 {
			t.Fatalf("planned %+v", p.Batches)
		}
	})
}

func TestAttachProfileAndDHMC(t *testing.T) {
	bare := healthy(1)
	bare.ProfileARN = ""
	snap := fleet(bare, healthy(2))
	region(snap).DHMC = &inventory.DHMCSetting{Value: "$None"}
	p := build(t, snap, allOn())
	cs, bs := changesOf(p, policy.AttachProfile)
	if len(cs) != 1 || cs[0].Resource != bare.ID || cs[0].After["InstanceProfileName"] != "fleetdoctor-ssm" ||
		cs[0].Before["InstanceProfileName"] != "" || bs[0].Params["InstanceProfileName"][0] != "fleetdoctor-ssm" {
		t.Fatalf("attach: %+v %+v", cs, bs)
	}
	ds, dbs := changesOf(p, policy.EnableDHMC)
	if len(ds) != 1 || ds[0].Resource != AccountResource || ds[0].Before["SettingValue"] != "$None" ||
		ds[0].After["SettingValue"] != tRole || ds[0].After["DHMCRole"] != "AWSSystemsManagerDefaultEC2InstanceManagementRole" ||
		dbs[0].Params["RoleName"][0] != tRole || dbs[0].Document != checks.DocEnableDHMC {
		t.Fatalf("dhmc: %+v %+v (skips %+v)", ds, dbs, p.Skips)
	}

	// The gate itself: an instance with a profile is never given another.
	run := runOf(t, fleet(healthy(3)))
	run.Findings = append(run.Findings, checks.Finding{Check: "iam_no_instance_profile_and_no_dhmc", Status: checks.Fail,
		Account: tAcct, Region: tRegion, Resource: healthy(3).ID,
		Remediation: &checks.Remediation{ID: policy.AttachProfile, Automatic: true, Document: checks.DocAttachInstanceProfile}})
	p, err := Build(Input{RunID: tRun, Now: tNow, Run: run, Policy: allOn()})
	if err != nil {
		t.Fatal(err)
	}
	if ss := skipsOf(p, policy.AttachProfile); p.Changes() != 0 || len(ss) != 1 ||
		ss[0].Reason != "instance already has an instance profile: fleetdoctor never replaces one" {
		t.Fatalf("changes %+v skips %+v", p.Batches, p.Skips)
	}
}

func TestHostRepairs(t *testing.T) {
	var insts []inventory.Instance
	var host []checks.Finding
	for i := range 120 {
		in := healthy(i)
		insts = append(insts, in)
		host = append(host, hostFinding(hostdiag.CheckProxyWithoutNoProxy, in.ID, "agent proxy http://proxy:3128 without NO_PROXY"))
	}
	lost := healthy(500)
	lost.Agent.PingStatus = "ConnectionLost"
	unreg := healthy(501)
	unreg.Agent = nil
	insts = append(insts, lost, unreg)
	host = append(host,
		hostFinding(hostdiag.CheckIMDSBlockedByFirewall, lost.ID, "1 firewall rule(s) block 169.254.169.254"),
		hostFinding(hostdiag.CheckAgentNotRunning, unreg.ID, "the SSM agent is not running"),
		hostFinding(hostdiag.CheckAgentNotRunning, insts[0].ID, "the SSM agent runs as nobody, not root"))
	p := build(t, fleet(insts...), allOn(), host...)

	cs, bs := changesOf(p, policy.HostAddNoProxy)
	if len(cs) != 120 || len(bs) != 3 || len(bs[0].Changes) != HostBatch || len(bs[2].Changes) != 20 {
		t.Fatalf("no-proxy: %d changes in %d batches", len(cs), len(bs))
	}
	want := map[string][]string{"Actions": {"add_no_proxy,restart_agent"}, "DryRun": {"false"}, "NoProxyHosts": {"ssm.eu-west-1.amazonaws.com"}}
	if !reflect.DeepEqual(bs[0].Params, want) || bs[0].Document != hostdiag.RepairDocumentName {
		t.Fatalf("params %v document %s", bs[0].Params, bs[0].Document)
	}
	if cs[0].After["noProxy"] != "169.254.169.254,ssm.eu-west-1.amazonaws.com excluded from the proxy" {
		t.Errorf("after %v", cs[0].After)
	}
	rs, rbs := changesOf(p, policy.HostRestartAgent)
	if len(rs) != 1 || rbs[0].Params["Actions"][0] != "restart_agent" {
		t.Fatalf("restart %+v %+v", rs, rbs)
	}
	// Batches run in policy order: the restart batch comes last.
	if last := p.Batches[len(p.Batches)-1]; last.Remediation != policy.HostRestartAgent {
		t.Errorf("last batch %s", last.Remediation)
	}
	reasons := map[string]string{}
	for _, s := range p.Skips {
		reasons[s.Resource] = s.Reason
	}
	if reasons[lost.ID] != "agent not Online (ConnectionLost): host repairs need a running agent" ||
		reasons[unreg.ID] != "not registered with SSM: host repairs need a running agent" {
		t.Fatalf("skips %+v", p.Skips)
	}

	// Without host_restart_agent enabled, no other repair restarts the agent.
	pol := allOn()
	delete(pol.Remediations, policy.HostRestartAgent)
	p = build(t, fleet(insts...), pol, host...)
	if _, bs := changesOf(p, policy.HostAddNoProxy); bs[0].Params["Actions"][0] != "add_no_proxy" {
		t.Fatalf("actions %v", bs[0].Params["Actions"])
	}
	if ss := skipsOf(p, policy.HostRestartAgent); len(ss) != 2 {
		t.Fatalf("restart skips %+v", ss)
	}
}

func TestExemptions(t *testing.T) {
	mk := func(n int, tag string) inventory.Instance {
		in := healthy(n)
		in.Metadata.HTTPEndpoint = "disabled"
		if tag != "" {
			in.Tags[policy.ExemptTag] = tag
		}
		return in
	}
	valid := mk(1, "owner=payments@example.com;expires=2027-03-31;reason=legacy")
	expired := mk(2, "owner=payments@example.com;expires=2026-01-31")
	malformed := mk(3, "payments forever")
	byPolicy := mk(4, "")
	free := mk(5, "")
	pol := allOn()
	pol.Exemptions = []policy.Exemption{{InstanceID: byPolicy.ID, Owner: "ops", Expires: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}
	p := build(t, fleet(valid, expired, malformed, byPolicy, free), pol)

	cs, _ := changesOf(p, policy.EnableEndpoint)
	if len(cs) != 1 || cs[0].Resource != free.ID {
		t.Fatalf("changes %+v", cs)
	}
	reasons := map[string]string{}
	for _, s := range skipsOf(p, policy.EnableEndpoint) {
		reasons[s.Resource] = s.Reason
	}
	for id, want := range map[string]string{
		valid.ID:   "exempt: fleetdoctor:exempt owner=payments@example.com until 2027-03-31",
		expired.ID: "exempt: fleetdoctor:exempt owner=payments@example.com expired 2026-01-31 (honoured until the tag is renewed or removed)",
		malformed.ID: "exempt: malformed fleetdoctor:exempt tag (honoured until fixed): tag fleetdoctor:exempt on " + malformed.ID +
			`: "payments forever" is not key=value`,
		byPolicy.ID: "exempt: policy exemption owner=ops until 2027-01-01T00:00:00Z",
	} {
		if reasons[id] != want {
			t.Errorf("%s: reason %q, want %q", id, reasons[id], want)
		}
	}
	if len(p.Notes) != 2 || p.Notes[0].Resource != expired.ID || p.Notes[0].Kind != NoteExemptionExpired ||
		p.Notes[1].Resource != malformed.ID || p.Notes[1].Kind != NoteExemptionMalformed {
		t.Fatalf("notes %+v", p.Notes)
	}
}

func TestCaps(t *testing.T) {
	var insts []inventory.Instance
	for i := range 30 {
		in := healthy(i)
		in.Metadata.HTTPEndpoint = "disabled"
		insts = append(insts, in)
	}
	pol := allOn()
	pol.Caps = policy.Caps{PerRun: 100, PerAccount: 25}
	p := build(t, fleet(insts...), pol)
	if p.Changes() != 25 {
		t.Fatalf("%d changes", p.Changes())
	}
	ss := skipsOf(p, policy.EnableEndpoint)
	if len(ss) != 5 || ss[0].Reason != "cap of 25 changes per account reached" || ss[0].Resource != insts[25].ID {
		t.Fatalf("skips %+v", ss)
	}
	pol.Caps = policy.Caps{PerRun: 10, PerAccount: 25}
	p = build(t, fleet(insts...), pol)
	if ss := skipsOf(p, policy.EnableEndpoint); p.Changes() != 10 || ss[0].Reason != "cap of 10 changes per run reached" {
		t.Fatalf("%d changes, skips %+v", p.Changes(), ss)
	}
}

func TestBatching(t *testing.T) {
	var insts []inventory.Instance
	for i := range 250 {
		in := healthy(i)
		if i%2 == 1 {
			in.Metadata.HTTPEndpoint = "disabled"
		} else {
			in.Tags["aws:ecs:clusterName"] = "web"
			in.Metadata.HopLimit = 1
			if i%4 == 0 {
				in.Tags[NestedContainersTag] = "true"
			}
		}
		insts = append(insts, in)
	}
	p := build(t, fleet(insts...), allOn())
	var sizes []string
	for _, b := range p.Batches {
		sizes = append(sizes, fmt.Sprintf("%s:%s:%d", b.Remediation, b.Params["HttpPutResponseHopLimit"][0], len(b.Changes)))
		if !slices.IsSortedFunc(b.Changes, func(a, b Change) int { return strings.Compare(a.Resource, b.Resource) }) {
			t.Errorf("batch %s not sorted by instance", b.Remediation)
		}
	}
	want := []string{"imds_enable_endpoint:0:100", "imds_enable_endpoint:0:25",
		"imds_set_hop_limit:2:62", "imds_set_hop_limit:3:63"}
	if !slices.Equal(sizes, want) {
		t.Fatalf("batches %v, want %v", sizes, want)
	}
}

func TestDisabledAndManual(t *testing.T) {
	in := healthy(1)
	in.Metadata.HTTPTokens = "optional"
	in.IMDSCalls = &inventory.IMDSCalls{HasData: true, NoToken: 3}
	pol := allOn()
	pol.Remediations[policy.RequireTokens] = policy.Remediation{Enabled: false}
	p := build(t, fleet(in), pol)
	// imds_v1_in_use has no automatic fix: it is not a skip.
	if len(p.Skips) != 1 || p.Skips[0].Reason != "remediation imds_require_tokens is not enabled in the policy" ||
		p.Skips[0].Check != "imds_v1_allowed" {
		t.Fatalf("skips %+v", p.Skips)
	}
}

func TestCollectionErrors(t *testing.T) {
	in := healthy(1)
	in.Metadata.HTTPEndpoint = "disabled"
	snap := fleet(in)
	run := runOf(t, snap)
	// The instances could not be read after all: the findings name an
	// instance the planner cannot see.
	region(snap).Errors = map[inventory.Source]*inventory.CollectError{
		inventory.SourceInstances: {What: "EC2 instances", API: "ec2:DescribeInstances", Kind: "throttled", Message: "rate exceeded"}}
	host := []checks.Finding{hostFinding(hostdiag.CheckProxyWithoutNoProxy, in.ID, "proxy")}
	p, err := Build(Input{RunID: tRun, Now: tNow, Run: run, HostFindings: host, Policy: allOn()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Changes() != 0 || len(p.Skips) != 2 || !strings.HasPrefix(p.Skips[0].Reason, "the audit could not read the instances of") {
		t.Fatalf("changes %+v skips %+v", p.Batches, p.Skips)
	}

	// An account the audit could not enter gets nothing.
	snap = fleet(in)
	snap.Accounts[0].Err = &inventory.CollectError{What: "account", API: "sts:AssumeRole", Kind: "access-denied", Permission: "sts:AssumeRole"}
	snap.Accounts[0].Regions = nil
	p, err = Build(Input{RunID: tRun, Now: tNow, Run: runOf(t, snap), HostFindings: host, Policy: allOn()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Changes() != 0 || len(p.Skips) != 1 || !strings.Contains(p.Skips[0].Reason, "could not enter account") {
		t.Fatalf("changes %+v skips %+v", p.Batches, p.Skips)
	}
}

func TestBuildErrors(t *testing.T) {
	snap := fleet(healthy(1))
	run := runOf(t, snap)
	cases := []struct {
		name string
		in   func() Input
		want string
	}{
		{"nil run", func() Input { return Input{RunID: tRun, Policy: allOn()} }, "no audit run"},
		{"nil policy", func() Input { return Input{RunID: tRun, Run: run} }, "no policy"},
		{"no snapshot", func() Input { return Input{RunID: tRun, Run: &audit.Run{}, Policy: allOn()} }, "no inventory snapshot"},
		{"no run id", func() Input { return Input{Run: run, Policy: allOn()} }, "empty run id"},
		{"no profile name", func() Input {
			p := allOn()
			p.InstanceProfileName = ""
			return Input{RunID: tRun, Run: run, Policy: p}
		}, "iam_attach_instance_profile is enabled but instanceProfileName is empty"},
		{"no dhmc role", func() Input {
			p := allOn()
			p.DHMCRoleName = ""
			return Input{RunID: tRun, Run: run, Policy: p}
		}, "dhmc_enable is enabled but dhmcRoleName is empty"},
		{"no window", func() Input {
			p := allOn()
			p.Tokens.Window = 0
			return Input{RunID: tRun, Run: run, Policy: p}
		}, "tokens.window"},
		{"hop target 1", func() Input {
			p := allOn()
			p.HopLimit.Target = 1
			return Input{RunID: tRun, Run: run, Policy: p}
		}, "hopLimit.target is 1"},
		{"unknown remediation", func() Input {
			p := allOn()
			p.Remediations["imds_disable_everything"] = policy.Remediation{Enabled: true}
			return Input{RunID: tRun, Run: run, Policy: p}
		}, "remediations.imds_disable_everything: unknown remediation"},
		{"zero cap", func() Input {
			p := allOn()
			p.Caps.PerAccount = 0
			return Input{RunID: tRun, Run: run, Policy: p}
		}, "caps.perAccount is 0"},
		{"bad no-proxy host", func() Input {
			p := allOn()
			p.NoProxyHosts = []string{"a b;rm -rf"}
			return Input{RunID: tRun, Run: run, Policy: p}
		}, "noProxyHosts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Build(tc.in())
			if err == nil || !strings.Contains(err.Error(), tc.want) || p != nil {
				t.Fatalf("err %v, want %q (plan %v)", err, tc.want, p)
			}
		})
	}
	// A parameter of a disabled remediation is not needed.
	p := allOn()
	p.InstanceProfileName = ""
	p.Remediations[policy.AttachProfile] = policy.Remediation{}
	if _, err := Build(Input{RunID: tRun, Run: run, Policy: p}); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------- properties

var (
	propClusters = []string{"prod", "irsa", "dev"}
	propRegions  = []string{"eu-west-1", "us-east-1"}
)

// randomFleet builds a random fleet, host findings and policy. Instance
// ids are unique across the fleet.
func randomFleet(r *rand.Rand) (*inventory.Snapshot, []checks.Finding, *policy.Policy) {
	chance := func(p float64) bool { return r.Float64() < p }
	snap := &inventory.Snapshot{CollectedAt: tNow, MetricWindow: tWindow}
	if chance(0.3) {
		snap.MetricWindow = 72 * time.Hour
	}
	pol := allOn()
	for _, id := range policy.RemediationIDs() {
		pol.Remediations[id] = policy.Remediation{Enabled: chance(0.75)}
	}
	pol.HopLimit.ContainerHostsNeedIMDS = chance(0.7)
	if chance(0.5) {
		pol.HopLimit.KeepIRSAClusters = []string{"irsa"}
	}
	pol.Caps = policy.Caps{PerRun: 1 + r.IntN(400), PerAccount: 1 + r.IntN(250)}
	var host []checks.Finding
	n := 0
	big := chance(0.1)
	for a := range 1 + r.IntN(3) {
		acct := &inventory.Account{ID: fmt.Sprintf("10000000000%d", a)}
		snap.Accounts = append(snap.Accounts, acct)
		unreachable := chance(0.05)
		if unreachable {
			acct.Err = &inventory.CollectError{What: "account", API: "sts:AssumeRole", Kind: "access-denied"}
		}
		for _, rn := range propRegions[:1+r.IntN(2)] {
			reg := &inventory.Region{Account: acct.ID, Name: rn}
			switch {
			case chance(0.1):
				reg.Errors = map[inventory.Source]*inventory.CollectError{inventory.SourceAccountDefaults: {Kind: "access-denied"}}
			default:
				reg.Defaults = &inventory.MetadataDefaults{
					HTTPTokens: []string{"", "optional", "required"}[r.IntN(3)],
					HopLimit:   int32(r.IntN(4)),
					ManagedBy:  []string{"account", "account", "declarative-policy"}[r.IntN(3)],
				}
			}
			switch {
			case chance(0.1):
			case chance(0.5):
				reg.DHMC = &inventory.DHMCSetting{Value: "$None"}
			default:
				reg.DHMC = &inventory.DHMCSetting{Value: "other-role", RoleName: "other-role"}
			}
			metricsFailed := chance(0.1)
			count := r.IntN(60)
			if big {
				count = 100 + r.IntN(150)
			}
			for range count {
				n++
				in := randomInstance(r, n)
				if metricsFailed {
					in.IMDSCalls = nil
				}
				reg.Instances = append(reg.Instances, in)
				if chance(0.2) {
					for _, c := range []string{hostdiag.CheckIMDSBlockedByFirewall, hostdiag.CheckProxyWithoutNoProxy, hostdiag.CheckAgentNotRunning} {
						if chance(0.5) {
							f := hostFinding(c, in.ID, "host says \x1b[31mno\x1b[0m <!channel>")
							f.Account, f.Region = acct.ID, rn
							host = append(host, f)
						}
					}
				}
				if chance(0.05) {
					pol.Tokens.Force = append(pol.Tokens.Force, in.ID)
				}
				if chance(0.03) {
					pol.Exemptions = append(pol.Exemptions, policy.Exemption{InstanceID: in.ID, Owner: "ops",
						Expires: tNow.Add(time.Duration(r.IntN(60)-30) * 24 * time.Hour)})
				}
			}
			if metricsFailed {
				reg.Errors = map[inventory.Source]*inventory.CollectError{inventory.SourceMetrics: {Kind: "throttled"}}
			}
			if chance(0.05) {
				// Instances could not be read: host findings may still
				// name them.
				reg.Instances = nil
				reg.Errors = map[inventory.Source]*inventory.CollectError{inventory.SourceInstances: {Kind: "access-denied"}}
			}
			if !unreachable {
				acct.Regions = append(acct.Regions, reg)
			}
		}
	}
	return snap, host, pol
}

func randomInstance(r *rand.Rand, n int) inventory.Instance {
	chance := func(p float64) bool { return r.Float64() < p }
	in := healthy(n)
	if chance(0.2) {
		in.State = "stopped"
	}
	if chance(0.15) {
		in.Metadata.HTTPEndpoint = "disabled"
	}
	if chance(0.5) {
		in.Metadata.HTTPTokens = "optional"
	}
	in.Metadata.HopLimit = []int32{1, 1, 1, 2, 2, 3, 4}[r.IntN(7)]
	switch r.IntN(7) {
	case 0:
		in.Tags["aws:ecs:clusterName"] = "web"
	case 1:
		in.Tags["eks:cluster-name"] = propClusters[r.IntN(len(propClusters))]
	case 2:
		in.Tags["karpenter.sh/nodepool"] = "default"
	case 3:
		in.Tags[checks.DeclareContainerHostTag] = []string{"nested", "docker", "none", "weird"}[r.IntN(4)]
	}
	if chance(0.1) {
		in.Tags[NestedContainersTag] = "true"
	}
	switch {
	case chance(0.05):
		in.Tags[policy.ExemptTag] = "owner=team@example.com;expires=2027-06-30"
	case chance(0.05):
		in.Tags[policy.ExemptTag] = "owner=team@example.com;expires=2025-06-30"
	case chance(0.05):
		in.Tags[policy.ExemptTag] = "\x1b[2Jowner <!channel>"
	}
	if chance(0.3) {
		in.ProfileARN = ""
	}
	switch {
	case chance(0.15):
		in.Agent = nil
	case chance(0.3):
		in.Agent.PingStatus = "ConnectionLost"
	}
	switch {
	case chance(0.15):
		in.IMDSCalls = nil
	case chance(0.1):
		in.IMDSCalls = &inventory.IMDSCalls{}
	case chance(0.35):
		in.IMDSCalls = &inventory.IMDSCalls{HasData: true, NoToken: float64(1 + r.IntN(50))}
	}
	return in
}

// instanceIndex finds each instance of a snapshot by id, with its region.
func instanceIndex(snap *inventory.Snapshot) (map[string]*inventory.Instance, map[string]*inventory.Region) {
	insts := map[string]*inventory.Instance{}
	regs := map[string]*inventory.Region{}
	for _, a := range snap.Accounts {
		for _, r := range a.Regions {
			regs[a.ID+"|"+r.Name] = r
			for i := range r.Instances {
				insts[r.Instances[i].ID] = &r.Instances[i]
			}
		}
	}
	return insts, regs
}

func TestPlanProperties(t *testing.T) {
	fleets := 300
	if testing.Short() {
		fleets = 50
	}
	for seed := range uint64(fleets) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		snap, host, pol := randomFleet(r)
		run := runOf(t, snap)
		in := Input{RunID: "run-" + strconv.FormatUint(seed, 10), Now: tNow, Run: run, HostFindings: host, Policy: pol}
		p, err := Build(in)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		checkPlan(t, seed, in, p)

		// Planning twice, or from the findings in another order, gives
		// the same plan.
		again, err := Build(in)
		if err != nil || !reflect.DeepEqual(p, again) {
			t.Fatalf("seed %d: second plan differs (%v)", seed, err)
		}
		shuffled := *run
		shuffled.Findings = slices.Clone(run.Findings)
		r.Shuffle(len(shuffled.Findings), func(i, j int) {
			shuffled.Findings[i], shuffled.Findings[j] = shuffled.Findings[j], shuffled.Findings[i]
		})
		in2 := in
		in2.Run = &shuffled
		in2.HostFindings = slices.Clone(host)
		r.Shuffle(len(in2.HostFindings), func(i, j int) {
			in2.HostFindings[i], in2.HostFindings[j] = in2.HostFindings[j], in2.HostFindings[i]
		})
		if again, err := Build(in2); err != nil || !reflect.DeepEqual(p, again) {
			t.Fatalf("seed %d: plan depends on the findings' order (%v)", seed, err)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		var sb strings.Builder
		if err := WriteText(&sb, p); err != nil || strings.ContainsAny(sb.String(), "\x1b\x07") || strings.Contains(sb.String(), "<!") {
			t.Fatalf("seed %d: text plan not inert (%v)", seed, err)
		}
	}
}

// checkPlan asserts the planner's invariants on one plan.
func checkPlan(t *testing.T, seed uint64, in Input, p *Plan) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: "+format, append([]any{seed}, args...)...)
	}
	pol, snap := in.Policy, in.Run.Snapshot
	insts, regs := instanceIndex(snap)
	exemptByPolicy := map[string]bool{}
	for _, e := range pol.Exemptions {
		exemptByPolicy[e.InstanceID] = true
	}
	forced := setOf(pol.Tokens.Force)

	ids := map[string]bool{}
	perAccount := map[string]int{}
	hop := map[string]int32{} // instance hop limits after the plan
	for id, inst := range insts {
		hop[id] = inst.Metadata.HopLimit
	}
	total := 0
	for _, b := range p.Batches {
		if len(b.Changes) == 0 || len(b.Changes) > batchLimit(b.Remediation) {
			fail("batch %s/%s %s has %d changes", b.Account, b.Region, b.Remediation, len(b.Changes))
		}
		if isHost(b.Remediation) && len(b.Changes) > HostBatch || len(b.Changes) > MaxBatch {
			fail("batch over its limit")
		}
		if b.Document != documentOf[b.Remediation] || !pol.Enabled(b.Remediation) {
			fail("batch %s: document %s, enabled %v", b.Remediation, b.Document, pol.Enabled(b.Remediation))
		}
		reg := regs[b.Account+"|"+b.Region]
		if reg == nil || reg.Failed(inventory.SourceInstances) != nil && !isAccountLevel(b.Remediation) {
			fail("batch in an account-region the audit could not read: %s/%s", b.Account, b.Region)
		}
		for _, c := range b.Changes {
			total++
			perAccount[b.Account]++
			if ids[c.ID] {
				fail("duplicate change id %s", c.ID)
			}
			ids[c.ID] = true
			if want := in.RunID + "|" + b.Account + "|" + b.Region + "|" + c.Resource + "|" + b.Remediation; c.ID != want {
				fail("change id %s, want %s", c.ID, want)
			}
			if isAccountLevel(b.Remediation) {
				if c.Resource != AccountResource {
					fail("account change on %s", c.Resource)
				}
				if b.Remediation == policy.AccountDefaults {
					if reg.Defaults == nil || reg.Defaults.ManagedBy == "declarative-policy" {
						fail("account defaults changed where a declarative policy manages them")
					}
					after, _ := strconv.Atoi(c.After["HttpPutResponseHopLimit"])
					if after < 2 || int32(after) < reg.Defaults.HopLimit {
						fail("account default hop limit %d lowered from %d", after, reg.Defaults.HopLimit)
					}
				}
				continue
			}
			inst := insts[c.Resource]
			if inst == nil {
				fail("change on %s, which is not in the inventory", c.Resource)
			}
			if _, ok := inst.Tags[policy.ExemptTag]; ok || exemptByPolicy[inst.ID] {
				fail("exempt instance %s changed by %s", inst.ID, b.Remediation)
			}
			switch b.Remediation {
			case policy.RequireTokens:
				calls := inst.IMDSCalls
				quiet := calls != nil && calls.HasData && calls.NoToken == 0 && snap.MetricWindow >= pol.Tokens.Window &&
					reg.Failed(inventory.SourceMetrics) == nil
				if !forced[inst.ID] && !quiet {
					fail("tokens required on %s, which made IMDSv1 calls or has no evidence (%+v)", inst.ID, calls)
				}
			case policy.SetHopLimit:
				after, _ := strconv.Atoi(c.After["HttpPutResponseHopLimit"])
				h := checks.ContainerHostOf(inst)
				if !pol.HopLimit.ContainerHostsNeedIMDS || h.Kind == "" {
					fail("hop limit changed on %s, which the policy does not mark as needing IMDS", inst.ID)
				}
				if h.Kind == checks.ContainerHostEKS && slices.Contains(pol.HopLimit.KeepIRSAClusters, h.Cluster) {
					fail("hop limit changed on %s, a node of IRSA-only cluster %s", inst.ID, h.Cluster)
				}
				if after < 2 || int32(after) <= inst.Metadata.HopLimit {
					fail("hop limit of %s set to %d from %d", inst.ID, after, inst.Metadata.HopLimit)
				}
				hop[inst.ID] = int32(after)
			case policy.AttachProfile:
				if inst.ProfileARN != "" {
					fail("profile attached to %s, which has one", inst.ID)
				}
			case policy.HostRemoveFirewall, policy.HostAddNoProxy, policy.HostRestartAgent:
				if inst.Agent == nil || inst.Agent.PingStatus != "Online" {
					fail("host repair on %s, whose agent is not Online", inst.ID)
				}
			}
		}
	}
	if total > pol.Caps.PerRun {
		fail("%d changes over the run cap %d", total, pol.Caps.PerRun)
	}
	for a, n := range perAccount {
		if n > pol.Caps.PerAccount {
			fail("%d changes in %s over the account cap %d", n, a, pol.Caps.PerAccount)
		}
	}
	// After the plan no hop limit is lower than before, and every container
	// host that needs IMDS and got a change ends at 2 or more.
	for id, inst := range insts {
		if hop[id] < inst.Metadata.HopLimit {
			fail("hop limit of %s lowered", id)
		}
	}

	// Every failing finding with an automatic fix is either changed or
	// skipped, never both.
	skipped := map[string]bool{}
	for _, s := range p.Skips {
		if s.Reason == "" {
			fail("skip without a reason: %+v", s)
		}
		skipped[s.Account+"|"+s.Region+"|"+s.Resource+"|"+s.Remediation+"|"+s.Check] = true
	}
	for _, f := range append(slices.Clone(in.Run.Findings), in.HostFindings...) {
		if f.Status != checks.Fail || f.Remediation == nil || !f.Remediation.Automatic {
			continue
		}
		res := f.Resource
		if isAccountLevel(f.Remediation.ID) {
			res = AccountResource
		}
		key := f.Account + "|" + f.Region + "|" + res + "|" + f.Remediation.ID
		changed := ids[in.RunID+"|"+key]
		if changed == skipped[key+"|"+f.Check] {
			fail("finding %s on %s: changed %v, skipped %v", f.Check, key, changed, !changed)
		}
	}
}
