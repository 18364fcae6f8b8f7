package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// readSet reads the report set written for dir/report.html.
func readSet(t *testing.T, dir string) (html string, run *audit.Run, csvRows [][]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	html = string(b)
	if b, err = os.ReadFile(filepath.Join(dir, "report.json")); err != nil {
		t.Fatal(err)
	}
	run = &audit.Run{}
	if err := json.Unmarshal(b, run); err != nil {
		t.Fatalf("report.json is not a run document: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if csvRows, err = csv.NewReader(f).ReadAll(); err != nil {
		t.Fatalf("report.csv: %v", err)
	}
	return html, run, csvRows
}

var trendDotRE = regexp.MustCompile(`class="dot dot-health"`)

func TestAuditHTMLWritesTheReportSet(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "report.html")
	h := newHarness(acctA)
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--format", "html", "--output", out); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, h.stderr.String())
	}
	if h.stdout.Len() != 0 {
		t.Errorf("stdout not empty with --format html:\n%s", h.stdout.String())
	}
	assertOnly(t, dir, "report.csv", "report.html", "report.json")
	html, run, rows := readSet(t, dir)
	if run.Summary.Instances != 10 || len(run.Findings) == 0 {
		t.Errorf("report.json: %d instances, %d findings", run.Summary.Instances, len(run.Findings))
	}
	if len(rows) != len(run.Findings)+1 {
		t.Errorf("report.csv has %d rows for %d findings", len(rows), len(run.Findings))
	}
	if !strings.Contains(html, run.Run.ID) || strings.Count(html, "<tr data-check=") != len(run.Findings) {
		t.Errorf("report.html does not list the run's %d findings", len(run.Findings))
	}
	// One run: the trend is a single dot, and there is no changes section.
	if n := len(trendDotRE.FindAllString(html, -1)); n != 1 || strings.Contains(html, `id="changes"`) {
		t.Errorf("trend without --previous: %d points", n)
	}
	// The account-region table knows the instance counts from the audit.
	if !regexp.MustCompile(`<tr><td>` + acctA + `</td><td>eu-west-1</td><td class="n">10</td>`).MatchString(html) {
		t.Error("account-region table lacks the instance count")
	}
	for _, p := range []string{out, filepath.Join(dir, "report.json"), filepath.Join(dir, "report.csv")} {
		if !strings.Contains(h.stderr.String(), p) {
			t.Errorf("stderr does not name %s:\n%s", p, h.stderr.String())
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want 0600", p, err, fi.Mode().Perm())
		}
	}
}

func TestAuditHTMLWithPrevious(t *testing.T) {
	h := newHarness(acctA)
	prev := writePrevious(t, h, "--regions", "eu-west-1,us-east-1")
	dir := t.TempDir()
	out := filepath.Join(dir, "report.html")
	// One region this time: findings in the other are unknown, not resolved.
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--format", "html", "--output", out, "--previous", prev, "-q"); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, h.stderr.String())
	}
	if h.stderr.Len() != 0 {
		t.Errorf("--quiet wrote to stderr:\n%s", h.stderr.String())
	}
	html, run, _ := readSet(t, dir)
	if n := len(trendDotRE.FindAllString(html, -1)); n != 2 || !strings.Contains(html, `<polyline id="trend-health"`) {
		t.Errorf("trend with --previous: %d points, want a line through 2", n)
	}
	if run.Changes == nil || run.Changes.Summary.Unknown == 0 || !strings.Contains(html, `id="changes"`) {
		t.Errorf("changes missing from the set: %+v", run.Changes)
	}
}

func TestAuditHTMLUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no output", []string{"--format", "html"}, []string{"--format html", "--output"}},
		{"output would be overwritten", []string{"--format", "html", "--output", filepath.Join(dir, "run.json")}, []string{"--output", "overwritten"}},
		{"output is a directory", []string{"--format", "html", "--output", dir}, []string{"--output", "directory"}},
		{"no such directory", []string{"--format", "html", "--output", filepath.Join(dir, "nope", "r.html")}, []string{"--output"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(acctA)
			code := h.run(t, append([]string{"audit", "--regions", "eu-west-1"}, tc.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(h.stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, h.stderr.String())
				}
			}
			if h.providerCalls != 0 {
				t.Error("a bad --output reached AWS")
			}
		})
	}
	assertOnly(t, dir)
}

func TestAuditHTMLFailedRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(acctA)
	h.providerErr = &awsapi.CredentialsError{Err: errors.New("no credentials")}
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--format", "html", "--output", filepath.Join(dir, "report.html")); code != exitAWS {
		t.Errorf("exit %d, want 3", code)
	}
	assertOnly(t, dir)
}

func TestAuditHTMLHelp(t *testing.T) {
	h := newHarness()
	if code := h.run(t, "audit", "--help"); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	help := h.stdout.String()
	for _, want := range []string{"html", "--format html --output report.html", ".json and .csv"} {
		if !strings.Contains(help, want) {
			t.Errorf("audit --help lacks %q", want)
		}
	}
}

func TestAuditHTMLSandbox(t *testing.T) {
	dir := t.TempDir()
	h := newHarness()
	if code := h.run(t, "audit", "--sandbox", "--regions", "eu-west-1", "--format", "html", "--output", filepath.Join(dir, "report.html"), "-q"); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, h.stderr.String())
	}
	html, run, _ := readSet(t, dir)
	if run.Run.Sandbox == "" || !strings.Contains(html, `id="sandbox"`) || run.Summary.Instances == 0 {
		t.Errorf("sandbox run: sandbox %q, %d instances", run.Run.Sandbox, run.Summary.Instances)
	}
}
