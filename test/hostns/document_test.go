package hostns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	sandboxhost "github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

// maxDocumentBytes is SSM's limit on a document's content (DESIGN §7).
const maxDocumentBytes = 64 * 1024

// TestDiagnoseDocumentShape checks what pkg/sandbox/host and SSM rely on:
// a schema 2.2 Command document with the two named steps and their
// platform preconditions, every optional String parameter constrained and
// passed as an environment variable, read by both scripts with the
// fallback for agents older than 3.3.2746.0.
func TestDiagnoseDocumentShape(t *testing.T) {
	t.Parallel()
	b, err := documents.Read(sandboxhost.DiagnoseDocument)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= maxDocumentBytes {
		t.Errorf("document is %d bytes; SSM's limit is %d", len(b), maxDocumentBytes)
	}
	var doc struct {
		SchemaVersion string `yaml:"schemaVersion"`
		Description   string `yaml:"description"`
		Parameters    map[string]struct {
			Type              string `yaml:"type"`
			Default           *string
			AllowedPattern    string `yaml:"allowedPattern"`
			InterpolationType string `yaml:"interpolationType"`
		} `yaml:"parameters"`
		MainSteps []struct {
			Action       string              `yaml:"action"`
			Name         string              `yaml:"name"`
			Precondition map[string][]string `yaml:"precondition"`
			Inputs       struct {
				RunCommand []string `yaml:"runCommand"`
			} `yaml:"inputs"`
		} `yaml:"mainSteps"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != "2.2" || strings.TrimSpace(doc.Description) == "" {
		t.Errorf("schemaVersion %q, description %q", doc.SchemaVersion, doc.Description)
	}
	want := []struct{ name, action, platform string }{
		{sandboxhost.DiagnoseLinuxStep, "aws:runShellScript", "Linux"},
		{sandboxhost.DiagnoseWindowsStep, "aws:runPowerShellScript", "Windows"},
	}
	if len(doc.MainSteps) != len(want) {
		t.Fatalf("%d steps, want %d", len(doc.MainSteps), len(want))
	}
	for i, w := range want {
		s := doc.MainSteps[i]
		if s.Name != w.name || s.Action != w.action {
			t.Errorf("step %d = %s %s, want %s %s", i, s.Name, s.Action, w.name, w.action)
		}
		if pc := s.Precondition["StringEquals"]; len(pc) != 2 || pc[0] != "platformType" || pc[1] != w.platform || len(s.Precondition) != 1 {
			t.Errorf("step %s precondition = %v", s.Name, s.Precondition)
		}
		if len(s.Inputs.RunCommand) == 0 {
			t.Errorf("step %s has no script", s.Name)
		}
	}
	for name, p := range doc.Parameters {
		if p.Type != "String" || p.Default == nil {
			continue
		}
		if p.AllowedPattern == "" || p.InterpolationType != "ENV_VAR" {
			t.Errorf("parameter %s: allowedPattern %q, interpolationType %q", name, p.AllowedPattern, p.InterpolationType)
			continue
		}
		re, err := regexp.Compile(p.AllowedPattern)
		if err != nil {
			t.Errorf("parameter %s: %v", name, err)
			continue
		}
		if !re.MatchString(*p.Default) {
			t.Errorf("parameter %s: default %q does not match %s", name, *p.Default, p.AllowedPattern)
		}
		linux := strings.Join(doc.MainSteps[0].Inputs.RunCommand, "\n")
		windows := strings.Join(doc.MainSteps[1].Inputs.RunCommand, "\n")
		fallback := fmt.Sprintf(`if [ -z "${SSM_%[1]s+x}" ]; then SSM_%[1]s="{{ %[1]s }}"; fi`, name)
		if !strings.Contains(linux, fallback) {
			t.Errorf("the Linux script does not read %s as SSM_%s with the old-agent fallback %s", name, name, fallback)
		}
		if !strings.Contains(windows, "$env:SSM_"+name) || !strings.Contains(windows, "'{{ "+name+" }}'") {
			t.Errorf("the Windows script does not read %s as $env:SSM_%s with the old-agent fallback", name, name)
		}
	}
	region := doc.Parameters["Region"]
	re := regexp.MustCompile(region.AllowedPattern)
	for v, ok := range map[string]bool{"": true, "eu-west-1": true, "us-gov-west-1": true, "cn-north-1": true,
		"eu-west-1; reboot": false, `eu-west-1"`: false, "$(id)": false, "eu-west-1\n": false} {
		if re.MatchString(v) != ok {
			t.Errorf("Region allowedPattern accepts %q = %v, want %v", v, !ok, ok)
		}
	}
}

// TestDiagnoseScriptShellcheck runs shellcheck on the Linux script as the
// agent writes it. It needs no root.
func TestDiagnoseScriptShellcheck(t *testing.T) {
	t.Parallel()
	requireTool(t, "shellcheck")
	cmd := exec.Command("shellcheck", "-s", "bash", "-")
	cmd.Stdin = strings.NewReader(diagnoseScript(t))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("shellcheck -s bash: %v\n%s", err, out.String())
	}
}

// TestDiagnoseWorstCaseOutput fills a host with everything the report
// quotes — hundreds of long firewall rules in iptables, ip6tables and
// nftables, a flood of long credential errors, huge proxy settings,
// many drop-ins — and checks the script caps its own output to
// hostdiag.MaxOutput while still reporting every check.
func TestDiagnoseWorstCaseOutput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 250)
	var ipt, ip6t, nft strings.Builder
	ipt.WriteString("*filter\n")
	ip6t.WriteString("*filter\n")
	for i := range 150 {
		fmt.Fprintf(&ipt, "-A OUTPUT -d 169.254.169.254/32 -p tcp --dport %d -m owner --uid-owner %d-%d -m comment --comment \"%03d%s\" -j REJECT\n", 1000+i, 1000+i, 2000+i, i, long)
		fmt.Fprintf(&ip6t, "-A OUTPUT -d fd00:ec2::254/128 -p tcp --dport %d -m comment --comment \"%03d%s\" -j DROP\n", 1000+i, i, long)
	}
	ipt.WriteString("COMMIT\n")
	ip6t.WriteString("COMMIT\n")
	nft.WriteString("table inet fdworst {\n chain out {\n  type filter hook output priority 0;\n")
	for i := range 150 {
		fmt.Fprintf(&nft, "  ip daddr 169.254.169.254 tcp dport %d meta skuid %d drop comment \"%03d%s\"\n", 3000+i, 3000+i, i, long[:120])
	}
	nft.WriteString(" }\n}\n")

	var log strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&log, "2025-03-04 10:%02d:%02d ERROR [CredentialRefresher] EC2RoleRequestError: no EC2 instance role found %d %s\x01\"\\\n", i/60%60, i%60, i, strings.Repeat("é<>&", 400))
	}
	files := map[string]string{
		agentLogPath:       log.String(),
		"/etc/environment": "http_proxy=http://u:p@127.0.0.1:3128\nno_proxy=" + strings.Repeat("host.example.com,", 2000) + "\n",
	}
	for i := range 40 {
		files[fmt.Sprintf("/etc/systemd/system/amazon-ssm-agent.service.d/%02d-%s.conf", i, long[:100])] =
			"[Service]\nEnvironment=\"HTTP_PROXY=http://127.0.0.1:3128/" + long + "\" \"NO_PROXY=" + strings.Repeat("a.example,", 500) + "\"\n"
	}
	h := newHost(t, hostOptions{
		Files:    files,
		AgentEnv: []string{"HTTP_PROXY=http://127.0.0.1:3128/" + strings.Repeat("p", 5000), "NO_PROXY=" + strings.Repeat("b.example,", 1000)},
	})
	for name, rules := range map[string]string{"ipt.rules": ipt.String(), "ip6t.rules": ip6t.String(), "nft.rules": nft.String()} {
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte(rules), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.sh("iptables-restore --noflush < " + shq(filepath.Join(h.dir, "ipt.rules")) +
		" && ip6tables-restore --noflush < " + shq(filepath.Join(h.dir, "ip6t.rules")) +
		" && nft -f " + shq(filepath.Join(h.dir, "nft.rules")))

	rep, res := h.diagnose(nil) // fails the test when over MaxOutput or not a report
	t.Logf("worst-case report: %d characters (limit %d), script ran %s", len([]rune(res.Stdout)), hostdiag.MaxOutput, res.Duration.Round(1e6))
	r := index(t, rep, res.Stdout)
	if !r.checks[cFirewall].Truncated || !r.checks[cCreds].Truncated {
		t.Errorf("firewall truncated=%v, credential errors truncated=%v; want both marked", r.checks[cFirewall].Truncated, r.checks[cCreds].Truncated)
	}
	r.eq(t, cCreds, 3000, "count")
	if r.checks[cFirewall].Status != hostdiag.Fail || !strings.Contains(r.checks[cFirewall].Detail, "450 firewall rule(s)") {
		t.Errorf("firewall = %s: %s", r.checks[cFirewall].Status, r.checks[cFirewall].Detail)
	}
	if strings.ContainsAny(res.Stdout, "\x01é") {
		t.Errorf("control or non-ASCII bytes reached the report")
	}

	// The script shrinks its caps level by level until the report fits;
	// this host's report fits at the first level, so lower the limit in
	// the script text to make it take the others.
	const limit = 6000
	script := strings.Replace(diagnoseScript(t), "MAXOUT=24000", fmt.Sprintf("MAXOUT=%d", limit), 1)
	if script == diagnoseScript(t) {
		t.Fatal("the script no longer sets MAXOUT=24000")
	}
	rep, res = h.diagnoseScript(script, nil)
	t.Logf("with the limit at %d: %d characters", limit, len(res.Stdout))
	if n := len([]rune(strings.TrimSpace(res.Stdout))); n > limit {
		t.Errorf("report is %d characters with the limit at %d", n, limit)
	}
	r = index(t, rep, res.Stdout)
	if r.checks[cFirewall].Status != hostdiag.Fail || !r.checks[cFirewall].Truncated {
		t.Errorf("firewall = %s, truncated=%v", r.checks[cFirewall].Status, r.checks[cFirewall].Truncated)
	}
}
