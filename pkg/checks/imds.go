package checks

import (
	"fmt"
	"strconv"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// The IMDS family judges the instance metadata options. They are instance
// configuration, kept across stop and start and changeable while the
// instance is stopped, so they are judged on stopped instances too: an Auto
// Scaling warm pool keeps instances stopped and starts them exactly when
// the fleet needs them, and they should not come up broken.
var imdsChecks = []*Check{
	{
		Meta: Meta{
			ID:           "imds_endpoint_disabled",
			Family:       FamilyIMDS,
			Title:        "Instance metadata endpoint is disabled",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "With HttpEndpoint=disabled nothing on the instance can read IMDS: the SSM agent gets no " +
				"credentials (neither the instance profile's nor DHMC's) and AWS SDKs cannot find credentials or region.",
			Needs:       []inventory.Source{inventory.SourceInstances},
			Remediation: remEnableEndpoint,
		},
		Instance: imdsEndpointDisabled,
	},
	{
		Meta: Meta{
			ID:           "imds_v1_allowed",
			Family:       FamilyIMDS,
			Title:        "IMDSv1 is allowed (HttpTokens=optional)",
			Severity:     Medium,
			ResourceType: TypeInstance,
			Risk: "IMDSv1 answers unauthenticated GETs, which is what SSRF and open reverse proxies exploit to steal " +
				"the instance role's credentials. Requiring tokens is safe only once nothing uses IMDSv1 (MetadataNoToken is 0).",
			Needs:       []inventory.Source{inventory.SourceInstances},
			Remediation: remRequireTokens,
		},
		Instance: imdsV1Allowed,
	},
	{
		Meta: Meta{
			ID:           "imds_v1_in_use",
			Family:       FamilyIMDS,
			Title:        "Software on the instance still calls IMDSv1",
			Severity:     Medium,
			ResourceType: TypeInstance,
			Risk: "CloudWatch MetadataNoToken counted successful IMDSv1 calls in the metric window: requiring tokens " +
				"would break that caller (an old SDK, agent or script), so the instance stays open to IMDSv1 credential theft until it is updated.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceMetrics},
			Remediation: Remediation{Manual: "Find the IMDSv1 caller (the aws-imds-packet-analyzer tool shows the process) and " +
				"update its SDK or software to use IMDSv2 tokens. fleetdoctor will not require tokens on this instance while " +
				"MetadataNoToken is above zero, because that would cut the caller off."},
		},
		Instance: imdsV1InUse,
	},
	{
		Meta: Meta{
			ID:           "imds_v1_rejected_calls",
			Family:       FamilyIMDS,
			Title:        "IMDSv1 calls are being rejected after tokens were required",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "CloudWatch MetadataNoTokenRejected counted IMDSv1 calls refused because tokens are required: some " +
				"software on the instance lost its credentials or configuration when IMDSv2 was enforced.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceMetrics},
			Remediation: Remediation{Manual: "Find the caller (aws-imds-packet-analyzer) and update it to IMDSv2; if it is " +
				"business-critical and cannot be fixed at once, set HttpTokens=optional on this instance as a stopgap. Not " +
				"automatic: loosening IMDS is a security decision for the owner."},
		},
		Instance: imdsV1Rejected,
	},
	{
		Meta: Meta{
			ID:           "imds_hop_limit_too_low_for_containers",
			Family:       FamilyIMDS,
			Title:        "IMDS hop limit too low for the containers on this host",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "Each network namespace costs a hop: with HttpPutResponseHopLimit=1 the IMDSv2 token response never " +
				"reaches a container, so SDK credential and region lookups inside containers fail (a load balancer " +
				"controller started without region/VPC flags is the classic outage). Raising it lets containers use " +
				"the instance role too: on EKS clusters whose pods all use IRSA or Pod Identity, hop limit 1 is the " +
				"intended protection, so such clusters are declared IRSA-only in the policy and pass.",
			Needs:       []inventory.Source{inventory.SourceInstances},
			Remediation: remSetHopLimit,
		},
		Instance: imdsHopLimit,
	},
	{
		Meta: Meta{
			ID:           "imds_options_not_applied",
			Family:       FamilyIMDS,
			Title:        "Instance metadata options stuck in pending",
			Severity:     Low,
			ResourceType: TypeInstance,
			Risk: "Metadata option changes normally apply within seconds; State=pending long after the instance " +
				"started means the instance runs with settings other than the ones the API shows. Heuristic: " +
				"DescribeInstances does not say when the options were last changed, so the age is measured from " +
				"launch and the check fires only after the policy's PendingGrace.",
			Needs: []inventory.Source{inventory.SourceInstances},
			Remediation: Remediation{Manual: "Re-apply the options with modify-instance-metadata-options; if they stay " +
				"pending, stop and start the instance in a maintenance window. Not automatic: a stop/start interrupts the workload."},
		},
		Instance: imdsOptionsNotApplied,
	},
	{
		Meta: Meta{
			ID:           "imds_ipv6_endpoint_disabled_on_ipv6_only_subnet",
			Family:       FamilyIMDS,
			Title:        "IMDS IPv6 endpoint disabled on an instance in an IPv6-only subnet",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "An instance in an IPv6-only subnet has no IPv4 address and can reach IMDS only at [fd00:ec2::254]; " +
				"with HttpProtocolIpv6=disabled the agent and SDKs get no credentials.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceNetwork},
			Remediation: Remediation{Manual: "Run aws ec2 modify-instance-metadata-options --instance-id ID " +
				"--http-protocol-ipv6 enabled. There is no fleetdoctor runbook for the IPv6 endpoint yet " +
				"(DESIGN §5 covers the endpoint, tokens and hop limit only)."},
		},
		Instance: imdsIPv6Disabled,
	},
	{
		Meta: Meta{
			ID:           "imds_account_defaults_not_v2",
			Family:       FamilyIMDS,
			Title:        "Account IMDS defaults do not require IMDSv2 with hop limit 2",
			Severity:     Low,
			ResourceType: TypeAccount,
			Risk: "Instances launched without explicit metadata options take the account-region default: without " +
				"tokens required and hop limit 2 every new instance starts with IMDSv1 open or containers cut off. " +
				"When an Organizations declarative policy manages the defaults, only the organization can change them.",
			Needs:       []inventory.Source{inventory.SourceAccountDefaults},
			Remediation: remAccountDefaults,
		},
		Region: imdsAccountDefaults,
	},
}

const (
	endpointDisabled = "disabled"
	tokensRequired   = "required"
	tokensOptional   = "optional"
)

// configJudged reports whether a metadata-options check judges the
// instance: any state in which it still exists.
func configJudged(in *inventory.Instance) bool {
	return in.State != "shutting-down" && in.State != "terminated" && in.Metadata.HTTPEndpoint != ""
}

// whenStarted completes a detail for an instance that is not running.
func whenStarted(in *inventory.Instance) string {
	if in.Running() {
		return ""
	}
	return " (it is " + in.State + "; this takes effect when it starts)"
}

func imdsEndpointDisabled(_ *Scope, in *inventory.Instance) Outcome {
	if !configJudged(in) {
		return Outcome{}
	}
	if in.Metadata.HTTPEndpoint != endpointDisabled {
		return Outcome{Status: Pass}
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("IMDS endpoint is disabled on %s; the SSM agent and SDKs cannot get credentials%s.",
			in.ID, whenStarted(in)),
		Evidence: map[string]any{"HttpEndpoint": in.Metadata.HTTPEndpoint, "instanceState": in.State},
	}
}

func imdsV1Allowed(s *Scope, in *inventory.Instance) Outcome {
	if !configJudged(in) || in.Metadata.HTTPEndpoint == endpointDisabled || in.Metadata.HTTPTokens == "" {
		return Outcome{}
	}
	if in.Metadata.HTTPTokens == tokensRequired {
		return Outcome{Status: Pass}
	}
	ev := map[string]any{"HttpTokens": in.Metadata.HTTPTokens}
	var detail string
	switch c := in.IMDSCalls; {
	case c != nil && c.HasData:
		ev["MetadataNoToken"] = c.NoToken
		ev["metricWindow"] = s.Window.String()
		if c.NoToken > 0 {
			detail = fmt.Sprintf("IMDSv1 is allowed on %s and was called %s times in the last %s; requiring tokens now "+
				"would break that caller, so fix it first (see imds_v1_in_use).", in.ID, count(c.NoToken), window(s.Window))
		} else {
			detail = fmt.Sprintf("IMDSv1 is allowed on %s and no IMDSv1 calls were seen in the last %s, so tokens can "+
				"be required without breaking anything.", in.ID, window(s.Window))
		}
	default:
		ev["MetadataNoToken"] = "unknown"
		detail = fmt.Sprintf("IMDSv1 is allowed on %s and its IMDSv1 use is unknown (no CloudWatch datapoints), so "+
			"requiring tokens waits until MetadataNoToken shows none.", in.ID)
	}
	return Outcome{Status: Fail, Detail: detail, Evidence: ev}
}

func imdsV1InUse(s *Scope, in *inventory.Instance) Outcome {
	c := in.IMDSCalls
	if c == nil {
		return Outcome{}
	}
	if c.NoToken <= 0 {
		return Outcome{Status: Pass}
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("%s made %s IMDSv1 calls in the last %s; something on it still needs IMDSv1, so "+
			"requiring tokens would break it.", in.ID, count(c.NoToken), window(s.Window)),
		Evidence: map[string]any{"MetadataNoToken": c.NoToken, "metricWindow": s.Window.String(),
			"HttpTokens": in.Metadata.HTTPTokens},
	}
}

func imdsV1Rejected(s *Scope, in *inventory.Instance) Outcome {
	c := in.IMDSCalls
	if c == nil {
		return Outcome{}
	}
	if c.NoTokenRejected <= 0 {
		return Outcome{Status: Pass}
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("IMDS rejected %s IMDSv1 calls on %s in the last %s; software on it broke when tokens "+
			"were required.", count(c.NoTokenRejected), in.ID, window(s.Window)),
		Evidence: map[string]any{"MetadataNoTokenRejected": c.NoTokenRejected, "metricWindow": s.Window.String(),
			"HttpTokens": in.Metadata.HTTPTokens},
	}
}

func imdsHopLimit(s *Scope, in *inventory.Instance) Outcome {
	if !configJudged(in) || in.Metadata.HTTPEndpoint == endpointDisabled || in.Metadata.HopLimit <= 0 {
		return Outcome{}
	}
	h := containerHostOf(in)
	if h.kind == "" {
		return Outcome{}
	}
	if h.kind == hostEKS && s.irsaOnlyCluster(h.cluster) {
		return Outcome{Status: Pass}
	}
	need := h.hopsNeeded()
	if in.Metadata.HopLimit >= need {
		return Outcome{Status: Pass}
	}
	ev := map[string]any{
		"HttpPutResponseHopLimit": in.Metadata.HopLimit,
		"requiredHopLimit":        need,
		"containerHost":           h.kind,
		"signals":                 containerSignals(in),
	}
	if h.declared {
		ev["declaredBy"] = DeclareContainerHostTag
	}
	var detail string
	if h.kind == hostEKS {
		cluster := h.cluster
		if cluster == "" {
			cluster = "its cluster (no tag names it)"
		}
		ev["cluster"] = h.cluster
		detail = fmt.Sprintf("IMDS hop limit is %d on EKS node %s, so pods cannot reach IMDS and SDK credential and "+
			"region lookups in them fail; raising it to %d also lets every pod use the node role, so if all pods of "+
			"%s use IRSA or Pod Identity declare the cluster IRSA-only instead%s.",
			in.Metadata.HopLimit, in.ID, need, cluster, whenStarted(in))
	} else {
		detail = fmt.Sprintf("IMDS hop limit is %d on %s host %s, so its containers cannot reach IMDS (they need %d) "+
			"and SDK credential and region lookups in them fail; raising it also lets containers use the instance "+
			"role, so give containers their own roles where the platform allows%s.",
			in.Metadata.HopLimit, h.kind, in.ID, need, whenStarted(in))
	}
	return Outcome{Status: Fail, Detail: detail, Evidence: ev}
}

func imdsOptionsNotApplied(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() || in.Metadata.State == "" {
		return Outcome{}
	}
	age, ok := s.age(in.LaunchTime)
	if !ok {
		return Outcome{}
	}
	if in.Metadata.State != "pending" {
		return Outcome{Status: Pass}
	}
	if age <= s.Config.PendingGrace {
		return Outcome{} // may still be applying: judge it next run
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("Metadata options on %s are still pending %s after launch; the instance may be running with "+
			"other IMDS settings than the API shows.", in.ID, roundAge(age)),
		Evidence: map[string]any{"State": in.Metadata.State, "launchTime": in.LaunchTime,
			"pendingGrace": s.Config.PendingGrace.String()},
	}
}

func imdsIPv6Disabled(s *Scope, in *inventory.Instance) Outcome {
	if !configJudged(in) || in.SubnetID == "" {
		return Outcome{}
	}
	sub := s.subnetOf(in.SubnetID).subnet
	if sub == nil || !sub.IPv6Native {
		return Outcome{}
	}
	if in.Metadata.ProtocolIPv6 == "enabled" {
		return Outcome{Status: Pass}
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("%s is in IPv6-only subnet %s but its IMDS IPv6 endpoint is disabled, so nothing on it can "+
			"reach IMDS%s.", in.ID, sub.ID, whenStarted(in)),
		Evidence: map[string]any{"HttpProtocolIpv6": in.Metadata.ProtocolIPv6, "subnet": sub.ID, "ipv6Native": true},
	}
}

func imdsAccountDefaults(s *Scope) []Outcome {
	d := s.Region.Defaults
	if d == nil {
		return nil
	}
	res := s.Account.ID + "/" + s.Region.Name
	endpointOff := d.HTTPEndpoint == endpointDisabled
	if d.HTTPTokens == tokensRequired && d.HopLimit == 2 && !endpointOff {
		return []Outcome{{Status: Pass, Resource: res}}
	}
	tokens := d.HTTPTokens
	if tokens == "" {
		tokens = "no-preference"
	}
	hop := "no-preference"
	if d.HopLimit > 0 {
		hop = strconv.Itoa(int(d.HopLimit))
	}
	ev := map[string]any{"HttpTokens": tokens, "HttpPutResponseHopLimit": hop}
	if d.HTTPEndpoint != "" {
		ev["HttpEndpoint"] = d.HTTPEndpoint
	}
	if d.ManagedBy != "" {
		ev["ManagedBy"] = d.ManagedBy
	}
	o := Outcome{Status: Fail, Resource: res, Evidence: ev}
	o.Detail = fmt.Sprintf("IMDS defaults for new instances in %s are HttpTokens=%s, hop limit %s", res, tokens, hop)
	if endpointOff {
		// Every instance launched without explicit options comes up
		// unmanageable, which is worse than IMDSv1 being open.
		o.Severity = High
		o.Detail += ", HttpEndpoint=disabled"
	}
	if d.ManagedBy == "declarative-policy" {
		o.Detail += "; an AWS Organizations declarative policy sets them, so the account cannot change them and the organization's policy must."
	} else {
		o.Detail += "; set them to tokens required and hop limit 2."
	}
	return []Outcome{o}
}

// count prints a metric sum, which CloudWatch returns as a float.
func count(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// window prints the metric window for a sentence.
func window(d time.Duration) string {
	switch {
	case d <= 0:
		return "metric window"
	case d%(24*time.Hour) == 0:
		if n := d / (24 * time.Hour); n > 1 {
			return strconv.Itoa(int(n)) + " days"
		}
		return "day"
	case d%time.Hour == 0:
		if n := d / time.Hour; n > 1 {
			return strconv.Itoa(int(n)) + " hours"
		}
		return "hour"
	}
	return d.String()
}

// roundAge prints an age the way an operator says it: minutes, hours, or
// days past two days.
func roundAge(d time.Duration) string {
	switch {
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days"
}
