package hostdiag

import (
	"cmp"
	"maps"
	"slices"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// FamilyHost is the check family of the host checks.
const FamilyHost = "host"

// Documents the host checks and their repairs run.
const (
	DiagnoseDocumentName = "FleetDoctor-DiagnoseHost"
	RepairDocumentName   = "FleetDoctor-RepairHost"
)

// Results of running the diagnose document rather than checks the document
// runs: they are in the catalogue (so reports and `fleetdoctor checks` know
// them) but not in CheckIDs, which lists what a host's report carries.
const (
	// CheckNotDiagnosable: the instance could not be sent the diagnose
	// document (agent not Online, not registered with SSM, instance not
	// running, platform the document does not cover).
	CheckNotDiagnosable = "host_not_diagnosable"
	// CheckDiagnosisFailed: the document was sent but gave no usable
	// report (the invocation failed or timed out, or its output does not
	// parse).
	CheckDiagnosisFailed = "host_diagnosis_failed"
)

// OrchestrationCheckIDs returns the catalogue's ids that are not host
// report checks, in catalogue order.
func OrchestrationCheckIDs() []string {
	return []string{CheckNotDiagnosable, CheckDiagnosisFailed}
}

// catalogue describes each host check (DESIGN §4): what failing means and
// how it is fixed. The checks run on the host, so Needs is empty: their
// source is the diagnose document's report.
var catalogue = []checks.Meta{
	{ID: CheckIMDSUnreachable, Title: "IMDS unreachable from the host", Severity: checks.High,
		Risk:        "the SSM agent and every SDK on the host get no credentials or identity from IMDS",
		Remediation: checks.Remediation{Manual: "follow the probe classification: refused or timeout points at a firewall rule or route (see the other host checks), http_403 at HttpEndpoint=disabled, http_401 at a client without IMDSv2 tokens, http_404 at a missing instance role"}},
	{ID: CheckIMDSBlockedByFirewall, Title: "A local firewall rule matches 169.254.169.254", Severity: checks.High,
		Risk:        "IMDS calls from the users the rule matches are rejected or dropped, so the agent loses its credentials",
		Remediation: checks.Remediation{ID: ActionRemoveIMDSFirewallRule, Automatic: true, Document: RepairDocumentName}},
	{ID: CheckProxyWithoutNoProxy, Title: "Proxy without 169.254.169.254 in NO_PROXY", Severity: checks.High,
		Risk:        "the agent sends IMDS (and VPC endpoint) traffic to the proxy, which cannot reach link-local addresses",
		Remediation: checks.Remediation{ID: ActionAddNoProxy, Automatic: true, Document: RepairDocumentName}},
	{ID: CheckAgentNotRunning, Title: "SSM agent not installed, not running or not root", Severity: checks.High,
		Risk:        "the instance drops out of Systems Manager",
		Remediation: checks.Remediation{ID: ActionRestartAgent, Automatic: true, Document: RepairDocumentName}},
	{ID: CheckSSMEndpointUnreachable, Title: "SSM endpoints unreachable from the host", Severity: checks.High,
		Risk:        "the agent cannot register or receive commands; the result (dns, refused, timeout) says whether DNS, a firewall or the route is at fault",
		Remediation: checks.Remediation{Manual: "fix DNS (private hosted zone or endpoint private DNS), security groups, NACLs or routes on the path the result names"}},
	{ID: CheckIMDSThrottled, Title: "IMDS packets dropped by the ENA link-local allowance", Severity: checks.Medium,
		Risk:        "bursts of IMDS calls (often from containers or SDKs without caching) are dropped, and credential refreshes fail intermittently",
		Remediation: checks.Remediation{Manual: "cache IMDS credentials in the applications, or spread the calls; the allowance is 1024 packets per second per ENI"}},
	{ID: CheckNoRouteToIMDS, Title: "No route to 169.254.169.254", Severity: checks.High,
		Risk:        "policy routes lost (e.g. after amazon-ec2-net-utils refreshed them) cut the host off from IMDS",
		Remediation: checks.Remediation{Manual: "restore the route (restart systemd-networkd or the refresh-policy-routes service) and pin amazon-ec2-net-utils to a fixed version"}},
	{ID: CheckAgentCredentialErrors, Title: "Credential errors in the SSM agent log", Severity: checks.Medium,
		Risk:        "the agent cannot get or use credentials: a missing role, a role without the SSM permissions, or IMDS trouble",
		Remediation: checks.Remediation{Manual: "read the logged errors with the identity checks' findings for this instance"}},
	{ID: CheckClockSkew, Title: "Host clock off by more than 5 minutes", Severity: checks.Medium,
		Risk:        "AWS rejects the agent's signed requests (SignatureDoesNotMatch, RequestExpired)",
		Remediation: checks.Remediation{Manual: "enable time synchronisation (chrony with the Amazon Time Sync Service, 169.254.169.123)"}},
	{ID: CheckContainerRuntime, Title: "Container runtimes on the host", Severity: checks.Info,
		Risk:        "informational: evidence for imds_hop_limit_too_low_for_containers",
		Remediation: checks.Remediation{Manual: "none: this check only records which runtimes are present"}},
	{ID: CheckNotDiagnosable, Title: "Instance not diagnosable on the host", Severity: checks.Medium,
		Risk:        "the on-host checks could not run, so firewall, proxy, route and agent problems on this instance stay unseen; its API-side findings say why the agent is unreachable",
		Remediation: checks.Remediation{Manual: "bring the SSM agent back Online (see the instance's ssm_* and imds_* findings), then run fleetdoctor diagnose again"}},
	{ID: CheckDiagnosisFailed, Title: "On-host diagnosis gave no usable report", Severity: checks.Medium,
		Risk:        "the diagnose document failed, timed out or printed something that is not a report, so the on-host checks are unknown for this instance",
		Remediation: checks.Remediation{Manual: "read the invocation's output (the finding names the command id) and run fleetdoctor diagnose again"}},
}

func init() {
	for i := range catalogue {
		catalogue[i].Family = FamilyHost
		catalogue[i].ResourceType = checks.TypeInstance
	}
}

// Catalogue returns the host checks' metadata in report order. The slice is
// shared: callers must not modify it.
func Catalogue() []checks.Meta { return catalogue }

// lookup returns the metadata of a host check id, or nil.
func lookup(id string) *checks.Meta {
	for i := range catalogue {
		if catalogue[i].ID == id {
			return &catalogue[i]
		}
	}
	return nil
}

// Findings turns a parsed report from an instance in account and region
// into host_* findings: one per FAIL or ERROR check, in report order, with
// the check's severity and repair. Checks the catalogue does not know (which
// Parse has already made ERROR) are reported at medium severity under their
// own id.
func Findings(r Report, account, region string) []checks.Finding {
	var out []checks.Finding
	for _, c := range r.Checks {
		if c.Status != Fail && c.Status != Error {
			continue
		}
		f := checks.Finding{
			Check: c.ID, Status: checks.Status(c.Status), Severity: checks.Medium,
			Account: account, Region: region,
			ResourceType: checks.TypeInstance, Resource: r.Host.InstanceID,
			Detail: c.Detail, Evidence: c.Evidence,
		}
		if f.Detail == "" {
			f.Detail = "host check " + c.ID + " reported " + string(c.Status)
		}
		if m := lookup(c.ID); m != nil {
			f.Severity = m.Severity
			if c.Status == Fail {
				rem := m.Remediation
				f.Remediation = &rem
			}
		}
		if c.Truncated {
			ev := make(map[string]any, len(c.Evidence)+1)
			maps.Copy(ev, c.Evidence)
			ev["truncated"] = true
			f.Evidence = ev
		}
		out = append(out, f)
	}
	return out
}

// CatalogueRank orders check ids as reports list them: the API-side
// catalogue, then the host checks, then ids neither knows.
func CatalogueRank() func(id string) int {
	order := map[string]int{}
	for i, c := range checks.Catalogue() {
		order[c.ID] = i
	}
	for _, m := range catalogue {
		if _, ok := order[m.ID]; !ok {
			order[m.ID] = len(order)
		}
	}
	return func(id string) int {
		if i, ok := order[id]; ok {
			return i
		}
		return len(order)
	}
}

// SortFindings sorts fs in report order: CatalogueRank, then check id,
// account, region and resource.
func SortFindings(fs []checks.Finding) {
	rank := CatalogueRank()
	slices.SortStableFunc(fs, func(a, b checks.Finding) int {
		return cmp.Or(
			cmp.Compare(rank(a.Check), rank(b.Check)),
			cmp.Compare(a.Check, b.Check),
			cmp.Compare(a.Account, b.Account),
			cmp.Compare(a.Region, b.Region),
			cmp.Compare(a.Resource, b.Resource),
		)
	})
}
