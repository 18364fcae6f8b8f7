package checks

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// The fixture is one account-region with a healthy instance in a private
// subnet behind a NAT gateway. Test cases break one thing at a time.
const (
	acctID     = "111122223333"
	regionName = "eu-west-1"
	instID     = "i-0abc0000000000001"
	profileARN = "arn:aws:iam::111122223333:instance-profile/app"
	roleName   = "app-role"
	dhmcRole   = "AWSSystemsManagerDefaultEC2InstanceManagementRole"
	coreARN    = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
	dhmcARN    = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"
	settingARN = "arn:aws:ssm:eu-west-1:111122223333:servicesetting/ssm/managed-instance/default-ec2-instance-management-role"
)

// Subnets of the fixture VPC.
const (
	subNAT = "subnet-nat"   // 10.0.1.0/24, default route to a NAT gateway
	subIso = "subnet-iso"   // 10.0.2.0/24, no route out
	subPub = "subnet-pub"   // 10.0.3.0/24, default route to an internet gateway
	subEP  = "subnet-ep"    // 10.0.9.0/24, where endpoints live; no route out
	subV6  = "subnet-v6"    // IPv6-only, ::/0 to an egress-only gateway
	vpcID  = "vpc-0fixture" // 10.0.0.0/16
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	snap *inventory.Snapshot
	acct *inventory.Account
	reg  *inventory.Region
	cfg  Config
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// openNACL allows everything both ways, like a VPC's default NACL.
func openNACL(id string) *inventory.NACL {
	return &inventory.NACL{ID: id, Entries: []inventory.NACLEntry{
		{RuleNumber: 100, Egress: false, Protocol: "-1", CIDR: pfx("0.0.0.0/0"), Allow: true},
		{RuleNumber: 100, Egress: true, Protocol: "-1", CIDR: pfx("0.0.0.0/0"), Allow: true},
	}}
}

func allAllowed() map[string]bool {
	m := map[string]bool{}
	for _, a := range inventory.AgentActions {
		m[a] = true
	}
	return m
}

func newFixture() *fixture {
	local := inventory.Route{Destination: pfx("10.0.0.0/16"), Target: "local", TargetID: "local"}
	rtNAT := &inventory.RouteTable{ID: "rtb-nat", Routes: []inventory.Route{local,
		{Destination: pfx("0.0.0.0/0"), Target: "nat", TargetID: "nat-0001"}}}
	rtIso := &inventory.RouteTable{ID: "rtb-iso", Routes: []inventory.Route{local}}
	rtPub := &inventory.RouteTable{ID: "rtb-pub", Routes: []inventory.Route{local,
		{Destination: pfx("0.0.0.0/0"), Target: "igw", TargetID: "igw-0001"}}}
	rtV6 := &inventory.RouteTable{ID: "rtb-v6", Routes: []inventory.Route{
		{Destination: pfx("2600:1f18:abcd::/56"), Target: "local", TargetID: "local"},
		{Destination: pfx("::/0"), Target: "eigw", TargetID: "eigw-0001"}}}

	reg := &inventory.Region{
		Account:  acctID,
		Name:     regionName,
		Defaults: &inventory.MetadataDefaults{HTTPTokens: "required", HopLimit: 2, ManagedBy: "account"},
		DHMC:     &inventory.DHMCSetting{Value: "$None"},
		Network: inventory.Network{
			VPCs: map[string]*inventory.VPC{vpcID: {ID: vpcID, CIDRs: []netip.Prefix{pfx("10.0.0.0/16")},
				DNSSupport: true, DNSHostnames: true}},
			Subnets: map[string]*inventory.Subnet{
				subNAT: {ID: subNAT, VPCID: vpcID, CIDR: pfx("10.0.1.0/24"), RouteTable: rtNAT, NACL: openNACL("acl-nat")},
				subIso: {ID: subIso, VPCID: vpcID, CIDR: pfx("10.0.2.0/24"), RouteTable: rtIso, NACL: openNACL("acl-iso")},
				subPub: {ID: subPub, VPCID: vpcID, CIDR: pfx("10.0.3.0/24"), RouteTable: rtPub, NACL: openNACL("acl-pub")},
				subEP:  {ID: subEP, VPCID: vpcID, CIDR: pfx("10.0.9.0/24"), RouteTable: rtIso, NACL: openNACL("acl-ep")},
				subV6: {ID: subV6, VPCID: vpcID, CIDR: pfx("2600:1f18:abcd:100::/64"), IPv6Native: true, RouteTable: rtV6,
					NACL: &inventory.NACL{ID: "acl-v6", Entries: []inventory.NACLEntry{
						{RuleNumber: 100, Egress: false, Protocol: "-1", CIDR: pfx("::/0"), Allow: true},
						{RuleNumber: 100, Egress: true, Protocol: "-1", CIDR: pfx("::/0"), Allow: true},
					}}},
			},
			SecurityGroups: map[string]*inventory.SecurityGroup{
				"sg-app": {ID: "sg-app", Egress: []inventory.SGRule{{Protocol: "-1", CIDRs: []netip.Prefix{pfx("0.0.0.0/0"), pfx("::/0")}}}},
				"sg-ep": {ID: "sg-ep", Ingress: []inventory.SGRule{{Protocol: "tcp", FromPort: 443, ToPort: 443,
					CIDRs: []netip.Prefix{pfx("10.0.0.0/16")}}}},
			},
		},
		Instances: []inventory.Instance{{
			ID:               instID,
			State:            "running",
			Platform:         "linux",
			LaunchTime:       t0.Add(-48 * time.Hour),
			VPCID:            vpcID,
			SubnetID:         subNAT,
			PrivateIP:        addr("10.0.1.10"),
			SecurityGroupIDs: []string{"sg-app"},
			ProfileARN:       profileARN,
			Tags:             map[string]string{"Name": "app"},
			Metadata: inventory.MetadataOptions{HTTPEndpoint: "enabled", HTTPTokens: "required", HopLimit: 2,
				ProtocolIPv6: "disabled", InstanceTags: "disabled", State: "applied"},
			Agent: &inventory.Agent{PingStatus: "Online", Version: "3.3.1142.0", PlatformType: "Linux",
				LastPing: t0.Add(-time.Minute)},
			IMDSCalls: &inventory.IMDSCalls{HasData: true},
		}},
	}
	acct := &inventory.Account{
		ID: acctID,
		IAM: inventory.IAM{
			Profiles: map[string]*inventory.InstanceProfile{
				profileARN: {ARN: profileARN, Name: "app", Exists: true, RoleNames: []string{roleName}},
			},
			Roles: map[string]*inventory.Role{
				roleName: {Name: roleName, ARN: "arn:aws:iam::111122223333:role/" + roleName, Exists: true,
					TrustedServices: []string{"ec2.amazonaws.com"}, AttachedPolicyARNs: []string{coreARN},
					Allowed: allAllowed(), PermissionsFrom: inventory.FromSimulation},
				dhmcRole: {Name: dhmcRole, ARN: "arn:aws:iam::111122223333:role/service-role/" + dhmcRole, Exists: true,
					TrustedServices: []string{"ssm.amazonaws.com"}, AttachedPolicyARNs: []string{dhmcARN},
					Allowed: allAllowed(), PermissionsFrom: inventory.FromSimulation},
			},
		},
		Regions: []*inventory.Region{reg},
	}
	snap := &inventory.Snapshot{CollectedAt: t0, MetricWindow: 14 * 24 * time.Hour, Accounts: []*inventory.Account{acct}}
	cfg := DefaultConfig()
	return &fixture{snap: snap, acct: acct, reg: reg, cfg: cfg}
}

// inst is the fixture's instance.
func (f *fixture) inst() *inventory.Instance { return &f.reg.Instances[0] }

// role is the instance profile's role.
func (f *fixture) role() *inventory.Role { return f.acct.IAM.Roles[roleName] }

// subnet returns a fixture subnet.
func (f *fixture) subnet(id string) *inventory.Subnet { return f.reg.Network.Subnets[id] }

// enableDHMC turns DHMC on with the healthy fixture role.
func (f *fixture) enableDHMC() {
	f.reg.DHMC = &inventory.DHMCSetting{Value: "service-role/" + dhmcRole, RoleName: dhmcRole}
}

// moveTo puts the instance in another subnet, with an address in it.
func (f *fixture) moveTo(subnet string, ip string) {
	in := f.inst()
	in.SubnetID = subnet
	in.PrivateIP = netip.Addr{}
	if ip != "" {
		in.PrivateIP = addr(ip)
	}
}

// addEndpoints creates interface endpoints in subnet-ep guarded by sg-ep.
func (f *fixture) addEndpoints(privateDNS bool, services ...string) {
	vpc := f.reg.Network.VPCs[vpcID]
	if len(services) == 0 {
		services = inventory.EndpointServices
	}
	for _, svc := range services {
		vpc.Endpoints = append(vpc.Endpoints, &inventory.Endpoint{
			ID: "vpce-" + svc, Service: svc, State: "available", PrivateDNS: privateDNS,
			SubnetIDs: []string{subEP}, SecurityGroupIDs: []string{"sg-ep"},
		})
	}
}

// addInstance appends a copy of the fixture instance with another id.
func (f *fixture) addInstance(id string, mod func(*inventory.Instance)) {
	in := f.reg.Instances[0]
	in.ID = id
	if mod != nil {
		mod(&in)
	}
	f.reg.Instances = append(f.reg.Instances, in)
}

func (f *fixture) scope() *Scope {
	cfg := f.cfg
	if cfg.Now.IsZero() {
		cfg.Now = f.snap.CollectedAt
	}
	return newScope(&cfg, f.snap, f.acct, f.reg)
}

// outcome runs an instance check on the fixture's first instance.
func (f *fixture) outcome(t *testing.T, id string) Outcome {
	t.Helper()
	c := Lookup(id)
	if c == nil || c.Instance == nil {
		t.Fatalf("%s is not an instance check", id)
	}
	return c.Instance(f.scope(), f.inst())
}

// regionOutcomes runs a region check on the fixture's region.
func (f *fixture) regionOutcomes(t *testing.T, id string) []Outcome {
	t.Helper()
	c := Lookup(id)
	if c == nil || c.Region == nil {
		t.Fatalf("%s is not a region check", id)
	}
	return c.Region(f.scope())
}

// tc is one table case: a change to the fixture and what the check must say.
type tc struct {
	name  string
	setup func(f *fixture)
	want  Status // "" means not applicable: no finding, no count
	// sev is the expected severity of a FAIL (Outcome override, else the
	// check's); empty skips the comparison.
	sev Severity
	// detail lists substrings the detail must contain.
	detail []string
	// evidence lists keys the evidence must hold, compared with %v.
	evidence map[string]any
	// check runs extra assertions.
	check func(t *testing.T, o Outcome)
}

func runInstanceCases(t *testing.T, id string, cases []tc) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			if c.setup != nil {
				c.setup(f)
			}
			o := f.outcome(t, id)
			assertOutcome(t, id, c, o, f.inst().ID)
		})
	}
}

func runRegionCases(t *testing.T, id string, cases []tc, resource string) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			if c.setup != nil {
				c.setup(f)
			}
			outs := f.regionOutcomes(t, id)
			if c.want == "" {
				if len(outs) != 0 {
					t.Fatalf("want no outcome, got %+v", outs)
				}
				return
			}
			if len(outs) != 1 {
				t.Fatalf("want one outcome, got %d: %+v", len(outs), outs)
			}
			o := outs[0]
			if o.Resource != resource {
				t.Errorf("resource = %q, want %q", o.Resource, resource)
			}
			// One setting or default exists per account-region, so the
			// account-region names it in a sentence better than its ARN.
			assertOutcome(t, id, c, o, acctID+"/"+regionName)
		})
	}
}

// assertOutcome compares o with the case; name is how a FAIL's detail must
// name the resource.
func assertOutcome(t *testing.T, id string, c tc, o Outcome, name string) {
	t.Helper()
	if o.Status != c.want {
		t.Fatalf("status = %q, want %q (detail %q, evidence %v)", o.Status, c.want, o.Detail, o.Evidence)
	}
	if o.Status == Fail {
		if sev := cmp.Or(o.Severity, Lookup(id).Severity); c.sev != "" && sev != c.sev {
			t.Errorf("severity = %s, want %s", sev, c.sev)
		}
		if !strings.Contains(o.Detail, name) {
			t.Errorf("detail %q does not name %s", o.Detail, name)
		}
		if !strings.HasSuffix(o.Detail, ".") || strings.Count(o.Detail, ". ") > 0 {
			t.Errorf("detail %q is not one sentence", o.Detail)
		}
		if len(o.Evidence) == 0 {
			t.Errorf("FAIL without evidence")
		}
	}
	for _, s := range c.detail {
		if !strings.Contains(o.Detail, s) {
			t.Errorf("detail %q does not contain %q", o.Detail, s)
		}
	}
	for k, want := range c.evidence {
		got, ok := o.Evidence[k]
		if !ok {
			t.Errorf("evidence lacks %q: %v", k, o.Evidence)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("evidence[%q] = %v, want %v", k, got, want)
		}
	}
	if c.check != nil {
		c.check(t, o)
	}
}
