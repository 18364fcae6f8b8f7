package host

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// Facts is what the sandbox knows about one instance when a command reaches
// it.
type Facts struct {
	InstanceID, Region string
	// Platform is "Linux" or "Windows".
	Platform string
	// HTTPEndpoint and HTTPTokens are the instance's MetadataOptions
	// ("enabled"/"disabled", "required"/"optional"); "" reads as the
	// defaults, enabled and optional.
	HTTPEndpoint, HTTPTokens string
	// HopLimit is the PUT response hop limit. The host cannot observe it
	// (probes from the host itself are one hop); runners that serve a test
	// IMDS use it for the token response's TTL.
	HopLimit int32
	// HasCredentials: an instance profile with a working role, or DHMC
	// usable.
	HasCredentials bool
	// AgentVersion comes from the SSM registration.
	AgentVersion string
	// RoleName is the instance profile's role, which IMDS lists under
	// iam/security-credentials/ ("" leaves it out of the evidence).
	RoleName string
	// State is the on-host state; nil is a healthy host.
	State *State
	// Now is true time when the command runs.
	Now time.Time
}

// IMDS and probe constants the report shows.
const (
	imdsAddr        = "169.254.169.254"
	imdsTokenURL    = "http://169.254.169.254/latest/api/token"
	imdsProbeURL    = "http://169.254.169.254/latest/meta-data/instance-id"
	imdsCredsURL    = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
	tokenTTLSeconds = 21600
	// ClockSkewThresholdSeconds is how far the clock may drift before
	// SigV4 signatures are rejected (5 minutes).
	ClockSkewThresholdSeconds = 300
	// defaultUnprivilegedUID is probed when no firewall rule names an
	// owner range.
	defaultUnprivilegedUID = 1000
	// probeTimeoutMillis is every network probe's timeout in the script.
	probeTimeoutMillis = 2000
	// maxLogErrors is how many of the latest credential errors the script
	// quotes from the agent log (it counts them all).
	maxLogErrors = 5
	// modelAgentPID is the pid the model gives a running agent.
	modelAgentPID = 2345
	// Clock references, as the report names them.
	clockFromIMDS    = "IMDS Date header"
	clockFromChrony  = "chronyc tracking"
	clockFromWindows = "w32tm /stripchart /computer:169.254.169.123 /samples:1"
)

// Probe classifications, as the report spells them.
const (
	probeOK       = hostdiag.ProbeOK
	probeRefused  = hostdiag.ProbeRefused
	probeTimeout  = hostdiag.ProbeTimeout
	probeNoRoute  = hostdiag.ProbeNoRoute
	probeHTTPPref = "http_"
)

// SSMServices are the endpoints the agent needs, in report order.
var SSMServices = []string{"ssm", "ec2messages", "ssmmessages"}

// osProfile is what a distribution looks like to the diagnose script.
type osProfile struct {
	pretty, kernel, iface, service, agentLog string
	firewallTools                            []string
}

var osProfiles = map[string]osProfile{
	"al2023": {
		pretty: "Amazon Linux 2023.6.20250115", kernel: "6.1.124-134.200.amzn2023.x86_64", iface: "ens5",
		service: "amazon-ssm-agent", agentLog: "/var/log/amazon/ssm/amazon-ssm-agent.log",
		firewallTools: []string{"nftables", "iptables"},
	},
	"al2": {
		pretty: "Amazon Linux 2", kernel: "5.10.233-224.894.amzn2.x86_64", iface: "eth0",
		service: "amazon-ssm-agent", agentLog: "/var/log/amazon/ssm/amazon-ssm-agent.log",
		firewallTools: []string{"iptables"},
	},
	"ubuntu22.04": {
		pretty: "Ubuntu 22.04.5 LTS", kernel: "6.8.0-1021-aws", iface: "ens5",
		service: "snap.amazon-ssm-agent.amazon-ssm-agent", agentLog: "/var/log/amazon/ssm/amazon-ssm-agent.log",
		firewallTools: []string{"iptables", "nftables", "ufw"},
	},
	"rhel9": {
		pretty: "Red Hat Enterprise Linux 9.5 (Plow)", kernel: "5.14.0-503.22.1.el9_5.x86_64", iface: "eth0",
		service: "amazon-ssm-agent", agentLog: "/var/log/amazon/ssm/amazon-ssm-agent.log",
		firewallTools: []string{"firewalld", "nftables", "iptables"},
	},
	"sles15": {
		pretty: "SUSE Linux Enterprise Server 15 SP6", kernel: "6.4.0-150600.23.33-default", iface: "eth0",
		service: "amazon-ssm-agent", agentLog: "/var/log/amazon/ssm/amazon-ssm-agent.log",
		firewallTools: []string{"firewalld", "iptables", "nftables"},
	},
	"windows2022": {
		pretty: "Microsoft Windows Server 2022 Datacenter", kernel: "10.0.20348", iface: "Ethernet",
		service: "AmazonSSMAgent", agentLog: `C:\ProgramData\Amazon\SSM\Logs\amazon-ssm-agent.log`,
		firewallTools: []string{"windows"},
	},
}

// host is the derived view Diagnose works from.
type host struct {
	f       Facts
	st      State
	windows bool
	os      osProfile
	probes  []probe
	// creds is the root (or SYSTEM) probe of iam/security-credentials/
	// with its token; "" when the token GET failed.
	creds string
}

// probe is one IMDS probe run as one user.
type probe struct {
	user string
	uid  int // -1 on Windows
	v2   string
	v1   string
}

// Diagnose produces the report the diagnose document would print on the
// host described by f: every host check, PASS or FAIL, with the evidence
// the real script shows. The evidence vocabulary, which the scripts of
// documents/FleetDoctor-DiagnoseHost.yaml emit too (test/hostns checks the
// Linux script emits no key this model never does):
//
//   - host_imds_unreachable: tokenUrl, url, tokenTtlSeconds, probes[] of
//     {uid (Linux), user ("root" or "SYSTEM"), v2, v1, ok} where v2/v1 are
//     {classification (ok, refused, timeout, no_route, http_NNN),
//     httpStatus, error (the client's message)}; credentials {classification,
//     httpStatus, url, role} of the token GET of iam/security-credentials/
//     when the token works (404: a profile without a role also FAILs).
//   - host_imds_blocked_by_firewall: toolsInspected[], rules[] of {tool,
//     rule, action, blocks, uidRange}.
//   - host_proxy_without_no_proxy: scopes[] of {scope (agent, service =
//     the agent's systemd drop-ins, which the model does not hold, system,
//     winhttp), source, proxies{KEY: redacted URL}, noProxy, imdsExcluded,
//     imdsViaProxy, endpointsViaProxy[]}.
//   - host_agent_not_running: service, installed, running, version, user,
//     pid.
//   - host_ssm_endpoint_unreachable: endpoints[] of {service, host, port,
//     result (ok, dns, refused, timeout, no_route), error, proxy}.
//   - host_imds_throttled: counter, value (sum over ENA interfaces),
//     source, interfaces[] of {interface, value}.
//   - host_no_route_to_imds: command, output, and on Linux
//     netUtilsVersion, policyRoutesLost, refreshTimers[].
//   - host_agent_credential_errors: log, count (all matching lines),
//     errors[] (the latest maxLogErrors).
//   - host_clock_skew: skewSeconds, thresholdSeconds, source (the IMDS
//     Date header when IMDS answers, else the NTP client).
//   - host_container_runtime: runtimes[], containerHost,
//     hopLimitNeededForContainers.
//
// The real script also reports ERROR where the model never does: the
// region unknown (endpoints not probed), no time reference (clock), or an
// ENA interface whose counter cannot be read.
func Diagnose(f Facts) hostdiag.Report {
	h := newHost(f)
	checks := []hostdiag.Check{
		h.imdsUnreachable(),
		h.firewall(),
		h.proxy(),
		h.agentNotRunning(),
		h.endpoints(),
		h.throttled(),
		h.route(),
		h.credentialErrors(),
		h.clockSkew(),
		h.containers(),
	}
	agentVersion := f.AgentVersion
	if h.st.Agent.NotInstalled {
		agentVersion = ""
	}
	return hostdiag.Report{
		Schema: hostdiag.SchemaVersion,
		Host: hostdiag.Host{
			InstanceID:   f.InstanceID,
			Region:       f.Region,
			Platform:     h.platform(),
			OS:           h.os.pretty,
			Kernel:       h.os.kernel,
			AgentVersion: agentVersion,
			Hostname:     h.hostname(),
			GeneratedAt:  h.hostClock(),
		},
		Checks: checks,
	}
}

func newHost(f Facts) *host {
	h := &host{f: f}
	if f.State != nil {
		h.st = *f.State
	}
	osID := strings.ToLower(h.st.OS)
	h.windows = f.Platform == "Windows" || (f.Platform == "" && strings.HasPrefix(osID, "windows"))
	prof, ok := osProfiles[osID]
	switch {
	case ok && strings.HasPrefix(osID, "windows") == h.windows:
		h.os = prof
	case h.windows:
		h.os = osProfiles["windows2022"]
		if osID != "" {
			h.os.pretty = h.st.OS
		}
	default:
		h.os = osProfiles["al2023"]
		if osID != "" {
			h.os.pretty = h.st.OS
		}
	}
	h.probes = h.runProbes()
	if h.probes[0].v2 == probeOK {
		h.creds = probeOK
		if h.st.IMDSStatus == 404 {
			h.creds = hostdiag.ProbeHTTP(404)
		}
	}
	return h
}

func (h *host) platform() string {
	if h.windows {
		return "Windows"
	}
	return "Linux"
}

// hostname is the EC2 resource-name hostname (or the Windows default).
func (h *host) hostname() string {
	id := h.f.InstanceID
	if h.windows {
		s := strings.ToUpper(strings.TrimPrefix(id, "i-"))
		if len(s) > 7 {
			s = s[len(s)-7:]
		}
		return "EC2AMAZ-" + s
	}
	if h.f.Region == "us-east-1" {
		return id + ".ec2.internal"
	}
	return id + "." + h.f.Region + ".compute.internal"
}

// hostClock is what the host's clock reads.
func (h *host) hostClock() time.Time {
	now := h.f.Now
	if now.IsZero() {
		now = time.Now()
	}
	return now.Add(time.Duration(h.st.ClockSkewSeconds) * time.Second).UTC().Truncate(time.Second)
}

// uidRange parses "1000-10000" or "1000".
func uidRange(s string) (lo, hi int, ok bool) {
	s = strings.TrimSpace(s)
	a, b, found := strings.Cut(s, "-")
	lo, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil || lo < 0 {
		return 0, 0, false
	}
	hi = lo
	if found {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil || hi < lo {
			return 0, 0, false
		}
	}
	return lo, hi, true
}

// ruleMatches says whether r applies to traffic from uid. A rule without
// an owner range applies to everyone; an owner range that does not parse
// is treated as everyone too (the tool accepted the rule, so it matches
// something, and over-reporting beats a silent pass).
func ruleMatches(r Rule, uid int) bool {
	if strings.TrimSpace(r.UIDRange) == "" {
		return true
	}
	lo, hi, ok := uidRange(r.UIDRange)
	if !ok {
		return true
	}
	return uid >= lo && uid <= hi
}

// ruleEffect is how a matching rule makes a connection fail: refused,
// timeout, or "" for a rule that lets traffic through.
func ruleEffect(r Rule) string {
	switch strings.ToUpper(strings.TrimSpace(r.Action)) {
	case "REJECT":
		return probeRefused
	case "DROP", "BLOCK", "DENY": // ufw's DENY drops
		return probeTimeout
	default:
		return ""
	}
}

// probeUsers are root and one unprivileged uid: the first uid inside an
// owner-match range found in the firewall rules, else 1000. Windows probes
// as SYSTEM only.
func (h *host) probeUsers() []probe {
	if h.windows {
		return []probe{{user: "SYSTEM", uid: -1}}
	}
	uid := defaultUnprivilegedUID
	for _, r := range h.st.Firewall {
		lo, hi, ok := uidRange(r.UIDRange)
		if !ok || strings.TrimSpace(r.UIDRange) == "" {
			continue
		}
		if lo == 0 {
			lo = 1
		}
		if lo <= hi {
			uid = lo
			break
		}
	}
	return []probe{{user: "root", uid: 0}, {uid: uid}}
}

func (h *host) runProbes() []probe {
	ps := h.probeUsers()
	for i := range ps {
		ps[i].v2, ps[i].v1 = h.probeIMDS(ps[i].uid)
	}
	return ps
}

// probeIMDS derives the IMDSv2 (token PUT + GET) and IMDSv1 (plain GET)
// outcomes for traffic from uid.
func (h *host) probeIMDS(uid int) (v2, v1 string) {
	if h.st.NoRouteToIMDS {
		return probeNoRoute, probeNoRoute
	}
	for _, r := range h.st.Firewall {
		if (uid >= 0 && !ruleMatches(r, uid)) || (uid < 0 && strings.TrimSpace(r.UIDRange) != "") {
			continue
		}
		if e := ruleEffect(r); e != "" {
			return e, e
		}
	}
	if h.st.PolicyRoutesLost && !h.windows {
		// Replies leave through the wrong interface and are dropped.
		return probeTimeout, probeTimeout
	}
	status := h.st.IMDSStatus
	if status == 404 {
		// IMDS answers 404 on iam/security-credentials/ when the instance
		// profile has no role; instance-id still answers (see creds).
		status = 0
	}
	if status == 0 && strings.EqualFold(h.f.HTTPEndpoint, "disabled") {
		status = 403 // IMDS answers 403 Forbidden when turned off
	}
	if status != 0 && status != 200 {
		s := hostdiag.ProbeHTTP(status)
		return s, s
	}
	v1 = probeOK
	if strings.EqualFold(h.f.HTTPTokens, "required") {
		v1 = hostdiag.ProbeHTTP(401)
	}
	return probeOK, v1
}

func httpStatusOf(classification string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(classification, probeHTTPPref))
	if !strings.HasPrefix(classification, probeHTTPPref) || err != nil {
		return 0
	}
	return n
}

// probeEvidence is one probe's outcome. "error" is the client's own
// message: curl 7.83 and later print the same text for a refused
// connection and an unreachable network, so the script classifies those
// from the errno of a second, bare TCP connect.
func probeEvidence(classification string) map[string]any {
	m := map[string]any{"classification": classification}
	if n := httpStatusOf(classification); n != 0 {
		m["httpStatus"] = n
	}
	switch classification {
	case probeRefused, probeNoRoute:
		m["error"] = "curl: (7) Failed to connect to 169.254.169.254 port 80 after 0 ms: Couldn't connect to server"
	case probeTimeout:
		m["error"] = fmt.Sprintf("curl: (28) Connection timed out after %d milliseconds", probeTimeoutMillis)
	}
	return m
}

func (p probe) who() string {
	switch {
	case p.uid < 0:
		return p.user
	case p.uid == 0:
		return "root"
	default:
		return "uid " + strconv.Itoa(p.uid)
	}
}

func (p probe) evidence() map[string]any {
	m := map[string]any{"v2": probeEvidence(p.v2), "v1": probeEvidence(p.v1), "ok": p.v2 == probeOK}
	if p.uid >= 0 {
		m["uid"] = p.uid
	}
	if p.user != "" {
		m["user"] = p.user
	}
	return m
}

func check(id string, fail bool, detail string, ev map[string]any) hostdiag.Check {
	st := hostdiag.Pass
	if fail {
		st = hostdiag.Fail
	}
	return hostdiag.Check{ID: id, Status: st, Detail: detail, Evidence: ev}
}

func (h *host) imdsUnreachable() hostdiag.Check {
	var failed, ok []string
	probes := make([]any, 0, len(h.probes))
	for _, p := range h.probes {
		probes = append(probes, p.evidence())
		if p.v2 == probeOK {
			ok = append(ok, p.who())
		} else {
			failed = append(failed, p.who()+" ("+p.v2+")")
		}
	}
	ev := map[string]any{"tokenUrl": imdsTokenURL, "url": imdsProbeURL, "tokenTtlSeconds": tokenTTLSeconds, "probes": probes}
	if h.creds != "" {
		c := probeEvidence(h.creds)
		c["url"] = imdsCredsURL
		if h.creds == probeOK && h.f.RoleName != "" {
			c["role"] = h.f.RoleName
		}
		ev["credentials"] = c
	}
	var detail string
	if len(failed) == 0 {
		detail = "IMDSv2 token and GET succeed for " + strings.Join(ok, " and ")
	} else {
		detail = "IMDSv2 fails for " + strings.Join(failed, ", ")
		if len(ok) > 0 {
			detail += "; succeeds for " + strings.Join(ok, ", ")
		}
	}
	roleMissing := h.creds == hostdiag.ProbeHTTP(404)
	if roleMissing {
		detail += "; " + imdsCredsURL + " answers 404: no IAM role in the instance profile (the agent then needs Default Host Management Configuration)"
	}
	return check(hostdiag.CheckIMDSUnreachable, len(failed) > 0 || roleMissing, detail, ev)
}

func (h *host) firewall() hostdiag.Check {
	rules := make([]any, 0, len(h.st.Firewall))
	var blocking []string
	for _, r := range h.st.Firewall {
		m := map[string]any{"tool": r.Tool, "rule": r.Text, "action": r.Action, "blocks": ruleEffect(r) != ""}
		if r.UIDRange != "" {
			m["uidRange"] = r.UIDRange
		}
		rules = append(rules, m)
		if ruleEffect(r) != "" {
			who := "everyone"
			if r.UIDRange != "" {
				who = "uids " + r.UIDRange
			}
			blocking = append(blocking, fmt.Sprintf("%s %s for %s", r.Tool, strings.ToUpper(r.Action), who))
		}
	}
	ev := map[string]any{"toolsInspected": h.os.firewallTools, "rules": rules}
	if len(blocking) == 0 {
		return check(hostdiag.CheckIMDSBlockedByFirewall, false, "no firewall rule blocks 169.254.169.254", ev)
	}
	return check(hostdiag.CheckIMDSBlockedByFirewall, true,
		fmt.Sprintf("%d firewall rule(s) block 169.254.169.254: %s", len(blocking), strings.Join(blocking, "; ")), ev)
}

// endpointHost is a service's regional endpoint name.
func endpointHost(service, region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return service + "." + region + "." + suffix
}

// firstEnv returns the first of keys set (non-empty) in env, and its key.
func firstEnv(env map[string]string, keys ...string) (key, value string) {
	for _, k := range keys {
		if v := strings.TrimSpace(env[k]); v != "" {
			return k, v
		}
	}
	return "", ""
}

// redactProxy hides a proxy URL's password.
func redactProxy(v string) string {
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		return u.Redacted()
	}
	if i := strings.LastIndex(v, "@"); i >= 0 {
		return "xxxxx" + v[i:]
	}
	return v
}

// noProxyMatches says whether a NO_PROXY list excludes host, with the
// semantics of Go's net/http (the agent's): "*", IPs, CIDRs, and domain
// names that also cover subdomains; ports are ignored.
func noProxyMatches(noProxy, hostname string) bool {
	ip := net.ParseIP(hostname)
	for _, e := range strings.Split(noProxy, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return true
		}
		if _, n, err := net.ParseCIDR(e); err == nil {
			if ip != nil && n.Contains(ip) {
				return true
			}
			continue
		}
		if h, _, err := net.SplitHostPort(e); err == nil {
			e = h
		}
		if eip := net.ParseIP(e); eip != nil {
			if ip != nil && eip.Equal(ip) {
				return true
			}
			continue
		}
		if ip != nil {
			continue
		}
		name := strings.ToLower(hostname)
		e = strings.TrimPrefix(strings.TrimPrefix(e, "*"), ".")
		if name == e || strings.HasSuffix(name, "."+e) {
			return true
		}
	}
	return false
}

// proxyScope evaluates one environment (the agent's, or the system's).
func (h *host) proxyScope(scope, source string, env map[string]string, httpKeys, httpsKeys []string) (map[string]any, string) {
	httpKey, httpProxy := firstEnv(env, httpKeys...)
	httpsKey, httpsProxy := firstEnv(env, httpsKeys...)
	noKey, noProxy := firstEnv(env, "NO_PROXY", "no_proxy")
	proxies := map[string]any{}
	if httpProxy != "" {
		proxies[httpKey] = redactProxy(httpProxy)
	}
	if httpsProxy != "" {
		proxies[httpsKey] = redactProxy(httpsProxy)
	}
	m := map[string]any{"scope": scope, "source": source, "proxies": proxies}
	if noKey != "" {
		m["noProxy"] = noProxy
	}
	imdsExcluded := noProxyMatches(noProxy, imdsAddr)
	m["imdsExcluded"] = imdsExcluded
	var notExcluded []string
	if httpsProxy != "" {
		for _, s := range SSMServices {
			if n := endpointHost(s, h.f.Region); !noProxyMatches(noProxy, n) {
				notExcluded = append(notExcluded, n)
			}
		}
		m["endpointsViaProxy"] = notExcluded
	}
	if httpProxy != "" && !imdsExcluded {
		m["imdsViaProxy"] = true
		why := "is not set"
		if noKey != "" {
			why = "does not exclude " + imdsAddr
		}
		return m, fmt.Sprintf("%s environment sets %s=%s and NO_PROXY %s", scope, httpKey, redactProxy(httpProxy), why)
	}
	return m, ""
}

func (h *host) proxy() hostdiag.Check {
	agentSource, systemSource := "/proc/"+strconv.Itoa(modelAgentPID)+"/environ", "/etc/environment"
	switch {
	case h.windows:
		agentSource = `HKLM\SYSTEM\CurrentControlSet\Services\AmazonSSMAgent\Environment`
		systemSource = "machine environment"
	case !h.agentRunning():
		agentSource = "none (agent not running)"
	}
	agent, agentFail := h.proxyScope("agent", agentSource, h.st.AgentEnv,
		[]string{"HTTP_PROXY", "http_proxy"}, []string{"HTTPS_PROXY", "https_proxy"})
	system, systemFail := h.proxyScope("system", systemSource, h.st.SystemEnv,
		[]string{"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}, []string{"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
	ev := map[string]any{"scopes": []any{agent, system}}
	var fails []string
	for _, f := range []string{agentFail, systemFail} {
		if f != "" {
			fails = append(fails, f)
		}
	}
	if len(fails) == 0 {
		return check(hostdiag.CheckProxyWithoutNoProxy, false, "no proxy intercepts traffic to 169.254.169.254", ev)
	}
	return check(hostdiag.CheckProxyWithoutNoProxy, true, strings.Join(fails, "; "), ev)
}

func (h *host) agentUser() (user string, privileged bool) {
	u := strings.TrimSpace(h.st.Agent.User)
	if h.windows {
		if u == "" {
			u = "LocalSystem"
		}
		switch strings.ToLower(u) {
		case "localsystem", "system", `nt authority\system`:
			return u, true
		}
		return u, false
	}
	if u == "" {
		u = "root"
	}
	return u, u == "root" || u == "0"
}

// agentRunning says whether the agent process exists.
func (h *host) agentRunning() bool { return !h.st.Agent.NotInstalled && !h.st.Agent.Stopped }

func (h *host) agentNotRunning() hostdiag.Check {
	a := h.st.Agent
	user, privileged := h.agentUser()
	ev := map[string]any{"service": h.os.service, "installed": !a.NotInstalled, "running": h.agentRunning()}
	if !a.NotInstalled {
		ev["version"] = h.f.AgentVersion
	}
	if h.agentRunning() {
		ev["user"] = user
		ev["pid"] = modelAgentPID
	}
	switch {
	case a.NotInstalled:
		return check(hostdiag.CheckAgentNotRunning, true, "the SSM agent is not installed (no "+h.os.service+" service)", ev)
	case a.Stopped:
		return check(hostdiag.CheckAgentNotRunning, true, "the SSM agent service "+h.os.service+" is installed but not running", ev)
	case !privileged:
		want := "root"
		if h.windows {
			want = "LocalSystem"
		}
		return check(hostdiag.CheckAgentNotRunning, true, "the SSM agent runs as "+user+", not "+want, ev)
	}
	return check(hostdiag.CheckAgentNotRunning, false, "the SSM agent is running as "+user, ev)
}

func (h *host) endpoints() hostdiag.Check {
	// The script probes through the agent's HTTPS proxy, as the agent
	// connects.
	_, proxy := firstEnv(h.st.AgentEnv, "HTTPS_PROXY", "https_proxy")
	_, noProxy := firstEnv(h.st.AgentEnv, "NO_PROXY", "no_proxy")
	if h.windows {
		proxy = ""
	}
	list := make([]any, 0, len(SSMServices))
	var failed []string
	for _, s := range SSMServices {
		name := endpointHost(s, h.f.Region)
		result := probeOK
		if v := strings.ToLower(strings.TrimSpace(h.st.EndpointFailures[s])); v != "" {
			result = v
		}
		m := map[string]any{"service": s, "host": name, "port": 443, "result": result}
		if proxy != "" && !noProxyMatches(noProxy, name) {
			m["proxy"] = redactProxy(proxy)
		}
		switch result {
		case probeOK:
		case hostdiag.ProbeDNS:
			m["error"] = "Could not resolve host: " + name
		case probeRefused:
			m["error"] = "Failed to connect to " + name + " port 443: Connection refused"
		case probeTimeout:
			m["error"] = fmt.Sprintf("Connection timed out after %d milliseconds", probeTimeoutMillis)
		case probeNoRoute:
			m["error"] = "connect: Network is unreachable"
		default:
			m["error"] = "connection failed: " + result
		}
		if result != probeOK {
			failed = append(failed, name+" ("+result+")")
		}
		list = append(list, m)
	}
	ev := map[string]any{"endpoints": list}
	if len(failed) == 0 {
		return check(hostdiag.CheckSSMEndpointUnreachable, false, "ssm, ec2messages and ssmmessages endpoints answer on 443", ev)
	}
	return check(hostdiag.CheckSSMEndpointUnreachable, true, "unreachable: "+strings.Join(failed, ", "), ev)
}

func (h *host) throttled() hostdiag.Check {
	n := h.st.LinkLocalAllowanceExceeded
	source := "ethtool -S"
	if h.windows {
		source = `Get-Counter '\ENA Packets Shaping(*)\Link Local Allowance Exceeded'`
	}
	// value is the sum over the ENA interfaces; the model's host has one.
	ev := map[string]any{"counter": "linklocal_allowance_exceeded", "value": n, "source": source,
		"interfaces": []any{map[string]any{"interface": h.os.iface, "value": n}}}
	if n > 0 {
		return check(hostdiag.CheckIMDSThrottled, true,
			fmt.Sprintf("linklocal_allowance_exceeded is %d on %s: link-local traffic (IMDS, DNS, NTP) is being dropped above 1024 packets/s", n, h.os.iface), ev)
	}
	return check(hostdiag.CheckIMDSThrottled, false, "linklocal_allowance_exceeded is 0 on "+h.os.iface, ev)
}

func (h *host) route() hostdiag.Check {
	ev := map[string]any{}
	if h.windows {
		ev["command"] = "Find-NetRoute -RemoteIPAddress 169.254.169.254"
	} else {
		ev["command"] = "ip route get 169.254.169.254"
		ev["netUtilsVersion"] = h.st.NetUtilsVersion
		// amazon-ec2-net-utils 2.x refreshes each interface's policy
		// routes with a refresh-policy-routes@IFACE timer.
		timers := []string{}
		if h.st.NetUtilsVersion != "" {
			timers = append(timers, "refresh-policy-routes@"+h.os.iface+".timer")
		}
		ev["refreshTimers"] = timers
	}
	switch {
	case h.st.NoRouteToIMDS:
		if h.windows {
			ev["output"] = "Find-NetRoute : The specified destination is not reachable"
		} else {
			ev["output"] = "RTNETLINK answers: Network is unreachable"
		}
	case h.windows:
		ev["output"] = "InterfaceAlias " + h.os.iface + " DestinationPrefix 169.254.169.254/32"
	default:
		ev["output"] = imdsAddr + " dev " + h.os.iface + " uid 0"
	}
	if !h.windows {
		ev["policyRoutesLost"] = h.st.PolicyRoutesLost
	}
	switch {
	case h.st.NoRouteToIMDS:
		return check(hostdiag.CheckNoRouteToIMDS, true, "no route to 169.254.169.254", ev)
	case h.st.PolicyRoutesLost && !h.windows:
		detail := "the policy routes of the secondary interfaces are gone (amazon-ec2-net-utils refresh-policy-routes)"
		if v := h.st.NetUtilsVersion; v != "" {
			detail += "; amazon-ec2-net-utils " + v
		}
		return check(hostdiag.CheckNoRouteToIMDS, true, detail, ev)
	}
	return check(hostdiag.CheckNoRouteToIMDS, false, "169.254.169.254 is routed via "+h.os.iface, ev)
}

// agentProbe is the probe matching the agent's user.
func (h *host) agentProbe() probe {
	if _, privileged := h.agentUser(); privileged || len(h.probes) == 1 {
		return h.probes[0]
	}
	return h.probes[len(h.probes)-1]
}

// agentLogErrors are the credential errors in the agent's log: the
// scenario's, or those the running agent would log given the host.
func (h *host) agentLogErrors() []string {
	if len(h.st.Agent.LogErrors) > 0 {
		return h.st.Agent.LogErrors
	}
	if !h.agentRunning() {
		return nil
	}
	var errs []string
	const prefix = "ERROR [CredentialRefresher] Retrieve credentials produced error: "
	switch p := h.agentProbe(); {
	case p.v2 != probeOK:
		errs = append(errs, prefix+"EC2RoleRequestError: no EC2 instance role found caused by: EC2MetadataError: failed to make EC2Metadata request ("+p.v2+")")
	case h.creds == hostdiag.ProbeHTTP(404):
		errs = append(errs, prefix+"EC2RoleRequestError: no EC2 instance role found caused by: EC2MetadataError: failed to make EC2Metadata request (status code: 404)")
	case !h.f.HasCredentials:
		errs = append(errs, prefix+"no valid credentials could be retrieved for ec2 identity. Default Host Management Err: "+
			"error calling RequestManagedInstanceRoleToken: AccessDeniedException: Systems Manager's instance management role is not configured for account. "+
			"EC2RoleRequestError: no EC2 instance role found")
	}
	if abs(h.st.ClockSkewSeconds) > ClockSkewThresholdSeconds {
		errs = append(errs, "ERROR [MessageService] InvalidSignatureException: Signature expired: the request time is more than 5 minutes from the server time")
	}
	return errs
}

func (h *host) credentialErrors() hostdiag.Check {
	errs := h.agentLogErrors()
	quoted := errs
	if len(quoted) > maxLogErrors {
		quoted = quoted[len(quoted)-maxLogErrors:]
	}
	ev := map[string]any{"log": h.os.agentLog, "count": len(errs), "errors": quoted}
	if len(errs) == 0 {
		return check(hostdiag.CheckAgentCredentialErrors, false, "no credential errors in the agent log", ev)
	}
	return check(hostdiag.CheckAgentCredentialErrors, true,
		fmt.Sprintf("%d credential error(s) in the agent log; latest: %s", len(errs), errs[len(errs)-1]), ev)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (h *host) clockSkew() hostdiag.Check {
	s := h.st.ClockSkewSeconds
	// The script compares the host clock with the Date header of an IMDS
	// answer (any status) and falls back to the NTP client.
	source := clockFromChrony
	switch p := h.probes[0].v2; {
	case p == probeOK || httpStatusOf(p) != 0:
		source = clockFromIMDS
	case h.windows:
		source = clockFromWindows
	}
	ev := map[string]any{"skewSeconds": s, "thresholdSeconds": ClockSkewThresholdSeconds, "source": source}
	if abs(s) > ClockSkewThresholdSeconds {
		return check(hostdiag.CheckClockSkew, true, fmt.Sprintf("the clock is off by %d s (more than %d s): AWS rejects the agent's signatures", s, ClockSkewThresholdSeconds), ev)
	}
	return check(hostdiag.CheckClockSkew, false, fmt.Sprintf("the clock is within %d s of true time", ClockSkewThresholdSeconds), ev)
}

func (h *host) containers() hostdiag.Check {
	seen := map[string]bool{}
	var runtimes []string
	for _, r := range h.st.ContainerRuntimes {
		r = strings.ToLower(strings.TrimSpace(r))
		if r != "" && !seen[r] {
			seen[r] = true
			runtimes = append(runtimes, r)
		}
	}
	ev := map[string]any{"runtimes": runtimes, "containerHost": len(runtimes) > 0}
	if len(runtimes) == 0 {
		return check(hostdiag.CheckContainerRuntime, false, "no container runtime found", ev)
	}
	// Containers on a bridge or pod network are one hop further from IMDS
	// than the host: the token needs a hop limit of 2 to reach them.
	ev["hopLimitNeededForContainers"] = 2
	return check(hostdiag.CheckContainerRuntime, false, "container runtimes: "+strings.Join(runtimes, ", "), ev)
}
