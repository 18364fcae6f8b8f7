package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// Bad input is refused with the flag or field named, before AWS is
// touched and without a journal being written.
func TestFixRejectsBadInput(t *testing.T) {
	good := writePolicy(t, "version: 1\nremediations:\n  imds_enable_endpoint: {enabled: true}\n")
	journal := filepath.Join(t.TempDir(), "journal")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no policy":        {[]string{"fix"}, "--policy: required"},
		"missing file":     {[]string{"fix", "--policy", "/nonexistent/policy.yaml"}, "--policy"},
		"unknown id":       {[]string{"fix", "--policy", writePolicy(t, "version: 1\nremediations:\n  imds_fix_everything: {enabled: true}\n")}, "/remediations/imds_fix_everything"},
		"zero cap":         {[]string{"fix", "--policy", writePolicy(t, "version: 1\nremediations:\n  imds_enable_endpoint: {enabled: true}\ncaps: {perRun: 0}\n")}, "/caps/perRun"},
		"nothing enabled":  {[]string{"fix", "--policy", writePolicy(t, "version: 1\n")}, "enables no remediation"},
		"bad run id":       {[]string{"fix", "--policy", good, "--run-id", "../etc"}, "--run-id"},
		"bad role":         {[]string{"fix", "--policy", good, "--automation-role", "admin"}, "--automation-role"},
		"bad format":       {[]string{"fix", "--policy", good, "--format", "csv"}, "--format"},
		"rollback no run":  {[]string{"rollback", "fix-never-ran", "--journal", journal}, "no journal for run fix-never-ran"},
		"rollback bad id":  {[]string{"rollback", "a/b"}, "RUN_ID"},
		"rollback no args": {[]string{"rollback"}, "accepts 1 arg"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness()
			if code := h.run(t, tc.args...); code != exitUsage || !strings.Contains(h.stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q", code, h.stderr.String(), exitUsage, tc.want)
			}
			if h.providerCalls != 0 {
				t.Error("bad input reached AWS")
			}
			if _, err := os.Stat(journal); err == nil {
				t.Error("bad input created a journal")
			}
		})
	}
}

// Plan, apply and rollback against one sandbox (as with 'sandbox serve'):
// the plan changes nothing; the apply changes exactly the planned
// instances and journals them; the rollback puts the before-values back;
// a second rollback changes nothing.
func TestFixPlanApplyRollback(t *testing.T) {
	sb, w, h := serveDemo(t)
	scope := []string{"--accounts", w.Accounts[0], "--regions", w.Regions[0], "--role-name", w.AuditRole, "-q"}
	pol := writePolicy(t, "version: 1\nremediations:\n  imds_enable_endpoint: {enabled: true}\n")
	journal := t.TempDir()
	modify := func() int { return sb.Stats()["ec2:ModifyInstanceMetadataOptions"].OK() }
	disabled := func() int {
		t.Helper()
		code, run := h.runJSON(t, append([]string{"--checks", "imds_endpoint_disabled"}, scope...)...)
		if code != exitOK && code != exitFindings {
			t.Fatalf("audit exit %d: %s", code, h.stderr.String())
		}
		return countFindings(run, "imds_endpoint_disabled")
	}
	n := disabled()
	if n == 0 {
		t.Fatal("the demo scenario should have instances with the endpoint disabled")
	}

	if code := h.run(t, append([]string{"fix", "--policy", pol}, scope...)...); code != exitOK {
		t.Fatalf("plan: exit %d: %s", code, h.stderr.String())
	}
	if out := h.stdout.String(); !strings.Contains(out, "HttpEndpoint: disabled → enabled") || !strings.Contains(out, "Nothing was changed") {
		t.Errorf("plan output:\n%s", out)
	}
	if modify() != 0 {
		t.Fatal("fix without --apply changed the fleet")
	}

	if code := h.run(t, append([]string{"fix", "--policy", pol, "--apply", "--run-id", "r1", "--journal", journal}, scope...)...); code != exitOK {
		t.Fatalf("apply: exit %d: %s\n%s", code, h.stderr.String(), h.stdout.String())
	}
	if !strings.Contains(h.stdout.String(), "Applied run r1") {
		t.Errorf("apply output:\n%s", h.stdout.String())
	}
	if got := modify(); got != n {
		t.Errorf("ModifyInstanceMetadataOptions succeeded %d times for %d planned changes", got, n)
	}
	if got := disabled(); got != 0 {
		t.Errorf("%d instances still have the endpoint disabled after the apply", got)
	}

	if code := h.run(t, "rollback", "r1", "--journal", journal, "--role-name", w.AuditRole); code != exitOK {
		t.Fatalf("rollback: exit %d: %s\n%s", code, h.stderr.String(), h.stdout.String())
	}
	if got := disabled(); got != n {
		t.Errorf("after the rollback %d instances have the endpoint disabled, want the %d from before", got, n)
	}
	calls := modify()
	if code := h.run(t, "rollback", "r1", "--journal", journal, "--role-name", w.AuditRole); code != exitOK {
		t.Fatalf("second rollback: exit %d: %s", code, h.stderr.String())
	}
	if modify() != calls {
		t.Error("a second rollback changed the fleet again")
	}
}

func countFindings(run *audit.Run, check string) int {
	n := 0
	for _, f := range run.Findings {
		if f.Check == check {
			n++
		}
	}
	return n
}

// A plan that covers an account the audit role cannot enter is not
// applied at all: the error names the account and nothing changes.
func TestFixApplyRefusesAnUnreachableAccount(t *testing.T) {
	sb, w, h := serveDemo(t)
	const stranger = "999999999999" // not a scenario account: AssumeRole is denied
	pol := writePolicy(t, "version: 1\nremediations:\n  imds_enable_endpoint: {enabled: true}\n")
	journal := filepath.Join(t.TempDir(), "journal")
	code := h.run(t, "fix", "--policy", pol, "--apply", "--journal", journal, "-q",
		"--accounts", w.Accounts[0]+","+stranger, "--regions", w.Regions[0], "--role-name", w.AuditRole)
	if code != exitAWS || !strings.Contains(h.stderr.String(), stranger) {
		t.Errorf("exit %d, stderr %q; want exit %d naming %s", code, h.stderr.String(), exitAWS, stranger)
	}
	if n := sb.Stats()["ec2:ModifyInstanceMetadataOptions"].Calls + sb.Stats()["ssm:StartAutomationExecution"].Calls; n != 0 {
		t.Errorf("%d changing calls for a plan that should not be applied", n)
	}
	if _, err := os.Stat(journal); err == nil {
		t.Error("a journal was written for a plan that was not applied")
	}
}

// The README's walk-through policy stays valid.
func TestSandboxPolicyExampleValidates(t *testing.T) {
	h := newHarness()
	if code := h.run(t, "policy", "validate", "../../examples/sandbox-policy.yaml"); code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
}

// serveDemo serves the demo scenario on loopback, as 'sandbox serve' does,
// and returns a harness whose provider reaches it over HTTP.
func serveDemo(t *testing.T) (*sandbox.Sandbox, *scenario.World, *harness) {
	t.Helper()
	w, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{World: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	h := newHarness()
	h.wrap = func(awsapi.Provider) awsapi.Provider { return sb.Provider(w.Regions[0]) }
	return sb, w, h
}
