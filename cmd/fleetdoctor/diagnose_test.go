package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

func TestDiagnoseSandbox(t *testing.T) {
	h := newHarness()
	code := h.run(t, "diagnose", "--sandbox", "--regions", "eu-west-1", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	if h.providerCalls != 0 {
		t.Error("diagnose --sandbox built an AWS provider")
	}
	var run audit.Run
	dec := json.NewDecoder(bytes.NewReader(h.stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&run); err != nil {
		t.Fatalf("stdout is not a run document: %v\n%s", err, h.stdout.String())
	}
	if run.Run.Sandbox != "demo" {
		t.Errorf("run.sandbox = %q", run.Run.Sandbox)
	}
	byCheck := map[string]int{}
	firstHost := -1
	for i, f := range run.Findings {
		byCheck[f.Check]++
		if strings.HasPrefix(f.Check, "host_") && firstHost < 0 {
			firstHost = i
		}
		if firstHost >= 0 && !strings.HasPrefix(f.Check, "host_") {
			t.Fatalf("API-side finding %s after the host findings", f.Check)
		}
	}
	for _, id := range []string{hostdiag.CheckIMDSBlockedByFirewall, hostdiag.CheckNotDiagnosable} {
		if byCheck[id] == 0 {
			t.Errorf("no %s finding; findings per check %v", id, byCheck)
		}
	}
	if byCheck[checks.IncompleteID] != 0 {
		t.Errorf("audit_incomplete findings: %d", byCheck[checks.IncompleteID])
	}
	var stat *checks.Stat
	for i := range run.Summary.Checks {
		if run.Summary.Checks[i].Check == hostdiag.CheckIMDSBlockedByFirewall {
			stat = &run.Summary.Checks[i]
		}
	}
	if stat == nil || stat.Evaluated == 0 || stat.Failed != byCheck[hostdiag.CheckIMDSBlockedByFirewall] {
		t.Errorf("summary stat %+v", stat)
	}
	if !strings.Contains(h.stderr.String(), "diagnosed on host:") {
		t.Errorf("stderr lacks the diagnosis line:\n%s", h.stderr.String())
	}

	// The table shows the host checks after the API-side ones, and
	// --fail-on counts them.
	code = h.run(t, "diagnose", "--sandbox", "--regions", "eu-west-1", "--only-failing", "--fail-on", "high", "-q")
	if code != exitFindings {
		t.Fatalf("--fail-on high: exit %d, stderr:\n%s", code, h.stderr.String())
	}
	out := h.stdout.String()
	if i, j := strings.Index(out, "ssm_connection_lost"), strings.Index(out, hostdiag.CheckNotDiagnosable); i < 0 || j < i {
		t.Errorf("table order:\n%s", out)
	}
}

func TestDiagnoseUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--instances", "i-nothex"},
		{"--instances", ""},
		{"--output-bucket", "Not_A_Bucket"},
		{"--output-prefix", "x"},
		{"--timeout", "5s"},
		{"--format", "yaml"},
	} {
		h := newHarness()
		if code := h.run(t, append([]string{"diagnose", "--sandbox"}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, stderr:\n%s", args, code, h.stderr.String())
		}
		if h.providerCalls != 0 {
			t.Errorf("%v reached AWS", args)
		}
	}
}
