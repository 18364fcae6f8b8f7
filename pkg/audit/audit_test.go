package audit_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
)

const (
	acctA = "111111111111"
	acctB = "222222222222"
)

var (
	regions = []string{"eu-west-1", "us-east-1"}
	t0      = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
)

func opts() audit.Options {
	return audit.Options{
		Accounts: []string{acctA, acctB},
		Regions:  regions,
		Checks:   checks.DefaultConfig(),
		Clock:    func() time.Time { return t0 },
	}
}

func count(run *audit.Run, check string, status checks.Status) int {
	n := 0
	for _, f := range run.Findings {
		if f.Check == check && f.Status == status {
			n++
		}
	}
	return n
}

func TestAuditSampleFleet(t *testing.T) {
	f := fake.SampleFleet([]string{acctA, acctB}, regions, 20)
	run, err := audit.Audit(context.Background(), f.Provider(), opts())
	if err != nil {
		t.Fatal(err)
	}
	s := run.Summary
	if s.Accounts != 2 || s.AccountRegions != 4 || s.Instances != 80 || s.UnreachableAccounts != 0 {
		t.Errorf("summary shape: %+v", s)
	}
	// SampleFleet breaks instances i%10 in {1..7}: 2 per 20 per kind, 4 regions.
	for check, want := range map[string]int{
		"imds_endpoint_disabled":                8,
		"imds_v1_allowed":                       8,
		"imds_v1_in_use":                        8,
		"ssm_connection_lost":                   8,
		"ssm_agent_outdated":                    8,
		"iam_profile_without_role":              8,
		"imds_hop_limit_too_low_for_containers": 8,
	} {
		if got := count(run, check, checks.Fail); got != want {
			t.Errorf("%s: %d FAIL findings, want %d", check, got, want)
		}
	}
	if count(run, checks.IncompleteID, checks.Error) != 0 || len(run.Errors) != 0 {
		t.Errorf("no collection errors expected: %+v", run.Errors)
	}
	if s.FailingInstances == 0 || s.FailingInstances >= s.Instances || s.Health <= 0 || s.Health >= 100 {
		t.Errorf("health: %d of %d failing, %.1f%%", s.FailingInstances, s.Instances, s.Health)
	}
	worst := 0
	for _, n := range s.FailingInstancesBySeverity {
		worst += n
	}
	if worst != s.FailingInstances {
		t.Errorf("failing instances by severity %v do not add up to %d", s.FailingInstancesBySeverity, s.FailingInstances)
	}
	if s.ByStatus[checks.Pass] == 0 || s.ByStatus[checks.Fail] != len(run.Findings) {
		t.Errorf("by status: %v with %d findings", s.ByStatus, len(run.Findings))
	}
	if run.Run.ID != "fd-20261122T060000.000Z" || !run.Run.StartedAt.Equal(t0) || run.Run.Scope.MetricWindow != "336h0m0s" {
		t.Errorf("run info: %+v", run.Run)
	}
	// The run document round-trips through JSON.
	b, err := json.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	var back audit.Run
	if err := json.Unmarshal(b, &back); err != nil || len(back.Findings) != len(run.Findings) || back.Summary.Instances != 80 {
		t.Errorf("round trip: %v", err)
	}
}

func TestAuditUnreachableAccountDoesNotStopTheOthers(t *testing.T) {
	f := fake.SampleFleet([]string{acctA, acctB}, regions, 10)
	f.Account(acctB).AssumeRoleDenied = true
	run, err := audit.Audit(context.Background(), f.Provider(), opts())
	if err != nil {
		t.Fatal(err)
	}
	if run.Summary.UnreachableAccounts != 1 || run.Summary.Instances != 20 {
		t.Errorf("summary: %+v", run.Summary)
	}
	var errs []checks.Finding
	for _, f := range run.Findings {
		if f.Status == checks.Error {
			errs = append(errs, f)
		}
	}
	if len(errs) != 1 || errs[0].Account != acctB || errs[0].Check != checks.IncompleteID || !strings.Contains(errs[0].Detail, "sts:AssumeRole") {
		t.Fatalf("want one ERROR finding for %s, got %+v", acctB, errs)
	}
	if len(run.Errors) != 1 || run.Errors[0].Account != acctB || run.Errors[0].API != "sts:AssumeRole" {
		t.Errorf("errors: %+v", run.Errors)
	}
	if count(run, "imds_endpoint_disabled", checks.Fail) != 2 {
		t.Error("account A must still be audited")
	}
}

func TestAuditDeniedAPIBecomesErrorFinding(t *testing.T) {
	f := fake.SampleFleet([]string{acctA}, regions[:1], 10)
	f.Fail(acctA, "eu-west-1", "cloudwatch:GetMetricData", fake.AccessDenied("cloudwatch:GetMetricData"))
	o := opts()
	o.Accounts = nil // the caller's own account
	o.Regions = regions[:1]
	run, err := audit.Audit(context.Background(), f.Provider(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Run.Scope.Accounts) != 1 || run.Run.Scope.Accounts[0] != acctA {
		t.Errorf("scope: %+v", run.Run.Scope)
	}
	var inc *checks.Finding
	for i := range run.Findings {
		if run.Findings[i].Check == checks.IncompleteID {
			inc = &run.Findings[i]
		}
	}
	if inc == nil || inc.Evidence["permission"] != "cloudwatch:GetMetricData" ||
		!strings.Contains(inc.Detail, "imds_v1_in_use") || !strings.Contains(inc.Detail, "grant cloudwatch:GetMetricData") {
		t.Fatalf("incomplete finding: %+v", inc)
	}
	if count(run, "imds_v1_in_use", checks.Fail) != 0 {
		t.Error("imds_v1_in_use cannot have run without metrics")
	}
	if count(run, "imds_endpoint_disabled", checks.Fail) != 1 {
		t.Error("checks that do not need metrics still run")
	}
}

func TestAuditRejectsBadOptions(t *testing.T) {
	f := fake.SampleFleet([]string{acctA}, regions, 1)
	for name, mut := range map[string]func(*audit.Options){
		"no regions":    func(o *audit.Options) { o.Regions = nil },
		"bad region":    func(o *audit.Options) { o.Regions = []string{"eu-wst-1"} },
		"bad account":   func(o *audit.Options) { o.Accounts = []string{"12345"} },
		"unknown check": func(o *audit.Options) { o.Checks.Checks = []string{"imds_nope"} },
	} {
		o := opts()
		mut(&o)
		if _, err := audit.Audit(context.Background(), f.Provider(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := f.AllCalls(); len(got) != 0 {
		t.Errorf("bad options must be refused before any AWS call: %v", got)
	}
}
