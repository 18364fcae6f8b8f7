// Package policy is fleetdoctor's remediation policy: which remediations
// are enabled, their parameters, the guard rails (caps, waves, MaxErrors)
// and exemptions. It is read from YAML and validated against an embedded
// JSON Schema; errors name the field's path.
package policy

import "time"

// Remediation ids (DESIGN §5).
const (
	EnableEndpoint      = "imds_enable_endpoint"
	RequireTokens       = "imds_require_tokens"
	SetHopLimit         = "imds_set_hop_limit"
	AccountDefaults     = "imds_account_defaults"
	AttachProfile       = "iam_attach_instance_profile"
	EnableDHMC          = "dhmc_enable"
	HostRemoveFirewall  = "host_remove_imds_firewall_rule"
	HostAddNoProxy      = "host_add_no_proxy"
	HostRestartAgent    = "host_restart_agent"
	ExemptTag           = "fleetdoctor:exempt"
	DefaultTokensWindow = 14 * 24 * time.Hour
)

// RemediationIDs lists every remediation id, in plan order.
func RemediationIDs() []string {
	return []string{EnableEndpoint, RequireTokens, SetHopLimit, AccountDefaults, AttachProfile, EnableDHMC,
		HostRemoveFirewall, HostAddNoProxy, HostRestartAgent}
}

// Policy is a validated policy. The zero value enables nothing.
type Policy struct {
	// Version is the policy format version (1).
	Version int `json:"version"`
	// Remediations holds one entry per enabled or configured remediation id.
	Remediations map[string]Remediation `json:"remediations"`
	// Tokens configures imds_require_tokens.
	Tokens TokensPolicy `json:"tokens"`
	// HopLimit configures imds_set_hop_limit.
	HopLimit HopLimitPolicy `json:"hopLimit"`
	// InstanceProfileName is what iam_attach_instance_profile attaches.
	InstanceProfileName string `json:"instanceProfileName,omitempty"`
	// DHMCRoleName is the role dhmc_enable sets (with its path).
	DHMCRoleName string `json:"dhmcRoleName,omitempty"`
	// NoProxyHosts are the extra names host_add_no_proxy adds beside
	// 169.254.169.254 (VPC endpoint names).
	NoProxyHosts []string `json:"noProxyHosts,omitempty"`
	// AgentMinVersion is the fleet's minimum SSM agent version.
	AgentMinVersion string `json:"agentMinVersion,omitempty"`
	// Caps bound the changes of one run.
	Caps Caps `json:"caps"`
	// Waves shape the rollout.
	Waves Waves `json:"waves"`
	// MaxErrors stops the run when more changes than this fail: a count
	// ("3") or a percentage of the planned changes ("5%").
	MaxErrors string `json:"maxErrors"`
	// Exemptions exempt instances by id in the policy itself, beside the
	// fleetdoctor:exempt tag.
	Exemptions []Exemption `json:"exemptions,omitempty"`
}

// Remediation switches one remediation on or off.
type Remediation struct {
	// Enabled lets fix plan and apply the remediation.
	Enabled bool `json:"enabled"`
}

// TokensPolicy gates imds_require_tokens.
type TokensPolicy struct {
	// Window is how long MetadataNoToken must have been zero (the audit's
	// metric window must cover it).
	Window time.Duration `json:"window"`
	// Force lists instance ids on which tokens are required whatever
	// MetadataNoToken says.
	Force []string `json:"force,omitempty"`
}

// HopLimitPolicy gates imds_set_hop_limit.
type HopLimitPolicy struct {
	// ContainerHostsNeedIMDS says the workloads on container hosts need
	// IMDS, so their hop limit is raised to Target (NestedTarget for
	// nested containers). Without it container hosts are left alone.
	ContainerHostsNeedIMDS bool `json:"containerHostsNeedIMDS"`
	// Target is the hop limit for container hosts (2).
	Target int32 `json:"target"`
	// NestedTarget is the hop limit for nested containers (3), used for
	// instances tagged fleetdoctor:nested-containers=true.
	NestedTarget int32 `json:"nestedTarget"`
	// KeepIRSAClusters lists EKS clusters whose pods use IRSA or Pod
	// Identity: their nodes keep hop limit 1, which keeps pods off the node
	// role.
	KeepIRSAClusters []string `json:"keepIrsaClusters,omitempty"`
}

// Caps bound the changes of one run.
type Caps struct {
	// PerRun is the most changes one run makes, all accounts together (50).
	PerRun int `json:"perRun"`
	// PerAccount is the most changes one run makes in one account (25).
	PerAccount int `json:"perAccount"`
}

// Waves shape the rollout: a canary wave of Canary changes, then waves
// Growth times larger, never above Max changes.
type Waves struct {
	// Canary is the size of the first wave (5).
	Canary int `json:"canary"`
	// Growth is the factor by which each later wave grows (4).
	Growth int `json:"growth"`
	// Max is the largest wave (100).
	Max int `json:"max"`
}

// Exemption exempts one instance.
type Exemption struct {
	// InstanceID is the exempt instance.
	InstanceID string `json:"instanceId"`
	// Owner answers for the exemption (a team or an address).
	Owner string `json:"owner"`
	// Expires is the last moment the exemption was granted for; a date
	// covers its whole day (UTC). Expired exemptions are reported, and
	// still honoured until renewed or removed.
	Expires time.Time `json:"expires"`
	// Reason says why, for the report.
	Reason string `json:"reason,omitempty"`
}

// Enabled reports whether remediation id is enabled.
func (p *Policy) Enabled(id string) bool { return p.Remediations[id].Enabled }
