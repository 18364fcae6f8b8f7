package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// TestAuditASFF checks `--format asff`: one ACTIVE finding per FAIL/ERROR
// finding with the stable id, and, with --previous, the finding that is
// gone since written ARCHIVED under its old id so an import closes it.
func TestAuditASFF(t *testing.T) {
	h := newHarness(acctA)
	prev := writePrevious(t, h, "--regions", "eu-west-1")
	data, err := os.ReadFile(prev)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	failing := 0
	for _, f := range doc["findings"].([]any) {
		if s := f.(map[string]any)["status"]; s == "FAIL" || s == "ERROR" {
			failing++
		}
	}
	doc["findings"] = append(doc["findings"].([]any), map[string]any{
		"check": "imds_endpoint_disabled", "status": "FAIL", "severity": "high", "account": acctA,
		"region": "eu-west-1", "resourceType": checks.TypeInstance, "resource": "i-0gone", "detail": "fixed since",
	})
	data, _ = json.Marshal(doc)
	if err := os.WriteFile(prev, data, 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "asff.json")
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--format", "asff", "--previous", prev, "--output", out, "--quiet"); code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Findings []struct {
			ID          string `json:"Id"`
			RecordState string
			Workflow    struct{ Status string }
		}
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("not ASFF JSON: %v", err)
	}
	active, archived := 0, map[string]bool{}
	for _, f := range body.Findings {
		switch f.RecordState {
		case "ACTIVE":
			active++
		case "ARCHIVED":
			archived[f.ID] = f.Workflow.Status == "RESOLVED"
		}
	}
	if active != failing || failing == 0 {
		t.Errorf("%d ACTIVE findings, want the %d FAIL/ERROR findings", active, failing)
	}
	id := "fleetdoctor/eu-west-1/" + acctA + "/imds_endpoint_disabled/i-0gone"
	if resolved, ok := archived[id]; !ok || !resolved || len(archived) != 1 {
		t.Errorf("archived %v, want only %s (RESOLVED)", archived, id)
	}
}
