package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"

	"github.com/fleetdoctor/fleetdoctor/internal/wait"
	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
	fdsh "github.com/fleetdoctor/fleetdoctor/pkg/securityhub"
)

const (
	testBucket = "fleetdoctor-reports"
	// stranger is a deployment account the sandbox's audit role cannot
	// be assumed in.
	stranger = "999999999999"
)

// env is the demo scenario served on loopback with the service over it.
type env struct {
	world *scenario.World
	sb    *sandbox.Sandbox
	svc   *Service
	logs  *bytes.Buffer
	emf   *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	w, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	clk := wait.NewVirtual(w.Now)
	sb, err := sandbox.New(sandbox.Options{World: w, Now: clk.Now, AutomationClock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	if err := sb.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	region := w.Regions[0]
	cfg := sb.Config(region, awsapi.DefaultMaxAttempts)
	prov := awsapi.NewProviderFromConfig(cfg, awsapi.Options{RoleName: w.AuditRole, Paces: awsapi.Paces{}})
	e := &env{world: w, sb: sb, logs: &bytes.Buffer{}, emf: &bytes.Buffer{}}
	e.svc = &Service{
		Config: Config{
			Bucket: testBucket, RoleName: w.AuditRole,
			Accounts: append(append([]string{}, w.Accounts...), stranger), Regions: w.Regions,
			Policy: policy.Default(),
		},
		Provider:        prov,
		S3:              s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		Log:             slog.New(slog.NewJSONHandler(e.logs, nil)),
		Stdout:          e.emf,
		Clock:           clk.Now,
		DiagnoseOptions: diagnose.Options{Sleep: clk.Sleep, Clock: clk.Now},
		ExecOptions: remediate.ExecOptions{PollInterval: 5 * time.Millisecond, VerifyInterval: 5 * time.Millisecond,
			VerifyTimeout: 10 * time.Second, RetryBackoff: 5 * time.Millisecond},
	}
	return e
}

// get reads a document of the bucket.
func (e *env) get(t *testing.T, key string, v any) {
	t.Helper()
	if err := e.svc.getJSON(context.Background(), key, v); err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
}

func (e *env) validate(t *testing.T, raw, execName string) Input {
	t.Helper()
	var ev TargetsEvent
	if err := json.Unmarshal([]byte(`{"action":"validate","executionName":"`+execName+`","input":`+raw+`}`), &ev); err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.Targets(context.Background(), ev)
	if err != nil {
		t.Fatalf("validate %s: %v", raw, err)
	}
	return out.(ValidateResponse).Input
}

// discoverAll resolves the run's targets and discovers each.
func (e *env) discoverAll(t *testing.T, in Input) []Target {
	t.Helper()
	ctx := context.Background()
	res, err := e.svc.Targets(ctx, TargetsEvent{Action: "resolve", Input: in})
	if err != nil {
		t.Fatal(err)
	}
	rr := res.(*ResolveResponse)
	var targets []Target
	e.get(t, rr.Key, &targets)
	if len(targets) != rr.Count {
		t.Fatalf("targets.json holds %d targets, the response says %d", len(targets), rr.Count)
	}
	for _, tg := range targets {
		if _, err := e.svc.Discover(ctx, DiscoverEvent{Target: tg, Input: in}); err != nil {
			t.Fatalf("discover %s/%s: %v", tg.Account, tg.Region, err)
		}
	}
	return targets
}

func countCheck(run *audit.Run, check string, status checks.Status) int {
	n := 0
	for _, f := range run.Findings {
		if f.Check == check && f.Status == status {
			n++
		}
	}
	return n
}

// The whole sequence by hand, as the state machine runs it: validate,
// resolve, discover every account-region (one account unreachable),
// diagnose plan and batches, remediate plan and batches (a dry run, then
// an apply), report; then a second run whose report shows what the apply
// resolved.
func TestFullSequence(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pol, err := policy.Parse([]byte("version: 1\nremediations:\n  imds_enable_endpoint: {enabled: true}\n"), "policy")
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Config.Policy = pol

	in := e.validate(t, `{"mode":"remediate","remediations":["imds_enable_endpoint"]}`, "run-1")
	if in.RunID != "run-1" || !DryRunOf(in) {
		t.Fatalf("validate: runId %q dryRun %v; want run-1 and the dry-run default", in.RunID, DryRunOf(in))
	}
	targets := e.discoverAll(t, in)
	if want := len(e.world.Regions) * (len(e.world.Accounts) + 1); len(targets) != want {
		t.Fatalf("%d targets, want %d (accounts × regions)", len(targets), want)
	}

	// The unreachable account has its parts, each with the audit's
	// ERROR finding, and the others were audited.
	var part DiscoverPart
	e.get(t, discoverKey(in.RunID, stranger, e.world.Regions[0]), &part)
	if countCheck(part.Run, checks.IncompleteID, checks.Error) == 0 || part.Run.Summary.UnreachableAccounts != 1 {
		t.Errorf("the unreachable account's part: %d audit_incomplete errors, %d unreachable accounts; want both > 0",
			countCheck(part.Run, checks.IncompleteID, checks.Error), part.Run.Summary.UnreachableAccounts)
	}
	e.get(t, discoverKey(in.RunID, e.world.Accounts[0], e.world.Regions[0]), &part)
	if part.Run.Summary.Instances == 0 || part.Snapshot == nil || len(part.Snapshot.Accounts) != 1 {
		t.Fatalf("a reachable account's part has %d instances (snapshot %v)", part.Run.Summary.Instances, part.Snapshot != nil)
	}

	// Diagnose: batches of at most 50 Online failing instances of one
	// account-region each, then their results.
	out, err := e.svc.Diagnose(ctx, DiagnoseEvent{Action: "plan", RunID: in.RunID, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	dplan := out.(*PlanResponse)
	if len(dplan.Batches) == 0 || dplan.Planned == 0 {
		t.Fatal("the demo scenario has failing Online instances to diagnose; the plan has none")
	}
	sent := 0
	for _, b := range dplan.Batches {
		if b.Size > DiagnoseBatchSize || b.Account == stranger {
			t.Errorf("batch %s: %d instances in %s", b.Key, b.Size, b.Account)
		}
		var doc DiagnoseBatchDoc
		e.get(t, b.Key, &doc)
		var p DiscoverPart
		e.get(t, discoverKey(in.RunID, doc.Account, doc.Region), &p)
		for _, inst := range p.Snapshot.Accounts[0].Regions[0].Instances {
			if slices.Contains(doc.InstanceIDs, inst.ID) && (inst.Agent == nil || inst.Agent.PingStatus != "Online") {
				t.Errorf("batch %s holds %s, whose agent is not Online", b.Key, inst.ID)
			}
		}
		r, err := e.svc.Diagnose(ctx, DiagnoseEvent{Action: "batch", RunID: in.RunID, Input: in, Batch: &b})
		if err != nil {
			t.Fatalf("diagnose batch %s: %v", b.Key, err)
		}
		sent += r.(*PartResponse).Instances
	}
	if got := e.sb.Stats()["ssm:SendCommand"].OK(); got != len(dplan.Batches) {
		t.Errorf("%d SendCommand calls for %d batches", got, len(dplan.Batches))
	}
	if sent != dplan.Planned {
		t.Errorf("batches diagnosed %d instances, the plan %d", sent, dplan.Planned)
	}

	// Remediate, dry run: a plan, batches, and nothing changed.
	modify := func() int { return e.sb.Stats()["ec2:ModifyInstanceMetadataOptions"].OK() }
	rplan := e.remediateAll(t, in)
	if rplan.Planned == 0 {
		t.Fatal("the demo scenario has endpoint-disabled instances; the plan has no change")
	}
	if modify() != 0 {
		t.Fatal("a dry run changed the fleet")
	}
	// Apply.
	applied := in
	applied.DryRun = aws.Bool(false)
	rplan = e.remediateAll(t, applied)
	if got := modify(); got != rplan.Planned {
		t.Errorf("ModifyInstanceMetadataOptions succeeded %d times for %d planned changes", got, rplan.Planned)
	}
	journal, err := e.svc.list(ctx, runPrefix(in.RunID)+"journal/")
	if err != nil || len(journal) == 0 {
		t.Errorf("no journal entries under %sjournal/ (%v)", runPrefix(in.RunID), err)
	}

	rep, err := e.svc.Report(ctx, ReportEvent{RunID: in.RunID, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	var run1 audit.Run
	e.get(t, rep.RunKey, &run1)
	var latest audit.Run
	e.get(t, KeyLatest, &latest)
	if latest.Run.ID != "run-1" || run1.Summary.Instances != rep.Instances || rep.Instances == 0 {
		t.Errorf("latest.json is run %q; run.json has %d instances, the response %d", latest.Run.ID, run1.Summary.Instances, rep.Instances)
	}
	if countCheck(&run1, checks.IncompleteID, checks.Error) == 0 || run1.Summary.UnreachableAccounts != 1 {
		t.Error("the report lost the unreachable account's ERROR finding")
	}
	hostFindings := 0
	for _, f := range run1.Findings {
		if strings.HasPrefix(f.Check, "host_") {
			hostFindings++
		}
	}
	if hostFindings == 0 {
		t.Error("the report has no host findings from the diagnosis")
	}
	for _, k := range []string{rep.HTMLKey, rep.CSVKey} {
		if _, err := e.sb.S3Object(testBucket, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if !strings.Contains(e.emf.String(), `"_aws"`) {
		t.Error("no EMF lines on stdout")
	}
	fixed := countCheck(&run1, "imds_endpoint_disabled", checks.Fail)

	// A second run sees the endpoints enabled: the report's diff resolves
	// the findings the apply fixed.
	in2 := e.validate(t, `{"mode":"audit"}`, "run-2")
	e.discoverAll(t, in2)
	rep2, err := e.svc.Report(ctx, ReportEvent{RunID: in2.RunID, Input: in2})
	if err != nil {
		t.Fatal(err)
	}
	var run2 audit.Run
	e.get(t, rep2.RunKey, &run2)
	if run2.Changes == nil || run2.Changes.PreviousRunID != "run-1" {
		t.Fatalf("the second run was not compared with the first: %+v", run2.Changes)
	}
	resolved := 0
	for _, f := range run2.Changes.Resolved {
		if f.Check == "imds_endpoint_disabled" {
			resolved++
		}
	}
	if resolved == 0 || resolved != rplan.Planned || rep2.Resolved < resolved {
		t.Errorf("resolved imds_endpoint_disabled: %d (response %d); planned and applied %d of %d", resolved, rep2.Resolved, rplan.Planned, fixed)
	}
	if left := countCheck(&run2, "imds_endpoint_disabled", checks.Fail); left != fixed-rplan.Planned {
		t.Errorf("%d endpoint-disabled findings left, want %d", left, fixed-rplan.Planned)
	}
	t.Logf("diagnosed %d instances in %d batches; applied %d of %d endpoint fixes in %d batches; run 2 resolved %d, new %d",
		dplan.Planned, len(dplan.Batches), rplan.Planned, fixed, len(rplan.Batches), rep2.Resolved, rep2.New)
	var history []report.TrendPoint
	e.get(t, KeyHistory, &history)
	if len(history) != 2 || history[1].RunID != "run-2" {
		t.Errorf("history.json: %+v", history)
	}
	if !strings.Contains(e.logs.String(), `"runId":"run-2"`) || !strings.Contains(e.logs.String(), `"account":"`+stranger+`"`) {
		t.Error("the logs do not carry the run id and account")
	}
}

// remediateAll plans and applies (or dry-runs) every batch.
func (e *env) remediateAll(t *testing.T, in Input) *PlanResponse {
	t.Helper()
	ctx := context.Background()
	out, err := e.svc.Remediate(ctx, RemediateEvent{Action: "plan", RunID: in.RunID, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	plan := out.(*PlanResponse)
	var doc remediate.Plan
	e.get(t, plan.PlanKey, &doc)
	if doc.Changes() != plan.Planned {
		t.Fatalf("plan.json has %d changes, the response %d", doc.Changes(), plan.Planned)
	}
	total := 0
	for _, b := range plan.Batches {
		r, err := e.svc.Remediate(ctx, RemediateEvent{Action: "batch", RunID: in.RunID, Input: in, Batch: &b})
		if err != nil {
			t.Fatalf("remediate batch %s: %v", b.Key, err)
		}
		var part RemediatePart
		e.get(t, r.(*PartResponse).Key, &part)
		if part.DryRun != DryRunOf(in) || part.Failed {
			t.Errorf("batch %s: dryRun %v failed %v (%s)", b.Key, part.DryRun, part.Failed, part.Error)
		}
		if !part.DryRun && (part.Result == nil || part.Result.Failures() > 0) {
			t.Errorf("batch %s: result %+v", b.Key, part.Result)
		}
		total += b.Size
	}
	if total != plan.Planned {
		t.Errorf("batches hold %d changes, the plan %d", total, plan.Planned)
	}
	return plan
}

// Every field of a bad input is named in an ErrorInvalidInput error, and
// the Lambda runtime reports exactly that errorType.
func TestValidateRejectsBadInput(t *testing.T) {
	e := &env{svc: &Service{Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}}
	for name, tc := range map[string]struct{ input, want string }{
		"mode":             {`{"mode":"fix"}`, `input.mode: "fix" is not one of audit, diagnose, remediate`},
		"missing mode":     {`{}`, `input: missing mode`},
		"dryRun type":      {`{"mode":"audit","dryRun":"yes"}`, `input.dryRun: must be boolean, not string`},
		"account":          {`{"mode":"audit","scope":{"accounts":["111111111111","12"]}}`, `input.scope.accounts[1]: "12" does not match ^[0-9]{12}$`},
		"region pattern":   {`{"mode":"audit","scope":{"regions":["EU"]}}`, `input.scope.regions[0]: "EU" does not match`},
		"unknown region":   {`{"mode":"audit","scope":{"regions":["eu-west-9"]}}`, `input.scope.regions[0]: unknown region "eu-west-9"`},
		"instance":         {`{"mode":"audit","scope":{"instanceIds":["i-zz"]}}`, `input.scope.instanceIds[0]: "i-zz" does not match`},
		"tags":             {`{"mode":"audit","scope":{"tags":{"env":5}}}`, `input.scope.tags.env: must be string`},
		"aws tag":          {`{"mode":"audit","scope":{"tags":{"aws:x":"y"}}}`, `input.scope.tags["aws:x"]`},
		"scope field":      {`{"mode":"audit","scope":{"vpcs":[]}}`, `input.scope: unknown field "vpcs"`},
		"check":            {`{"mode":"audit","checks":["imds_everything"]}`, `input.checks[0]: "imds_everything" is not one of`},
		"remediation":      {`{"mode":"remediate","remediations":["reboot"]}`, `input.remediations[0]: "reboot" is not one of`},
		"maxChanges":       {`{"mode":"remediate","maxChanges":10001}`, `input.maxChanges: maximum: got 10,001, want 10,000`},
		"maxChanges neg":   {`{"mode":"remediate","maxChanges":-1}`, `input.maxChanges`},
		"top field":        {`{"mode":"audit","apply":true}`, `input: unknown field "apply"`},
		"runId":            {`{"mode":"audit","runId":"../x"}`, `input.runId: "../x" does not match`},
		"audit remediates": {`{"mode":"audit","remediations":["imds_enable_endpoint"]}`, `input.remediations: only a "remediate" run`},
		"not an object":    {`[1]`, `input: must be object, not array`},
	} {
		t.Run(name, func(t *testing.T) {
			var ev TargetsEvent
			if err := json.Unmarshal([]byte(`{"action":"validate","executionName":"x","input":`+tc.input+`}`), &ev); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Targets(context.Background(), ev)
			var fe *Error
			if !errors.As(err, &fe) || fe.Type != ErrorInvalidInput || !strings.Contains(fe.Message, tc.want) {
				t.Fatalf("got %v; want %s naming %q", err, ErrorInvalidInput, tc.want)
			}
			// aws-lambda-go passes a messages.InvokeResponse_Error value
			// through as is (errors.go: lambdaErrorResponse); any other
			// error is reported under its Go type's name.
			le, ok := LambdaError(err).(messages.InvokeResponse_Error)
			if !ok || le.Type != ErrorInvalidInput {
				t.Fatalf("the runtime would report %#v", LambdaError(err))
			}
			if b, _ := json.Marshal(le); !strings.Contains(string(b), `"errorType":"`+ErrorInvalidInput+`"`) {
				t.Errorf("the runtime would report %s", b)
			}
		})
	}
	// A good input is normalised.
	var ev TargetsEvent
	_ = json.Unmarshal([]byte(`{"action":"validate","executionName":"exec-1","input":{"mode":"diagnose","dryRun":false,"checks":["ssm_not_registered"]}}`), &ev)
	out, err := e.svc.Targets(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	in := out.(ValidateResponse).Input
	if in.RunID != "exec-1" || DryRunOf(in) {
		t.Errorf("normalised input %+v", in)
	}
	if _, err := e.svc.Targets(context.Background(), TargetsEvent{Action: "explode"}); !isType(err, ErrorUnknownAction) {
		t.Errorf("unknown action: %v", err)
	}
}

func isType(err error, typ string) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Type == typ
}

// A discover with too little time left writes a partial part saying so
// instead of timing out; a recorded failure writes a part naming the
// error.
func TestDiscoverDeadlineAndRecordFailure(t *testing.T) {
	e := newEnv(t)
	tg := Target{RunID: "run-dl", Account: e.world.Accounts[0], Region: e.world.Regions[0]}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := e.svc.Discover(ctx, DiscoverEvent{Target: tg, Input: Input{Mode: ModeAudit, RunID: tg.RunID}})
	if err != nil {
		t.Fatal(err)
	}
	var part DiscoverPart
	e.get(t, resp.Key, &part)
	if !resp.Partial || !part.Partial || countCheck(part.Run, checks.IncompleteID, checks.Error) != 1 {
		t.Errorf("partial %v/%v, %d audit_incomplete", resp.Partial, part.Partial, countCheck(part.Run, checks.IncompleteID, checks.Error))
	}
	if n := e.sb.Stats()["ec2:DescribeInstances"].Calls; n != 0 {
		t.Errorf("%d DescribeInstances calls with no time left", n)
	}

	long := strings.Repeat("<script>", 1000)
	resp, err = e.svc.Discover(context.Background(), DiscoverEvent{Action: "recordFailure", Target: tg, Input: Input{Mode: ModeAudit},
		Error: "Lambda.ServiceException", Cause: long})
	if err != nil {
		t.Fatal(err)
	}
	e.get(t, resp.Key, &part)
	if !part.Failed || len(part.Run.Findings) != 1 || !strings.Contains(part.Run.Findings[0].Detail, "Lambda.ServiceException") ||
		len(part.Run.Findings[0].Detail) > 2*maxMessage+200 {
		t.Errorf("recorded failure part: failed %v, findings %+v", part.Failed, part.Run.Findings)
	}
	if _, err := e.svc.Discover(context.Background(), DiscoverEvent{Target: Target{RunID: "r", Account: "1", Region: "eu-west-1"}}); !isType(err, ErrorInvalidInput) {
		t.Errorf("bad account: %v", err)
	}
}

// failingHub is a Security Hub that refuses every import.
type failingHub struct{}

func (failingHub) BatchImportFindings(context.Context, *securityhub.BatchImportFindingsInput, ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error) {
	return nil, errors.New("AccessDeniedException: not subscribed")
}

// A failing notification is recorded in the response; the report set and
// latest.json are written all the same.
func TestReportSurvivesFailingNotification(t *testing.T) {
	e := newEnv(t)
	e.svc.Config.SecurityHub = true
	e.svc.SecurityHub = func(string) fdsh.BatchImporter { return failingHub{} }
	in := Input{Mode: ModeAudit, RunID: "run-n", Scope: Scope{Accounts: e.world.Accounts[:1], Regions: e.world.Regions[:1]}}
	e.discoverAll(t, in)
	rep, err := e.svc.Report(context.Background(), ReportEvent{RunID: in.RunID, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NotifyErrors) == 0 || !strings.Contains(rep.NotifyErrors[0], "securityhub") || len(rep.Notified) != 0 {
		t.Errorf("notified %v, errors %v", rep.Notified, rep.NotifyErrors)
	}
	var latest audit.Run
	e.get(t, KeyLatest, &latest)
	if latest.Run.ID != "run-n" {
		t.Errorf("latest.json is %q", latest.Run.ID)
	}
}
