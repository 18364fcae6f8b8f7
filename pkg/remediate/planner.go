package remediate

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
)

// Input is what Build plans from.
type Input struct {
	// RunID names the remediation run; it prefixes every change id.
	RunID string
	// Now is when the plan is made: exemptions expire against it and it is
	// the plan's CreatedAt.
	Now time.Time
	// Run is the audit run whose FAIL findings the plan fixes. Its
	// Snapshot is required: the gates read the instances' current values.
	Run *audit.Run
	// HostFindings are host_* findings (pkg/hostdiag.Findings) from a
	// diagnose run, for the on-host repairs.
	HostFindings []checks.Finding
	// Policy says which remediations are enabled and with what parameters.
	Policy *policy.Policy
}

// NestedContainersTag, set to "true" on an instance, says its containers
// run inside containers, so imds_set_hop_limit raises it to the policy's
// NestedTarget instead of Target. DeclareContainerHostTag=nested (pkg/checks)
// says the same.
const NestedContainersTag = "fleetdoctor:nested-containers"

// Note kinds.
const (
	NoteExemptionExpired   = "exemption_expired"
	NoteExemptionMalformed = "exemption_malformed"
)

// AccountResource is the Resource of changes to account-region settings
// (imds_account_defaults, dhmc_enable).
const AccountResource = "account"

// Parameter values of fleetdoctor's documents.
const (
	// unchanged is FleetDoctor-SetMetadataOptions' "keep each instance's
	// value" for HttpEndpoint and HttpTokens; "0" is the same for the hop
	// limit.
	unchanged        = "unchanged"
	hopUnchanged     = "0"
	declarativePol   = "declarative-policy"
	accountHopLimit  = 2 // DESIGN §5: account defaults v2 + hop 2
	imdsAddress      = "169.254.169.254"
	maxHostEvidence  = 500 // runes of a host finding's detail kept as a before-value
	tokensRequired   = "required"
	endpointDisabled = "disabled"
	endpointEnabled  = "enabled"
	agentOnline      = "Online"
)

// DocumentOf returns the SSM document (Automation runbook or Command
// document) that carries the remediation id, and whether there is one; the
// deployment grants exactly these documents.
func DocumentOf(id string) (string, bool) {
	d, ok := documentOf[id]
	return d, ok
}

// documentOf is the document that carries each remediation.
var documentOf = map[string]string{
	policy.EnableEndpoint:     checks.DocSetMetadataOptions,
	policy.RequireTokens:      checks.DocSetMetadataOptions,
	policy.SetHopLimit:        checks.DocSetMetadataOptions,
	policy.AccountDefaults:    checks.DocSetAccountMetadataDefaults,
	policy.AttachProfile:      checks.DocAttachInstanceProfile,
	policy.EnableDHMC:         checks.DocEnableDHMC,
	policy.HostRemoveFirewall: hostdiag.RepairDocumentName,
	policy.HostAddNoProxy:     hostdiag.RepairDocumentName,
	policy.HostRestartAgent:   hostdiag.RepairDocumentName,
}

// repairAction is FleetDoctor-RepairHost's Actions value for each host
// remediation.
var repairAction = map[string]string{
	policy.HostRemoveFirewall: "remove_imds_firewall_rules",
	policy.HostAddNoProxy:     "add_no_proxy",
	policy.HostRestartAgent:   "restart_agent",
}

// hostRemediationOf maps the host checks to their repairs, for host
// findings that arrive without a Remediation.
var hostRemediationOf = map[string]string{
	hostdiag.CheckIMDSBlockedByFirewall: policy.HostRemoveFirewall,
	hostdiag.CheckProxyWithoutNoProxy:   policy.HostAddNoProxy,
	hostdiag.CheckAgentNotRunning:       policy.HostRestartAgent,
}

// Parameter patterns of the documents (their allowedPattern), checked
// before planning so a bad policy fails here, not in every execution.
var (
	profileNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	roleNamePattern    = regexp.MustCompile(`^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	noProxyPattern     = regexp.MustCompile(`^[A-Za-z0-9.,-]{0,1000}$`)
)

func isAccountLevel(rem string) bool {
	return rem == policy.AccountDefaults || rem == policy.EnableDHMC
}

func isHost(rem string) bool { _, ok := repairAction[rem]; return ok }

// batchLimit is the most changes one batch of rem takes.
func batchLimit(rem string) int {
	if isHost(rem) {
		return HostBatch
	}
	return MaxBatch
}

// Build turns an audit run's FAIL findings (and host findings) into a plan
// under the policy's gates (DESIGN §5). Every failing finding with an
// automatic remediation becomes a change or a Skip saying why not. Build
// reads nothing but its input and is deterministic: the same input gives
// the same plan. It fails, planning nothing, when the run or policy is
// missing or an enabled remediation lacks a parameter it needs.
func Build(in Input) (*Plan, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	p := newPlanner(in)
	for _, fs := range [][]checks.Finding{in.Run.Findings, in.HostFindings} {
		for i := range fs {
			p.consider(&fs[i])
		}
	}
	return p.plan(), nil
}

// validate refuses input the planner cannot plan from.
func validate(in Input) error {
	switch {
	case in.Run == nil:
		return errors.New("remediate: no audit run to plan from")
	case in.Run.Snapshot == nil:
		return errors.New("remediate: the audit run carries no inventory snapshot (plan from a fresh audit, not a stored run document)")
	case in.Policy == nil:
		return errors.New("remediate: no policy")
	case strings.TrimSpace(in.RunID) == "":
		return errors.New("remediate: empty run id")
	case strings.Contains(in.RunID, "|"):
		return fmt.Errorf("remediate: run id %q contains '|', the change id separator", in.RunID)
	}
	pol := in.Policy
	known := policy.RemediationIDs()
	var enabled []string
	for _, id := range slices.Sorted(maps.Keys(pol.Remediations)) {
		if !slices.Contains(known, id) {
			return fmt.Errorf("policy: remediations.%s: unknown remediation (want one of %s)", id, strings.Join(known, ", "))
		}
		if pol.Enabled(id) {
			enabled = append(enabled, id)
		}
	}
	if len(enabled) == 0 {
		return nil
	}
	if pol.Caps.PerRun <= 0 {
		return fmt.Errorf("policy: caps.perRun is %d: set the most changes one run may make (at least 1)", pol.Caps.PerRun)
	}
	if pol.Caps.PerAccount <= 0 {
		return fmt.Errorf("policy: caps.perAccount is %d: set the most changes one run may make per account (at least 1)", pol.Caps.PerAccount)
	}
	for _, id := range enabled {
		switch id {
		case policy.RequireTokens:
			if pol.Tokens.Window <= 0 {
				return fmt.Errorf("policy: remediation %s is enabled but tokens.window is not set (how long MetadataNoToken must have been zero)", id)
			}
		case policy.SetHopLimit:
			h := pol.HopLimit
			if h.Target < 2 || h.Target > 64 {
				return fmt.Errorf("policy: remediation %s is enabled but hopLimit.target is %d (want 2 to 64)", id, h.Target)
			}
			if h.NestedTarget < h.Target || h.NestedTarget > 64 {
				return fmt.Errorf("policy: remediation %s is enabled but hopLimit.nestedTarget is %d (want %d to 64)", id, h.NestedTarget, h.Target)
			}
		case policy.AttachProfile:
			if pol.InstanceProfileName == "" {
				return fmt.Errorf("policy: remediation %s is enabled but instanceProfileName is empty", id)
			}
			if !profileNamePattern.MatchString(pol.InstanceProfileName) {
				return fmt.Errorf("policy: instanceProfileName %q is not an instance profile name", pol.InstanceProfileName)
			}
		case policy.EnableDHMC:
			if pol.DHMCRoleName == "" {
				return fmt.Errorf("policy: remediation %s is enabled but dhmcRoleName is empty", id)
			}
			if !roleNamePattern.MatchString(pol.DHMCRoleName) {
				return fmt.Errorf("policy: dhmcRoleName %q is not a role name (with an optional path)", pol.DHMCRoleName)
			}
		case policy.HostAddNoProxy:
			if !noProxyPattern.MatchString(strings.Join(pol.NoProxyHosts, ",")) {
				return fmt.Errorf("policy: noProxyHosts %q holds characters other than host names, or is longer than 1000 characters", pol.NoProxyHosts)
			}
		}
	}
	return nil
}

// regionView indexes one account-region of the snapshot.
type regionView struct {
	acct  *inventory.Account
	reg   *inventory.Region
	insts map[string]*inventory.Instance
}

// candidate is one (account, region, resource, remediation): the change a
// finding asks for and the verdict of the gates on it. Several findings
// can ask for the same change (imds_endpoint_disabled and
// dhmc_prerequisites_unmet both enable the endpoint).
type candidate struct {
	account, region, resource, rem string
	checks                         []string
	// skip is why the change is not made; empty when it is planned.
	skip string
	// why completes the change's Reason.
	why           string
	before, after map[string]string
	params        map[string][]string
	paramsKey     string
}

func (c *candidate) key() string {
	return c.account + "|" + c.region + "|" + c.resource + "|" + c.rem
}

type planner struct {
	in      Input
	pol     *policy.Policy
	snap    *inventory.Snapshot
	regions map[string]*regionView // by account|region
	accts   map[string]*inventory.Account
	// exempt holds, per exempt instance id, the skip reason.
	exempt   map[string]string
	notes    []Note
	force    map[string]bool
	keepIRSA map[string]bool
	remOrder map[string]int
	cands    map[string]*candidate
}

func newPlanner(in Input) *planner {
	p := &planner{
		in: in, pol: in.Policy, snap: in.Run.Snapshot,
		regions:  map[string]*regionView{},
		accts:    map[string]*inventory.Account{},
		exempt:   map[string]string{},
		force:    setOf(in.Policy.Tokens.Force),
		keepIRSA: setOf(in.Policy.HopLimit.KeepIRSAClusters),
		remOrder: map[string]int{},
		cands:    map[string]*candidate{},
	}
	for i, id := range policy.RemediationIDs() {
		p.remOrder[id] = i
	}
	policyExempt := map[string]policy.Exemption{}
	for _, e := range in.Policy.Exemptions {
		policyExempt[e.InstanceID] = e
	}
	for _, a := range p.snap.Accounts {
		p.accts[a.ID] = a
		for _, r := range a.Regions {
			rv := &regionView{acct: a, reg: r, insts: make(map[string]*inventory.Instance, len(r.Instances))}
			p.regions[a.ID+"|"+r.Name] = rv
			for i := range r.Instances {
				inst := &r.Instances[i]
				rv.insts[inst.ID] = inst
				p.exemption(a.ID, r.Name, inst, policyExempt)
			}
		}
	}
	return p
}

func setOf(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// exemption records whether the instance is exempt, by its tag or by the
// policy, and notes expired and malformed exemptions (which are honoured
// until fixed).
func (p *planner) exemption(account, region string, inst *inventory.Instance, policyExempt map[string]policy.Exemption) {
	var reasons []string
	note := func(kind, detail string) {
		p.notes = append(p.notes, Note{Account: account, Region: region, Resource: inst.ID, Kind: kind, Detail: detail})
	}
	if v, ok := inst.Tags[policy.ExemptTag]; ok {
		e, err := policy.ParseExemptTag(inst.ID, v)
		switch {
		case err != nil:
			reasons = append(reasons, fmt.Sprintf("exempt: malformed %s tag (honoured until fixed): %v", policy.ExemptTag, err))
			note(NoteExemptionMalformed, err.Error()+"; the instance stays exempt until the tag is fixed")
		case e.Expired(p.in.Now):
			reasons = append(reasons, fmt.Sprintf("exempt: %s owner=%s expired %s (honoured until the tag is renewed or removed)",
				policy.ExemptTag, e.Owner, expiry(e.Expires)))
			note(NoteExemptionExpired, fmt.Sprintf("%s on %s (owner %s) expired %s; the instance stays exempt until the tag is renewed or removed",
				policy.ExemptTag, inst.ID, e.Owner, expiry(e.Expires)))
		default:
			reasons = append(reasons, fmt.Sprintf("exempt: %s owner=%s until %s", policy.ExemptTag, e.Owner, expiry(e.Expires)))
		}
	}
	if e, ok := policyExempt[inst.ID]; ok {
		if e.Expired(p.in.Now) {
			reasons = append(reasons, fmt.Sprintf("exempt: policy exemption owner=%s expired %s (honoured until renewed or removed)",
				e.Owner, expiry(e.Expires)))
			note(NoteExemptionExpired, fmt.Sprintf("the policy's exemption of %s (owner %s) expired %s; the instance stays exempt until it is renewed or removed",
				inst.ID, e.Owner, expiry(e.Expires)))
		} else {
			until := "no expiry"
			if !e.Expires.IsZero() {
				until = "until " + expiry(e.Expires)
			}
			reasons = append(reasons, fmt.Sprintf("exempt: policy exemption owner=%s %s", e.Owner, until))
		}
	}
	if len(reasons) > 0 {
		p.exempt[inst.ID] = strings.Join(reasons, "; ")
	}
}

// expiry prints an exemption's expiry: the date when it ends a day, the
// time otherwise.
func expiry(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 23 && t.Minute() == 59 && t.Second() == 59 {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

// consider plans (or skips) the change one finding asks for.
func (p *planner) consider(f *checks.Finding) {
	if f.Status != checks.Fail {
		return
	}
	rem := ""
	if r := f.Remediation; r != nil && r.Automatic {
		rem = r.ID
	}
	if rem == "" && f.Remediation == nil {
		rem = hostRemediationOf[f.Check]
	}
	if rem == "" {
		return // fixed by hand: the report says how
	}
	resource := f.Resource
	if isAccountLevel(rem) {
		resource = AccountResource
	}
	c := &candidate{account: f.Account, region: f.Region, resource: resource, rem: rem}
	if prev, ok := p.cands[c.key()]; ok {
		if !slices.Contains(prev.checks, f.Check) {
			prev.checks = append(prev.checks, f.Check)
		}
		return
	}
	c.checks = []string{f.Check}
	p.cands[c.key()] = c
	p.gate(c, f)
}

// gate decides whether c is made, filling in its change or its skip.
func (p *planner) gate(c *candidate, f *checks.Finding) {
	if _, ok := p.remOrder[c.rem]; !ok {
		c.skip = fmt.Sprintf("remediation %s is unknown to the planner", c.rem)
		return
	}
	if !p.pol.Enabled(c.rem) {
		c.skip = fmt.Sprintf("remediation %s is not enabled in the policy", c.rem)
		return
	}
	acct := p.accts[c.account]
	if acct == nil {
		c.skip = fmt.Sprintf("account %s is not in the audit's inventory", c.account)
		return
	}
	if acct.Err != nil {
		c.skip = fmt.Sprintf("the audit could not enter account %s (%v): nothing is planned there", c.account, acct.Err)
		return
	}
	rv := p.regions[c.account+"|"+c.region]
	if rv == nil {
		c.skip = fmt.Sprintf("region %s of account %s is not in the audit's inventory", c.region, c.account)
		return
	}
	if isAccountLevel(c.rem) {
		p.gateAccount(c, rv)
		return
	}
	if e := rv.reg.Failed(inventory.SourceInstances); e != nil {
		c.skip = fmt.Sprintf("the audit could not read the instances of %s/%s (%v): nothing is planned there", c.account, c.region, e)
		return
	}
	inst := rv.insts[c.resource]
	if inst == nil {
		c.skip = fmt.Sprintf("instance %s is not in the audit's inventory of %s/%s", c.resource, c.account, c.region)
		return
	}
	if why, ok := p.exempt[inst.ID]; ok {
		c.skip = why
		return
	}
	switch c.rem {
	case policy.EnableEndpoint:
		p.gateEndpoint(c, inst)
	case policy.RequireTokens:
		p.gateTokens(c, rv, inst)
	case policy.SetHopLimit:
		p.gateHopLimit(c, inst)
	case policy.AttachProfile:
		p.gateProfile(c, inst)
	default:
		p.gateHost(c, rv, inst, f)
	}
}

// plan sets c as planned.
func (c *candidate) plan(why string, before, after map[string]string, params map[string][]string) {
	c.why, c.before, c.after, c.params = why, before, after, params
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(params)) {
		fmt.Fprintf(&b, "%s=%s;", k, strings.Join(params[k], ","))
	}
	c.paramsKey = b.String()
}

// metadataParams are FleetDoctor-SetMetadataOptions' parameters with one
// option changed and the others unchanged.
func metadataParams(endpoint, tokens, hop string) map[string][]string {
	return map[string][]string{
		"HttpEndpoint":            {endpoint},
		"HttpTokens":              {tokens},
		"HttpPutResponseHopLimit": {hop},
	}
}

func (p *planner) gateEndpoint(c *candidate, inst *inventory.Instance) {
	if inst.Metadata.HTTPEndpoint != endpointDisabled {
		c.skip = fmt.Sprintf("the IMDS endpoint is already %s", cmp.Or(inst.Metadata.HTTPEndpoint, "unknown"))
		return
	}
	c.plan("HttpEndpoint is disabled",
		map[string]string{"HttpEndpoint": endpointDisabled},
		map[string]string{"HttpEndpoint": endpointEnabled},
		metadataParams(endpointEnabled, unchanged, hopUnchanged))
}

func (p *planner) gateTokens(c *candidate, rv *regionView, inst *inventory.Instance) {
	if inst.Metadata.HTTPTokens == tokensRequired {
		c.skip = "IMDSv2 tokens are already required"
		return
	}
	before := map[string]string{"HttpTokens": cmp.Or(inst.Metadata.HTTPTokens, "optional")}
	after := map[string]string{"HttpTokens": tokensRequired}
	params := metadataParams(unchanged, tokensRequired, hopUnchanged)
	if p.force[inst.ID] {
		c.plan("forced per instance in tokens.force, whatever MetadataNoToken says", before, after, params)
		return
	}
	const force = "(force it per instance in tokens.force)"
	calls := inst.IMDSCalls
	switch {
	case rv.reg.Failed(inventory.SourceMetrics) != nil:
		c.skip = fmt.Sprintf("the IMDS metrics of %s/%s could not be read: requiring tokens waits for evidence that nothing calls IMDSv1 %s",
			c.account, c.region, force)
	case calls == nil || !calls.HasData:
		c.skip = "MetadataNoToken is unknown (no CloudWatch datapoints): requiring tokens waits for evidence that nothing calls IMDSv1 " + force
	case calls.NoToken > 0:
		c.skip = fmt.Sprintf("MetadataNoToken was %s over the last %s: requiring tokens would break IMDSv1 callers %s",
			strconv.FormatFloat(calls.NoToken, 'f', -1, 64), dur(p.snap.MetricWindow), force)
	case p.snap.MetricWindow < p.pol.Tokens.Window:
		c.skip = fmt.Sprintf("MetadataNoToken was 0, but only over the audit's %s metric window, shorter than tokens.window %s: audit with a window of at least %s %s",
			dur(p.snap.MetricWindow), dur(p.pol.Tokens.Window), dur(p.pol.Tokens.Window), force)
	default:
		c.plan(fmt.Sprintf("MetadataNoToken was 0 over the last %s", dur(p.snap.MetricWindow)), before, after, params)
	}
}

// dur prints a duration in whole hours when it is one ("336h").
func dur(d time.Duration) string {
	if d > 0 && d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return d.String()
}

func (p *planner) gateHopLimit(c *candidate, inst *inventory.Instance) {
	hp := p.pol.HopLimit
	if !hp.ContainerHostsNeedIMDS {
		c.skip = "the policy does not say container workloads need IMDS (hopLimit.containerHostsNeedIMDS is false): hop limits are left alone"
		return
	}
	h := checks.ContainerHostOf(inst)
	if h.Kind == "" {
		c.skip = "not a container host: its hop limit is left alone"
		return
	}
	cur := inst.Metadata.HopLimit
	if h.Kind == checks.ContainerHostEKS {
		if p.keepIRSA[h.Cluster] {
			c.skip = fmt.Sprintf("EKS cluster %s is in hopLimit.keepIrsaClusters: its nodes keep hop limit %d so pods stay off the node role", h.Cluster, cur)
			return
		}
		if h.Cluster == "" && len(p.keepIRSA) > 0 {
			c.skip = "EKS node without a cluster tag while hopLimit.keepIrsaClusters names IRSA-only clusters: it may be one of them (tag it with its cluster)"
			return
		}
	}
	target, why := hp.Target, "container host"
	if h.Kind == checks.ContainerHostNested || strings.EqualFold(strings.TrimSpace(inst.Tags[NestedContainersTag]), "true") {
		target, why = hp.NestedTarget, "nested containers"
	} else if h.Kind == checks.ContainerHostEKS {
		why = "EKS node"
		if h.Cluster != "" {
			why += " of " + h.Cluster
		}
	} else {
		why = h.Kind + " host"
	}
	if cur <= 0 {
		c.skip = "the current hop limit is unknown: fleetdoctor only raises a hop limit it has read"
		return
	}
	if cur >= target {
		c.skip = fmt.Sprintf("hop limit is already %d (target %d): fleetdoctor never lowers a hop limit", cur, target)
		return
	}
	c.plan(fmt.Sprintf("%s whose containers need IMDS: hop limit %d raised to %d", why, cur, target),
		map[string]string{"HttpPutResponseHopLimit": strconv.Itoa(int(cur))},
		map[string]string{"HttpPutResponseHopLimit": strconv.Itoa(int(target))},
		metadataParams(unchanged, unchanged, strconv.Itoa(int(target))))
}

func (p *planner) gateProfile(c *candidate, inst *inventory.Instance) {
	if inst.ProfileARN != "" {
		c.skip = "instance already has an instance profile: fleetdoctor never replaces one"
		return
	}
	name := p.pol.InstanceProfileName
	c.plan("no instance profile",
		map[string]string{"InstanceProfileName": ""},
		map[string]string{"InstanceProfileName": name},
		map[string][]string{"InstanceProfileName": {name}})
}

func (p *planner) gateAccount(c *candidate, rv *regionView) {
	switch c.rem {
	case policy.AccountDefaults:
		d := rv.reg.Defaults
		if rv.reg.Failed(inventory.SourceAccountDefaults) != nil || d == nil {
			c.skip = fmt.Sprintf("the account IMDS defaults of %s/%s could not be read", c.account, c.region)
			return
		}
		if d.ManagedBy == declarativePol {
			c.skip = "account defaults are managed by a declarative policy: only the organization's policy can change them"
			return
		}
		hop := max(d.HopLimit, accountHopLimit) // never lowered
		if d.HTTPTokens == tokensRequired && d.HopLimit == hop {
			c.skip = fmt.Sprintf("account defaults already require tokens with hop limit %d (never lowered)", hop)
			if d.HTTPEndpoint == endpointDisabled {
				c.skip += "; their HttpEndpoint=disabled is not something " + checks.DocSetAccountMetadataDefaults + " changes"
			}
			return
		}
		beforeHop := "no-preference"
		if d.HopLimit > 0 {
			beforeHop = strconv.Itoa(int(d.HopLimit))
		}
		h := strconv.Itoa(int(hop))
		c.plan("account defaults do not require IMDSv2 with a hop limit of at least 2",
			map[string]string{"HttpTokens": cmp.Or(d.HTTPTokens, "no-preference"), "HttpPutResponseHopLimit": beforeHop},
			map[string]string{"HttpTokens": tokensRequired, "HttpPutResponseHopLimit": h},
			map[string][]string{"HttpTokens": {tokensRequired}, "HttpPutResponseHopLimit": {h}})
	case policy.EnableDHMC:
		d := rv.reg.DHMC
		if rv.reg.Failed(inventory.SourceDHMC) != nil || d == nil {
			c.skip = fmt.Sprintf("the DHMC setting of %s/%s could not be read", c.account, c.region)
			return
		}
		want := p.pol.DHMCRoleName
		if d.Value == want {
			c.skip = fmt.Sprintf("DHMC already names role %s: the role itself needs fixing (see dhmc_role_misconfigured)", want)
			return
		}
		c.plan("DHMC is off or names an unusable role",
			map[string]string{"SettingValue": d.Value, "DHMCRole": d.RoleName},
			map[string]string{"SettingValue": want, "DHMCRole": path.Base(want)},
			map[string][]string{"RoleName": {want}})
	}
}

func (p *planner) gateHost(c *candidate, rv *regionView, inst *inventory.Instance, f *checks.Finding) {
	if e := rv.reg.Failed(inventory.SourceManaged); e != nil {
		c.skip = fmt.Sprintf("the SSM instance information of %s/%s could not be read: host repairs need a running agent", c.account, c.region)
		return
	}
	switch a := inst.Agent; {
	case a == nil:
		c.skip = "not registered with SSM: host repairs need a running agent"
		return
	case a.PingStatus != agentOnline:
		c.skip = fmt.Sprintf("agent not Online (%s): host repairs need a running agent", cmp.Or(a.PingStatus, "unknown"))
		return
	case a.PlatformType != "" && a.PlatformType != "Linux" && a.PlatformType != "Windows":
		c.skip = fmt.Sprintf("%s runs on Linux and Windows only, not %s", hostdiag.RepairDocumentName, a.PlatformType)
		return
	}
	was := capRunes(f.Detail, maxHostEvidence)
	actions := repairAction[c.rem]
	if c.rem != policy.HostRestartAgent && p.pol.Enabled(policy.HostRestartAgent) {
		// The document restarts the agent only when this run changed
		// something, and NO_PROXY reaches the agent only through a restart.
		actions += "," + repairAction[policy.HostRestartAgent]
	}
	var field, want string
	switch c.rem {
	case policy.HostRemoveFirewall:
		field, want = "firewall", "no rule blocks "+imdsAddress
	case policy.HostAddNoProxy:
		field, want = "noProxy", strings.Join(append([]string{imdsAddress}, p.pol.NoProxyHosts...), ",")+" excluded from the proxy"
	default:
		field, want = "agent", "running as root"
	}
	c.plan(fmt.Sprintf("agent Online; %s runs %s", hostdiag.RepairDocumentName, actions),
		map[string]string{field: was},
		map[string]string{field: want},
		map[string][]string{
			"Actions":      {actions},
			"DryRun":       {"false"},
			"NoProxyHosts": {strings.Join(p.pol.NoProxyHosts, ",")},
		})
}

// capRunes shortens s to at most n runes.
func capRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

// compare orders candidates by account, region, remediation order and
// resource: the order caps count in.
func (p *planner) compare(a, b *candidate) int {
	return cmp.Or(
		cmp.Compare(a.account, b.account),
		cmp.Compare(a.region, b.region),
		cmp.Compare(p.remOrder[a.rem], p.remOrder[b.rem]),
		cmp.Compare(a.rem, b.rem),
		cmp.Compare(a.resource, b.resource),
	)
}

// plan applies the caps, batches the planned changes and lists the skips.
func (p *planner) plan() *Plan {
	all := slices.SortedFunc(maps.Values(p.cands), p.compare)
	pol := p.pol
	perAccount := map[string]int{}
	total := 0
	var planned []*candidate
	for _, c := range all {
		if c.skip != "" {
			continue
		}
		switch {
		case total >= pol.Caps.PerRun:
			c.skip = fmt.Sprintf("cap of %d changes per run reached", pol.Caps.PerRun)
		case perAccount[c.account] >= pol.Caps.PerAccount:
			c.skip = fmt.Sprintf("cap of %d changes per account reached", pol.Caps.PerAccount)
		default:
			total++
			perAccount[c.account]++
			planned = append(planned, c)
		}
	}

	out := &Plan{RunID: p.in.RunID, CreatedAt: p.in.Now, Batches: []Batch{}, Skips: []Skip{}}
	slices.SortStableFunc(planned, func(a, b *candidate) int {
		return cmp.Or(
			cmp.Compare(a.account, b.account),
			cmp.Compare(a.region, b.region),
			cmp.Compare(p.remOrder[a.rem], p.remOrder[b.rem]),
			cmp.Compare(a.paramsKey, b.paramsKey),
			cmp.Compare(a.resource, b.resource),
		)
	})
	for i := 0; i < len(planned); {
		c := planned[i]
		b := Batch{Account: c.account, Region: c.region, Remediation: c.rem, Document: documentOf[c.rem], Params: c.params}
		limit := batchLimit(c.rem)
		for ; i < len(planned) && len(b.Changes) < limit; i++ {
			n := planned[i]
			if n.account != c.account || n.region != c.region || n.rem != c.rem || n.paramsKey != c.paramsKey {
				break
			}
			b.Changes = append(b.Changes, Change{
				ID:       p.in.RunID + "|" + n.key(),
				Resource: n.resource,
				Before:   n.before,
				After:    n.after,
				Reason:   strings.Join(slices.Sorted(slices.Values(n.checks)), ", ") + ": " + n.why,
			})
		}
		out.Batches = append(out.Batches, b)
	}

	for _, c := range all {
		if c.skip == "" {
			continue
		}
		for _, check := range slices.Sorted(slices.Values(c.checks)) {
			out.Skips = append(out.Skips, Skip{Account: c.account, Region: c.region, Resource: c.resource,
				Remediation: c.rem, Check: check, Reason: c.skip})
		}
	}
	slices.SortFunc(p.notes, func(a, b Note) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Detail, b.Detail))
	})
	out.Notes = p.notes
	return out
}
