package remediate

import (
	"github.com/fleetdoctor/fleetdoctor/internal/wait"

	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
)

// Fields of Change.Before / Change.After the executor reads and verifies.
const (
	FieldHttpTokens          = "HttpTokens"
	FieldHttpEndpoint        = "HttpEndpoint"
	FieldHopLimit            = "HttpPutResponseHopLimit"
	FieldInstanceProfileName = "InstanceProfileName"
	// FieldSettingValue is the DHMC setting's raw value ("$None" or the
	// role with its path); FieldDHMCRole the role's name without path.
	FieldSettingValue = "SettingValue"
	FieldDHMCRole     = "DHMCRole"
)

// Outcomes the executor reports beside the journal's (they are never
// journaled as a change's outcome).
const (
	// OutcomeNotStarted: the run stopped (MaxErrors) before the change's wave.
	OutcomeNotStarted = "not-started"
	// OutcomeNotRollbackable is journaled as a rollback outcome for a change
	// no runbook can undo (an attached profile, a host repair, a setting
	// that was unset before).
	OutcomeNotRollbackable = "not-rollbackable"
)

// Limits of the services (DESIGN §7).
const (
	// MaxInFlight is how many Automation executions the executor keeps
	// running per account-region (rate-control automations: 25).
	MaxInFlight = 25
	// describeBatch is how many instance ids one DescribeInstances filter
	// carries (EC2 accepts 200 values per filter).
	describeBatch = 200
)

// ExecOptions shape a run. The zero value is usable: waves of 10, ×4, at
// most 1000; no failure tolerated; 25 executions in flight.
type ExecOptions struct {
	// Canary is the size of the first wave (default 10); the next waves
	// are Growth times larger (default 4), never above Max (default 1000).
	// policy.Waves carries these.
	Canary, Growth, Max int
	// MaxErrors: once more changes than this have failed (or could not be
	// verified), no further wave starts. Negative means no limit.
	// policy.Policy.MaxErrorsFor computes it from the policy.
	MaxErrors int
	// AutomationAssumeRole is passed to every runbook when set.
	AutomationAssumeRole string
	// MaxInFlight bounds running executions (or commands) per
	// account-region (default and at most 25).
	MaxInFlight int
	// BucketInFlight bounds, per account-region, the running executions of
	// the instance runbooks whose every iteration draws from a 5/s EC2
	// bucket (SetMetadataOptions: ModifyInstanceMetadataOptions;
	// AttachInstanceProfile: AssociateIamInstanceProfile). Default 5: five
	// loops already keep the bucket busy, and more only queue on it — with
	// 25 (measured at 10,000 instances) Automation's throttling backoff
	// starves some calls past their step's 60 s timeout, which fails the
	// execution.
	BucketInFlight int
	// PollInterval is how often one execution or command is polled
	// (default 5 s); the provider paces GetAutomationExecution to 3/s.
	PollInterval time.Duration
	// ExecutionTimeout is how long an execution or command may run before
	// its unfinished changes count as failed (default 1 h).
	ExecutionTimeout time.Duration
	// VerifyTimeout bounds the verification of one execution's changes
	// (default 5 min), polling every VerifyInterval (default 5 s).
	VerifyTimeout, VerifyInterval time.Duration
	// Retries is how many more executions a change gets whose execution
	// failed for a transient reason (throttling, a 5xx, a timeout) or ended
	// before reaching it (default 2; negative: none). The runbooks change
	// nothing that already has the value, so a retry repeats no change.
	Retries int
	// RetryBackoff is the first wait before retrying a transient API error
	// of the executor's own calls (default 1 s, doubling to 16 s).
	RetryBackoff time.Duration
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

func (o ExecOptions) withDefaults() ExecOptions {
	if o.Canary <= 0 {
		o.Canary = 10
	}
	if o.Growth <= 1 {
		o.Growth = 4
	}
	if o.Max <= 0 {
		o.Max = 1000
	}
	o.Max = max(o.Max, o.Canary)
	if o.MaxInFlight <= 0 || o.MaxInFlight > MaxInFlight {
		o.MaxInFlight = MaxInFlight
	}
	if o.BucketInFlight <= 0 {
		o.BucketInFlight = 5
	}
	o.BucketInFlight = min(o.BucketInFlight, o.MaxInFlight)
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.ExecutionTimeout <= 0 {
		o.ExecutionTimeout = time.Hour
	}
	if o.VerifyTimeout <= 0 {
		o.VerifyTimeout = 5 * time.Minute
	}
	if o.VerifyInterval <= 0 {
		o.VerifyInterval = 5 * time.Second
	}
	switch {
	case o.Retries == 0:
		o.Retries = 2
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// PolicyOptions returns the options a policy sets for a plan of planned
// changes: its waves and MaxErrors (policy.Policy.MaxErrorsFor). The
// caller adds the rest (AutomationAssumeRole, intervals).
func PolicyOptions(p *policy.Policy, planned int) ExecOptions {
	return ExecOptions{Canary: p.Waves.Canary, Growth: p.Waves.Growth, Max: p.Waves.Max, MaxErrors: p.MaxErrorsFor(planned)}
}

// WaveSizes returns the sizes of the waves n changes run in: Canary, then
// Growth times the previous, capped at Max.
func (o ExecOptions) WaveSizes(n int) []int {
	o = o.withDefaults()
	var out []int
	size := o.Canary
	for n > 0 {
		s := min(size, n)
		out = append(out, s)
		n -= s
		size = min(size*o.Growth, o.Max)
	}
	return out
}

// Executor applies plans and rolls runs back. Provider reaches the
// accounts; Journal records every change before it is made.
type Executor struct {
	Provider awsapi.Provider
	Journal  Journal
	Options  ExecOptions
}

// NewExecutor returns an executor.
func NewExecutor(p awsapi.Provider, j Journal, o ExecOptions) *Executor {
	return &Executor{Provider: p, Journal: j, Options: o}
}

// Result is what a run did.
type Result struct {
	RunID    string `json:"runId"`
	Rollback bool   `json:"rollback,omitempty"`
	// Changes has one entry per change of the plan (per applied change of
	// the run, for a rollback), in plan order.
	Changes []ChangeResult `json:"changes"`
	Waves   []WaveResult   `json:"waves"`
	// Stopped says the run stopped starting waves because failures
	// exceeded MaxErrors; StopReason says which.
	Stopped    bool   `json:"stopped,omitempty"`
	StopReason string `json:"stopReason,omitempty"`
	// Executions counts StartAutomationExecution requests (one per
	// execution the run started or, on resume, found again by its token);
	// Commands counts SendCommand requests.
	Executions int `json:"executions"`
	Commands   int `json:"commands"`
}

// ChangeResult is one change's fate in a run.
type ChangeResult struct {
	ChangeID    string `json:"changeId"`
	Account     string `json:"account"`
	Region      string `json:"region"`
	Resource    string `json:"resource"`
	Remediation string `json:"remediation"`
	// Outcome is one of the Outcome constants.
	Outcome     string `json:"outcome"`
	ExecutionID string `json:"executionId,omitempty"`
	Error       string `json:"error,omitempty"`
	// Wave is the change's wave (0 = canary) in its account-region.
	Wave int `json:"wave"`
	// Resumed says an earlier, interrupted run journaled the outcome.
	Resumed bool `json:"resumed,omitempty"`
}

// WaveResult counts one wave's outcomes.
type WaveResult struct {
	Account  string         `json:"account"`
	Region   string         `json:"region"`
	Index    int            `json:"index"`
	Size     int            `json:"size"`
	Outcomes map[string]int `json:"outcomes"`
}

// Count returns how many changes ended with outcome.
func (r *Result) Count(outcome string) int {
	n := 0
	for _, c := range r.Changes {
		if c.Outcome == outcome {
			n++
		}
	}
	return n
}

// Failures counts the changes that failed or could not be verified.
func (r *Result) Failures() int { return r.Count(OutcomeFailed) + r.Count(OutcomeUnverified) }

// BatchJournal is a Journal that appends several entries durably at once
// (one write and one sync). The executor uses it for a batch's intents.
type BatchJournal interface {
	Journal
	AppendAll(ctx context.Context, es []Entry) error
}

func appendEntries(ctx context.Context, j Journal, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	if bj, ok := j.(BatchJournal); ok {
		return bj.AppendAll(ctx, es)
	}
	for _, e := range es {
		if err := j.Append(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func sortEntries(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int { return cmp.Compare(a.Seq, b.Seq) })
}

// jobKind is how a change is made.
type jobKind int

const (
	kindInstance jobKind = iota // Automation runbook over InstanceIds
	kindAccount                 // Automation runbook on the account-region
	kindHost                    // Command document through SendCommand
)

// job is one change on its way through a run.
type job struct {
	idx         int
	wave        int
	account     string
	region      string
	remediation string
	document    string
	params      map[string][]string
	kind        jobKind
	change      Change
	// intent and outcome are what the journal already holds for the change
	// (of the run's kinds).
	intent, outcome *Entry
	// refuse, when set, is why the change cannot be made (rollback).
	refuse string
	// epoch counts earlier failed attempts (rollback), so a new attempt
	// gets a new token.
	epoch int
}

// mode is apply or rollback.
type mode struct {
	intentKind, outcomeKind, tag string
	rollback                     bool
}

var (
	applyMode    = mode{intentKind: KindIntent, outcomeKind: KindOutcome, tag: "apply"}
	rollbackMode = mode{intentKind: KindRollbackIntent, outcomeKind: KindRollbackOutcome, tag: "rollback", rollback: true}
)

// run is one Apply or Rollback in progress.
type run struct {
	e     *Executor
	o     ExecOptions
	m     mode
	runID string

	// tokenIDs maps an intent's token to the resources its execution was
	// (or was going to be) started with, in journal order.
	tokenIDs map[string][]string

	failures atomic.Int64
	stopped  atomic.Bool

	mu     sync.Mutex
	res    *Result
	byID   map[string]int // change id → index in res.Changes
	fatal  error
	cancel context.CancelFunc
}

// Apply applies plan: per account-region (concurrently) in waves, every
// change's intent journaled before its execution starts and its outcome
// after verification. Applying a plan whose run already has journal
// entries resumes it: changes with an outcome are left alone; a change
// with an intent but no outcome is checked first — already at its
// after-value, it is verified and recorded without running anything;
// otherwise its execution is started again with the same ClientToken and
// instance ids, which SSM answers with the execution already started, if
// any. Apply returns an error when the journal cannot be written, an
// account cannot be reached (before anything changed) or ctx ends; the
// Result then holds what was done.
func (e *Executor) Apply(ctx context.Context, plan *Plan) (*Result, error) {
	if plan == nil || plan.RunID == "" {
		return nil, errors.New("remediate: the plan has no run id")
	}
	if err := checkRunID(plan.RunID); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var jobs []*job
	for bi, b := range plan.Batches {
		if b.Account == "" || b.Region == "" || b.Document == "" {
			return nil, fmt.Errorf("remediate: batch %d (%s) lacks its account, region or document", bi, b.Remediation)
		}
		kind := kindInstance
		if t, err := documents.Kind(b.Document); err == nil && t == documents.TypeCommand {
			kind = kindHost
		}
		for _, c := range b.Changes {
			if c.ID == "" || seen[c.ID] {
				return nil, fmt.Errorf("remediate: batch %d: change id %q is empty or repeated", bi, c.ID)
			}
			seen[c.ID] = true
			k := kind
			if c.Resource == AccountResource {
				k = kindAccount
			}
			jobs = append(jobs, &job{account: b.Account, region: b.Region, remediation: b.Remediation, document: b.Document,
				params: b.Params, kind: k, change: c})
		}
	}
	entries, err := e.Journal.Entries(ctx, plan.RunID)
	if err != nil {
		return nil, fmt.Errorf("remediate: reading the journal of %s: %w", plan.RunID, err)
	}
	return e.execute(ctx, plan.RunID, applyMode, jobs, entries)
}

// execute runs jobs: the shared engine of Apply and Rollback.
func (e *Executor) execute(ctx context.Context, runID string, m mode, jobs []*job, entries []Entry) (*Result, error) {
	o := e.Options.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{e: e, o: o, m: m, runID: runID, cancel: cancel, tokenIDs: map[string][]string{},
		res: &Result{RunID: runID, Rollback: m.rollback, Changes: []ChangeResult{}, Waves: []WaveResult{}}, byID: map[string]int{}}

	// What the journal already says, for this run's kinds.
	// The latest intent and outcome of each change count.
	intents, outcomes := map[string]*Entry{}, map[string]*Entry{}
	failedBefore := map[string]int{}
	sortEntries(entries)
	for i := range entries {
		en := &entries[i]
		switch en.Kind {
		case m.intentKind:
			intents[en.ChangeID] = en
			if en.Token != "" {
				r.tokenIDs[en.Token] = append(r.tokenIDs[en.Token], en.Resource)
			}
		case m.outcomeKind:
			outcomes[en.ChangeID] = en
			if en.Outcome == OutcomeFailed {
				failedBefore[en.ChangeID]++
			}
		}
	}

	// Per account-region, in plan order.
	type scope struct{ account, region string }
	var scopes []scope
	byScope := map[scope][]*job{}
	for i, j := range jobs {
		j.idx = i
		j.intent, j.outcome = intents[j.change.ID], outcomes[j.change.ID]
		if j.intent != nil && j.outcome != nil && j.outcome.Seq < j.intent.Seq {
			j.outcome = nil // a later attempt is under way
		}
		switch {
		case j.outcome == nil:
		case m.rollback && j.outcome.Outcome == OutcomeFailed:
			// A rollback tries failed restores again, as a new attempt.
			j.intent, j.outcome, j.epoch = nil, nil, failedBefore[j.change.ID]
		case j.outcome.Outcome == OutcomeFailed || j.outcome.Outcome == OutcomeUnverified:
			r.failures.Add(1)
		}
		s := scope{j.account, j.region}
		if _, ok := byScope[s]; !ok {
			scopes = append(scopes, s)
		}
		byScope[s] = append(byScope[s], j)
		r.byID[j.change.ID] = len(r.res.Changes)
		r.res.Changes = append(r.res.Changes, ChangeResult{ChangeID: j.change.ID, Account: j.account, Region: j.region,
			Resource: j.change.Resource, Remediation: j.remediation, Outcome: OutcomeNotStarted})
	}

	// Every account-region must be reachable before anything changes.
	clients := map[scope]*awsapi.Clients{}
	for _, s := range scopes {
		if err := e.Provider.Account(ctx, s.account); err != nil {
			return r.res, fmt.Errorf("remediate: account %s cannot be reached; nothing was changed: %w", s.account, err)
		}
		c, err := e.Provider.Clients(ctx, s.account, s.region)
		if err != nil {
			return r.res, fmt.Errorf("remediate: %s/%s: nothing was changed: %w", s.account, s.region, err)
		}
		if c.SSMActions == nil {
			return r.res, fmt.Errorf("remediate: %s/%s: the provider has no SSM actions client; nothing was changed", s.account, s.region)
		}
		clients[s] = c
	}
	if r.stopCheck() {
		o.Logf("%s: %d changes already failed, above MaxErrors %d: no wave starts", runID, r.failures.Load(), o.MaxErrors)
	}

	var wg sync.WaitGroup
	for _, s := range scopes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.scope(ctx, clients[s], s.account, s.region, byScope[s])
		}()
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatal != nil {
		return r.res, r.fatal
	}
	return r.res, ctx.Err()
}

// fail records a fatal error (the journal could not be written) and stops
// the run.
func (r *run) fail(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.mu.Unlock()
	r.cancel()
}

// stopCheck reports (and remembers) whether failures exceed MaxErrors.
func (r *run) stopCheck() bool {
	if r.o.MaxErrors >= 0 && r.failures.Load() > int64(r.o.MaxErrors) {
		if !r.stopped.Swap(true) {
			r.mu.Lock()
			r.res.Stopped = true
			r.res.StopReason = fmt.Sprintf("%d changes failed or were not verified, more than MaxErrors (%d): no further wave started", r.failures.Load(), r.o.MaxErrors)
			r.mu.Unlock()
		}
		return true
	}
	return false
}

// scope runs one account-region's changes wave by wave.
func (r *run) scope(ctx context.Context, cl *awsapi.Clients, account, region string, jobs []*job) {
	sizes := r.o.WaveSizes(len(jobs))
	if r.m.rollback {
		sizes = []int{len(jobs)} // a rollback restores at once
	}
	lo := 0
	for wi, size := range sizes {
		wave := jobs[lo : lo+size]
		lo += size
		for _, j := range wave {
			j.wave = wi
		}
		if ctx.Err() != nil || r.stopCheck() {
			for _, j := range wave {
				r.setWave(j)
				if j.outcome != nil {
					r.record(j, *j.outcome, true)
				}
			}
			continue
		}
		r.o.Logf("%s %s/%s: wave %d, %d changes", r.runID, account, region, wi, size)
		r.wave(ctx, cl, wave)
		wr := WaveResult{Account: account, Region: region, Index: wi, Size: size, Outcomes: map[string]int{}}
		r.mu.Lock()
		for _, j := range wave {
			wr.Outcomes[r.res.Changes[r.byID[j.change.ID]].Outcome]++
		}
		r.res.Waves = append(r.res.Waves, wr)
		r.mu.Unlock()
	}
}

func (r *run) setWave(j *job) {
	r.mu.Lock()
	r.res.Changes[r.byID[j.change.ID]].Wave = j.wave
	r.mu.Unlock()
}

// record puts a journaled outcome in the result.
func (r *run) record(j *job, out Entry, resumed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.res.Changes[r.byID[j.change.ID]]
	c.Outcome, c.ExecutionID, c.Error, c.Wave, c.Resumed = out.Outcome, out.ExecutionID, out.Error, j.wave, resumed
}

// entry builds a journal entry for j.
func (r *run) entry(j *job, kind string) Entry {
	return Entry{RunID: r.runID, Kind: kind, ChangeID: j.change.ID, Account: j.account, Region: j.region,
		Resource: j.change.Resource, Remediation: j.remediation, Before: j.change.Before, After: j.change.After}
}

// finish journals outcomes and records them; a journal error stops the run.
func (r *run) finish(ctx context.Context, outs []verdict) {
	if len(outs) == 0 {
		return
	}
	es := make([]Entry, len(outs))
	for i, v := range outs {
		es[i] = r.entry(v.j, r.m.outcomeKind)
		es[i].Outcome, es[i].ExecutionID, es[i].Error = v.outcome, v.execID, v.err
	}
	if err := appendEntries(context.WithoutCancel(ctx), r.e.Journal, es); err != nil {
		r.fail(fmt.Errorf("remediate: journaling outcomes: %w", err))
		return
	}
	for i, v := range outs {
		r.record(v.j, es[i], false)
		if v.outcome == OutcomeFailed || v.outcome == OutcomeUnverified {
			r.failures.Add(1)
		}
	}
}

// verdict is a change's outcome, before it is journaled.
type verdict struct {
	j       *job
	outcome string
	execID  string
	err     string
}

// chunk is one execution's (or command's) worth of changes.
type chunk struct {
	kind     jobKind
	document string
	params   map[string][]string
	// ids are the resources the execution is started with; jobs are the
	// changes it decides (on resume, ids may name more).
	ids   []string
	jobs  []*job
	token string
	// fresh chunks journal their intents before starting.
	fresh bool
}

// wave runs one wave: observe, skip what is done, journal intents, start
// executions (≤ MaxInFlight at once), verify, journal outcomes.
func (r *run) wave(ctx context.Context, cl *awsapi.Clients, wave []*job) {
	var todo []*job
	var early []verdict
	for _, j := range wave {
		r.setWave(j)
		switch {
		case j.outcome != nil:
			r.record(j, *j.outcome, true)
		case j.refuse != "":
			early = append(early, verdict{j: j, outcome: OutcomeNotRollbackable, err: j.refuse})
		default:
			todo = append(todo, j)
		}
	}
	obs, err := r.observe(ctx, cl, todo)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("remediate: reading the state before wave %d: %w", wave[0].wave, err))
		}
		return
	}
	var run, atAfter []*job
	for _, j := range todo {
		ob, known := obs[j]
		switch {
		case j.intent != nil && known && !ob.missing && matches(j.change.After, ob.fields):
			atAfter = append(atAfter, j) // resumed, made before the interruption
		case j.intent == nil && known && ob.missing:
			early = append(early, verdict{j: j, outcome: OutcomeFailed, err: "the instance no longer exists"})
		case j.intent == nil && known && matches(j.change.After, ob.fields):
			early = append(early, verdict{j: j, outcome: OutcomeSkipped, err: "already at the after-value"})
		case r.m.rollback && j.intent == nil && known && changedSince(j, ob):
			early = append(early, verdict{j: j, outcome: OutcomeFailed,
				err: fmt.Sprintf("changed since the run: reads %v; the run set %v; not restored", pick(ob.fields, j.change.After), j.change.Before)})
		default:
			if j.intent == nil && known && j.kind != kindHost {
				// Journal what is really there, which a rollback restores.
				before := maps.Clone(j.change.Before)
				if before == nil {
					before = map[string]string{}
				}
				for k := range j.change.After {
					before[k] = ob.fields[k]
				}
				j.change.Before = before
			}
			run = append(run, j)
		}
	}
	r.finish(ctx, early)

	chunks := r.chunks(run)
	sem := make(chan struct{}, r.o.MaxInFlight)
	bucketSem := make(chan struct{}, r.o.BucketInFlight)
	var wg sync.WaitGroup
	if len(atAfter) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.finish(ctx, r.verify(ctx, cl, atAfter, nil))
		}()
	}
	for _, ch := range chunks {
		bucket := ch.kind == kindInstance && bucketDocs[ch.document]
		if bucket {
			select {
			case bucketSem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				<-sem
				if bucket {
					<-bucketSem
				}
			}()
			r.runChunk(ctx, cl, ch)
		}()
	}
	wg.Wait()
}

// bucketDocs are the instance runbooks whose iterations draw from a 5/s
// EC2 bucket (see ExecOptions.BucketInFlight).
var bucketDocs = map[string]bool{checks.DocSetMetadataOptions: true, checks.DocAttachInstanceProfile: true}

// chunks groups the changes to make into executions: a resumed change
// goes with the others of its journaled token (same ids, same token); new
// changes are grouped by document and parameters, in plan order, at most
// MaxBatch (HostBatch) per execution, one per account-level change.
func (r *run) chunks(jobs []*job) []*chunk {
	var out []*chunk
	byToken := map[string]*chunk{}
	type key struct{ doc, params string }
	open := map[key]*chunk{}
	var order []*chunk
	for _, j := range jobs {
		if j.intent != nil && j.intent.Token != "" {
			ch, ok := byToken[j.intent.Token]
			if !ok {
				ch = &chunk{kind: j.kind, document: j.document, params: j.params, token: j.intent.Token,
					ids: r.tokenIDs[j.intent.Token]}
				if j.kind == kindHost {
					ch.ids = nil // SendCommand has no token: send only to what is left
				}
				byToken[j.intent.Token] = ch
				out = append(out, ch)
			}
			ch.jobs = append(ch.jobs, j)
			if j.kind == kindHost {
				ch.ids = append(ch.ids, j.change.Resource)
			}
			continue
		}
		limit := MaxBatch
		switch j.kind {
		case kindHost:
			limit = HostBatch
		case kindAccount:
			limit = 1
		}
		k := key{j.document, canonParams(j.params)}
		ch := open[k]
		if ch == nil || len(ch.jobs) >= limit {
			ch = &chunk{kind: j.kind, document: j.document, params: j.params, fresh: true}
			open[k] = ch
			order = append(order, ch)
		}
		ch.jobs = append(ch.jobs, j)
	}
	for _, ch := range order {
		for _, j := range ch.jobs {
			ch.ids = append(ch.ids, j.change.Resource)
		}
		ch.token = r.token(ch)
	}
	return append(out, order...)
}

// token derives a chunk's ClientToken (a UUID, as SSM requires) from the
// run, the mode, the document, the parameters and the change ids, so the
// same chunk always gets the same token.
func (r *run) token(ch *chunk) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", r.m.tag, r.runID, ch.document, canonParams(ch.params))
	for _, j := range ch.jobs {
		fmt.Fprintf(h, "%s#%d\x00", j.change.ID, j.epoch)
	}
	return uuidOf(h.Sum(nil))
}

func retryToken(token string, attempt int, ids []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00retry %d\x00%s", token, attempt, strings.Join(ids, ","))
	return uuidOf(h.Sum(nil))
}

// uuidOf formats a hash as a version-5-style UUID.
func uuidOf(sum []byte) string {
	b := slices.Clone(sum[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func canonParams(p map[string][]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprintf(&b, "%s=%s;", k, strings.Join(p[k], ","))
	}
	return b.String()
}

// runChunk journals a fresh chunk's intents, runs it (retrying changes
// that failed for a transient reason), verifies and journals outcomes.
func (r *run) runChunk(ctx context.Context, cl *awsapi.Clients, ch *chunk) {
	if ch.fresh {
		es := make([]Entry, len(ch.jobs))
		for i, j := range ch.jobs {
			es[i] = r.entry(j, r.m.intentKind)
			es[i].Token = ch.token
		}
		if err := appendEntries(ctx, r.e.Journal, es); err != nil {
			r.fail(fmt.Errorf("remediate: journaling intents: %w", err))
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	if ch.kind == kindHost {
		r.finish(ctx, r.runCommand(ctx, cl, ch))
		return
	}
	var outs, ok []verdict
	ids, token, remaining := ch.ids, ch.token, ch.jobs
	for attempt := 0; ; attempt++ {
		x, err := r.automation(ctx, cl, ch, ids, token)
		if ctx.Err() != nil {
			return
		}
		var retry []*job
		for _, j := range remaining {
			switch {
			case err != nil:
				outs = append(outs, verdict{j: j, outcome: OutcomeFailed, err: err.Error()})
			case x.status == ssmtypes.AutomationExecutionStatusSuccess && j.kind == kindAccount:
				ok = append(ok, verdict{j: j, execID: x.id})
			case j.kind == kindAccount && transientText(x.failure):
				retry = append(retry, j)
			case j.kind == kindAccount:
				outs = append(outs, verdict{j: j, outcome: OutcomeFailed, execID: x.id, err: x.failureText()})
			default:
				ir := x.perInstance[j.change.Resource]
				switch {
				case ir.failed && transientText(ir.msg):
					retry = append(retry, j)
				case ir.failed:
					outs = append(outs, verdict{j: j, outcome: OutcomeFailed, execID: x.id, err: ir.msg})
				case ir.seen && (ir.complete || x.status == ssmtypes.AutomationExecutionStatusSuccess):
					ok = append(ok, verdict{j: j, execID: x.id})
				case !x.terminal:
					outs = append(outs, verdict{j: j, outcome: OutcomeFailed, execID: x.id, err: x.failureText()})
				default: // the execution ended before reaching it
					retry = append(retry, j)
				}
			}
		}
		if len(retry) == 0 {
			break
		}
		if attempt >= r.o.Retries {
			for _, j := range retry {
				msg := x.perInstance[j.change.Resource].msg
				if msg == "" {
					msg = x.failureText()
				}
				outs = append(outs, verdict{j: j, outcome: OutcomeFailed, execID: x.id, err: msg})
			}
			break
		}
		ids = nil
		for _, j := range retry {
			ids = append(ids, j.change.Resource)
		}
		token, remaining = retryToken(ch.token, attempt+1, ids), retry
		r.o.Logf("%s: retrying %d changes of execution %s (%s)", r.runID, len(retry), x.id, x.failureText())
	}
	r.finish(ctx, outs)
	if len(ok) > 0 {
		jobs := make([]*job, len(ok))
		execIDs := map[*job]string{}
		for i, v := range ok {
			jobs[i] = v.j
			execIDs[v.j] = v.execID
		}
		r.finish(ctx, r.verify(ctx, cl, jobs, execIDs))
	}
}

// execution is what the executor learnt of one Automation execution.
type execution struct {
	id          string
	status      ssmtypes.AutomationExecutionStatus
	terminal    bool
	failure     string
	perInstance map[string]instResult
}

type instResult struct {
	seen, failed, complete bool
	msg                    string
}

func (x *execution) failureText() string {
	if x.failure != "" {
		return fmt.Sprintf("execution %s ended %s: %s", x.id, x.status, x.failure)
	}
	if !x.terminal {
		return fmt.Sprintf("execution %s had not ended (%s) when the executor stopped waiting", x.id, x.status)
	}
	return fmt.Sprintf("execution %s ended %s before reaching this resource", x.id, x.status)
}

// lastSteps are the last step of each loop iteration of the instance
// runbooks: an iteration whose last step succeeded is complete.
var lastSteps = map[string]bool{"VerifyInstance": true, "WaitForAssociated": true}

// automation starts (or finds again, by token) an execution and polls it
// until it ends.
func (r *run) automation(ctx context.Context, cl *awsapi.Clients, ch *chunk, ids []string, token string) (*execution, error) {
	params := maps.Clone(ch.params)
	if params == nil {
		params = map[string][]string{}
	}
	if ch.kind == kindInstance {
		params["InstanceIds"] = ids
	}
	if r.o.AutomationAssumeRole != "" {
		params["AutomationAssumeRole"] = []string{r.o.AutomationAssumeRole}
	}
	in := &ssm.StartAutomationExecutionInput{DocumentName: aws.String(ch.document), Parameters: params, ClientToken: aws.String(token)}
	var out *ssm.StartAutomationExecutionOutput
	err := r.retry(ctx, func() (err error) {
		out, err = cl.SSMActions.StartAutomationExecution(ctx, in)
		return err
	})
	r.mu.Lock()
	r.res.Executions++
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", ch.document, err)
	}
	x := &execution{id: aws.ToString(out.AutomationExecutionId), perInstance: map[string]instResult{}}
	deadline := time.Now().Add(r.o.ExecutionTimeout)
	for {
		var g *ssm.GetAutomationExecutionOutput
		err := r.retry(ctx, func() (err error) {
			g, err = cl.SSMActions.GetAutomationExecution(ctx, &ssm.GetAutomationExecutionInput{AutomationExecutionId: out.AutomationExecutionId})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("reading execution %s: %w", x.id, err)
		}
		ae := g.AutomationExecution
		x.status, x.failure = ae.AutomationExecutionStatus, aws.ToString(ae.FailureMessage)
		switch x.status {
		case ssmtypes.AutomationExecutionStatusSuccess, ssmtypes.AutomationExecutionStatusFailed,
			ssmtypes.AutomationExecutionStatusTimedout, ssmtypes.AutomationExecutionStatusCancelled,
			ssmtypes.AutomationExecutionStatusCompletedWithFailure, ssmtypes.AutomationExecutionStatusCompletedWithSuccess,
			ssmtypes.AutomationExecutionStatusRejected, ssmtypes.AutomationExecutionStatusExited:
			x.terminal = true
		}
		if x.terminal || time.Now().After(deadline) {
			for _, s := range ae.StepExecutions {
				p := s.ParentStepDetails
				if p == nil || p.IteratorValue == nil {
					continue
				}
				id := aws.ToString(p.IteratorValue)
				ir := x.perInstance[id]
				ir.seen = true
				switch s.StepStatus {
				case ssmtypes.AutomationExecutionStatusFailed, ssmtypes.AutomationExecutionStatusTimedout, ssmtypes.AutomationExecutionStatusCancelled:
					ir.failed = true
					ir.msg = fmt.Sprintf("execution %s step %s: %s %s", x.id, aws.ToString(s.StepName), s.StepStatus, aws.ToString(s.FailureMessage))
				case ssmtypes.AutomationExecutionStatusSuccess:
					if lastSteps[aws.ToString(s.StepName)] {
						ir.complete = true
					}
				}
				x.perInstance[id] = ir
			}
			return x, nil
		}
		if err := wait.Sleep(ctx, r.o.PollInterval); err != nil {
			return nil, err
		}
	}
}

// runCommand sends a Command document to a chunk's instances and reads
// every invocation's result (ListCommandInvocations, Details, 50 a page).
// SendCommand has no idempotency token; the repair document is idempotent,
// so a resumed run sends it again.
func (r *run) runCommand(ctx context.Context, cl *awsapi.Clients, ch *chunk) []verdict {
	var out *ssm.SendCommandOutput
	err := r.retry(ctx, func() (err error) {
		out, err = cl.SSMActions.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String(ch.document), InstanceIds: ch.ids,
			Parameters: ch.params, Comment: aws.String(truncate("fleetdoctor "+r.runID+" "+ch.token, 100))})
		return err
	})
	r.mu.Lock()
	r.res.Commands++
	r.mu.Unlock()
	var outs []verdict
	if err != nil {
		for _, j := range ch.jobs {
			outs = append(outs, verdict{j: j, outcome: OutcomeFailed, err: fmt.Sprintf("sending %s: %v", ch.document, err)})
		}
		return outs
	}
	cmdID := aws.ToString(out.Command.CommandId)
	status := map[string]ssmtypes.CommandInvocation{}
	deadline := time.Now().Add(r.o.ExecutionTimeout)
	for {
		clear(status)
		var token *string
		for {
			var page *ssm.ListCommandInvocationsOutput
			err := r.retry(ctx, func() (err error) {
				page, err = cl.SSMActions.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(cmdID),
					Details: true, MaxResults: aws.Int32(50), NextToken: token})
				return err
			})
			if err != nil {
				for _, j := range ch.jobs {
					outs = append(outs, verdict{j: j, outcome: OutcomeFailed, execID: cmdID, err: fmt.Sprintf("reading command %s: %v", cmdID, err)})
				}
				return outs
			}
			for _, inv := range page.CommandInvocations {
				status[aws.ToString(inv.InstanceId)] = inv
			}
			if token = page.NextToken; token == nil {
				break
			}
		}
		done := true
		for _, j := range ch.jobs {
			switch status[j.change.Resource].Status {
			case ssmtypes.CommandInvocationStatusPending, ssmtypes.CommandInvocationStatusInProgress,
				ssmtypes.CommandInvocationStatusDelayed, ssmtypes.CommandInvocationStatusCancelling, "":
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		if err := wait.Sleep(ctx, r.o.PollInterval); err != nil {
			return nil
		}
	}
	var ok []*job
	execIDs := map[*job]string{}
	for _, j := range ch.jobs {
		inv := status[j.change.Resource]
		if inv.Status == ssmtypes.CommandInvocationStatusSuccess {
			ok = append(ok, j)
			execIDs[j] = cmdID
			continue
		}
		msg := fmt.Sprintf("command %s on %s: %s", cmdID, j.change.Resource, cmp.Or(string(inv.Status), "no invocation"))
		if d := aws.ToString(inv.StatusDetails); d != "" {
			msg += " (" + d + ")"
		}
		for _, p := range inv.CommandPlugins {
			if o := strings.TrimSpace(aws.ToString(p.Output)); o != "" && p.ResponseCode != 0 {
				msg += ": " + truncate(o, 300)
				break
			}
		}
		outs = append(outs, verdict{j: j, outcome: OutcomeFailed, execID: cmdID, err: msg})
	}
	return append(outs, r.verify(ctx, cl, ok, execIDs)...)
}

// observation is a resource's current state.
type observation struct {
	missing   bool
	fields    map[string]string
	metaState string // MetadataOptions.State
	ping      string // SSM PingStatus
}

// observe reads the current state of jobs' resources: instances with
// DescribeInstances (instance-id filter, 200 ids a call), the account's
// metadata defaults, the DHMC setting, and — for host repairs — the
// agent's PingStatus.
func (r *run) observe(ctx context.Context, cl *awsapi.Clients, jobs []*job) (map[*job]observation, error) {
	out := map[*job]observation{}
	var instIDs, hostIDs []string
	needDefaults, needDHMC := false, false
	for _, j := range jobs {
		switch j.kind {
		case kindInstance:
			instIDs = append(instIDs, j.change.Resource)
		case kindHost:
			hostIDs = append(hostIDs, j.change.Resource)
		case kindAccount:
			if isDHMC(j.change.After) {
				needDHMC = true
			} else {
				needDefaults = true
			}
		}
	}
	insts := map[string]observation{}
	for ids := range slices.Chunk(dedupe(instIDs), describeBatch) {
		var token *string
		for {
			var page *ec2.DescribeInstancesOutput
			err := r.retry(ctx, func() (err error) {
				page, err = cl.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
					Filters:    []ec2types.Filter{{Name: aws.String("instance-id"), Values: ids}},
					MaxResults: aws.Int32(1000), NextToken: token})
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("ec2:DescribeInstances: %w", err)
			}
			for _, res := range page.Reservations {
				for _, in := range res.Instances {
					insts[aws.ToString(in.InstanceId)] = instanceObservation(in)
				}
			}
			if token = page.NextToken; token == nil {
				break
			}
		}
	}
	var defaults, dhmc map[string]string
	if needDefaults {
		var d *ec2.GetInstanceMetadataDefaultsOutput
		err := r.retry(ctx, func() (err error) {
			d, err = cl.EC2.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("ec2:GetInstanceMetadataDefaults: %w", err)
		}
		defaults = map[string]string{}
		if a := d.AccountLevel; a != nil {
			defaults[FieldHttpTokens] = string(a.HttpTokens)
			defaults[FieldHttpEndpoint] = string(a.HttpEndpoint)
			if a.HttpPutResponseHopLimit != nil {
				defaults[FieldHopLimit] = strconv.Itoa(int(*a.HttpPutResponseHopLimit))
			}
		}
	}
	if needDHMC {
		var s *ssm.GetServiceSettingOutput
		err := r.retry(ctx, func() (err error) {
			s, err = cl.SSM.GetServiceSetting(ctx, &ssm.GetServiceSettingInput{SettingId: aws.String(inventory.DHMCSettingID)})
			return err
		})
		if err != nil && awsapi.Classify(err) != awsapi.KindNotFound {
			return nil, fmt.Errorf("ssm:GetServiceSetting: %w", err)
		}
		v := "$None"
		if err == nil && s.ServiceSetting != nil && aws.ToString(s.ServiceSetting.SettingValue) != "" {
			v = aws.ToString(s.ServiceSetting.SettingValue)
		}
		dhmc = map[string]string{FieldSettingValue: v, FieldDHMCRole: ""}
		if v != "$None" {
			dhmc[FieldDHMCRole] = path.Base(v)
		}
	}
	pings := map[string]string{}
	if len(hostIDs) > 0 {
		want := map[string]bool{}
		for _, id := range hostIDs {
			want[id] = true
		}
		var token *string
		for len(want) > len(pings) {
			var page *ssm.DescribeInstanceInformationOutput
			in := &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50), NextToken: token}
			if len(want) <= 50 {
				in.Filters = []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: slices.Sorted(maps.Keys(want))}}
			}
			err := r.retry(ctx, func() (err error) {
				page, err = cl.SSM.DescribeInstanceInformation(ctx, in)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("ssm:DescribeInstanceInformation: %w", err)
			}
			for _, ii := range page.InstanceInformationList {
				if id := aws.ToString(ii.InstanceId); want[id] {
					pings[id] = string(ii.PingStatus)
				}
			}
			if token = page.NextToken; token == nil {
				break
			}
		}
	}
	for _, j := range jobs {
		switch j.kind {
		case kindInstance:
			ob, ok := insts[j.change.Resource]
			if !ok {
				ob = observation{missing: true}
			}
			out[j] = ob
		case kindAccount:
			if isDHMC(j.change.After) {
				out[j] = observation{fields: dhmc}
			} else {
				out[j] = observation{fields: defaults}
			}
		case kindHost:
			// A host's own state is not readable through the API, only its
			// agent's PingStatus, which verification uses.
			out[j] = observation{ping: pings[j.change.Resource]}
		}
	}
	return out, nil
}

func instanceObservation(in ec2types.Instance) observation {
	ob := observation{fields: map[string]string{FieldInstanceProfileName: ""}}
	if in.State != nil && (in.State.Name == ec2types.InstanceStateNameTerminated || in.State.Name == ec2types.InstanceStateNameShuttingDown) {
		ob.missing = true
	}
	if mo := in.MetadataOptions; mo != nil {
		ob.fields[FieldHttpTokens] = string(mo.HttpTokens)
		ob.fields[FieldHttpEndpoint] = string(mo.HttpEndpoint)
		if mo.HttpPutResponseHopLimit != nil {
			ob.fields[FieldHopLimit] = strconv.Itoa(int(*mo.HttpPutResponseHopLimit))
		}
		ob.metaState = string(mo.State)
	}
	if p := in.IamInstanceProfile; p != nil {
		a := aws.ToString(p.Arn)
		ob.fields[FieldInstanceProfileName] = a[strings.LastIndex(a, "/")+1:]
	}
	return ob
}

// matches reports whether every field of want has its value in got (an
// empty want never matches: nothing to verify against).
func matches(want, got map[string]string) bool {
	if len(want) == 0 || got == nil {
		return false
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || g != v {
			return false
		}
	}
	return true
}

// verify polls jobs' state until each reads its after-value (metadata
// options State=applied as well; PingStatus Online for host repairs) or
// VerifyTimeout passes.
func (r *run) verify(ctx context.Context, cl *awsapi.Clients, jobs []*job, execIDs map[*job]string) []verdict {
	var outs []verdict
	left := slices.Clone(jobs)
	deadline := time.Now().Add(r.o.VerifyTimeout)
	last := map[*job]string{}
	for len(left) > 0 {
		obs, err := r.observe(ctx, cl, left)
		if ctx.Err() != nil {
			return outs
		}
		var still []*job
		for _, j := range left {
			if err != nil {
				last[j] = err.Error()
				still = append(still, j)
				continue
			}
			ob := obs[j]
			okay, why := false, ""
			switch j.kind {
			case kindHost:
				okay, why = ob.ping == string(ssmtypes.PingStatusOnline), "agent PingStatus "+cmp.Or(ob.ping, "unknown")
			case kindInstance:
				switch {
				case ob.missing:
					why = "the instance no longer exists"
				case !matches(j.change.After, ob.fields):
					why = fmt.Sprintf("reads %v, want %v", pick(ob.fields, j.change.After), j.change.After)
				case hasMetadataField(j.change.After) && ob.metaState != string(ec2types.InstanceMetadataOptionsStateApplied):
					why = "metadata options State=" + ob.metaState
				default:
					okay = true
				}
			default:
				okay = matches(j.change.After, ob.fields)
				why = fmt.Sprintf("reads %v, want %v", pick(ob.fields, j.change.After), j.change.After)
			}
			if okay {
				outs = append(outs, verdict{j: j, outcome: OutcomeApplied, execID: execIDs[j]})
			} else {
				last[j] = why
				still = append(still, j)
			}
		}
		left = still
		if len(left) == 0 {
			break
		}
		if time.Now().Add(r.o.VerifyInterval).After(deadline) {
			for _, j := range left {
				outs = append(outs, verdict{j: j, outcome: OutcomeUnverified, execID: execIDs[j],
					err: fmt.Sprintf("not verified within %s: %s", r.o.VerifyTimeout, last[j])})
			}
			break
		}
		if wait.Sleep(ctx, r.o.VerifyInterval) != nil {
			return outs
		}
	}
	return outs
}

// changedSince says a rollback's resource reads, for some field, neither
// the run's after-value (the rollback's Before) nor the value to restore.
func changedSince(j *job, ob observation) bool {
	if ob.missing || ob.fields == nil {
		return false
	}
	for k, target := range j.change.After {
		if v := ob.fields[k]; v != target && v != j.change.Before[k] {
			return true
		}
	}
	return false
}

// isDHMC says a change is to the DHMC setting.
func isDHMC(after map[string]string) bool {
	_, a := after[FieldDHMCRole]
	_, b := after[FieldSettingValue]
	return a || b
}

func hasMetadataField(m map[string]string) bool {
	_, a := m[FieldHttpTokens]
	_, b := m[FieldHttpEndpoint]
	_, c := m[FieldHopLimit]
	return a || b || c
}

func pick(m, keysOf map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keysOf {
		out[k] = m[k]
	}
	return out
}

// retry runs f, retrying transient errors (throttling, 5xx, the SDK's
// exhausted retry quota, network errors) with backoff; the SDK has
// already retried each call.
func (r *run) retry(ctx context.Context, f func() error) error {
	backoff := r.o.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || ctx.Err() != nil || !transient(err) || attempt >= 8 {
			return err
		}
		if err := wait.Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 16*r.o.RetryBackoff)
	}
}

// transient reports whether an error of the executor's own calls is worth
// retrying.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if awsapi.Classify(err) == awsapi.KindThrottled {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorFault() == smithy.FaultServer {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return strings.Contains(err.Error(), "retry quota exceeded")
}

// transientText reports whether a runbook step's failure message reads as
// a transient failure.
func transientText(msg string) bool {
	l := strings.ToLower(msg)
	for _, s := range []string{"internal error", "internalerror", "internalfailure", "serviceunavailable", "service unavailable",
		"throttl", "requestlimitexceeded", "rate exceeded", "timed out", "timedout", "cancelled"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func dedupe(ids []string) []string {
	s := slices.Clone(ids)
	slices.Sort(s)
	return slices.Compact(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
