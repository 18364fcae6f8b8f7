package diagnose_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/internal/wait"
	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// demo is the demo scenario on a sandbox, audited.
type demo struct {
	world *scenario.World
	sb    *sandbox.Sandbox
	clock *wait.Virtual
	run   *audit.Run
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	world, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	start := world.Now
	if start.IsZero() {
		start = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	}
	clk := wait.NewVirtual(start)
	sb, err := sandbox.New(sandbox.Options{World: world, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	run, err := audit.Audit(context.Background(), sb.Provider(world.Regions[0]), audit.Options{
		Accounts: world.Accounts, Regions: world.Regions, RoleName: world.AuditRole, Clock: clk.Now, Sandbox: "demo",
	})
	if err != nil {
		t.Fatal(err)
	}
	sb.ResetStats()
	return &demo{world: world, sb: sb, clock: clk, run: run}
}

func (d *demo) opts() diagnose.Options {
	return diagnose.Options{Sleep: d.clock.Sleep, Clock: d.clock.Now}
}

// online counts the running instances with an Online agent per
// account-region.
func (d *demo) online() map[string][]string {
	out := map[string][]string{}
	for _, a := range d.run.Snapshot.Accounts {
		for _, r := range a.Regions {
			for _, in := range r.Instances {
				if in.Running() && in.Agent != nil && in.Agent.PingStatus == "Online" {
					out[a.ID+"/"+r.Name] = append(out[a.ID+"/"+r.Name], in.ID)
				}
			}
		}
	}
	return out
}

func byResource(fs []checks.Finding, check string) map[string]checks.Finding {
	out := map[string]checks.Finding{}
	for _, f := range fs {
		if f.Check == check {
			out[f.Resource] = f
		}
	}
	return out
}

func TestDiagnoseDemo(t *testing.T) {
	d := startDemo(t)
	res, err := diagnose.Run(context.Background(), d.sb.Provider(d.world.Regions[0]), d.run, d.opts())
	if err != nil {
		t.Fatal(err)
	}
	online := d.online()
	wantSends, nOnline := 0, 0
	for _, ids := range online {
		wantSends += (len(ids) + 49) / 50
		nOnline += len(ids)
	}
	stats := d.sb.Stats()
	t.Logf("online %d in %d account-regions: sent %d, answered %d, failed %d, not diagnosable %d, full reads %d; API calls %+v",
		nOnline, len(online), res.Sent, res.Answered, res.Failed, res.NotDiagnosable, res.FullOutputReads, stats)
	if got := stats["ssm:SendCommand"].Calls; got != wantSends || len(res.Commands) != wantSends {
		t.Errorf("SendCommand calls %d (commands %d), want ceil(online/50) per account-region = %d", got, len(res.Commands), wantSends)
	}
	for _, c := range res.Commands {
		if len(c.Instances) > 50 {
			t.Errorf("command %s has %d instances", c.CommandID, len(c.Instances))
		}
	}
	if res.Sent != nOnline {
		t.Errorf("sent to %d instances, want the %d online", res.Sent, nOnline)
	}
	if res.Answered+res.Failed != res.Sent {
		t.Errorf("answered %d + failed %d != sent %d", res.Answered, res.Failed, res.Sent)
	}
	if res.Answered < nOnline*9/10 {
		t.Errorf("only %d of %d online instances answered", res.Answered, nOnline)
	}
	// Every modelled report is longer than the 2,500 characters of
	// CommandPlugin output, so each was read through GetCommandInvocation.
	if gci := stats["ssm:GetCommandInvocation"]; gci.OK() != res.FullOutputReads || res.FullOutputReads < res.Answered {
		t.Errorf("GetCommandInvocation %+v, full reads %d, answered %d", gci, res.FullOutputReads, res.Answered)
	}
	// One listing per command per poll, never one per instance.
	if lci := stats["ssm:ListCommandInvocations"].Calls; lci < wantSends || lci > wantSends*20 {
		t.Errorf("ListCommandInvocations calls %d for %d commands", lci, wantSends)
	}

	// Hosts with a modelled firewall rule (and an Online agent) fail
	// host_imds_blocked_by_firewall.
	fw := byResource(res.Findings, hostdiag.CheckIMDSBlockedByFirewall)
	isOnline := map[string]bool{}
	for _, ids := range online {
		for _, id := range ids {
			isOnline[id] = true
		}
	}
	nfw := 0
	for id, st := range d.world.Hosts {
		if st == nil || len(st.Firewall) == 0 || !isOnline[id] || st.Agent.Stopped || st.Agent.NotInstalled {
			continue
		}
		nfw++
		if f, ok := fw[id]; !ok || f.Status != checks.Fail || f.Remediation == nil || f.Remediation.Document != hostdiag.RepairDocumentName {
			t.Errorf("%s: firewall finding %+v", id, f)
		}
	}
	if nfw == 0 {
		t.Fatal("the demo has no online host with a firewall rule")
	}

	// Offline agents are named, not skipped silently.
	nd := byResource(res.Findings, hostdiag.CheckNotDiagnosable)
	offline := 0
	for _, a := range d.run.Snapshot.Accounts {
		for _, r := range a.Regions {
			for _, in := range r.Instances {
				if !in.Running() || in.Agent == nil || in.Agent.PingStatus == "Online" {
					continue
				}
				offline++
				f, ok := nd[in.ID]
				want := "not diagnosable on host: agent offline (PingStatus " + in.Agent.PingStatus + ")"
				if !ok || f.Status != checks.Error || f.Detail != want || f.Account != a.ID || f.Region != r.Name {
					t.Errorf("%s: %+v, want %q", in.ID, f, want)
				}
			}
		}
	}
	if offline == 0 {
		t.Error("the demo has no offline agent")
	}
	if len(nd) != res.NotDiagnosable {
		t.Errorf("%d host_not_diagnosable findings for %d", len(nd), res.NotDiagnosable)
	}

	// Merge: the host findings follow the API-side ones, and the summary
	// counts them.
	before := len(d.run.Findings)
	errsBefore := d.run.Summary.ByStatus[checks.Error]
	diagnose.Merge(d.run, res)
	if len(d.run.Findings) != before+len(res.Findings) {
		t.Fatalf("merged %d findings into %d, have %d", len(res.Findings), before, len(d.run.Findings))
	}
	for _, f := range d.run.Findings[:before] {
		if strings.HasPrefix(f.Check, "host_") {
			t.Fatalf("host finding %s before the API-side ones end", f.Check)
		}
	}
	hostErrs := 0
	for _, f := range res.Findings {
		if f.Status == checks.Error {
			hostErrs++
		}
	}
	if got := d.run.Summary.ByStatus[checks.Error]; got != errsBefore+hostErrs {
		t.Errorf("summary ERROR count %d, want %d", got, errsBefore+hostErrs)
	}
	var statFW *checks.Stat
	for i, st := range d.run.Summary.Checks {
		if st.Check == hostdiag.CheckIMDSBlockedByFirewall {
			statFW = &d.run.Summary.Checks[i]
		}
	}
	if statFW == nil || statFW.Failed < nfw || statFW.Evaluated < res.Answered/2 {
		t.Errorf("summary stat for the firewall check: %+v", statFW)
	}
}

func TestDiagnoseFilters(t *testing.T) {
	d := startDemo(t)
	online := d.online()
	var some []string
	for _, ids := range online {
		some = append(some, ids[0])
	}
	opts := d.opts()
	opts.InstanceIDs = append(some, "i-0000000000000dead")
	res, err := diagnose.Run(context.Background(), d.sb.Provider(d.world.Regions[0]), d.run, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != len(some) || res.NotDiagnosable != 1 {
		t.Errorf("sent %d (want %d), not diagnosable %d (want 1: the unknown id)", res.Sent, len(some), res.NotDiagnosable)
	}
	if got := d.sb.Stats()["ssm:SendCommand"].Calls; got != len(online) {
		t.Errorf("SendCommand calls %d, want one per account-region (%d)", got, len(online))
	}

	// Only failing: every diagnosed instance has an API-side FAIL.
	d.sb.ResetStats()
	opts = d.opts()
	opts.OnlyFailing = true
	res, err = diagnose.Run(context.Background(), d.sb.Provider(d.world.Regions[0]), d.run, opts)
	if err != nil {
		t.Fatal(err)
	}
	failing := map[string]bool{}
	for _, f := range d.run.Findings {
		if f.Status == checks.Fail && f.ResourceType == checks.TypeInstance {
			failing[f.Resource] = true
		}
	}
	for _, c := range res.Commands {
		for _, id := range c.Instances {
			if !failing[id] {
				t.Errorf("%s diagnosed with --only-failing but has no API-side FAIL", id)
			}
		}
	}
	if res.Sent == 0 {
		t.Error("nothing failing was diagnosed")
	}
}

// TestDiagnoseS3Output: with an output bucket, cut reports are read from
// S3 and GetCommandInvocation is not called.
func TestDiagnoseS3Output(t *testing.T) {
	d := startDemo(t)
	online := d.online()
	var some []string
	for _, ids := range online {
		some = append(some, ids...)
		break
	}
	some = some[:min(len(some), 60)]
	prov := d.sb.Provider(d.world.Regions[0])
	acct, region := "", ""
	for k := range online {
		acct, region, _ = strings.Cut(k, "/")
		break
	}
	_ = acct
	s3c := s3.NewFromConfig(d.sb.Config(region, 0), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("fd-diagnose-output")}); err != nil {
		t.Fatal(err)
	}
	opts := d.opts()
	opts.InstanceIDs = some
	opts.OutputBucket, opts.OutputPrefix = "fd-diagnose-output", "runs/1"
	res, err := diagnose.Run(context.Background(), prov, d.run, opts)
	if err != nil {
		t.Fatal(err)
	}
	stats := d.sb.Stats()
	if res.Answered < len(some)*9/10 || stats["ssm:GetCommandInvocation"].Calls != 0 || stats["ssm:SendCommand"].Calls != 2 {
		t.Errorf("answered %d of %d; API calls %+v", res.Answered, len(some), stats)
	}
	if got := diagnose.OutputKey("runs/1/", "c", "i-1", "aws:runShellScript", "diagnoseLinux"); got != "runs/1/c/i-1/awsrunShellScript/diagnoseLinux/stdout" {
		t.Errorf("OutputKey = %q", got)
	}
}
