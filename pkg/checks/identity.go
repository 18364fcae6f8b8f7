package checks

import (
	"fmt"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// The identity family judges where each running instance's agent gets its
// credentials (credentials.go) and the DHMC setting of each region. Only
// running instances are judged: the question is whether the agent can
// register now, and a profile can be swapped before a stopped instance
// starts.
var identityChecks = []*Check{
	{
		Meta: Meta{
			ID:           "iam_no_instance_profile_and_no_dhmc",
			Family:       FamilyIdentity,
			Title:        "Instance has no instance profile and DHMC is off",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "Nothing can give the SSM agent credentials: there is no instance profile and Default Host " +
				"Management Configuration is off in the region, so the instance can never register with SSM.",
			Needs:       []inventory.Source{inventory.SourceInstances, inventory.SourceDHMC},
			Remediation: remAttachProfile,
		},
		Instance: iamNoProfileNoDHMC,
	},
	{
		Meta: Meta{
			ID:           "iam_profile_without_role",
			Family:       FamilyIdentity,
			Title:        "Instance profile has no role (deleted profile or role)",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "The instance profile was deleted, or its role was removed or deleted: IMDS answers 404 for " +
				"credentials and the agent logs \"EC2RoleRequestError: no EC2 instance role found\". The agent can only " +
				"fall back to DHMC; everything else on the host that uses the profile has no credentials.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceIAM},
			Remediation: Remediation{Manual: "Add a role with AmazonSSMManagedInstanceCore to the profile " +
				"(aws iam add-role-to-instance-profile), or associate a working profile with " +
				"replace-iam-instance-profile-association. Not automatic: fleetdoctor attaches profiles only to instances " +
				"that have none, because replacing a profile its owner chose could remove permissions their software needs."},
		},
		Instance: iamProfileWithoutRole,
	},
	{
		Meta: Meta{
			ID:           "iam_role_missing_ssm_permissions",
			Family:       FamilyIdentity,
			Title:        "Instance profile role lacks the core SSM agent permissions",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "The role's effective permissions lack actions of AmazonSSMManagedInstanceCore. With " +
				"ssm:UpdateInstanceInformation allowed the profile takes precedence over DHMC, so missing ec2messages or " +
				"ssmmessages actions break commands and sessions; without it the agent needs a healthy DHMC to register.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceIAM, inventory.SourceDHMC},
			Remediation: Remediation{Manual: "Attach AmazonSSMManagedInstanceCore (or equivalent statements) to the role. " +
				"Not automatic: a role is shared by every instance using it and its policies usually belong to " +
				"infrastructure code that would revert an outside change."},
		},
		Instance: iamRoleMissingPermissions,
	},
	{
		Meta: Meta{
			ID:           "iam_role_trust_missing_ec2",
			Family:       FamilyIdentity,
			Title:        "Instance profile role does not trust ec2.amazonaws.com",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "EC2 cannot assume a role whose trust policy does not allow ec2.amazonaws.com, so IMDS serves no " +
				"credentials from the profile: the agent can only fall back to DHMC, and SDKs on the host get nothing.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceIAM},
			Remediation: Remediation{Manual: "Add ec2.amazonaws.com as a principal allowed sts:AssumeRole in the role's " +
				"trust policy (aws iam update-assume-role-policy). Not automatic: trust policies are security boundaries " +
				"owned by whoever manages the role."},
		},
		Instance: iamRoleTrustMissingEC2,
	},
	{
		Meta: Meta{
			ID:           "dhmc_disabled",
			Family:       FamilyIdentity,
			Title:        "DHMC is off while instances have no usable instance profile",
			Severity:     High,
			ResourceType: TypeServiceSetting,
			Risk: "Default Host Management Configuration gives every instance in the region SSM credentials without an " +
				"instance profile. With it off, running instances without a usable profile cannot register with SSM.",
			Needs:       []inventory.Source{inventory.SourceInstances, inventory.SourceDHMC, inventory.SourceIAM},
			Remediation: remEnableDHMC,
		},
		Region: dhmcDisabled,
	},
	{
		Meta: Meta{
			ID:           "dhmc_role_misconfigured",
			Family:       FamilyIdentity,
			Title:        "DHMC role is missing, lacks its policy, or does not trust SSM",
			Severity:     High,
			ResourceType: TypeServiceSetting,
			Risk: "DHMC is on but its role cannot give instances credentials: the role is missing, lacks " +
				"AmazonSSMManagedEC2InstanceDefaultPolicy, or its trust policy does not allow ssm.amazonaws.com. " +
				"Instances without a usable profile silently stay unmanaged.",
			Needs:       []inventory.Source{inventory.SourceDHMC, inventory.SourceIAM},
			Remediation: remEnableDHMC,
		},
		Region: dhmcRoleMisconfigured,
	},
	{
		Meta: Meta{
			ID:           "dhmc_shadowed_by_instance_profile",
			Family:       FamilyIdentity,
			Title:        "Instance profile shadows DHMC",
			Severity:     Low,
			ResourceType: TypeInstance,
			Risk: "An instance profile whose role allows ssm:UpdateInstanceInformation takes precedence over DHMC, so " +
				"the agent's permissions come from the profile, not from the DHMC role the account set up: changes to " +
				"the DHMC role do not reach this instance.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceDHMC, inventory.SourceIAM},
			Remediation: Remediation{Manual: "If DHMC should manage the instance, remove the SSM permissions from the " +
				"profile's role or detach the profile; otherwise exempt the instance. Not automatic: the profile may " +
				"carry permissions the workload needs."},
		},
		Instance: dhmcShadowed,
	},
	{
		Meta: Meta{
			ID:           "dhmc_prerequisites_unmet",
			Family:       FamilyIdentity,
			Title:        "Instance relies on DHMC but cannot use it",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "DHMC needs IMDSv2 reachable and SSM agent " + DHMCMinAgentVersion + " or later; an instance that " +
				"has no usable profile of its own and misses either prerequisite never registers.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceDHMC, inventory.SourceIAM},
			Remediation: Remediation{Manual: "Enable the IMDS endpoint (fleetdoctor's imds_enable_endpoint does it) and " +
				"update the agent to " + DHMCMinAgentVersion + " or later. " + manualAgentUpdate},
		},
		Instance: dhmcPrerequisitesUnmet,
	},
}

// Remediations for dhmc_prerequisites_unmet, chosen by what is unmet.
var (
	remDHMCEndpoint         = remEnableEndpoint
	remDHMCEndpointAndAgent = Remediation{ID: remEnableEndpoint.ID, Automatic: true, Document: remEnableEndpoint.Document,
		Manual: "The agent also needs updating to " + DHMCMinAgentVersion + " or later. " + manualAgentUpdate}
)

// relyingSampleSize caps the instance ids a region finding lists.
const relyingSampleSize = 10

func iamNoProfileNoDHMC(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	d := s.dhmcState()
	if !d.known {
		return Outcome{}
	}
	if in.ProfileARN != "" || d.enabled {
		return Outcome{Status: Pass}
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("%s has no instance profile and DHMC is off in %s, so its SSM agent has no credentials.",
			in.ID, s.Region.Name),
		Evidence: map[string]any{"profileArn": "none", "dhmcSetting": d.value},
	}
}

// fallbackDetail is the tail of a detail for a profile that serves no
// credentials, and whether a healthy DHMC catches the agent instead.
func (s *Scope) fallbackDetail() (string, bool) {
	if s.dhmcState().healthy() {
		return "; the agent falls back to DHMC, but software on the host that uses the profile gets no credentials", true
	}
	return "", false
}

func iamProfileWithoutRole(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() || in.ProfileARN == "" {
		return Outcome{}
	}
	p := s.profile(in.ProfileARN)
	if !p.known {
		return Outcome{}
	}
	if p.problem == "" {
		return Outcome{Status: Pass}
	}
	var what string
	switch p.problem {
	case profileDeleted:
		what = fmt.Sprintf("Instance profile %s of %s no longer exists", p.arn, in.ID)
	case profileNoRole:
		what = fmt.Sprintf("Instance profile %s of %s has no role", p.arn, in.ID)
	default:
		what = fmt.Sprintf("Role %s of instance profile %s on %s no longer exists", p.roleName, p.arn, in.ID)
	}
	ev := map[string]any{"profileArn": p.arn, "problem": p.problem}
	if p.roleName != "" {
		ev["roleName"] = p.roleName
	}
	o := Outcome{Status: Fail, Evidence: ev}
	tail, fallback := s.fallbackDetail()
	if fallback {
		// The agent still registers through DHMC, so management is not
		// lost; what breaks is the workload's own use of the profile.
		o.Severity = Medium
		ev["dhmcFallback"] = true
	}
	o.Detail = what + ", so IMDS answers 404 for credentials and the agent logs \"EC2RoleRequestError: no EC2 instance role found\"" + tail + "."
	return o
}

func iamRoleMissingPermissions(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() || in.ProfileARN == "" {
		return Outcome{}
	}
	p := s.profile(in.ProfileARN)
	if !p.known || p.problem != "" || !p.role.permsKnown {
		return Outcome{}
	}
	r := p.role
	if len(r.missing) == 0 {
		return Outcome{Status: Pass}
	}
	ev := map[string]any{"roleName": p.roleName, "profileArn": p.arn, "missingActions": r.missing,
		"permissionsFrom": r.role.PermissionsFrom}
	if r.register && r.trustsEC2 {
		return Outcome{
			Status: Fail,
			Detail: fmt.Sprintf("Role %s of the instance profile on %s allows ssm:UpdateInstanceInformation but not %s, so "+
				"the profile takes precedence over DHMC and the agent registers but cannot take commands or open sessions.",
				p.roleName, in.ID, strings.Join(r.missing, ", ")),
			Evidence: ev,
		}
	}
	d := s.dhmcState()
	switch {
	case !d.known || (d.enabled && !d.healthKnown):
		return Outcome{}
	case d.healthy():
		return Outcome{Status: Pass} // the agent takes DHMC's credentials instead
	}
	ev["dhmcEnabled"] = d.enabled
	why := "DHMC is off"
	if d.enabled {
		why = "DHMC's role is misconfigured (see dhmc_role_misconfigured)"
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("Role %s of the instance profile on %s lacks %s and %s, so the agent cannot register with SSM.",
			p.roleName, in.ID, strings.Join(r.missing, ", "), why),
		Evidence: ev,
	}
}

func iamRoleTrustMissingEC2(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() || in.ProfileARN == "" {
		return Outcome{}
	}
	p := s.profile(in.ProfileARN)
	if !p.known || p.problem != "" {
		return Outcome{}
	}
	if p.role.trustsEC2 {
		return Outcome{Status: Pass}
	}
	ev := map[string]any{"roleName": p.roleName, "profileArn": p.arn, "trustedServices": p.role.role.TrustedServices}
	o := Outcome{Status: Fail, Evidence: ev}
	tail, fallback := s.fallbackDetail()
	if fallback {
		o.Severity = Medium
		ev["dhmcFallback"] = true
	}
	o.Detail = fmt.Sprintf("Role %s of the instance profile on %s does not trust ec2.amazonaws.com, so the instance "+
		"gets no credentials from its profile%s.", p.roleName, in.ID, tail)
	return o
}

func dhmcDisabled(s *Scope) []Outcome {
	d := s.dhmcState()
	if !d.known {
		return nil
	}
	o := Outcome{Status: Pass, Resource: d.arn}
	if d.enabled {
		return []Outcome{o}
	}
	var n int
	var sample []string
	insts := s.Region.Instances
	for i := range insts {
		in := &insts[i]
		if !in.Running() {
			continue
		}
		if needs, ok := s.needsDHMC(in); ok && needs {
			n++
			if len(sample) < relyingSampleSize {
				sample = append(sample, in.ID)
			}
		}
	}
	if n == 0 {
		return []Outcome{o}
	}
	o.Status = Fail
	have := fmt.Sprintf("%d running instances have", n)
	if n == 1 {
		have = "1 running instance has"
	}
	o.Detail = fmt.Sprintf("DHMC is off in %s/%s while %s no usable instance profile and "+
		"would rely on it to register with SSM.", s.Account.ID, s.Region.Name, have)
	o.Evidence = map[string]any{"settingValue": d.value, "relyingInstances": n, "sample": sample}
	return []Outcome{o}
}

func dhmcRoleMisconfigured(s *Scope) []Outcome {
	d := s.dhmcState()
	if !d.enabled || !d.healthKnown {
		return nil
	}
	if len(d.problems) == 0 {
		return []Outcome{{Status: Pass, Resource: d.arn}}
	}
	return []Outcome{{
		Status:   Fail,
		Resource: d.arn,
		Detail: fmt.Sprintf("The DHMC role %s in %s/%s is unusable: %s.", d.role.roleName(d.value), s.Account.ID,
			s.Region.Name, strings.Join(d.problems, "; ")),
		Evidence: map[string]any{"settingValue": d.value, "roleName": d.role.roleName(d.value), "problems": d.problems},
	}}
}

// roleName is the role's name, or the raw setting value when the role was
// never read.
func (r *roleView) roleName(fallback string) string {
	if r != nil && r.role != nil {
		return r.role.Name
	}
	return fallback
}

func dhmcShadowed(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	// Only a working DHMC can be shadowed; when DHMC is broken the profile
	// is the instance's lifeline, not a problem.
	if !s.dhmcState().healthy() {
		return Outcome{}
	}
	if in.ProfileARN == "" {
		return Outcome{Status: Pass}
	}
	p := s.profile(in.ProfileARN)
	if !p.known {
		return Outcome{}
	}
	if !p.delivers() || !p.role.permsKnown || !p.role.register {
		return Outcome{Status: Pass}
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("DHMC is on in %s but role %s of the instance profile on %s allows "+
			"ssm:UpdateInstanceInformation, so the agent uses the profile and ignores DHMC.", s.Region.Name, p.roleName, in.ID),
		Evidence: map[string]any{"profileArn": p.arn, "roleName": p.roleName, "dhmcRole": s.dhmcState().value},
	}
}

func dhmcPrerequisitesUnmet(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	relies, ok := s.reliesOnDHMC(in)
	if !ok || !relies {
		return Outcome{}
	}
	endpointOff := in.Metadata.HTTPEndpoint == endpointDisabled
	var oldAgent bool
	if in.Agent != nil {
		c, ok := compareVersions(in.Agent.Version, DHMCMinAgentVersion)
		oldAgent = ok && c < 0
	}
	if !endpointOff && !oldAgent {
		return Outcome{Status: Pass}
	}
	profile := in.ProfileARN
	if profile == "" {
		profile = "none"
	}
	ev := map[string]any{"profileArn": profile}
	var unmet []string
	o := Outcome{Status: Fail, Evidence: ev}
	if endpointOff {
		ev["HttpEndpoint"] = in.Metadata.HTTPEndpoint
		unmet = append(unmet, "its IMDS endpoint is disabled")
		o.Remediation = &remDHMCEndpoint
	}
	if oldAgent {
		ev["agentVersion"] = in.Agent.Version
		ev["dhmcMinimumVersion"] = DHMCMinAgentVersion
		unmet = append(unmet, "its SSM agent "+in.Agent.Version+" is older than "+DHMCMinAgentVersion)
		if endpointOff {
			o.Remediation = &remDHMCEndpointAndAgent
		}
	}
	o.Detail = fmt.Sprintf("%s relies on DHMC for SSM credentials but %s, so it cannot register.", in.ID, strings.Join(unmet, " and "))
	return o
}
