package hostdiag

import (
	"errors"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

func mustEncode(t *testing.T, r Report) []byte {
	t.Helper()
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseReadsWhatEncodeWrites(t *testing.T) {
	in := sampleReport()
	in.Checks[1] = Check{ID: CheckIMDSBlockedByFirewall, Status: Fail, Detail: "REJECT rule",
		Evidence: map[string]any{"rules": []any{map[string]any{"tool": "iptables", "rule": "-A OUTPUT -d 169.254.169.254/32 -j REJECT"}}}}
	got, err := ParseFor(mustEncode(t, in), in.Host.InstanceID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Host != in.Host || len(got.Checks) != len(CheckIDs()) {
		t.Fatalf("host %+v, %d checks", got.Host, len(got.Checks))
	}
	c := got.Checks[1]
	if c.ID != CheckIMDSBlockedByFirewall || c.Status != Fail || c.Detail != "REJECT rule" {
		t.Errorf("check %+v", c)
	}
	rules, _ := c.Evidence["rules"].([]any)
	if len(rules) != 1 || rules[0].(map[string]any)["tool"] != "iptables" {
		t.Errorf("evidence %#v", c.Evidence)
	}
}

func TestParseRejects(t *testing.T) {
	good := string(mustEncode(t, sampleReport()))
	for name, tc := range map[string]struct {
		out, want, field string
	}{
		"empty":          {"  \n", "empty output", ""},
		"not json":       {"bash: line 1: ip: command not found", "not a report object", ""},
		"array":          {"[1,2]", "not a report object", ""},
		"unknown field":  {strings.Replace(good, `"schema":1`, `"schema":1,"extra":true`, 1), "unknown field", ""},
		"trailing":       {good + `{"schema":1}`, "trailing data", ""},
		"two lines":      {good + "\nDone.", "trailing data", ""},
		"no schema":      {strings.Replace(good, `"schema":1,`, ``, 1), "missing", "schema"},
		"future schema":  {strings.Replace(good, `"schema":1`, `"schema":2`, 1), "not supported", "schema"},
		"no host":        {`{"schema":1,"checks":[]}`, "missing", "host"},
		"bad instance":   {strings.Replace(good, "i-0123456789abcdef0", "i-<!channel>", 1), "not an instance id", "host.instanceId"},
		"other instance": {strings.Replace(good, "i-0123456789abcdef0", "i-0123456789abcdef1", 1), "not i-0123456789abcdef0", "host.instanceId"},
		"bad region":     {strings.Replace(good, `"eu-west-1"`, `"eu west"`, 1), "not a region", "host.region"},
		"bad platform":   {strings.Replace(good, `"Linux"`, `"Plan9"`, 1), "neither Linux nor Windows", "host.platform"},
		"huge":           {`{"schema":1,"pad":"` + strings.Repeat("x", MaxOutput) + `"}`, "more than the 24000", ""},
		"invalid utf8":   {"{\"schema\":1,\"x\":\"\xff\"}", "UTF-8", ""},
		"too many":       {`{"schema":1,"host":{"instanceId":"i-0123456789abcdef0","platform":"Linux"},"checks":[` + strings.Repeat(`{"id":"x","status":"PASS"},`, MaxChecks) + `{"id":"y","status":"PASS"}]}`, "more than 64", "checks"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFor([]byte(tc.out), "i-0123456789abcdef0")
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) || pe.Field != tc.field {
				t.Errorf("err = %v (field %q), want %q in field %q", err, fieldOf(pe), tc.want, tc.field)
			}
		})
	}
}

func fieldOf(pe *ParseError) string {
	if pe == nil {
		return "<nil>"
	}
	return pe.Field
}

// A host that gets one check wrong does not lose the others: the bad check
// becomes ERROR, and checks it left out are ERROR too.
func TestParseRepairsBadChecks(t *testing.T) {
	deep := `{"a":` + strings.Repeat(`{"a":`, MaxEvidenceDepth+2) + `1` + strings.Repeat(`}`, MaxEvidenceDepth+3)
	out := `{"schema":1,"host":{"instanceId":"i-0123456789abcdef0","region":"eu-west-1","platform":"Linux","os":"x\u0007y","kernel":"6","agentVersion":"3.3.0.0","generatedAt":"2026-01-01T00:00:00Z"},"omitted":1,"checks":[` +
		`{"id":"host_imds_unreachable","status":"PASS","detail":"` + strings.Repeat("d", MaxDetail+50) + `"},` +
		`{"id":"host_imds_unreachable","status":"FAIL"},` +
		`{"id":"host_made_up","status":"PASS"},` +
		`{"id":"Host Clock <@U123>","status":"PASS"},` +
		`{"id":"host_clock_skew","status":"MAYBE"},` +
		`{"id":"host_proxy_without_no_proxy","status":"FAIL","evidence":` + deep + `},` +
		`{"id":"host_agent_not_running","status":"FAIL","evidence":[1]}` +
		`]}`
	r, err := Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Check{}
	for _, c := range r.Checks {
		by[c.ID] = c
	}
	if r.Host.OS != "xy" {
		t.Errorf("control character kept in host.os: %q", r.Host.OS)
	}
	if c := by[CheckIMDSUnreachable]; c.Status != Pass || !strings.HasSuffix(c.Detail, truncMark) || len([]rune(c.Detail)) != MaxDetail+len(truncMark) {
		t.Errorf("first entry of a repeated id should win, detail capped: %s %d", c.Status, len(c.Detail))
	}
	if c := by["host_made_up"]; c.Status != Error || !strings.Contains(c.Detail, "unknown host check id") {
		t.Errorf("unknown id: %+v", c)
	}
	if c := by["host_invalid_check_3"]; c.Status != Error || !strings.Contains(c.Detail, "malformed id") {
		t.Errorf("malformed id: %+v", c)
	}
	if c := by[CheckClockSkew]; c.Status != Error || !strings.Contains(c.Detail, `invalid status "MAYBE"`) {
		t.Errorf("bad status: %+v", c)
	}
	if c := by[CheckProxyWithoutNoProxy]; c.Status != Fail || !c.Truncated {
		t.Errorf("deep evidence should be cut and marked: %+v", c)
	}
	if c := by[CheckAgentNotRunning]; c.Status != Error || !strings.Contains(c.Detail, "not an object") {
		t.Errorf("evidence not an object: %+v", c)
	}
	if c := by[CheckIMDSThrottled]; c.Status != Error || !strings.Contains(c.Detail, "left this check out") {
		t.Errorf("omitted check: %+v", c)
	}
	for _, id := range CheckIDs() {
		if _, ok := by[id]; !ok {
			t.Errorf("known check %s missing from the parsed report", id)
		}
	}
}

func TestFindings(t *testing.T) {
	in := sampleReport()
	in.Checks[1] = Check{ID: CheckIMDSBlockedByFirewall, Status: Fail, Detail: "REJECT rule", Truncated: true, Evidence: map[string]any{"rules": []any{}}}
	in.Checks[2] = Check{ID: CheckProxyWithoutNoProxy, Status: Error, Detail: "cannot read /proc"}
	r, err := Parse(mustEncode(t, in))
	if err != nil {
		t.Fatal(err)
	}
	fs := Findings(r, "111122223333", "eu-west-1")
	if len(fs) != 2 {
		t.Fatalf("%d findings, want 2: %+v", len(fs), fs)
	}
	fw, px := fs[0], fs[1]
	if fw.Check != CheckIMDSBlockedByFirewall || fw.Status != checks.Fail || fw.Severity != checks.High ||
		fw.Resource != "i-0123456789abcdef0" || fw.ResourceType != checks.TypeInstance || fw.Account != "111122223333" ||
		fw.Remediation == nil || fw.Remediation.ID != ActionRemoveIMDSFirewallRule || fw.Remediation.Document != RepairDocumentName ||
		fw.Evidence["truncated"] != true {
		t.Errorf("firewall finding %+v", fw)
	}
	if _, ok := r.Checks[1].Evidence["truncated"]; ok {
		t.Error("Findings changed the report's evidence")
	}
	if px.Status != checks.Error || px.Remediation != nil || px.Detail != "cannot read /proc" {
		t.Errorf("proxy finding %+v", px)
	}
	for _, m := range Catalogue() {
		if m.Family != FamilyHost || m.Title == "" || m.Risk == "" || m.Severity.Rank() == 0 {
			t.Errorf("catalogue entry %+v", m)
		}
		if checks.Lookup(m.ID) != nil {
			t.Errorf("%s is both an API-side and a host check", m.ID)
		}
	}
	if len(Catalogue()) != len(CheckIDs())+len(OrchestrationCheckIDs()) {
		t.Errorf("catalogue has %d entries for %d check ids and %d orchestration ids", len(Catalogue()), len(CheckIDs()), len(OrchestrationCheckIDs()))
	}
}

// FuzzParse: whatever a host prints, Parse returns a report or an error,
// never panics, and a report it returns keeps its promises.
func FuzzParse(f *testing.F) {
	good, _ := Encode(sampleReport())
	f.Add(good)
	f.Add([]byte(`{"schema":1,"host":{"instanceId":"i-0123456789abcdef0","platform":"Windows"},"checks":[{"id":"x","status":"FAIL","evidence":{"a":[[[["b"]]]]}}]}`))
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		if r.Schema != SchemaVersion || !instancePattern.MatchString(r.Host.InstanceID) {
			t.Fatalf("accepted a bad host block: %+v", r.Host)
		}
		if len(r.Checks) > MaxChecks+len(CheckIDs()) {
			t.Fatalf("%d checks", len(r.Checks))
		}
		seen := map[string]bool{}
		for _, c := range r.Checks {
			if seen[c.ID] || !checkIDPattern.MatchString(c.ID) {
				t.Fatalf("duplicate or malformed id %q", c.ID)
			}
			seen[c.ID] = true
			if c.Status != Pass && c.Status != Fail && c.Status != Error {
				t.Fatalf("status %q", c.Status)
			}
			if len([]rune(c.Detail)) > MaxDetail+len(truncMark) {
				t.Fatalf("detail of %d runes", len([]rune(c.Detail)))
			}
		}
		if _, err := Encode(r); err != nil {
			t.Fatalf("a parsed report does not encode: %v", err)
		}
		_ = Findings(r, "111122223333", "eu-west-1")
	})
}
