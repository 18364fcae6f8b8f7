package hostdiag

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sampleReport() Report {
	r := Report{
		Schema: SchemaVersion,
		Host: Host{
			InstanceID: "i-0123456789abcdef0", Region: "eu-west-1", Platform: "Linux",
			OS: "Amazon Linux 2023", Kernel: "6.1.0", AgentVersion: "3.3.1142.0",
			Hostname:    "i-0123456789abcdef0.eu-west-1.compute.internal",
			GeneratedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		},
	}
	for _, id := range CheckIDs() {
		r.Checks = append(r.Checks, Check{ID: id, Status: Pass, Detail: "fine", Evidence: map[string]any{"n": 1}})
	}
	return r
}

func decode(t *testing.T, b []byte) Report {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("Encode produced invalid JSON: %.200s", b)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var r Report
	if err := d.Decode(&r); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	return r
}

func TestEncodeRoundTrip(t *testing.T) {
	in := sampleReport()
	in.Checks[1] = Check{ID: CheckIMDSBlockedByFirewall, Status: Fail, Detail: "rule <x> & y",
		Evidence: map[string]any{"rules": []any{map[string]any{"rule": "-A OUTPUT -d 169.254.169.254/32 -j REJECT"}}}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("\n")) || bytes.Contains(b, []byte(": ")) {
		t.Errorf("output is not compact: %s", b)
	}
	out := decode(t, b)
	if out.Schema != 1 || out.Host != in.Host || len(out.Checks) != len(in.Checks) || out.Omitted != 0 {
		t.Fatalf("round trip changed the report: %+v", out)
	}
	c := out.Checks[1]
	if c.ID != CheckIMDSBlockedByFirewall || c.Status != Fail || c.Detail != "rule <x> & y" || c.Truncated {
		t.Errorf("check = %+v", c)
	}
	rule := c.Evidence["rules"].([]any)[0].(map[string]any)["rule"]
	if rule != "-A OUTPUT -d 169.254.169.254/32 -j REJECT" {
		t.Errorf("rule = %v", rule)
	}
	if len(CheckIDs()) != 10 {
		t.Errorf("CheckIDs has %d ids, want the 9 host checks of DESIGN §4 plus host_container_runtime", len(CheckIDs()))
	}
}

func TestEncodeNilChecksIsEmptyList(t *testing.T) {
	b, err := Encode(Report{Schema: SchemaVersion})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"checks":[]`)) {
		t.Errorf("nil checks should encode as [], got %s", b)
	}
}

func TestEncodeCapsHugeRuleText(t *testing.T) {
	for _, unit := range []string{"A", "é", "日"} {
		t.Run(unit, func(t *testing.T) {
			huge := strings.Repeat(unit, 1<<20/len(unit))
			in := sampleReport()
			in.Checks[1] = Check{ID: CheckIMDSBlockedByFirewall, Status: Fail, Detail: "blocked",
				Evidence: map[string]any{"rules": []any{map[string]any{"tool": "iptables", "rule": huge}}}}
			b, err := Encode(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxOutput {
				t.Fatalf("encoded %d bytes, cap is %d", len(b), MaxOutput)
			}
			if !utf8.Valid(b) {
				t.Fatal("output is not valid UTF-8")
			}
			out := decode(t, b)
			if len(out.Checks) != len(in.Checks) || out.Omitted != 0 {
				t.Fatalf("checks lost: %d kept, %d omitted", len(out.Checks), out.Omitted)
			}
			c := out.Checks[1]
			if !c.Truncated || c.Status != Fail || c.ID != CheckIMDSBlockedByFirewall {
				t.Fatalf("firewall check = %+v", c)
			}
			rule := c.Evidence["rules"].([]any)[0].(map[string]any)["rule"].(string)
			if !strings.HasSuffix(rule, truncMark) || !strings.HasPrefix(rule, strings.Repeat(unit, 64)) {
				t.Errorf("rule not cut with the marker: %.80q...", rule)
			}
			for i, c := range out.Checks {
				if i != 1 && (c.Truncated || c.Status != Pass) {
					t.Errorf("check %s touched: %+v", c.ID, c)
				}
			}
			// The caller's report is not modified.
			if got := in.Checks[1].Evidence["rules"].([]any)[0].(map[string]any)["rule"].(string); got != huge {
				t.Error("Encode modified the caller's evidence")
			}
			again, _ := Encode(in)
			if !bytes.Equal(b, again) {
				t.Error("Encode is not deterministic")
			}
		})
	}
}

func TestEncodeDropsEvidenceThenChecks(t *testing.T) {
	// Many checks, each with evidence that stays big after string cuts:
	// lots of keys.
	in := Report{Schema: SchemaVersion, Host: sampleReport().Host}
	for i := range 250 {
		ev := map[string]any{}
		for k := range 10 {
			ev[fmt.Sprintf("key%03d", k)] = strings.Repeat("x", 20)
		}
		in.Checks = append(in.Checks, Check{ID: fmt.Sprintf("host_check_%03d", i), Status: Fail, Detail: strings.Repeat("d", 2000), Evidence: ev})
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxOutput {
		t.Fatalf("encoded %d bytes", len(b))
	}
	out := decode(t, b)
	if out.Omitted == 0 || len(out.Checks)+out.Omitted != len(in.Checks) {
		t.Fatalf("kept %d + omitted %d, want %d in all with some omitted", len(out.Checks), out.Omitted, len(in.Checks))
	}
	for i, c := range out.Checks {
		if c.ID != in.Checks[i].ID {
			t.Fatalf("check %d is %s, want %s (checks are dropped from the end)", i, c.ID, in.Checks[i].ID)
		}
		if !c.Truncated || c.Evidence != nil {
			t.Fatalf("check %s kept evidence or is unmarked: %+v", c.ID, c)
		}
	}
}

func TestEncodeLongListsAndHost(t *testing.T) {
	in := sampleReport()
	in.Host.OS = strings.Repeat("o", 100000)
	items := make([]any, 5000)
	for i := range items {
		items[i] = fmt.Sprintf("line %d", i)
	}
	in.Checks[7].Evidence = map[string]any{"errors": items}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out := decode(t, b)
	if len(b) > MaxOutput || !strings.HasSuffix(out.Host.OS, truncMark) {
		t.Fatalf("host OS not cut (len %d)", len(out.Host.OS))
	}
	got := out.Checks[7].Evidence["errors"].([]any)
	if len(got) >= 5000 || got[0] != "line 0" || !out.Checks[7].Truncated {
		t.Errorf("list not cut from the end: %d items, first %v", len(got), got[0])
	}
}

func TestEncodeRejectsUnencodable(t *testing.T) {
	in := sampleReport()
	in.Checks[0].Evidence = map[string]any{"ch": make(chan int)}
	if _, err := Encode(in); err == nil {
		t.Fatal("Encode accepted a channel in evidence")
	}
}
