package hostdiag

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const validRepair = `{"schema":1,"host":{"instanceId":"i-0123456789abcdef0","region":"eu-west-1","platform":"Linux","os":"Amazon Linux 2023","kernel":"6.1","agentVersion":"3.3.1142.0","generatedAt":"2026-01-02T03:04:05Z"},` +
	`"dryRun":false,"actions":[` +
	`{"id":"host_remove_imds_firewall_rule","status":"changed","detail":"removed 1 rule","before":{"rules":["iptables: -A OUTPUT -d 169.254.169.254/32 -j REJECT"]},"after":{"rules":[]}},` +
	`{"id":"host_add_no_proxy","status":"unchanged","before":{"agent":"169.254.169.254","system":"169.254.169.254"},"after":{"agent":"169.254.169.254","system":"169.254.169.254"}},` +
	`{"id":"host_restart_agent","status":"skipped","detail":"not asked for"}]}`

func TestParseRepairValid(t *testing.T) {
	r, err := ParseRepair([]byte(validRepair))
	if err != nil {
		t.Fatalf("ParseRepair: %v", err)
	}
	if r.Schema != RepairSchemaVersion || r.DryRun || len(r.Actions) != 3 || r.Host.Platform != "Linux" ||
		!r.Host.GeneratedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("ParseRepair = %+v", r)
	}
	a := r.Actions[0]
	if a.ID != ActionRemoveIMDSFirewallRule || a.Status != RepairChanged {
		t.Errorf("actions[0] = %+v", a)
	}
	if rules, ok := a.Before["rules"].([]any); !ok || len(rules) != 1 {
		t.Errorf("actions[0].before = %#v", a.Before)
	}
	// Round trip through EncodeRepair.
	b, err := EncodeRepair(r)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ParseRepair(b)
	if err != nil {
		t.Fatalf("ParseRepair(EncodeRepair(r)): %v\n%s", err, b)
	}
	b2, _ := EncodeRepair(r2)
	if string(b) != string(b2) {
		t.Errorf("round trip changed the report:\n%s\n%s", b, b2)
	}
}

func TestParseRepairRejects(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validRepair, old) {
			t.Fatalf("test bug: %q not in the valid report", old)
		}
		return strings.Replace(validRepair, old, new, 1)
	}
	long := strings.Repeat("x", MaxRepairString+1)
	deep := `{"a":` + strings.Repeat(`[`, MaxRepairDepth+1) + strings.Repeat(`]`, MaxRepairDepth+1) + `}`
	many := `{"a":[` + strings.TrimSuffix(strings.Repeat(`1,`, MaxRepairItems+1), ",") + `]}`
	cases := map[string]string{
		"empty":                ``,
		"not an object":        `[]`,
		"trailing data":        validRepair + `{}`,
		"trailing garbage":     validRepair + `x`,
		"unknown field":        replace(`"dryRun":false`, `"dryRun":false,"extra":1`),
		"unknown host field":   replace(`"kernel":"6.1"`, `"kernel":"6.1","shell":"x"`),
		"unknown action field": replace(`"detail":"not asked for"`, `"detail":"not asked for","cmd":"rm"`),
		"schema 0":             replace(`"schema":1`, `"schema":0`),
		"schema 2":             replace(`"schema":1`, `"schema":2`),
		"schema string":        replace(`"schema":1`, `"schema":"1"`),
		"platform":             replace(`"platform":"Linux"`, `"platform":"Plan9"`),
		"bad time":             replace(`"2026-01-02T03:04:05Z"`, `"yesterday"`),
		"no actions":           replace(`"actions":[`, `"actionz":[`),
		"null actions":         `{"schema":1,"host":{"platform":"Linux","generatedAt":"2026-01-02T03:04:05Z"},"dryRun":true,"actions":null}`,
		"unknown id":           replace(`"id":"host_restart_agent"`, `"id":"host_format_disk"`),
		"duplicate id":         replace(`"id":"host_restart_agent"`, `"id":"host_add_no_proxy"`),
		"unknown status":       replace(`"status":"skipped"`, `"status":"done"`),
		"status case":          replace(`"status":"skipped"`, `"status":"SKIPPED"`),
		"would_change live":    replace(`"status":"skipped"`, `"status":"would_change"`),
		"changed in dry run":   replace(`"dryRun":false`, `"dryRun":true`),
		"long detail":          replace(`"detail":"not asked for"`, `"detail":"`+long+`"`),
		"long host":            replace(`"os":"Amazon Linux 2023"`, `"os":"`+long+`"`),
		"long before value":    replace(`"before":{"agent":"169.254.169.254"`, `"before":{"agent":"`+long+`"`),
		"long before key":      replace(`"before":{"agent":`, `"before":{"`+long+`":`),
		"deep after":           replace(`"after":{"rules":[]}`, `"after":`+deep),
		"many items":           replace(`"after":{"rules":[]}`, `"after":`+many),
		"too big":              replace(`"detail":"not asked for"`, `"detail":"`+strings.Repeat("y", MaxOutput)+`"`),
	}
	for name, in := range cases {
		if _, err := ParseRepair([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, ErrRepairReport) {
			t.Errorf("%s: error %v does not wrap ErrRepairReport", name, err)
		}
	}
}

func TestParseRepairDryRun(t *testing.T) {
	in := `{"schema":1,"host":{"instanceId":"","region":"","platform":"Windows","os":"","kernel":"","agentVersion":"","generatedAt":"2026-01-02T03:04:05Z"},"dryRun":true,"actions":[{"id":"host_remove_imds_firewall_rule","status":"would_change","before":{"rules":["windows: Block IMDS"]},"after":{"rules":[]}}]}`
	r, err := ParseRepair([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if !r.DryRun || r.Actions[0].Status != RepairWouldChange || r.Host.Platform != "Windows" {
		t.Errorf("ParseRepair = %+v", r)
	}
}

func TestEncodeRepairFits(t *testing.T) {
	big := make([]any, 150)
	for i := range big {
		big[i] = strings.Repeat("r", 300)
	}
	r := RepairReport{Schema: RepairSchemaVersion, Host: Host{Platform: "Linux"}, Actions: []RepairAction{
		{ID: ActionRemoveIMDSFirewallRule, Status: RepairChanged, Before: map[string]any{"rules": big}, After: map[string]any{"rules": []any{}}},
		{ID: ActionAddNoProxy, Status: RepairUnchanged},
	}}
	b, err := EncodeRepair(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxOutput {
		t.Fatalf("EncodeRepair: %d bytes", len(b))
	}
	got, err := ParseRepair(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Actions[0].Before != nil || !strings.Contains(got.Actions[0].Detail, "left out") {
		t.Errorf("oversized before kept: %+v", got.Actions[0].Detail)
	}
	if r.Actions[0].Before == nil {
		t.Error("EncodeRepair modified the caller's report")
	}
	if b, err := EncodeRepair(RepairReport{Schema: 1, Host: Host{Platform: "Linux"}}); err != nil || !strings.Contains(string(b), `"actions":[]`) {
		t.Errorf("EncodeRepair(no actions) = %s, %v", b, err)
	}
}

func FuzzParseRepair(f *testing.F) {
	f.Add([]byte(validRepair))
	f.Add([]byte(`{"schema":1,"host":{"platform":"Linux","generatedAt":"2026-01-02T03:04:05Z"},"dryRun":true,"actions":[]}`))
	f.Add([]byte(`{"schema":1,"actions":[{"id":"host_add_no_proxy","status":"would_change","before":{"a":[[{"b":null}]]}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRepair(b)
		if err != nil {
			if !errors.Is(err, ErrRepairReport) {
				t.Fatalf("error %v does not wrap ErrRepairReport", err)
			}
			return
		}
		// What ParseRepair accepts re-encodes and parses again; to the same
		// report when the re-encoding fits (escaping may make it longer).
		out, err := EncodeRepair(r)
		if err != nil {
			t.Fatalf("EncodeRepair of an accepted report: %v", err)
		}
		r2, err := ParseRepair(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		out2, _ := json.Marshal(r2)
		out1, _ := json.Marshal(r)
		if len(out1) <= MaxOutput && string(out1) != string(out2) {
			t.Fatalf("round trip differs:\n%s\n%s", out1, out2)
		}
	})
}
