package service

import (
	"cmp"
	"context"
	"slices"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// DiagnosePart is a diagnose batch's result document.
type DiagnosePart struct {
	Batch  Batch            `json:"batch"`
	Result *diagnose.Result `json:"result"`
	// Failed says the batch Task failed after its retries (Result then
	// holds a host_diagnosis_failed finding per instance of the batch).
	Failed bool `json:"failed,omitempty"`
	// Partial says the diagnosis stopped before the Lambda's deadline.
	Partial bool `json:"partial,omitempty"`
}

// loadParts reads every discover part of a run.
func (s *Service) loadParts(ctx context.Context, runID string) ([]*DiscoverPart, error) {
	keys, err := s.list(ctx, runPrefix(runID)+"discover/")
	if err != nil {
		return nil, err
	}
	parts := make([]*DiscoverPart, 0, len(keys))
	for _, k := range keys {
		var p DiscoverPart
		if err := s.getJSON(ctx, k, &p); err != nil {
			return nil, err
		}
		if p.Run == nil {
			continue
		}
		p.Run.Snapshot = p.Snapshot
		parts = append(parts, &p)
	}
	return parts, nil
}

// loadDiagnosis reads and combines every diagnose result of a run; nil
// when the run diagnosed nothing.
func (s *Service) loadDiagnosis(ctx context.Context, runID string) (*diagnose.Result, error) {
	keys, err := s.list(ctx, runPrefix(runID)+"diagnose/results/")
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	out := &diagnose.Result{Findings: []checks.Finding{}}
	stats := map[string]*checks.Stat{}
	var order []string
	for _, k := range keys {
		var p DiagnosePart
		if err := s.getJSON(ctx, k, &p); err != nil {
			return nil, err
		}
		r := p.Result
		if r == nil {
			continue
		}
		out.Findings = append(out.Findings, r.Findings...)
		out.Sent += r.Sent
		out.Answered += r.Answered
		out.Failed += r.Failed
		out.NotDiagnosable += r.NotDiagnosable
		out.FullOutputReads += r.FullOutputReads
		out.Commands = append(out.Commands, r.Commands...)
		for _, st := range r.Stats {
			acc, ok := stats[st.Check]
			if !ok {
				acc = &checks.Stat{Check: st.Check}
				stats[st.Check] = acc
				order = append(order, st.Check)
			}
			acc.Evaluated += st.Evaluated
			acc.Failed += st.Failed
			acc.Errored += st.Errored
		}
	}
	for _, id := range order {
		out.Stats = append(out.Stats, *stats[id])
	}
	return out, nil
}

// mergeParts makes one run of the discover parts: findings in catalogue
// order, the inventories joined, the summary counted again over both.
func mergeParts(runID string, parts []*DiscoverPart) *audit.Run {
	run := &audit.Run{Run: audit.Info{ID: runID}, Findings: []checks.Finding{}, Errors: []audit.RunError{}}
	snap := &inventory.Snapshot{}
	accounts := map[string]*inventory.Account{}
	stats := map[string]*checks.Stat{}
	accountSet, regionSet := map[string]bool{}, map[string]bool{}
	for _, p := range parts {
		r := p.Run
		if run.Run.StartedAt.IsZero() || r.Run.StartedAt.Before(run.Run.StartedAt) {
			run.Run.StartedAt = r.Run.StartedAt
		}
		if r.Run.FinishedAt.After(run.Run.FinishedAt) {
			run.Run.FinishedAt = r.Run.FinishedAt
		}
		if run.Run.Scope.RoleName == "" {
			run.Run.Scope.RoleName = r.Run.Scope.RoleName
		}
		if run.Run.Scope.MetricWindow == "" {
			run.Run.Scope.MetricWindow = r.Run.Scope.MetricWindow
		}
		if run.Run.Scope.Checks == nil {
			run.Run.Scope.Checks = r.Run.Scope.Checks
		}
		for _, a := range r.Run.Scope.Accounts {
			accountSet[a] = true
		}
		for _, rg := range r.Run.Scope.Regions {
			regionSet[rg] = true
		}
		run.Findings = append(run.Findings, r.Findings...)
		run.Errors = append(run.Errors, r.Errors...)
		for _, st := range r.Summary.Checks {
			acc, ok := stats[st.Check]
			if !ok {
				acc = &checks.Stat{Check: st.Check}
				stats[st.Check] = acc
			}
			acc.Evaluated += st.Evaluated
			acc.Failed += st.Failed
			acc.Errored += st.Errored
		}
		if p.Snapshot == nil {
			continue
		}
		if snap.CollectedAt.IsZero() || p.Snapshot.CollectedAt.Before(snap.CollectedAt) {
			snap.CollectedAt = p.Snapshot.CollectedAt
		}
		snap.MetricWindow = max(snap.MetricWindow, p.Snapshot.MetricWindow)
		for _, a := range p.Snapshot.Accounts {
			have, ok := accounts[a.ID]
			if !ok {
				cp := *a
				cp.Regions = slices.Clone(a.Regions)
				accounts[a.ID] = &cp
				snap.Accounts = append(snap.Accounts, &cp)
				continue
			}
			have.Regions = append(have.Regions, a.Regions...)
			if have.Err == nil {
				have.Err = a.Err
			}
			if have.IAM.Err == nil {
				have.IAM.Err = a.IAM.Err
			}
			for k, v := range a.IAM.Profiles {
				if have.IAM.Profiles == nil {
					have.IAM.Profiles = map[string]*inventory.InstanceProfile{}
				}
				have.IAM.Profiles[k] = v
			}
			for k, v := range a.IAM.Roles {
				if have.IAM.Roles == nil {
					have.IAM.Roles = map[string]*inventory.Role{}
				}
				have.IAM.Roles[k] = v
			}
		}
	}
	slices.SortFunc(snap.Accounts, func(a, b *inventory.Account) int { return cmp.Compare(a.ID, b.ID) })
	for _, a := range snap.Accounts {
		slices.SortFunc(a.Regions, func(x, y *inventory.Region) int { return cmp.Compare(x.Name, y.Name) })
	}
	run.Run.Scope.Accounts = sortedKeys(accountSet)
	run.Run.Scope.Regions = sortedKeys(regionSet)
	rank := map[string]int{}
	for i, c := range checks.Catalogue() {
		rank[c.ID] = i
	}
	slices.SortStableFunc(run.Findings, func(a, b checks.Finding) int {
		return cmp.Or(cmp.Compare(rank[a.Check], rank[b.Check]), cmp.Compare(a.Account, b.Account),
			cmp.Compare(a.Region, b.Region), cmp.Compare(a.Resource, b.Resource))
	})
	res := &checks.Result{Findings: run.Findings}
	for _, c := range checks.Catalogue() {
		if st, ok := stats[c.ID]; ok {
			res.Stats = append(res.Stats, *st)
		}
	}
	run.Summary = audit.Summarize(snap, res)
	run.Snapshot = snap
	return run
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// runView merges a run's discover parts and its diagnosis into one run,
// with its inventory, as the remediate plan and the report read it.
func (s *Service) runView(ctx context.Context, runID string) (*audit.Run, *diagnose.Result, error) {
	parts, err := s.loadParts(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	run := mergeParts(runID, parts)
	diag, err := s.loadDiagnosis(ctx, runID)
	if err != nil {
		return nil, nil, err
	}
	if diag != nil {
		diagnose.Merge(run, diag)
	}
	return run, diag, nil
}
