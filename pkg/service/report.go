package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
	fdsh "github.com/fleetdoctor/fleetdoctor/pkg/securityhub"
)

// HistoryRuns is how many runs history.json keeps for the trend chart.
const HistoryRuns = 30

// Report is the report Lambda: it merges the run's parts (discover,
// diagnose results, remediation outcomes) into one run document, compares
// it with latest.json, writes the report set under runs/<runId>/report/,
// history.json and latest.json, prints EMF metric lines, and then
// notifies (Security Hub, Slack, SNS). A failed notification is recorded
// in the response, not returned: only a failed S3 write fails the Lambda.
func (s *Service) Report(ctx context.Context, ev ReportEvent) (*ReportResponse, error) {
	if ev.RunID == "" {
		ev.RunID = ev.Input.RunID
	}
	if err := checkRunID(ev.RunID); err != nil {
		return nil, err
	}
	log := s.logger("runId", ev.RunID, "action", "report")
	run, _, err := s.runView(ctx, ev.RunID)
	if err != nil {
		return nil, err
	}
	if len(run.Run.Scope.Accounts) == 0 && len(run.Summary.Checks) == 0 && run.Summary.AccountRegions == 0 {
		return nil, fmt.Errorf("report: run %s has no discover parts under %sdiscover/", ev.RunID, runPrefix(ev.RunID))
	}
	outcome, err := s.outcome(ctx, ev.RunID)
	if err != nil {
		return nil, err
	}

	var prev *audit.Run
	var p audit.Run
	switch err := s.getJSON(ctx, KeyLatest, &p); {
	case err == nil:
		if p.Run.ID != ev.RunID {
			prev = &p
		}
	case errors.Is(err, errNotFound):
	default:
		return nil, err
	}
	if prev != nil {
		ch := report.Diff(prev, run)
		run.Changes = &ch
	}

	var history []report.TrendPoint
	if err := s.getJSON(ctx, KeyHistory, &history); err != nil && !errors.Is(err, errNotFound) {
		return nil, err
	}
	kept := history[:0]
	for _, tp := range history {
		if tp.RunID != ev.RunID {
			kept = append(kept, tp)
		}
	}
	history = append(kept, report.TrendPointOf(run))
	if len(history) > HistoryRuns {
		history = history[len(history)-HistoryRuns:]
	}

	set, err := report.ReportSet(run, report.HTMLOptions{Trend: history})
	if err != nil {
		return nil, err
	}
	prefix := runPrefix(ev.RunID) + "report/"
	var runJSON []byte
	for _, f := range set {
		if err := s.putBytes(ctx, prefix+f.Name, f.ContentType, f.Data); err != nil {
			return nil, err
		}
		if f.Name == report.SetRunJSON {
			runJSON = f.Data
		}
	}
	if err := s.putJSON(ctx, KeyHistory, history); err != nil {
		return nil, err
	}
	if err := s.putBytes(ctx, KeyLatest, "application/json", runJSON); err != nil {
		return nil, err
	}

	resp := &ReportResponse{
		RunID: ev.RunID, Bucket: s.Config.Bucket,
		RunKey: prefix + report.SetRunJSON, HTMLKey: prefix + report.SetReportHTML, CSVKey: prefix + report.SetFindingsCSV,
		Instances: run.Summary.Instances, FailingInstances: run.Summary.FailingInstances, Health: run.Summary.Health,
		BySeverity: map[string]int{}, Notified: []string{}, FinishedAt: s.now(),
	}
	for sev, n := range run.Summary.BySeverity {
		resp.BySeverity[string(sev)] = n
	}
	if run.Changes != nil {
		resp.New, resp.Resolved = run.Changes.Summary.New, run.Changes.Summary.Resolved
	} else {
		resp.New = countFailing(run)
	}

	// Metrics: CloudWatch Logs turns the EMF lines into metrics.
	if err := report.WriteEMF(s.stdout(), run, ""); err != nil {
		resp.NotifyErrors = append(resp.NotifyErrors, "emf: "+capText(err.Error(), maxMessage))
	}
	if s.Config.SecurityHub {
		if err := s.importSecurityHub(ctx, run, prev); err != nil {
			resp.NotifyErrors = append(resp.NotifyErrors, "securityhub: "+capText(err.Error(), maxMessage))
		} else {
			resp.Notified = append(resp.Notified, NotifiedSecurityHub)
		}
	}
	ni := report.NotifyInput{Run: run, Remediation: outcome, ReportURL: s.reportURL(resp.HTMLKey), Mode: ev.Input.Mode, DryRun: DryRunOf(ev.Input)}
	notified, nerrs := s.notify(ctx, ni)
	resp.Notified = append(resp.Notified, notified...)
	resp.NotifyErrors = append(resp.NotifyErrors, nerrs...)
	log.Info("report written", "instances", resp.Instances, "failingInstances", resp.FailingInstances, "health", resp.Health,
		"new", resp.New, "resolved", resp.Resolved, "notified", resp.Notified, "notifyErrors", resp.NotifyErrors)
	return resp, nil
}

// reportURL is where people open the HTML report, when the deployment
// says (EnvReportURL is the base the key is appended to).
func (s *Service) reportURL(key string) string {
	if s.Config.ReportURL == "" {
		return ""
	}
	base := s.Config.ReportURL
	if base[len(base)-1] != '/' {
		base += "/"
	}
	return base + key
}

func countFailing(run *audit.Run) int {
	n := 0
	for i := range run.Findings {
		if st := run.Findings[i].Status; st == checks.Fail || st == checks.Error {
			n++
		}
	}
	return n
}

// outcome counts the remediation of a run from its plan and batch
// outcomes; nil when the run planned no remediation.
func (s *Service) outcome(ctx context.Context, runID string) (*report.Outcome, error) {
	var plan remediate.Plan
	switch err := s.getJSON(ctx, planKey(runID), &plan); {
	case errors.Is(err, errNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	out := &report.Outcome{Planned: plan.Changes(), Skipped: len(plan.Skips)}
	keys, err := s.list(ctx, runPrefix(runID)+"remediate/results/")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		var p RemediatePart
		if err := s.getJSON(ctx, k, &p); err != nil {
			return nil, err
		}
		switch {
		case p.Result != nil:
			out.Applied += p.Result.Count(remediate.OutcomeApplied) + p.Result.Count(remediate.OutcomeSkipped)
			out.Failed += p.Result.Failures()
			out.Skipped += p.Result.Count(remediate.OutcomeNotStarted)
		case p.Failed:
			out.Failed += p.Planned
		case p.DryRun:
			out.Skipped += p.Planned
		}
	}
	return out, nil
}

// importSecurityHub imports the run's findings (and the previous run's
// resolved ones, archived) into Security Hub, region by region.
func (s *Service) importSecurityHub(ctx context.Context, run, prev *audit.Run) error {
	if s.SecurityHub == nil {
		return errors.New("no Security Hub client configured")
	}
	findings := report.ASFF(run, report.ASFFOptions{Previous: prev, Now: s.now()})
	regions, byRegion := fdsh.ByRegion(findings)
	var errs []error
	for _, r := range regions {
		res, err := fdsh.Import(ctx, s.SecurityHub(r), byRegion[r])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
			continue
		}
		if res.Failed > 0 {
			errs = append(errs, fmt.Errorf("%s: %d of %d findings rejected", r, res.Failed, res.Failed+res.Success))
		}
	}
	return errors.Join(errs...)
}
