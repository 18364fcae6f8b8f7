package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// emfLine is an EMF line: the _aws metadata and the other members.
type emfLine struct {
	meta  emfMetadata
	props map[string]any
}

// parseEMF decodes every line and checks what the EMF specification
// requires of it.
func parseEMF(t *testing.T, data []byte) []emfLine {
	t.Helper()
	var out []emfLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("line %d is not a JSON object: %v", n, err)
		}
		var l emfLine
		dec := json.NewDecoder(bytes.NewReader(raw["_aws"]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l.meta); err != nil {
			t.Fatalf("line %d: _aws: %v", n, err)
		}
		if err := json.Unmarshal(sc.Bytes(), &l.props); err != nil {
			t.Fatal(err)
		}
		if l.meta.Timestamp <= 0 || len(l.meta.CloudWatchMetrics) == 0 {
			t.Errorf("line %d: no Timestamp or CloudWatchMetrics", n)
		}
		for _, d := range l.meta.CloudWatchMetrics {
			if d.Namespace == "" || len(d.Metrics) == 0 || len(d.Metrics) > EMFMaxMetrics {
				t.Errorf("line %d: directive %+v breaks the spec", n, d)
			}
			for _, set := range d.Dimensions {
				if len(set) > EMFMaxDimensions {
					t.Errorf("line %d: %d dimensions", n, len(set))
				}
				for _, dim := range set {
					if _, ok := l.props[dim].(string); !ok {
						t.Errorf("line %d: dimension %s has no string value", n, dim)
					}
				}
			}
			for _, m := range d.Metrics {
				if _, ok := l.props[m.Name].(float64); !ok || m.Unit != "Count" {
					t.Errorf("line %d: metric %+v has no numeric value", n, m)
				}
			}
		}
		out = append(out, l)
	}
	return out
}

// value finds the metric name on the line whose dimension values are dims.
func value(lines []emfLine, name string, dims map[string]string) (float64, bool) {
next:
	for _, l := range lines {
		set := l.meta.CloudWatchMetrics[0].Dimensions[0]
		if len(set) != len(dims) {
			continue
		}
		for _, d := range set {
			if l.props[d] != dims[d] {
				continue next
			}
		}
		if v, ok := l.props[name].(float64); ok {
			return v, true
		}
	}
	return 0, false
}

func TestEMFGolden(t *testing.T) {
	golden(t, "sample.emf.golden", render(t, func(b *bytes.Buffer) error { return WriteEMF(b, sampleRun(), "") }))
}

func TestEMFCounts(t *testing.T) {
	run := sampleRun()
	run.Snapshot = &inventory.Snapshot{Accounts: []*inventory.Account{{ID: acctA, Regions: []*inventory.Region{
		{Account: acctA, Name: "eu-west-1", Instances: []inventory.Instance{{ID: "i-0a000000000000000"}, {ID: "i-0a000000000000001"}, {ID: "i-healthy"}}},
	}}}}
	var b bytes.Buffer
	if err := WriteEMF(&b, run, "Test/NS"); err != nil {
		t.Fatal(err)
	}
	lines := parseEMF(t, b.Bytes())
	if ns := lines[0].meta.CloudWatchMetrics[0].Namespace; ns != "Test/NS" {
		t.Errorf("namespace %q", ns)
	}
	if ts := lines[0].meta.Timestamp; ts != started.UnixMilli() {
		t.Errorf("timestamp %d, want %d", ts, started.UnixMilli())
	}
	ar := map[string]string{"Account": acctA, "Region": "eu-west-1"}
	for name, want := range map[string]float64{"FailingFindings": 8, "ErrorFindings": 0, "Instances": 3, "HealthyInstances": 1} {
		if v, ok := value(lines, name, ar); !ok || v != want {
			t.Errorf("%s in %v = %v (%v), want %v", name, ar, v, ok, want)
		}
	}
	sev := map[string]string{"Account": acctB, "Region": "us-east-1", "Severity": "medium"}
	if v, _ := value(lines, "FailingFindings", sev); v != 3 {
		t.Errorf("medium findings in %v = %v, want 3", sev, v)
	}
	sev["Severity"] = "critical"
	if v, ok := value(lines, "FailingFindings", sev); !ok || v != 0 {
		t.Errorf("a zero severity must be written as 0, got %v %v", v, ok)
	}
	chk := map[string]string{"Account": acctA, "Region": "eu-west-1", "Check": "imds_endpoint_disabled"}
	if v, _ := value(lines, "FailingFindings", chk); v != 7 {
		t.Errorf("imds_endpoint_disabled in %v = %v, want 7", chk, v)
	}
	errs := map[string]string{"Account": acctB, "Region": "eu-west-1"}
	if v, _ := value(lines, "ErrorFindings", errs); v != 1 {
		t.Errorf("errors in %v = %v, want 1", errs, v)
	}
	// No snapshot for this account-region: no instance metrics.
	if _, ok := value(lines, "Instances", map[string]string{"Account": acctB, "Region": "eu-west-1"}); ok {
		t.Error("Instances written without an inventory")
	}
}

func TestEMFSplitsLargeMetricSets(t *testing.T) {
	values := map[string]int{}
	for i := range 2*EMFMaxMetrics + 5 {
		values[fmt.Sprintf("M%03d", i)] = i
	}
	var b bytes.Buffer
	if err := writeEMFLines(&b, 1, "NS", []string{"Account"}, map[string]any{"Account": acctA}, values); err != nil {
		t.Fatal(err)
	}
	lines := parseEMF(t, b.Bytes())
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	total := 0
	for _, l := range lines {
		total += len(l.meta.CloudWatchMetrics[0].Metrics)
	}
	if total != len(values) {
		t.Errorf("%d metrics written, want %d", total, len(values))
	}
	dims := make([]string, EMFMaxDimensions+1)
	if err := writeEMFLines(&b, 1, "NS", dims, nil, values); err == nil {
		t.Error("31 dimensions accepted")
	}
}

func TestEMFHostileAndEmpty(t *testing.T) {
	for name, run := range map[string]*audit.Run{"hostile": hostileRun(), "empty": emptyRun()} {
		run.Findings = append(run.Findings, checks.Finding{Check: "\u202eevil\x1b[31m", Status: checks.Fail, Severity: checks.Low, Account: "\u009bacct", Region: "eu-west-1"})
		var b bytes.Buffer
		if err := WriteEMF(&b, run, ""); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(b.String(), "\x1b\u009b\u202e") {
			t.Errorf("%s: raw control characters in EMF", name)
		}
		if len(parseEMF(t, b.Bytes())) == 0 {
			t.Errorf("%s: no lines", name)
		}
	}
}
