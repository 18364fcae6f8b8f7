package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), "policy.yaml")
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror: %v", src, err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	p := mustParse(t, "version: 1\n")
	want := &Policy{
		Version:      1,
		Remediations: map[string]Remediation{},
		Tokens:       TokensPolicy{Window: 14 * 24 * time.Hour},
		HopLimit:     HopLimitPolicy{Target: 2, NestedTarget: 3},
		Caps:         Caps{PerRun: 50, PerAccount: 25},
		Waves:        Waves{Canary: 5, Growth: 4, Max: 100},
		MaxErrors:    "5%",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", p, want)
	}
	if !reflect.DeepEqual(Default(), want) {
		t.Errorf("Default() = %+v, want %+v", Default(), want)
	}
	for _, id := range RemediationIDs() {
		if p.Enabled(id) {
			t.Errorf("%s enabled by default", id)
		}
	}
	if got := p.EnabledIDs(); len(got) != 0 {
		t.Errorf("EnabledIDs = %v, want none", got)
	}
	// Empty sections take the defaults too.
	q := mustParse(t, "version: 1\ntokens: {}\nhopLimit: {}\ncaps: {}\nwaves: {}\nremediations: {}\n")
	if !reflect.DeepEqual(q, want) {
		t.Errorf("empty sections:\n got %+v\nwant %+v", q, want)
	}
}

func TestParseFull(t *testing.T) {
	p := mustParse(t, `
version: 1
remediations:
  imds_require_tokens: {enabled: true}
  imds_enable_endpoint: {enabled: true}
  dhmc_enable: {enabled: false}
  iam_attach_instance_profile: {enabled: true}
tokens: {window: 1d12h, force: [i-0123456789abcdef0]}
hopLimit: {containerHostsNeedIMDS: true, target: 3, nestedTarget: 4, keepIrsaClusters: [prod]}
instanceProfileName: SSMProfile
dhmcRoleName: service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole
noProxyHosts: [ssm.eu-west-1.amazonaws.com, .amazonaws.com]
agentMinVersion: "3.3.40.0"
caps: {perRun: 10}
waves: {canary: 1, growth: 2, max: 8}
maxErrors: 3
exemptions:
  - {instanceId: i-0123abcd, owner: team-a, expires: 2027-03-31, reason: legacy}
  - {instanceId: i-0123abce, owner: team-b, expires: "2027-03-31T12:00:00+02:00"}
`)
	if got, want := p.EnabledIDs(), []string{EnableEndpoint, RequireTokens, AttachProfile}; !slices.Equal(got, want) {
		t.Errorf("EnabledIDs = %v, want %v", got, want)
	}
	if _, ok := p.Remediations[EnableDHMC]; !ok || p.Enabled(EnableDHMC) {
		t.Errorf("dhmc_enable should be configured and off: %+v", p.Remediations)
	}
	if p.Tokens.Window != 36*time.Hour || !slices.Equal(p.Tokens.Force, []string{"i-0123456789abcdef0"}) {
		t.Errorf("tokens = %+v", p.Tokens)
	}
	if want := (HopLimitPolicy{ContainerHostsNeedIMDS: true, Target: 3, NestedTarget: 4, KeepIRSAClusters: []string{"prod"}}); !reflect.DeepEqual(p.HopLimit, want) {
		t.Errorf("hopLimit = %+v", p.HopLimit)
	}
	if p.Caps != (Caps{PerRun: 10, PerAccount: 25}) || p.Waves != (Waves{1, 2, 8}) || p.MaxErrors != "3" {
		t.Errorf("caps %+v waves %+v maxErrors %q", p.Caps, p.Waves, p.MaxErrors)
	}
	if p.InstanceProfileName != "SSMProfile" || p.AgentMinVersion != "3.3.40.0" || len(p.NoProxyHosts) != 2 {
		t.Errorf("strings: %+v", p)
	}
	want := []Exemption{
		{InstanceID: "i-0123abcd", Owner: "team-a", Expires: time.Date(2027, 3, 31, 23, 59, 59, 0, time.UTC), Reason: "legacy"},
		{InstanceID: "i-0123abce", Owner: "team-b", Expires: time.Date(2027, 3, 31, 10, 0, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(p.Exemptions, want) {
		t.Errorf("exemptions:\n got %+v\nwant %+v", p.Exemptions, want)
	}
}

func TestParseJSON(t *testing.T) {
	p := mustParse(t, `{"version": 1, "remediations": {"imds_enable_endpoint": {"enabled": true}}, "maxErrors": "10%"}`)
	if !p.Enabled(EnableEndpoint) || p.MaxErrors != "10%" {
		t.Errorf("JSON policy: %+v", p)
	}
}

// TestRejected checks every rule: the policy is nil and the error names
// the field's path (and, where it matters, says why).
func TestRejected(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		path      string   // the problem's path
		want      []string // in the message
	}{
		{"empty", "", "", []string{"is empty"}},
		{"comments only", "# nothing\n", "", []string{"is empty"}},
		{"not yaml", "version: [1\n", "", []string{"not valid YAML"}},
		{"two documents", "version: 1\n---\nversion: 1\n", "", []string{"more than one YAML document"}},
		{"not a mapping", "- version: 1\n", "", []string{"must be a mapping, not a list"}},
		{"no version", "caps: {perRun: 3}\n", "/version", []string{"is required"}},
		{"version 2", "version: 2\n", "/version", []string{"must be 1"}},
		{"version string", "version: one\n", "/version", []string{"must be 1"}},
		{"unknown top-level key", "version: 1\ndryRun: false\n", "/dryRun", []string{"unknown field", "known: agentMinVersion, caps,"}},
		{"duplicate key", "version: 1\nmaxErrors: 1\nmaxErrors: 2\n", "/maxErrors", []string{"given twice"}},
		{"merge key", "version: 1\ncaps: {<<: {perRun: 1}}\n", "/caps", []string{"merge key"}},
		{"unknown remediation", "version: 1\nremediations:\n  imds_fix_everything: {enabled: true}\n", "/remediations/imds_fix_everything",
			[]string{"unknown remediation (known: ", "dhmc_enable", "imds_require_tokens"}},
		{"remediation without enabled", "version: 1\nremediations: {imds_enable_endpoint: {}}\n", "/remediations/imds_enable_endpoint/enabled", []string{"is required"}},
		{"remediation as bool", "version: 1\nremediations: {imds_enable_endpoint: true}\n", "/remediations/imds_enable_endpoint", []string{"must be a mapping, not true or false"}},
		{"enabled not bool", "version: 1\nremediations: {imds_enable_endpoint: {enabled: 1}}\n", "/remediations/imds_enable_endpoint/enabled", []string{"must be true or false"}},
		{"remediation unknown param", "version: 1\nremediations: {imds_enable_endpoint: {enabled: true, force: true}}\n", "/remediations/imds_enable_endpoint/force", []string{"unknown field (known: enabled)"}},
		{"cap per run zero", "version: 1\ncaps: {perRun: 0}\n", "/caps/perRun", []string{"must be >= 1", "a cap of 0 would allow no change"}},
		{"cap per account zero", "version: 1\ncaps: {perAccount: 0}\n", "/caps/perAccount", []string{"must be >= 1", "cap of 0"}},
		{"cap negative", "version: 1\ncaps: {perRun: -5}\n", "/caps/perRun", []string{"must be >= 1"}},
		{"cap fraction", "version: 1\ncaps: {perRun: 2.5}\n", "/caps/perRun", []string{"must be a whole number, not a number"}},
		{"cap string", "version: 1\ncaps: {perRun: many}\n", "/caps/perRun", []string{"must be a whole number, not a string"}},
		{"cap huge", "version: 1\ncaps: {perRun: 99999999999}\n", "/caps/perRun", []string{"must be <= 1000000"}},
		{"caps unknown", "version: 1\ncaps: {perRegion: 3}\n", "/caps/perRegion", []string{"unknown field (known: perAccount, perRun)"}},
		{"wave canary zero", "version: 1\nwaves: {canary: 0}\n", "/waves/canary", []string{"must be >= 1"}},
		{"wave growth zero", "version: 1\nwaves: {growth: 0}\n", "/waves/growth", []string{"must be >= 1"}},
		{"wave max zero", "version: 1\nwaves: {max: 0}\n", "/waves/max", []string{"must be >= 1"}},
		{"canary above max", "version: 1\nwaves: {canary: 20, max: 10}\n", "/waves/canary", []string{"must be <= waves.max (10)"}},
		{"hop target 1", "version: 1\nhopLimit: {target: 1}\n", "/hopLimit/target", []string{"must be >= 2"}},
		{"hop target 65", "version: 1\nhopLimit: {target: 65}\n", "/hopLimit/target", []string{"must be <= 64"}},
		{"hop nested 0", "version: 1\nhopLimit: {nestedTarget: 0}\n", "/hopLimit/nestedTarget", []string{"must be >= 1"}},
		{"hop nested 65", "version: 1\nhopLimit: {nestedTarget: 65}\n", "/hopLimit/nestedTarget", []string{"must be <= 64"}},
		{"hop nested below target", "version: 1\nhopLimit: {target: 4}\n", "/hopLimit/nestedTarget", []string{"must be >= hopLimit.target (4)"}},
		{"bad cluster", "version: 1\nhopLimit: {keepIrsaClusters: [\"prod cluster\"]}\n", "/hopLimit/keepIrsaClusters/0", []string{"EKS cluster name"}},
		{"maxErrors negative", "version: 1\nmaxErrors: -1\n", "/maxErrors", []string{"must be >= 0"}},
		{"maxErrors percent over", "version: 1\nmaxErrors: 101%\n", "/maxErrors", []string{"percentage from 0% to 100%"}},
		{"maxErrors negative percent", "version: 1\nmaxErrors: -5%\n", "/maxErrors", []string{"percentage"}},
		{"maxErrors word", "version: 1\nmaxErrors: some\n", "/maxErrors", []string{"a count (3) or a percentage"}},
		{"maxErrors fraction", "version: 1\nmaxErrors: 1.5\n", "/maxErrors", []string{"must be a whole number or a string, not a number"}},
		{"window word", "version: 1\ntokens: {window: fortnight}\n", "/tokens/window", []string{"days (14d)"}},
		{"window number", "version: 1\ntokens: {window: 14}\n", "/tokens/window", []string{"must be a string, not a number (put it in quotes)"}},
		{"window empty", "version: 1\ntokens: {window: \"\"}\n", "/tokens/window", []string{"days (14d)"}},
		{"window zero", "version: 1\ntokens: {window: 0d}\n", "/tokens/window", []string{"longer than 0"}},
		{"window too long", "version: 1\ntokens: {window: 456d}\n", "/tokens/window", []string{"at most 455d"}},
		{"window overflow", "version: 1\ntokens: {window: 99999999999999d}\n", "/tokens/window", []string{"too long"}},
		{"force bad id", "version: 1\ntokens: {force: [i-0123456789abcdef0, i-XYZ]}\n", "/tokens/force/1", []string{"instance id"}},
		{"force short id", "version: 1\ntokens: {force: [i-1234567]}\n", "/tokens/force/0", []string{"instance id"}},
		{"force long id", "version: 1\ntokens: {force: [i-0123456789abcdef01]}\n", "/tokens/force/0", []string{"instance id"}},
		{"force upper id", "version: 1\ntokens: {force: [i-0123456789ABCDEF0]}\n", "/tokens/force/0", []string{"instance id"}},
		{"tokens null", "version: 1\ntokens:\n", "/tokens", []string{"must be a mapping, not empty"}},
		{"exemption bad id", "version: 1\nexemptions: [{instanceId: web-1, owner: a, expires: 2027-01-01}]\n", "/exemptions/0/instanceId", []string{"instance id"}},
		{"exemption no owner", "version: 1\nexemptions: [{instanceId: i-0123abcd, expires: 2027-01-01}]\n", "/exemptions/0/owner", []string{"is required"}},
		{"exemption empty owner", "version: 1\nexemptions: [{instanceId: i-0123abcd, owner: \"\", expires: 2027-01-01}]\n", "/exemptions/0/owner", []string{"must not be empty"}},
		{"exemption no expiry", "version: 1\nexemptions: [{instanceId: i-0123abcd, owner: a}]\n", "/exemptions/0/expires", []string{"is required"}},
		{"exemption no id", "version: 1\nexemptions: [{owner: a, expires: 2027-01-01}]\n", "/exemptions/0/instanceId", []string{"is required"}},
		{"exemption bad expiry", "version: 1\nexemptions: [{instanceId: i-0123abcd, owner: a, expires: soon}]\n", "/exemptions/0/expires", []string{"date (YYYY-MM-DD)"}},
		{"exemption impossible date", "version: 1\nexemptions: [{instanceId: i-0123abcd, owner: a, expires: 2027-02-30}]\n", "/exemptions/0/expires", []string{"date (YYYY-MM-DD)"}},
		{"exemption unknown key", "version: 1\nexemptions: [{instanceId: i-0123abcd, owner: a, expires: 2027-01-01, until: x}]\n", "/exemptions/0/until", []string{"unknown field"}},
		{"exemption duplicate", "version: 1\nexemptions:\n- {instanceId: i-0123abcd, owner: a, expires: 2027-01-01}\n- {instanceId: i-0123abcd, owner: b, expires: 2027-01-01}\n",
			"/exemptions/1/instanceId", []string{"already exempted by /exemptions/0"}},
		{"profile needed", "version: 1\nremediations: {iam_attach_instance_profile: {enabled: true}}\n", "/instanceProfileName",
			[]string{"is required when iam_attach_instance_profile is enabled"}},
		{"profile arn", "version: 1\ninstanceProfileName: arn:aws:iam::111122223333:instance-profile/x\n", "/instanceProfileName", []string{"not an ARN"}},
		{"profile empty", "version: 1\ninstanceProfileName: \"\"\n", "/instanceProfileName", []string{"instance profile name"}},
		{"dhmc role needed", "version: 1\nremediations: {dhmc_enable: {enabled: true}}\n", "/dhmcRoleName", []string{"is required when dhmc_enable is enabled"}},
		{"dhmc role leading slash", "version: 1\ndhmcRoleName: /service-role/X\n", "/dhmcRoleName", []string{"no leading slash"}},
		{"dhmc role bad chars", "version: 1\ndhmcRoleName: \"role;rm -rf\"\n", "/dhmcRoleName", []string{"role name"}},
		{"dhmc role too long", "version: 1\ndhmcRoleName: " + strings.Repeat("r", 65) + "\n", "/dhmcRoleName", []string{"role name"}},
		{"no proxy url", "version: 1\nnoProxyHosts: [\"https://ssm.eu-west-1.amazonaws.com\"]\n", "/noProxyHosts/0", []string{"host name"}},
		{"no proxy comma", "version: 1\nnoProxyHosts: [\"a.example.com,b.example.com\"]\n", "/noProxyHosts/0", []string{"host name"}},
		{"no proxy shell", "version: 1\nnoProxyHosts: [ok.example.com, \"$(reboot)\"]\n", "/noProxyHosts/1", []string{"host name"}},
		{"no proxy port", "version: 1\nnoProxyHosts: [\"ssm.example.com:443\"]\n", "/noProxyHosts/0", []string{"host name"}},
		{"agent version words", "version: 1\nagentMinVersion: latest\n", "/agentMinVersion", []string{"dotted digits"}},
		{"agent version trailing dot", "version: 1\nagentMinVersion: \"3.3.\"\n", "/agentMinVersion", []string{"dotted digits"}},
		{"agent version unquoted", "version: 1\nagentMinVersion: 3.3\n", "/agentMinVersion", []string{"put it in quotes"}},
		{"alias bomb", aliasBomb(), "", []string{"expands to more than"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.src), "policy.yaml")
			if p != nil {
				t.Errorf("policy not nil on error: %+v", p)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if !slices.Contains(pe.Paths(), tc.path) {
				t.Errorf("paths %q lack %q; error:\n%v", pe.Paths(), tc.path, err)
			}
			msg := err.Error()
			prefix := "policy.yaml: "
			if tc.path != "" {
				prefix += tc.path + ": "
			}
			if !strings.Contains(msg, prefix) {
				t.Errorf("error lacks %q:\n%s", prefix, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

// aliasBomb is a "billion laughs" document.
func aliasBomb() string {
	var sb strings.Builder
	sb.WriteString("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		sb.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("*a" + string(rune('0'+i-1)))
		}
		sb.WriteString("]\n")
	}
	return sb.String()
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse([]byte("version: 1\ncaps:\n  perRun: 0\n  perAccount: 0\nbogus: 1\n"), "policy.yaml")
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 problems, one a line:\n%s", err)
	}
	for i, want := range []string{
		"policy.yaml: /caps/perRun: must be >= 1: a cap of 0 would allow no change at all",
		"policy.yaml: /caps/perAccount: must be >= 1",
		"policy.yaml: /bogus: unknown field",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want)
		}
	}
	for i, l := range []int{3, 4, 5} {
		if pe.Problems[i].Line != l {
			t.Errorf("problem %d line %d, want %d", i, pe.Problems[i].Line, l)
		}
	}
	if !strings.HasSuffix(lines[0], "(line 3)") {
		t.Errorf("no line number: %q", lines[0])
	}
}

func TestAliasesAllowed(t *testing.T) {
	p := mustParse(t, `
version: 1
exemptions:
  - {instanceId: i-0123abcd, owner: &o team@example.com, expires: 2027-01-01}
  - {instanceId: i-0123abce, owner: *o, expires: 2027-01-01}
`)
	if p.Exemptions[1].Owner != "team@example.com" {
		t.Errorf("alias not resolved: %+v", p.Exemptions)
	}
}

func TestWindowSyntax(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"14d": 14 * 24 * time.Hour, "336h": 336 * time.Hour, "1d12h": 36 * time.Hour,
		"90m": 90 * time.Minute, "1.5h": 90 * time.Minute, "455d": MaxTokensWindow,
	} {
		p := mustParse(t, "version: 1\ntokens: {window: "+in+"}\n")
		if p.Tokens.Window != want {
			t.Errorf("window %s = %v, want %v", in, p.Tokens.Window, want)
		}
	}
	for d, want := range map[time.Duration]string{14 * 24 * time.Hour: "14d", 36 * time.Hour: "36h0m0s", 90 * time.Minute: "1h30m0s"} {
		if got := FormatWindow(d); got != want {
			t.Errorf("FormatWindow(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseWindow(FormatWindow(d)); err != nil || back != d {
			t.Errorf("ParseWindow(FormatWindow(%v)) = %v, %v", d, back, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, src := range []string{
		"version: 1\n",
		readExample(t),
		`version: 1
remediations: {imds_set_hop_limit: {enabled: true}, host_restart_agent: {enabled: false}}
tokens: {window: 90m}
maxErrors: "7"
exemptions:
  - {instanceId: i-0123abce, owner: team-b, expires: "2027-03-31T12:00:00.5+02:00"}
`,
	} {
		p := mustParse(t, src)
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse(out, "marshalled")
		if err != nil {
			t.Fatalf("re-parse of\n%s\n%v", out, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("round trip differs:\n first %+v\nsecond %+v\nYAML:\n%s", p, q, out)
		}
	}
}

func readExample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestExampleValidates(t *testing.T) {
	p, err := Load(filepath.Join("..", "..", "examples", "policy.yaml"))
	if err != nil {
		t.Fatalf("examples/policy.yaml: %v", err)
	}
	if got, want := p.EnabledIDs(), []string{EnableEndpoint, RequireTokens, SetHopLimit, AttachProfile}; !slices.Equal(got, want) {
		t.Errorf("example enables %v, want %v", got, want)
	}
	if len(p.Exemptions) == 0 || len(p.Tokens.Force) == 0 || p.InstanceProfileName == "" {
		t.Errorf("example lost content: %+v", p)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("version: 1\n"+strings.Repeat("# padding\n", MaxFileSize/10+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := Load(big); p != nil || err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v, %v", p, err)
	}
}

func TestMaxErrorsFor(t *testing.T) {
	for _, tc := range []struct {
		maxErrors string
		planned   int
		want      int
	}{
		{"5%", 100, 5},
		{"5%", 10, 1}, // ceil(0.5)
		{"5%", 20, 1},
		{"5%", 21, 2}, // ceil(1.05)
		{"5%", 0, 0},
		{"0%", 1000, 0},
		{"100%", 7, 7},
		{"2.5%", 40, 1},
		{"2.5%", 41, 2},
		{"33.3%", 3, 1}, // 0.999 -> 1
		{"3", 1000, 3},
		{"3", 1, 3},
		{"0", 10, 0},
		{"", 10, 0},      // zero-value policy: no failure tolerated
		{"bogus", 10, 0}, // unparsable (built in code): none either
	} {
		p := &Policy{MaxErrors: tc.maxErrors}
		if got := p.MaxErrorsFor(tc.planned); got != tc.want {
			t.Errorf("MaxErrors %q, planned %d: got %d, want %d", tc.maxErrors, tc.planned, got, tc.want)
		}
	}
	// Exact arithmetic: 5% of 100 is 5, never 6 through float rounding.
	for n := 0; n <= 10000; n += 20 {
		p := &Policy{MaxErrors: "5%"}
		if got := p.MaxErrorsFor(n); got != n/20 {
			t.Fatalf("5%% of %d = %d, want %d", n, got, n/20)
		}
	}
}

// TestSchemaCoversRemediations keeps the schema's remediation ids and the
// Go constants in step.
func TestSchemaCoversRemediations(t *testing.T) {
	var s struct {
		Properties struct {
			Remediations struct {
				Properties map[string]any `json:"properties"`
			} `json:"remediations"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range s.Properties.Remediations.Properties {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	want := slices.Sorted(slices.Values(RemediationIDs()))
	if !slices.Equal(ids, want) {
		t.Errorf("schema remediations %v, Go %v", ids, want)
	}
	for _, id := range RemediationIDs() {
		mustParse(t, "version: 1\ninstanceProfileName: p\ndhmcRoleName: r\nremediations: {"+id+": {enabled: true}}\n")
	}
}
