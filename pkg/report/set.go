package report

import (
	"bytes"
	"fmt"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
)

// Names of the files in a report set, as the report Lambda stores them
// under a run's S3 prefix.
const (
	SetRunJSON     = "run.json"
	SetFindingsCSV = "findings.csv"
	SetReportHTML  = "report.html"
)

// SetFile is one file of a report set.
type SetFile struct {
	// Name is the file's base name (SetRunJSON, SetFindingsCSV or
	// SetReportHTML).
	Name string
	// ContentType is its MIME type, for S3's Content-Type.
	ContentType string
	Data        []byte
}

// ReportSet renders run as the report set: the run document (run.json),
// every finding as CSV (findings.csv) and the HTML report (report.html),
// which points at the other two for what it does not list. The report
// Lambda uploads these to S3; the CLI writes them next to each other.
func ReportSet(run *audit.Run, opts HTMLOptions) ([]SetFile, error) {
	if run == nil {
		return nil, fmt.Errorf("report set: no run")
	}
	set := []struct {
		name, contentType string
		render            func(*bytes.Buffer) error
	}{
		{SetRunJSON, "application/json", func(b *bytes.Buffer) error { return JSON(b, run) }},
		{SetFindingsCSV, "text/csv; charset=utf-8", func(b *bytes.Buffer) error { return CSV(b, run) }},
		{SetReportHTML, "text/html; charset=utf-8", func(b *bytes.Buffer) error { return HTML(b, run, opts) }},
	}
	out := make([]SetFile, 0, len(set))
	for _, f := range set {
		var b bytes.Buffer
		if err := f.render(&b); err != nil {
			return nil, fmt.Errorf("rendering %s: %w", f.name, err)
		}
		out = append(out, SetFile{Name: f.name, ContentType: f.contentType, Data: b.Bytes()})
	}
	return out, nil
}
