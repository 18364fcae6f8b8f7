package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// writePrevious runs an audit with --format json into a file and returns
// its path.
func writePrevious(t *testing.T, h *harness, args ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prev.json")
	code := h.run(t, append([]string{"audit", "--format", "json", "--output", path, "--quiet"}, args...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	return path
}

func TestAuditPreviousJSON(t *testing.T) {
	h := newHarness(acctA)
	prev := writePrevious(t, h, "--regions", "eu-west-1,us-east-1")

	// Same fleet: nothing new, nothing resolved.
	code, run := h.runJSON(t, "--regions", "eu-west-1,us-east-1", "--previous", prev)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if run.Changes == nil {
		t.Fatal("no changes object")
	}
	failing := 0
	for _, f := range run.Findings {
		if f.Status == checks.Fail || f.Status == checks.Error {
			failing++
		}
	}
	if s := run.Changes.Summary; s.New != 0 || s.Resolved != 0 || s.Unchanged != failing || s.Unknown != 0 {
		t.Errorf("same fleet: %+v, want %d unchanged", s, failing)
	}

	// Auditing one region: the other region's findings are unknown, not resolved.
	code, run = h.runJSON(t, "--regions", "eu-west-1", "--previous", prev)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if s := run.Changes.Summary; s.Resolved != 0 || s.Unknown == 0 {
		t.Errorf("one region: %+v, want unknowns and no resolved", s)
	}
}

func TestAuditPreviousTable(t *testing.T) {
	h := newHarness(acctA)
	prev := writePrevious(t, h, "--regions", "eu-west-1")
	// Pretend one finding was fixed since: drop... rather, add one to the
	// previous run that this run will not find.
	data, err := os.ReadFile(prev)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["findings"] = append(doc["findings"].([]any), map[string]any{
		"check": "imds_endpoint_disabled", "status": "FAIL", "severity": "high", "account": acctA,
		"region": "eu-west-1", "resourceType": checks.TypeInstance, "resource": "i-\x1b[31mgone", "detail": "",
	})
	data, _ = json.Marshal(doc)
	if err := os.WriteFile(prev, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--previous", prev); code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	out := h.stdout.String()
	if !strings.Contains(out, "since the previous run (") || !strings.Contains(out, ": 0 new, 1 resolved") ||
		!strings.Contains(out, `i-\x1b[31mgone`) || strings.Contains(out, "\x1b") {
		t.Errorf("table:\n%s", out)
	}
}

func TestAuditPreviousRejectsBadFiles(t *testing.T) {
	h := newHarness(acctA)
	good, err := os.ReadFile(writePrevious(t, h, "--regions", "eu-west-1"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := write("big.json", nil)
	if err := os.Truncate(big, maxPreviousSize+1); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ path, want string }{
		"missing":       {filepath.Join(dir, "nope.json"), "no such file"},
		"directory":     {dir, "is a directory"},
		"not JSON":      {write("text.json", []byte("hello")), "not a run document"},
		"unknown field": {write("unknown.json", bytes.Replace(good, []byte(`"run": {`), []byte(`"run": {"bogus": 1, `), 1)), `unknown field "bogus"`},
		"trailing data": {write("trailing.json", append(append([]byte{}, good...), []byte("{}")...)), "more after the run document"},
		"empty object":  {write("empty.json", []byte("{}")), "no run id"},
		"too large":     {big, "larger than 64 MiB"},
		"hostile name":  {filepath.Join(dir, "\x1b[31m.json"), `\x1b[31m`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code := h.run(t, "audit", "--regions", "eu-west-1", "--previous", c.path)
			errOut := h.stderr.String()
			if code != exitUsage || !strings.Contains(errOut, "--previous") || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 naming --previous and %q", code, errOut, c.want)
			}
			if strings.Contains(errOut, "\x1b") || h.providerCalls != 0 {
				t.Errorf("raw escape in stderr or AWS reached before validation (%d calls)", h.providerCalls)
			}
		})
	}
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--previous="); code != exitUsage {
		t.Errorf("--previous= exit %d, want 2", code)
	}
}

func TestAuditEMF(t *testing.T) {
	h := newHarness(acctA)
	if code := h.run(t, "audit", "--regions", "eu-west-1,us-east-1", "--format", "emf"); code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(h.stdout.String(), "\n"), "\n")
	found := false
	for _, l := range lines {
		var v struct {
			Aws struct {
				Timestamp         int64
				CloudWatchMetrics []struct{ Namespace string }
			} `json:"_aws"`
			Account, Region  string
			Instances        *int
			HealthyInstances *int
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Aws.Timestamp == 0 || len(v.Aws.CloudWatchMetrics) != 1 {
			t.Fatalf("not an EMF line (%v): %s", err, l)
		}
		if v.Instances != nil {
			found = true
			if *v.Instances != 10 || v.HealthyInstances == nil || *v.HealthyInstances >= 10 {
				t.Errorf("instance metrics %s", l)
			}
		}
	}
	if !found {
		t.Error("no Instances metric: the CLI run carries its inventory")
	}
}
