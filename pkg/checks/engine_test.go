package checks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

func evaluate(t *testing.T, f *fixture) *Result {
	t.Helper()
	res, err := Evaluate(f.snap, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func findings(res *Result, check string, status Status) []Finding {
	var out []Finding
	for _, f := range res.Findings {
		if f.Check == check && (status == "" || f.Status == status) {
			out = append(out, f)
		}
	}
	return out
}

func stat(res *Result, check string) Stat {
	for _, s := range res.Stats {
		if s.Check == check {
			return s
		}
	}
	return Stat{Check: check}
}

// The healthy fixture must not fail anything, whatever it is exposed to:
// a check that fires on a healthy instance would bury real findings.
func TestHealthyFleetHasNoFindings(t *testing.T) {
	for name, setup := range map[string]func(*fixture){
		"behind NAT":                nil,
		"behind endpoints":          viaEndpoints,
		"DHMC without profile":      func(f *fixture) { f.enableDHMC(); noProfile(f) },
		"public subnet with IP":     func(f *fixture) { f.moveTo(subPub, "10.0.3.9"); f.inst().PublicIP = true },
		"IPv6-only":                 func(f *fixture) { f.moveTo(subV6, ""); f.inst().Metadata.ProtocolIPv6 = "enabled" },
		"EKS node with hop limit 2": func(f *fixture) { f.inst().Tags["eks:cluster-name"] = "prod" },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture()
			if setup != nil {
				setup(f)
			}
			res := evaluate(t, f)
			for _, fd := range res.Findings {
				t.Errorf("unexpected finding %s %s: %s", fd.Check, fd.Status, fd.Detail)
			}
			var evaluated int
			for _, s := range res.Stats {
				evaluated += s.Evaluated
			}
			if evaluated == 0 {
				t.Error("nothing was evaluated")
			}
		})
	}
}

func TestEvaluateMetricsUnavailable(t *testing.T) {
	f := newFixture()
	// Would fail both metric checks if they ran.
	f.inst().IMDSCalls = &inventory.IMDSCalls{NoToken: 3, NoTokenRejected: 4, HasData: true}
	f.reg.Errors = map[inventory.Source]*inventory.CollectError{inventory.SourceMetrics: {
		What: "IMDS metrics", API: "cloudwatch:GetMetricData", Kind: "access-denied",
		Permission: "cloudwatch:GetMetricData", Message: "not authorized",
	}}
	res := evaluate(t, f)
	inc := findings(res, IncompleteID, "")
	if len(inc) != 1 {
		t.Fatalf("want one audit_incomplete, got %d: %+v", len(inc), inc)
	}
	got := inc[0]
	want := []string{"imds_v1_in_use", "imds_v1_rejected_calls"}
	if nc, _ := got.Evidence["notChecked"].([]string); !slices.Equal(nc, want) {
		t.Errorf("notChecked = %v, want %v", got.Evidence["notChecked"], want)
	}
	if got.Status != Error || got.Resource != acctID+"/"+regionName || !strings.Contains(got.Detail, "cloudwatch:GetMetricData") {
		t.Errorf("audit_incomplete = %+v", got)
	}
	for _, id := range want {
		if n := len(findings(res, id, "")); n != 0 {
			t.Errorf("%s produced %d findings though its source failed", id, n)
		}
		if st := stat(res, id); st.Errored != 1 || st.Evaluated != 0 {
			t.Errorf("%s stat = %+v, want errored 1", id, st)
		}
	}
	// Checks that only read the instances still ran.
	if st := stat(res, "imds_v1_allowed"); st.Evaluated != 1 {
		t.Errorf("imds_v1_allowed stat = %+v, want it evaluated", st)
	}
}

func TestEvaluateAccountUnreachable(t *testing.T) {
	f := newFixture()
	f.inst().Metadata.HTTPEndpoint = "disabled" // must not be reported: nothing was read
	f.acct.Err = &inventory.CollectError{What: "account 111122223333", API: "sts:AssumeRole", Kind: "access-denied",
		Permission: "sts:AssumeRole", Message: "denied"}
	res := evaluate(t, f)
	if len(res.Findings) != 1 || res.Findings[0].Check != IncompleteID {
		t.Fatalf("want exactly one audit_incomplete, got %+v", res.Findings)
	}
	nc, _ := res.Findings[0].Evidence["notChecked"].([]string)
	if slices.Contains(nc, IncompleteID) || !slices.Contains(nc, "imds_endpoint_disabled") {
		t.Errorf("notChecked = %v", nc)
	}
	if st := stat(res, "imds_endpoint_disabled"); st.Errored != 1 {
		t.Errorf("imds_endpoint_disabled stat = %+v, want errored 1", st)
	}
}

func TestEvaluateIAMUnreadable(t *testing.T) {
	f := newFixture()
	roleDeletedSetup(f)
	f.acct.IAM.Err = &inventory.CollectError{What: "IAM", API: "iam:GetInstanceProfile", Kind: "access-denied"}
	res := evaluate(t, f)
	if n := len(findings(res, "iam_profile_without_role", "")); n != 0 {
		t.Errorf("iam_profile_without_role ran without IAM: %d findings", n)
	}
	inc := findings(res, IncompleteID, Error)
	if len(inc) != 1 || !slices.Contains(inc[0].Evidence["notChecked"].([]string), "iam_profile_without_role") {
		t.Errorf("audit_incomplete = %+v", inc)
	}
}

func TestEvaluateUnknownCheck(t *testing.T) {
	f := newFixture()
	f.cfg.Checks = []string{"imds_endpoint_disabled", "imds_endpoint_disabld"}
	if _, err := Evaluate(f.snap, f.cfg); err == nil || !strings.Contains(err.Error(), "imds_endpoint_disabld") {
		t.Errorf("err = %v, want one naming the unknown check", err)
	}
}

func TestEvaluateSelectedChecksOnly(t *testing.T) {
	f := newFixture()
	f.inst().Metadata.HTTPEndpoint = "disabled"
	f.inst().Metadata.HTTPTokens = "optional"
	f.cfg.Checks = []string{"imds_v1_allowed"}
	res := evaluate(t, f)
	for _, fd := range res.Findings {
		if fd.Check != "imds_v1_allowed" {
			t.Errorf("unselected check %s reported", fd.Check)
		}
	}
	if len(res.Stats) != 1 || res.Stats[0].Check != "imds_v1_allowed" {
		t.Errorf("stats = %+v", res.Stats)
	}
}

// Findings carry the instance as resource, the check's severity unless the
// outcome raised it, and the outcome's remediation when it chose one.
func TestEvaluateFindingShape(t *testing.T) {
	f := newFixture()
	f.enableDHMC()
	noProfile(f)
	f.inst().Metadata.HTTPEndpoint = "disabled"
	f.inst().Agent.Version = "3.1.0.0"
	res := evaluate(t, f)

	ep := findings(res, "imds_endpoint_disabled", Fail)
	if len(ep) != 1 {
		t.Fatalf("imds_endpoint_disabled findings = %+v", ep)
	}
	want := Finding{Check: "imds_endpoint_disabled", Status: Fail, Severity: High, Account: acctID, Region: regionName,
		ResourceType: TypeInstance, Resource: instID}
	got := ep[0]
	if got.Check != want.Check || got.Status != want.Status || got.Severity != want.Severity || got.Account != want.Account ||
		got.Region != want.Region || got.ResourceType != want.ResourceType || got.Resource != want.Resource {
		t.Errorf("finding = %+v", got)
	}
	if got.Remediation == nil || got.Remediation.ID != "imds_enable_endpoint" || got.Remediation.Document != DocSetMetadataOptions {
		t.Errorf("remediation = %+v", got.Remediation)
	}

	pre := findings(res, "dhmc_prerequisites_unmet", Fail)
	if len(pre) != 1 || pre[0].Remediation.ID != "imds_enable_endpoint" || pre[0].Remediation.Manual == "" {
		t.Errorf("dhmc_prerequisites_unmet = %+v", pre)
	}
	old := findings(res, "ssm_agent_outdated", Fail)
	if len(old) != 1 || old[0].Severity != High {
		t.Errorf("ssm_agent_outdated = %+v, want high", old)
	}
	// The run document is JSON: evidence must marshal.
	if _, err := json.Marshal(res.Findings); err != nil {
		t.Errorf("findings do not marshal: %v", err)
	}
}

func TestEvaluateRegionFindings(t *testing.T) {
	f := newFixture()
	noProfile(f)
	f.reg.Defaults.HTTPTokens = "optional"
	res := evaluate(t, f)
	d := findings(res, "dhmc_disabled", Fail)
	if len(d) != 1 || d[0].Resource != settingARN || d[0].ResourceType != TypeServiceSetting {
		t.Errorf("dhmc_disabled = %+v", d)
	}
	a := findings(res, "imds_account_defaults_not_v2", Fail)
	if len(a) != 1 || a[0].Resource != acctID+"/"+regionName || a[0].ResourceType != TypeAccount || a[0].Severity != Low {
		t.Errorf("imds_account_defaults_not_v2 = %+v", a)
	}
}

// Findings are sorted by catalogue order, then account, region, resource.
func TestEvaluateSortsFindings(t *testing.T) {
	f := newFixture()
	f.inst().Metadata.HTTPEndpoint = "disabled"
	for i := 5; i >= 2; i-- {
		f.addInstance(fmt.Sprintf("i-0abc000000000000%d", i), nil)
	}
	f.inst().Metadata.HTTPTokens = "optional"
	res := evaluate(t, f)
	order := map[string]int{}
	for i, c := range Catalogue() {
		order[c.ID] = i
	}
	if !slices.IsSortedFunc(res.Findings, func(a, b Finding) int {
		if d := order[a.Check] - order[b.Check]; d != 0 {
			return d
		}
		return strings.Compare(a.Resource, b.Resource)
	}) {
		t.Errorf("findings not sorted")
	}
	if n := len(findings(res, "imds_endpoint_disabled", Fail)); n != 5 {
		t.Errorf("imds_endpoint_disabled findings = %d, want 5", n)
	}
	if st := stat(res, "imds_endpoint_disabled"); st.Evaluated != 5 || st.Failed != 5 {
		t.Errorf("stat = %+v", st)
	}
}
