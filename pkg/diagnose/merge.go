package diagnose

import (
	"math"
	"slices"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// Merge adds a diagnosis to the run it was made from, once: the host
// findings follow the API-side ones (host checks come after the API-side
// catalogue, in their own catalogue order, then by account, region and
// instance — the order the renderers group by), and the summary counts
// them: findings by status and severity, passes of the host checks, the
// per-check stats, the failing instances and the fleet's health.
func Merge(run *audit.Run, res *Result) {
	if run == nil || res == nil {
		return
	}
	host := slices.Clone(res.Findings)
	hostdiag.SortFindings(host)
	run.Findings = append(run.Findings, host...)

	s := &run.Summary
	if s.ByStatus == nil {
		s.ByStatus = map[checks.Status]int{}
	}
	if s.BySeverity == nil {
		s.BySeverity = map[checks.Severity]int{}
	}
	for i := range host {
		s.ByStatus[host[i].Status]++
		s.BySeverity[host[i].Severity]++
	}
	for _, st := range res.Stats {
		s.ByStatus[checks.Pass] += st.Evaluated - st.Failed
		s.Checks = append(s.Checks, st)
	}

	// Failing instances, by their worst FAIL across both sides.
	worst := map[string]checks.Severity{}
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Status == checks.Fail && f.ResourceType == checks.TypeInstance {
			key := f.Account + "/" + f.Region + "/" + f.Resource
			if f.Severity.Rank() > worst[key].Rank() {
				worst[key] = f.Severity
			}
		}
	}
	s.FailingInstances = len(worst)
	s.FailingInstancesBySeverity = map[checks.Severity]int{}
	for _, sev := range worst {
		s.FailingInstancesBySeverity[sev]++
	}
	s.Health = 100
	if s.Instances > 0 {
		s.Health = math.Round(1000*float64(s.Instances-s.FailingInstances)/float64(s.Instances)) / 10
	}
}
