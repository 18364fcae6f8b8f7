// Package audit runs one audit end to end: resolve the scope, collect the
// inventory, evaluate the checks, and wrap the findings in the run document
// (DESIGN §3) that every renderer and later run reads.
package audit

import (
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Run is the run document.
type Run struct {
	Run      Info             `json:"run"`
	Summary  Summary          `json:"summary"`
	Findings []checks.Finding `json:"findings"`
	// Errors are the collection failures behind the audit_incomplete
	// findings, with their raw detail.
	Errors []RunError `json:"errors"`
	// Changes compares the run with a previous one (`audit --previous`);
	// nil when there was nothing to compare with.
	Changes *Changes `json:"changes,omitempty"`
	// Snapshot is what the audit collected, for callers that act on the
	// findings (the remediation planner); it is not part of the document.
	Snapshot *inventory.Snapshot `json:"-"`
}

// Info describes the run itself.
type Info struct {
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Scope      Scope     `json:"scope"`
	// Sandbox names the embedded sandbox scenario when the run was not
	// against AWS.
	Sandbox string `json:"sandbox,omitempty"`
}

// Scope is what was audited.
type Scope struct {
	Accounts []string `json:"accounts"`
	Regions  []string `json:"regions"`
	RoleName string   `json:"roleName,omitempty"`
	Checks   []string `json:"checks,omitempty"`
	// MetricWindow is the CloudWatch window in Go duration syntax.
	MetricWindow string `json:"metricWindow"`
}

// Summary is the run at a glance.
type Summary struct {
	Accounts int `json:"accounts"`
	// UnreachableAccounts could not be entered at all (the audit role
	// could not be assumed); when it equals Accounts nothing was audited.
	UnreachableAccounts int `json:"unreachableAccounts"`
	AccountRegions      int `json:"accountRegions"`
	Instances           int `json:"instances"`
	// FailingInstances have at least one FAIL finding.
	FailingInstances int `json:"failingInstances"`
	// Health is the percentage of instances without a FAIL finding (100
	// for an empty fleet).
	Health float64 `json:"health"`
	// ByStatus counts findings per status (PASS is not listed as findings,
	// so it counts evaluated-and-passed resources from the check stats).
	ByStatus map[checks.Status]int `json:"byStatus"`
	// BySeverity counts FAIL and ERROR findings per severity.
	BySeverity map[checks.Severity]int `json:"bySeverity"`
	// FailingInstancesBySeverity counts instances by their worst FAIL.
	FailingInstancesBySeverity map[checks.Severity]int `json:"failingInstancesBySeverity"`
	// Checks has the per-check counts in catalogue order.
	Checks []checks.Stat `json:"checks"`
}

// RunError is one collection failure.
type RunError struct {
	Account string `json:"account"`
	Region  string `json:"region,omitempty"`
	inventory.CollectError
}

// Changes is what changed between a previous run and this one, over FAIL
// and ERROR findings keyed by (check, account, region, resource). The
// lists are in catalogue order, then account, region and resource.
type Changes struct {
	// PreviousRunID is the id of the run compared with ("" when there was
	// none and every finding is new).
	PreviousRunID string `json:"previousRunId"`
	// PreviousStartedAt is when the previous run started.
	PreviousStartedAt time.Time     `json:"previousStartedAt,omitzero"`
	Summary           ChangeSummary `json:"summary"`
	// New findings were not in the previous run.
	New []checks.Finding `json:"new"`
	// Resolved findings were in the previous run and are gone from an
	// account-region and check that this run did evaluate.
	Resolved []checks.Finding `json:"resolved"`
	// Unknown findings were in the previous run but this run could not
	// tell whether they still hold: their account, region or check was
	// not audited this time, or could not be collected (audit_incomplete).
	Unknown []checks.Finding `json:"unknown"`
	// Unchanged findings are in both runs; they are this run's findings,
	// so the document counts them in Summary instead of repeating them.
	Unchanged []checks.Finding `json:"-"`
}

// ChangeSummary counts Changes.
type ChangeSummary struct {
	New       int `json:"new"`
	Resolved  int `json:"resolved"`
	Unchanged int `json:"unchanged"`
	Unknown   int `json:"unknown"`
	// NewBySeverity and ResolvedBySeverity count New and Resolved per
	// severity.
	NewBySeverity      map[checks.Severity]int `json:"newBySeverity"`
	ResolvedBySeverity map[checks.Severity]int `json:"resolvedBySeverity"`
}
