package report

import "github.com/fleetdoctor/fleetdoctor/pkg/audit"

// Outcome counts what a remediation pass did, for notifications: the
// changes it planned, and of those how many it applied, how many failed,
// how many it rolled back after a failed verification and how many it
// skipped (gates, dry run, the change cap).
type Outcome struct {
	Planned    int `json:"planned"`
	Applied    int `json:"applied"`
	Failed     int `json:"failed"`
	RolledBack int `json:"rolledBack"`
	Skipped    int `json:"skipped"`
}

// NotifyInput is what a notification (Slack or SNS) reports: the run (with
// Run.Changes set when it was compared with a previous run), the
// remediation outcome when the run fixed anything, where the full report
// is, and the run's mode ("audit", "diagnose" or "remediate") and whether
// it was a dry run.
type NotifyInput struct {
	Run         *audit.Run
	Remediation *Outcome
	// ReportURL links the full report; only http and https URLs are
	// linked, anything else is left out.
	ReportURL string
	Mode      string
	DryRun    bool
}
