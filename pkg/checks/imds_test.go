package checks

import (
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

func TestIMDSEndpointDisabled(t *testing.T) {
	runInstanceCases(t, "imds_endpoint_disabled", []tc{
		{name: "HttpEndpoint disabled", want: Fail, sev: High,
			setup:    func(f *fixture) { f.inst().Metadata.HTTPEndpoint = "disabled" },
			detail:   []string{"IMDS endpoint is disabled on " + instID},
			evidence: map[string]any{"HttpEndpoint": "disabled"}},
		{name: "stopped warm-pool instance with endpoint disabled", want: Fail, sev: High,
			setup: func(f *fixture) {
				f.inst().Metadata.HTTPEndpoint = "disabled"
				f.inst().State = "stopped"
			},
			detail: []string{"stopped", "when it starts"}},
		{name: "endpoint enabled", want: Pass},
		{name: "metadata options not described", want: "",
			setup: func(f *fixture) { f.inst().Metadata = inventory.MetadataOptions{} }},
	})
}

func TestIMDSV1Allowed(t *testing.T) {
	optional := func(f *fixture) { f.inst().Metadata.HTTPTokens = "optional" }
	runInstanceCases(t, "imds_v1_allowed", []tc{
		{name: "HttpTokens optional without MetadataNoToken traffic", want: Fail, sev: Medium,
			setup:    optional,
			detail:   []string{"no IMDSv1 calls were seen in the last 14 days"},
			evidence: map[string]any{"HttpTokens": "optional", "MetadataNoToken": 0}},
		{name: "HttpTokens optional with MetadataNoToken traffic", want: Fail, sev: Medium,
			setup: func(f *fixture) {
				optional(f)
				f.inst().IMDSCalls = &inventory.IMDSCalls{NoToken: 42, HasData: true}
			},
			detail:   []string{"called 42 times", "would break that caller"},
			evidence: map[string]any{"MetadataNoToken": 42}},
		{name: "HttpTokens optional and no datapoints", want: Fail,
			setup: func(f *fixture) {
				optional(f)
				f.inst().IMDSCalls = &inventory.IMDSCalls{}
			},
			detail:   []string{"unknown"},
			evidence: map[string]any{"MetadataNoToken": "unknown"}},
		{name: "HttpTokens optional and metrics not read", want: Fail,
			setup: func(f *fixture) {
				optional(f)
				f.inst().IMDSCalls = nil
			},
			evidence: map[string]any{"MetadataNoToken": "unknown"}},
		{name: "tokens required", want: Pass},
		{name: "endpoint disabled is another check's finding", want: "",
			setup: func(f *fixture) {
				optional(f)
				f.inst().Metadata.HTTPEndpoint = "disabled"
			}},
	})
}

func TestIMDSV1InUse(t *testing.T) {
	runInstanceCases(t, "imds_v1_in_use", []tc{
		{name: "MetadataNoToken above zero", want: Fail, sev: Medium,
			setup: func(f *fixture) {
				f.inst().Metadata.HTTPTokens = "optional"
				f.inst().IMDSCalls = &inventory.IMDSCalls{NoToken: 7, HasData: true}
			},
			evidence: map[string]any{"MetadataNoToken": 7, "metricWindow": "336h0m0s"}},
		{name: "no IMDSv1 calls", want: Pass},
		{name: "no datapoints at all", want: Pass,
			setup: func(f *fixture) { f.inst().IMDSCalls = &inventory.IMDSCalls{} }},
		{name: "metrics not read", want: "",
			setup: func(f *fixture) { f.inst().IMDSCalls = nil }},
	})
}

func TestIMDSV1RejectedCalls(t *testing.T) {
	runInstanceCases(t, "imds_v1_rejected_calls", []tc{
		{name: "rejected IMDSv1 calls after enforcement", want: Fail, sev: High,
			setup: func(f *fixture) {
				f.inst().IMDSCalls = &inventory.IMDSCalls{NoTokenRejected: 1200, HasData: true}
			},
			detail:   []string{"rejected 1200 IMDSv1 calls"},
			evidence: map[string]any{"MetadataNoTokenRejected": 1200, "HttpTokens": "required"}},
		{name: "nothing rejected", want: Pass},
		{name: "metrics not read", want: "",
			setup: func(f *fixture) { f.inst().IMDSCalls = nil }},
	})
}

func TestIMDSHopLimitTooLowForContainers(t *testing.T) {
	hop := func(n int32, tags map[string]string) func(f *fixture) {
		return func(f *fixture) {
			f.inst().Metadata.HopLimit = n
			for k, v := range tags {
				f.inst().Tags[k] = v
			}
		}
	}
	runInstanceCases(t, "imds_hop_limit_too_low_for_containers", []tc{
		{name: "hop limit 1 on EKS node (eks:cluster-name)", want: Fail, sev: High,
			setup:  hop(1, map[string]string{"eks:cluster-name": "prod", "eks:nodegroup-name": "ng-1"}),
			detail: []string{"EKS node " + instID, "pods cannot reach IMDS", "node role", "IRSA-only"},
			evidence: map[string]any{"HttpPutResponseHopLimit": 1, "requiredHopLimit": 2, "containerHost": "eks",
				"cluster": "prod", "signals": []string{"eks:cluster-name", "eks:nodegroup-name"}}},
		{name: "hop limit 1 on EKS node (kubernetes.io/cluster/*)", want: Fail,
			setup:    hop(1, map[string]string{"kubernetes.io/cluster/payments": "owned"}),
			evidence: map[string]any{"containerHost": "eks", "cluster": "payments"}},
		{name: "hop limit 1 on Karpenter node", want: Fail,
			setup:    hop(1, map[string]string{"karpenter.sh/nodepool": "default"}),
			detail:   []string{"no tag names it"},
			evidence: map[string]any{"containerHost": "eks", "cluster": ""}},
		{name: "hop limit 1 on ECS host (aws:ecs:*)", want: Fail, sev: High,
			setup:    hop(1, map[string]string{"aws:ecs:clusterName": "batch"}),
			detail:   []string{"ecs host " + instID, "containers cannot reach IMDS"},
			evidence: map[string]any{"containerHost": "ecs", "requiredHopLimit": 2}},
		{name: "hop limit 1 on Docker host (declaration tag)", want: Fail,
			setup:    hop(1, map[string]string{DeclareContainerHostTag: "docker"}),
			evidence: map[string]any{"containerHost": "docker", "signals": []string{DeclareContainerHostTag}}},
		{name: "IRSA-only EKS cluster passes with hop limit 1", want: Pass,
			setup: func(f *fixture) {
				hop(1, map[string]string{"eks:cluster-name": "prod"})(f)
				f.cfg.IRSAOnlyClusters = []string{"prod"}
			}},
		{name: "IRSA-only declaration of another cluster does not cover this one", want: Fail,
			setup: func(f *fixture) {
				hop(1, map[string]string{"kubernetes.io/cluster/dev": "owned"})(f)
				f.cfg.IRSAOnlyClusters = []string{"prod"}
			}},
		{name: "eks:cluster-name wins over kubernetes.io/cluster key", want: Pass,
			setup: func(f *fixture) {
				hop(1, map[string]string{"eks:cluster-name": "prod", "kubernetes.io/cluster/zzz": "owned"})(f)
				f.cfg.IRSAOnlyClusters = []string{"prod"}
			}},
		{name: "nested containers need hop limit 3", want: Fail,
			setup:    hop(2, map[string]string{DeclareContainerHostTag: "nested"}),
			evidence: map[string]any{"requiredHopLimit": 3, "containerHost": "nested"}},
		{name: "nested containers with hop limit 3", want: Pass,
			setup: hop(3, map[string]string{DeclareContainerHostTag: "nested"})},
		{name: "EKS node with hop limit 2", want: Pass,
			setup: hop(2, map[string]string{"eks:cluster-name": "prod"})},
		{name: "declaration none opts a tagged host out", want: "",
			setup: hop(1, map[string]string{"eks:cluster-name": "prod", DeclareContainerHostTag: "none"})},
		{name: "plain instance is not a container host", want: "",
			setup: hop(1, nil)},
		{name: "endpoint disabled", want: "",
			setup: func(f *fixture) {
				hop(1, map[string]string{"aws:ecs:clusterName": "batch"})(f)
				f.inst().Metadata.HTTPEndpoint = "disabled"
			}},
	})
}

func TestIMDSOptionsNotApplied(t *testing.T) {
	runInstanceCases(t, "imds_options_not_applied", []tc{
		{name: "pending long after launch", want: Fail, sev: Low,
			setup:    func(f *fixture) { f.inst().Metadata.State = "pending" },
			detail:   []string{"still pending 2 days after launch"},
			evidence: map[string]any{"State": "pending", "pendingGrace": "15m0s"}},
		{name: "pending right after launch", want: "",
			setup: func(f *fixture) {
				f.inst().Metadata.State = "pending"
				f.inst().LaunchTime = t0.Add(-5 * time.Minute)
			}},
		{name: "applied", want: Pass},
		{name: "stopped", want: "",
			setup: func(f *fixture) {
				f.inst().Metadata.State = "pending"
				f.inst().State = "stopped"
			}},
	})
}

func TestIMDSIPv6EndpointDisabledOnIPv6OnlySubnet(t *testing.T) {
	runInstanceCases(t, "imds_ipv6_endpoint_disabled_on_ipv6_only_subnet", []tc{
		{name: "IPv6-only subnet with IPv6 endpoint disabled", want: Fail, sev: High,
			setup:    func(f *fixture) { f.moveTo(subV6, "") },
			detail:   []string{"IPv6-only subnet " + subV6},
			evidence: map[string]any{"HttpProtocolIpv6": "disabled", "subnet": subV6}},
		{name: "IPv6-only subnet with IPv6 endpoint enabled", want: Pass,
			setup: func(f *fixture) {
				f.moveTo(subV6, "")
				f.inst().Metadata.ProtocolIPv6 = "enabled"
			}},
		{name: "IPv4 subnet", want: ""},
		{name: "subnet not collected", want: "",
			setup: func(f *fixture) { f.inst().SubnetID = "subnet-unknown" }},
	})
}

func TestIMDSAccountDefaultsNotV2(t *testing.T) {
	res := acctID + "/" + regionName
	runRegionCases(t, "imds_account_defaults_not_v2", []tc{
		{name: "tokens required and hop limit 2", want: Pass},
		{name: "no preference", want: Fail, sev: Low,
			setup: func(f *fixture) { f.reg.Defaults = &inventory.MetadataDefaults{ManagedBy: "account"} },
			evidence: map[string]any{"HttpTokens": "no-preference", "HttpPutResponseHopLimit": "no-preference",
				"ManagedBy": "account"},
			detail: []string{"set them to tokens required and hop limit 2"}},
		{name: "tokens required but hop limit 1", want: Fail,
			setup:    func(f *fixture) { f.reg.Defaults.HopLimit = 1 },
			evidence: map[string]any{"HttpPutResponseHopLimit": "1"}},
		{name: "managed by a declarative policy", want: Fail, sev: Low,
			setup: func(f *fixture) {
				f.reg.Defaults = &inventory.MetadataDefaults{HTTPTokens: "optional", ManagedBy: "declarative-policy"}
			},
			detail:   []string{"declarative policy", "cannot change them"},
			evidence: map[string]any{"ManagedBy": "declarative-policy"}},
		{name: "default endpoint disabled is worse", want: Fail, sev: High,
			setup:    func(f *fixture) { f.reg.Defaults.HTTPEndpoint = "disabled" },
			evidence: map[string]any{"HttpEndpoint": "disabled"}},
		{name: "defaults not read", want: "",
			setup: func(f *fixture) { f.reg.Defaults = nil }},
	}, res)
}
