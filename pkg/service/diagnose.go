package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// DiagnoseBatchSize is the most instances one diagnose batch holds: one
// SendCommand call (DESIGN §7: 50 instance ids per call).
const DiagnoseBatchSize = diagnose.MaxInstancesPerCommand

// DiagnoseBatchDoc is a diagnose batch file: instances of one
// account-region.
type DiagnoseBatchDoc struct {
	Account     string   `json:"account"`
	Region      string   `json:"region"`
	InstanceIDs []string `json:"instanceIds"`
}

// Diagnose is the diagnose Lambda: "plan" returns a PlanResponse, "batch"
// and "recordFailure" a PartResponse (see DiagnoseEvent).
func (s *Service) Diagnose(ctx context.Context, ev DiagnoseEvent) (any, error) {
	if ev.RunID == "" {
		ev.RunID = ev.Input.RunID
	}
	if err := checkRunID(ev.RunID); err != nil {
		return nil, err
	}
	switch ev.Action {
	case "plan":
		return s.diagnosePlan(ctx, ev)
	case "batch", "recordFailure":
		if err := checkBatch(ev.Batch, ev.RunID, "diagnose"); err != nil {
			return nil, err
		}
		if ev.Action == "batch" {
			return s.diagnoseBatch(ctx, ev)
		}
		return s.diagnoseFailure(ctx, ev)
	}
	return nil, unknownAction(LambdaDiagnose, ev.Action)
}

func (s *Service) diagnosePlan(ctx context.Context, ev DiagnoseEvent) (*PlanResponse, error) {
	log := s.logger("runId", ev.RunID, "action", "diagnose-plan")
	parts, err := s.loadParts(ctx, ev.RunID)
	if err != nil {
		return nil, err
	}
	resp := &PlanResponse{Batches: []Batch{}}
	n := 0
	for _, p := range parts {
		if p.Snapshot == nil {
			continue
		}
		failing := map[string]bool{}
		for _, f := range p.Run.Findings {
			if f.Status == checks.Fail && f.ResourceType == checks.TypeInstance {
				failing[f.Account+"/"+f.Region+"/"+f.Resource] = true
			}
		}
		for _, a := range p.Snapshot.Accounts {
			for _, r := range a.Regions {
				var ids []string
				for i := range r.Instances {
					in := &r.Instances[i]
					if failing[a.ID+"/"+r.Name+"/"+in.ID] && diagnose.Diagnosable(in) {
						ids = append(ids, in.ID)
					}
				}
				for lo := 0; lo < len(ids); lo += DiagnoseBatchSize {
					chunk := ids[lo:min(lo+DiagnoseBatchSize, len(ids))]
					key := fmt.Sprintf("%sdiagnose/batches/%05d.json", runPrefix(ev.RunID), n)
					n++
					if err := s.putJSON(ctx, key, DiagnoseBatchDoc{Account: a.ID, Region: r.Name, InstanceIDs: chunk}); err != nil {
						return nil, err
					}
					resp.Batches = append(resp.Batches, Batch{Key: key, Account: a.ID, Region: r.Name, Size: len(chunk)})
					resp.Planned += len(chunk)
				}
			}
		}
	}
	log.Info("diagnosis planned", "batches", len(resp.Batches), "instances", resp.Planned)
	return resp, nil
}

func diagnoseResultKey(runID, batchKey string) string {
	return runPrefix(runID) + "diagnose/results/" + batchNumber(batchKey) + ".json"
}

func (s *Service) diagnoseBatch(ctx context.Context, ev DiagnoseEvent) (*PartResponse, error) {
	log := s.logger("runId", ev.RunID, "action", "diagnose-batch", "account", ev.Batch.Account, "region", ev.Batch.Region)
	var doc DiagnoseBatchDoc
	if err := s.getJSON(ctx, ev.Batch.Key, &doc); err != nil {
		return nil, err
	}
	if err := checkTarget(doc.Account, doc.Region); err != nil {
		return nil, err
	}
	var part DiscoverPart
	if err := s.getJSON(ctx, discoverKey(ev.RunID, doc.Account, doc.Region), &part); err != nil {
		return nil, err
	}
	if part.Run == nil || part.Snapshot == nil {
		return nil, fmt.Errorf("diagnose: the discover part of %s/%s has no inventory", doc.Account, doc.Region)
	}
	part.Run.Snapshot = part.Snapshot
	wctx, cancel := s.workContext(ctx)
	defer cancel()
	opts := s.DiagnoseOptions
	opts.InstanceIDs = doc.InstanceIDs
	opts.OnlyFailing = false
	if dl, ok := wctx.Deadline(); ok {
		// Stop waiting in time: invocations still running then get
		// host_diagnosis_failed instead of the Lambda timing out.
		left := time.Until(dl)
		if opts.Timeout <= 0 || opts.Timeout > left {
			opts.Timeout = max(left, time.Millisecond)
		}
	}
	res, err := diagnose.Run(wctx, s.Provider, part.Run, opts)
	out := DiagnosePart{Batch: *ev.Batch, Result: res}
	if err != nil {
		if wctx.Err() == nil {
			return nil, err
		}
		out = failedDiagnosis(*ev.Batch, doc, "the diagnosis stopped before the Lambda's deadline")
		out.Partial = true
	}
	key := diagnoseResultKey(ev.RunID, ev.Batch.Key)
	if err := s.putJSON(context.WithoutCancel(ctx), key, out); err != nil {
		return nil, err
	}
	log.Info("batch diagnosed", "key", key, "instances", len(doc.InstanceIDs), "findings", len(out.Result.Findings), "partial", out.Partial)
	return &PartResponse{Bucket: s.Config.Bucket, Key: key, Instances: len(doc.InstanceIDs), Findings: len(out.Result.Findings), Partial: out.Partial}, nil
}

func (s *Service) diagnoseFailure(ctx context.Context, ev DiagnoseEvent) (*PartResponse, error) {
	var doc DiagnoseBatchDoc
	if err := s.getJSON(ctx, ev.Batch.Key, &doc); err != nil {
		// The batch file itself may be what failed: name the batch only.
		doc = DiagnoseBatchDoc{Account: ev.Batch.Account, Region: ev.Batch.Region}
	}
	why := "the diagnose batch failed after its retries (" + capText(strings.TrimSpace(ev.Error+": "+ev.Cause), maxMessage) + ")"
	out := failedDiagnosis(*ev.Batch, doc, why)
	out.Failed = true
	key := diagnoseResultKey(ev.RunID, ev.Batch.Key)
	if err := s.putJSON(ctx, key, out); err != nil {
		return nil, err
	}
	s.logger("runId", ev.RunID, "action", "diagnose-recordFailure", "account", doc.Account, "region", doc.Region).
		Warn("batch recorded as failed", "key", key, "error", capText(ev.Error, 200))
	return &PartResponse{Bucket: s.Config.Bucket, Key: key, Instances: len(doc.InstanceIDs), Findings: len(out.Result.Findings)}, nil
}

// failedDiagnosis is a result giving every instance of the batch a
// host_diagnosis_failed finding that says why.
func failedDiagnosis(b Batch, doc DiagnoseBatchDoc, why string) DiagnosePart {
	res := &diagnose.Result{Findings: []checks.Finding{}, Failed: len(doc.InstanceIDs)}
	for _, id := range doc.InstanceIDs {
		res.Findings = append(res.Findings, checks.Finding{
			Check: hostdiag.CheckDiagnosisFailed, Status: checks.Error, Severity: checks.Medium,
			Account: doc.Account, Region: doc.Region, ResourceType: checks.TypeInstance, Resource: id,
			Detail: fmt.Sprintf("Could not diagnose %s on the host: %s.", id, strings.TrimSuffix(why, ".")),
		})
	}
	res.Stats = []checks.Stat{{Check: hostdiag.CheckDiagnosisFailed, Errored: len(doc.InstanceIDs)}}
	return DiagnosePart{Batch: b, Result: res}
}

// checkBatch holds a batch or recordFailure event to a batch file of its
// own run and stage ("diagnose" or "remediate"), so an event cannot make
// a Lambda read another run's or stage's objects.
func checkBatch(b *Batch, runID, stage string) error {
	dir := runPrefix(runID) + stage + "/batches/"
	if b == nil || !strings.HasPrefix(b.Key, dir) {
		return invalidInput("batch.key: want a key under %s", dir)
	}
	return nil
}
