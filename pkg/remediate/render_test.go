package remediate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
)

func renderFixture(t *testing.T) *Plan {
	t.Helper()
	var insts []inventory.Instance
	for i := range 8 {
		in := healthy(i)
		in.Metadata.HTTPEndpoint = "disabled"
		insts = append(insts, in)
	}
	v1 := healthy(20)
	v1.Metadata.HTTPTokens = "optional"
	v1.IMDSCalls = &inventory.IMDSCalls{HasData: true, NoToken: 12}
	evil := healthy(21)
	evil.Metadata.HTTPEndpoint = "disabled"
	evil.Tags[policy.ExemptTag] = "owner=\x1b[31mmallory\x1b[0m <!channel>\u202e;expires=2025-01-01"
	insts = append(insts, v1, evil)
	host := []checks.Finding{hostFinding(hostdiag.CheckIMDSBlockedByFirewall, insts[0].ID,
		"<@U123> \x1b]8;;https://evil.example\x07click\x1b]8;;\x07")}
	return build(t, fleet(insts...), allOn(), host...)
}

func TestWriteText(t *testing.T) {
	p := renderFixture(t)
	var sb strings.Builder
	if err := WriteText(&sb, p); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"Plan run-1 (2026-12-02T08:00:00Z): 9 changes in 2 batches; 2 findings skipped; 1 note\n",
		"\n111122223333 eu-west-1\n",
		"  imds_enable_endpoint: FleetDoctor-SetMetadataOptions (HttpEndpoint=enabled HttpPutResponseHopLimit=0 HttpTokens=unchanged)\n",
		"    8 instances in 1 batch: i-00000000000000000, i-00000000000000001, i-00000000000000002, i-00000000000000003, i-00000000000000004, i-00000000000000005 … and 2 more\n",
		"    HttpEndpoint: disabled → enabled (8)\n",
		"  host_remove_imds_firewall_rule: FleetDoctor-RepairHost (Actions=remove_imds_firewall_rules,restart_agent DryRun=false NoProxyHosts=ssm.eu-west-1.amazonaws.com)\n",
		"    1 instance in 1 batch: i-00000000000000000\n",
		"Skipped (2 findings):\n",
		"      1  MetadataNoToken was 12 over the last 336h: requiring tokens would break IMDSv1 callers (force it per instance in tokens.force)\n",
		"         imds_require_tokens 111122223333/eu-west-1 i-00000000000000014 (imds_v1_allowed)\n",
		"Notes (1):\n",
		"  exemption_expired 111122223333/eu-west-1 i-00000000000000015: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	// Untrusted text (the exempt tag's owner, the host's rule text) is
	// shown, never obeyed.
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "<!channel>", "<@U123>"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds %q:\n%s", bad, out)
		}
	}
	for _, want := range []string{`owner=\x1b[31mmallory\x1b[0m ‹!channel›\u202e expired 2025-01-01`, `firewall: ‹@U123› \x1b]8;;https://evil.example\x07click\x1b]8;;\x07 → no rule blocks 169.254.169.254 (1)`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing escaped %q in\n%s", want, out)
		}
	}
}

func TestWriteTextEmpty(t *testing.T) {
	p := build(t, fleet(healthy(1)), allOn())
	var sb strings.Builder
	if err := WriteText(&sb, p); err != nil {
		t.Fatal(err)
	}
	if want := "Plan run-1 (2026-12-02T08:00:00Z): 0 changes in 0 batches; 0 findings skipped; 0 notes\n\nNothing to change.\n"; sb.String() != want {
		t.Fatalf("got %q", sb.String())
	}
}

func TestPlanJSON(t *testing.T) {
	p := renderFixture(t)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Changes() != p.Changes() || len(back.Skips) != len(p.Skips) || back.Batches[0].Changes[0].ID != p.Batches[0].Changes[0].ID {
		t.Fatalf("round trip lost data: %s", b)
	}
	for _, key := range []string{`"runId":"run-1"`, `"batches":[`, `"remediation":"imds_enable_endpoint"`, `"params":{"HttpEndpoint":["enabled"]`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}
