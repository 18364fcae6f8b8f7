package scenario

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

// LatestAgentVersion is the newest SSM agent in the sandbox's world.
const LatestAgentVersion = "3.3.2746.0"

// Healthy defaults for what a template leaves unset.
var (
	// defaultAgentVersions are current agents, as a fleet that updates
	// monthly runs them.
	defaultAgentVersions = []string{LatestAgentVersion, "3.3.1957.0", "3.3.1802.0"}
	defaultLinuxTypes    = []string{"m6i.large", "m6i.xlarge", "c6i.large", "r6i.large", "t3.medium", "m7g.large"}
	defaultWindowsTypes  = []string{"m6i.large", "m6i.xlarge", "t3.large"}
	defaultLaunchAge     = DurationSpan{24 * time.Hour, 180 * 24 * time.Hour}
	pendingLaunchAge     = DurationSpan{30 * time.Second, 3 * time.Minute}
)

// publicPool is where public IPv4 addresses come from: 198.18.0.0/15 is
// reserved for benchmarking (RFC 2544), so a sandbox address can never be
// mistaken for, or routed to, a real host.
var publicPool = netip.MustParsePrefix("198.18.0.0/15")

// osInfo is how an operating system shows in EC2 and SSM.
type osInfo struct {
	platformDetails, platformName, platformVersion, usageOperation string
}

var oses = map[string]osInfo{
	"al2023":      {"Linux/UNIX", "Amazon Linux", "2023", "RunInstances"},
	"al2":         {"Linux/UNIX", "Amazon Linux", "2", "RunInstances"},
	"ubuntu22.04": {"Linux/UNIX", "Ubuntu", "22.04", "RunInstances"},
	"rhel9":       {"Red Hat Enterprise Linux", "Red Hat Enterprise Linux", "9.4", "RunInstances:0010"},
	"sles15":      {"SUSE Linux", "SLES", "15.5", "RunInstances:000g"},
	"windows2022": {"Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348", "RunInstances:0002"},
}

var instanceStateCodes = map[string]int32{"pending": 0, "running": 16, "stopping": 64, "stopped": 80}

var endpointStateNames = map[string]ec2types.State{
	"available": ec2types.StateAvailable, "pending": ec2types.StatePending,
	"pendingAcceptance": ec2types.StatePendingAcceptance, "deleting": ec2types.StateDeleting,
	"failed": ec2types.StateFailed, "rejected": ec2types.StateRejected,
}

type builder struct {
	pl     *plan
	rng    *rand.Rand
	ids    *idGen
	fleet  *fake.Fleet
	hosts  map[string]*host.State
	public uint32 // public addresses handed out
	v6n    uint64 // IPv6 addresses handed out
	nets   map[*arPlan]*builtRegion
}

type builtRegion struct {
	r    *fake.Region
	vpcs map[string]*builtVPC
}

type builtVPC struct {
	id      *string
	spec    *VPCSpec
	sgs     map[string]*string // name → id
	subnets map[string]*builtSubnet
}

type builtSubnet struct {
	spec      *SubnetSpec
	id        *string
	index     int // into Region.Subnets
	prefix    netip.Prefix
	prefix6   netip.Prefix
	pool      v4Pool
	placement *ec2types.Placement
	capacity  int
	used      int
}

func (pl *plan) build() (*World, error) {
	seed := uint64(pl.seed)
	b := &builder{
		pl:    pl,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ids:   newIDGen(pl.seed),
		fleet: fake.New(pl.hub),
		hosts: map[string]*host.State{},
		nets:  map[*arPlan]*builtRegion{},
	}
	w := &World{
		Fleet:          b.fleet,
		Hosts:          b.hosts,
		CallerAccount:  pl.hub,
		AuditRole:      pl.auditRole,
		AutomationRole: pl.automationRole,
		Assumable:      map[string][]string{},
		Now:            pl.now,
	}
	for _, a := range pl.accounts {
		b.account(a)
		w.Accounts = append(w.Accounts, a.id)
		roles := []string{pl.automationRole}
		if !a.auditMissing {
			roles = []string{pl.auditRole, pl.automationRole}
		}
		w.Assumable[a.id] = roles
	}
	for _, ar := range pl.ars {
		if !slices.Contains(w.Regions, ar.region) {
			w.Regions = append(w.Regions, ar.region)
		}
		b.nets[ar] = b.region(ar)
	}
	for _, gp := range pl.groups {
		for k, ar := range gp.ars {
			if err := b.instances(gp, ar, gp.counts[k]); err != nil {
				return nil, err
			}
		}
	}
	for _, ar := range pl.ars {
		br := b.nets[ar]
		for _, v := range br.vpcs {
			for _, sn := range v.subnets {
				if !sn.spec.IPv6Native {
					br.r.Subnets[sn.index].AvailableIpAddressCount = aws.Int32(int32(sn.capacity - sn.used))
				}
			}
		}
	}
	return w, nil
}

// account builds an account's IAM, including the roles fleetdoctor assumes.
func (b *builder) account(a *acctPlan) {
	acct := b.fleet.Account(a.id)
	acct.AssumeRoleDenied = a.auditMissing
	m := acct.IAM
	m.SimulateDenied = a.iam.simulateDenied
	for _, p := range a.iam.policies {
		arn := "arn:aws:iam::" + a.id + ":policy/" + p.v.Name
		m.Policies[arn] = &fake.Policy{ARN: arn, Document: p.v.Document.JSON}
	}
	attach := func(refs []string) []string {
		var out []string
		for _, ref := range refs {
			arn, err := a.iam.managedARN(ref, a.id)
			if err != nil {
				continue // plan.checkIAM reported it
			}
			if name, ok := strings.CutPrefix(arn, "arn:aws:iam::aws:policy/"); ok && m.Policies[arn] == nil {
				m.Policies[arn] = &fake.Policy{ARN: arn, Document: awsManaged[name]}
			}
			out = append(out, arn)
		}
		return out
	}
	for _, r := range a.iam.roles {
		if r.v.Deleted {
			continue
		}
		inline := make(map[string]string, len(r.v.Inline))
		for name, d := range r.v.Inline {
			inline[name] = d.JSON
		}
		m.Roles[r.v.Name] = &fake.Role{Name: r.v.Name, Trust: trustServices(r.v.Trust), Attached: attach(r.v.Managed), Inline: inline}
	}
	for _, p := range a.iam.profiles {
		if p.v.Deleted {
			continue
		}
		fp := &fake.Profile{Name: p.v.Name}
		if p.v.Role != "" {
			fp.Roles = []string{p.v.Role}
		}
		m.Profiles[p.v.Name] = fp
	}
	hubRoot := "arn:aws:iam::" + b.pl.hub + ":root"
	if !a.auditMissing && m.Roles[b.pl.auditRole] == nil {
		m.Roles[b.pl.auditRole] = &fake.Role{Name: b.pl.auditRole, Trust: trustDoc(hubRoot),
			Attached: attach([]string{"ReadOnlyAccess"}), Inline: map[string]string{}}
	}
	if m.Roles[b.pl.automationRole] == nil {
		m.Roles[b.pl.automationRole] = &fake.Role{Name: b.pl.automationRole, Trust: trustDoc(hubRoot, "ssm.amazonaws.com"),
			Attached: attach([]string{"service-role/AmazonSSMAutomationRole"}), Inline: map[string]string{}}
	}
}

type trustStatement struct {
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal"`
	Action    string         `json:"Action"`
}

type trustPolicy struct {
	Version   string           `json:"Version"`
	Statement []trustStatement `json:"Statement"`
}

func marshalTrust(principal map[string]any) string {
	doc := trustPolicy{Version: "2012-10-17", Statement: []trustStatement{{Effect: "Allow", Principal: principal, Action: "sts:AssumeRole"}}}
	if len(principal) == 0 {
		doc.Statement = []trustStatement{}
	}
	out, _ := json.Marshal(doc) // plain strings and maps always marshal
	return string(out)
}

// trustServices is a trust policy allowing the services to assume a role.
func trustServices(services []string) string {
	switch len(services) {
	case 0:
		return marshalTrust(nil)
	case 1:
		return marshalTrust(map[string]any{"Service": services[0]})
	}
	return marshalTrust(map[string]any{"Service": services})
}

// trustDoc trusts an account principal and, optionally, a service.
func trustDoc(account string, services ...string) string {
	p := map[string]any{"AWS": account}
	if len(services) > 0 {
		p["Service"] = services
	}
	return marshalTrust(p)
}

// region builds an account-region's settings and network.
func (b *builder) region(ar *arPlan) *builtRegion {
	r := b.fleet.Region(ar.acct.id, ar.region)
	r.DHMC = ar.dhmc
	r.Defaults = ec2types.InstanceMetadataDefaultsResponse{ManagedBy: ec2types.ManagedByAccount}
	if d := ar.defaults; d != nil {
		r.Defaults.HttpEndpoint = ec2types.InstanceMetadataEndpointState(d.HTTPEndpoint)
		r.Defaults.HttpTokens = ec2types.HttpTokensState(d.HTTPTokens)
		r.Defaults.InstanceMetadataTags = ec2types.InstanceMetadataTagsState(d.InstanceMetadataTags)
		if d.HopLimit > 0 {
			r.Defaults.HttpPutResponseHopLimit = aws.Int32(d.HopLimit)
		}
		if d.ManagedBy == "declarative-policy" {
			r.Defaults.ManagedBy = ec2types.ManagedByDeclarativePolicy
			r.Defaults.ManagedExceptionMessage = aws.String("The IMDS defaults of this account are managed by an " +
				"AWS Organizations declarative policy and cannot be changed from within the account.")
		}
	}
	br := &builtRegion{r: r, vpcs: map[string]*builtVPC{}}
	for _, v := range ar.vpcs {
		br.vpcs[v.spec.Name] = b.vpc(r, ar, v.spec)
	}
	return br
}

func nameTags(name string) []ec2types.Tag {
	return []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(name)}}
}

// vpc builds a VPC with its security groups, ACLs, route tables, subnets
// and endpoints.
func (b *builder) vpc(r *fake.Region, ar *arPlan, v *VPCSpec) *builtVPC {
	acct, region := ar.acct.id, ar.region
	bv := &builtVPC{id: aws.String(b.ids.next("vpc-")), spec: v, sgs: map[string]*string{}, subnets: map[string]*builtSubnet{}}
	cidr := netip.MustParsePrefix(v.CIDR)
	var cidr6 netip.Prefix
	if v.IPv6CIDR != "" {
		cidr6 = netip.MustParsePrefix(v.IPv6CIDR)
	}
	vpc := ec2types.Vpc{
		VpcId: bv.id, CidrBlock: aws.String(v.CIDR), OwnerId: aws.String(acct),
		State: ec2types.VpcStateAvailable, IsDefault: aws.Bool(false), InstanceTenancy: ec2types.TenancyDefault,
		DhcpOptionsId: aws.String(b.ids.next("dopt-")),
		CidrBlockAssociationSet: []ec2types.VpcCidrBlockAssociation{{
			AssociationId: aws.String(b.ids.next("vpc-cidr-assoc-")), CidrBlock: aws.String(v.CIDR),
			CidrBlockState: &ec2types.VpcCidrBlockState{State: ec2types.VpcCidrBlockStateCodeAssociated},
		}},
		Tags: nameTags(v.Name),
	}
	if cidr6.IsValid() {
		vpc.Ipv6CidrBlockAssociationSet = []ec2types.VpcIpv6CidrBlockAssociation{{
			AssociationId: aws.String(b.ids.next("vpc-cidr-assoc-")), Ipv6CidrBlock: aws.String(v.IPv6CIDR),
			Ipv6CidrBlockState: &ec2types.VpcCidrBlockState{State: ec2types.VpcCidrBlockStateCodeAssociated},
			NetworkBorderGroup: aws.String(region), Ipv6Pool: aws.String("Amazon"),
		}}
	}
	r.VPCs = append(r.VPCs, vpc)
	r.VPCAttrs[*bv.id] = fake.VPCAttrs{DNSSupport: boolOr(v.DNSSupport, true), DNSHostnames: boolOr(v.DNSHostnames, true)}

	b.securityGroups(r, acct, bv, cidr6.IsValid())
	subnetACL, subnetTable := b.aclsAndTables(r, acct, bv, cidr, cidr6)

	for _, sn := range v.Subnets {
		bs := &builtSubnet{spec: sn, id: aws.String(b.ids.next("subnet-")), index: len(r.Subnets), capacity: capacity(v, sn)}
		az := region + cmp.Or(sn.Zone, "a")
		bs.placement = &ec2types.Placement{AvailabilityZone: aws.String(az), Tenancy: ec2types.TenancyDefault, GroupName: aws.String("")}
		s := ec2types.Subnet{
			SubnetId: bs.id, VpcId: bv.id, AvailabilityZone: aws.String(az), OwnerId: aws.String(acct),
			SubnetArn:    aws.String("arn:aws:ec2:" + region + ":" + acct + ":subnet/" + *bs.id),
			State:        ec2types.SubnetStateAvailable,
			DefaultForAz: aws.Bool(false), MapPublicIpOnLaunch: aws.Bool(false),
			Ipv6Native: aws.Bool(sn.IPv6Native), AvailableIpAddressCount: aws.Int32(0),
			Tags: nameTags(sn.Name),
		}
		if sn.CIDR != "" {
			bs.prefix = netip.MustParsePrefix(sn.CIDR)
			s.CidrBlock = aws.String(sn.CIDR)
			reserved := 0
			for _, e := range v.Endpoints {
				if slices.Contains(e.Subnets, sn.Name) {
					reserved += len(e.Services)
				}
			}
			bs.pool = newV4Pool(bs.prefix, reserved)
		}
		if sn.IPv6CIDR != "" {
			bs.prefix6 = netip.MustParsePrefix(sn.IPv6CIDR)
			s.Ipv6CidrBlockAssociationSet = []ec2types.SubnetIpv6CidrBlockAssociation{{
				AssociationId: aws.String(b.ids.next("subnet-cidr-assoc-")), Ipv6CidrBlock: aws.String(sn.IPv6CIDR),
				Ipv6CidrBlockState: &ec2types.SubnetCidrBlockState{State: ec2types.SubnetCidrBlockStateCodeAssociated},
			}}
		}
		r.Subnets = append(r.Subnets, s)
		bv.subnets[sn.Name] = bs
		subnetACL(sn, bs.id)
		subnetTable(sn, bs.id)
	}

	for _, e := range v.Endpoints {
		var subnets []string
		for _, sn := range e.Subnets {
			subnets = append(subnets, *bv.subnets[sn].id)
		}
		var groups []ec2types.SecurityGroupIdentifier
		for _, g := range orDefault(e.SecurityGroups, "default") {
			groups = append(groups, ec2types.SecurityGroupIdentifier{GroupId: bv.sgs[g], GroupName: aws.String(g)})
		}
		for _, svc := range e.Services {
			id := b.ids.next("vpce-")
			r.Endpoints = append(r.Endpoints, ec2types.VpcEndpoint{
				VpcEndpointId: aws.String(id), VpcEndpointType: ec2types.VpcEndpointTypeInterface,
				VpcId: bv.id, ServiceName: aws.String("com.amazonaws." + region + "." + svc),
				State:             endpointStateNames[cmp.Or(e.State, "available")],
				PrivateDnsEnabled: aws.Bool(boolOr(e.PrivateDNS, true)),
				SubnetIds:         subnets, Groups: groups, OwnerId: aws.String(acct),
				IpAddressType: ec2types.IpAddressTypeIpv4, RequesterManaged: aws.Bool(false),
				DnsEntries: []ec2types.DnsEntry{{
					DnsName: aws.String(id + "." + svc + "." + region + ".vpce.amazonaws.com"),
				}},
				CreationTimestamp: aws.Time(b.pl.now.Add(-400 * 24 * time.Hour)),
				Tags:              nameTags(v.Name + "-" + svc),
			})
		}
	}
	return bv
}

// orDefault is list, or a list of def when list is empty.
func orDefault(list []string, def string) []string {
	if len(list) == 0 {
		return []string{def}
	}
	return list
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// securityGroups builds the VPC's groups: the default group first (AWS's
// rules unless the scenario declares its own), then the declared ones.
func (b *builder) securityGroups(r *fake.Region, acct string, bv *builtVPC, ipv6 bool) {
	declared := map[string]*SecurityGroupSpec{}
	order := []string{"default"}
	for _, g := range bv.spec.SecurityGroups {
		declared[g.Name] = g
		if g.Name != "default" {
			order = append(order, g.Name)
		}
	}
	for _, name := range order {
		bv.sgs[name] = aws.String(b.ids.next("sg-"))
	}
	for _, name := range order {
		id := bv.sgs[name]
		sg := ec2types.SecurityGroup{GroupId: id, GroupName: aws.String(name), VpcId: bv.id, OwnerId: aws.String(acct)}
		if g := declared[name]; g != nil {
			sg.Description = aws.String(cmp.Or(g.Description, name))
			for _, rule := range g.Ingress {
				sg.IpPermissions = append(sg.IpPermissions, permission(rule, bv.sgs, acct))
			}
			for _, rule := range g.Egress {
				sg.IpPermissionsEgress = append(sg.IpPermissionsEgress, permission(rule, bv.sgs, acct))
			}
			if name != "default" {
				sg.Tags = nameTags(name)
			}
		} else {
			// AWS's default group: everything in from members of the
			// group, everything out.
			sg.Description = aws.String("default VPC security group")
			sg.IpPermissions = []ec2types.IpPermission{{IpProtocol: aws.String("-1"),
				UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: id, UserId: aws.String(acct)}}}}
			out := ec2types.IpPermission{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}
			if ipv6 {
				out.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}
			}
			sg.IpPermissionsEgress = []ec2types.IpPermission{out}
		}
		r.SecurityGroups = append(r.SecurityGroups, sg)
	}
}

func permission(rule SGRuleSpec, sgs map[string]*string, acct string) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String(rule.Protocol)}
	switch rule.Protocol {
	case "all":
		p.IpProtocol = aws.String("-1")
	case "icmp":
		p.FromPort, p.ToPort = aws.Int32(-1), aws.Int32(-1)
	default:
		p.FromPort, p.ToPort = aws.Int32(rule.Ports.From), aws.Int32(rule.Ports.To)
	}
	for _, c := range rule.CIDRs {
		if strings.Contains(c, ":") {
			p.Ipv6Ranges = append(p.Ipv6Ranges, ec2types.Ipv6Range{CidrIpv6: aws.String(c)})
		} else {
			p.IpRanges = append(p.IpRanges, ec2types.IpRange{CidrIp: aws.String(c)})
		}
	}
	for _, g := range rule.Groups {
		p.UserIdGroupPairs = append(p.UserIdGroupPairs, ec2types.UserIdGroupPair{GroupId: sgs[g], UserId: aws.String(acct)})
	}
	for _, pl := range rule.PrefixLists {
		p.PrefixListIds = append(p.PrefixListIds, ec2types.PrefixListId{PrefixListId: aws.String(pl)})
	}
	return p
}

var naclProtocols = map[string]string{"all": "-1", "tcp": "6", "udp": "17", "icmp": "1"}

func naclEntry(rule int32, egress bool, protocol, cidr string, ports PortRange, allow bool) ec2types.NetworkAclEntry {
	e := ec2types.NetworkAclEntry{RuleNumber: aws.Int32(rule), Egress: aws.Bool(egress), Protocol: aws.String(naclProtocols[protocol]),
		RuleAction: ec2types.RuleActionDeny}
	if allow {
		e.RuleAction = ec2types.RuleActionAllow
	}
	if strings.Contains(cidr, ":") {
		e.Ipv6CidrBlock = aws.String(cidr)
	} else {
		e.CidrBlock = aws.String(cidr)
	}
	switch protocol {
	case "tcp", "udp":
		e.PortRange = &ec2types.PortRange{From: aws.Int32(ports.From), To: aws.Int32(ports.To)}
	case "icmp":
		e.IcmpTypeCode = &ec2types.IcmpTypeCode{Type: aws.Int32(-1), Code: aws.Int32(-1)}
	}
	return e
}

// aclsAndTables builds the VPC's network ACLs and route tables, and
// returns functions that associate a subnet with its ACL and table.
func (b *builder) aclsAndTables(r *fake.Region, acct string, bv *builtVPC, cidr, cidr6 netip.Prefix) (
	acl func(*SubnetSpec, *string), table func(*SubnetSpec, *string)) {
	v := bv.spec
	ipv6 := cidr6.IsValid()

	// Network ACLs; every one ends in the implicit "*" deny rules, which
	// DescribeNetworkAcls lists as rule 32767 (and 32768 for IPv6).
	aclSpecs := slices.Clone(v.NetworkACLs)
	if !slices.ContainsFunc(aclSpecs, func(a *NetworkACLSpec) bool { return a.Default }) {
		def := &NetworkACLSpec{Name: "default", Default: true}
		for _, egress := range []bool{false, true} {
			def.Entries = append(def.Entries, NACLEntrySpec{Rule: 100, Egress: egress, Protocol: "all", CIDR: "0.0.0.0/0", Action: "allow"})
			if ipv6 {
				def.Entries = append(def.Entries, NACLEntrySpec{Rule: 101, Egress: egress, Protocol: "all", CIDR: "::/0", Action: "allow"})
			}
		}
		aclSpecs = append([]*NetworkACLSpec{def}, aclSpecs...)
	}
	aclIdx := map[string]int{}
	defaultACL := ""
	for _, a := range aclSpecs {
		n := ec2types.NetworkAcl{NetworkAclId: aws.String(b.ids.next("acl-")), VpcId: bv.id, IsDefault: aws.Bool(a.Default),
			OwnerId: aws.String(acct)}
		if a.Name != "default" {
			n.Tags = nameTags(a.Name)
		}
		for _, e := range a.Entries {
			n.Entries = append(n.Entries, naclEntry(e.Rule, e.Egress, e.Protocol, e.CIDR, e.Ports, e.Action == "allow"))
		}
		for _, egress := range []bool{false, true} {
			n.Entries = append(n.Entries, naclEntry(32767, egress, "all", "0.0.0.0/0", PortRange{}, false))
			if ipv6 {
				n.Entries = append(n.Entries, naclEntry(32768, egress, "all", "::/0", PortRange{}, false))
			}
		}
		aclIdx[a.Name] = len(r.NACLs)
		if a.Default {
			defaultACL = a.Name
		}
		r.NACLs = append(r.NACLs, n)
	}
	acl = func(sn *SubnetSpec, id *string) {
		n := &r.NACLs[aclIdx[cmp.Or(sn.NetworkACL, defaultACL)]]
		n.Associations = append(n.Associations, ec2types.NetworkAclAssociation{
			NetworkAclAssociationId: aws.String(b.ids.next("aclassoc-")), NetworkAclId: n.NetworkAclId, SubnetId: id})
	}

	// Route tables, each with the local routes first.
	tableSpecs := slices.Clone(v.RouteTables)
	var implicitMain *RouteTableSpec
	if !slices.ContainsFunc(tableSpecs, func(t *RouteTableSpec) bool { return t.Main }) {
		implicitMain = &RouteTableSpec{Name: "main", Main: true}
		tableSpecs = append([]*RouteTableSpec{implicitMain}, tableSpecs...)
	}
	gateways := map[string]string{}
	gateway := func(kind string) string {
		if id, ok := gateways[kind]; ok {
			return id
		}
		prefix := kind + "-"
		if kind == "eigw" {
			prefix = "eigw-"
		}
		id := b.ids.next(prefix)
		gateways[kind] = id
		return id
	}
	tableIdx := map[string]int{}
	for _, t := range tableSpecs {
		id := aws.String(b.ids.next("rtb-"))
		rt := ec2types.RouteTable{RouteTableId: id, VpcId: bv.id, OwnerId: aws.String(acct),
			Routes: []ec2types.Route{{DestinationCidrBlock: aws.String(cidr.String()), GatewayId: aws.String("local"),
				State: ec2types.RouteStateActive, Origin: ec2types.RouteOriginCreateRouteTable}}}
		if t != implicitMain {
			rt.Tags = nameTags(t.Name)
		}
		if ipv6 {
			rt.Routes = append(rt.Routes, ec2types.Route{DestinationIpv6CidrBlock: aws.String(cidr6.String()),
				GatewayId: aws.String("local"), State: ec2types.RouteStateActive, Origin: ec2types.RouteOriginCreateRouteTable})
		}
		for _, rs := range t.Routes {
			route := ec2types.Route{State: ec2types.RouteStateActive, Origin: ec2types.RouteOriginCreateRoute}
			if rs.Blackhole {
				route.State = ec2types.RouteStateBlackhole
			}
			if strings.Contains(rs.Destination, ":") {
				route.DestinationIpv6CidrBlock = aws.String(rs.Destination)
			} else {
				route.DestinationCidrBlock = aws.String(rs.Destination)
			}
			gw := aws.String(gateway(rs.Target))
			switch rs.Target {
			case "nat":
				route.NatGatewayId = gw
			case "eigw":
				route.EgressOnlyInternetGatewayId = gw
			case "tgw":
				route.TransitGatewayId = gw
			case "pcx":
				route.VpcPeeringConnectionId = gw
			default: // igw, vgw
				route.GatewayId = gw
			}
			rt.Routes = append(rt.Routes, route)
		}
		if t.Main {
			rt.Associations = append(rt.Associations, ec2types.RouteTableAssociation{
				Main: aws.Bool(true), RouteTableAssociationId: aws.String(b.ids.next("rtbassoc-")), RouteTableId: id,
				AssociationState: &ec2types.RouteTableAssociationState{State: ec2types.RouteTableAssociationStateCodeAssociated}})
		}
		tableIdx[t.Name] = len(r.RouteTables)
		r.RouteTables = append(r.RouteTables, rt)
	}
	table = func(sn *SubnetSpec, id *string) {
		if sn.RouteTable == "" {
			return // the main table covers it implicitly, as in AWS
		}
		rt := &r.RouteTables[tableIdx[sn.RouteTable]]
		rt.Associations = append(rt.Associations, ec2types.RouteTableAssociation{
			Main: aws.Bool(false), RouteTableAssociationId: aws.String(b.ids.next("rtbassoc-")), RouteTableId: rt.RouteTableId,
			SubnetId: id, AssociationState: &ec2types.RouteTableAssociationState{State: ec2types.RouteTableAssociationStateCodeAssociated}})
	}
	return acl, table
}

// groupConsts are the values every instance of a group shares in one
// account-region.
type groupConsts struct {
	t           *InstanceTemplate
	vpcID       *string
	subnets     []*builtSubnet
	sgs         []ec2types.GroupIdentifier
	profileARN  *string
	profileID   *string
	tags        []ec2types.Tag
	os          string
	info        osInfo
	image       *string
	types       []string
	versions    []*string
	launchAge   DurationSpan
	stateName   string
	windows     bool
	platformDet *string
	usageOp     *string
	platName    *string
	platVersion *string
	yes, no     *bool
}

func (b *builder) consts(gp *groupPlan, ar *arPlan) *groupConsts {
	t := &gp.g.Template
	bv := b.nets[ar].vpcs[t.VPC]
	c := &groupConsts{t: t, vpcID: bv.id, windows: t.Platform == "windows", stateName: cmp.Or(t.State, "running")}
	names := []string(t.Subnets)
	if len(names) == 0 {
		for _, sn := range bv.spec.Subnets {
			names = append(names, sn.Name)
		}
	}
	for _, n := range names {
		c.subnets = append(c.subnets, bv.subnets[n])
	}
	for _, g := range orDefault(t.SecurityGroups, "default") {
		c.sgs = append(c.sgs, ec2types.GroupIdentifier{GroupId: bv.sgs[g], GroupName: aws.String(g)})
	}
	c.sgs = c.sgs[:len(c.sgs):len(c.sgs)]
	if t.Profile != "" {
		c.profileARN = aws.String("arn:aws:iam::" + ar.acct.id + ":instance-profile/" + t.Profile)
		c.profileID = aws.String("AIPA" + strings.ToUpper(b.ids.derived("", ar.acct.id, t.Profile)))
	}
	tags := maps.Clone(t.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	if _, ok := tags["Name"]; !ok {
		tags["Name"] = gp.g.Name
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		c.tags = append(c.tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	c.tags = c.tags[:len(c.tags):len(c.tags)]
	c.os = "al2023"
	if c.windows {
		c.os = "windows2022"
	}
	if t.Host != nil && t.Host.OS != "" {
		c.os = t.Host.OS
	}
	c.info = oses[c.os]
	c.image = aws.String(b.ids.derived("ami-", c.os, ar.region))
	c.types = t.InstanceTypes
	if len(c.types) == 0 {
		c.types = defaultLinuxTypes
		if c.windows {
			c.types = defaultWindowsTypes
		}
	}
	versions := []string(t.SSM.AgentVersion)
	if len(versions) == 0 {
		versions = defaultAgentVersions
	}
	for _, v := range versions {
		c.versions = append(c.versions, aws.String(v))
	}
	c.launchAge = t.LaunchAge
	if c.launchAge.IsZero() {
		c.launchAge = defaultLaunchAge
		if c.stateName == "pending" {
			c.launchAge = pendingLaunchAge
		}
	}
	c.platformDet = aws.String(c.info.platformDetails)
	c.usageOp = aws.String(c.info.usageOperation)
	c.platName = aws.String(c.info.platformName)
	c.platVersion = aws.String(c.info.platformVersion)
	c.yes, c.no = aws.Bool(true), aws.Bool(false)
	return c
}

// between returns a uniformly random duration in s.
func (b *builder) between(s DurationSpan) time.Duration {
	if s.Max <= s.Min {
		return s.Min
	}
	return s.Min + time.Duration(b.rng.Int64N(int64(s.Max-s.Min)+1))
}

func (b *builder) pick(n int) int {
	if n <= 1 {
		return 0
	}
	return b.rng.IntN(n)
}

// instances adds n instances of a group to an account-region.
func (b *builder) instances(gp *groupPlan, ar *arPlan, n int) error {
	if n == 0 {
		return nil
	}
	r := b.nets[ar].r
	if r.Instances == nil {
		r.Instances = make([]ec2types.Instance, 0, ar.instances)
		r.Managed = make([]ssmtypes.InstanceInformation, 0, ar.instances)
	}
	c := b.consts(gp, ar)
	t := c.t
	now := b.pl.now
	for i := range n {
		sn := c.subnets[i%len(c.subnets)]
		id := aws.String(b.ids.next("i-"))
		launch := now.Add(-b.between(c.launchAge)).Truncate(time.Second)
		it := c.types[b.pick(len(c.types))]
		in := ec2types.Instance{
			InstanceId:     id,
			InstanceType:   ec2types.InstanceType(it),
			ImageId:        c.image,
			State:          &ec2types.InstanceState{Code: aws.Int32(instanceStateCodes[c.stateName]), Name: ec2types.InstanceStateName(c.stateName)},
			LaunchTime:     &launch,
			Placement:      sn.placement,
			SubnetId:       sn.id,
			VpcId:          c.vpcID,
			SecurityGroups: c.sgs,
			Tags:           c.tags,
			MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{
				HttpEndpoint:            ec2types.InstanceMetadataEndpointState(cmp.Or(t.Metadata.HTTPEndpoint, "enabled")),
				HttpTokens:              ec2types.HttpTokensState(cmp.Or(t.Metadata.HTTPTokens, "required")),
				HttpPutResponseHopLimit: aws.Int32(cmp.Or(t.Metadata.HopLimit, 2)),
				HttpProtocolIpv6:        ec2types.InstanceMetadataProtocolState(cmp.Or(t.Metadata.ProtocolIPv6, "disabled")),
				InstanceMetadataTags:    ec2types.InstanceMetadataTagsState(cmp.Or(t.Metadata.InstanceMetadataTags, "disabled")),
				State:                   ec2types.InstanceMetadataOptionsState(cmp.Or(t.Metadata.State, "applied")),
			},
			PlatformDetails:    c.platformDet,
			UsageOperation:     c.usageOp,
			Architecture:       architecture(it),
			Hypervisor:         ec2types.HypervisorTypeXen,
			VirtualizationType: ec2types.VirtualizationTypeHvm,
			RootDeviceType:     ec2types.DeviceTypeEbs,
			EnaSupport:         c.yes,
			AmiLaunchIndex:     aws.Int32(0),
		}
		if c.windows {
			in.Platform = ec2types.PlatformValuesWindows
		}
		if c.profileARN != nil {
			in.IamInstanceProfile = &ec2types.IamInstanceProfile{Arn: c.profileARN, Id: c.profileID}
		}
		var ip, hostname *string
		if sn.spec.IPv6Native {
			b.v6n++
			in.Ipv6Address = aws.String(v6Address(sn.prefix6, b.ids.key, b.v6n).String())
			hostname = aws.String(*id + "." + ar.region + ".compute.internal")
		} else {
			addr, ok := sn.pool.take()
			if !ok {
				return fmt.Errorf("%s.template.subnets: subnet %q in %s is full", gp.path, sn.spec.Name, ar)
			}
			ip = aws.String(addr.String())
			hostname = aws.String(privateDNS(addr, ar.region))
			in.PrivateIpAddress = ip
			if sn.prefix6.IsValid() {
				b.v6n++
				in.Ipv6Address = aws.String(v6Address(sn.prefix6, b.ids.key, b.v6n).String())
			}
		}
		sn.used++
		in.PrivateDnsName = hostname
		if t.PublicIP && c.stateName == "running" {
			pub, err := b.publicIP()
			if err != nil {
				return fmt.Errorf("%s.template.publicIp: %w", gp.path, err)
			}
			in.PublicIpAddress = aws.String(pub.String())
			in.PublicDnsName = aws.String(publicDNS(pub, ar.region))
		}
		r.Instances = append(r.Instances, in)

		st := t.Host
		ping := pingFor(t, st, sn.spec.IPv6Native && t.Metadata.ProtocolIPv6 != "enabled")
		if ping != unregistered {
			r.Managed = append(r.Managed, b.registration(c, id, cmp.Or(ip, in.Ipv6Address), hostname, launch, ping))
		}
		if m := t.Metrics; m != nil {
			r.Metrics[*id] = map[string]float64{
				"MetadataNoToken":         float64(b.span(m.NoToken)),
				"MetadataNoTokenRejected": float64(b.span(m.NoTokenRejected)),
			}
		}
		if st != nil || c.windows {
			hs := cloneState(st)
			hs.OS = c.os
			b.hosts[*id] = hs
		}
	}
	return nil
}

func (b *builder) span(s Span) int64 {
	if s.Max <= s.Min {
		return s.Min
	}
	return s.Min + b.rng.Int64N(s.Max-s.Min+1)
}

// pingFor is the registration an instance gets: the template's, or one
// that follows from its state when the template leaves it unset.
func pingFor(t *InstanceTemplate, st *host.State, ipv6Blocked bool) string {
	switch {
	case t.SSM.Ping != "":
		return t.SSM.Ping
	case t.State == "pending", st != nil && st.Agent.NotInstalled:
		return unregistered
	case offlineReason(t, st) != "" || ipv6Blocked:
		return "ConnectionLost"
	}
	return "Online"
}

// registration is an instance's DescribeInstanceInformation entry.
func (b *builder) registration(c *groupConsts, id, ip, hostname *string, launch time.Time, ping string) ssmtypes.InstanceInformation {
	now := b.pl.now
	registered := launch.Add(b.between(DurationSpan{30 * time.Second, 5 * time.Minute}))
	var last time.Time
	switch {
	case !c.t.SSM.LastPing.IsZero():
		last = now.Add(-b.between(c.t.SSM.LastPing))
	case ping == "Online":
		last = now.Add(-b.between(DurationSpan{0, 5 * time.Minute}))
	default:
		// Lost some time between registering and an hour ago.
		lo, hi := registered.Add(10*time.Minute), now.Add(-time.Hour)
		if hi.After(lo) {
			last = lo.Add(b.between(DurationSpan{0, hi.Sub(lo)}))
		} else {
			last = registered.Add(now.Sub(registered) / 2)
		}
	}
	if last.Before(launch) {
		last = launch
	}
	if registered.After(last) {
		registered = last
	}
	last, registered = last.Truncate(time.Second), registered.Truncate(time.Second)
	version := c.versions[b.pick(len(c.versions))]
	info := ssmtypes.InstanceInformation{
		InstanceId:       id,
		PingStatus:       ssmtypes.PingStatus(ping),
		AgentVersion:     version,
		IsLatestVersion:  c.no,
		PlatformType:     ssmtypes.PlatformTypeLinux,
		PlatformName:     c.platName,
		PlatformVersion:  c.platVersion,
		ResourceType:     ssmtypes.ResourceTypeEc2Instance,
		LastPingDateTime: &last,
		RegistrationDate: &registered,
		IPAddress:        ip,
		ComputerName:     hostname,
		SourceId:         id,
		SourceType:       ssmtypes.SourceTypeAwsEc2Instance,
	}
	if *version == LatestAgentVersion {
		info.IsLatestVersion = c.yes
	}
	if c.windows {
		info.PlatformType = ssmtypes.PlatformTypeWindows
		name := "EC2AMAZ-" + strings.ToUpper((*id)[len(*id)-7:])
		info.ComputerName = &name
	}
	return info
}

// architecture follows the instance family: Graviton families carry a "g"
// after the generation digit (m7g, c6gn, r6gd).
func architecture(instanceType string) ec2types.ArchitectureValues {
	family, _, _ := strings.Cut(instanceType, ".")
	if i := strings.IndexAny(family, "0123456789"); i >= 0 && strings.ContainsRune(family[i+1:], 'g') {
		return ec2types.ArchitectureValuesArm64
	}
	return ec2types.ArchitectureValuesX8664
}

// privateDNS is EC2's IP-based hostname; us-east-1 keeps its historic
// ec2.internal domain.
func privateDNS(a netip.Addr, region string) string {
	name := "ip-" + strings.ReplaceAll(a.String(), ".", "-")
	if region == "us-east-1" {
		return name + ".ec2.internal"
	}
	return name + "." + region + ".compute.internal"
}

func publicDNS(a netip.Addr, region string) string {
	name := "ec2-" + strings.ReplaceAll(a.String(), ".", "-")
	if region == "us-east-1" {
		return name + ".compute-1.amazonaws.com"
	}
	return name + "." + region + ".compute.amazonaws.com"
}

func (b *builder) publicIP() (netip.Addr, error) {
	size := uint32(1) << (32 - publicPool.Bits())
	if b.public+2 >= size {
		return netip.Addr{}, fmt.Errorf("more than %d instances with a public address", size-2)
	}
	b.public++
	a := publicPool.Addr().As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])+b.public)
	return netip.AddrFrom4(a), nil
}

// cloneState deep-copies a template's host state so that changing one
// host (a repair removing a firewall rule) leaves the others alone.
func cloneState(s *host.State) *host.State {
	if s == nil {
		return &host.State{}
	}
	c := *s
	c.Agent.LogErrors = slices.Clone(s.Agent.LogErrors)
	c.Firewall = slices.Clone(s.Firewall)
	c.AgentEnv = maps.Clone(s.AgentEnv)
	c.SystemEnv = maps.Clone(s.SystemEnv)
	c.ContainerRuntimes = slices.Clone(s.ContainerRuntimes)
	c.EndpointFailures = maps.Clone(s.EndpointFailures)
	return &c
}
