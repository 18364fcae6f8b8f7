package scenario_test

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

func loadDemo(t testing.TB) *scenario.World {
	t.Helper()
	w, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// instanceRef is one instance with where it lives and what SSM says of it.
type instanceRef struct {
	account, region string
	in              *ec2types.Instance
	ping            string // "" when not registered
}

func instancesOf(w *scenario.World) []instanceRef {
	var out []instanceRef
	for _, acct := range w.Accounts {
		for _, region := range w.Regions {
			r := w.Fleet.Accounts[acct].Regions[region]
			if r == nil {
				continue
			}
			ping := map[string]string{}
			for _, m := range r.Managed {
				ping[aws.ToString(m.InstanceId)] = string(m.PingStatus)
			}
			for i := range r.Instances {
				in := &r.Instances[i]
				out = append(out, instanceRef{acct, region, in, ping[aws.ToString(in.InstanceId)]})
			}
		}
	}
	return out
}

// TestDemoAudit runs the real audit engine over the demo world and checks
// that every check of the catalogue both fails and passes somewhere, with
// nothing left unaudited.
func TestDemoAudit(t *testing.T) {
	w := loadDemo(t)
	if w.CallerAccount != "111111111111" {
		t.Errorf("caller account %s, want the hub 111111111111", w.CallerAccount)
	}
	if got := strings.Join(w.Accounts, ","); got != "111111111111,222222222222" {
		t.Errorf("accounts %s", got)
	}
	if got := strings.Join(w.Regions, ","); got != "eu-west-1,us-east-1" {
		t.Errorf("regions %s", got)
	}
	run, err := audit.Audit(context.Background(), w.Fleet.Provider(), audit.Options{
		Accounts: w.Accounts,
		Regions:  w.Regions,
		RoleName: w.AuditRole,
		Checks:   checks.DefaultConfig(),
		Clock:    func() time.Time { return w.Now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := run.Summary.Instances; n < 900 || n > 1100 {
		t.Errorf("demo audits %d instances, want about 1,000", n)
	}
	if len(run.Errors) != 0 {
		t.Errorf("collection errors: %+v", run.Errors)
	}
	stats := map[string]checks.Stat{}
	for _, s := range run.Summary.Checks {
		stats[s.Check] = s
	}
	fails := map[string]int{}
	for _, f := range run.Findings {
		switch f.Status {
		case checks.Fail:
			fails[f.Check]++
		case checks.Error:
			t.Errorf("ERROR finding: %s %s/%s %s: %s", f.Check, f.Account, f.Region, f.Resource, f.Detail)
		}
	}
	for _, c := range checks.Catalogue() {
		if c.ID == checks.IncompleteID {
			if s, ok := stats[c.ID]; ok && s.Errored > 0 {
				t.Errorf("%s: %d collection failures", c.ID, s.Errored)
			}
			continue
		}
		s, ok := stats[c.ID]
		switch {
		case !ok:
			t.Errorf("%s: not evaluated", c.ID)
		case fails[c.ID] < 1 || s.Failed < 1:
			t.Errorf("%s: no FAIL finding (stat %+v)", c.ID, s)
		case s.Evaluated-s.Failed < 1:
			t.Errorf("%s: fails everywhere it was evaluated (stat %+v)", c.ID, s)
		case s.Errored > 0:
			t.Errorf("%s: %d resources could not be judged", c.ID, s.Errored)
		}
	}
	// Realistic proportions: most of the fleet is healthy.
	if s := run.Summary; s.FailingInstances*4 > s.Instances {
		t.Errorf("%d of %d instances fail a check; the demo should be mostly healthy", s.FailingInstances, s.Instances)
	}
}

var credentialError = regexp.MustCompile(`EC2RoleRequestError|NoCredentialProviders|role not found`)

func proxiedWithoutIMDSExcluded(env map[string]string) bool {
	proxy := env["HTTP_PROXY"] + env["HTTPS_PROXY"] + env["http_proxy"] + env["https_proxy"]
	noProxy := env["NO_PROXY"] + "," + env["no_proxy"]
	return proxy != "" && !strings.Contains(noProxy, "169.254.169.254")
}

func anyEndpointFailure(st *host.State, how string) bool {
	for _, v := range st.EndpointFailures {
		if v == how {
			return true
		}
	}
	return false
}

// hostModes are the on-host failure modes of DESIGN §4, as predicates
// written independently of the scenario package.
var hostModes = map[string]func(*host.State) bool{
	"firewall rule": func(st *host.State) bool { return len(st.Firewall) > 0 },
	"uid-owner range firewall rule": func(st *host.State) bool {
		for _, r := range st.Firewall {
			if r.UIDRange != "" && strings.Contains(r.Text, "--uid-owner "+r.UIDRange) {
				return true
			}
		}
		return false
	},
	"proxy without NO_PROXY": func(st *host.State) bool {
		return proxiedWithoutIMDSExcluded(st.AgentEnv) || proxiedWithoutIMDSExcluded(st.SystemEnv)
	},
	"agent stopped":       func(st *host.State) bool { return st.Agent.Stopped },
	"agent not root":      func(st *host.State) bool { return st.Agent.User != "" && st.Agent.User != "root" },
	"agent not installed": func(st *host.State) bool { return st.Agent.NotInstalled },
	"endpoint dns":        func(st *host.State) bool { return anyEndpointFailure(st, "dns") },
	"endpoint refused":    func(st *host.State) bool { return anyEndpointFailure(st, "refused") },
	"endpoint timeout":    func(st *host.State) bool { return anyEndpointFailure(st, "timeout") },
	"linklocal allowance": func(st *host.State) bool { return st.LinkLocalAllowanceExceeded > 0 },
	"no route to IMDS":    func(st *host.State) bool { return st.NoRouteToIMDS },
	"policy routes lost":  func(st *host.State) bool { return st.PolicyRoutesLost },
	"credential errors": func(st *host.State) bool {
		for _, e := range st.Agent.LogErrors {
			if credentialError.MatchString(e) {
				return true
			}
		}
		return false
	},
	"clock skew":         func(st *host.State) bool { return st.ClockSkewSeconds > 300 || st.ClockSkewSeconds < -300 },
	"container runtimes": func(st *host.State) bool { return len(st.ContainerRuntimes) > 0 },
}

func TestDemoHostModes(t *testing.T) {
	w := loadDemo(t)
	insts := instancesOf(w)
	for mode, has := range hostModes {
		n := 0
		for _, ref := range insts {
			if st := w.Hosts[aws.ToString(ref.in.InstanceId)]; st != nil && has(st) {
				n++
			}
		}
		if n < 1 || n*10 >= len(insts) {
			t.Errorf("%s on %d of %d hosts; want at least 1 and under 10%%", mode, n, len(insts))
		}
	}
	for id := range w.Hosts {
		if !strings.HasPrefix(id, "i-") {
			t.Errorf("host state for %q, which is not an instance id", id)
		}
	}
}

// TestDemoConsistent checks that the API side agrees with the hosts: an
// agent that cannot work is never Online.
func TestDemoConsistent(t *testing.T) {
	w := loadDemo(t)
	for _, ref := range instancesOf(w) {
		id := aws.ToString(ref.in.InstanceId)
		st := w.Hosts[id]
		var why string
		switch {
		case ref.in.State.Name != ec2types.InstanceStateNameRunning:
			why = "not running"
		case ref.in.MetadataOptions.HttpEndpoint == ec2types.InstanceMetadataEndpointStateDisabled:
			why = "IMDS endpoint disabled"
		case ref.in.PrivateIpAddress == nil && ref.in.MetadataOptions.HttpProtocolIpv6 != ec2types.InstanceMetadataProtocolStateEnabled:
			why = "IPv6-only with the IPv6 IMDS endpoint disabled"
		case st == nil:
		case st.Agent.Stopped || st.Agent.NotInstalled:
			why = "agent not running"
		case st.Agent.User != "" && st.Agent.User != "root":
			why = "agent not root"
		case proxiedWithoutIMDSExcluded(st.AgentEnv):
			why = "agent proxy without NO_PROXY"
		case st.NoRouteToIMDS || st.PolicyRoutesLost:
			why = "no route to IMDS"
		case st.ClockSkewSeconds > 300 || st.ClockSkewSeconds < -300:
			why = "clock skew"
		case st.EndpointFailures["ssm"] != "":
			why = "ssm endpoint unreachable"
		default:
			for _, r := range st.Firewall {
				if r.UIDRange == "" {
					why = "firewall blocks IMDS for everyone"
				}
			}
		}
		if why != "" && ref.ping == "Online" {
			t.Errorf("%s in %s/%s is Online although %s", id, ref.account, ref.region, why)
		}
		if st != nil && st.Agent.NotInstalled && ref.ping != "" {
			t.Errorf("%s has no agent installed but is registered (%s)", id, ref.ping)
		}
		if st != nil && len(st.Firewall) > 0 && st.Firewall[0].UIDRange == "" && ref.ping != "ConnectionLost" {
			t.Errorf("%s blocks IMDS for everyone but is %q, want ConnectionLost", id, ref.ping)
		}
		windows := ref.in.Platform == ec2types.PlatformValuesWindows
		if st != nil && strings.HasPrefix(st.OS, "windows") != windows {
			t.Errorf("%s: host OS %q on platform %q", id, st.OS, ref.in.Platform)
		}
	}
}

var idPattern = regexp.MustCompile(`^i-[0-9a-f]{17}$`)

// TestDemoAddresses checks ids and addresses look and behave like AWS's.
func TestDemoAddresses(t *testing.T) {
	w := loadDemo(t)
	seen := map[string]bool{}
	ips := map[string]string{}
	for _, acct := range w.Accounts {
		for _, region := range w.Regions {
			r := w.Fleet.Accounts[acct].Regions[region]
			subnets := map[string]ec2types.Subnet{}
			for _, s := range r.Subnets {
				subnets[aws.ToString(s.SubnetId)] = s
			}
			for i := range r.Instances {
				in := &r.Instances[i]
				id := aws.ToString(in.InstanceId)
				if !idPattern.MatchString(id) {
					t.Errorf("instance id %q does not look like i- and 17 hex digits", id)
				}
				if seen[id] {
					t.Errorf("instance id %s is not unique", id)
				}
				seen[id] = true
				sub, ok := subnets[aws.ToString(in.SubnetId)]
				if !ok {
					t.Errorf("%s is in subnet %s, which does not exist", id, aws.ToString(in.SubnetId))
					continue
				}
				if aws.ToString(sub.VpcId) != aws.ToString(in.VpcId) {
					t.Errorf("%s: subnet %s is not in VPC %s", id, aws.ToString(sub.SubnetId), aws.ToString(in.VpcId))
				}
				if aws.ToBool(sub.Ipv6Native) {
					a := netip.MustParseAddr(aws.ToString(in.Ipv6Address))
					if !netip.MustParsePrefix(aws.ToString(sub.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock)).Contains(a) {
						t.Errorf("%s: %s is outside its subnet", id, a)
					}
					continue
				}
				a, err := netip.ParseAddr(aws.ToString(in.PrivateIpAddress))
				cidr := netip.MustParsePrefix(aws.ToString(sub.CidrBlock))
				switch {
				case err != nil:
					t.Errorf("%s: private IP %q", id, aws.ToString(in.PrivateIpAddress))
				case !cidr.Contains(a):
					t.Errorf("%s: private IP %s is outside subnet %s", id, a, cidr)
				case a == cidr.Addr() || a.Next() == netip.Addr{} || !cidr.Contains(a.Next()):
					t.Errorf("%s: private IP %s is a reserved address of %s", id, a, cidr)
				}
				key := acct + "/" + region + "/" + aws.ToString(in.VpcId) + "/" + a.String()
				if prev, dup := ips[key]; dup {
					t.Errorf("%s and %s share %s", prev, id, a)
				}
				ips[key] = id
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no instances")
	}
}
