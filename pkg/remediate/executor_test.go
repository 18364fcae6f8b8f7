package remediate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

const (
	acct      = "111111111111"
	acct2     = "222222222222"
	region    = "eu-west-1"
	auditRole = "FleetDoctorAudit"
	modifyAPI = "ec2:ModifyInstanceMetadataOptions"
	startAPI  = "ssm:StartAutomationExecution"
)

// instantClock runs Automation's sleeps and polls without waiting.
type instantClock struct{}

func (instantClock) Now() time.Time                                   { return time.Now() }
func (instantClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func world(accounts []string, perRegion int) *scenario.World {
	f := fake.SampleFleet(accounts, []string{region}, perRegion)
	assumable := map[string][]string{}
	for _, a := range accounts {
		assumable[a] = []string{auditRole}
	}
	return &scenario.World{Fleet: f, CallerAccount: accounts[0], AuditRole: auditRole, Assumable: assumable,
		Accounts: accounts, Regions: []string{region}}
}

func startSandbox(t testing.TB, o sandbox.Options) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// fastProvider is the sandbox's provider without client-side pacing: the
// tests run without the sandbox's buckets, and pacing StartAutomationExecution
// to 1/s would only make them slow.
func fastProvider(sb *sandbox.Sandbox) *awsapi.AWSProvider {
	cfg := sb.Config(region, awsapi.DefaultMaxAttempts)
	cfg.RetryMode = aws.RetryModeAdaptive
	return awsapi.NewProviderFromConfig(cfg, awsapi.Options{RoleName: auditRole, Paces: awsapi.Paces{}})
}

// stormProvider retries like the SDK's standard retryer but with short
// backoffs and no retry quota, so a fault storm costs seconds, not
// minutes; the executor's own retries are what the storm test is about.
func stormProvider(sb *sandbox.Sandbox) *awsapi.AWSProvider {
	cfg := sb.Config(region, awsapi.DefaultMaxAttempts)
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 4
			o.MaxBackoff = 20 * time.Millisecond
			o.RateLimiter = ratelimit.None
		})
	}
	return awsapi.NewProviderFromConfig(cfg, awsapi.Options{RoleName: auditRole, Paces: awsapi.Paces{}})
}

func fastOptions() remediate.ExecOptions {
	return remediate.ExecOptions{Canary: 4, Growth: 2, Max: 8, MaxErrors: -1,
		PollInterval: 5 * time.Millisecond, VerifyInterval: 5 * time.Millisecond, VerifyTimeout: 5 * time.Second,
		RetryBackoff: 5 * time.Millisecond}
}

func ids(n int, account int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("i-%02d%02d%013d", account, 0, i)
	}
	return out
}

// metadataPlan changes field to value on every instance, in batches of
// 100 (before-values as the plan saw them: the sample fleet's).
func metadataPlan(runID, account string, instances []string, remediation, field, value string) *remediate.Plan {
	p := &remediate.Plan{RunID: runID, CreatedAt: time.Now()}
	for lo := 0; lo < len(instances); lo += remediate.MaxBatch {
		b := remediate.Batch{Account: account, Region: region, Remediation: remediation, Document: checks.DocSetMetadataOptions,
			Params: map[string][]string{field: {value}}}
		for _, id := range instances[lo:min(lo+remediate.MaxBatch, len(instances))] {
			b.Changes = append(b.Changes, remediate.Change{ID: runID + "|" + account + "|" + region + "|" + id + "|" + remediation,
				Resource: id, Before: map[string]string{field: "?"}, After: map[string]string{field: value}, Reason: "test"})
		}
		p.Batches = append(p.Batches, b)
	}
	return p
}

func fileJournal(t testing.TB, dir string) *remediate.FileJournal {
	t.Helper()
	j, err := remediate.NewFileJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

// metadata reads every instance's metadata options.
func metadata(t testing.TB, sb *sandbox.Sandbox, account string) map[string]ec2types.InstanceMetadataOptionsResponse {
	t.Helper()
	p := fastProvider(sb)
	ctx := context.Background()
	if err := p.Account(ctx, account); err != nil {
		t.Fatal(err)
	}
	c, err := p.Clients(ctx, account, region)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ec2types.InstanceMetadataOptionsResponse{}
	pg := ec2.NewDescribeInstancesPaginator(c.EC2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				out[aws.ToString(in.InstanceId)] = *in.MetadataOptions
			}
		}
	}
	return out
}

// outcomesOnce checks the journal holds exactly one outcome (of kind) per
// change and returns them by change id.
func outcomesOnce(t testing.TB, j remediate.Journal, runID, kind string) map[string]remediate.Entry {
	t.Helper()
	es, err := j.Entries(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]remediate.Entry{}
	seqs := map[int]bool{}
	for _, e := range es {
		if seqs[e.Seq] {
			t.Errorf("seq %d appears twice", e.Seq)
		}
		seqs[e.Seq] = true
		if e.Kind != kind {
			continue
		}
		if prev, dup := out[e.ChangeID]; dup {
			t.Errorf("change %s has two %s entries: %s and %s", e.ChangeID, kind, prev.Outcome, e.Outcome)
		}
		out[e.ChangeID] = e
	}
	return out
}

func TestApplySetsMetadataOptionsInWaves(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 30), AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	instances := ids(30, 0)
	plan := metadataPlan("run-apply", acct, instances, policy.SetHopLimit, remediate.FieldHopLimit, "3")
	o := fastOptions()
	res, err := remediate.NewExecutor(fastProvider(sb), j, o).Apply(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Count(remediate.OutcomeApplied); got != 30 {
		t.Fatalf("applied %d of 30: %+v", got, res.Changes)
	}
	// Waves 4, 8, 8, 8, 2: one execution each.
	if want := []int{4, 8, 8, 8, 2}; fmt.Sprint(o.WaveSizes(30)) != fmt.Sprint(want) || len(res.Waves) != 5 {
		t.Errorf("waves %v (%d in the result), want %v", o.WaveSizes(30), len(res.Waves), want)
	}
	if res.Executions != 5 || sb.Stats()[startAPI].OK() != 5 {
		t.Errorf("%d executions started (%d OK in the sandbox), want 5", res.Executions, sb.Stats()[startAPI].OK())
	}
	for id, mo := range metadata(t, sb, acct) {
		if aws.ToInt32(mo.HttpPutResponseHopLimit) != 3 || mo.State != ec2types.InstanceMetadataOptionsStateApplied {
			t.Errorf("%s: %+v", id, mo)
		}
	}
	if got := sb.Stats()[modifyAPI].OK(); got != 30 {
		t.Errorf("ModifyInstanceMetadataOptions OK %d, want 30", got)
	}
	outs := outcomesOnce(t, j, plan.RunID, remediate.KindOutcome)
	es, _ := j.Entries(context.Background(), plan.RunID)
	intentSeq := map[string]int{}
	for _, e := range es {
		if e.Kind == remediate.KindIntent {
			intentSeq[e.ChangeID] = e.Seq
			if e.Token == "" || e.Before[remediate.FieldHopLimit] == "?" {
				t.Errorf("intent %+v: want a token and the before-value read from EC2", e)
			}
		}
	}
	for id, o := range outs {
		if s, ok := intentSeq[id]; !ok || s > o.Seq || o.Outcome != remediate.OutcomeApplied || o.ExecutionID == "" {
			t.Errorf("change %s: intent seq %d (%v), outcome %+v", id, s, ok, o)
		}
	}
	// The sample fleet's EKS nodes (i%10 == 6) had hop limit 1.
	if e := es[0]; e.Kind != remediate.KindIntent {
		t.Fatalf("first entry %+v", e)
	}
	for _, e := range es {
		if e.Kind == remediate.KindIntent && e.Resource == instances[6] && e.Before[remediate.FieldHopLimit] != "1" {
			t.Errorf("intent of %s records before %v, want hop limit 1", e.Resource, e.Before)
		}
	}

	// Applying the plan again is a no-op.
	sb.ResetStats()
	res2, err := remediate.NewExecutor(fastProvider(sb), j, o).Apply(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Executions != 0 || sb.Stats()[startAPI].Calls != 0 || len(outcomesOnce(t, j, plan.RunID, remediate.KindOutcome)) != 30 {
		t.Errorf("rerun started %d executions", res2.Executions)
	}
	for _, c := range res2.Changes {
		if !c.Resumed || c.Outcome != remediate.OutcomeApplied {
			t.Errorf("rerun: %+v", c)
		}
	}
}

func TestApplySkipsChangesAlreadyMade(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 10), AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	// Tokens are required on all but i%10 == 2 already.
	plan := metadataPlan("run-skip", acct, ids(10, 0), policy.RequireTokens, remediate.FieldHttpTokens, "required")
	res, err := remediate.NewExecutor(fastProvider(sb), j, fastOptions()).Apply(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(remediate.OutcomeSkipped) != 9 || res.Count(remediate.OutcomeApplied) != 1 || sb.Stats()[modifyAPI].OK() != 1 {
		t.Errorf("skipped %d, applied %d, modified %d; want 9, 1, 1", res.Count(remediate.OutcomeSkipped),
			res.Count(remediate.OutcomeApplied), sb.Stats()[modifyAPI].OK())
	}
}

// crashJournal fails (or cancels the run) once it has stored limit
// entries; the entry that crosses the limit is cut short like a process
// killed in the middle of a batch.
type crashJournal struct {
	remediate.BatchJournal
	mu     sync.Mutex
	n      int
	limit  int
	cancel context.CancelFunc // nil: fail the append instead
}

var errCrash = errors.New("crash")

func (c *crashJournal) Append(ctx context.Context, e remediate.Entry) error {
	return c.AppendAll(ctx, []remediate.Entry{e})
}

func (c *crashJournal) AppendAll(ctx context.Context, es []remediate.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - c.n
	if room <= 0 {
		return errCrash
	}
	if c.cancel != nil {
		err := c.BatchJournal.AppendAll(ctx, es)
		c.n += len(es)
		if c.n >= c.limit {
			c.cancel()
		}
		return err
	}
	if len(es) > room {
		if err := c.BatchJournal.AppendAll(ctx, es[:room]); err != nil {
			return err
		}
		c.n = c.limit
		return errCrash
	}
	c.n += len(es)
	return c.BatchJournal.AppendAll(ctx, es)
}

// A run interrupted after k journal entries (several k, failing the
// journal or cancelling the context) resumes and finishes with every
// change exactly once in the journal's outcomes and exactly one
// ModifyInstanceMetadataOptions per change in the sandbox's call log.
func TestCrashAndResume(t *testing.T) {
	const n = 24 // 48 journal entries
	for _, cancel := range []bool{false, true} {
		for _, k := range []int{1, 4, 5, 11, 17, 26, 33, 40, 47} {
			name := fmt.Sprintf("fail-after-%d", k)
			if cancel {
				name = fmt.Sprintf("cancel-after-%d", k)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, n), AutomationClock: instantClock{}})
				dir := t.TempDir()
				plan := metadataPlan("run-crash", acct, ids(n, 0), policy.SetHopLimit, remediate.FieldHopLimit, "3")
				ctx, stop := context.WithCancel(context.Background())
				defer stop()
				cj := &crashJournal{BatchJournal: fileJournal(t, dir), limit: k}
				if cancel {
					cj.cancel = stop
				}
				res, err := remediate.NewExecutor(fastProvider(sb), cj, fastOptions()).Apply(ctx, plan)
				if err == nil {
					t.Fatalf("the interrupted run reported no error: %d applied", res.Count(remediate.OutcomeApplied))
				}
				// A new process: a new journal over the same directory.
				j := fileJournal(t, dir)
				res, err = remediate.NewExecutor(fastProvider(sb), j, fastOptions()).Apply(context.Background(), plan)
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Count(remediate.OutcomeApplied); got != n {
					t.Errorf("applied %d of %d: %+v", got, n, res.Changes)
				}
				outs := outcomesOnce(t, j, plan.RunID, remediate.KindOutcome)
				if len(outs) != n {
					t.Errorf("%d outcomes, want %d", len(outs), n)
				}
				for id, o := range outs {
					if o.Outcome != remediate.OutcomeApplied {
						t.Errorf("%s: %s %s", id, o.Outcome, o.Error)
					}
				}
				if got := sb.Stats()[modifyAPI].OK(); got != n {
					t.Errorf("ModifyInstanceMetadataOptions succeeded %d times, want %d (one per change)", got, n)
				}
				for id, mo := range metadata(t, sb, acct) {
					if aws.ToInt32(mo.HttpPutResponseHopLimit) != 3 {
						t.Errorf("%s hop limit %d", id, aws.ToInt32(mo.HttpPutResponseHopLimit))
					}
				}
			})
		}
	}
}

// Once more changes fail than MaxErrors allows, no further wave starts.
func TestMaxErrorsStopsFurtherWaves(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 20), AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	// Every sample instance already has a profile: AssociateIamInstanceProfile
	// fails with IncorrectState, and the runbook never replaces a profile.
	p := &remediate.Plan{RunID: "run-maxerr"}
	b := remediate.Batch{Account: acct, Region: region, Remediation: policy.AttachProfile, Document: checks.DocAttachInstanceProfile,
		Params: map[string][]string{"InstanceProfileName": {"ssm-profile"}}}
	for _, id := range ids(20, 0) {
		b.Changes = append(b.Changes, remediate.Change{ID: "run-maxerr|" + id, Resource: id,
			Before: map[string]string{remediate.FieldInstanceProfileName: ""}, After: map[string]string{remediate.FieldInstanceProfileName: "other-profile"}})
	}
	p.Batches = []remediate.Batch{b}
	o := fastOptions()
	o.Canary, o.MaxErrors = 2, 1
	res, err := remediate.NewExecutor(fastProvider(sb), j, o).Apply(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || res.Count(remediate.OutcomeFailed) != 2 || res.Count(remediate.OutcomeNotStarted) != 18 || len(res.Waves) != 1 {
		t.Fatalf("stopped %v (%s), failed %d, not started %d, waves %d", res.Stopped, res.StopReason,
			res.Count(remediate.OutcomeFailed), res.Count(remediate.OutcomeNotStarted), len(res.Waves))
	}
	if got := sb.Stats()["ec2:AssociateIamInstanceProfile"].Calls; got != 2 {
		t.Errorf("AssociateIamInstanceProfile called %d times, want 2 (the canary)", got)
	}
	for _, c := range res.Changes {
		if c.Outcome == remediate.OutcomeFailed && c.Error == "" {
			t.Errorf("%s failed without a reason", c.ChangeID)
		}
	}
	// A rerun does not start either: the journal's failures count.
	sb.ResetStats()
	res, err = remediate.NewExecutor(fastProvider(sb), j, o).Apply(context.Background(), p)
	if err != nil || !res.Stopped || sb.Stats()[startAPI].Calls != 0 {
		t.Errorf("rerun: %v, stopped %v, %d starts", err, res.Stopped, sb.Stats()[startAPI].Calls)
	}
}

// Rollback restores every before-value through the runbooks; changes no
// runbook can undo are journaled as such; a second rollback is a no-op.
func TestRollbackRestoresBeforeValues(t *testing.T) {
	w := world([]string{acct}, 20)
	bare := "i-0000000000000abcd"
	w.Fleet.AddInstance(acct, region, fake.InstanceSpec{ID: bare, VPC: "vpc-00", Subnet: "vpc-00-nat", SGs: []string{"vpc-00-sg"}, PrivateIP: "10.0.9.9"})
	sb := startSandbox(t, sandbox.Options{World: w, AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	before := metadata(t, sb, acct)
	all := ids(20, 0)
	var disabled, optional []string
	for i, id := range all {
		switch i % 10 {
		case 1:
			disabled = append(disabled, id)
		case 2:
			optional = append(optional, id)
		}
	}
	const runID = "run-rollback"
	plan := &remediate.Plan{RunID: runID}
	for _, p := range []*remediate.Plan{
		metadataPlan(runID, acct, disabled, policy.EnableEndpoint, remediate.FieldHttpEndpoint, "enabled"),
		metadataPlan(runID, acct, optional, policy.RequireTokens, remediate.FieldHttpTokens, "required"),
		metadataPlan(runID, acct, all, policy.SetHopLimit, remediate.FieldHopLimit, "3"),
	} {
		plan.Batches = append(plan.Batches, p.Batches...)
	}
	role := "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
	plan.Batches = append(plan.Batches,
		remediate.Batch{Account: acct, Region: region, Remediation: policy.EnableDHMC, Document: checks.DocEnableDHMC,
			Params: map[string][]string{"RoleName": {role}},
			Changes: []remediate.Change{{ID: runID + "|dhmc", Resource: remediate.AccountResource,
				Before: map[string]string{remediate.FieldSettingValue: "$None", remediate.FieldDHMCRole: ""},
				After:  map[string]string{remediate.FieldSettingValue: role, remediate.FieldDHMCRole: "AWSSystemsManagerDefaultEC2InstanceManagementRole"}}}},
		remediate.Batch{Account: acct, Region: region, Remediation: policy.AttachProfile, Document: checks.DocAttachInstanceProfile,
			Params: map[string][]string{"InstanceProfileName": {"ssm-profile"}},
			Changes: []remediate.Change{{ID: runID + "|attach", Resource: bare,
				Before: map[string]string{remediate.FieldInstanceProfileName: ""}, After: map[string]string{remediate.FieldInstanceProfileName: "ssm-profile"}}}})
	o := fastOptions()
	o.AutomationAssumeRole = "arn:aws:iam::" + acct + ":role/FleetDoctorAutomation"
	start := time.Now()
	o.Logf = func(f string, a ...any) { t.Logf("%v "+f, append([]any{time.Since(start)}, a...)...) }
	ex := remediate.NewExecutor(fastProvider(sb), j, o)
	res, err := ex.Apply(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Count(remediate.OutcomeApplied), plan.Changes(); got != want {
		t.Fatalf("applied %d of %d: %+v", got, want, res.Changes)
	}
	applied := metadata(t, sb, acct)
	for _, id := range all {
		if mo := applied[id]; mo.HttpEndpoint != "enabled" || mo.HttpTokens != "required" || aws.ToInt32(mo.HttpPutResponseHopLimit) != 3 {
			t.Fatalf("%s after apply: %+v", id, mo)
		}
	}

	rb, err := ex.Rollback(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if got := rb.Count(remediate.OutcomeApplied); got != len(disabled)+len(optional)+len(all) {
		t.Errorf("rolled back %d: %+v", got, rb.Changes)
	}
	if rb.Count(remediate.OutcomeNotRollbackable) != 2 {
		t.Errorf("not rollbackable: %d, want 2 (DHMC that was off, the profile)", rb.Count(remediate.OutcomeNotRollbackable))
	}
	for _, c := range rb.Changes {
		if c.Outcome == remediate.OutcomeNotRollbackable && c.Error == "" {
			t.Errorf("%s: no reason", c.ChangeID)
		}
	}
	after := metadata(t, sb, acct)
	for id, mo := range before {
		a := after[id]
		if a.HttpEndpoint != mo.HttpEndpoint || a.HttpTokens != mo.HttpTokens || aws.ToInt32(a.HttpPutResponseHopLimit) != aws.ToInt32(mo.HttpPutResponseHopLimit) {
			t.Errorf("%s: before %s/%s/%d, after rollback %s/%s/%d", id, mo.HttpEndpoint, mo.HttpTokens, aws.ToInt32(mo.HttpPutResponseHopLimit),
				a.HttpEndpoint, a.HttpTokens, aws.ToInt32(a.HttpPutResponseHopLimit))
		}
	}
	outs := outcomesOnce(t, j, runID, remediate.KindRollbackOutcome)
	if len(outs) != plan.Changes() {
		t.Errorf("%d rollback outcomes, want %d", len(outs), plan.Changes())
	}

	// Again: nothing to do, nothing journaled, nothing called.
	es1, _ := j.Entries(context.Background(), runID)
	sb.ResetStats()
	rb2, err := ex.Rollback(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	es2, _ := j.Entries(context.Background(), runID)
	if len(es2) != len(es1) || rb2.Executions != 0 || sandbox.Total(sb.Stats()).Calls != 0 {
		t.Errorf("second rollback: %d → %d entries, %d executions, %d API calls", len(es1), len(es2), rb2.Executions, sandbox.Total(sb.Stats()).Calls)
	}
}

// A rollback leaves alone a resource changed again since the run.
func TestRollbackLeavesLaterChangesAlone(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 3), AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	plan := metadataPlan("run-later", acct, ids(3, 0), policy.SetHopLimit, remediate.FieldHopLimit, "3")
	ex := remediate.NewExecutor(fastProvider(sb), j, fastOptions())
	if _, err := ex.Apply(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	p := fastProvider(sb)
	ctx := context.Background()
	_ = p.Account(ctx, acct)
	c, _ := p.Clients(ctx, acct, region)
	other := ids(3, 0)[1]
	if _, err := c.EC2.(*ec2.Client).ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(other), HttpPutResponseHopLimit: aws.Int32(5)}); err != nil {
		t.Fatal(err)
	}
	rb, err := ex.Rollback(ctx, "run-later")
	if err != nil {
		t.Fatal(err)
	}
	if rb.Count(remediate.OutcomeApplied) != 2 || rb.Count(remediate.OutcomeFailed) != 1 {
		t.Errorf("%+v", rb.Changes)
	}
	if mo := metadata(t, sb, acct)[other]; aws.ToInt32(mo.HttpPutResponseHopLimit) != 5 {
		t.Errorf("%s hop limit %d, want the later 5", other, aws.ToInt32(mo.HttpPutResponseHopLimit))
	}
}

// A storm of throttling and 5xx faults, on the executor's calls and on the
// runbooks' own EC2 calls, loses and duplicates nothing.
func TestFaultStormLosesAndDuplicatesNothing(t *testing.T) {
	const n = 40
	faults := []sandbox.Fault{
		{Service: "ssm", Op: "StartAutomationExecution", Rate: 0.3, Kind: sandbox.FaultThrottle},
		{Service: "ssm", Op: "StartAutomationExecution", Rate: 0.2, Kind: sandbox.FaultServerError},
		{Service: "ssm", Op: "GetAutomationExecution", Rate: 0.3, Kind: sandbox.FaultThrottle},
		{Service: "ssm", Op: "GetAutomationExecution", Rate: 0.2, Kind: sandbox.FaultServerError},
		{Service: "ec2", Op: "ModifyInstanceMetadataOptions", Rate: 0.3, Kind: sandbox.FaultThrottle},
		{Service: "ec2", Op: "ModifyInstanceMetadataOptions", Rate: 0.05, Kind: sandbox.FaultServerError},
		{Service: "ec2", Op: "DescribeInstances", Rate: 0.2, Kind: sandbox.FaultThrottle},
		{Service: "ec2", Op: "DescribeInstances", Rate: 0.03, Kind: sandbox.FaultServerError},
	}
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, n), AutomationClock: instantClock{}, Faults: faults, Seed: 7})
	j := fileJournal(t, t.TempDir())
	plan := metadataPlan("run-storm", acct, ids(n, 0), policy.SetHopLimit, remediate.FieldHopLimit, "3")
	o := fastOptions()
	o.Retries = 30
	start := time.Now()
	res, err := remediate.NewExecutor(stormProvider(sb), j, o).Apply(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("applied in %v", time.Since(start))
	st := sb.Stats()
	t.Logf("faulted: start %d, get %d, modify %d, describe %d; executions %d",
		st[startAPI].Faulted, st["ssm:GetAutomationExecution"].Faulted, st[modifyAPI].Faulted, st["ec2:DescribeInstances"].Faulted, res.Executions)
	if st[modifyAPI].Faulted == 0 || st[startAPI].Faulted == 0 {
		t.Fatal("the storm did not hit")
	}
	if st[startAPI].OK() != res.Executions {
		t.Errorf("%d executions started in the sandbox, the executor asked for %d", st[startAPI].OK(), res.Executions)
	}
	if got := res.Count(remediate.OutcomeApplied); got != n {
		t.Errorf("applied %d of %d", got, n)
		for _, c := range res.Changes {
			if c.Outcome != remediate.OutcomeApplied {
				t.Logf("%s: %s %s", c.Resource, c.Outcome, c.Error)
			}
		}
	}
	if len(outcomesOnce(t, j, plan.RunID, remediate.KindOutcome)) != n {
		t.Error("outcomes lost")
	}
	if got := st[modifyAPI].OK(); got != n {
		t.Errorf("ModifyInstanceMetadataOptions succeeded %d times, want %d", got, n)
	}
	for id, mo := range metadata(t, sb, acct) {
		if aws.ToInt32(mo.HttpPutResponseHopLimit) != 3 {
			t.Errorf("%s hop limit %d", id, aws.ToInt32(mo.HttpPutResponseHopLimit))
		}
	}
}

// With the published buckets and the provider's own pacing: more changes
// than ModifyInstanceMetadataOptions' burst in one account-region, and two
// account-regions at once.
func TestApplyWithPublishedLimits(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: paced at 1 StartAutomationExecution per second (never skipped under CI=true)")
	}
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct, acct2}, 30), Limits: sandbox.DefaultLimits(), AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	plan := metadataPlan("run-limits", acct, ids(30, 0), policy.SetHopLimit, remediate.FieldHopLimit, "3")
	plan.Batches = append(plan.Batches, metadataPlan("run-limits", acct2, ids(30, 1), policy.SetHopLimit, remediate.FieldHopLimit, "3").Batches...)
	o := fastOptions()
	o.Canary, o.Growth, o.Max = 10, 2, 100
	res, err := remediate.NewExecutor(sb.Provider(region), j, o).Apply(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(remediate.OutcomeApplied) != 60 || res.Executions != 4 {
		t.Errorf("applied %d of 60 with %d executions (want 4)", res.Count(remediate.OutcomeApplied), res.Executions)
	}
}

// An account whose role cannot be assumed fails the run before anything
// changes.
func TestUnreachableAccountChangesNothing(t *testing.T) {
	w := world([]string{acct, acct2}, 5)
	w.Assumable[acct2] = nil
	sb := startSandbox(t, sandbox.Options{World: w, AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	plan := metadataPlan("run-unreach", acct, ids(5, 0), policy.SetHopLimit, remediate.FieldHopLimit, "3")
	plan.Batches = append(plan.Batches, metadataPlan("run-unreach", acct2, ids(5, 1), policy.SetHopLimit, remediate.FieldHopLimit, "3").Batches...)
	_, err := remediate.NewExecutor(fastProvider(sb), j, fastOptions()).Apply(context.Background(), plan)
	if err == nil {
		t.Fatal("no error")
	}
	if es, _ := j.Entries(context.Background(), plan.RunID); len(es) != 0 || sb.Stats()[startAPI].Calls != 0 {
		t.Errorf("%v; %d journal entries, %d starts", err, len(es), sb.Stats()[startAPI].Calls)
	}
}

// Account-level changes: DHMC and the metadata defaults, verified through
// GetServiceSetting and GetInstanceMetadataDefaults.
func TestApplyAccountLevelChanges(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 2), AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	role := "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
	plan := &remediate.Plan{RunID: "run-account", Batches: []remediate.Batch{
		{Account: acct, Region: region, Remediation: policy.AccountDefaults, Document: checks.DocSetAccountMetadataDefaults,
			Params: map[string][]string{"HttpTokens": {"required"}, "HttpPutResponseHopLimit": {"2"}},
			Changes: []remediate.Change{{ID: "run-account|defaults", Resource: "account",
				After: map[string]string{remediate.FieldHttpTokens: "required", remediate.FieldHopLimit: "2"}}}},
		{Account: acct, Region: region, Remediation: policy.EnableDHMC, Document: checks.DocEnableDHMC,
			Params: map[string][]string{"RoleName": {role}},
			Changes: []remediate.Change{{ID: "run-account|dhmc", Resource: remediate.AccountResource,
				After: map[string]string{remediate.FieldSettingValue: role, remediate.FieldDHMCRole: "AWSSystemsManagerDefaultEC2InstanceManagementRole"}}}},
	}}
	ex := remediate.NewExecutor(fastProvider(sb), j, fastOptions())
	res, err := ex.Apply(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(remediate.OutcomeApplied) != 2 {
		t.Fatalf("%+v", res.Changes)
	}
	p := fastProvider(sb)
	_ = p.Account(context.Background(), acct)
	c, _ := p.Clients(context.Background(), acct, region)
	s, err := c.SSM.GetServiceSetting(context.Background(), &ssm.GetServiceSettingInput{SettingId: aws.String(inventory.DHMCSettingID)})
	if err != nil || aws.ToString(s.ServiceSetting.SettingValue) != role {
		t.Errorf("DHMC %v %v", s, err)
	}
	rb, err := ex.Rollback(context.Background(), plan.RunID)
	if err != nil {
		t.Fatal(err)
	}
	// Neither had a value before that a runbook can set back.
	if rb.Count(remediate.OutcomeNotRollbackable) != 2 {
		t.Errorf("%+v", rb.Changes)
	}
}

// Host repairs go through SendCommand and are verified by PingStatus.
func TestApplyHostRepair(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, 10), AutomationClock: instantClock{}})
	j := fileJournal(t, t.TempDir())
	// Sample instances i%10 in {0,1,2,6,7,8,9} are registered and Online.
	var online []string
	for i, id := range ids(10, 0) {
		if i%10 != 3 && i%10 != 4 && i%10 != 5 {
			online = append(online, id)
		}
	}
	b := remediate.Batch{Account: acct, Region: region, Remediation: policy.HostRemoveFirewall, Document: hostdiag.RepairDocumentName,
		Params: map[string][]string{"Actions": {"remove_imds_firewall_rules"}, "DryRun": {"false"}}}
	for _, id := range online {
		b.Changes = append(b.Changes, remediate.Change{ID: "run-host|" + id, Resource: id, After: map[string]string{"firewall": "no rule blocks 169.254.169.254"}})
	}
	ex := remediate.NewExecutor(fastProvider(sb), j, fastOptions())
	res, err := ex.Apply(context.Background(), &remediate.Plan{RunID: "run-host", Batches: []remediate.Batch{b}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count(remediate.OutcomeApplied) != len(online) || res.Commands == 0 || sb.Stats()["ssm:SendCommand"].OK() != res.Commands {
		for _, c := range res.Changes {
			t.Logf("%s %s %s", c.Resource, c.Outcome, c.Error)
		}
		t.Errorf("applied %d of %d with %d commands", res.Count(remediate.OutcomeApplied), len(online), res.Commands)
	}
	rb, err := ex.Rollback(context.Background(), "run-host")
	if err != nil {
		t.Fatal(err)
	}
	if rb.Count(remediate.OutcomeNotRollbackable) != len(online) {
		t.Errorf("%+v", rb.Changes)
	}
}

func TestWaveSizes(t *testing.T) {
	for _, tc := range []struct {
		o    remediate.ExecOptions
		n    int
		want []int
	}{
		{remediate.ExecOptions{}, 100, []int{10, 40, 50}},
		{remediate.ExecOptions{Canary: 100, Growth: 4, Max: 2500}, 10000, []int{100, 400, 1600, 2500, 2500, 2500, 400}},
		{remediate.ExecOptions{Canary: 1, Growth: 2, Max: 3}, 8, []int{1, 2, 3, 2}},
		{remediate.ExecOptions{}, 0, nil},
	} {
		if got := tc.o.WaveSizes(tc.n); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%+v over %d: %v, want %v", tc.o, tc.n, got, tc.want)
		}
	}
}

func TestPolicyOptions(t *testing.T) {
	p := &policy.Policy{Waves: policy.Waves{Canary: 5, Growth: 3, Max: 50}, MaxErrors: "10%"}
	o := remediate.PolicyOptions(p, 95)
	if o.Canary != 5 || o.Growth != 3 || o.Max != 50 || o.MaxErrors != 10 {
		t.Errorf("%+v", o)
	}
}

// A rollback interrupted after k journal entries resumes like a run:
// every before-value restored, each restore once.
func TestRollbackCrashAndResume(t *testing.T) {
	const n = 12
	for _, k := range []int{1, 7, 13, 20} {
		t.Run(fmt.Sprintf("fail-after-%d", k), func(t *testing.T) {
			t.Parallel()
			sb := startSandbox(t, sandbox.Options{World: world([]string{acct}, n), AutomationClock: instantClock{}})
			dir := t.TempDir()
			plan := metadataPlan("run-rbcrash", acct, ids(n, 0), policy.SetHopLimit, remediate.FieldHopLimit, "3")
			before := metadata(t, sb, acct)
			if _, err := remediate.NewExecutor(fastProvider(sb), fileJournal(t, dir), fastOptions()).Apply(context.Background(), plan); err != nil {
				t.Fatal(err)
			}
			cj := &crashJournal{BatchJournal: fileJournal(t, dir), limit: k}
			if _, err := remediate.NewExecutor(fastProvider(sb), cj, fastOptions()).Rollback(context.Background(), plan.RunID); err == nil {
				t.Fatal("the interrupted rollback reported no error")
			}
			j := fileJournal(t, dir)
			rb, err := remediate.NewExecutor(fastProvider(sb), j, fastOptions()).Rollback(context.Background(), plan.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if rb.Count(remediate.OutcomeApplied) != n || len(outcomesOnce(t, j, plan.RunID, remediate.KindRollbackOutcome)) != n {
				t.Errorf("%+v", rb.Changes)
			}
			if got := sb.Stats()[modifyAPI].OK(); got != 2*n {
				t.Errorf("ModifyInstanceMetadataOptions OK %d, want %d", got, 2*n)
			}
			for id, mo := range metadata(t, sb, acct) {
				if aws.ToInt32(mo.HttpPutResponseHopLimit) != aws.ToInt32(before[id].HttpPutResponseHopLimit) {
					t.Errorf("%s hop limit %d, before %d", id, aws.ToInt32(mo.HttpPutResponseHopLimit), aws.ToInt32(before[id].HttpPutResponseHopLimit))
				}
			}
		})
	}
}
