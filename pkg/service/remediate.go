package service

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
)

// RemediatePart is a remediate batch's outcome document.
type RemediatePart struct {
	Batch Batch `json:"batch"`
	// Planned counts the batch's changes.
	Planned int `json:"planned"`
	// DryRun says the batch was not applied (Input.DryRun).
	DryRun bool `json:"dryRun,omitempty"`
	// Result is what the executor did (nil for a dry run or a failure).
	Result *remediate.Result `json:"result,omitempty"`
	// Failed says the batch Task failed after its retries, or the
	// executor stopped with Error.
	Failed bool   `json:"failed,omitempty"`
	Error  string `json:"error,omitempty"`
	// Partial says the batch stopped before the Lambda's deadline; the
	// journal lets the next run resume it.
	Partial bool `json:"partial,omitempty"`
}

// Remediate is the remediate Lambda: "plan" returns a PlanResponse,
// "batch" and "recordFailure" a PartResponse (see RemediateEvent).
func (s *Service) Remediate(ctx context.Context, ev RemediateEvent) (any, error) {
	if ev.RunID == "" {
		ev.RunID = ev.Input.RunID
	}
	if err := checkRunID(ev.RunID); err != nil {
		return nil, err
	}
	switch ev.Action {
	case "plan":
		return s.remediatePlan(ctx, ev)
	case "batch", "recordFailure":
		if err := checkBatch(ev.Batch, ev.RunID, "remediate"); err != nil {
			return nil, err
		}
		if ev.Action == "batch" {
			return s.remediateBatch(ctx, ev)
		}
		return s.remediateFailure(ctx, ev)
	}
	return nil, unknownAction(LambdaRemediate, ev.Action)
}

// runPolicy is the deployed policy narrowed by the input: only the listed
// remediations stay enabled, and MaxChanges lowers the caps.
func (s *Service) runPolicy(in Input) *policy.Policy {
	base := s.Config.Policy
	if base == nil {
		base = policy.Default()
	}
	p := *base
	p.Remediations = maps.Clone(base.Remediations)
	if len(in.Remediations) > 0 {
		for id, r := range p.Remediations {
			if !slices.Contains(in.Remediations, id) {
				r.Enabled = false
				p.Remediations[id] = r
			}
		}
	}
	if in.MaxChanges > 0 {
		p.Caps.PerRun = min(p.Caps.PerRun, in.MaxChanges)
		p.Caps.PerAccount = min(p.Caps.PerAccount, p.Caps.PerRun)
	}
	return &p
}

func planKey(runID string) string { return runPrefix(runID) + "remediate/plan.json" }

func (s *Service) remediatePlan(ctx context.Context, ev RemediateEvent) (*PlanResponse, error) {
	log := s.logger("runId", ev.RunID, "action", "remediate-plan")
	run, diag, err := s.runView(ctx, ev.RunID)
	if err != nil {
		return nil, err
	}
	in := remediate.Input{RunID: ev.RunID, Now: s.now(), Run: run, Policy: s.runPolicy(ev.Input)}
	if diag != nil {
		in.HostFindings = diag.Findings
	}
	plan, err := remediate.Build(in)
	if err != nil {
		return nil, fmt.Errorf("planning the remediation: %w", err)
	}
	key := planKey(ev.RunID)
	if err := s.putJSON(ctx, key, plan); err != nil {
		return nil, err
	}
	// One batch file per account-region: the executor's rate limits
	// (StartAutomationExecution 1 TPS, 25 in flight) are per
	// account-region, so batches of different account-regions run side by
	// side without sharing a limit.
	type where struct{ account, region string }
	var order []where
	groups := map[where][]remediate.Batch{}
	for _, b := range plan.Batches {
		w := where{b.Account, b.Region}
		if _, ok := groups[w]; !ok {
			order = append(order, w)
		}
		groups[w] = append(groups[w], b)
	}
	resp := &PlanResponse{Batches: []Batch{}, Planned: plan.Changes(), PlanKey: key}
	for i, w := range order {
		sub := &remediate.Plan{RunID: plan.RunID, CreatedAt: plan.CreatedAt, Batches: groups[w], Skips: []remediate.Skip{}}
		bkey := fmt.Sprintf("%sremediate/batches/%05d.json", runPrefix(ev.RunID), i)
		if err := s.putJSON(ctx, bkey, sub); err != nil {
			return nil, err
		}
		resp.Batches = append(resp.Batches, Batch{Key: bkey, Account: w.account, Region: w.region, Size: sub.Changes()})
	}
	log.Info("remediation planned", "changes", resp.Planned, "batches", len(resp.Batches), "skips", len(plan.Skips), "dryRun", DryRunOf(ev.Input))
	return resp, nil
}

func remediateResultKey(runID, batchKey string) string {
	return runPrefix(runID) + "remediate/results/" + batchNumber(batchKey) + ".json"
}

func (s *Service) remediateBatch(ctx context.Context, ev RemediateEvent) (*PartResponse, error) {
	log := s.logger("runId", ev.RunID, "action", "remediate-batch", "account", ev.Batch.Account, "region", ev.Batch.Region)
	var plan remediate.Plan
	if err := s.getJSON(ctx, ev.Batch.Key, &plan); err != nil {
		return nil, err
	}
	if plan.RunID != ev.RunID {
		return nil, invalidInput("batch.key: the batch belongs to run %q, not %q", capText(plan.RunID, 80), ev.RunID)
	}
	out := RemediatePart{Batch: *ev.Batch, Planned: plan.Changes(), DryRun: DryRunOf(ev.Input)}
	if !out.DryRun {
		pol := s.runPolicy(ev.Input)
		xo := s.ExecOptions
		po := remediate.PolicyOptions(pol, plan.Changes())
		xo.Canary, xo.Growth, xo.Max, xo.MaxErrors = po.Canary, po.Growth, po.Max, po.MaxErrors
		xo.AutomationAssumeRole = s.Config.AutomationRoleARN
		xo.Logf = func(format string, args ...any) { log.Info(capText(fmt.Sprintf(format, args...), maxMessage)) }
		journal := remediate.NewS3Journal(s.S3, s.Config.Bucket, runPrefix(ev.RunID))
		wctx, cancel := s.workContext(ctx)
		res, err := remediate.NewExecutor(s.Provider, journal, xo).Apply(wctx, &plan)
		partial := wctx.Err() != nil
		cancel()
		out.Result = res
		if err != nil {
			out.Failed = !partial
			out.Partial = partial
			out.Error = capText(err.Error(), maxMessage)
		}
	}
	key := remediateResultKey(ev.RunID, ev.Batch.Key)
	if err := s.putJSON(context.WithoutCancel(ctx), key, out); err != nil {
		return nil, err
	}
	failures := 0
	if out.Result != nil {
		failures = out.Result.Failures()
	}
	log.Info("batch done", "key", key, "planned", out.Planned, "dryRun", out.DryRun, "failures", failures, "partial", out.Partial, "error", out.Error)
	return &PartResponse{Bucket: s.Config.Bucket, Key: key, Instances: out.Planned, Findings: failures, Partial: out.Partial}, nil
}

func (s *Service) remediateFailure(ctx context.Context, ev RemediateEvent) (*PartResponse, error) {
	out := RemediatePart{Batch: *ev.Batch, Planned: ev.Batch.Size, DryRun: DryRunOf(ev.Input), Failed: true,
		Error: "the remediate batch failed after its retries (" + capText(strings.TrimSpace(ev.Error+": "+ev.Cause), maxMessage) + ")"}
	key := remediateResultKey(ev.RunID, ev.Batch.Key)
	if err := s.putJSON(ctx, key, out); err != nil {
		return nil, err
	}
	s.logger("runId", ev.RunID, "action", "remediate-recordFailure", "account", ev.Batch.Account, "region", ev.Batch.Region).
		Warn("batch recorded as failed", "key", key, "error", capText(ev.Error, 200))
	return &PartResponse{Bucket: s.Config.Bucket, Key: key, Instances: out.Planned, Findings: out.Planned}, nil
}
