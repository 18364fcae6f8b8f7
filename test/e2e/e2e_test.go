package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// runOutput is the state machine's output: the validated input, the
// targets and the report (ResultPaths of the definition).
type runOutput struct {
	Input   service.Input           `json:"input"`
	Targets service.ResolveResponse `json:"targets"`
	Report  service.ReportResponse  `json:"report"`
}

// runDocument is the part of the run document (report/run.json) the
// scenarios check.
type runDocument struct {
	Run struct {
		ID string `json:"id"`
	} `json:"run"`
	Summary struct {
		Instances int `json:"instances"`
	} `json:"summary"`
	Findings []struct {
		Check    string `json:"check"`
		Status   string `json:"status"`
		Account  string `json:"account"`
		Region   string `json:"region"`
		Resource string `json:"resource"`
		Detail   string `json:"detail"`
	} `json:"findings"`
}

func succeeded(t *testing.T, ex *Execution) runOutput {
	t.Helper()
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s: %s\nstates: %v", ex.Status, ex.Error, tail(ex.Cause, 2000), ex.States)
	}
	var out runOutput
	if err := json.Unmarshal(ex.Output, &out); err != nil {
		t.Fatalf("execution output %s: %v", tail(string(ex.Output), 1000), err)
	}
	if out.Report.RunID == "" || out.Report.RunKey == "" {
		t.Fatalf("execution output has no report: %s", tail(string(ex.Output), 1000))
	}
	return out
}

func (d *deployment) runDoc(t *testing.T, out runOutput) runDocument {
	t.Helper()
	var doc runDocument
	if err := json.Unmarshal(d.object(t, out.Report.RunKey), &doc); err != nil {
		t.Fatalf("%s: %v", out.Report.RunKey, err)
	}
	return doc
}

// discovered checks that every account-region of the scope went through
// the Distributed Map once (audited or recorded as failed).
func (d *deployment) discovered(t *testing.T, ex *Execution, out runOutput) {
	t.Helper()
	want := len(d.world.Accounts) * len(d.world.Regions)
	if out.Targets.Count != want {
		t.Errorf("targets count %d, want %d account-regions", out.Targets.Count, want)
	}
	if got := ex.Entered(service.StateDiscover); got != want {
		t.Errorf("%s entered %d times, want %d (one per account-region, items from the targets file)", service.StateDiscover, got, want)
	}
}

func TestE2E(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: the e2e test builds five Lambdas, synthesizes the CDK app and runs the fleet several times (never skipped under CI=true)")
	}
	d := deploy(t, deployOptions{})

	t.Run("ScheduledAudit", func(t *testing.T) {
		ex := d.run(t, "e2e-scheduled-audit", `{"mode":"audit","dryRun":true}`)
		// What the runner changed in the definition (test only).
		t.Logf("runner rewrites: %s", strings.Join(ex.Rewrites, "; "))
		out := succeeded(t, ex)
		d.discovered(t, ex, out)
		for _, s := range []string{service.StateDiscoverFailed, service.StatePlanDiagnosis, service.StatePlanRemediation} {
			if n := ex.Entered(s); n != 0 {
				t.Errorf("an audit entered %s %d times", s, n)
			}
		}
		if !slices.Equal(ex.States[:2], []string{service.StateValidateInput, service.StateResolveTargets}) || ex.States[len(ex.States)-1] != service.StateSucceeded {
			t.Errorf("states %v: want ValidateInput, ResolveTargets … Done", ex.States)
		}
		if out.Input.RunID != "e2e-scheduled-audit" || out.Report.RunID != out.Input.RunID {
			t.Errorf("run id: input %q, report %q, want the execution name", out.Input.RunID, out.Report.RunID)
		}

		// The report set is in the bucket, and its run document agrees
		// with the state's summary.
		doc := d.runDoc(t, out)
		if doc.Summary.Instances != out.Report.Instances || out.Report.Instances == 0 {
			t.Errorf("run.json counts %d instances, the report response %d", doc.Summary.Instances, out.Report.Instances)
		}
		for _, k := range []string{out.Report.HTMLKey, out.Report.CSVKey, service.KeyLatest} {
			if len(d.object(t, k)) == 0 {
				t.Errorf("s3://%s/%s is empty", e2eBucket, k)
			}
		}
		html := string(d.object(t, out.Report.HTMLKey))
		if !strings.Contains(html, "<html") {
			t.Errorf("%s is not an HTML page", out.Report.HTMLKey)
		}
		failing := 0
		for _, f := range doc.Findings {
			if f.Status == "FAIL" {
				failing++
			}
		}
		if failing == 0 {
			t.Error("the demo fleet audited without a single FAIL finding")
		}

		// One Slack message to the webhook, with the headline.
		msgs := d.slack.messages()
		if len(msgs) != 1 {
			t.Fatalf("Slack received %d messages, want 1", len(msgs))
		}
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"blocks"`
		}
		if err := json.Unmarshal(msgs[0], &msg); err != nil {
			t.Fatalf("Slack message %s: %v", msgs[0], err)
		}
		if !strings.HasPrefix(msg.Text, "fleetdoctor: ") || len(msg.Blocks) < 3 || msg.Blocks[0].Type != "header" {
			t.Fatalf("Slack message = %s", tail(string(msgs[0]), 1500))
		}
		header, headline := msg.Blocks[0].Text.Text, msg.Blocks[1].Text.Text
		if !strings.Contains(header, "% healthy") || !strings.Contains(header, "(dry run)") {
			t.Errorf("Slack header %q: want the fleet's health, marked dry run", header)
		}
		wantScope := fmt.Sprintf("(%d account-regions), %d instances", out.Targets.Count, out.Report.Instances)
		if !strings.Contains(headline, wantScope) {
			t.Errorf("Slack headline %q: want %q", headline, wantScope)
		}

		// One SNS notification in the sandbox.
		pub := d.sb.Published(d.topicARN)
		if len(pub) != 1 {
			t.Fatalf("SNS received %d messages on %s, want 1", len(pub), d.topicARN)
		}
		if !strings.Contains(pub[0].Body+pub[0].Subject, out.Report.RunID) && !strings.Contains(pub[0].Body, fmt.Sprint(out.Report.Instances)) {
			t.Errorf("SNS message names neither the run nor its instances: %s", tail(pub[0].Body, 800))
		}
	})

	t.Run("RemediateThenAuditResolves", func(t *testing.T) {
		before := d.metadataTokens(t)
		var optional []string
		for id, tokens := range before {
			if tokens == "optional" {
				optional = append(optional, id)
			}
		}
		if len(optional) == 0 {
			t.Fatal("the demo fleet has no instance with IMDSv1 allowed")
		}
		ex := d.run(t, "e2e-remediate", `{"mode":"remediate","dryRun":false,"remediations":["imds_require_tokens"],"maxChanges":100}`)
		succeeded(t, ex)
		if ex.Entered(service.StatePlanRemediation) != 1 || ex.Entered(service.StateRemediateBatch) == 0 {
			t.Fatalf("states %s: want a remediation plan applied in batches", summarizeStates(ex.States))
		}
		if n := ex.Entered(service.StateRemediateFailed); n != 0 {
			t.Errorf("%d remediate batches failed", n)
		}
		after := d.metadataTokens(t)
		var fixed []string
		for _, id := range optional {
			if after[id] == "required" {
				fixed = append(fixed, id)
			}
		}
		if len(fixed) == 0 {
			t.Fatalf("none of the %d instances with IMDSv1 allowed has HttpTokens=required after the remediate run", len(optional))
		}
		for id, tokens := range before {
			if tokens == "required" && after[id] != "required" {
				t.Errorf("%s: HttpTokens %s → %s", id, tokens, after[id])
			}
		}
		t.Logf("%d of %d instances with IMDSv1 allowed now require tokens", len(fixed), len(optional))

		// The next audit reports them resolved.
		ex = d.run(t, "e2e-audit-after-remediate", `{"mode":"audit","dryRun":true}`)
		out := succeeded(t, ex)
		if out.Report.Resolved < len(fixed) {
			t.Errorf("the audit after the fix reports %d resolved findings, want at least the %d fixed instances", out.Report.Resolved, len(fixed))
		}
		doc := d.runDoc(t, out)
		isFixed := map[string]bool{}
		for _, id := range fixed {
			isFixed[id] = true
		}
		for _, f := range doc.Findings {
			if f.Check == "imds_v1_allowed" && f.Status == "FAIL" && isFixed[f.Resource] {
				t.Errorf("%s still fails imds_v1_allowed after the fix", f.Resource)
			}
		}
	})

	t.Run("InvalidInputRejectedAtFirstState", func(t *testing.T) {
		slackBefore := len(d.slack.messages())
		for _, c := range []struct {
			name, input, field string
		}{
			{"e2e-bad-mode", `{"mode":"explode"}`, "mode"},
			{"e2e-bad-account", `{"mode":"audit","scope":{"accounts":["12345"]}}`, "accounts"},
		} {
			invokedBefore := len(d.harness.Invoked())
			ex := d.run(t, c.name, c.input)
			if ex.Status != "FAILED" || ex.Error != service.ErrorInvalidInput {
				t.Errorf("%s: status %s error %q, want FAILED %s", c.input, ex.Status, ex.Error, service.ErrorInvalidInput)
			}
			if !strings.Contains(ex.Cause, c.field) {
				t.Errorf("%s: cause %q does not name the field %s", c.input, ex.Cause, c.field)
			}
			if want := []string{service.StateValidateInput, service.StateInputRejected}; !slices.Equal(ex.States, want) {
				t.Errorf("%s: states %v, want %v", c.input, ex.States, want)
			}
			if inv := d.harness.Invoked()[invokedBefore:]; !slices.Equal(inv, []string{"fleetdoctor-" + service.LambdaTargets}) {
				t.Errorf("%s: Lambdas invoked %v, want only the validation", c.input, inv)
			}
		}
		if n := len(d.slack.messages()); n != slackBefore {
			t.Errorf("a rejected input sent %d Slack messages", n-slackBefore)
		}
	})
}

// TestE2EUnassumableAccount: an account whose audit role cannot be
// assumed (sts:AssumeRole answers AccessDenied) is reported — an ERROR
// naming it in the run document — while the other accounts are audited
// and the execution succeeds.
func TestE2EUnassumableAccount(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: the e2e test builds five Lambdas, synthesizes the CDK app and runs the fleet (never skipped under CI=true)")
	}
	const denied = "222222222222"
	d := deploy(t, deployOptions{faults: []sandbox.Fault{{Service: "sts", Op: "AssumeRole", Account: denied, Kind: sandbox.FaultAccessDenied}}})
	if !slices.Contains(d.world.Accounts, denied) || len(d.world.Accounts) < 2 {
		t.Fatalf("the demo scenario's accounts are %v: want %s and another", d.world.Accounts, denied)
	}
	ex := d.run(t, "e2e-unassumable-account", `{"mode":"audit","dryRun":true}`)
	out := succeeded(t, ex)
	d.discovered(t, ex, out)
	doc := d.runDoc(t, out)
	deniedErrors := map[string]bool{}
	audited := map[string]int{}
	for _, f := range doc.Findings {
		if f.Account == denied {
			if f.Status != "ERROR" {
				t.Errorf("a %s finding for %s, whose role cannot be assumed: %+v", f.Status, denied, f)
				continue
			}
			deniedErrors[f.Region] = true
			if !strings.Contains(f.Detail, "AccessDenied") && !strings.Contains(f.Detail, "not authorized") && !strings.Contains(f.Detail, "assum") {
				t.Errorf("the ERROR for %s/%s does not say why: %q", denied, f.Region, f.Detail)
			}
			continue
		}
		if f.Status == "PASS" || f.Status == "FAIL" {
			audited[f.Account]++
		}
	}
	if len(deniedErrors) == 0 {
		t.Errorf("the run document has no ERROR for account %s", denied)
	}
	for _, a := range d.world.Accounts {
		if a != denied && audited[a] == 0 {
			t.Errorf("account %s was not audited (no PASS/FAIL findings)", a)
		}
	}
	if out.Report.Instances == 0 {
		t.Error("no instances audited at all")
	}
	if len(d.slack.messages()) != 1 {
		t.Errorf("Slack received %d messages, want 1 (the run is reported despite the account)", len(d.slack.messages()))
	}
}
