package report

import (
	"encoding/csv"
	"io"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// CSVHeader is the first row of the CSV output; scripts depend on it.
var CSVHeader = []string{"check", "status", "severity", "account", "region", "resourceType", "resource", "detail", "remediation"}

// CSV writes one row per finding of run (FAIL, ERROR and MUTED; passes are
// counted in the summary, not listed) for spreadsheets. Cells are made
// inert twice over: a cell that would start a spreadsheet formula gets a
// leading ', and control characters are escaped (CSV usually lands on a
// terminal first). Details are capped at 1,000 characters, resources at
// 128 and other cells at 64; the JSON document keeps the full text.
func CSV(w io.Writer, run *audit.Run) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for i := range run.Findings {
		f := &run.Findings[i]
		if err := cw.Write([]string{
			cellSafe(f.Check, maxCell),
			cellSafe(string(f.Status), maxCell),
			cellSafe(string(f.Severity), maxCell),
			cellSafe(f.Account, maxCell),
			cellSafe(f.Region, maxCell),
			cellSafe(f.ResourceType, maxCell),
			cellSafe(f.Resource, maxResource),
			cellSafe(f.Detail, maxDetail),
			cellSafe(remediationText(f.Remediation), maxDetail),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// remediationText is the remediation id, or "manual: <what to do>".
func remediationText(r *checks.Remediation) string {
	switch {
	case r == nil:
		return ""
	case r.ID != "":
		return r.ID
	case r.Manual != "":
		return "manual: " + r.Manual
	}
	return "manual"
}
