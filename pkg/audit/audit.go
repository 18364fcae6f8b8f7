package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// DefaultMetricWindow is how far back IMDSv1 use is looked for: two weeks
// covers weekly jobs, and CloudWatch SEARCH only finds metrics with data in
// the last two weeks anyway.
const DefaultMetricWindow = 14 * 24 * time.Hour

// Options says what to audit and how.
type Options struct {
	// Accounts to audit; empty means the caller's own account.
	Accounts []string
	// Regions to audit in every account; required.
	Regions []string
	// RoleName is recorded in the run's scope (the provider assumes it).
	RoleName string
	// Concurrency bounds how many account-regions are collected at once.
	Concurrency int
	// MetricWindow is how far back CloudWatch IMDS metrics are summed;
	// zero means DefaultMetricWindow.
	MetricWindow time.Duration
	// Checks is the check policy (and the optional subset of checks).
	Checks checks.Config
	// Progress, when set, is told as each account-region finishes.
	Progress inventory.Progress
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// RunID names the run; empty means one derived from the start time.
	RunID string
	// Sandbox names the embedded sandbox scenario the run audits ("" for
	// AWS); it is recorded in the run document.
	Sandbox string
}

// Audit runs one audit. It returns an error only when nothing can be
// audited (bad options, no usable credentials, a cancelled context);
// everything narrower becomes an ERROR finding in the run.
func Audit(ctx context.Context, p awsapi.Provider, opts Options) (*Run, error) {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	if len(opts.Regions) == 0 {
		return nil, errors.New("no regions to audit")
	}
	for _, r := range opts.Regions {
		if err := awsapi.ValidateRegion(r); err != nil {
			return nil, err
		}
	}
	for _, a := range opts.Accounts {
		if err := awsapi.ValidateAccountID(a); err != nil {
			return nil, err
		}
	}
	if _, err := checks.Select(opts.Checks.Checks); err != nil {
		return nil, err
	}
	window := opts.MetricWindow
	if window <= 0 {
		window = DefaultMetricWindow
	}
	caller, err := p.Caller(ctx)
	if err != nil {
		return nil, err
	}
	accounts := opts.Accounts
	if len(accounts) == 0 {
		accounts = []string{caller.Account}
	}

	started := clock().UTC()
	col := &inventory.Collector{
		Provider:     p,
		Concurrency:  opts.Concurrency,
		MetricWindow: window,
		Clock:        clock,
		Progress:     opts.Progress,
	}
	snap, err := col.Collect(ctx, accounts, opts.Regions)
	if err != nil {
		return nil, fmt.Errorf("collecting the inventory: %w", err)
	}
	res, err := checks.Evaluate(snap, opts.Checks)
	if err != nil {
		return nil, err
	}
	id := opts.RunID
	if id == "" {
		id = "fd-" + started.Format("20060102T150405.000Z")
	}
	run := &Run{
		Run: Info{
			ID:         id,
			StartedAt:  started,
			FinishedAt: clock().UTC(),
			Scope: Scope{
				Accounts:     accounts,
				Regions:      opts.Regions,
				RoleName:     opts.RoleName,
				Checks:       opts.Checks.Checks,
				MetricWindow: window.String(),
			},
			Sandbox: opts.Sandbox,
		},
		Summary:  Summarize(snap, res),
		Findings: res.Findings,
		Errors:   collectionErrors(snap),
		Snapshot: snap,
	}
	if run.Findings == nil {
		run.Findings = []checks.Finding{}
	}
	return run, nil
}

// Summarize counts a snapshot's evaluation for the run summary.
func Summarize(snap *inventory.Snapshot, res *checks.Result) Summary {
	s := Summary{
		Accounts:                   len(snap.Accounts),
		ByStatus:                   map[checks.Status]int{},
		BySeverity:                 map[checks.Severity]int{},
		FailingInstancesBySeverity: map[checks.Severity]int{},
		Checks:                     res.Stats,
	}
	for _, a := range snap.Accounts {
		if a.Err != nil {
			s.UnreachableAccounts++
		}
		for _, r := range a.Regions {
			s.AccountRegions++
			s.Instances += len(r.Instances)
		}
	}
	worst := map[string]checks.Severity{}
	for i := range res.Findings {
		f := &res.Findings[i]
		s.ByStatus[f.Status]++
		s.BySeverity[f.Severity]++
		if f.Status == checks.Fail && f.ResourceType == checks.TypeInstance {
			key := f.Account + "/" + f.Region + "/" + f.Resource
			if f.Severity.Rank() > worst[key].Rank() {
				worst[key] = f.Severity
			}
		}
	}
	for _, st := range res.Stats {
		s.ByStatus[checks.Pass] += st.Evaluated - st.Failed
	}
	s.FailingInstances = len(worst)
	for _, sev := range worst {
		s.FailingInstancesBySeverity[sev]++
	}
	s.Health = 100
	if s.Instances > 0 {
		s.Health = math.Round(1000*float64(s.Instances-s.FailingInstances)/float64(s.Instances)) / 10
	}
	return s
}

// collectionErrors lists every collection failure in the snapshot.
func collectionErrors(snap *inventory.Snapshot) []RunError {
	out := []RunError{}
	for _, a := range snap.Accounts {
		if a.Err != nil {
			out = append(out, RunError{Account: a.ID, CollectError: *a.Err})
		}
		if a.IAM.Err != nil {
			out = append(out, RunError{Account: a.ID, CollectError: *a.IAM.Err})
		}
		for _, arn := range slices.Sorted(maps.Keys(a.IAM.Profiles)) {
			if e := a.IAM.Profiles[arn].Err; e != nil {
				out = append(out, RunError{Account: a.ID, CollectError: *e})
			}
		}
		for _, name := range slices.Sorted(maps.Keys(a.IAM.Roles)) {
			if e := a.IAM.Roles[name].Err; e != nil {
				out = append(out, RunError{Account: a.ID, CollectError: *e})
			}
		}
		for _, r := range a.Regions {
			for _, src := range slices.Sorted(maps.Keys(r.Errors)) {
				out = append(out, RunError{Account: a.ID, Region: r.Name, CollectError: *r.Errors[src]})
			}
		}
	}
	return out
}
