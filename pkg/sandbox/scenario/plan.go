package scenario

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Upper bounds on Params, so a typo cannot ask for a world that does not
// fit in memory.
const (
	maxInstances      = 5_000_000
	maxAccountRegions = 10_000
)

// plan is a scenario expanded to account-regions, with every group's
// instance count per account-region decided and every reference checked;
// build turns it into a World.
type plan struct {
	spec                      *Spec
	seed                      int64
	now                       time.Time
	hub                       string
	auditRole, automationRole string
	accounts                  []*acctPlan
	ars                       []*arPlan
	groups                    []*groupPlan
}

type acctPlan struct {
	id, name, path string
	iam            *iamPlan
	auditMissing   bool
	regions        []string
}

// arPlan is one account-region with its effective settings.
type arPlan struct {
	acct   *acctPlan
	region string
	// chain is the layout the account-region is built from, then the
	// layouts it extends.
	chain    []string
	path     string
	dhmc     string // "" when DHMC is off
	dhmcPath string
	defaults *IMDSDefaultsSpec
	vpcs     []vpcRef
	vpc      map[string]*VPCSpec
	// instances is how many instances land here.
	instances int
	// used counts instances per subnet, for the capacity check.
	used map[*SubnetSpec]int
}

type vpcRef struct {
	spec *VPCSpec
	path string
}

func (a *arPlan) String() string { return a.acct.id + "/" + a.region }

// groupPlan is one group's placement: its count in each account-region.
type groupPlan struct {
	idx  int
	g    *GroupSpec
	path string
	ars  []*arPlan
	// total is the group's instance count; counts splits it over ars.
	total  int
	counts []int
}

// named is an IAM entity with the path it was declared at.
type named[T any] struct {
	v    *T
	path string
}

// iamPlan is an account's effective IAM: its IAM set overlaid by its own
// declarations, by name.
type iamPlan struct {
	policies       []named[PolicySpec]
	roles          []named[RoleSpec]
	profiles       []named[ProfileSpec]
	simulateDenied bool
	// Indexes by name into the lists above.
	policyIdx, roleIdx, profileIdx map[string]int
}

// overlay adds entries to list, replacing those of the same name, and
// keeps idx (name → position) in step.
func overlay[T any](list []named[T], idx map[string]int, add []*T, path string, name func(*T) string) []named[T] {
	for i, v := range add {
		if v == nil {
			continue
		}
		e := named[T]{v, fmt.Sprintf("%s[%d]", path, i)}
		if k, ok := idx[name(v)]; ok {
			list[k] = e
		} else {
			idx[name(v)] = len(list)
			list = append(list, e)
		}
	}
	return list
}

func mergeIAM(layers ...struct {
	spec *IAMSpec
	path string
}) *iamPlan {
	m := &iamPlan{policyIdx: map[string]int{}, roleIdx: map[string]int{}, profileIdx: map[string]int{}}
	for _, l := range layers {
		if l.spec == nil {
			continue
		}
		m.policies = overlay(m.policies, m.policyIdx, l.spec.Policies, l.path+".policies", func(p *PolicySpec) string { return p.Name })
		m.roles = overlay(m.roles, m.roleIdx, l.spec.Roles, l.path+".roles", func(r *RoleSpec) string { return r.Name })
		m.profiles = overlay(m.profiles, m.profileIdx, l.spec.Profiles, l.path+".profiles", func(p *ProfileSpec) string { return p.Name })
		m.simulateDenied = m.simulateDenied || l.spec.SimulateDenied
	}
	return m
}

func lookup[T any](list []named[T], idx map[string]int, name string) *named[T] {
	if k, ok := idx[name]; ok {
		return &list[k]
	}
	return nil
}

func (m *iamPlan) role(name string) *named[RoleSpec] { return lookup(m.roles, m.roleIdx, name) }

func (m *iamPlan) profile(name string) *named[ProfileSpec] {
	return lookup(m.profiles, m.profileIdx, name)
}

func (m *iamPlan) policy(name string) *named[PolicySpec] {
	return lookup(m.policies, m.policyIdx, name)
}

// managedARN resolves a role's managed policy reference in account.
func (m *iamPlan) managedARN(ref, account string) (string, error) {
	if rest, ok := strings.CutPrefix(ref, "arn:aws:iam::aws:policy/"); ok {
		if _, known := awsManaged[rest]; known {
			return ref, nil
		}
		return "", fmt.Errorf("%q is not an AWS managed policy the sandbox models (%s)", ref, strings.Join(awsManagedNames(), ", "))
	}
	if rest, ok := strings.CutPrefix(ref, "arn:aws:iam::"+account+":policy/"); ok {
		if m.policy(rest[strings.LastIndexByte(rest, '/')+1:]) != nil {
			return ref, nil
		}
		return "", fmt.Errorf("customer policy %q is not declared in account %s", ref, account)
	}
	if strings.HasPrefix(ref, "arn:") {
		return "", fmt.Errorf("%q is not a policy ARN of account %s or of AWS", ref, account)
	}
	if m.policy(ref) != nil {
		return "arn:aws:iam::" + account + ":policy/" + ref, nil
	}
	if _, known := awsManaged[ref]; known {
		return "arn:aws:iam::aws:policy/" + ref, nil
	}
	return "", fmt.Errorf("policy %q is neither declared in account %s nor an AWS managed policy the sandbox models (%s)",
		ref, account, strings.Join(awsManagedNames(), ", "))
}

// plan expands the scenario with p and checks every reference.
func (s *Spec) plan(p Params) (*plan, error) {
	var probs problems
	pl := &plan{
		spec:           s,
		seed:           cmp.Or(p.Seed, s.Seed),
		now:            s.Now,
		auditRole:      cmp.Or(s.AuditRole, DefaultAuditRole),
		automationRole: cmp.Or(s.AutomationRole, DefaultAutomationRole),
	}
	if !p.Now.IsZero() {
		pl.now = p.Now
	}
	if pl.now.IsZero() {
		pl.now = DefaultNow
	}
	pl.now = pl.now.UTC()
	switch {
	case p.Instances < 0 || p.Instances > maxInstances:
		return nil, fmt.Errorf("Params.Instances: %d is outside 0-%d", p.Instances, maxInstances)
	case p.AccountRegions < 0 || p.AccountRegions > maxAccountRegions:
		return nil, fmt.Errorf("Params.AccountRegions: %d is outside 0-%d", p.AccountRegions, maxAccountRegions)
	case p.AccountRegions > 0 && s.Generate == nil:
		return nil, fmt.Errorf("Params.AccountRegions: scenario %s has no generate section, so its account-regions are fixed", s.Name)
	}

	for i, a := range s.Accounts {
		path := fmt.Sprintf("accounts[%d]", i)
		ap := &acctPlan{id: a.ID, name: a.Name, path: path, auditMissing: a.AuditRoleMissing,
			iam: mergeIAM(iamLayer(s.IAMSets[a.IAMSet], "iamSets."+a.IAMSet), iamLayer(&a.IAM, path+".iam"))}
		pl.accounts = append(pl.accounts, ap)
		for j, r := range a.Regions {
			pl.addRegion(&probs, ap, r.Name, r.Layout, &r.RegionSettings, fmt.Sprintf("%s.regions[%d]", path, j))
		}
	}
	if g := s.Generate; g != nil {
		pl.generate(&probs, g, cmp.Or(p.AccountRegions, g.AccountRegions))
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	pl.hub = cmp.Or(s.Hub, pl.accounts[0].id)
	for _, a := range pl.accounts {
		pl.checkIAM(&probs, a)
	}
	for _, ar := range pl.ars {
		if ar.dhmc == "" {
			continue
		}
		role := ar.dhmc[strings.LastIndexByte(ar.dhmc, '/')+1:]
		if ar.acct.iam.role(role) == nil {
			probs.add(ar.dhmcPath, "role %q is not declared in account %s (declare it, with deleted: true if DHMC should name a missing role)", role, ar.acct.id)
		}
	}
	pl.place(&probs, p)
	if err := probs.err(); err != nil {
		return nil, err
	}
	return pl, nil
}

func iamLayer(spec *IAMSpec, path string) struct {
	spec *IAMSpec
	path string
} {
	return struct {
		spec *IAMSpec
		path string
	}{spec, path}
}

// addRegion resolves a region's layout chain and settings.
func (pl *plan) addRegion(probs *problems, a *acctPlan, region, layout string, own *RegionSettings, path string) {
	ar := &arPlan{acct: a, region: region, path: path, vpc: map[string]*VPCSpec{}, used: map[*SubnetSpec]int{}}
	for l := layout; l != "" && !slices.Contains(ar.chain, l); l = pl.spec.Layouts[l].Extends {
		ar.chain = append(ar.chain, l)
	}
	apply := func(rs *RegionSettings, path string) {
		if rs.DHMC != nil {
			ar.dhmc, ar.dhmcPath = *rs.DHMC, path+".dhmc"
			if ar.dhmc == dhmcOff {
				ar.dhmc = ""
			}
		}
		if rs.IMDSDefaults != nil {
			ar.defaults = rs.IMDSDefaults
		}
		for i, v := range rs.VPCs {
			vp := fmt.Sprintf("%s.vpcs[%d]", path, i)
			if prev, dup := ar.vpc[v.Name]; dup {
				probs.add(vp+".name", "VPC %q is already declared by %s", v.Name, pathOf(ar.vpcs, prev))
				continue
			}
			ar.vpc[v.Name] = v
			ar.vpcs = append(ar.vpcs, vpcRef{v, vp})
		}
	}
	for i := len(ar.chain) - 1; i >= 0; i-- {
		apply(&pl.spec.Layouts[ar.chain[i]].RegionSettings, "layouts."+ar.chain[i])
	}
	apply(own, path)
	a.regions = append(a.regions, region)
	pl.ars = append(pl.ars, ar)
}

func pathOf(refs []vpcRef, v *VPCSpec) string {
	for _, r := range refs {
		if r.spec == v {
			return r.path
		}
	}
	return "?"
}

// generate stamps out n account-regions: accounts numbered up from
// FirstAccount, each filling the regions in order.
func (pl *plan) generate(probs *problems, g *GenerateSpec, n int) {
	first, _ := strconv.ParseInt(g.FirstAccount, 10, 64)
	accounts := (n + len(g.Regions) - 1) / len(g.Regions)
	if first+int64(accounts)-1 > 999_999_999_999 {
		probs.add("generate.firstAccount", "%d accounts from %s run past 999999999999", accounts, g.FirstAccount)
		return
	}
	taken := map[string]bool{}
	for _, a := range pl.accounts {
		taken[a.id], taken[a.name] = true, true
	}
	prefix := cmp.Or(g.NamePrefix, "member")
	set := iamLayer(pl.spec.IAMSets[g.IAMSet], "iamSets."+g.IAMSet)
	var acct *acctPlan
	for k := range n {
		if k%len(g.Regions) == 0 {
			idx := k / len(g.Regions)
			id := fmt.Sprintf("%012d", first+int64(idx))
			name := fmt.Sprintf("%s-%02d", prefix, idx+1)
			if taken[id] {
				probs.add("generate.firstAccount", "generated account %s is also declared in accounts", id)
				return
			}
			if taken[name] {
				probs.add("generate.namePrefix", "generated account name %q is also an account in accounts", name)
				return
			}
			acct = &acctPlan{id: id, name: name, path: "generate", iam: mergeIAM(set)}
			pl.accounts = append(pl.accounts, acct)
		}
		region := g.Regions[k%len(g.Regions)]
		layout := ""
		if len(g.Layouts) > 0 {
			layout = g.Layouts[k%len(g.Layouts)]
		}
		pl.addRegion(probs, acct, region, layout, &RegionSettings{},
			fmt.Sprintf("generate (account %s, region %s)", acct.id, region))
	}
}

// checkIAM resolves the references inside an account's IAM.
func (pl *plan) checkIAM(probs *problems, a *acctPlan) {
	for _, r := range a.iam.roles {
		for j, ref := range r.v.Managed {
			if _, err := a.iam.managedARN(ref, a.id); err != nil {
				probs.add(fmt.Sprintf("%s.managed[%d]", r.path, j), "%v", err)
			}
		}
	}
	for _, pr := range a.iam.profiles {
		if pr.v.Role != "" && a.iam.role(pr.v.Role) == nil {
			probs.add(pr.path+".role", "role %q is not declared in account %s (declare it, with deleted: true if it no longer exists)", pr.v.Role, a.id)
		}
	}
}

// matches reports whether the account-region is one the group may use.
func (g *GroupSpec) matches(ar *arPlan) bool {
	if len(g.Layouts) > 0 && !slices.ContainsFunc(g.Layouts, func(l string) bool { return slices.Contains(ar.chain, l) }) {
		return false
	}
	if len(g.Where) == 0 {
		return true
	}
	for _, w := range g.Where {
		acct, region, _ := strings.Cut(w, "/")
		if (acct == "*" || acct == ar.acct.id || acct == ar.acct.name) && (region == "*" || region == ar.region) {
			return true
		}
	}
	return false
}

// place decides how many instances of each group land in each
// account-region, and checks the group's references there.
func (pl *plan) place(probs *problems, p Params) {
	s := pl.spec
	known := map[string]bool{"*": true}
	for _, a := range pl.accounts {
		known[a.id], known[a.name] = true, true
	}
	fixed := 0
	var weighted []*groupPlan
	for i, g := range s.Groups {
		gp := &groupPlan{idx: i, g: g, path: fmt.Sprintf("groups[%d]", i)}
		for j, w := range g.Where {
			if acct, _, _ := strings.Cut(w, "/"); !known[acct] {
				probs.add(fmt.Sprintf("%s.where[%d]", gp.path, j), "no account has the id or name %q", acct)
			}
		}
		for _, ar := range pl.ars {
			if g.matches(ar) {
				gp.ars = append(gp.ars, ar)
			}
		}
		if len(gp.ars) == 0 {
			// A weighted group whose layouts a smaller generated fleet
			// leaves out has nowhere to go; its share goes to the others.
			if g.Count == nil && p.AccountRegions > 0 {
				continue
			}
			probs.add(gp.path+".where", "the group matches no account-region")
			continue
		}
		pl.groups = append(pl.groups, gp)
		if g.Count != nil {
			fixed += *g.Count
		} else {
			weighted = append(weighted, gp)
		}
	}
	if len(probs.errs) > 0 {
		return
	}

	total := cmp.Or(p.Instances, s.Instances)
	switch {
	case len(weighted) == 0 && p.Instances != 0 && p.Instances != fixed:
		probs.add("instances", "the scenario's groups all have a count (%d instances in all), so Params.Instances cannot change its size", fixed)
		return
	case len(weighted) == 0:
		total = fixed
	case total < fixed:
		probs.add("instances", "%d instances are fewer than the %d the groups with a count need", total, fixed)
		return
	}
	apportion(weighted, total-fixed)

	for _, gp := range pl.groups {
		if gp.g.Count != nil {
			gp.total = *gp.g.Count
		}
		gp.counts = spread(gp.total, len(gp.ars), gp.idx)
		pl.check(probs, gp)
	}
}

// apportion shares n instances between the weighted groups in proportion to
// their weights, by largest remainder, so the shares add up to n exactly.
func apportion(groups []*groupPlan, n int) {
	sum := 0.0
	for _, g := range groups {
		sum += g.g.Weight
	}
	type share struct {
		i    int
		frac float64
	}
	given := 0
	shares := make([]share, len(groups))
	for i, g := range groups {
		exact := float64(n) * g.g.Weight / sum
		whole := math.Floor(exact)
		g.total = int(whole)
		given += int(whole)
		shares[i] = share{i, exact - whole}
	}
	slices.SortStableFunc(shares, func(a, b share) int { return cmp.Compare(b.frac, a.frac) })
	for k := 0; given < n; k++ {
		groups[shares[k%len(shares)].i].total++
		given++
	}
}

// spread splits c instances over n account-regions as evenly as possible;
// the remainder goes to account-regions starting at an offset that differs
// per group, so small groups do not all pile into the first one.
func spread(c, n, offset int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = c / n
	}
	for k := range c % n {
		out[(offset+k)%n]++
	}
	return out
}

// check resolves the group's template in every account-region it lands in
// and reserves its addresses.
func (pl *plan) check(probs *problems, gp *groupPlan) {
	t := &gp.g.Template
	tp := gp.path + ".template"
	for k, ar := range gp.ars {
		n := gp.counts[k]
		ar.instances += n
		where := ar.String() + " (" + ar.path + ")"
		v := ar.vpc[t.VPC]
		if v == nil {
			probs.add(tp+".vpc", "VPC %q does not exist in %s", t.VPC, where)
			return
		}
		subnets, ok := templateSubnets(probs, tp, t, v, where)
		if !ok {
			return
		}
		for i, g := range t.SecurityGroups {
			if g != "default" && !slices.ContainsFunc(v.SecurityGroups, func(sg *SecurityGroupSpec) bool { return sg.Name == g }) {
				probs.add(fmt.Sprintf("%s.securityGroups[%d]", tp, i), "security group %q does not exist in VPC %q of %s", g, t.VPC, where)
				return
			}
		}
		if t.Profile != "" && ar.acct.iam.profile(t.Profile) == nil {
			probs.add(tp+".profile", "instance profile %q is not declared in account %s (declare it, with deleted: true if it no longer exists)", t.Profile, ar.acct.id)
			return
		}
		for _, sn := range subnets {
			if !sn.IPv6Native {
				continue
			}
			if t.PublicIP {
				probs.add(tp+".publicIp", "subnet %q is IPv6-only, so its instances have no public IPv4 address", sn.Name)
				return
			}
			if t.SSM.Ping == "Online" && t.Metadata.ProtocolIPv6 != "enabled" {
				probs.add(tp+".ssm.ping", "Online contradicts the instance: subnet %q is IPv6-only and the IMDS IPv6 endpoint is disabled, so the agent gets no credentials", sn.Name)
				return
			}
		}
		// Instance i of the group goes to subnet i mod len(subnets).
		for j, sn := range subnets {
			ar.used[sn] += n / len(subnets)
			if j < n%len(subnets) {
				ar.used[sn]++
			}
			if room := capacity(v, sn); ar.used[sn] > room {
				probs.add(tp+".subnets", "subnet %q of VPC %q in %s has room for %d instances, but %d are placed there",
					sn.Name, v.Name, where, room, ar.used[sn])
				return
			}
		}
	}
}

// templateSubnets resolves the template's subnets in v: the named ones, or
// every subnet of the VPC.
func templateSubnets(probs *problems, tp string, t *InstanceTemplate, v *VPCSpec, where string) ([]*SubnetSpec, bool) {
	if len(t.Subnets) == 0 {
		if len(v.Subnets) == 0 {
			probs.add(tp+".vpc", "VPC %q in %s has no subnets", v.Name, where)
			return nil, false
		}
		return v.Subnets, true
	}
	out := make([]*SubnetSpec, 0, len(t.Subnets))
	for i, name := range t.Subnets {
		k := slices.IndexFunc(v.Subnets, func(sn *SubnetSpec) bool { return sn.Name == name })
		if k < 0 {
			probs.add(fmt.Sprintf("%s.subnets[%d]", tp, i), "subnet %q does not exist in VPC %q of %s", name, v.Name, where)
			return nil, false
		}
		out = append(out, v.Subnets[k])
	}
	return out, true
}

// capacity is how many instances fit in a subnet: AWS reserves the first
// four addresses and the last of every IPv4 subnet, and each interface
// endpoint in the subnet takes one address.
func capacity(v *VPCSpec, sn *SubnetSpec) int {
	if sn.IPv6Native {
		return math.MaxInt32
	}
	pf, err := netip.ParsePrefix(sn.CIDR)
	if err != nil {
		return 0
	}
	room := 1<<(32-pf.Bits()) - 5
	for _, e := range v.Endpoints {
		if slices.Contains(e.Subnets, sn.Name) {
			room -= len(e.Services)
		}
	}
	return max(room, 0)
}
