// Package checks is fleetdoctor's check catalogue: small pure functions over
// an inventory.Snapshot, each with the metadata an operator needs to act on
// its findings (DESIGN §4). Checks never call AWS.
package checks

import (
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Families of checks.
const (
	FamilyIMDS     = "imds"
	FamilySSM      = "ssm"
	FamilyIdentity = "identity"
	FamilyNetwork  = "network"
	FamilyAudit    = "audit"
)

// Resource types, in CloudFormation's spelling (as Security Hub expects).
const (
	TypeInstance       = "AWS::EC2::Instance"
	TypeAccount        = "AWS::::Account"
	TypeServiceSetting = "AWS::SSM::ServiceSetting"
	TypeRole           = "AWS::IAM::Role"
	TypeProfile        = "AWS::IAM::InstanceProfile"
	TypeRegion         = "AWS::::Region"
)

// Meta is what a check is, independent of any fleet.
type Meta struct {
	ID       string   `json:"id"`
	Family   string   `json:"family"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
	// ResourceType is the type of resource the check's findings name.
	ResourceType string `json:"resourceType"`
	// Risk says what goes wrong when the check fails.
	Risk string `json:"risk"`
	// Needs lists the collected sources the check reads; when one of them
	// could not be collected in a region, the check does not run there and
	// the audit_incomplete finding names it instead.
	Needs []inventory.Source `json:"needs"`
	// Remediation is the fix for a failing finding, or why there is none.
	Remediation Remediation `json:"remediation"`
}

// Outcome is what a check says about one resource. The zero Outcome means
// "does not apply" (a stopped instance for an agent check, say) and yields
// no finding and no count.
type Outcome struct {
	Status Status
	// Severity overrides Meta.Severity when the same failure hurts more in
	// some cases (an outdated agent that DHMC relies on, say).
	Severity Severity
	// ResourceType and Resource name the resource for region checks;
	// instance checks leave them empty and get the instance.
	ResourceType string
	Resource     string
	// Detail is one sentence naming the resource and the problem.
	Detail   string
	Evidence map[string]any
	// Remediation overrides Meta.Remediation when the fix depends on why
	// the check failed (dhmc_prerequisites_unmet: an IMDS setting fleetdoctor
	// can change, or an agent only the owner can update).
	Remediation *Remediation
}

// Check is one entry of the catalogue: metadata and exactly one of Instance
// (called for every instance of every region) or Region (called once per
// region).
type Check struct {
	Meta
	Instance func(s *Scope, in *inventory.Instance) Outcome
	Region   func(s *Scope) []Outcome
}

// Config carries the fleet policy that checks depend on. The zero value is
// not useful; start from DefaultConfig.
type Config struct {
	// Now is the time ages are measured against; zero means the snapshot's
	// CollectedAt.
	Now time.Time
	// AgentMinVersion is the fleet's minimum SSM agent version.
	AgentMinVersion string
	// RegistrationGrace is how long a new instance may take to register
	// with SSM before ssm_not_registered fires.
	RegistrationGrace time.Duration
	// PendingGrace is how long after launch MetadataOptions may stay
	// pending before imds_options_not_applied fires.
	PendingGrace time.Duration
	// IRSAOnlyClusters names EKS clusters whose pods get AWS credentials
	// only through IRSA or EKS Pod Identity, never through the node's IMDS;
	// there a hop limit of 1 is the intended protection, not a fault.
	IRSAOnlyClusters []string
	// Checks limits evaluation to these check ids; empty means all.
	Checks []string
}

// DHMCMinAgentVersion is the first SSM agent version that supports Default
// Host Management Configuration (AWS Systems Manager User Guide, "Managing
// EC2 instances automatically with Default Host Management Configuration").
const DHMCMinAgentVersion = "3.2.582.0"

// DefaultConfig is the policy fleetdoctor uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		AgentMinVersion:   DHMCMinAgentVersion,
		RegistrationGrace: 30 * time.Minute,
		PendingGrace:      15 * time.Minute,
	}
}
