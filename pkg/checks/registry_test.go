package checks

import (
	"regexp"
	"slices"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// designIDs are the check ids of DESIGN §4 for the families this package
// implements (the host family comes from the on-host document).
var designIDs = map[string][]string{
	FamilyIMDS: {
		"imds_endpoint_disabled", "imds_v1_allowed", "imds_v1_in_use", "imds_v1_rejected_calls",
		"imds_hop_limit_too_low_for_containers", "imds_options_not_applied",
		"imds_ipv6_endpoint_disabled_on_ipv6_only_subnet", "imds_account_defaults_not_v2",
	},
	FamilySSM: {"ssm_not_registered", "ssm_connection_lost", "ssm_agent_outdated"},
	FamilyIdentity: {
		"iam_no_instance_profile_and_no_dhmc", "iam_profile_without_role", "iam_role_missing_ssm_permissions",
		"iam_role_trust_missing_ec2", "dhmc_disabled", "dhmc_role_misconfigured",
		"dhmc_shadowed_by_instance_profile", "dhmc_prerequisites_unmet",
	},
	FamilyNetwork: {
		"net_no_path_to_ssm_endpoints", "net_endpoint_private_dns_off", "net_sg_egress_443_blocked",
		"net_endpoint_sg_ingress_443_blocked", "net_nacl_blocks_443",
	},
}

// designRemediations are DESIGN §5's remediation ids with the runbook each
// automatic one runs (host remediations are Command documents owned
// elsewhere, so they are only checked for their id).
var designRemediations = map[string]string{
	"imds_enable_endpoint":           DocSetMetadataOptions,
	"imds_require_tokens":            DocSetMetadataOptions,
	"imds_set_hop_limit":             DocSetMetadataOptions,
	"imds_account_defaults":          DocSetAccountMetadataDefaults,
	"iam_attach_instance_profile":    DocAttachInstanceProfile,
	"dhmc_enable":                    DocEnableDHMC,
	"host_remove_imds_firewall_rule": "",
	"host_add_no_proxy":              "",
	"host_restart_agent":             "",
}

var (
	snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	families  = []string{FamilyIMDS, FamilySSM, FamilyIdentity, FamilyNetwork, FamilyAudit}
	sources   = []inventory.Source{inventory.SourceInstances, inventory.SourceAccountDefaults, inventory.SourceManaged,
		inventory.SourceDHMC, inventory.SourceIAM, inventory.SourceMetrics, inventory.SourceNetwork}
	resourceTypes = []string{TypeInstance, TypeAccount, TypeServiceSetting, TypeRole, TypeProfile, TypeRegion}
)

func checkRemediation(t *testing.T, where string, r Remediation) {
	t.Helper()
	if r.ID == "" && r.Manual == "" {
		t.Errorf("%s: remediation has neither an id nor manual text", where)
	}
	if r.ID != "" {
		doc, ok := designRemediations[r.ID]
		switch {
		case !ok:
			t.Errorf("%s: remediation id %q is not in DESIGN §5", where, r.ID)
		case !r.Automatic || r.Document == "":
			t.Errorf("%s: remediation %q must be automatic with a document", where, r.ID)
		case doc != "" && r.Document != doc:
			t.Errorf("%s: remediation %q runs %q, want %q", where, r.ID, r.Document, doc)
		}
	}
	if r.ID == "" && (r.Automatic || r.Document != "") {
		t.Errorf("%s: manual remediation marked automatic or with a document", where)
	}
}

func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Catalogue() {
		if seen[c.ID] {
			t.Errorf("duplicate id %q", c.ID)
		}
		seen[c.ID] = true
		if !snakeCase.MatchString(c.ID) {
			t.Errorf("%s: id is not snake_case", c.ID)
		}
		if !slices.Contains(families, c.Family) {
			t.Errorf("%s: unknown family %q", c.ID, c.Family)
		}
		if c.Title == "" || len(c.Title) > 150 {
			t.Errorf("%s: title must be 1-150 chars, is %d", c.ID, len(c.Title))
		}
		if c.Severity.Rank() == 0 {
			t.Errorf("%s: invalid severity %q", c.ID, c.Severity)
		}
		if !slices.Contains(resourceTypes, c.ResourceType) {
			t.Errorf("%s: unknown resource type %q", c.ID, c.ResourceType)
		}
		if c.Risk == "" {
			t.Errorf("%s: no risk text", c.ID)
		}
		checkRemediation(t, c.ID, c.Remediation)
		if c.ID == IncompleteID {
			if c.Instance != nil || c.Region != nil {
				t.Errorf("%s is emitted by the engine and must have no eval", c.ID)
			}
			continue
		}
		if (c.Instance == nil) == (c.Region == nil) {
			t.Errorf("%s: exactly one of Instance and Region must be set", c.ID)
		}
		if c.Instance != nil && c.ResourceType != TypeInstance {
			t.Errorf("%s: instance check with resource type %s", c.ID, c.ResourceType)
		}
		if len(c.Needs) == 0 {
			t.Errorf("%s: Needs is empty", c.ID)
		}
		for _, src := range c.Needs {
			if !slices.Contains(sources, src) {
				t.Errorf("%s: unknown source %q", c.ID, src)
			}
		}
		if Lookup(c.ID) != c {
			t.Errorf("%s: Lookup does not return it", c.ID)
		}
	}
	for fam, want := range designIDs {
		for _, id := range want {
			c := Lookup(id)
			if c == nil {
				t.Errorf("DESIGN §4 check %s is missing", id)
				continue
			}
			if c.Family != fam {
				t.Errorf("%s: family %q, want %q", id, c.Family, fam)
			}
		}
	}
}

// Remediations that outcomes choose instead of the check's own must follow
// the same rules.
func TestOutcomeRemediations(t *testing.T) {
	for name, r := range map[string]Remediation{
		"remDHMCEndpoint":         remDHMCEndpoint,
		"remDHMCEndpointAndAgent": remDHMCEndpointAndAgent,
	} {
		checkRemediation(t, name, r)
	}
}

// Checks that read only the instance list must not be skipped when metrics
// fail, and the metric checks must say they need metrics: the engine's
// audit_incomplete finding is built from Needs.
func TestNeedsMetricsExactly(t *testing.T) {
	var got []string
	for _, c := range Catalogue() {
		if slices.Contains(c.Needs, inventory.SourceMetrics) {
			got = append(got, c.ID)
		}
	}
	want := []string{"imds_v1_in_use", "imds_v1_rejected_calls"}
	if !slices.Equal(got, want) {
		t.Errorf("checks needing metrics = %v, want %v", got, want)
	}
}
