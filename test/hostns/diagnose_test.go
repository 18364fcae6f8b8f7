package hostns

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// Check ids, short.
const (
	cUnreachable = hostdiag.CheckIMDSUnreachable
	cFirewall    = hostdiag.CheckIMDSBlockedByFirewall
	cProxy       = hostdiag.CheckProxyWithoutNoProxy
	cAgent       = hostdiag.CheckAgentNotRunning
	cEndpoints   = hostdiag.CheckSSMEndpointUnreachable
	cThrottled   = hostdiag.CheckIMDSThrottled
	cRoute       = hostdiag.CheckNoRouteToIMDS
	cCreds       = hostdiag.CheckAgentCredentialErrors
	cClock       = hostdiag.CheckClockSkew
	cContainers  = hostdiag.CheckContainerRuntime
)

// report is a parsed report with its checks by id.
type report struct {
	hostdiag.Report
	raw    string
	checks map[string]hostdiag.Check
}

func index(t *testing.T, r hostdiag.Report, raw string) report {
	t.Helper()
	rep := report{Report: r, raw: raw, checks: map[string]hostdiag.Check{}}
	for _, c := range r.Checks {
		rep.checks[c.ID] = c
	}
	if len(r.Checks) != len(hostdiag.CheckIDs()) {
		t.Errorf("%d checks, want %d", len(r.Checks), len(hostdiag.CheckIDs()))
	}
	for _, id := range hostdiag.CheckIDs() {
		if _, ok := rep.checks[id]; !ok {
			t.Errorf("check %s missing", id)
		}
	}
	return rep
}

// statuses asserts every check's status: those in want as given, all
// others PASS.
func (r report) statuses(t *testing.T, want map[string]hostdiag.Status) {
	t.Helper()
	for _, id := range hostdiag.CheckIDs() {
		w, ok := want[id]
		if !ok {
			w = hostdiag.Pass
		}
		if c := r.checks[id]; c.Status != w {
			t.Errorf("%s = %s (%s), want %s\nevidence: %s", id, c.Status, c.Detail, w, js(c.Evidence))
		}
		if r.checks[id].Detail == "" {
			t.Errorf("%s has no detail", id)
		}
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ev walks a check's evidence by map keys and list indexes ("#len" gives a
// list's length); hostdiag.Parse
// decodes numbers as json.Number, which ev returns as their string.
func (r report) ev(t *testing.T, id string, keys ...any) any {
	t.Helper()
	var v any = r.checks[id].Evidence
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			if k == "#len" {
				l, ok := v.([]any)
				if !ok && v != nil {
					t.Fatalf("%s %v: not a list: %s", id, keys, js(v))
				}
				v = len(l)
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s %v: at %q: not an object: %s", id, keys, k, js(v))
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%s %v: at [%d]: not a list that long: %s", id, keys, k, js(v))
			}
			v = l[k]
		}
	}
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return v
}

func (r report) eq(t *testing.T, id string, want any, keys ...any) {
	t.Helper()
	if got := r.ev(t, id, keys...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s %v = %#v, want %#v\nevidence: %s", id, keys, got, want, js(r.checks[id].Evidence))
	}
}

func (r report) detailHas(t *testing.T, id string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.checks[id].Detail, s) {
			t.Errorf("%s detail %q lacks %q", id, r.checks[id].Detail, s)
		}
	}
}

const credLog = `2025-03-04 10:00:01 INFO [ssm-agent-worker] Entering SSM Agent hibernate
2025-03-04 10:00:02 ERROR [CredentialRefresher] Retrieve credentials produced error: EC2RoleRequestError: no EC2 instance role found
caused by: EC2MetadataError: failed to make EC2Metadata request
2025-03-04 10:00:03 INFO [CredentialRefresher] Sleeping for 2m
2025-03-04 10:02:03 ERROR [CredentialRefresher] Retrieve credentials produced error: NoCredentialProviders: no valid providers in chain
`

func TestDiagnoseHost(t *testing.T) {
	t.Parallel()
	const ok, fail, errs = hostdiag.Pass, hostdiag.Fail, hostdiag.Error
	tests := []struct {
		name  string
		opts  hostOptions
		setup func(h *nsHost)
		env   []string
		// want lists the checks that are not PASS.
		want  map[string]hostdiag.Status
		check func(t *testing.T, r report)
	}{
		{
			name: "healthy",
			check: func(t *testing.T, r report) {
				if r.Host.InstanceID != testInstanceID || r.Host.Region != testRegion || r.Host.Platform != "Linux" || r.Host.AgentVersion != testAgentVersion {
					t.Errorf("host = %+v", r.Host)
				}
				r.eq(t, cUnreachable, 0, "probes", 0, "uid")
				r.eq(t, cUnreachable, "root", "probes", 0, "user")
				r.eq(t, cUnreachable, "ok", "probes", 0, "v2", "classification")
				r.eq(t, cUnreachable, "ok", "probes", 0, "v1", "classification")
				r.eq(t, cUnreachable, 1000, "probes", 1, "uid")
				r.eq(t, cUnreachable, "ok", "probes", 1, "v2", "classification")
				r.eq(t, cUnreachable, true, "probes", 1, "ok")
				r.eq(t, cUnreachable, "ok", "credentials", "classification")
				r.eq(t, cUnreachable, testRole, "credentials", "role")
				for i, s := range ssmServices {
					r.eq(t, cEndpoints, s+"."+testRegion+".amazonaws.com", "endpoints", i, "host")
					r.eq(t, cEndpoints, "ok", "endpoints", i, "result")
				}
				r.eq(t, cAgent, true, "running")
				r.eq(t, cAgent, "root", "user")
				r.eq(t, cAgent, testAgentVersion, "version")
				r.eq(t, cClock, "IMDS Date header", "source")
				r.eq(t, cRoute, "local 169.254.169.254 dev lo src 169.254.169.254 uid 0", "output")
				r.eq(t, cFirewall, 0, "rules", "#len")
			},
		},
		{
			name: "iptables owner range REJECT: root ok, unprivileged refused",
			setup: func(h *nsHost) {
				h.sh("iptables -A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT")
			},
			want: map[string]hostdiag.Status{cUnreachable: fail, cFirewall: fail},
			check: func(t *testing.T, r report) {
				r.eq(t, cUnreachable, "ok", "probes", 0, "v2", "classification")
				r.eq(t, cUnreachable, true, "probes", 0, "ok")
				r.eq(t, cUnreachable, 1000, "probes", 1, "uid")
				r.eq(t, cUnreachable, "refused", "probes", 1, "v2", "classification")
				r.eq(t, cUnreachable, "refused", "probes", 1, "v1", "classification")
				r.eq(t, cUnreachable, false, "probes", 1, "ok")
				r.detailHas(t, cUnreachable, "uid 1000 (refused)", "succeeds for root")
				r.eq(t, cFirewall, "iptables", "rules", 0, "tool")
				r.eq(t, cFirewall, "-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT --reject-with icmp-port-unreachable", "rules", 0, "rule")
				r.eq(t, cFirewall, "REJECT", "rules", 0, "action")
				r.eq(t, cFirewall, "1000-10000", "rules", 0, "uidRange")
				r.eq(t, cFirewall, true, "rules", 0, "blocks")
				r.eq(t, cFirewall, 1, "rules", "#len") // the nft view of the same iptables-nft rule is not repeated
			},
		},
		{
			name: "iptables DROP: timeout; Region parameter names the endpoints",
			opts: hostOptions{Files: map[string]string{agentLogPath: credLog}},
			setup: func(h *nsHost) {
				h.sh("iptables -A OUTPUT -d 169.254.169.254/32 -j DROP")
			},
			env:  []string{"SSM_Region=" + testRegion},
			want: map[string]hostdiag.Status{cUnreachable: fail, cFirewall: fail, cCreds: fail, cClock: errs},
			check: func(t *testing.T, r report) {
				for i := range 2 {
					r.eq(t, cUnreachable, "timeout", "probes", i, "v2", "classification")
					r.eq(t, cUnreachable, "timeout", "probes", i, "v1", "classification")
				}
				r.eq(t, cFirewall, "DROP", "rules", 0, "action")
				r.eq(t, cFirewall, "-A OUTPUT -d 169.254.169.254/32 -j DROP", "rules", 0, "rule")
				if r.Host.Region != testRegion || r.Host.InstanceID != testInstanceID {
					t.Errorf("host = %+v: want the region from the parameter and the id from AWS_SSM_INSTANCE_ID", r.Host)
				}
				r.eq(t, cEndpoints, "ok", "endpoints", 0, "result")
				r.eq(t, cCreds, 2, "count")
				r.detailHas(t, cCreds, "NoCredentialProviders")
				if e := r.ev(t, cCreds, "errors", 0).(string); !strings.Contains(e, "EC2RoleRequestError") {
					t.Errorf("errors[0] = %q", e)
				}
			},
		},
		{
			name: "nftables skuid range DROP: the probe uid comes from the rule",
			setup: func(h *nsHost) {
				h.sh(`nft add table inet fdtest && nft add chain inet fdtest out '{ type filter hook output priority 0; }' && nft add rule inet fdtest out ip daddr 169.254.169.254 meta skuid 2000-2999 drop`)
			},
			want: map[string]hostdiag.Status{cUnreachable: fail, cFirewall: fail},
			check: func(t *testing.T, r report) {
				r.eq(t, cUnreachable, "ok", "probes", 0, "v2", "classification")
				r.eq(t, cUnreachable, 2000, "probes", 1, "uid")
				r.eq(t, cUnreachable, "timeout", "probes", 1, "v2", "classification")
				r.eq(t, cFirewall, "nftables", "rules", 0, "tool")
				r.eq(t, cFirewall, "ip daddr 169.254.169.254 meta skuid 2000-2999 drop", "rules", 0, "rule")
				r.eq(t, cFirewall, "DROP", "rules", 0, "action")
				r.eq(t, cFirewall, "2000-2999", "rules", 0, "uidRange")
			},
		},
		{
			name: "agent proxy without NO_PROXY",
			opts: hostOptions{
				AgentEnv: []string{"HTTP_PROXY=http://bob:s3cret@127.0.0.1:3128"},
				Files: map[string]string{
					"/etc/environment": "http_proxy=\"http://127.0.0.1:3128\"\nno_proxy=localhost,169.254.0.0/16\n",
					"/etc/systemd/system/amazon-ssm-agent.service.d/proxy.conf": "[Service]\nEnvironment=\"HTTPS_PROXY=http://127.0.0.1:3128\" \"NO_PROXY=169.254.169.254,.amazonaws.com\"\n",
				},
			},
			want: map[string]hostdiag.Status{cProxy: fail},
			check: func(t *testing.T, r report) {
				r.eq(t, cProxy, "agent", "scopes", 0, "scope")
				r.eq(t, cProxy, "http://bob:xxxxx@127.0.0.1:3128", "scopes", 0, "proxies", "HTTP_PROXY")
				r.eq(t, cProxy, false, "scopes", 0, "imdsExcluded")
				r.eq(t, cProxy, true, "scopes", 0, "imdsViaProxy")
				if src := r.ev(t, cProxy, "scopes", 0, "source").(string); !strings.HasPrefix(src, "/proc/") || !strings.HasSuffix(src, "/environ") {
					t.Errorf("agent scope source = %q", src)
				}
				r.eq(t, cProxy, "service", "scopes", 1, "scope")
				r.eq(t, cProxy, true, "scopes", 1, "imdsExcluded")
				r.eq(t, cProxy, 0, "scopes", 1, "endpointsViaProxy", "#len")
				r.eq(t, cProxy, "system", "scopes", 2, "scope")
				r.eq(t, cProxy, true, "scopes", 2, "imdsExcluded")
				r.detailHas(t, cProxy, "agent environment sets HTTP_PROXY=http://bob:xxxxx@127.0.0.1:3128 and NO_PROXY is not set")
				if strings.Contains(r.raw, "s3cret") {
					t.Errorf("the proxy password leaked into the report")
				}
			},
		},
		{
			name: "IMDS disabled: 403; Region interpolated as an old agent does",
			opts: hostOptions{IMDS: imdsOptions{Disabled: true}},
			want: map[string]hostdiag.Status{cUnreachable: fail},
			check: func(t *testing.T, r report) {
				for i := range 2 {
					r.eq(t, cUnreachable, "http_403", "probes", i, "v2", "classification")
					r.eq(t, cUnreachable, 403, "probes", i, "v2", "httpStatus")
					r.eq(t, cUnreachable, "http_403", "probes", i, "v1", "classification")
				}
				r.eq(t, cClock, "IMDS Date header", "source") // a 403 still carries a Date
				if r.Host.Region != testRegion {
					t.Errorf("region = %q, want the interpolated parameter", r.Host.Region)
				}
			},
		},
		{
			name: "tokens required: v1 401, v2 ok",
			opts: hostOptions{IMDS: imdsOptions{TokensRequired: true}},
			check: func(t *testing.T, r report) {
				r.eq(t, cUnreachable, "ok", "probes", 0, "v2", "classification")
				r.eq(t, cUnreachable, "http_401", "probes", 0, "v1", "classification")
				r.eq(t, cUnreachable, 401, "probes", 1, "v1", "httpStatus")
			},
		},
		{
			name: "instance role missing: 404",
			opts: hostOptions{IMDS: imdsOptions{NoRole: true}, Files: map[string]string{agentLogPath: credLog}},
			want: map[string]hostdiag.Status{cUnreachable: fail, cCreds: fail},
			check: func(t *testing.T, r report) {
				r.eq(t, cUnreachable, "ok", "probes", 0, "v2", "classification")
				r.eq(t, cUnreachable, "http_404", "credentials", "classification")
				r.eq(t, cUnreachable, 404, "credentials", "httpStatus")
				r.detailHas(t, cUnreachable, "404", "no IAM role")
			},
		},
		{
			name: "no route to 169.254.169.254",
			setup: func(h *nsHost) {
				h.sh("ip addr del 169.254.169.254/32 dev lo && ip route add unreachable 169.254.169.254/32")
			},
			env:  []string{"SSM_Region=" + testRegion},
			want: map[string]hostdiag.Status{cUnreachable: fail, cRoute: fail, cClock: errs},
			check: func(t *testing.T, r report) {
				r.eq(t, cRoute, "RTNETLINK answers: No route to host", "output")
				for i := range 2 {
					r.eq(t, cUnreachable, "no_route", "probes", i, "v2", "classification")
					r.eq(t, cUnreachable, "no_route", "probes", i, "v1", "classification")
				}
			},
		},
		{
			name: "endpoint DNS failure",
			opts: hostOptions{Endpoints: map[string]string{"ssmmessages": endpointDNS}},
			want: map[string]hostdiag.Status{cEndpoints: fail},
			check: func(t *testing.T, r report) {
				r.eq(t, cEndpoints, "ok", "endpoints", 0, "result")
				r.eq(t, cEndpoints, "dns", "endpoints", 2, "result")
				r.eq(t, cEndpoints, "Could not resolve host: ssmmessages.eu-west-1.amazonaws.com", "endpoints", 2, "error")
				r.detailHas(t, cEndpoints, "ssmmessages.eu-west-1.amazonaws.com (dns)")
			},
		},
		{
			name: "endpoint refused and timeout",
			opts: hostOptions{Endpoints: map[string]string{"ec2messages": endpointRefused, "ssm": endpointTimeout}},
			want: map[string]hostdiag.Status{cEndpoints: fail},
			check: func(t *testing.T, r report) {
				r.eq(t, cEndpoints, "timeout", "endpoints", 0, "result")
				r.eq(t, cEndpoints, "refused", "endpoints", 1, "result")
				r.eq(t, cEndpoints, "Failed to connect to ec2messages.eu-west-1.amazonaws.com port 443: Connection refused", "endpoints", 1, "error")
				r.eq(t, cEndpoints, "ok", "endpoints", 2, "result")
				r.eq(t, cFirewall, 0, "rules", "#len") // a DROP on 443 is not an IMDS rule
			},
		},
		{
			name: "agent not running",
			opts: hostOptions{AgentStopped: true},
			want: map[string]hostdiag.Status{cAgent: fail},
			check: func(t *testing.T, r report) {
				r.eq(t, cAgent, true, "installed")
				r.eq(t, cAgent, false, "running")
				r.eq(t, cAgent, testAgentVersion, "version")
				r.detailHas(t, cAgent, "installed but not running")
			},
		},
	}
	// Start every scenario's script at once (the scripts mostly wait on
	// probe timeouts), then check each in its own subtest. The hosts
	// belong to this test and go when it ends.
	waits := make([]func() (runResult, error), len(tests))
	hosts := make([]*nsHost, len(tests))
	for i, tc := range tests {
		h := newHost(t, tc.opts)
		hosts[i] = h
		if tc.setup != nil {
			tc.setup(h)
		}
		script := diagnoseScript(t)
		if strings.Contains(tc.name, "as an old agent does") {
			// Agents before 3.3.2746.0 set no SSM_ variables and replace
			// the parameter reference in the text instead.
			script = strings.ReplaceAll(script, "{{ Region }}", testRegion)
		}
		waits[i] = h.start(script, tc.env)
	}
	all, healthy := newVocabulary(), newVocabulary()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := waits[i]()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("script ran %s", res.Duration.Round(time.Millisecond))
			r := index(t, parseRun(t, res), res.Stdout)
			r.statuses(t, tc.want)
			if tc.check != nil {
				tc.check(t, r)
			}
			// The document is read-only: the files it read are unchanged.
			for p, want := range tc.opts.Files {
				if got := hosts[i].readFile(p); got != want {
					t.Errorf("the diagnose script changed %s:\n%s", p, got)
				}
			}
			all.add(r.Report)
			if tc.name == "healthy" {
				healthy.add(r.Report)
			}
		})
	}
	if !t.Failed() {
		checkVocabulary(t, all, healthy)
	}
}
