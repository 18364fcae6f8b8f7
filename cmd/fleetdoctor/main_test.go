package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/pflag"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

const (
	acctA = "111122223333" // the caller
	acctB = "444455556666"
)

var (
	sampleRegions = []string{"eu-west-1", "us-east-1"}
	clock         = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
)

// harness runs the CLI in-process against a fake fleet.
type harness struct {
	fleet *fake.Fleet
	// defaultRegion is what the fake SDK configuration reports.
	defaultRegion string
	// providerErr, when set, is returned by newProvider.
	providerErr error
	// wrap, when set, wraps the fake provider (to make Caller fail, say).
	wrap     func(awsapi.Provider) awsapi.Provider
	terminal bool

	// Recorded by the last run.
	providerCalls int
	awsOpts       awsapi.Options
	stdout        bytes.Buffer
	stderr        bytes.Buffer
}

func newHarness(accounts ...string) *harness {
	if len(accounts) == 0 {
		accounts = []string{acctA, acctB}
	}
	return &harness{fleet: fake.SampleFleet(accounts, sampleRegions, 10), defaultRegion: "eu-west-1"}
}

func (h *harness) deps() deps {
	return deps{
		stdout: &h.stdout,
		stderr: &h.stderr,
		newProvider: func(_ context.Context, o awsapi.Options) (awsapi.Provider, string, error) {
			h.providerCalls++
			h.awsOpts = o
			if h.providerErr != nil {
				return nil, "", h.providerErr
			}
			p := h.fleet.Provider()
			p.Region = h.defaultRegion
			var prov awsapi.Provider = p
			if h.wrap != nil {
				prov = h.wrap(prov)
			}
			return prov, p.DefaultRegion(), nil
		},
		isTerminal: func(w io.Writer) bool { return h.terminal && w == &h.stderr },
		now:        func() time.Time { return clock },
	}
}

func (h *harness) run(t *testing.T, args ...string) int {
	t.Helper()
	h.stdout.Reset()
	h.stderr.Reset()
	h.providerCalls = 0
	return run(context.Background(), args, h.deps())
}

// runJSON runs an audit with --format json and decodes stdout.
func (h *harness) runJSON(t *testing.T, args ...string) (int, *audit.Run) {
	t.Helper()
	code := h.run(t, append([]string{"audit", "--format", "json"}, args...)...)
	var run audit.Run
	dec := json.NewDecoder(bytes.NewReader(h.stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&run); err != nil {
		t.Fatalf("stdout is not a run document (exit %d): %v\nstdout:\n%s\nstderr:\n%s", code, err, h.stdout.String(), h.stderr.String())
	}
	if dec.More() {
		t.Fatalf("stdout has more than the run document:\n%s", h.stdout.String())
	}
	return code, &run
}

// sampleIDs are the sample fleet's instances with index%10 == k.
func sampleIDs(accounts, regions int, k int) []string {
	var ids []string
	for a := range accounts {
		for r := range regions {
			ids = append(ids, fmt.Sprintf("i-%02d%02d%013d", a, r, k))
		}
	}
	return ids
}

func findingsOf(run *audit.Run, check string, status checks.Status) []checks.Finding {
	var out []checks.Finding
	for _, f := range run.Findings {
		if f.Check == check && f.Status == status {
			out = append(out, f)
		}
	}
	return out
}

func TestAuditTable(t *testing.T) {
	h := newHarness()
	code := h.run(t, "audit", "--regions", "eu-west-1,us-east-1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	out := h.stdout.String()
	for _, want := range []string{
		"SEVERITY", "CHECK", "RESOURCES",
		"imds_endpoint_disabled", strings.Join(sampleIDs(1, 2, 1), ", "),
		"20 instances in 1 account × 2 regions: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if h.stderr.Len() != 0 {
		t.Errorf("stderr not empty on a quiet success:\n%s", h.stderr.String())
	}
	if h.awsOpts.Region != "eu-west-1" || h.awsOpts.RoleName != "" {
		t.Errorf("provider options %+v", h.awsOpts)
	}
}

func TestAuditJSONCounts(t *testing.T) {
	h := newHarness()
	code, run := h.runJSON(t, "--regions", "eu-west-1,us-east-1", "--accounts", acctA+","+acctB, "--role-name", "fleetdoctor-audit")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	if run.Summary.Instances != 40 || run.Summary.Accounts != 2 || run.Summary.AccountRegions != 4 {
		t.Errorf("summary %+v, want 40 instances in 2 accounts, 4 account-regions", run.Summary)
	}
	if !slices.Equal(run.Run.Scope.Regions, sampleRegions) || run.Run.Scope.RoleName != "fleetdoctor-audit" {
		t.Errorf("scope %+v", run.Run.Scope)
	}
	// Every instance with index 1 has its IMDS endpoint disabled, and only those.
	var got []string
	for _, f := range findingsOf(run, "imds_endpoint_disabled", checks.Fail) {
		got = append(got, f.Resource)
	}
	slices.Sort(got)
	if want := sampleIDs(2, 2, 1); !slices.Equal(got, want) {
		t.Errorf("imds_endpoint_disabled on %v, want %v", got, want)
	}
	byStatus := map[checks.Status]int{}
	for _, f := range run.Findings {
		byStatus[f.Status]++
	}
	for _, s := range []checks.Status{checks.Fail, checks.Error} {
		if run.Summary.ByStatus[s] != byStatus[s] {
			t.Errorf("summary counts %d %s, findings have %d", run.Summary.ByStatus[s], s, byStatus[s])
		}
	}
}

// TestPolicyFlagsReachTheChecks runs the sample fleet with each policy flag
// and checks that the finding it governs comes and goes.
func TestPolicyFlagsReachTheChecks(t *testing.T) {
	h := newHarness(acctA)
	count := func(args ...string) map[string]int {
		t.Helper()
		code, run := h.runJSON(t, append([]string{"--regions", "eu-west-1"}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d:\n%s", args, code, h.stderr.String())
		}
		n := map[string]int{}
		for _, f := range run.Findings {
			if f.Status == checks.Fail {
				n[f.Check]++
			}
		}
		return n
	}
	base := count()
	for _, tc := range []struct {
		check string
		args  []string
	}{
		{"imds_hop_limit_too_low_for_containers", []string{"--irsa-only-clusters", "prod"}},
		{"ssm_agent_outdated", []string{"--agent-min-version", "3.0.0.0"}},
		{"ssm_not_registered", []string{"--registration-grace", "3650d"}},
	} {
		if base[tc.check] == 0 {
			t.Errorf("the sample fleet has no %s finding to begin with", tc.check)
			continue
		}
		if got := count(tc.args...); got[tc.check] != 0 {
			t.Errorf("%v: still %d %s findings", tc.args, got[tc.check], tc.check)
		}
	}

	_, run := h.runJSON(t, "--regions", "eu-west-1", "--checks", "imds_endpoint_disabled", "--metrics-window", "7d")
	if !slices.Equal(run.Run.Scope.Checks, []string{"imds_endpoint_disabled"}) || run.Run.Scope.MetricWindow != (7*24*time.Hour).String() {
		t.Errorf("scope %+v", run.Run.Scope)
	}
	for _, f := range run.Findings {
		if f.Check != "imds_endpoint_disabled" && f.Check != checks.IncompleteID {
			t.Errorf("--checks imds_endpoint_disabled ran %s", f.Check)
		}
	}
}

func TestAuditDefaultRegion(t *testing.T) {
	h := newHarness(acctA)
	h.defaultRegion = "us-east-1"
	code, run := h.runJSON(t)
	if code != exitOK || !slices.Equal(run.Run.Scope.Regions, []string{"us-east-1"}) {
		t.Errorf("exit %d, regions %v; want 0 and the SDK's default region", code, run.Run.Scope.Regions)
	}

	h.defaultRegion = ""
	if code := h.run(t, "audit"); code != exitUsage || !strings.Contains(h.stderr.String(), "no region: pass --regions or set AWS_REGION") {
		t.Errorf("no region at all: exit %d, stderr:\n%s", code, h.stderr.String())
	}
	h.defaultRegion = "eu-wst-1"
	if code := h.run(t, "audit"); code != exitUsage || !strings.Contains(h.stderr.String(), "--regions") {
		t.Errorf("unknown default region: exit %d, stderr:\n%s", code, h.stderr.String())
	}
}

func TestAuditCSV(t *testing.T) {
	h := newHarness()
	args := []string{"--regions", "eu-west-1,us-east-1", "--accounts", acctA + "," + acctB, "--role-name", "audit"}
	_, run := h.runJSON(t, args...)
	if code := h.run(t, append([]string{"audit", "--format", "csv"}, args...)...); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, h.stderr.String())
	}
	rows, err := csv.NewReader(&h.stdout).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v", err)
	}
	if !slices.Equal(rows[0], report.CSVHeader) {
		t.Errorf("header %v", rows[0])
	}
	if len(rows)-1 != len(run.Findings) {
		t.Errorf("csv has %d rows, the run %d findings", len(rows)-1, len(run.Findings))
	}
}

func TestFailOn(t *testing.T) {
	h := newHarness(acctA)
	code := h.run(t, "audit", "--regions", "eu-west-1", "--fail-on", "high")
	if code != exitFindings {
		t.Fatalf("--fail-on high on the sample fleet: exit %d, want 1; stderr:\n%s", code, h.stderr.String())
	}
	if !strings.Contains(h.stderr.String(), "--fail-on high") {
		t.Errorf("stderr does not say why:\n%s", h.stderr.String())
	}
	if !strings.Contains(h.stdout.String(), "imds_endpoint_disabled") {
		t.Errorf("the report is still written when failing:\n%s", h.stdout.String())
	}
	for _, sev := range []string{"none", ""} {
		args := []string{"audit", "--regions", "eu-west-1"}
		if sev != "" {
			args = append(args, "--fail-on", sev)
		}
		if code := h.run(t, args...); code != exitOK {
			t.Errorf("--fail-on %q: exit %d, want 0", sev, code)
		}
	}
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--fail-on", "HIGH", "--quiet"); code != exitFindings || h.stderr.Len() != 0 {
		t.Errorf("--fail-on HIGH --quiet: exit %d, stderr %q", code, h.stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
		// touchesAWS is true when the error can only be found after
		// asking AWS who the caller is.
		touchesAWS bool
	}{
		{"bad region", []string{"--regions", "eu-west-1,eu-wst-1"}, []string{"--regions", `"eu-wst-1"`, "did you mean eu-west-1?"}, false},
		{"empty regions", []string{"--regions", ""}, []string{"--regions"}, false},
		{"bad account", []string{"--accounts", "12345"}, []string{"--accounts", `"12345"`}, false},
		{"bad format", []string{"--format", "xml"}, []string{"--format", "xml"}, false},
		{"bad severity", []string{"--fail-on", "severe"}, []string{"--fail-on", "severe"}, false},
		{"unknown check", []string{"--checks", "imds_endpoint_disabled,no_such_check"}, []string{"--checks", "no_such_check"}, false},
		{"zero concurrency", []string{"--concurrency", "0"}, []string{"--concurrency"}, false},
		{"bad window", []string{"--metrics-window", "two weeks"}, []string{"--metrics-window"}, false},
		{"window too long", []string{"--metrics-window", "500d"}, []string{"--metrics-window", "455d"}, false},
		{"bad grace", []string{"--registration-grace", "soon"}, []string{"--registration-grace"}, false},
		{"bad agent version", []string{"--agent-min-version", "latest"}, []string{"--agent-min-version"}, false},
		{"bad cluster", []string{"--irsa-only-clusters", "prod cluster"}, []string{"--irsa-only-clusters"}, false},
		{"bad role name", []string{"--role-name", "my role"}, []string{"--role-name"}, false},
		{"external id alone", []string{"--external-id", "abc123"}, []string{"--external-id", "--role-name"}, false},
		{"unknown flag", []string{"--regoins", "eu-west-1"}, []string{"--regoins"}, false},
		{"stray argument", []string{"eu-west-1"}, []string{"eu-west-1"}, false},
		{"foreign account", []string{"--regions", "eu-west-1", "--accounts", acctA + "," + acctB}, []string{"--role-name", acctB}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			code := h.run(t, append([]string{"audit"}, tc.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(h.stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, h.stderr.String())
				}
			}
			if h.stdout.Len() != 0 {
				t.Errorf("stdout not empty:\n%s", h.stdout.String())
			}
			if !tc.touchesAWS && h.providerCalls != 0 {
				t.Errorf("bad flags reached AWS; they must fail before any call")
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	h := newHarness()
	if code := h.run(t, "adit"); code != exitUsage || !strings.Contains(h.stderr.String(), "adit") {
		t.Errorf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
}

func TestMissingProfile(t *testing.T) {
	h := newHarness()
	h.providerErr = fmt.Errorf("loading AWS configuration: %w", config.SharedConfigProfileNotExistError{Profile: "prod"})
	if code := h.run(t, "audit", "--profile", "prod"); code != exitUsage || !strings.Contains(h.stderr.String(), "--profile") {
		t.Errorf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
}

// callerFails is a provider whose base credentials are rejected by STS.
type callerFails struct{ awsapi.Provider }

func (callerFails) Caller(context.Context) (awsapi.Identity, error) {
	return awsapi.Identity{}, fmt.Errorf("identifying the caller (sts:GetCallerIdentity): %w",
		&awsapi.CredentialsError{Err: errors.New("ExpiredToken: the security token included in the request is expired")})
}

func TestNoCredentials(t *testing.T) {
	h := newHarness()
	h.providerErr = &awsapi.CredentialsError{Err: errors.New("failed to refresh cached credentials, no EC2 IMDS role found")}
	code := h.run(t, "audit", "--regions", "eu-west-1")
	if code != exitAWS {
		t.Errorf("exit %d, want 3", code)
	}
	if !strings.Contains(h.stderr.String(), "configure credentials") {
		t.Errorf("stderr does not say how to configure credentials:\n%s", h.stderr.String())
	}

	h = newHarness()
	h.wrap = func(p awsapi.Provider) awsapi.Provider { return callerFails{p} }
	if code := h.run(t, "audit", "--regions", "eu-west-1"); code != exitAWS || !strings.Contains(h.stderr.String(), "configure credentials") {
		t.Errorf("rejected credentials: exit %d, stderr:\n%s", code, h.stderr.String())
	}
}

func TestAssumeRoleDeniedInOneAccount(t *testing.T) {
	h := newHarness()
	h.fleet.Account(acctB).AssumeRoleDenied = true
	args := []string{"--regions", "eu-west-1,us-east-1", "--accounts", acctA + "," + acctB, "--role-name", "fleetdoctor-audit"}
	code, run := h.runJSON(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d, want 0 (one unreachable account is a finding, not a failure); stderr:\n%s", code, h.stderr.String())
	}
	var denied bool
	for _, f := range findingsOf(run, checks.IncompleteID, checks.Error) {
		if f.Account == acctB && f.ResourceType == checks.TypeAccount {
			denied = true
		}
	}
	if !denied {
		t.Errorf("no ERROR finding for the account whose role was denied: %+v", run.Findings)
	}
	var auditedA, failsB int
	for _, f := range run.Findings {
		switch {
		case f.Status == checks.Fail && f.Account == acctA:
			auditedA++
		case f.Status == checks.Fail && f.Account == acctB:
			failsB++
		}
	}
	if auditedA == 0 || failsB != 0 {
		t.Errorf("%d FAIL findings in the reachable account, %d in the denied one; want some and none", auditedA, failsB)
	}
	// The audit_incomplete finding is high: a CI gate on high must not pass
	// a run that could not see part of the fleet.
	if code := h.run(t, append([]string{"audit", "--fail-on", "high"}, args...)...); code != exitFindings {
		t.Errorf("--fail-on high with an unreachable account: exit %d, want 1", code)
	}
}

func TestEveryAccountUnreachable(t *testing.T) {
	h := newHarness()
	h.fleet.Account(acctA).AssumeRoleDenied = true
	h.fleet.Account(acctB).AssumeRoleDenied = true
	code := h.run(t, "audit", "--regions", "eu-west-1", "--accounts", acctA+","+acctB, "--role-name", "fleetdoctor-audit")
	if code != exitAWS {
		t.Errorf("exit %d, want 3", code)
	}
	if e := h.stderr.String(); !strings.Contains(e, "no account could be audited") || !strings.Contains(e, acctB) {
		t.Errorf("stderr:\n%s", e)
	}
}

func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	h := newHarness(acctA)
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--format", "json", "--output", path); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, h.stderr.String())
	}
	if h.stdout.Len() != 0 {
		t.Errorf("stdout not empty with --output:\n%s", h.stdout.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var run audit.Run
	if err := json.Unmarshal(data, &run); err != nil || run.Summary.Instances != 10 {
		t.Errorf("output file is not the run document (%v): %d instances", err, run.Summary.Instances)
	}
	if !strings.Contains(h.stderr.String(), "wrote "+path) {
		t.Errorf("no note of the written file on stderr:\n%s", h.stderr.String())
	}
	assertOnly(t, dir, "run.json")

	// A failed run leaves the previous file untouched and no temporary file.
	if err := os.WriteFile(path, []byte("previous run\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.providerErr = &awsapi.CredentialsError{Err: errors.New("no credentials")}
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--format", "json", "--output", path); code != exitAWS {
		t.Errorf("exit %d, want 3", code)
	}
	if data, _ := os.ReadFile(path); string(data) != "previous run\n" {
		t.Errorf("a failed run changed the output file: %q", data)
	}
	assertOnly(t, dir, "run.json")

	// An unwritable path fails before the audit starts.
	h.providerErr = nil
	bad := filepath.Join(dir, "no-such-dir", "run.json")
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--output", bad); code != exitUsage ||
		!strings.Contains(h.stderr.String(), "--output") || h.providerCalls != 0 {
		t.Errorf("unwritable --output: exit %d, provider calls %d, stderr:\n%s", code, h.providerCalls, h.stderr.String())
	}
	if code := h.run(t, "audit", "--regions", "eu-west-1", "--output", dir); code != exitUsage {
		t.Errorf("--output naming a directory: exit %d, want 2", code)
	}
	assertOnly(t, dir, "run.json")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %v, want %v (a temporary file left behind?)", dir, got, names)
	}
}

func TestProgress(t *testing.T) {
	h := newHarness()
	args := []string{"--regions", "eu-west-1,us-east-1", "--accounts", acctA + "," + acctB, "--role-name", "r"}

	// Not a terminal: nothing on stderr.
	if code, _ := h.runJSON(t, args...); code != exitOK || h.stderr.Len() != 0 {
		t.Errorf("not a terminal: exit %d, stderr %q", code, h.stderr.String())
	}

	// A terminal: the bar is drawn on stderr, and stdout is still exactly
	// the document (runJSON fails on anything extra).
	h.terminal = true
	if code, _ := h.runJSON(t, args...); code != exitOK || !strings.Contains(h.stderr.String(), "auditing") {
		t.Errorf("terminal: exit %d, stderr %q", code, h.stderr.String())
	}
	if bytes.Contains(h.stdout.Bytes(), []byte("auditing")) {
		t.Errorf("progress leaked into stdout")
	}

	// --quiet silences it.
	if code, _ := h.runJSON(t, append(args, "--quiet")...); code != exitOK || h.stderr.Len() != 0 {
		t.Errorf("--quiet on a terminal: exit %d, stderr %q", code, h.stderr.String())
	}
}

// planOf parses args as audit flags and validates them.
func planOf(t *testing.T, args ...string) *auditPlan {
	t.Helper()
	fl := pflag.NewFlagSet("audit", pflag.ContinueOnError)
	f := bindAuditFlags(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
	p, err := f.plan(fl.Changed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanMapsFlags(t *testing.T) {
	p := planOf(t,
		"--regions", "eu-west-1, us-east-1", "--regions", "eu-west-1,ap-south-1",
		"--accounts", acctA, "--role-name", "audit/fleetdoctor", "--external-id", "ext-123", "--profile", "ops",
		"--checks", "imds_endpoint_disabled", "--concurrency", "3", "--metrics-window", "7d",
		"--agent-min-version", "3.3.0.0", "--registration-grace", "2h", "--irsa-only-clusters", "prod,staging",
		"--format", "CSV", "--fail-on", "medium", "--output", "run.csv", "--quiet",
	)
	o := p.opts
	if !slices.Equal(o.Regions, []string{"eu-west-1", "us-east-1", "ap-south-1"}) {
		t.Errorf("regions %v", o.Regions)
	}
	if !slices.Equal(o.Accounts, []string{acctA}) || o.RoleName != "audit/fleetdoctor" || o.Concurrency != 3 ||
		o.MetricWindow != 7*24*time.Hour {
		t.Errorf("options %+v", o)
	}
	c := o.Checks
	if c.AgentMinVersion != "3.3.0.0" || c.RegistrationGrace != 2*time.Hour ||
		!slices.Equal(c.IRSAOnlyClusters, []string{"prod", "staging"}) || !slices.Equal(c.Checks, []string{"imds_endpoint_disabled"}) {
		t.Errorf("check policy %+v", c)
	}
	if def := checks.DefaultConfig(); c.PendingGrace != def.PendingGrace {
		t.Errorf("policy lost its defaults: %+v", c)
	}
	if !reflect.DeepEqual(p.aws, awsapi.Options{Profile: "ops", Region: "eu-west-1", RoleName: "audit/fleetdoctor", ExternalID: "ext-123"}) {
		t.Errorf("provider options %+v", p.aws)
	}
	if p.format != report.FormatCSV || p.failOn != checks.Medium || p.output != "run.csv" || !p.quiet {
		t.Errorf("plan %+v", p)
	}
}

func TestPlanDefaults(t *testing.T) {
	p := planOf(t)
	def := checks.DefaultConfig()
	if p.format != report.FormatTable || p.failOn != "" || p.opts.Concurrency != 8 || p.opts.MetricWindow != 14*24*time.Hour ||
		p.opts.Checks.AgentMinVersion != def.AgentMinVersion || p.opts.Checks.RegistrationGrace != def.RegistrationGrace ||
		len(p.opts.Regions) != 0 || len(p.opts.Accounts) != 0 || !reflect.DeepEqual(p.aws, awsapi.Options{}) {
		t.Errorf("defaults: %+v", p)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "0d": 0} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-2d", "fortnight", "14 days"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) accepted", in)
		}
	}
}

func TestChecksCommand(t *testing.T) {
	h := newHarness()
	if code := h.run(t, "checks"); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, h.stderr.String())
	}
	for _, c := range catalogue() {
		if !strings.Contains(h.stdout.String(), c.ID) {
			t.Errorf("checks table lacks %s", c.ID)
		}
	}
	if !strings.Contains(h.stdout.String(), hostdiag.CheckIMDSBlockedByFirewall) {
		t.Errorf("checks table lacks the host checks")
	}
	if code := h.run(t, "checks", "--format", "json"); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var metas []checks.Meta
	if err := json.Unmarshal(h.stdout.Bytes(), &metas); err != nil || len(metas) != len(checks.Catalogue())+len(hostdiag.Catalogue()) {
		t.Errorf("checks json: %v, %d entries", err, len(metas))
	}
	if code := h.run(t, "checks", "--format", "csv"); code != exitUsage || !strings.Contains(h.stderr.String(), "--format") {
		t.Errorf("checks --format csv: exit %d", code)
	}
	if h.providerCalls != 0 {
		t.Errorf("listing checks touched AWS")
	}
}

func TestHelpAndVersion(t *testing.T) {
	h := newHarness()
	for _, args := range [][]string{{"--help"}, {"audit", "--help"}, {"checks", "--help"}} {
		if code := h.run(t, args...); code != exitOK || !strings.Contains(h.stdout.String(), "Examples:") {
			t.Errorf("%v: exit %d, output:\n%s", args, code, h.stdout.String())
		}
	}
	if code := h.run(t, "--version"); code != exitOK || !strings.HasPrefix(h.stdout.String(), "fleetdoctor version ") {
		t.Errorf("--version: exit %d, %q", code, h.stdout.String())
	}
}

func TestInterrupted(t *testing.T) {
	h := newHarness()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if Ctrl-C arrived before the audit finished
	code := run(ctx, []string{"audit", "--regions", "eu-west-1", "--format", "json"}, h.deps())
	if code != exitInterrupted || !strings.Contains(h.stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	if h.stdout.Len() != 0 {
		t.Errorf("an interrupted run wrote output:\n%s", h.stdout.String())
	}
}

// TestHostileTextStaysInert feeds attacker-chosen text (an EKS cluster tag,
// an error message) through the whole CLI and checks that no output stream
// carries a raw escape character.
func TestHostileTextStaysInert(t *testing.T) {
	h := newHarness(acctA)
	h.fleet.AddInstance(acctA, "eu-west-1", fake.InstanceSpec{
		ID: "i-0bad0000000000001", VPC: "vpc-00", Subnet: "vpc-00-nat", SGs: []string{"vpc-00-sg"}, Profile: "ssm-profile",
		HopLimit: 1, Tags: map[string]string{"eks:cluster-name": "\x1b[2J\x1b[31mprod\n=HYPERLINK(\"x\")"},
	})
	for _, format := range []string{"table", "csv", "json"} {
		code := h.run(t, "audit", "--regions", "eu-west-1", "--format", format)
		if code != exitOK {
			t.Fatalf("%s: exit %d:\n%s", format, code, h.stderr.String())
		}
		if !strings.Contains(h.stdout.String(), "i-0bad0000000000001") {
			t.Errorf("%s: the hostile instance is not reported", format)
		}
		if bytes.ContainsRune(h.stdout.Bytes(), 0x1b) {
			t.Errorf("%s output carries a raw ESC:\n%q", format, h.stdout.String())
		}
		// The detail echoes the tag, so the CSV shows it, escaped.
		if format == "csv" && !strings.Contains(h.stdout.String(), `\x1b[2J\x1b[31mprod\n=HYPERLINK`) {
			t.Errorf("csv does not show the tag escaped:\n%s", h.stdout.String())
		}
	}

	h.providerErr = errors.New("loading AWS configuration: bad value \x1b]0;pwned\x07")
	if code := h.run(t, "audit", "--regions", "eu-west-1"); code != exitAWS || bytes.ContainsRune(h.stderr.Bytes(), 0x1b) {
		t.Errorf("exit %d, stderr %q", code, h.stderr.String())
	}
}
