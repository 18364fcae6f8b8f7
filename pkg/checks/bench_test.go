package checks

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Shape of the generated fleet: 4 accounts × 5 regions × 5,000 instances.
const (
	benchAccounts  = 4
	benchRegions   = 5
	benchInstances = 5000
	benchProfiles  = 30
	benchVPCs      = 3
	benchSGs       = 10
	benchClusters  = 6
)

var benchRegionNames = []string{"eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2", "eu-central-1"}

// benchAgentVersions weights the current agent heavily, as auto-update does.
var benchAgentVersions = func() []string {
	v := []string{"3.2.2303.0", "3.2.582.0", "3.1.1732.0", "junk"}
	for range 12 {
		v = append(v, "3.3.1142.0", "3.3.987.0")
	}
	return v
}()

// benchFleet builds a deterministic fleet whose mix of faults resembles a
// real estate: most instances healthy, 10-20% failing one check or another,
// a few subnets, security groups and NACLs shared by thousands of instances,
// a few dozen instance profiles per account.
func benchFleet() *inventory.Snapshot {
	rng := rand.New(rand.NewPCG(2026, 11))
	snap := &inventory.Snapshot{CollectedAt: t0, MetricWindow: 14 * 24 * time.Hour}
	for a := range benchAccounts {
		id := fmt.Sprintf("%012d", 100000000000+a)
		acct := &inventory.Account{ID: id, IAM: benchIAM(id)}
		for r := range benchRegions {
			acct.Regions = append(acct.Regions, benchRegion(rng, id, benchRegionNames[r], r))
		}
		snap.Accounts = append(snap.Accounts, acct)
	}
	return snap
}

func benchIAM(acct string) inventory.IAM {
	iam := inventory.IAM{Profiles: map[string]*inventory.InstanceProfile{}, Roles: map[string]*inventory.Role{}}
	for p := range benchProfiles {
		arn := fmt.Sprintf("arn:aws:iam::%s:instance-profile/app-%02d", acct, p)
		role := fmt.Sprintf("app-%02d-role", p)
		iam.Profiles[arn] = &inventory.InstanceProfile{ARN: arn, Name: fmt.Sprintf("app-%02d", p), Exists: true,
			RoleNames: []string{role}}
		r := &inventory.Role{Name: role, ARN: "arn:aws:iam::" + acct + ":role/" + role, Exists: true,
			TrustedServices: []string{"ec2.amazonaws.com"}, AttachedPolicyARNs: []string{coreARN},
			Allowed: allAllowed(), PermissionsFrom: inventory.FromSimulation}
		// Profiles 0-3 are the broken ones; instances pick them rarely.
		switch p {
		case 0:
			r = &inventory.Role{Name: role, Exists: false}
		case 1:
			r.Allowed["ssmmessages:OpenDataChannel"] = false
			r.Allowed["ssmmessages:CreateDataChannel"] = false
		case 2:
			r.Allowed[updateInstanceInformation] = false
		case 3:
			r.TrustedServices = []string{"lambda.amazonaws.com"}
		}
		iam.Roles[role] = r
	}
	iam.Roles[dhmcRole] = &inventory.Role{Name: dhmcRole, Exists: true, TrustedServices: []string{"ssm.amazonaws.com"},
		AttachedPolicyARNs: []string{dhmcARN}, Allowed: allAllowed(), PermissionsFrom: inventory.FromSimulation}
	if acct[len(acct)-1] == '1' {
		iam.Roles[dhmcRole].TrustedServices = []string{"ec2.amazonaws.com"}
	}
	return iam
}

// benchSubnet is a generated subnet and how instances are placed in it.
type benchSubnet struct {
	id     string
	cidr   netip.Prefix
	public bool
	ipv6   bool
}

// benchSubnetKinds lays out each VPC; instances land in a subnet with the
// kind's weight (the endpoint subnet holds only endpoints).
var benchSubnetKinds = []struct {
	kind   string
	weight int
}{{"nat", 8}, {"nat", 8}, {"iso", 1}, {"pub", 3}, {"ep", 0}}

func benchRegion(rng *rand.Rand, acct, name string, idx int) *inventory.Region {
	reg := &inventory.Region{Account: acct, Name: name,
		Defaults: &inventory.MetadataDefaults{HTTPTokens: "required", HopLimit: 2, ManagedBy: "account"},
		DHMC:     &inventory.DHMCSetting{Value: "$None"},
		Network: inventory.Network{VPCs: map[string]*inventory.VPC{}, Subnets: map[string]*inventory.Subnet{},
			SecurityGroups: map[string]*inventory.SecurityGroup{}},
	}
	if idx == 1 && acct[len(acct)-1] <= '1' {
		reg.DHMC = &inventory.DHMCSetting{Value: dhmcRole, RoleName: dhmcRole}
	}
	if idx == 4 {
		reg.Defaults = &inventory.MetadataDefaults{ManagedBy: "declarative-policy"}
	}
	var subnets []benchSubnet
	for v := range benchVPCs {
		vpcID := fmt.Sprintf("vpc-%s-%d", name, v)
		base := netip.AddrFrom4([4]byte{10, byte(v), 0, 0})
		vpc := &inventory.VPC{ID: vpcID, CIDRs: []netip.Prefix{netip.PrefixFrom(base, 16)}, DNSSupport: true, DNSHostnames: true}
		reg.Network.VPCs[vpcID] = vpc
		local := inventory.Route{Destination: netip.PrefixFrom(base, 16), Target: "local", TargetID: "local"}
		rtNAT := &inventory.RouteTable{ID: "rtb-nat-" + vpcID, Routes: []inventory.Route{local,
			{Destination: pfx("0.0.0.0/0"), Target: "nat", TargetID: "nat-" + vpcID}}}
		rtIso := &inventory.RouteTable{ID: "rtb-iso-" + vpcID, Routes: []inventory.Route{local}}
		rtPub := &inventory.RouteTable{ID: "rtb-pub-" + vpcID, Routes: []inventory.Route{local,
			{Destination: pfx("0.0.0.0/0"), Target: "igw", TargetID: "igw-" + vpcID}}}
		for s, k := range benchSubnetKinds {
			kind := k.kind
			cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v), byte(s), 0}), 24)
			sub := &inventory.Subnet{ID: fmt.Sprintf("subnet-%s-%d-%d", name, v, s), VPCID: vpcID, CIDR: cidr,
				NACL: openNACL(fmt.Sprintf("acl-%s-%d-%d", name, v, s))}
			switch kind {
			case "nat":
				sub.RouteTable = rtNAT
			case "pub":
				sub.RouteTable = rtPub
			default:
				sub.RouteTable = rtIso
			}
			if v == 1 && s == 1 {
				// A NACL that opens only the Linux ephemeral range: Windows
				// instances behind it fail.
				sub.NACL.Entries[0] = inventory.NACLEntry{RuleNumber: 100, Protocol: "6", CIDR: pfx("0.0.0.0/0"),
					FromPort: 32768, ToPort: 60999, Allow: true}
			}
			reg.Network.Subnets[sub.ID] = sub
			for range k.weight {
				subnets = append(subnets, benchSubnet{id: sub.ID, cidr: cidr, public: kind == "pub"})
			}
		}
		// VPC 0 and 1 have endpoints with private DNS, except VPC 1 in
		// the first account's third region; VPC 2 has none, and an
		// IPv6-only subnet.
		if v < 2 {
			for _, svc := range inventory.EndpointServices {
				vpc.Endpoints = append(vpc.Endpoints, &inventory.Endpoint{ID: "vpce-" + svc + "-" + vpcID, Service: svc,
					State: "available", PrivateDNS: v == 0 || idx != 2 || acct[len(acct)-1] != '0', SubnetIDs: []string{fmt.Sprintf("subnet-%s-%d-4", name, v)},
					SecurityGroupIDs: []string{"sg-ep-" + vpcID}})
			}
			admit := vpc.CIDRs
			if v == 0 && idx == 3 {
				// Leaves out the isolated subnet 10.0.2.0/24.
				admit = []netip.Prefix{pfx("10.0.0.0/23"), pfx("10.0.3.0/24")}
			}
			reg.Network.SecurityGroups["sg-ep-"+vpcID] = &inventory.SecurityGroup{ID: "sg-ep-" + vpcID,
				Ingress: []inventory.SGRule{{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: admit}}}
		} else {
			v6 := &inventory.Subnet{ID: "subnet-v6-" + vpcID, VPCID: vpcID, CIDR: pfx("2600:1f18:abcd:100::/64"),
				IPv6Native: true, RouteTable: &inventory.RouteTable{ID: "rtb-v6-" + vpcID, Routes: []inventory.Route{
					{Destination: pfx("::/0"), Target: "eigw", TargetID: "eigw-" + vpcID}}},
				NACL: &inventory.NACL{ID: "acl-v6-" + vpcID, Entries: []inventory.NACLEntry{
					{RuleNumber: 100, Protocol: "-1", CIDR: pfx("::/0"), Allow: true},
					{RuleNumber: 100, Egress: true, Protocol: "-1", CIDR: pfx("::/0"), Allow: true}}}}
			reg.Network.Subnets[v6.ID] = v6
			subnets = append(subnets, benchSubnet{id: v6.ID, cidr: v6.CIDR, ipv6: true})
		}
	}
	var sgs []string
	for g := range benchSGs {
		id := fmt.Sprintf("sg-%s-%02d", name, g)
		sg := &inventory.SecurityGroup{ID: id, Egress: []inventory.SGRule{{Protocol: "-1", CIDRs: []netip.Prefix{pfx("0.0.0.0/0"), pfx("::/0")}}}}
		if g == 0 {
			sg.Egress = []inventory.SGRule{{Protocol: "tcp", FromPort: 0, ToPort: 65535, CIDRs: []netip.Prefix{pfx("10.0.0.0/8")}}}
		}
		reg.Network.SecurityGroups[id] = sg
		sgs = append(sgs, id)
	}

	reg.Instances = make([]inventory.Instance, benchInstances)
	for i := range reg.Instances {
		reg.Instances[i] = benchInstance(rng, acct, name, idx*benchInstances+i, subnets, sgs)
	}
	return reg
}

func benchInstance(rng *rand.Rand, acct, region string, n int, subnets []benchSubnet, sgs []string) inventory.Instance {
	sub := subnets[rng.IntN(len(subnets))]
	var ip netip.Addr
	if !sub.ipv6 {
		ip4 := sub.cidr.Addr().As4()
		ip4[3] = byte(4 + rng.IntN(250))
		ip = netip.AddrFrom4(ip4)
	}
	in := inventory.Instance{
		ID:         fmt.Sprintf("i-%s%013x", acct[len(acct)-4:], n),
		State:      "running",
		Platform:   "linux",
		LaunchTime: t0.Add(-time.Duration(1+rng.IntN(90*24)) * time.Hour),
		VPCID:      "",
		SubnetID:   sub.id,
		PrivateIP:  ip,
		PublicIP:   sub.public && rng.IntN(10) < 8,
		Tags:       map[string]string{"Name": fmt.Sprintf("app-%d", n%200)},
		Metadata: inventory.MetadataOptions{HTTPEndpoint: "enabled", HTTPTokens: "required", HopLimit: 2,
			ProtocolIPv6: "disabled", InstanceTags: "disabled", State: "applied"},
		IMDSCalls: &inventory.IMDSCalls{HasData: true},
	}
	in.SecurityGroupIDs = []string{sgs[1+rng.IntN(len(sgs)-1)]}
	if rng.IntN(100) < 1 {
		in.SecurityGroupIDs = []string{sgs[0]} // egress only inside 10/8
	} else if rng.IntN(3) == 0 {
		in.SecurityGroupIDs = append(in.SecurityGroupIDs, sgs[rng.IntN(len(sgs))])
	}
	switch x := rng.IntN(100); {
	case x < 6:
		in.State = "stopped"
	case x < 7:
		in.LaunchTime = t0.Add(-5 * time.Minute)
	}
	if rng.IntN(10) == 0 {
		in.Platform = "windows"
	}
	switch x := rng.IntN(100); {
	case x < 3: // no profile
	case x < 4: // one of the broken profiles
		in.ProfileARN = fmt.Sprintf("arn:aws:iam::%s:instance-profile/app-%02d", acct, rng.IntN(4))
	default:
		in.ProfileARN = fmt.Sprintf("arn:aws:iam::%s:instance-profile/app-%02d", acct, 4+rng.IntN(benchProfiles-4))
	}
	switch x := rng.IntN(100); {
	case x < 15:
		c := fmt.Sprintf("cluster-%d", rng.IntN(benchClusters))
		in.Tags["eks:cluster-name"] = c
		in.Tags["kubernetes.io/cluster/"+c] = "owned"
		in.Tags["eks:nodegroup-name"] = "ng"
	case x < 18:
		in.Tags["karpenter.sh/nodepool"] = "default"
	case x < 23:
		in.Tags["aws:ecs:clusterName"] = "batch"
	case x < 24:
		in.Tags[DeclareContainerHostTag] = "nested"
	}
	if rng.IntN(100) < 5 {
		in.Metadata.HopLimit = 1
	}
	if sub.ipv6 && rng.IntN(2) == 0 {
		in.Metadata.ProtocolIPv6 = "enabled"
	}
	if rng.IntN(100) < 4 {
		in.Metadata.HTTPTokens = "optional"
		if rng.IntN(3) == 0 {
			in.IMDSCalls.NoToken = float64(1 + rng.IntN(500))
		}
	} else if rng.IntN(100) < 1 {
		in.IMDSCalls.NoTokenRejected = float64(1 + rng.IntN(50))
	}
	if rng.IntN(200) == 0 {
		in.Metadata.HTTPEndpoint = "disabled"
	}
	if rng.IntN(200) == 0 {
		in.Metadata.State = "pending"
	}
	if rng.IntN(20) == 0 {
		in.IMDSCalls = &inventory.IMDSCalls{}
	}
	if in.State == "running" && rng.IntN(100) < 98 {
		in.Agent = &inventory.Agent{PingStatus: "Online", PlatformType: "Linux",
			Version: benchAgentVersions[rng.IntN(len(benchAgentVersions))], LastPing: t0.Add(-time.Minute)}
		if rng.IntN(100) < 2 {
			in.Agent.PingStatus = "ConnectionLost"
		}
	}
	return in
}

// BenchmarkEvaluate100k evaluates every check over a 100,000-instance
// snapshot. Besides time it reports the findings and an upper bound of the
// peak heap: the live heap once the snapshot is built plus everything
// Evaluate allocates (as if none of it were collected before it returns).
func BenchmarkEvaluate100k(b *testing.B) {
	snap := benchFleet()
	cfg := DefaultConfig()
	cfg.AgentMinVersion = "3.2.2000.0"
	cfg.IRSAOnlyClusters = []string{"cluster-0", "cluster-1"}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live, allocBefore := ms.HeapAlloc, ms.TotalAlloc
	var res *Result
	for b.Loop() {
		var err error
		if res, err = Evaluate(snap, cfg); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&ms)
	perEval := float64(ms.TotalAlloc-allocBefore) / float64(b.N)
	const mb = 1 << 20
	b.ReportMetric(float64(len(res.Findings)), "findings")
	b.ReportMetric(float64(live)/mb, "snapshot-MB")
	b.ReportMetric(perEval/mb, "alloc-MB/op")
	b.ReportMetric((float64(live)+perEval)/mb, "peak-heap-MB")
}

// The generated fleet must exercise the checks: most instances pass, a
// sizeable minority fails, and every instance-level family reports.
func TestBenchFleetMix(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: builds a 100,000-instance fleet (never skipped under CI=true)")
	}
	snap := benchFleet()
	res, err := Evaluate(snap, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	failing := map[string]bool{}
	for _, f := range res.Findings {
		if f.ResourceType == TypeInstance {
			failing[f.Resource] = true
		}
	}
	total := benchAccounts * benchRegions * benchInstances
	if share := float64(len(failing)) / float64(total); share < 0.10 || share > 0.40 {
		t.Errorf("%.0f%% of instances fail something; the benchmark fleet should be mostly healthy", share*100)
	}
	for _, st := range res.Stats {
		if st.Check != IncompleteID && st.Failed == 0 {
			t.Errorf("no instance fails %s: the benchmark does not exercise it", st.Check)
		}
	}
}
