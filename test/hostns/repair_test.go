package hostns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

const (
	repairDocument = "FleetDoctor-RepairHost"
	testProxy      = "http://10.255.255.1:3128"
	agentDropIn    = "/etc/systemd/system/amazon-ssm-agent.service.d/fleetdoctor-no-proxy.conf"
	proxyDropIn    = "/etc/systemd/system/amazon-ssm-agent.service.d/proxy.conf"
)

// repair runs the repair document's Linux script with the parameters as
// SSM_<Name> variables and parses its report with hostdiag.ParseRepair.
func (h *nsHost) repair(script string, env []string, wantCode int) hostdiag.RepairReport {
	h.t.Helper()
	res := h.run(script, env)
	if res.Code != wantCode {
		h.t.Fatalf("the repair script exited %d, want %d\nstdout:\n%s\nstderr:\n%s", res.Code, wantCode, res.Stdout, res.Stderr)
	}
	rep, err := hostdiag.ParseRepair([]byte(strings.TrimSuffix(res.Stdout, "\n")))
	if err != nil {
		h.t.Fatalf("hostdiag.ParseRepair: %v\nstdout:\n%s\nstderr:\n%s", err, res.Stdout, res.Stderr)
	}
	return rep
}

func repairStatuses(r hostdiag.RepairReport) map[string]hostdiag.RepairStatus {
	m := map[string]hostdiag.RepairStatus{}
	for _, a := range r.Actions {
		m[a.ID] = a.Status
	}
	return m
}

func wantRepair(t *testing.T, stage string, r hostdiag.RepairReport, want map[string]hostdiag.RepairStatus) {
	t.Helper()
	got := repairStatuses(r)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s = %q, want %q (report %+v)", stage, id, got[id], w, r.Actions)
		}
	}
}

// stagedExists says whether the run left a file at path.
func (h *nsHost) stagedExists(path string) bool {
	_, err := os.Stat(filepath.Join(h.root(), path))
	return err == nil
}

// The real repair script on a namespace host with a REJECT rule for IMDS,
// an agent proxy (set by a systemd drop-in) and a system proxy without
// 169.254.169.254 in no_proxy: a dry run (parameters interpolated as an old
// agent does) changes nothing; DryRun=false removes the rule and writes the
// NO_PROXY drop-in and /etc/environment, after which IMDS answers; a rerun
// reports unchanged. restart_agent (dry run only: the namespace has no
// systemd) notices the running agent lacks its drop-in's NO_PROXY.
func TestRepairHost(t *testing.T) {
	h := newHost(t, hostOptions{
		AgentEnv: []string{"HTTP_PROXY=" + testProxy, "HTTPS_PROXY=" + testProxy},
		Files: map[string]string{
			proxyDropIn:        "[Service]\nEnvironment=\"HTTP_PROXY=" + testProxy + "\" \"HTTPS_PROXY=" + testProxy + "\"\n",
			"/etc/environment": "LANG=C.UTF-8\nhttp_proxy=" + testProxy + "\nno_proxy=localhost,127.0.0.1\n",
		},
	})
	h.sh("iptables -A OUTPUT -d 169.254.169.254/32 -p tcp -j REJECT")
	rule := h.sh("iptables -S OUTPUT")
	if !strings.Contains(rule, "169.254.169.254") {
		t.Fatalf("test rule not in place: %s", rule)
	}
	before, _ := h.diagnose(nil)
	if c := index(t, before, "").checks[cFirewall]; c.Status != hostdiag.Fail {
		t.Fatalf("before the repair the firewall check is %s, want FAIL", c.Status)
	}
	script := linuxScript(t, repairDocument, "repairLinux")
	endpoint := "ssm." + testRegion + ".amazonaws.com"
	env := func(dry string) []string {
		return []string{"SSM_Actions=remove_imds_firewall_rules,add_no_proxy", "SSM_DryRun=" + dry, "SSM_NoProxyHosts=" + endpoint}
	}
	etcEnv := h.readFile("/etc/environment")

	// Dry run, with the parameters interpolated into the text as an agent
	// older than 3.3.2746.0 does (no SSM_ variables).
	old := strings.NewReplacer("{{ Actions }}", "remove_imds_firewall_rules,add_no_proxy", "{{ DryRun }}", "true", "{{ NoProxyHosts }}", endpoint).Replace(script)
	r := h.repair(old, nil, 0)
	if !r.DryRun || r.Host.Platform != "Linux" || r.Host.InstanceID != testInstanceID || r.Host.AgentVersion != testAgentVersion {
		t.Errorf("dry run report header = %+v", r)
	}
	wantRepair(t, "dry run", r, map[string]hostdiag.RepairStatus{
		hostdiag.ActionRemoveIMDSFirewallRule: hostdiag.RepairWouldChange,
		hostdiag.ActionAddNoProxy:             hostdiag.RepairWouldChange,
		hostdiag.ActionRestartAgent:           hostdiag.RepairSkipped,
	})
	if got := h.sh("iptables -S OUTPUT"); got != rule {
		t.Errorf("the dry run changed the rules:\n%s", got)
	}
	if h.stagedExists(agentDropIn) || h.readFile("/etc/environment") != etcEnv {
		t.Error("the dry run wrote the drop-in or /etc/environment")
	}

	r = h.repair(script, env("false"), 0)
	wantRepair(t, "repair", r, map[string]hostdiag.RepairStatus{
		hostdiag.ActionRemoveIMDSFirewallRule: hostdiag.RepairChanged,
		hostdiag.ActionAddNoProxy:             hostdiag.RepairChanged,
	})
	if got := h.sh("iptables -S OUTPUT"); strings.Contains(got, "169.254.169.254") {
		t.Errorf("the rule is still there:\n%s", got)
	}
	dropIn := h.readFile(agentDropIn)
	wantList := "169.254.169.254," + endpoint
	if !strings.Contains(dropIn, "[Service]") || !strings.Contains(dropIn, `"NO_PROXY=`+wantList+`"`) || !strings.Contains(dropIn, `"no_proxy=`+wantList+`"`) {
		t.Errorf("drop-in:\n%s", dropIn)
	}
	e := h.readFile("/etc/environment")
	if !strings.Contains(e, "LANG=C.UTF-8\n") || !strings.Contains(e, "http_proxy="+testProxy+"\n") ||
		!strings.Contains(e, "no_proxy=localhost,127.0.0.1,"+wantList+"\n") || !strings.Contains(e, "NO_PROXY=localhost,127.0.0.1,"+wantList+"\n") ||
		strings.Count(e, "no_proxy=") != 1 {
		t.Errorf("/etc/environment:\n%s", e)
	}
	after, _ := h.diagnose(nil)
	a := index(t, after, "")
	for _, id := range []string{cFirewall, cUnreachable} {
		if a.checks[id].Status != hostdiag.Pass {
			t.Errorf("after the repair %s is %s, want PASS: %s", id, a.checks[id].Status, a.checks[id].Detail)
		}
	}

	r = h.repair(script, env("false"), 0)
	wantRepair(t, "rerun", r, map[string]hostdiag.RepairStatus{
		hostdiag.ActionRemoveIMDSFirewallRule: hostdiag.RepairUnchanged,
		hostdiag.ActionAddNoProxy:             hostdiag.RepairUnchanged,
	})
	if h.readFile(agentDropIn) != dropIn || h.readFile("/etc/environment") != e {
		t.Error("the rerun rewrote a file")
	}

	// The running (fake) agent still has its old environment, without the
	// drop-in's NO_PROXY: a restart is due.
	r = h.repair(script, []string{"SSM_Actions=restart_agent", "SSM_DryRun=true", "SSM_NoProxyHosts="}, 0)
	wantRepair(t, "restart", r, map[string]hostdiag.RepairStatus{hostdiag.ActionRestartAgent: hostdiag.RepairWouldChange})
	if d := r.Actions[2].Detail; !strings.Contains(d, "predates its NO_PROXY drop-in") {
		t.Errorf("restart detail = %q", d)
	}

	// Invalid parameters (as an agent that skipped allowedPattern might
	// pass them) stop the script before it touches anything.
	res := h.run(script, []string{"SSM_Actions=remove_imds_firewall_rules;reboot", "SSM_DryRun=false", "SSM_NoProxyHosts="})
	if res.Code != 2 || res.Stdout != "" {
		t.Errorf("invalid Actions: exit %d, stdout %q", res.Code, res.Stdout)
	}
}
