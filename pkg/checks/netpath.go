package checks

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// This file works out the network path from an instance to the three
// services the SSM agent talks to (ssm, ec2messages, ssmmessages): either an
// interface VPC endpoint whose private DNS name the instance resolves, or
// the public endpoint through a route out of the VPC. Route tables, NACLs
// and endpoints are shared by every instance of a subnet or VPC, so the
// verdicts are cached per subnet, not per instance.

// Stand-ins for "the internet". The SSM public endpoints sit in AWS's
// public ranges; any public address picks the default route, and one inside
// an AWS range also follows a more specific route towards AWS when there is
// one. IPv6 stand-in is used on IPv6-only subnets, which reach the
// dual-stack endpoints over IPv6.
var (
	publicIPv4 = netip.MustParseAddr("52.94.0.1")
	publicIPv6 = netip.MustParseAddr("2600:1f18::1")
)

// portRange is an inclusive range of TCP ports.
type portRange struct{ lo, hi int32 }

func (p portRange) String() string {
	if p.lo == p.hi {
		return strconv.Itoa(int(p.lo))
	}
	return strconv.Itoa(int(p.lo)) + "-" + strconv.Itoa(int(p.hi))
}

// The agent connects out to 443 and the replies come back to an ephemeral
// port of the instance. NACLs are stateless, so both directions need a rule.
var (
	httpsPort = portRange{443, 443}
	// Linux's default net.ipv4.ip_local_port_range.
	ephemeralLinux = portRange{32768, 60999}
	// Windows' default dynamic port range (Windows Vista / Server 2008 on).
	ephemeralWindows = portRange{49152, 65535}
)

func ephemeralPorts(in *inventory.Instance) portRange {
	if strings.EqualFold(in.Platform, "windows") {
		return ephemeralWindows
	}
	return ephemeralLinux
}

// naclDefaultRule is the number AWS gives the implicit "*" deny at the end
// of every NACL.
const naclDefaultRule = 32767

// vpcView is a VPC's DNS and SSM endpoints.
type vpcView struct {
	known bool
	vpc   *inventory.VPC
	// dnsOK: both DNS attributes are on, which an interface endpoint's
	// private DNS name needs to resolve (VPC User Guide, "DNS attributes").
	dnsOK    bool
	services []serviceView // one per inventory.EndpointServices
}

// serviceView is how one SSM service is reached from a VPC.
type serviceView struct {
	name string
	// endpoint is the service's interface endpoint in the VPC, preferring
	// one with private DNS; nil when there is none in a usable state.
	endpoint *inventory.Endpoint
	// privateDNS is true when the service's regional name resolves to the
	// endpoint inside the VPC, so the agent uses it without configuration.
	privateDNS bool
	targets    []endpointTarget
}

// endpointTarget is one subnet an endpoint has a network interface in.
type endpointTarget struct {
	subnetID string
	subnet   *inventory.Subnet // nil when the subnet was not collected
	// addr stands in for the endpoint's network interface, whose address is
	// not collected: the subnet's first usable address (AWS reserves the
	// first four of every subnet).
	addr netip.Addr
}

// usableEndpoint: a pending endpoint becomes available within minutes of
// creation, so it counts as present rather than raising a finding that
// clears itself before anyone reads it.
func usableEndpoint(ep *inventory.Endpoint) bool {
	return strings.EqualFold(ep.State, "available") || strings.EqualFold(ep.State, "pending")
}

func (s *Scope) vpcOf(id string) *vpcView {
	if v, ok := s.vpcs[id]; ok {
		return v
	}
	if s.vpcs == nil {
		s.vpcs = map[string]*vpcView{}
	}
	v := &vpcView{}
	s.vpcs[id] = v
	vpc := s.Region.Network.VPCs[id]
	if vpc == nil {
		return v
	}
	v.known, v.vpc = true, vpc
	v.dnsOK = vpc.DNSSupport && vpc.DNSHostnames
	v.services = make([]serviceView, len(inventory.EndpointServices))
	for i, name := range inventory.EndpointServices {
		sv := &v.services[i]
		sv.name = name
		for _, ep := range vpc.Endpoints {
			if ep.Service != name || !usableEndpoint(ep) {
				continue
			}
			if sv.endpoint == nil || (ep.PrivateDNS && !sv.endpoint.PrivateDNS) {
				sv.endpoint = ep
			}
		}
		if sv.endpoint == nil {
			continue
		}
		sv.privateDNS = sv.endpoint.PrivateDNS && v.dnsOK
		for _, sid := range sv.endpoint.SubnetIDs {
			t := endpointTarget{subnetID: sid, subnet: s.Region.Network.Subnets[sid]}
			if t.subnet != nil {
				t.addr = firstUsable(t.subnet.CIDR)
			}
			sv.targets = append(sv.targets, t)
		}
	}
	return v
}

// firstUsable is the first address AWS hands out in a subnet.
func firstUsable(p netip.Prefix) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	a := p.Masked().Addr()
	for range 4 {
		a = a.Next()
	}
	return a
}

// subnetView is a subnet's way out of the VPC.
type subnetView struct {
	known  bool // subnet and VPC collected
	subnet *inventory.Subnet
	vpc    *vpcView
	ipv6   bool
	// public is the internet stand-in for the subnet's address family.
	public netip.Addr
	// routesKnown is false when the route table was not collected.
	routesKnown bool
	routeTable  string
	// route is the route traffic to the internet takes; nil when none.
	route *inventory.Route
	// outAny: a route out that works without a public address on the
	// instance (NAT gateway, transit gateway, VPN, peering, appliance).
	outAny bool
	// outIGW: an internet gateway route, a way out only for instances with a
	// public IPv4 address.
	outIGW bool
}

func (s *Scope) subnetOf(id string) *subnetView {
	if v, ok := s.subnets[id]; ok {
		return v
	}
	if s.subnets == nil {
		s.subnets = map[string]*subnetView{}
	}
	v := &subnetView{}
	s.subnets[id] = v
	sub := s.Region.Network.Subnets[id]
	if sub == nil {
		return v
	}
	v.subnet, v.ipv6 = sub, sub.IPv6Native
	v.vpc = s.vpcOf(sub.VPCID)
	v.known = v.vpc.known
	v.public = publicIPv4
	if v.ipv6 {
		v.public = publicIPv6
	}
	rt := sub.RouteTable
	if rt == nil {
		return v
	}
	v.routesKnown, v.routeTable = true, rt.ID
	// Longest prefix wins, and a blackhole route still wins and drops the
	// traffic (VPC User Guide, "Route priority").
	for i := range rt.Routes {
		r := &rt.Routes[i]
		if !r.Destination.IsValid() || !r.Destination.Contains(v.public) {
			continue
		}
		if v.route == nil || r.Destination.Bits() > v.route.Destination.Bits() {
			v.route = r
		}
	}
	switch r := v.route; {
	case r == nil || r.Blackhole:
	case r.Target == "igw" || r.Target == "eigw":
		// Every IPv6 address is global, so on an IPv6-only subnet an
		// internet or egress-only gateway is a way out for any instance.
		if v.ipv6 {
			v.outAny = true
		} else {
			v.outIGW = r.Target == "igw"
		}
	case r.Target == "local":
	default:
		// nat, tgw, vgw, pcx, eni, instance, vpce (a Gateway Load Balancer
		// endpoint: gateway endpoints for S3/DynamoDB route prefix lists,
		// never a CIDR), other: we cannot see past the hop, so assume it
		// leads to the internet (say so in evidence).
		v.outAny = true
	}
	return v
}

// endpointsJudged reports whether the endpoint path can be judged from
// the subnet: an IPv6-only subnet reaches endpoints on their IPv6
// addresses, which the snapshot does not hold, so there it is not.
func (v *subnetView) endpointsJudged() bool { return !v.ipv6 }

// netOf is the instance's subnet view, or nil when the subnet, its VPC or
// its route table was not collected (or the instance is not in a VPC).
func (s *Scope) netOf(in *inventory.Instance) *subnetView {
	if in.SubnetID == "" {
		return nil
	}
	v := s.subnetOf(in.SubnetID)
	if !v.known || !v.routesKnown {
		return nil
	}
	return v
}

// pathOut reports whether the instance can reach the public SSM endpoints.
func (v *subnetView) pathOut(in *inventory.Instance) bool {
	return v.outAny || (v.outIGW && in.PublicIP)
}

// routeEvidence describes the route to the internet for a finding.
func (v *subnetView) routeEvidence(in *inventory.Instance) map[string]any {
	ev := map[string]any{"routeTable": v.routeTable, "subnet": v.subnet.ID, "vpc": v.subnet.VPCID}
	switch r := v.route; {
	case r == nil:
		ev["defaultRoute"] = "none"
	default:
		desc := r.Destination.String() + " -> " + r.Target
		if r.TargetID != "" {
			desc += " " + r.TargetID
		}
		if r.Blackhole {
			desc += " (blackhole)"
		}
		ev["defaultRoute"] = desc
		if v.outAny {
			ev["routeAssumption"] = "traffic through " + r.Target + " is assumed to reach the internet"
		}
		if v.outIGW && !in.PublicIP {
			ev["publicIp"] = false
		}
	}
	return ev
}

// naclKey identifies one cached NACL verdict: the NACL of subnet, for TCP
// connections to 443 between it and peerSubnet ("" for the internet),
// opened from subnet's side when initiator is true.
type naclKey struct {
	subnet, peerSubnet string
	windows            bool
	initiator          bool
}

// naclBlock is a piece of the agent's traffic a NACL denies.
type naclBlock struct {
	NACL      string `json:"nacl"`
	Subnet    string `json:"subnet"`
	Direction string `json:"direction"` // ingress | egress
	Peer      string `json:"peer"`
	Ports     string `json:"ports"`
	// Rule is the denying rule's number; 32767 is the implicit "*" deny.
	Rule int32 `json:"rule"`
}

// naclSide names a subnet's NACL and the peer for evidence.
type naclSide struct {
	subnet *inventory.Subnet
	peer   netip.Addr
	// peerName is how evidence names the peer: a CIDR when the verdict
	// holds for a whole subnet, the address otherwise.
	peerName func() string
}

// naclInitiator evaluates the NACL of the side that opens the connection:
// egress to 443, ingress back to its ephemeral ports.
func naclInitiator(out []naclBlock, n naclSide, ephemeral portRange) []naclBlock {
	out = evalNACL(out, n, true, httpsPort)
	return evalNACL(out, n, false, ephemeral)
}

// naclAcceptor evaluates the NACL of the side that accepts it: ingress to
// 443, egress back to the initiator's ephemeral ports.
func naclAcceptor(out []naclBlock, n naclSide, ephemeral portRange) []naclBlock {
	out = evalNACL(out, n, false, httpsPort)
	return evalNACL(out, n, true, ephemeral)
}

// evalNACL appends the parts of ports that n's NACL denies for TCP to or
// from the peer. It evaluates rules the way AWS does — lowest number first,
// the first rule that matches a packet decides — over the whole port range
// at once: each matching rule decides the ports still undecided that it
// covers, and whatever no rule decides falls to the implicit deny.
func evalNACL(out []naclBlock, n naclSide, egress bool, ports portRange) []naclBlock {
	acl := n.subnet.NACL
	var bufA, bufB [16]portRange
	open, spare := append(bufA[:0], ports), bufB[:0]
	first := len(out)
	deny := func(rule int32, p portRange) {
		dir := "ingress"
		if egress {
			dir = "egress"
		}
		if k := len(out) - 1; k >= first && out[k].Rule == rule {
			out[k].Ports += "," + p.String()
			return
		}
		out = append(out, naclBlock{NACL: acl.ID, Subnet: n.subnet.ID, Direction: dir, Peer: n.peerName(), Ports: p.String(), Rule: rule})
	}
	for i := range acl.Entries {
		if len(open) == 0 {
			break
		}
		e := &acl.Entries[i]
		if e.Egress != egress || !e.CIDR.Contains(n.peer) {
			continue
		}
		var er portRange
		switch e.Protocol {
		case "-1":
			er = portRange{0, 65535}
		case "6", "tcp":
			er = portRange{e.FromPort, e.ToPort}
		default:
			continue
		}
		next := spare[:0]
		for _, p := range open {
			lo, hi := max(p.lo, er.lo), min(p.hi, er.hi)
			if lo > hi {
				next = append(next, p)
				continue
			}
			if !e.Allow {
				deny(e.RuleNumber, portRange{lo, hi})
			}
			if p.lo < lo {
				next = append(next, portRange{p.lo, lo - 1})
			}
			if hi < p.hi {
				next = append(next, portRange{hi + 1, p.hi})
			}
		}
		spare, open = open[:0], next
	}
	for _, p := range open {
		deny(naclDefaultRule, p)
	}
	return out
}

// uniformOver reports whether acl treats every address of p alike: each
// rule's CIDR either covers all of p or none of it. Then one address
// stands for the whole subnet and the verdict can be cached per subnet.
func uniformOver(acl *inventory.NACL, p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	for i := range acl.Entries {
		c := acl.Entries[i].CIDR
		if c.Overlaps(p) && (c.Bits() > p.Bits() || !c.Contains(p.Addr())) {
			return false
		}
	}
	return true
}

// naclVerdict is a cached NACL verdict: the blocks, or perInstance when
// the NACL tells addresses of the peer subnet apart and each instance needs
// its own evaluation.
type naclVerdict struct {
	blocks      []naclBlock
	perInstance bool
}

// naclCached returns the cached verdict for key, computing it with f on a
// miss.
func (s *Scope) naclCached(key naclKey, f func() naclVerdict) naclVerdict {
	if v, ok := s.nacls[key]; ok {
		return v
	}
	if s.nacls == nil {
		s.nacls = map[naclKey]naclVerdict{}
	}
	v := f()
	s.nacls[key] = v
	return v
}

// sgRuleAllows443 reports whether a rule's protocol and ports cover TCP 443.
func sgRuleAllows443(r *inventory.SGRule) bool {
	switch strings.ToLower(r.Protocol) {
	case "-1", "all":
		return true
	case "tcp", "6":
		return r.FromPort <= 443 && 443 <= r.ToPort
	}
	return false
}

// containsAny reports whether any of groups is in set; both are a handful
// of ids, so a scan beats a map.
func containsAny(set, groups []string) bool {
	for _, g := range groups {
		for _, x := range set {
			if g == x {
				return true
			}
		}
	}
	return false
}

// egressReaches reports whether one of sg's egress rules allows TCP 443 to
// the service: to its endpoint when sv routes through one, to the internet
// when sv is nil. Prefix lists cannot be resolved from the snapshot, so a
// rule naming one is taken to allow the traffic rather than raise a finding
// we cannot back.
func egressReaches(sg *inventory.SecurityGroup, sv *serviceView, public netip.Addr) bool {
	for i := range sg.Egress {
		r := &sg.Egress[i]
		if !sgRuleAllows443(r) {
			continue
		}
		if len(r.PrefixListIDs) > 0 {
			return true
		}
		if sv == nil {
			for _, c := range r.CIDRs {
				if c.Contains(public) {
					return true
				}
			}
			continue
		}
		if containsAny(sv.endpoint.SecurityGroupIDs, r.GroupIDs) {
			return true
		}
		// The endpoint's interface addresses are not collected, so a rule
		// overlapping one of its subnets is taken to reach it.
		for _, c := range r.CIDRs {
			for _, t := range sv.targets {
				if t.subnet != nil && c.Overlaps(t.subnet.CIDR) {
					return true
				}
			}
		}
	}
	return false
}
