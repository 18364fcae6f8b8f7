package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// DiscoverPart is the document a discover Lambda writes for one
// account-region: the audit's run document and the inventory behind it
// (audit.Run leaves its Snapshot out of JSON), which diagnose and
// remediate act on later.
type DiscoverPart struct {
	Target   Target              `json:"target"`
	Run      *audit.Run          `json:"run"`
	Snapshot *inventory.Snapshot `json:"snapshot,omitempty"`
	// Partial says the audit stopped before the Lambda's deadline.
	Partial bool `json:"partial,omitempty"`
	// Failed says the discover Task failed after its retries; the run holds
	// the audit_incomplete finding naming the error.
	Failed bool `json:"failed,omitempty"`
}

// discoverKey is where the part of an account-region lives.
func discoverKey(runID, account, region string) string {
	return runPrefix(runID) + "discover/" + account + "-" + region + ".json"
}

// Discover is the discover Lambda: it audits one account-region (action "")
// or records that the Task failed (action "recordFailure"), and writes the
// part. An account whose role cannot be assumed is not a failure: the part
// holds the audit's ERROR finding for it.
func (s *Service) Discover(ctx context.Context, ev DiscoverEvent) (*PartResponse, error) {
	if ev.RunID == "" {
		ev.RunID = ev.Input.RunID
	}
	if err := checkRunID(ev.RunID); err != nil {
		return nil, err
	}
	if err := checkTarget(ev.Account, ev.Region); err != nil {
		return nil, err
	}
	log := s.logger("runId", ev.RunID, "action", "discover"+ev.Action, "account", ev.Account, "region", ev.Region)
	var part *DiscoverPart
	switch ev.Action {
	case "":
		part = s.discover(ctx, ev)
	case "recordFailure":
		why := capText(strings.TrimSpace(ev.Error+": "+ev.Cause), maxMessage)
		part = s.failedPart(ev.Target, ev.Input, "the discover Task failed after its retries ("+why+")", false)
		part.Failed = true
	default:
		return nil, unknownAction(LambdaDiscover, ev.Action)
	}
	key := discoverKey(ev.RunID, ev.Account, ev.Region)
	// The part must be written even when the work used up the deadline.
	if err := s.putJSON(context.WithoutCancel(ctx), key, part); err != nil {
		return nil, err
	}
	resp := &PartResponse{Bucket: s.Config.Bucket, Key: key, Findings: len(part.Run.Findings), Partial: part.Partial}
	resp.Instances = part.Run.Summary.Instances
	log.Info("part written", "key", key, "instances", resp.Instances, "findings", resp.Findings, "partial", resp.Partial)
	return resp, nil
}

func checkTarget(account, region string) error {
	if !accountRE.MatchString(account) {
		return invalidInput("account: %q is not a 12-digit account id", capText(account, 40))
	}
	if !regionRE.MatchString(region) {
		return invalidInput("region: %q is not a region name", capText(region, 40))
	}
	return nil
}

// discover audits the target, stopping before the deadline.
func (s *Service) discover(ctx context.Context, ev DiscoverEvent) *DiscoverPart {
	wctx, cancel := s.workContext(ctx)
	defer cancel()
	if wctx.Err() != nil {
		return s.failedPart(ev.Target, ev.Input, "the Lambda's remaining time was too short to start the audit", true)
	}
	run, err := audit.Audit(wctx, s.Provider, audit.Options{
		Accounts: []string{ev.Account},
		Regions:  []string{ev.Region},
		RoleName: s.Config.RoleName,
		Checks:   checksConfig(ev.Input.Checks),
		RunID:    ev.RunID,
		Clock:    s.Clock,
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || wctx.Err() != nil {
			return s.failedPart(ev.Target, ev.Input, "the audit stopped before the Lambda's deadline and did not finish", true)
		}
		return s.failedPart(ev.Target, ev.Input, "the audit failed: "+capText(err.Error(), maxMessage), false)
	}
	if len(ev.Input.Scope.InstanceIDs) > 0 || len(ev.Input.Scope.Tags) > 0 {
		if err := narrow(run, ev.Input); err != nil {
			return s.failedPart(ev.Target, ev.Input, "evaluating the narrowed scope failed: "+capText(err.Error(), maxMessage), false)
		}
	}
	// A collector that ran into the deadline records it as an ERROR; the
	// part is then what was finished.
	return &DiscoverPart{Target: ev.Target, Run: run, Snapshot: run.Snapshot, Partial: wctx.Err() != nil}
}

func checksConfig(ids []string) checks.Config {
	c := checks.DefaultConfig()
	c.Checks = ids
	return c
}

// narrow keeps the instances the input's instanceIds and tags select and
// evaluates the checks again over them.
func narrow(run *audit.Run, in Input) error {
	want := map[string]bool{}
	for _, id := range in.Scope.InstanceIDs {
		want[id] = true
	}
	for _, a := range run.Snapshot.Accounts {
		for _, r := range a.Regions {
			kept := r.Instances[:0]
			for _, inst := range r.Instances {
				if len(want) > 0 && !want[inst.ID] {
					continue
				}
				if !tagsMatch(inst.Tags, in.Scope.Tags) {
					continue
				}
				kept = append(kept, inst)
			}
			r.Instances = kept
		}
	}
	res, err := checks.Evaluate(run.Snapshot, checksConfig(in.Checks))
	if err != nil {
		return err
	}
	run.Findings = res.Findings
	if run.Findings == nil {
		run.Findings = []checks.Finding{}
	}
	run.Summary = audit.Summarize(run.Snapshot, res)
	return nil
}

func tagsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// failedPart is a part for a target that could not be (fully) audited: no
// instances, and one audit_incomplete ERROR finding naming why. Its region
// in the snapshot carries the error for every source, so the report's diff
// counts the target's earlier findings as unknown, not resolved.
func (s *Service) failedPart(t Target, in Input, why string, partial bool) *DiscoverPart {
	now := s.now()
	ce := &inventory.CollectError{What: "the account-region", API: "states:StartExecution", Kind: "error", Message: capText(why, maxMessage)}
	region := &inventory.Region{Account: t.Account, Name: t.Region, Instances: []inventory.Instance{}, Errors: map[inventory.Source]*inventory.CollectError{}}
	for _, src := range []inventory.Source{inventory.SourceInstances, inventory.SourceAccountDefaults, inventory.SourceManaged,
		inventory.SourceDHMC, inventory.SourceMetrics, inventory.SourceNetwork} {
		region.Errors[src] = ce
	}
	snap := &inventory.Snapshot{CollectedAt: now, Accounts: []*inventory.Account{{ID: t.Account, Regions: []*inventory.Region{region}}}}
	meta := checks.Lookup(checks.IncompleteID)
	f := checks.Finding{
		Check:        checks.IncompleteID,
		Status:       checks.Error,
		Severity:     meta.Severity,
		Account:      t.Account,
		Region:       t.Region,
		ResourceType: checks.TypeRegion,
		Resource:     t.Region,
		Detail:       fmt.Sprintf("Could not audit %s/%s: %s.", t.Account, t.Region, strings.TrimSuffix(capText(why, maxMessage), ".")),
		Evidence:     map[string]any{"kind": "error", "message": capText(why, maxMessage)},
		Remediation:  &meta.Remediation,
	}
	res := &checks.Result{Findings: []checks.Finding{f}}
	run := &audit.Run{
		Run: audit.Info{ID: t.RunID, StartedAt: now, FinishedAt: now, Scope: audit.Scope{
			Accounts: []string{t.Account}, Regions: []string{t.Region}, RoleName: s.Config.RoleName, Checks: in.Checks,
		}},
		Summary:  audit.Summarize(snap, res),
		Findings: res.Findings,
		Errors:   []audit.RunError{{Account: t.Account, Region: t.Region, CollectError: *ce}},
	}
	return &DiscoverPart{Target: t, Run: run, Snapshot: snap, Partial: partial}
}
