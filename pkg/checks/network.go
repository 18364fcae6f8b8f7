package checks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// The network family judges the path from each running instance to the
// three services the agent needs (netpath.go). Only running instances are
// judged: a path matters to a live agent, and stopped instances would repeat
// the verdict of their running neighbours in the same subnet.
var networkChecks = []*Check{
	{
		Meta: Meta{
			ID:           "net_no_path_to_ssm_endpoints",
			Family:       FamilyNetwork,
			Title:        "No route out and no SSM interface endpoints",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "The agent must reach ssm, ec2messages and ssmmessages over HTTPS. In a subnet with no route to the " +
				"internet (no NAT, no internet gateway with a public IP) and without interface endpoints for all three " +
				"services, it never registers.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceNetwork},
			Remediation: Remediation{Manual: "Add a default route through a NAT gateway, or create interface endpoints " +
				"for ssm, ec2messages and ssmmessages with private DNS in the VPC. Not automatic: both cost money and " +
				"change the VPC's network design, which is its owner's call."},
		},
		Instance: netNoPath,
	},
	{
		Meta: Meta{
			ID:           "net_endpoint_private_dns_off",
			Family:       FamilyNetwork,
			Title:        "SSM interface endpoint not reachable by its public name (private DNS off)",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "The agent connects to the services' regional names. Unless the endpoint has private DNS on and the " +
				"VPC has both enableDnsSupport and enableDnsHostnames, those names resolve to public addresses: with " +
				"no route out the agent fails (high); with one its traffic silently bypasses the endpoint (medium).",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceNetwork},
			Remediation: Remediation{Manual: "Turn on private DNS for the endpoint (aws ec2 modify-vpc-endpoint " +
				"--private-dns-enabled) and enableDnsSupport and enableDnsHostnames on the VPC, or point the agent at the " +
				"endpoint's own DNS names in amazon-ssm-agent.json. Not automatic: DNS changes affect every workload in " +
				"the VPC and fail when a private hosted zone already claims the names."},
		},
		Instance: netPrivateDNSOff,
	},
	{
		Meta: Meta{
			ID:           "net_sg_egress_443_blocked",
			Family:       FamilyNetwork,
			Title:        "Instance security groups block HTTPS to the SSM services",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "Security groups are deny-by-default for egress once the allow-all rule is removed: if none of the " +
				"instance's groups allows TCP 443 to the endpoints (or to the internet, where the agent goes through NAT " +
				"or an internet gateway), the agent cannot connect.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceNetwork},
			Remediation: Remediation{Manual: "Add an egress rule for TCP 443 to the endpoints' security group or subnets " +
				"(or to 0.0.0.0/0 when the path is through NAT). Not automatic: security groups are shared and their " +
				"rules are a security decision of the VPC's owner."},
		},
		Instance: netSGEgress,
	},
	{
		Meta: Meta{
			ID:           "net_endpoint_sg_ingress_443_blocked",
			Family:       FamilyNetwork,
			Title:        "SSM endpoint security groups do not admit HTTPS from the instance",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "An interface endpoint accepts only what its security groups admit: without an ingress rule for TCP " +
				"443 from the instance's address or security group, the agent's connections time out.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceNetwork},
			Remediation: Remediation{Manual: "Add an ingress rule for TCP 443 from the VPC CIDR (or the instance's " +
				"security group) to the endpoint's security group. Not automatic: endpoint security groups are shared by " +
				"every client of the endpoint."},
		},
		Instance: netEndpointSGIngress,
	},
	{
		Meta: Meta{
			ID:           "net_nacl_blocks_443",
			Family:       FamilyNetwork,
			Title:        "Network ACL blocks HTTPS to the SSM services or the replies",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "NACLs are stateless: the agent needs TCP 443 out and the replies back on its ephemeral ports " +
				"(Linux 32768-60999, Windows 49152-65535), and the endpoint's subnet needs the mirror image. A deny rule " +
				"or a missing allow drops the connection.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceNetwork},
			Remediation: Remediation{Manual: "Allow TCP 443 outbound and TCP 1024-65535 inbound in the instance subnet's " +
				"NACL (and the mirror image in the endpoint subnets' NACLs), ahead of the deny rules named in the " +
				"evidence. Not automatic: NACLs are shared by the whole subnet and usually encode a deliberate policy."},
		},
		Instance: netNACL,
	},
}

func netNoPath(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	v := s.netOf(in)
	if v == nil {
		return Outcome{}
	}
	if v.pathOut(in) {
		return Outcome{Status: Pass}
	}
	var missing []string
	for i := range v.vpc.services {
		if v.vpc.services[i].endpoint == nil {
			missing = append(missing, v.vpc.services[i].name)
		}
	}
	if len(missing) == 0 {
		return Outcome{Status: Pass}
	}
	ev := v.routeEvidence(in)
	ev["missingEndpoints"] = missing
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("%s in subnet %s has no route out of the VPC (route table %s) and no %s interface "+
			"endpoint, so its SSM agent cannot reach Systems Manager.", in.ID, v.subnet.ID, v.routeTable,
			strings.Join(missing, "/")),
		Evidence: ev,
	}
}

func netPrivateDNSOff(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	v := s.netOf(in)
	if v == nil {
		return Outcome{}
	}
	var present, off bool
	for i := range v.vpc.services {
		sv := &v.vpc.services[i]
		present = present || sv.endpoint != nil
		off = off || (sv.endpoint != nil && !sv.privateDNS)
	}
	if !present {
		return Outcome{}
	}
	if !off {
		return Outcome{Status: Pass}
	}
	var eps, pdnsOff, reasons []string
	for i := range v.vpc.services {
		sv := &v.vpc.services[i]
		if sv.endpoint != nil && !sv.privateDNS {
			eps = append(eps, sv.endpoint.ID+" ("+sv.name+")")
			if !sv.endpoint.PrivateDNS {
				pdnsOff = append(pdnsOff, sv.endpoint.ID)
			}
		}
	}
	if len(pdnsOff) > 0 {
		reasons = append(reasons, "private DNS is off on "+strings.Join(pdnsOff, ", "))
	}
	vpc := v.vpc.vpc
	if !vpc.DNSSupport {
		reasons = append(reasons, vpc.ID+" has enableDnsSupport off")
	}
	if !vpc.DNSHostnames {
		reasons = append(reasons, vpc.ID+" has enableDnsHostnames off")
	}
	ev := map[string]any{"endpoints": eps, "vpc": vpc.ID, "dnsSupport": vpc.DNSSupport,
		"dnsHostnames": vpc.DNSHostnames, "reasons": reasons}
	o := Outcome{Status: Fail, Evidence: ev}
	if v.pathOut(in) {
		o.Severity = Medium
		ev["pathOut"] = true
		o.Detail = fmt.Sprintf("%s resolves the public SSM names instead of endpoint %s (%s), so its agent's traffic "+
			"bypasses the endpoint through the route out.", in.ID, strings.Join(eps, ", "), strings.Join(reasons, "; "))
	} else {
		ev["pathOut"] = false
		o.Detail = fmt.Sprintf("%s resolves the public SSM names instead of endpoint %s (%s) and has no route out, so "+
			"its agent cannot reach Systems Manager.", in.ID, strings.Join(eps, ", "), strings.Join(reasons, "; "))
	}
	return o
}

// instanceGroups looks up the instance's security groups; ok is false when
// it has none on record or one was not collected.
func (s *Scope) instanceGroups(in *inventory.Instance, buf []*inventory.SecurityGroup) ([]*inventory.SecurityGroup, bool) {
	if len(in.SecurityGroupIDs) == 0 {
		return nil, false
	}
	for _, id := range in.SecurityGroupIDs {
		sg := s.Region.Network.SecurityGroups[id]
		if sg == nil {
			return nil, false
		}
		buf = append(buf, sg)
	}
	return buf, true
}

func netSGEgress(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	v := s.netOf(in)
	if v == nil {
		return Outcome{}
	}
	var buf [8]*inventory.SecurityGroup
	sgs, ok := s.instanceGroups(in, buf[:0])
	if !ok {
		return Outcome{}
	}
	reaches := func(sv *serviceView) bool {
		for _, sg := range sgs {
			if egressReaches(sg, sv, v.public) {
				return true
			}
		}
		return false
	}
	out := v.pathOut(in)
	var judged bool
	var blocked []string
	internet := -1 // -1 not evaluated, 0 blocked, 1 allowed
	for i := range v.vpc.services {
		sv := &v.vpc.services[i]
		switch {
		case sv.privateDNS && !v.endpointsJudged():
			// Reached over IPv6 addresses the snapshot does not hold.
		case sv.privateDNS:
			judged = true
			if !reaches(sv) {
				blocked = append(blocked, sv.name+" via endpoint "+sv.endpoint.ID+" ("+targetCIDRs(sv)+")")
			}
		case out:
			judged = true
			if internet < 0 {
				internet = 0
				if reaches(nil) {
					internet = 1
				}
			}
			if internet == 0 {
				blocked = append(blocked, sv.name+" via the internet ("+v.public.String()+")")
			}
		}
	}
	if !judged {
		return Outcome{} // no path at all: net_no_path_to_ssm_endpoints says so
	}
	if len(blocked) == 0 {
		return Outcome{Status: Pass}
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("No security group of %s (%s) allows TCP 443 out to %s, so its SSM agent cannot connect.",
			in.ID, strings.Join(in.SecurityGroupIDs, ", "), strings.Join(blocked, ", ")),
		Evidence: map[string]any{"securityGroups": in.SecurityGroupIDs, "blocked": blocked},
	}
}

func targetCIDRs(sv *serviceView) string {
	var parts []string
	for _, t := range sv.targets {
		if t.subnet != nil {
			parts = append(parts, t.subnet.CIDR.String())
		}
	}
	if len(parts) == 0 {
		return "subnets unknown"
	}
	return strings.Join(parts, ", ")
}

// endpointAdmits reports whether one of the endpoint's security groups
// admits TCP 443 from the instance; ok is false when a group was not
// collected. An IPv6-only instance's address is not collected, so there a
// rule covering its subnet counts.
func (s *Scope) endpointAdmits(ep *inventory.Endpoint, in *inventory.Instance, v *subnetView) (admits, ok bool) {
	if len(ep.SecurityGroupIDs) == 0 {
		return false, false
	}
	ip := in.PrivateIP
	for _, id := range ep.SecurityGroupIDs {
		sg := s.Region.Network.SecurityGroups[id]
		if sg == nil {
			return false, false
		}
		for i := range sg.Ingress {
			r := &sg.Ingress[i]
			if !sgRuleAllows443(r) {
				continue
			}
			if len(r.PrefixListIDs) > 0 || containsAny(in.SecurityGroupIDs, r.GroupIDs) {
				return true, true
			}
			for _, c := range r.CIDRs {
				if (ip.IsValid() && c.Contains(ip)) || (!ip.IsValid() && c.Overlaps(v.subnet.CIDR)) {
					return true, true
				}
			}
		}
	}
	return false, true
}

func netEndpointSGIngress(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	v := s.netOf(in)
	if v == nil || !v.endpointsJudged() {
		return Outcome{}
	}
	var judged bool
	var blocked, groups []string
	for i := range v.vpc.services {
		sv := &v.vpc.services[i]
		if !sv.privateDNS {
			continue
		}
		admits, ok := s.endpointAdmits(sv.endpoint, in, v)
		if !ok {
			continue
		}
		judged = true
		if !admits && !slices.Contains(blocked, sv.endpoint.ID) {
			blocked = append(blocked, sv.endpoint.ID)
			for _, g := range sv.endpoint.SecurityGroupIDs {
				if !slices.Contains(groups, g) {
					groups = append(groups, g)
				}
			}
		}
	}
	if !judged {
		return Outcome{}
	}
	if len(blocked) == 0 {
		return Outcome{Status: Pass}
	}
	src := "its subnet " + v.subnet.CIDR.String()
	if in.PrivateIP.IsValid() {
		src = in.PrivateIP.String()
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("The security groups of endpoint %s do not admit TCP 443 from %s (%s), so its SSM agent "+
			"cannot connect.", strings.Join(blocked, ", "), in.ID, src),
		Evidence: map[string]any{"endpoints": blocked, "endpointSecurityGroups": groups, "source": src,
			"instanceSecurityGroups": in.SecurityGroupIDs},
	}
}

func netNACL(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	v := s.netOf(in)
	if v == nil || v.subnet.NACL == nil {
		return Outcome{}
	}
	eph := ephemeralPorts(in)
	win := eph == ephemeralWindows
	out := v.pathOut(in)
	var blocks []naclBlock
	var judged, internet bool
	var seenBuf [8]string
	seen := seenBuf[:0]
	for i := range v.vpc.services {
		sv := &v.vpc.services[i]
		if !sv.privateDNS {
			internet = internet || out
			continue
		}
		if !v.endpointsJudged() {
			continue
		}
		for _, t := range sv.targets {
			// NACLs filter traffic crossing a subnet boundary only, so an
			// endpoint in the instance's own subnet is not affected.
			if t.subnet == nil || !t.addr.IsValid() || t.subnetID == in.SubnetID || slices.Contains(seen, t.subnetID) {
				continue
			}
			seen = append(seen, t.subnetID)
			judged = true
			blocks = append(blocks, s.naclToEndpoint(v, t, win, eph)...)
			if t.subnet.NACL != nil {
				blocks = append(blocks, s.naclAtEndpoint(in, v, t, win, eph)...)
			}
		}
	}
	if internet {
		judged = true
		key := naclKey{subnet: v.subnet.ID, windows: win, initiator: true}
		blocks = append(blocks, s.naclCached(key, func() naclVerdict {
			name := "internet (" + v.public.String() + ")"
			side := naclSide{subnet: v.subnet, peer: v.public, peerName: func() string { return name }}
			return naclVerdict{blocks: naclInitiator(nil, side, eph)}
		}).blocks...)
	}
	if !judged {
		return Outcome{}
	}
	if len(blocks) == 0 {
		return Outcome{Status: Pass}
	}
	var rules []int32
	var acls []string
	for _, b := range blocks {
		if !slices.Contains(rules, b.Rule) {
			rules = append(rules, b.Rule)
		}
		if !slices.Contains(acls, b.NACL) {
			acls = append(acls, b.NACL)
		}
	}
	slices.Sort(rules)
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("Network ACL %s blocks the SSM agent's HTTPS traffic from %s or its replies (rules %s).",
			strings.Join(acls, ", "), in.ID, joinRules(rules)),
		Evidence: map[string]any{"blocks": blocks, "rules": rules, "nacls": acls},
	}
}

// naclToEndpoint is the instance subnet's NACL verdict for connections to
// an endpoint subnet: the same for every instance of the subnet.
func (s *Scope) naclToEndpoint(v *subnetView, t endpointTarget, win bool, eph portRange) []naclBlock {
	key := naclKey{subnet: v.subnet.ID, peerSubnet: t.subnetID, windows: win, initiator: true}
	return s.naclCached(key, func() naclVerdict {
		side := naclSide{subnet: v.subnet, peer: t.addr, peerName: t.subnet.CIDR.String}
		return naclVerdict{blocks: naclInitiator(nil, side, eph)}
	}).blocks
}

// naclAtEndpoint is the endpoint subnet's NACL verdict for connections from
// the instance. It is cached per instance subnet when the NACL treats the
// whole subnet alike, which is the common case; otherwise it is worked out
// for the instance's own address.
func (s *Scope) naclAtEndpoint(in *inventory.Instance, v *subnetView, t endpointTarget, win bool, eph portRange) []naclBlock {
	key := naclKey{subnet: t.subnetID, peerSubnet: v.subnet.ID, windows: win}
	verdict := s.naclCached(key, func() naclVerdict {
		if !uniformOver(t.subnet.NACL, v.subnet.CIDR) {
			return naclVerdict{perInstance: true}
		}
		side := naclSide{subnet: t.subnet, peer: firstUsable(v.subnet.CIDR), peerName: v.subnet.CIDR.String}
		return naclVerdict{blocks: naclAcceptor(nil, side, eph)}
	})
	if !verdict.perInstance {
		return verdict.blocks
	}
	peer := in.PrivateIP
	if !peer.IsValid() {
		peer = firstUsable(v.subnet.CIDR)
	}
	if !peer.IsValid() {
		return nil // nothing to evaluate the NACL against
	}
	return naclAcceptor(nil, naclSide{subnet: t.subnet, peer: peer, peerName: peer.String}, eph)
}

func joinRules(rules []int32) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = fmt.Sprint(r)
		if r == naclDefaultRule {
			parts[i] = "* (default deny)"
		}
	}
	return strings.Join(parts, ", ")
}
