package host

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

var testNow = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

func baseFacts() Facts {
	return Facts{
		InstanceID: "i-0123456789abcdef0", Region: "eu-west-1", Platform: "Linux",
		HTTPEndpoint: "enabled", HTTPTokens: "optional", HopLimit: 1,
		HasCredentials: true, AgentVersion: "3.3.1142.0", Now: testNow,
	}
}

// decoded is a report as a consumer reads it: through Encode and JSON.
type decoded struct {
	r      hostdiag.Report
	checks map[string]hostdiag.Check
}

func diagnose(t *testing.T, f Facts) decoded {
	t.Helper()
	b, err := hostdiag.Encode(Diagnose(f))
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	var d decoded
	if err := json.Unmarshal(b, &d.r); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	d.checks = map[string]hostdiag.Check{}
	for _, c := range d.r.Checks {
		if _, dup := d.checks[c.ID]; dup {
			t.Fatalf("check %s reported twice", c.ID)
		}
		d.checks[c.ID] = c
	}
	for _, id := range hostdiag.CheckIDs() {
		if _, ok := d.checks[id]; !ok {
			t.Fatalf("check %s missing", id)
		}
	}
	if len(d.checks) != len(hostdiag.CheckIDs()) {
		t.Fatalf("report has %d checks, want %d", len(d.checks), len(hostdiag.CheckIDs()))
	}
	return d
}

// path walks decoded evidence: map keys and list indexes.
func path(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %#v", k, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at [%d]: not a list that long: %#v", k, v)
			}
			v = l[k]
		}
	}
	return v
}

func ev(t *testing.T, d decoded, id string, keys ...any) any {
	t.Helper()
	return path(t, d.checks[id].Evidence, keys...)
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestDiagnose(t *testing.T) {
	const (
		unreachable = hostdiag.CheckIMDSUnreachable
		firewall    = hostdiag.CheckIMDSBlockedByFirewall
		proxy       = hostdiag.CheckProxyWithoutNoProxy
		agent       = hostdiag.CheckAgentNotRunning
		endpoints   = hostdiag.CheckSSMEndpointUnreachable
		throttled   = hostdiag.CheckIMDSThrottled
		route       = hostdiag.CheckNoRouteToIMDS
		creds       = hostdiag.CheckAgentCredentialErrors
		clock       = hostdiag.CheckClockSkew
		containers  = hostdiag.CheckContainerRuntime
	)
	tests := []struct {
		name  string
		facts func(*Facts)
		// fail lists the checks that must FAIL; every other check must PASS.
		fail  []string
		check func(t *testing.T, d decoded)
	}{
		{
			name: "healthy host",
			check: func(t *testing.T, d decoded) {
				eq(t, "root uid", ev(t, d, unreachable, "probes", 0, "uid"), 0.0)
				eq(t, "root v2", ev(t, d, unreachable, "probes", 0, "v2", "classification"), "ok")
				eq(t, "unprivileged uid", ev(t, d, unreachable, "probes", 1, "uid"), 1000.0)
				eq(t, "v1 allowed", ev(t, d, unreachable, "probes", 1, "v1", "classification"), "ok")
				eq(t, "ssm host", ev(t, d, endpoints, "endpoints", 0, "host"), "ssm.eu-west-1.amazonaws.com")
				eq(t, "ssmmessages", ev(t, d, endpoints, "endpoints", 2, "host"), "ssmmessages.eu-west-1.amazonaws.com")
				eq(t, "route", ev(t, d, route, "output"), "169.254.169.254 dev ens5 uid 0")
				eq(t, "counter", ev(t, d, throttled, "value"), 0.0)
				eq(t, "agent running", ev(t, d, agent, "running"), true)
				eq(t, "containerHost", ev(t, d, containers, "containerHost"), false)
				eq(t, "agent pid", ev(t, d, agent, "pid"), float64(modelAgentPID))
				eq(t, "agent environ", ev(t, d, proxy, "scopes", 0, "source"), "/proc/2345/environ")
				eq(t, "clock source", ev(t, d, clock, "source"), "IMDS Date header")
				eq(t, "credentials", ev(t, d, unreachable, "credentials", "classification"), "ok")
				eq(t, "credentials url", ev(t, d, unreachable, "credentials", "url"), "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
				eq(t, "ena interface", ev(t, d, throttled, "interfaces", 0, "interface"), "ens5")
				eq(t, "ena source", ev(t, d, throttled, "source"), "ethtool -S")
				if l := ev(t, d, route, "refreshTimers").([]any); len(l) != 0 {
					t.Errorf("refreshTimers = %v", l)
				}
				eq(t, "host", d.r.Host.InstanceID, "i-0123456789abcdef0")
				eq(t, "os", d.r.Host.OS, "Amazon Linux 2023.6.20250115")
				eq(t, "agent version", d.r.Host.AgentVersion, "3.3.1142.0")
				eq(t, "hostname", d.r.Host.Hostname, "i-0123456789abcdef0.eu-west-1.compute.internal")
				if !d.r.Host.GeneratedAt.Equal(testNow) {
					t.Errorf("generatedAt = %v", d.r.Host.GeneratedAt)
				}
			},
		},
		{
			name:  "endpoint disabled answers 403",
			facts: func(f *Facts) { f.HTTPEndpoint = "disabled" },
			fail:  []string{unreachable, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "v2", ev(t, d, unreachable, "probes", 0, "v2", "classification"), "http_403")
				eq(t, "status", ev(t, d, unreachable, "probes", 0, "v2", "httpStatus"), 403.0)
				if s := ev(t, d, creds, "errors", 0).(string); !strings.Contains(s, "EC2RoleRequestError") {
					t.Errorf("agent log = %q", s)
				}
			},
		},
		{
			name:  "tokens required rejects v1 with 401, v2 works",
			facts: func(f *Facts) { f.HTTPTokens = "required" },
			check: func(t *testing.T, d decoded) {
				eq(t, "v1", ev(t, d, unreachable, "probes", 0, "v1", "classification"), "http_401")
				eq(t, "v2", ev(t, d, unreachable, "probes", 0, "v2", "classification"), "ok")
			},
		},
		{
			name:  "IMDS 404: instance profile without a role",
			facts: func(f *Facts) { f.State = &State{IMDSStatus: 404} },
			fail:  []string{unreachable, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "v2 still answers", ev(t, d, unreachable, "probes", 1, "v2", "classification"), "ok")
				eq(t, "credentials", ev(t, d, unreachable, "credentials", "classification"), "http_404")
				eq(t, "status", ev(t, d, unreachable, "credentials", "httpStatus"), 404.0)
				if det := d.checks[unreachable].Detail; !strings.Contains(det, "no IAM role") {
					t.Errorf("detail = %q", det)
				}
				if s := ev(t, d, creds, "errors", 0).(string); !strings.Contains(s, "status code: 404") {
					t.Errorf("agent log = %q", s)
				}
			},
		},
		{
			name: "iptables REJECT for everyone: refused",
			facts: func(f *Facts) {
				f.State = &State{Firewall: []Rule{{Tool: "iptables", Action: "REJECT", Text: "-A OUTPUT -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable"}}}
			},
			fail: []string{unreachable, firewall, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "rule", ev(t, d, firewall, "rules", 0, "rule"), "-A OUTPUT -d 169.254.169.254/32 -j REJECT --reject-with icmp-port-unreachable")
				eq(t, "tool", ev(t, d, firewall, "rules", 0, "tool"), "iptables")
				eq(t, "root", ev(t, d, unreachable, "probes", 0, "v2", "classification"), "refused")
				eq(t, "uid 1000", ev(t, d, unreachable, "probes", 1, "v2", "classification"), "refused")
			},
		},
		{
			name: "nftables DROP: timeout",
			facts: func(f *Facts) {
				f.State = &State{Firewall: []Rule{{Tool: "nftables", Action: "DROP", Text: "ip daddr 169.254.169.254 drop"}}}
			},
			fail: []string{unreachable, firewall, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "root", ev(t, d, unreachable, "probes", 0, "v2", "classification"), "timeout")
				eq(t, "error", ev(t, d, unreachable, "probes", 0, "v2", "error"), "curl: (28) Connection timed out after 2000 milliseconds")
				eq(t, "no IMDS Date: NTP", ev(t, d, clock, "source"), "chronyc tracking")
				if _, ok := d.checks[unreachable].Evidence["credentials"]; ok {
					t.Errorf("credentials probed without a token")
				}
			},
		},
		{
			name: "owner range: root passes, uid 1000 refused",
			facts: func(f *Facts) {
				f.State = &State{Firewall: []Rule{{Tool: "iptables", Action: "REJECT", UIDRange: "1000-10000",
					Text: "-A OUTPUT -d 169.254.169.254/32 -p tcp -m owner --uid-owner 1000-10000 -j REJECT"}}}
			},
			fail: []string{unreachable, firewall},
			check: func(t *testing.T, d decoded) {
				eq(t, "root ok", ev(t, d, unreachable, "probes", 0, "ok"), true)
				eq(t, "uid", ev(t, d, unreachable, "probes", 1, "uid"), 1000.0)
				eq(t, "uid 1000 ok", ev(t, d, unreachable, "probes", 1, "ok"), false)
				eq(t, "uid 1000", ev(t, d, unreachable, "probes", 1, "v2", "classification"), "refused")
				eq(t, "uidRange", ev(t, d, firewall, "rules", 0, "uidRange"), "1000-10000")
				if det := d.checks[unreachable].Detail; !strings.Contains(det, "uid 1000 (refused)") || !strings.Contains(det, "succeeds for root") {
					t.Errorf("detail = %q", det)
				}
			},
		},
		{
			name: "owner range picks a uid inside it",
			facts: func(f *Facts) {
				f.State = &State{Firewall: []Rule{{Tool: "iptables", Action: "DROP", UIDRange: "2000-2999", Text: "-m owner --uid-owner 2000-2999 -j DROP"}}}
			},
			fail: []string{unreachable, firewall},
			check: func(t *testing.T, d decoded) {
				eq(t, "uid", ev(t, d, unreachable, "probes", 1, "uid"), 2000.0)
				eq(t, "uid 2000", ev(t, d, unreachable, "probes", 1, "v2", "classification"), "timeout")
			},
		},
		{
			name: "ACCEPT rule does not block",
			facts: func(f *Facts) {
				f.State = &State{Firewall: []Rule{{Tool: "iptables", Action: "ACCEPT", Text: "-A OUTPUT -d 169.254.169.254/32 -j ACCEPT"}}}
			},
			check: func(t *testing.T, d decoded) {
				eq(t, "blocks", ev(t, d, firewall, "rules", 0, "blocks"), false)
			},
		},
		{
			name:  "agent proxy without NO_PROXY",
			facts: func(f *Facts) { f.State = &State{AgentEnv: map[string]string{"HTTP_PROXY": "http://proxy.corp:3128"}} },
			fail:  []string{proxy},
			check: func(t *testing.T, d decoded) {
				eq(t, "scope", ev(t, d, proxy, "scopes", 0, "scope"), "agent")
				eq(t, "proxy", ev(t, d, proxy, "scopes", 0, "proxies", "HTTP_PROXY"), "http://proxy.corp:3128")
				eq(t, "excluded", ev(t, d, proxy, "scopes", 0, "imdsExcluded"), false)
				eq(t, "system fine", ev(t, d, proxy, "scopes", 1, "imdsExcluded"), false)
			},
		},
		{
			name: "agent proxy with NO_PROXY naming IMDS and endpoints",
			facts: func(f *Facts) {
				f.State = &State{AgentEnv: map[string]string{"HTTP_PROXY": "http://p:3128", "HTTPS_PROXY": "http://p:3128", "NO_PROXY": "localhost, 169.254.169.254,.amazonaws.com"}}
			},
			check: func(t *testing.T, d decoded) {
				eq(t, "noProxy", ev(t, d, proxy, "scopes", 0, "noProxy"), "localhost, 169.254.169.254,.amazonaws.com")
				eq(t, "excluded", ev(t, d, proxy, "scopes", 0, "imdsExcluded"), true)
				if l, _ := ev(t, d, proxy, "scopes", 0, "endpointsViaProxy").([]any); len(l) != 0 {
					t.Errorf("endpointsViaProxy = %v", l)
				}
			},
		},
		{
			name: "NO_PROXY as a CIDR",
			facts: func(f *Facts) {
				f.State = &State{AgentEnv: map[string]string{"http_proxy": "http://p:3128", "no_proxy": "169.254.0.0/16"}}
			},
			check: func(t *testing.T, d decoded) {
				eq(t, "excluded", ev(t, d, proxy, "scopes", 0, "imdsExcluded"), true)
			},
		},
		{
			name: "HTTPS proxy only: IMDS (http) not proxied, endpoints are",
			facts: func(f *Facts) {
				f.State = &State{AgentEnv: map[string]string{"HTTPS_PROXY": "http://p:3128"}}
			},
			check: func(t *testing.T, d decoded) {
				eq(t, "first endpoint via proxy", ev(t, d, proxy, "scopes", 0, "endpointsViaProxy", 0), "ssm.eu-west-1.amazonaws.com")
				eq(t, "probed through the proxy", ev(t, d, endpoints, "endpoints", 0, "proxy"), "http://p:3128")
			},
		},
		{
			name: "system proxy without no_proxy, password redacted",
			facts: func(f *Facts) {
				f.State = &State{SystemEnv: map[string]string{"http_proxy": "http://bob:s3cret@proxy:8080"}}
			},
			fail: []string{proxy},
			check: func(t *testing.T, d decoded) {
				eq(t, "scope", ev(t, d, proxy, "scopes", 1, "scope"), "system")
				b, _ := json.Marshal(d.checks[proxy])
				if strings.Contains(string(b), "s3cret") {
					t.Errorf("proxy password leaked: %s", b)
				}
				eq(t, "redacted", ev(t, d, proxy, "scopes", 1, "proxies", "http_proxy"), "http://bob:xxxxx@proxy:8080")
			},
		},
		{
			name:  "agent not installed",
			facts: func(f *Facts) { f.State = &State{Agent: Agent{NotInstalled: true}} },
			fail:  []string{agent},
			check: func(t *testing.T, d decoded) {
				eq(t, "installed", ev(t, d, agent, "installed"), false)
				eq(t, "host agent version", d.r.Host.AgentVersion, "")
			},
		},
		{
			name:  "agent stopped",
			facts: func(f *Facts) { f.State = &State{Agent: Agent{Stopped: true}} },
			fail:  []string{agent},
			check: func(t *testing.T, d decoded) {
				eq(t, "running", ev(t, d, agent, "running"), false)
				eq(t, "no environ", ev(t, d, proxy, "scopes", 0, "source"), "none (agent not running)")
			},
		},
		{
			name:  "agent not root",
			facts: func(f *Facts) { f.State = &State{Agent: Agent{User: "ssm-user"}} },
			fail:  []string{agent},
			check: func(t *testing.T, d decoded) {
				eq(t, "user", ev(t, d, agent, "user"), "ssm-user")
			},
		},
		{
			name: "SSM endpoints: dns, refused, timeout",
			facts: func(f *Facts) {
				f.State = &State{EndpointFailures: map[string]string{"ssm": "dns", "ec2messages": "refused", "ssmmessages": "timeout"}}
			},
			fail: []string{endpoints},
			check: func(t *testing.T, d decoded) {
				eq(t, "ssm", ev(t, d, endpoints, "endpoints", 0, "result"), "dns")
				eq(t, "ssm error", ev(t, d, endpoints, "endpoints", 0, "error"), "Could not resolve host: ssm.eu-west-1.amazonaws.com")
				eq(t, "ec2messages", ev(t, d, endpoints, "endpoints", 1, "result"), "refused")
				eq(t, "ssmmessages", ev(t, d, endpoints, "endpoints", 2, "result"), "timeout")
			},
		},
		{
			name:  "link-local allowance exceeded",
			facts: func(f *Facts) { f.State = &State{LinkLocalAllowanceExceeded: 42} },
			fail:  []string{throttled},
			check: func(t *testing.T, d decoded) {
				eq(t, "value", ev(t, d, throttled, "value"), 42.0)
				eq(t, "counter", ev(t, d, throttled, "counter"), "linklocal_allowance_exceeded")
			},
		},
		{
			name:  "no route to IMDS",
			facts: func(f *Facts) { f.State = &State{NoRouteToIMDS: true} },
			fail:  []string{route, unreachable, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "output", ev(t, d, route, "output"), "RTNETLINK answers: Network is unreachable")
				eq(t, "probe", ev(t, d, unreachable, "probes", 0, "v2", "classification"), "no_route")
			},
		},
		{
			name:  "policy routes lost by net-utils",
			facts: func(f *Facts) { f.State = &State{PolicyRoutesLost: true, NetUtilsVersion: "2.5.0"} },
			fail:  []string{route, unreachable, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "lost", ev(t, d, route, "policyRoutesLost"), true)
				eq(t, "version", ev(t, d, route, "netUtilsVersion"), "2.5.0")
				eq(t, "timer", ev(t, d, route, "refreshTimers", 0), "refresh-policy-routes@ens5.timer")
				if !strings.Contains(d.checks[route].Detail, "2.5.0") {
					t.Errorf("detail = %q", d.checks[route].Detail)
				}
			},
		},
		{
			name: "credential errors in the agent log",
			facts: func(f *Facts) {
				f.State = &State{Agent: Agent{LogErrors: []string{"EC2RoleRequestError: no EC2 instance role found"}}}
			},
			fail: []string{creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "error", ev(t, d, creds, "errors", 0), "EC2RoleRequestError: no EC2 instance role found")
				eq(t, "count", ev(t, d, creds, "count"), 1.0)
			},
		},
		{
			name: "the report quotes the latest credential errors and counts them all",
			facts: func(f *Facts) {
				f.State = &State{Agent: Agent{LogErrors: []string{"NoCredentialProviders 1", "NoCredentialProviders 2", "NoCredentialProviders 3",
					"NoCredentialProviders 4", "NoCredentialProviders 5", "NoCredentialProviders 6", "NoCredentialProviders 7"}}}
			},
			fail: []string{creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "count", ev(t, d, creds, "count"), 7.0)
				eq(t, "first quoted", ev(t, d, creds, "errors", 0), "NoCredentialProviders 3")
				if l := ev(t, d, creds, "errors").([]any); len(l) != maxLogErrors {
					t.Errorf("%d errors quoted, want %d", len(l), maxLogErrors)
				}
			},
		},
		{
			name:  "no credentials: the agent logs it",
			facts: func(f *Facts) { f.HasCredentials = false },
			fail:  []string{creds},
			check: func(t *testing.T, d decoded) {
				if s := ev(t, d, creds, "errors", 0).(string); !strings.Contains(s, "no EC2 instance role found") {
					t.Errorf("log = %q", s)
				}
			},
		},
		{
			name:  "clock skew beyond 5 minutes",
			facts: func(f *Facts) { f.State = &State{ClockSkewSeconds: 600} },
			fail:  []string{clock, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "skew", ev(t, d, clock, "skewSeconds"), 600.0)
				if !d.r.Host.GeneratedAt.Equal(testNow.Add(10 * time.Minute)) {
					t.Errorf("generatedAt = %v, want the host's skewed clock", d.r.Host.GeneratedAt)
				}
			},
		},
		{
			name:  "clock skew within 5 minutes",
			facts: func(f *Facts) { f.State = &State{ClockSkewSeconds: -200} },
			check: func(t *testing.T, d decoded) {
				eq(t, "skew", ev(t, d, clock, "skewSeconds"), -200.0)
			},
		},
		{
			name:  "container runtimes are evidence, not failures",
			facts: func(f *Facts) { f.State = &State{ContainerRuntimes: []string{"docker", "kubelet", "docker"}} },
			check: func(t *testing.T, d decoded) {
				eq(t, "first", ev(t, d, containers, "runtimes", 0), "docker")
				eq(t, "second", ev(t, d, containers, "runtimes", 1), "kubelet")
				eq(t, "hop", ev(t, d, containers, "hopLimitNeededForContainers"), 2.0)
				if l := ev(t, d, containers, "runtimes").([]any); len(l) != 2 {
					t.Errorf("runtimes = %v", l)
				}
			},
		},
		{
			name: "Windows host",
			facts: func(f *Facts) {
				f.Platform = "Windows"
				f.State = &State{OS: "windows2022", Firewall: []Rule{{Tool: "windows", Action: "Block", Text: "Block IMDS: Direction=Outbound RemoteAddress=169.254.169.254 Action=Block"}}}
			},
			fail: []string{unreachable, firewall, creds},
			check: func(t *testing.T, d decoded) {
				eq(t, "platform", d.r.Host.Platform, "Windows")
				eq(t, "user", ev(t, d, unreachable, "probes", 0, "user"), "SYSTEM")
				eq(t, "blocked", ev(t, d, unreachable, "probes", 0, "v2", "classification"), "timeout")
				eq(t, "service", ev(t, d, agent, "service"), "AmazonSSMAgent")
				if n := len(ev(t, d, unreachable, "probes").([]any)); n != 1 {
					t.Errorf("%d probes on Windows, want 1", n)
				}
			},
		},
		{
			name:  "China partition endpoint names",
			facts: func(f *Facts) { f.Region = "cn-north-1" },
			check: func(t *testing.T, d decoded) {
				eq(t, "ssm", ev(t, d, endpoints, "endpoints", 0, "host"), "ssm.cn-north-1.amazonaws.com.cn")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := baseFacts()
			if tc.facts != nil {
				tc.facts(&f)
			}
			d := diagnose(t, f)
			if d.r.Schema != hostdiag.SchemaVersion {
				t.Errorf("schema = %d", d.r.Schema)
			}
			fail := map[string]bool{}
			for _, id := range tc.fail {
				fail[id] = true
			}
			for _, id := range hostdiag.CheckIDs() {
				want := hostdiag.Pass
				if fail[id] {
					want = hostdiag.Fail
				}
				if got := d.checks[id].Status; got != want {
					t.Errorf("%s = %s (%s), want %s", id, got, d.checks[id].Detail, want)
				}
				if d.checks[id].Detail == "" {
					t.Errorf("%s has no detail", id)
				}
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestNoProxyMatches(t *testing.T) {
	tests := []struct {
		list, host string
		want       bool
	}{
		{"", "169.254.169.254", false},
		{"*", "169.254.169.254", true},
		{"169.254.169.254", "169.254.169.254", true},
		{"169.254.169.254:80", "169.254.169.254", true},
		{"169.254.0.0/16", "169.254.169.254", true},
		{"10.0.0.0/8", "169.254.169.254", false},
		{"localhost,127.0.0.1", "169.254.169.254", false},
		{".amazonaws.com", "ssm.eu-west-1.amazonaws.com", true},
		{"amazonaws.com", "ssm.eu-west-1.amazonaws.com", true},
		{"*.amazonaws.com", "ssm.eu-west-1.amazonaws.com", true},
		{"aws.com", "ssm.eu-west-1.amazonaws.com", false},
		{"ssm.eu-west-1.amazonaws.com", "ssm.eu-west-1.amazonaws.com", true},
	}
	for _, tc := range tests {
		if got := noProxyMatches(tc.list, tc.host); got != tc.want {
			t.Errorf("noProxyMatches(%q, %q) = %v, want %v", tc.list, tc.host, got, tc.want)
		}
	}
}

func TestDiagnoseHugeRuleFitsSSMOutput(t *testing.T) {
	f := baseFacts()
	f.State = &State{Firewall: []Rule{{Tool: "iptables", Action: "REJECT", Text: strings.Repeat("-m comment --comment x ", 50000)}}}
	b, err := hostdiag.Encode(Diagnose(f))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > hostdiag.MaxOutput || !json.Valid(b) {
		t.Fatalf("report of %d bytes (valid=%v)", len(b), json.Valid(b))
	}
}

func TestRuleMatches(t *testing.T) {
	tests := []struct {
		uidRange string
		uid      int
		want     bool
	}{
		{"", 0, true},
		{"1000-10000", 999, false},
		{"1000-10000", 1000, true},
		{"1000-10000", 10000, true},
		{"1000-10000", 10001, false},
		{"1000", 1000, true},
		{"1000", 1001, false},
		{" 0 - 0 ", 0, true},
		{"not-a-range", 0, true}, // unparseable: treated as everyone
		{"10-5", 7, true},        // inverted: unparseable
	}
	for _, tc := range tests {
		if got := ruleMatches(Rule{UIDRange: tc.uidRange}, tc.uid); got != tc.want {
			t.Errorf("ruleMatches(%q, %d) = %v, want %v", tc.uidRange, tc.uid, got, tc.want)
		}
	}
}
