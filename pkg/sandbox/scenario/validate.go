package scenario

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

// maxProblems caps how many validation errors one Parse reports: enough to
// fix a file in one pass, not a wall of text from one systematic mistake.
const maxProblems = 20

// problems collects validation errors, each prefixed with the path of the
// offending field.
type problems struct {
	errs []error
	seen map[string]bool
}

func (p *problems) add(path, format string, args ...any) {
	msg := path + ": " + fmt.Sprintf(format, args...)
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if p.seen[msg] || len(p.errs) >= maxProblems {
		return
	}
	p.seen[msg] = true
	p.errs = append(p.errs, errors.New(msg))
}

func (p *problems) err() error { return errors.Join(p.errs...) }

var (
	scenarioName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// localName is what a VPC, subnet, group or instance group may be
	// called inside a scenario.
	localName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	// iamName is IAM's character set for role, policy and profile names.
	iamName          = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	iamPath          = regexp.MustCompile(`^/([\x21-\x7e]{0,510}/)?$`)
	servicePrincipal = regexp.MustCompile(`^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$`)
	endpointService  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)
	instanceType     = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	agentVersion     = regexp.MustCompile(`^\d{1,5}(\.\d{1,6}){1,3}$`)
	envName          = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	userName         = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}\$?$`)
	uidRange         = regexp.MustCompile(`^(\d{1,10})-(\d{1,10})$`)
)

// Allowed values, in the spelling the AWS APIs use.
var (
	platforms        = []string{"linux", "windows"}
	instanceStates   = []string{"running", "pending", "stopping", "stopped"}
	onOff            = []string{"enabled", "disabled"}
	tokenModes       = []string{"optional", "required"}
	optionStates     = []string{"pending", "applied"}
	pingStatuses     = []string{"Online", "ConnectionLost", "Inactive", unregistered}
	managedBy        = []string{"account", "declarative-policy"}
	routeTargets     = []string{"igw", "nat", "eigw", "tgw", "vgw", "pcx"}
	protocols        = []string{"all", "tcp", "udp", "icmp"}
	naclActions      = []string{"allow", "deny"}
	endpointStates   = []string{"available", "pending", "pendingAcceptance", "deleting", "failed", "rejected"}
	hostOSes         = []string{"al2023", "al2", "ubuntu22.04", "rhel9", "sles15", "windows2022"}
	firewallTools    = []string{"iptables", "ip6tables", "nftables", "ufw", "firewalld", "windows"}
	firewallActions  = []string{"REJECT", "DROP"}
	containerRuntime = []string{"docker", "containerd", "kubelet", "crio"}
	agentServices    = []string{"ssm", "ec2messages", "ssmmessages"}
	endpointFailures = []string{"dns", "refused", "timeout"}
)

// maxWeight bounds a group's weight, so that the sum of weights stays finite.
const maxWeight = 1e6

// Quotas, after AWS's own (VPC User Guide, "Amazon VPC quotas"; IAM User
// Guide, "IAM and AWS STS quotas"), some raised to what AWS grants on
// request. They also keep validation, which compares entries pairwise,
// fast on any input.
const (
	maxVPCsPerRegion    = 100  // adjustable quota, default 5
	maxSubnetsPerVPC    = 200  // VPC quota
	maxGroupsPerVPC     = 2500 // security groups per Region quota
	maxRulesPerGroup    = 60   // inbound or outbound rules per security group
	maxACLsPerVPC       = 200  // network ACLs per VPC
	maxEntriesPerACL    = 40   // rules per network ACL, ingress and egress together
	maxTablesPerVPC     = 200  // route tables per VPC
	maxRoutesPerTable   = 1000 // routes per route table, raised to the maximum
	maxEndpointsPerVPC  = 100  // interface endpoints per VPC, raised from 50
	maxIAMEntities      = 5000 // roles (default quota 1000, adjustable to 5000)
	maxInstanceGroups   = 1000 // a sandbox limit: more groups is a generator bug
	maxTagsPerInstance  = 50   // EC2 tags per resource
	maxFirewallRules    = 100  // a sandbox limit on modelled host rules
	maxEnvironmentVars  = 200  // a sandbox limit on modelled environments
	maxLogErrors        = 100  // a sandbox limit on modelled log lines
	maxContainerRuntime = 8    // a sandbox limit on modelled runtimes
)

// tooMany reports a list longer than its quota.
func tooMany(p *problems, path string, n, limit int, what string) bool {
	if n > limit {
		p.add(path, "%d %s; the limit is %d", n, what, limit)
		return true
	}
	return false
}

// unregistered is the SSM "ping status" of an instance SSM does not know.
const unregistered = "unregistered"

func oneOf(p *problems, path, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		p.add(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

// validate checks everything that does not depend on Params.
func (s *Spec) validate() error {
	var p problems
	if !scenarioName.MatchString(s.Name) {
		p.add("name", "%q: want lower-case letters, digits and dashes", s.Name)
	}
	if s.Instances < 0 || s.Instances > maxInstances {
		p.add("instances", "%d is outside 0-%d", s.Instances, maxInstances)
	}
	if s.Hub != "" {
		if err := awsapi.ValidateAccountID(s.Hub); err != nil {
			p.add("hub", "%v", err)
		}
	}
	for _, f := range [...]struct{ field, v string }{{"auditRole", s.AuditRole}, {"automationRole", s.AutomationRole}} {
		if f.v != "" && !iamName.MatchString(f.v) {
			p.add(f.field, "%q is not a valid IAM role name", f.v)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.IAMSets)) {
		path := "iamSets." + name
		if !localName.MatchString(name) {
			p.add(path, "invalid name")
		}
		if s.IAMSets[name] == nil {
			p.add(path, "empty IAM set")
			continue
		}
		validateIAM(&p, path, s.IAMSets[name])
	}
	s.validateLayouts(&p)
	s.validateAccounts(&p)
	s.validateGenerate(&p)
	if len(s.Accounts) == 0 && s.Generate == nil {
		p.add("accounts", "a scenario needs accounts or a generate section")
	}
	s.validateGroups(&p)
	return p.err()
}

func (s *Spec) validateLayouts(p *problems) {
	for _, name := range slices.Sorted(maps.Keys(s.Layouts)) {
		path := "layouts." + name
		l := s.Layouts[name]
		if !localName.MatchString(name) {
			p.add(path, "invalid name")
		}
		if l == nil {
			p.add(path, "empty layout")
			continue
		}
		if l.Extends != "" {
			if _, ok := s.Layouts[l.Extends]; !ok {
				p.add(path+".extends", "layout %q does not exist", l.Extends)
			}
			// Follow the chain; a cycle would loop forever when expanding.
			seen := map[string]bool{name: true}
			for cur := l.Extends; cur != ""; {
				if seen[cur] {
					p.add(path+".extends", "layouts extend each other in a cycle through %q", cur)
					break
				}
				seen[cur] = true
				next := s.Layouts[cur]
				if next == nil {
					break
				}
				cur = next.Extends
			}
		}
		validateSettings(p, path, &l.RegionSettings)
	}
}

func (s *Spec) validateAccounts(p *problems) {
	ids, names := map[string]string{}, map[string]string{}
	for i, a := range s.Accounts {
		path := fmt.Sprintf("accounts[%d]", i)
		if a == nil {
			p.add(path, "empty account")
			continue
		}
		if err := awsapi.ValidateAccountID(a.ID); err != nil {
			p.add(path+".id", "%v", err)
		} else if prev, dup := ids[a.ID]; dup {
			p.add(path+".id", "account %s is already %s", a.ID, prev)
		}
		ids[a.ID] = path
		if a.Name != "" {
			if !localName.MatchString(a.Name) {
				p.add(path+".name", "%q: want letters, digits, '.', '_' or '-'", a.Name)
			} else if prev, dup := names[a.Name]; dup {
				p.add(path+".name", "name %q is already %s", a.Name, prev)
			}
			names[a.Name] = path
		}
		if a.IAMSet != "" && s.IAMSets[a.IAMSet] == nil {
			p.add(path+".iamSet", "IAM set %q does not exist", a.IAMSet)
		}
		validateIAM(p, path+".iam", &a.IAM)
		if len(a.Regions) == 0 {
			p.add(path+".regions", "an account needs at least one region")
		}
		regions := map[string]bool{}
		for j, r := range a.Regions {
			rpath := fmt.Sprintf("%s.regions[%d]", path, j)
			if r == nil {
				p.add(rpath, "empty region")
				continue
			}
			if err := awsapi.ValidateRegion(r.Name); err != nil {
				p.add(rpath+".name", "%v", err)
			} else if regions[r.Name] {
				p.add(rpath+".name", "region %s is listed twice", r.Name)
			}
			regions[r.Name] = true
			if r.Layout != "" && s.Layouts[r.Layout] == nil {
				p.add(rpath+".layout", "layout %q does not exist", r.Layout)
			}
			validateSettings(p, rpath, &r.RegionSettings)
		}
	}
}

func (s *Spec) validateGenerate(p *problems) {
	g := s.Generate
	if g == nil {
		return
	}
	const path = "generate"
	if g.AccountRegions <= 0 || g.AccountRegions > maxAccountRegions {
		p.add(path+".accountRegions", "want 1-%d account-regions, got %d", maxAccountRegions, g.AccountRegions)
	}
	if len(g.Regions) == 0 {
		p.add(path+".regions", "want at least one region")
	}
	for i, r := range g.Regions {
		if err := awsapi.ValidateRegion(r); err != nil {
			p.add(fmt.Sprintf("%s.regions[%d]", path, i), "%v", err)
		} else if slices.Index(g.Regions, r) != i {
			p.add(fmt.Sprintf("%s.regions[%d]", path, i), "region %s is listed twice", r)
		}
	}
	if err := awsapi.ValidateAccountID(g.FirstAccount); err != nil {
		p.add(path+".firstAccount", "%v", err)
	}
	if g.NamePrefix != "" && !localName.MatchString(g.NamePrefix) {
		p.add(path+".namePrefix", "%q: want letters, digits, '.', '_' or '-'", g.NamePrefix)
	}
	if g.IAMSet != "" && s.IAMSets[g.IAMSet] == nil {
		p.add(path+".iamSet", "IAM set %q does not exist", g.IAMSet)
	}
	for i, l := range g.Layouts {
		if s.Layouts[l] == nil {
			p.add(fmt.Sprintf("%s.layouts[%d]", path, i), "layout %q does not exist", l)
		}
	}
}

func validateIAM(p *problems, path string, m *IAMSpec) {
	if tooMany(p, path+".policies", len(m.Policies), maxIAMEntities, "policies") ||
		tooMany(p, path+".roles", len(m.Roles), maxIAMEntities, "roles") ||
		tooMany(p, path+".profiles", len(m.Profiles), maxIAMEntities, "instance profiles") {
		return
	}
	seen := map[string]bool{}
	for i, pol := range m.Policies {
		pp := fmt.Sprintf("%s.policies[%d]", path, i)
		if pol == nil {
			p.add(pp, "empty policy")
			continue
		}
		if !iamName.MatchString(pol.Name) {
			p.add(pp+".name", "%q is not a valid IAM policy name", pol.Name)
		} else if seen[pol.Name] {
			p.add(pp+".name", "policy %q is declared twice", pol.Name)
		}
		seen[pol.Name] = true
		if pol.Document.JSON == "" {
			p.add(pp+".document", "a policy needs a document")
		}
	}
	seen = map[string]bool{}
	for i, r := range m.Roles {
		rp := fmt.Sprintf("%s.roles[%d]", path, i)
		if r == nil {
			p.add(rp, "empty role")
			continue
		}
		if !iamName.MatchString(r.Name) {
			p.add(rp+".name", "%q is not a valid IAM role name", r.Name)
		} else if seen[r.Name] {
			p.add(rp+".name", "role %q is declared twice", r.Name)
		}
		seen[r.Name] = true
		if r.Path != "" && !iamPath.MatchString("/"+strings.TrimPrefix(r.Path, "/")) {
			p.add(rp+".path", "%q is not a valid IAM path", r.Path)
		}
		for j, t := range r.Trust {
			if !servicePrincipal.MatchString(t) {
				p.add(fmt.Sprintf("%s.trust[%d]", rp, j), "%q is not a service principal such as ec2.amazonaws.com", t)
			}
		}
		for j, m := range r.Managed {
			if m == "" {
				p.add(fmt.Sprintf("%s.managed[%d]", rp, j), "empty policy reference")
			}
		}
		for _, name := range slices.Sorted(maps.Keys(r.Inline)) {
			if !iamName.MatchString(name) {
				p.add(rp+".inline."+name, "not a valid IAM policy name")
			}
			if r.Inline[name].JSON == "" {
				p.add(rp+".inline."+name, "an inline policy needs a document")
			}
		}
	}
	seen = map[string]bool{}
	for i, pr := range m.Profiles {
		pp := fmt.Sprintf("%s.profiles[%d]", path, i)
		if pr == nil {
			p.add(pp, "empty profile")
			continue
		}
		if !iamName.MatchString(pr.Name) {
			p.add(pp+".name", "%q is not a valid instance profile name", pr.Name)
		} else if seen[pr.Name] {
			p.add(pp+".name", "profile %q is declared twice", pr.Name)
		}
		seen[pr.Name] = true
		if pr.Role != "" && !iamName.MatchString(pr.Role) {
			p.add(pp+".role", "%q is not a valid IAM role name", pr.Role)
		}
	}
}

func validateSettings(p *problems, path string, rs *RegionSettings) {
	if rs.DHMC != nil && *rs.DHMC != "" && *rs.DHMC != dhmcOff {
		name := (*rs.DHMC)[strings.LastIndexByte(*rs.DHMC, '/')+1:]
		if !iamName.MatchString(name) {
			p.add(path+".dhmc", "%q does not name a role", *rs.DHMC)
		}
	}
	if d := rs.IMDSDefaults; d != nil {
		dp := path + ".imdsDefaults"
		oneOf(p, dp+".httpEndpoint", d.HTTPEndpoint, onOff)
		oneOf(p, dp+".httpTokens", d.HTTPTokens, tokenModes)
		oneOf(p, dp+".instanceMetadataTags", d.InstanceMetadataTags, onOff)
		oneOf(p, dp+".managedBy", d.ManagedBy, managedBy)
		if d.HopLimit < 0 || d.HopLimit > 64 {
			p.add(dp+".hopLimit", "%d is outside 1-64", d.HopLimit)
		}
	}
	if tooMany(p, path+".vpcs", len(rs.VPCs), maxVPCsPerRegion, "VPCs") {
		return
	}
	names := map[string]bool{}
	for i, v := range rs.VPCs {
		vp := fmt.Sprintf("%s.vpcs[%d]", path, i)
		if v == nil {
			p.add(vp, "empty VPC")
			continue
		}
		if names[v.Name] {
			p.add(vp+".name", "VPC %q is declared twice", v.Name)
		}
		names[v.Name] = true
		validateVPC(p, vp, v)
	}
}

// dhmcOff is the DHMC setting value that turns DHMC off.
const dhmcOff = "$None"

func parsePrefix(p *problems, path, s string, v6 bool, minBits, maxBits int) (netip.Prefix, bool) {
	pf, err := netip.ParsePrefix(s)
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	switch {
	case err != nil:
		p.add(path, "%q is not a CIDR block", s)
	case pf.Addr().Is6() != v6:
		p.add(path, "%q is not an %s CIDR block", s, family)
	case pf.Masked() != pf:
		p.add(path, "%q has host bits set (did you mean %s?)", s, pf.Masked())
	case pf.Bits() < minBits || pf.Bits() > maxBits:
		p.add(path, "%q: an %s block here must be /%d to /%d", s, family, minBits, maxBits)
	default:
		return pf, true
	}
	return netip.Prefix{}, false
}

// AWS's limits on VPC and subnet block sizes (VPC User Guide, "VPC CIDR
// blocks").
const (
	vpcMinBits, vpcMaxBits       = 16, 28
	vpc6MinBits, vpc6MaxBits     = 44, 60
	subnet6MinBits, subnetV6Bits = 44, 64
)

func validateVPC(p *problems, path string, v *VPCSpec) {
	if !localName.MatchString(v.Name) {
		p.add(path+".name", "%q: want letters, digits, '.', '_' or '-'", v.Name)
	}
	if tooMany(p, path+".subnets", len(v.Subnets), maxSubnetsPerVPC, "subnets") ||
		tooMany(p, path+".securityGroups", len(v.SecurityGroups), maxGroupsPerVPC, "security groups") ||
		tooMany(p, path+".networkAcls", len(v.NetworkACLs), maxACLsPerVPC, "network ACLs") ||
		tooMany(p, path+".routeTables", len(v.RouteTables), maxTablesPerVPC, "route tables") ||
		tooMany(p, path+".endpoints", len(v.Endpoints), maxEndpointsPerVPC, "endpoint entries") {
		return
	}
	cidr, ok4 := parsePrefix(p, path+".cidr", v.CIDR, false, vpcMinBits, vpcMaxBits)
	var cidr6 netip.Prefix
	ok6 := false
	if v.IPv6CIDR != "" {
		cidr6, ok6 = parsePrefix(p, path+".ipv6Cidr", v.IPv6CIDR, true, vpc6MinBits, vpc6MaxBits)
	}

	sgs := map[string]bool{"default": true}
	for i, g := range v.SecurityGroups {
		if g != nil && g.Name != "default" {
			if sgs[g.Name] {
				p.add(fmt.Sprintf("%s.securityGroups[%d].name", path, i), "security group %q is declared twice", g.Name)
			}
			sgs[g.Name] = true
		}
	}
	for i, g := range v.SecurityGroups {
		gp := fmt.Sprintf("%s.securityGroups[%d]", path, i)
		if g == nil {
			p.add(gp, "empty security group")
			continue
		}
		if !localName.MatchString(g.Name) {
			p.add(gp+".name", "%q: want letters, digits, '.', '_' or '-'", g.Name)
		}
		if tooMany(p, gp+".ingress", len(g.Ingress), maxRulesPerGroup, "inbound rules") ||
			tooMany(p, gp+".egress", len(g.Egress), maxRulesPerGroup, "outbound rules") {
			continue
		}
		for j := range g.Ingress {
			validateSGRule(p, fmt.Sprintf("%s.ingress[%d]", gp, j), &g.Ingress[j], sgs, ok6)
		}
		for j := range g.Egress {
			validateSGRule(p, fmt.Sprintf("%s.egress[%d]", gp, j), &g.Egress[j], sgs, ok6)
		}
	}

	acls, defaults := map[string]bool{}, 0
	for i, a := range v.NetworkACLs {
		ap := fmt.Sprintf("%s.networkAcls[%d]", path, i)
		if a == nil {
			p.add(ap, "empty network ACL")
			continue
		}
		if !localName.MatchString(a.Name) {
			p.add(ap+".name", "%q: want letters, digits, '.', '_' or '-'", a.Name)
		} else if acls[a.Name] {
			p.add(ap+".name", "network ACL %q is declared twice", a.Name)
		}
		acls[a.Name] = true
		if a.Default {
			defaults++
			if defaults > 1 {
				p.add(ap+".default", "a VPC has one default network ACL")
			}
		}
		if tooMany(p, ap+".entries", len(a.Entries), maxEntriesPerACL, "rules") {
			continue
		}
		rules := map[[2]int32]bool{}
		for j, e := range a.Entries {
			ep := fmt.Sprintf("%s.entries[%d]", ap, j)
			if e.Rule < 1 || e.Rule > 32766 {
				p.add(ep+".rule", "rule number %d is outside 1-32766", e.Rule)
			}
			dir := int32(0)
			if e.Egress {
				dir = 1
			}
			if rules[[2]int32{dir, e.Rule}] {
				p.add(ep+".rule", "rule number %d is used twice in the same direction", e.Rule)
			}
			rules[[2]int32{dir, e.Rule}] = true
			oneOf(p, ep+".protocol", e.Protocol, protocols)
			if e.Protocol == "" {
				p.add(ep+".protocol", "want one of %s", strings.Join(protocols, ", "))
			}
			if (e.Protocol == "tcp" || e.Protocol == "udp") && e.Ports == (PortRange{}) {
				p.add(ep+".ports", "ports are required for %s", e.Protocol)
			}
			if c, err := netip.ParsePrefix(e.CIDR); err != nil {
				p.add(ep+".cidr", "%q is not a CIDR block", e.CIDR)
			} else if c.Addr().Is6() && !ok6 {
				p.add(ep+".cidr", "IPv6 rule in a VPC without an ipv6Cidr")
			}
			oneOf(p, ep+".action", e.Action, naclActions)
			if e.Action == "" {
				p.add(ep+".action", "want allow or deny")
			}
		}
	}

	tables, mains := map[string]bool{}, 0
	for i, t := range v.RouteTables {
		tp := fmt.Sprintf("%s.routeTables[%d]", path, i)
		if t == nil {
			p.add(tp, "empty route table")
			continue
		}
		if !localName.MatchString(t.Name) {
			p.add(tp+".name", "%q: want letters, digits, '.', '_' or '-'", t.Name)
		} else if tables[t.Name] {
			p.add(tp+".name", "route table %q is declared twice", t.Name)
		}
		tables[t.Name] = true
		if t.Main {
			mains++
			if mains > 1 {
				p.add(tp+".main", "a VPC has one main route table")
			}
		}
		if tooMany(p, tp+".routes", len(t.Routes), maxRoutesPerTable, "routes") {
			continue
		}
		dests := map[netip.Prefix]bool{}
		for j, r := range t.Routes {
			rp := fmt.Sprintf("%s.routes[%d]", tp, j)
			d, err := netip.ParsePrefix(r.Destination)
			switch {
			case err != nil || d.Masked() != d:
				p.add(rp+".destination", "%q is not a CIDR block", r.Destination)
			case d.Addr().Is6() && !ok6:
				p.add(rp+".destination", "IPv6 route in a VPC without an ipv6Cidr")
			case dests[d]:
				p.add(rp+".destination", "two routes to %s", d)
			case (ok4 && d.Addr().Is4() && cidr.Overlaps(d) && d.Bits() >= cidr.Bits()) ||
				(ok6 && d.Addr().Is6() && cidr6.Overlaps(d) && d.Bits() >= cidr6.Bits()):
				p.add(rp+".destination", "%s is inside the VPC; the local route covers it", d)
			}
			dests[d] = true
			oneOf(p, rp+".target", r.Target, routeTargets)
			if r.Target == "" {
				p.add(rp+".target", "want one of %s", strings.Join(routeTargets, ", "))
			}
			if r.Target == "eigw" && d.IsValid() && d.Addr().Is4() {
				p.add(rp+".target", "an egress-only internet gateway carries IPv6 only")
			}
		}
	}

	subnets := map[string]bool{}
	var blocks []netip.Prefix
	var blockPaths []string
	for i, sn := range v.Subnets {
		sp := fmt.Sprintf("%s.subnets[%d]", path, i)
		if sn == nil {
			p.add(sp, "empty subnet")
			continue
		}
		if !localName.MatchString(sn.Name) {
			p.add(sp+".name", "%q: want letters, digits, '.', '_' or '-'", sn.Name)
		} else if subnets[sn.Name] {
			p.add(sp+".name", "subnet %q is declared twice", sn.Name)
		}
		subnets[sn.Name] = true
		if sn.Zone != "" && (len(sn.Zone) != 1 || sn.Zone[0] < 'a' || sn.Zone[0] > 'f') {
			p.add(sp+".zone", "%q: want an availability zone letter a-f", sn.Zone)
		}
		switch {
		case sn.IPv6Native && sn.CIDR != "":
			p.add(sp+".cidr", "an IPv6-only subnet has no IPv4 block")
		case !sn.IPv6Native && sn.CIDR == "":
			p.add(sp+".cidr", "required (or set ipv6Native with an ipv6Cidr)")
		case sn.CIDR != "":
			if c, ok := parsePrefix(p, sp+".cidr", sn.CIDR, false, vpcMinBits, vpcMaxBits); ok {
				if ok4 && !(cidr.Contains(c.Addr()) && c.Bits() >= cidr.Bits()) {
					p.add(sp+".cidr", "%s is not inside the VPC's %s", c, cidr)
				}
				for k, b := range blocks {
					if b.Overlaps(c) {
						p.add(sp+".cidr", "%s overlaps %s", c, blockPaths[k])
					}
				}
				blocks, blockPaths = append(blocks, c), append(blockPaths, sp+".cidr")
			}
		}
		switch {
		case sn.IPv6Native && sn.IPv6CIDR == "":
			p.add(sp+".ipv6Cidr", "an IPv6-only subnet needs an IPv6 block")
		case sn.IPv6CIDR != "" && !ok6:
			p.add(sp+".ipv6Cidr", "the VPC has no ipv6Cidr")
		case sn.IPv6CIDR != "":
			if c, ok := parsePrefix(p, sp+".ipv6Cidr", sn.IPv6CIDR, true, subnet6MinBits, subnetV6Bits); ok {
				if !(cidr6.Contains(c.Addr()) && c.Bits() >= cidr6.Bits()) {
					p.add(sp+".ipv6Cidr", "%s is not inside the VPC's %s", c, cidr6)
				}
				for k, b := range blocks {
					if b.Overlaps(c) {
						p.add(sp+".ipv6Cidr", "%s overlaps %s", c, blockPaths[k])
					}
				}
				blocks, blockPaths = append(blocks, c), append(blockPaths, sp+".ipv6Cidr")
			}
		}
		if sn.RouteTable != "" && !tables[sn.RouteTable] {
			p.add(sp+".routeTable", "route table %q is not declared in this VPC", sn.RouteTable)
		}
		if sn.NetworkACL != "" && !acls[sn.NetworkACL] {
			p.add(sp+".networkAcl", "network ACL %q is not declared in this VPC", sn.NetworkACL)
		}
	}

	services := map[string]bool{}
	for i, e := range v.Endpoints {
		ep := fmt.Sprintf("%s.endpoints[%d]", path, i)
		if e == nil {
			p.add(ep, "empty endpoint")
			continue
		}
		if len(e.Services) == 0 {
			p.add(ep+".services", "want at least one service, such as ssm")
		}
		for j, svc := range e.Services {
			switch {
			case !endpointService.MatchString(svc):
				p.add(fmt.Sprintf("%s.services[%d]", ep, j), "%q is not a service name such as ssm", svc)
			case services[svc]:
				p.add(fmt.Sprintf("%s.services[%d]", ep, j), "the VPC already has an endpoint for %s", svc)
			}
			services[svc] = true
		}
		if len(e.Subnets) == 0 {
			p.add(ep+".subnets", "an interface endpoint needs at least one subnet")
		}
		zones := map[string]string{}
		for j, sn := range e.Subnets {
			jp := fmt.Sprintf("%s.subnets[%d]", ep, j)
			if !subnets[sn] {
				p.add(jp, "subnet %q is not declared in this VPC", sn)
				continue
			}
			z := subnetZone(v, sn)
			if prev, dup := zones[z]; dup {
				p.add(jp, "subnets %q and %q are both in zone %s; an endpoint takes one subnet per zone", prev, sn, z)
			}
			zones[z] = sn
		}
		for j, g := range e.SecurityGroups {
			if !sgs[g] {
				p.add(fmt.Sprintf("%s.securityGroups[%d]", ep, j), "security group %q is not declared in this VPC", g)
			}
		}
		oneOf(p, ep+".state", e.State, endpointStates)
	}
}

func subnetZone(v *VPCSpec, name string) string {
	for _, sn := range v.Subnets {
		if sn != nil && sn.Name == name {
			if sn.Zone == "" {
				return "a"
			}
			return sn.Zone
		}
	}
	return ""
}

func validateSGRule(p *problems, path string, r *SGRuleSpec, groups map[string]bool, ipv6 bool) {
	oneOf(p, path+".protocol", r.Protocol, protocols)
	if r.Protocol == "" {
		p.add(path+".protocol", "want one of %s", strings.Join(protocols, ", "))
	}
	if (r.Protocol == "tcp" || r.Protocol == "udp") && r.Ports == (PortRange{}) {
		p.add(path+".ports", "ports are required for %s", r.Protocol)
	}
	if len(r.CIDRs)+len(r.Groups)+len(r.PrefixLists) == 0 {
		p.add(path, "a rule needs cidrs, groups or prefixLists")
	}
	for i, c := range r.CIDRs {
		pf, err := netip.ParsePrefix(c)
		switch {
		case err != nil:
			p.add(fmt.Sprintf("%s.cidrs[%d]", path, i), "%q is not a CIDR block", c)
		case pf.Addr().Is6() && !ipv6:
			// Allowed by AWS, but pointless: flag it as the likely typo.
			p.add(fmt.Sprintf("%s.cidrs[%d]", path, i), "IPv6 rule in a VPC without an ipv6Cidr")
		}
	}
	for i, g := range r.Groups {
		if !groups[g] {
			p.add(fmt.Sprintf("%s.groups[%d]", path, i), "security group %q is not declared in this VPC", g)
		}
	}
	for i, pl := range r.PrefixLists {
		if !strings.HasPrefix(pl, "pl-") {
			p.add(fmt.Sprintf("%s.prefixLists[%d]", path, i), "%q is not a prefix list id (pl-...)", pl)
		}
	}
}

func (s *Spec) validateGroups(p *problems) {
	if len(s.Groups) == 0 {
		p.add("groups", "a scenario needs at least one instance group")
	}
	if tooMany(p, "groups", len(s.Groups), maxInstanceGroups, "groups") {
		return
	}
	names := map[string]bool{}
	weights, counted := 0.0, 0
	for i, g := range s.Groups {
		path := fmt.Sprintf("groups[%d]", i)
		if g == nil {
			p.add(path, "empty group")
			continue
		}
		if !localName.MatchString(g.Name) {
			p.add(path+".name", "%q: want letters, digits, '.', '_' or '-'", g.Name)
		} else if names[g.Name] {
			p.add(path+".name", "group %q is declared twice", g.Name)
		}
		names[g.Name] = true
		switch {
		case g.Count != nil && g.Weight != 0:
			p.add(path, "set count or weight, not both")
		case g.Count == nil && g.Weight == 0:
			p.add(path, "set count (instances) or weight (share of instances)")
		case g.Count != nil && (*g.Count < 0 || *g.Count > maxInstances):
			p.add(path+".count", "%d is outside 0-%d", *g.Count, maxInstances)
		case g.Count == nil && !(g.Weight > 0 && g.Weight <= maxWeight):
			p.add(path+".weight", "want a number above 0 and at most %g", float64(maxWeight))
		}
		if g.Count == nil {
			weights += g.Weight
		} else {
			counted += max(*g.Count, 0)
		}
		for j, w := range g.Where {
			acct, region, ok := strings.Cut(w, "/")
			if !ok || acct == "" || region == "" || strings.Contains(region, "/") {
				p.add(fmt.Sprintf("%s.where[%d]", path, j), "%q: want ACCOUNT/REGION (an account id or name, a region, or * for either)", w)
			} else if region != "*" {
				if err := awsapi.ValidateRegion(region); err != nil {
					p.add(fmt.Sprintf("%s.where[%d]", path, j), "%v", err)
				}
			}
		}
		for j, l := range g.Layouts {
			if s.Layouts[l] == nil {
				p.add(fmt.Sprintf("%s.layouts[%d]", path, j), "layout %q does not exist", l)
			}
		}
		validateTemplate(p, path+".template", &g.Template)
	}
	if weights > 0 && s.Instances == 0 {
		p.add("instances", "groups with a weight share the total number of instances; set it")
	}
	if counted > maxInstances {
		p.add("groups", "the groups with a count add up to %d instances; the limit is %d", counted, maxInstances)
	}
}

func validateTemplate(p *problems, path string, t *InstanceTemplate) {
	if t.VPC == "" {
		p.add(path+".vpc", "required")
	}
	oneOf(p, path+".platform", t.Platform, platforms)
	oneOf(p, path+".state", t.State, instanceStates)
	for i, it := range t.InstanceTypes {
		switch {
		case !instanceType.MatchString(it):
			p.add(fmt.Sprintf("%s.instanceTypes[%d]", path, i), "%q is not an instance type such as m6i.large", it)
		case t.Platform == "windows" && architecture(it) == ec2types.ArchitectureValuesArm64:
			p.add(fmt.Sprintf("%s.instanceTypes[%d]", path, i), "%s is a Graviton (arm64) type, which does not run Windows", it)
		}
	}
	tooMany(p, path+".tags", len(t.Tags), maxTagsPerInstance, "tags")
	for _, k := range slices.Sorted(maps.Keys(t.Tags)) {
		if k == "" || len(k) > 128 {
			p.add(path+".tags", "tag key %q must be 1-128 characters", k)
		}
		if len(t.Tags[k]) > 256 {
			p.add(path+".tags."+k, "a tag value is at most 256 characters")
		}
	}
	m := &t.Metadata
	mp := path + ".metadata"
	oneOf(p, mp+".httpEndpoint", m.HTTPEndpoint, onOff)
	oneOf(p, mp+".httpTokens", m.HTTPTokens, tokenModes)
	oneOf(p, mp+".protocolIpv6", m.ProtocolIPv6, onOff)
	oneOf(p, mp+".instanceMetadataTags", m.InstanceMetadataTags, onOff)
	oneOf(p, mp+".state", m.State, optionStates)
	if m.HopLimit < 0 || m.HopLimit > 64 {
		p.add(mp+".hopLimit", "%d is outside 1-64", m.HopLimit)
	}
	oneOf(p, path+".ssm.ping", t.SSM.Ping, pingStatuses)
	for i, v := range t.SSM.AgentVersion {
		if !agentVersion.MatchString(v) {
			p.add(fmt.Sprintf("%s.ssm.agentVersion[%d]", path, i), "%q is not an agent version such as 3.3.1142.0", v)
		}
	}
	windows := t.Platform == "windows"
	if t.Host != nil {
		validateHost(p, path+".host", t.Host, windows)
	}
	if t.SSM.Ping == "Online" {
		if why := offlineReason(t, t.Host); why != "" {
			p.add(path+".ssm.ping", "Online contradicts the instance: %s; use ConnectionLost, Inactive or unregistered", why)
		}
	}
}

func validateHost(p *problems, path string, st *host.State, windows bool) {
	if tooMany(p, path+".firewall", len(st.Firewall), maxFirewallRules, "firewall rules") ||
		tooMany(p, path+".agentEnv", len(st.AgentEnv), maxEnvironmentVars, "variables") ||
		tooMany(p, path+".systemEnv", len(st.SystemEnv), maxEnvironmentVars, "variables") ||
		tooMany(p, path+".agent.logErrors", len(st.Agent.LogErrors), maxLogErrors, "log lines") ||
		tooMany(p, path+".containerRuntimes", len(st.ContainerRuntimes), maxContainerRuntime, "runtimes") {
		return
	}
	oneOf(p, path+".os", st.OS, hostOSes)
	if st.OS != "" && strings.HasPrefix(st.OS, "windows") != windows {
		p.add(path+".os", "%q does not match the instance's platform", st.OS)
	}
	if u := st.Agent.User; u != "" && !userName.MatchString(u) {
		p.add(path+".agent.user", "%q is not a user name", u)
	}
	for i, e := range st.Agent.LogErrors {
		if e == "" || len(e) > 1024 {
			p.add(fmt.Sprintf("%s.agent.logErrors[%d]", path, i), "want a log line of 1-1024 characters")
		}
	}
	for i, r := range st.Firewall {
		rp := fmt.Sprintf("%s.firewall[%d]", path, i)
		oneOf(p, rp+".tool", r.Tool, firewallTools)
		if r.Tool == "" {
			p.add(rp+".tool", "want one of %s", strings.Join(firewallTools, ", "))
		} else if (r.Tool == "windows") != windows {
			p.add(rp+".tool", "%s does not run on this platform", r.Tool)
		}
		if r.Text == "" || len(r.Text) > 1024 {
			p.add(rp+".text", "want the rule as the tool prints it (1-1024 characters)")
		}
		oneOf(p, rp+".action", r.Action, firewallActions)
		if r.Action == "" {
			p.add(rp+".action", "want REJECT or DROP")
		}
		if r.UIDRange != "" {
			m := uidRange.FindStringSubmatch(r.UIDRange)
			if m == nil || len(m[1]) > len(m[2]) || (len(m[1]) == len(m[2]) && m[1] > m[2]) {
				p.add(rp+".uidRange", "%q: want FROM-TO user ids, FROM <= TO", r.UIDRange)
			}
		}
	}
	for _, e := range [...]struct {
		field string
		env   map[string]string
	}{{"agentEnv", st.AgentEnv}, {"systemEnv", st.SystemEnv}} {
		for _, k := range slices.Sorted(maps.Keys(e.env)) {
			if !envName.MatchString(k) {
				p.add(path+"."+e.field, "%q is not an environment variable name", k)
			}
			if len(e.env[k]) > 4096 {
				p.add(path+"."+e.field+"."+k, "value longer than 4096 characters")
			}
		}
	}
	if st.LinkLocalAllowanceExceeded < 0 {
		p.add(path+".linkLocalAllowanceExceeded", "a counter is never negative")
	}
	for i, rt := range st.ContainerRuntimes {
		oneOf(p, fmt.Sprintf("%s.containerRuntimes[%d]", path, i), rt, containerRuntime)
	}
	for _, svc := range slices.Sorted(maps.Keys(st.EndpointFailures)) {
		oneOf(p, path+".endpointFailures", svc, agentServices)
		oneOf(p, path+".endpointFailures."+svc, st.EndpointFailures[svc], endpointFailures)
	}
	if st.IMDSStatus != 0 && (st.IMDSStatus < 400 || st.IMDSStatus > 599) {
		p.add(path+".imdsStatus", "%d: want 0 (derived) or an HTTP error status 400-599", st.IMDSStatus)
	}
}

// maxClockSkewSeconds is how far a clock may drift before SigV4 requests
// fail: AWS rejects signatures more than 5 minutes off.
const maxClockSkewSeconds = 5 * 60

// offlineReason says why the agent of an instance built from t with host
// state st cannot be Online, or "" when nothing stops it.
func offlineReason(t *InstanceTemplate, st *host.State) string {
	switch {
	case t.State != "" && t.State != "running":
		return "it is " + t.State
	case t.Metadata.HTTPEndpoint == "disabled":
		return "its IMDS endpoint is disabled, so the agent gets no credentials"
	}
	return agentBlocked(st)
}

// agentBlocked says which on-host state keeps the agent from reaching IMDS
// or Systems Manager, or "" when none does.
func agentBlocked(st *host.State) string {
	if st == nil {
		return ""
	}
	switch {
	case st.Agent.NotInstalled:
		return "the agent is not installed"
	case st.Agent.Stopped:
		return "the agent is stopped"
	case st.Agent.User != "" && st.Agent.User != "root":
		return "the agent runs as " + st.Agent.User + ", not root"
	case st.NoRouteToIMDS:
		return "the host has no route to IMDS"
	case st.PolicyRoutesLost:
		return "the host lost its policy routes"
	case st.ClockSkewSeconds > maxClockSkewSeconds || st.ClockSkewSeconds < -maxClockSkewSeconds:
		return "the clock is off by more than 5 minutes, so requests fail signature checks"
	case st.EndpointFailures["ssm"] != "":
		return "the ssm endpoint is unreachable (" + st.EndpointFailures["ssm"] + ")"
	case st.IMDSStatus >= 400:
		return fmt.Sprintf("IMDS answers HTTP %d", st.IMDSStatus)
	case proxyBypassesIMDS(st.AgentEnv):
		return "the agent's proxy does not exclude 169.254.169.254"
	}
	for _, r := range st.Firewall {
		// A rule limited to a uid range spares the agent, which runs as root.
		if r.UIDRange == "" && r.Tool != "ip6tables" {
			return "a " + r.Tool + " rule blocks IMDS for every process"
		}
	}
	return ""
}

// proxyBypassesIMDS reports whether env sends HTTP through a proxy without
// excluding 169.254.169.254 in NO_PROXY — the misconfiguration that sends
// IMDS requests to the proxy.
func proxyBypassesIMDS(env map[string]string) bool {
	proxied := false
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		if env[k] != "" {
			proxied = true
		}
	}
	if !proxied {
		return false
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		for _, h := range strings.Split(env[k], ",") {
			if strings.TrimSpace(h) == "169.254.169.254" {
				return false
			}
		}
	}
	return true
}
