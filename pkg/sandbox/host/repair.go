package host

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// RepairDocument is fleetdoctor's repair Command document
// (documents/FleetDoctor-RepairHost.yaml).
const RepairDocument = hostdiag.RepairDocumentName

// Step names of RepairDocument.
const (
	RepairLinuxStep   = "repairLinux"
	RepairWindowsStep = "repairWindows"
)

// Values of RepairDocument's Actions parameter (a comma-separated subset),
// and the report action id each one produces.
const (
	RepairActionFirewall = "remove_imds_firewall_rules"
	RepairActionNoProxy  = "add_no_proxy"
	RepairActionRestart  = "restart_agent"
)

// repairActions maps the Actions parameter's values to report ids, in the
// order the document runs them.
var repairActions = []struct{ param, id string }{
	{RepairActionFirewall, hostdiag.ActionRemoveIMDSFirewallRule},
	{RepairActionNoProxy, hostdiag.ActionAddNoProxy},
	{RepairActionRestart, hostdiag.ActionRestartAgent},
}

// RepairOptions are RepairDocument's parameters.
type RepairOptions struct {
	// Actions holds RepairAction* values; empty means all of them.
	Actions []string
	// DryRun reports what would change and changes nothing.
	DryRun bool
	// NoProxyHosts are names added to NO_PROXY beside 169.254.169.254.
	NoProxyHosts []string
}

// ParseRepairParameters reads SendCommand's parameters for RepairDocument
// with the document's defaults (every action, DryRun true, no extra
// hosts). Values have already passed the document's allowedPattern.
func ParseRepairParameters(p map[string][]string) (RepairOptions, error) {
	opts := RepairOptions{DryRun: true}
	one := func(name string) string {
		if v := p[name]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	for _, a := range splitList(one("Actions")) {
		if !slices.ContainsFunc(repairActions, func(x struct{ param, id string }) bool { return x.param == a }) {
			return opts, fmt.Errorf("parameter Actions: %q is not one of %s, %s, %s", a, RepairActionFirewall, RepairActionNoProxy, RepairActionRestart)
		}
		if !slices.Contains(opts.Actions, a) {
			opts.Actions = append(opts.Actions, a)
		}
	}
	switch d := one("DryRun"); d {
	case "", "true":
	case "false":
		opts.DryRun = false
	default:
		return opts, fmt.Errorf("parameter DryRun: %q is not true or false", d)
	}
	opts.NoProxyHosts = splitList(one("NoProxyHosts"))
	return opts, nil
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func (o RepairOptions) wants(action string) bool {
	return len(o.Actions) == 0 || slices.Contains(o.Actions, action)
}

// cloneState deep-copies s (nil is the zero State).
func cloneState(s *State) State {
	if s == nil {
		return State{}
	}
	c := *s
	c.Agent.LogErrors = slices.Clone(s.Agent.LogErrors)
	c.Firewall = slices.Clone(s.Firewall)
	c.AgentEnv = maps.Clone(s.AgentEnv)
	c.SystemEnv = maps.Clone(s.SystemEnv)
	c.ContainerRuntimes = slices.Clone(s.ContainerRuntimes)
	c.EndpointFailures = maps.Clone(s.EndpointFailures)
	return c
}

// Repair is what RepairDocument does on the host f describes: the report
// it prints and the host's state afterwards. It never modifies f.State;
// changed is false when the host was left as it was (always so in a dry
// run), and then next equals the input state.
//
// The model, like the script: removes the firewall rules that block
// 169.254.169.254 (REJECT / DROP / Block; ACCEPT rules stay); merges
// 169.254.169.254 and the extra hosts into NO_PROXY and no_proxy of each
// environment (agent, system) that sets a proxy; restarts the agent when
// another action changed the host in this run, or when the agent is
// stopped. Modelling shortcut: the agent's environment takes the new
// NO_PROXY at once, where on a real host the running agent sees it after
// the (scheduled) restart.
func Repair(f Facts, opts RepairOptions) (report hostdiag.RepairReport, next State, changed bool) {
	h := newHost(f)
	next = cloneState(f.State)
	rep := hostdiag.RepairReport{
		Schema: hostdiag.RepairSchemaVersion,
		DryRun: opts.DryRun,
		Host:   Diagnose(f).Host,
	}
	status := func(change bool) hostdiag.RepairStatus {
		switch {
		case !change:
			return hostdiag.RepairUnchanged
		case opts.DryRun:
			return hostdiag.RepairWouldChange
		default:
			return hostdiag.RepairChanged
		}
	}
	var anyChange bool
	for _, a := range repairActions {
		if !opts.wants(a.param) {
			rep.Actions = append(rep.Actions, hostdiag.RepairAction{ID: a.id, Status: hostdiag.RepairSkipped, Detail: "not in Actions"})
			continue
		}
		var act hostdiag.RepairAction
		var change bool
		switch a.param {
		case RepairActionFirewall:
			act, change = repairFirewall(h, &next)
		case RepairActionNoProxy:
			act, change = repairNoProxy(h, &next, opts.NoProxyHosts)
		case RepairActionRestart:
			act, change = repairRestart(h, &next, anyChange)
		}
		act.ID = a.id
		if act.Status == "" {
			act.Status = status(change)
		}
		if change && opts.DryRun {
			act.Detail = "would: " + act.Detail
		}
		anyChange = anyChange || change
		rep.Actions = append(rep.Actions, act)
	}
	if opts.DryRun || !anyChange {
		return rep, cloneState(f.State), false
	}
	return rep, next, true
}

func ruleStrings(rules []Rule) []any {
	out := make([]any, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.Tool+": "+r.Text)
	}
	return out
}

func repairFirewall(h *host, st *State) (hostdiag.RepairAction, bool) {
	var keep, removed []Rule
	for _, r := range st.Firewall {
		if ruleEffect(r) != "" {
			removed = append(removed, r)
		} else {
			keep = append(keep, r)
		}
	}
	act := hostdiag.RepairAction{
		Before: map[string]any{"rules": ruleStrings(st.Firewall), "toolsInspected": h.os.firewallTools},
		After:  map[string]any{"rules": ruleStrings(keep), "toolsInspected": h.os.firewallTools},
	}
	if len(removed) == 0 {
		act.Detail = "no firewall rule blocks 169.254.169.254"
		return act, false
	}
	texts := make([]string, len(removed))
	for i, r := range removed {
		texts[i] = r.Tool + " " + r.Text
	}
	act.Detail = fmt.Sprintf("remove %d rule(s) blocking 169.254.169.254: %s", len(removed), strings.Join(texts, "; "))
	st.Firewall = keep
	return act, true
}

// mergeNoProxy adds the missing hosts to a NO_PROXY list.
func mergeNoProxy(current string, hosts []string) (string, bool) {
	out := strings.TrimSpace(current)
	changed := false
	for _, n := range hosts {
		present := false
		for _, e := range strings.Split(out, ",") {
			present = present || strings.EqualFold(strings.TrimSpace(e), n)
		}
		if present {
			continue
		}
		if out != "" {
			out += ","
		}
		out += n
		changed = true
	}
	return out, changed
}

var proxyKeys = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}

func repairNoProxy(h *host, st *State, extra []string) (hostdiag.RepairAction, bool) {
	hosts := append([]string{imdsAddr}, extra...)
	act := hostdiag.RepairAction{Before: map[string]any{}, After: map[string]any{}}
	dropIn, system := "/etc/systemd/system/"+h.os.service+".service.d/fleetdoctor-no-proxy.conf", "/etc/environment"
	if h.windows {
		dropIn, system = `HKLM\SYSTEM\CurrentControlSet\Services\AmazonSSMAgent\Environment`, "machine environment"
	}
	var did []string
	for _, scope := range []struct {
		name, where string
		env         *map[string]string
	}{{"agent", dropIn, &st.AgentEnv}, {"system", system, &st.SystemEnv}} {
		env := *scope.env
		_, cur := firstEnv(env, "NO_PROXY", "no_proxy")
		act.Before[scope.name] = cur
		act.After[scope.name] = cur
		if k, _ := firstEnv(env, proxyKeys...); k == "" {
			continue // no proxy in this scope: nothing to exclude from
		}
		merged, changed := mergeNoProxy(cur, hosts)
		// Both spellings: curl reads no_proxy, Go reads either.
		if !changed && env["NO_PROXY"] == merged && env["no_proxy"] == merged {
			continue
		}
		env = maps.Clone(env)
		env["NO_PROXY"], env["no_proxy"] = merged, merged
		*scope.env = env
		act.After[scope.name] = merged
		did = append(did, scope.name+" ("+scope.where+")")
	}
	act.After["dropIn"] = dropIn
	if len(did) == 0 {
		act.Detail = "NO_PROXY already excludes " + strings.Join(hosts, ",") + " wherever a proxy is set"
		return act, false
	}
	act.Detail = "add " + strings.Join(hosts, ",") + " to NO_PROXY for " + strings.Join(did, " and ")
	return act, true
}

func repairRestart(h *host, st *State, otherChanges bool) (hostdiag.RepairAction, bool) {
	service := h.os.service
	active := "active"
	if st.Agent.Stopped {
		active = "inactive"
	}
	act := hostdiag.RepairAction{Before: map[string]any{"service": service, "active": active}}
	if st.Agent.NotInstalled {
		act.Status = hostdiag.RepairSkipped
		act.Detail = "the SSM agent is not installed"
		return act, false
	}
	if !otherChanges && !st.Agent.Stopped {
		act.After = act.Before
		act.Detail = "nothing changed that needs a restart"
		return act, false
	}
	how := "systemd-run --on-active=5 systemctl restart " + service
	switch {
	case h.windows:
		how = "scheduled task: Restart-Service AmazonSSMAgent in 5 seconds"
	case strings.HasPrefix(service, "snap."):
		how = "systemd-run --on-active=5 snap restart amazon-ssm-agent"
	}
	act.After = map[string]any{"service": service, "active": "active", "scheduled": how}
	act.Detail = "restart " + service + " 5 seconds after this report (" + how + "); the restart ends this command"
	st.Agent.Stopped = false
	return act, true
}
