package checks

import (
	"slices"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// This file works out where an instance's SSM agent gets its credentials:
// from the instance profile, or from Default Host Management Configuration
// (DHMC). The agent prefers the profile when the profile's credentials allow
// ssm:UpdateInstanceInformation and falls back to DHMC otherwise (AWS Systems
// Manager User Guide, "Default Host Management Configuration"), so most
// identity checks hinge on the same two facts, computed once per region here.

// updateInstanceInformation is the call the agent registers with; the agent
// uses whichever credentials allow it.
const updateInstanceInformation = "ssm:UpdateInstanceInformation"

// Service principals. The EC2 principal has a different DNS suffix in the
// China partitions (ec2.amazonaws.com.cn), so it is matched as a prefix.
const (
	ec2Principal = "ec2.amazonaws.com"
	ssmPrincipal = "ssm.amazonaws.com"
)

// Profile problems that stop IMDS from serving credentials.
const (
	profileDeleted = "profile-deleted"
	profileNoRole  = "no-role"
	roleDeleted    = "role-deleted"
)

// roleView is what the checks need to know about one role.
type roleView struct {
	role *inventory.Role
	// known is false when the role was not read (IAM failed, the role has
	// Err, or the collector never listed it); checks then do not judge.
	known  bool
	exists bool
	// permsKnown is false when the collector read the role but could not
	// work out its effective permissions.
	permsKnown bool
	missing    []string // AgentActions the role does not allow
	register   bool     // allows ssm:UpdateInstanceInformation
	trustsEC2  bool
	trustsSSM  bool
	dhmcPolicy bool // has AmazonSSMManagedEC2InstanceDefaultPolicy attached
}

func (s *Scope) role(name string) *roleView {
	if v, ok := s.roles[name]; ok {
		return v
	}
	if s.roles == nil {
		s.roles = map[string]*roleView{}
	}
	v := &roleView{}
	s.roles[name] = v
	r := s.Account.IAM.Roles[name]
	if s.Account.IAM.Err != nil || r == nil || r.Err != nil {
		return v
	}
	v.role, v.known, v.exists = r, true, r.Exists
	if !r.Exists {
		return v
	}
	// A nil Allowed with no PermissionsFrom means the permissions were never
	// evaluated; an evaluated role that allows nothing still says how.
	v.permsKnown = r.Allowed != nil || r.PermissionsFrom != ""
	if v.permsKnown {
		for _, a := range inventory.AgentActions {
			if !r.Allowed[a] {
				v.missing = append(v.missing, a)
			}
		}
		v.register = r.Allowed[updateInstanceInformation]
	}
	for _, p := range r.TrustedServices {
		v.trustsEC2 = v.trustsEC2 || strings.HasPrefix(p, ec2Principal)
		v.trustsSSM = v.trustsSSM || strings.HasPrefix(p, ssmPrincipal)
	}
	v.dhmcPolicy = slices.ContainsFunc(r.AttachedPolicyARNs, func(arn string) bool {
		return strings.HasSuffix(arn, inventory.DHMCPolicyARNSuffix)
	})
	return v
}

// profileView is an instance profile resolved to its role.
type profileView struct {
	arn     string
	profile *inventory.InstanceProfile
	// known is false when the profile, or the role it names, was not read.
	known    bool
	roleName string
	role     *roleView // nil when the profile has no role or is deleted
	// problem is one of the profile problems, or "" when IMDS can serve the
	// role's credentials.
	problem string
}

func (s *Scope) profile(arn string) *profileView {
	if v, ok := s.profiles[arn]; ok {
		return v
	}
	if s.profiles == nil {
		s.profiles = map[string]*profileView{}
	}
	v := &profileView{arn: arn}
	s.profiles[arn] = v
	p := s.Account.IAM.Profiles[arn]
	if s.Account.IAM.Err != nil || p == nil || p.Err != nil {
		return v
	}
	v.profile = p
	switch {
	case !p.Exists:
		v.known, v.problem = true, profileDeleted
	case len(p.RoleNames) == 0:
		v.known, v.problem = true, profileNoRole
	default:
		// An instance profile holds at most one role (IAM quota "roles per
		// instance profile: 1").
		v.roleName = p.RoleNames[0]
		v.role = s.role(v.roleName)
		v.known = v.role.known
		if v.known && !v.role.exists {
			v.problem = roleDeleted
		}
	}
	return v
}

// delivers reports whether IMDS hands the profile role's credentials to the
// instance: the profile and role exist and the role trusts EC2.
func (p *profileView) delivers() bool {
	return p.known && p.problem == "" && p.role.trustsEC2
}

// needsDHMC reports whether the instance's agent has no usable instance
// profile — none at all, a broken one, or one whose role may not call
// ssm:UpdateInstanceInformation — so that only DHMC can register it. ok is
// false when the profile or its role could not be read.
func (s *Scope) needsDHMC(in *inventory.Instance) (needs, ok bool) {
	if in.ProfileARN == "" {
		return true, true
	}
	p := s.profile(in.ProfileARN)
	switch {
	case !p.known:
		return false, false
	case !p.delivers():
		return true, true
	case !p.role.permsKnown:
		return false, false
	}
	return !p.role.register, true
}

// dhmcView is the region's DHMC setting and the health of its role.
type dhmcView struct {
	known   bool // the setting was read
	enabled bool
	arn     string
	value   string
	role    *roleView // nil when DHMC is off
	// healthKnown is false when DHMC is on but its role was not read.
	healthKnown bool
	problems    []string
}

// healthy reports whether DHMC is on with a role it can use.
func (d *dhmcView) healthy() bool { return d.enabled && d.healthKnown && len(d.problems) == 0 }

// DHMC role problems.
const (
	dhmcRoleMissing   = "role does not exist"
	dhmcPolicyMissing = "role lacks AmazonSSMManagedEC2InstanceDefaultPolicy (or equivalent ssm:UpdateInstanceInformation permission)"
	dhmcTrustMissing  = "trust policy does not allow ssm.amazonaws.com"
)

func (s *Scope) dhmcState() *dhmcView {
	if s.dhmc != nil {
		return s.dhmc
	}
	d := &dhmcView{arn: s.settingARN()}
	s.dhmc = d
	set := s.Region.DHMC
	if set == nil {
		return d
	}
	d.known, d.enabled, d.value = true, set.Enabled(), set.Value
	if !d.enabled {
		return d
	}
	d.role = s.role(set.RoleName)
	if !d.role.known {
		return d
	}
	d.healthKnown = true
	switch {
	case !d.role.exists:
		d.problems = append(d.problems, dhmcRoleMissing)
	default:
		if !d.role.dhmcPolicy && !d.role.register {
			d.problems = append(d.problems, dhmcPolicyMissing)
		}
		if !d.role.trustsSSM {
			d.problems = append(d.problems, dhmcTrustMissing)
		}
	}
	return d
}

// reliesOnDHMC reports whether DHMC is on in the region and is the only
// source of credentials the agent can use. ok is false when the setting or
// the instance's profile could not be read.
func (s *Scope) reliesOnDHMC(in *inventory.Instance) (relies, ok bool) {
	d := s.dhmcState()
	if !d.known {
		return false, false
	}
	if !d.enabled {
		return false, true
	}
	return s.needsDHMC(in)
}

// settingARN is the DHMC service setting's ARN in this account-region.
func (s *Scope) settingARN() string {
	return "arn:" + partition(s.Region.Name) + ":ssm:" + s.Region.Name + ":" + s.Account.ID +
		":servicesetting" + inventory.DHMCSettingID
}

// partition guesses the AWS partition from a region name; the isolated
// partitions are not guessed and fall back to "aws".
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}
