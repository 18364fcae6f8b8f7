package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
)

func TestReportSet(t *testing.T) {
	run := sampleWithChanges()
	opts := HTMLOptions{Trend: sampleTrend(run)}
	set, err := ReportSet(run, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, contentType string }{
		{"run.json", "application/json"},
		{"findings.csv", "text/csv; charset=utf-8"},
		{"report.html", "text/html; charset=utf-8"},
	}
	if len(set) != len(want) {
		t.Fatalf("%d files, want %d", len(set), len(want))
	}
	for i, w := range want {
		if set[i].Name != w.name || set[i].ContentType != w.contentType || len(set[i].Data) == 0 {
			t.Errorf("file %d: %s (%s, %d bytes), want %s (%s)", i, set[i].Name, set[i].ContentType, len(set[i].Data), w.name, w.contentType)
		}
	}
	// Each file is exactly what its renderer writes.
	for i, r := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return JSON(b, run) },
		func(b *bytes.Buffer) error { return CSV(b, run) },
		func(b *bytes.Buffer) error { return HTML(b, run, opts) },
	} {
		if got := render(t, r); !bytes.Equal(set[i].Data, got) {
			t.Errorf("%s differs from its renderer's output", set[i].Name)
		}
	}
	var doc audit.Run
	if err := json.Unmarshal(set[0].Data, &doc); err != nil || doc.Run.ID != run.Run.ID || len(doc.Findings) != len(run.Findings) || doc.Changes == nil {
		t.Errorf("run.json is not the run document: %v", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(set[1].Data)).ReadAll()
	if err != nil || len(rows) != len(run.Findings)+1 {
		t.Errorf("findings.csv: %d rows (%v), want a header and %d findings", len(rows), err, len(run.Findings))
	}
	if html := string(set[2].Data); !strings.Contains(html, run.Run.ID) || strings.Count(html, "<tr data-check=") != len(run.Findings) {
		t.Error("report.html does not list the run's findings")
	}
	if _, err := ReportSet(nil, HTMLOptions{}); err == nil {
		t.Error("a nil run made a report set")
	}
}

// BenchmarkReportSet100k is the report Lambda's rendering of a
// 100,000-finding run: run.json, findings.csv and report.html.
func BenchmarkReportSet100k(b *testing.B) {
	run := bigRun(100000)
	for b.Loop() {
		if _, err := ReportSet(run, HTMLOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
