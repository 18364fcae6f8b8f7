package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

const acct = "111122223333"

// startSandbox starts the embedded AWS sandbox on loopback.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	regions := []string{"eu-west-1"}
	w := &scenario.World{
		Fleet:         fake.SampleFleet([]string{acct}, regions, 1),
		CallerAccount: acct, AuditRole: "fleetdoctor-audit",
		Assumable: map[string][]string{acct: {"fleetdoctor-audit"}},
		Accounts:  []string{acct}, Regions: regions,
	}
	sb, err := sandbox.New(sandbox.Options{World: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

func TestSlackTargetFromSandboxSecret(t *testing.T) {
	sb := startSandbox(t)
	ctx := context.Background()
	c := secretsmanager.NewFromConfig(sb.Config("eu-west-1", 1))
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("fleetdoctor/slack"),
		SecretString: aws.String(`{"token":"xoxb-42-abc","channel":"C0123456789"}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := SlackTargetFromSecret(ctx, c, aws.ToString(out.ARN))
	if err != nil {
		t.Fatal(err)
	}
	if want := (SlackTarget{Token: "xoxb-42-abc", Channel: "C0123456789"}); got != want {
		t.Errorf("got %#v", got)
	}
	if _, err := SlackTargetFromSecret(ctx, c, "fleetdoctor/other"); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestPublishSNSToSandbox(t *testing.T) {
	sb := startSandbox(t)
	ctx := context.Background()
	c := sns.NewFromConfig(sb.Config("eu-west-1", 1))
	topic, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("fleetdoctor-reports")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(topic.TopicArn)

	run := &audit.Run{
		Run: audit.Info{ID: "run-sns", StartedAt: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC),
			Scope: audit.Scope{Accounts: []string{acct}, Regions: []string{"eu-west-1"}}},
		Summary: audit.Summary{Accounts: 1, AccountRegions: 1, Instances: 4, FailingInstances: 1, Health: 75,
			BySeverity:                 map[checks.Severity]int{checks.Critical: 1, checks.High: 2},
			FailingInstancesBySeverity: map[checks.Severity]int{checks.Critical: 1}},
		Findings: []checks.Finding{{Check: "ssm_not_registered", Status: checks.Fail, Severity: checks.Critical,
			Account: acct, Region: "eu-west-1", ResourceType: checks.TypeInstance, Resource: "i-0123456789abcdef0", Detail: "d"}},
	}
	m := report.SNSMessageFor(report.NotifyInput{Run: run, Mode: "audit", DryRun: true, ReportURL: "https://reports.example.com/r"})
	if err := PublishSNS(ctx, c, arn, m); err != nil {
		t.Fatal(err)
	}
	got := sb.Published(arn)
	if len(got) != 1 {
		t.Fatalf("%d messages published, want 1", len(got))
	}
	p := got[0]
	if p.Subject != m.Subject || !strings.Contains(p.Subject, "75.0% healthy") || p.Body != m.Body || !strings.Contains(p.Body, "i-0123456789abcdef0") {
		t.Errorf("published subject %q body:\n%s", p.Subject, p.Body)
	}
	want := map[string]string{"critical": "1", "high": "2", "medium": "0", "low": "0", "info": "0", "mode": "audit", "dryRun": "true", "health": "75.0"}
	for k, v := range want {
		if p.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, p.Attributes[k], v, p.Attributes)
		}
	}
	if len(p.Attributes) != len(want) {
		t.Errorf("attributes %v, want %v", p.Attributes, want)
	}
	if n := sb.Stats()["sns:Publish"].Calls; n != 1 {
		t.Errorf("%d Publish calls, want 1", n)
	}

	// Errors: a bad ARN is refused before any call; a missing topic names it.
	if err := PublishSNS(ctx, c, "not-an-arn", m); err == nil || !strings.Contains(err.Error(), "not-an-arn") {
		t.Errorf("bad ARN: %v", err)
	}
	missing := strings.Replace(arn, "fleetdoctor-reports", "nope", 1)
	if err := PublishSNS(ctx, c, missing, m); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("missing topic: %v", err)
	}
	if n := sb.Stats()["sns:Publish"].Calls; n != 2 {
		t.Errorf("%d Publish calls, want 2", n)
	}
}

func TestIsNumber(t *testing.T) {
	for v, want := range map[string]bool{"0": true, "98.7": true, "-1": true, "NaN": false, "Inf": false, "audit": false, "": false, "true": false, "+1": false} {
		if got := isNumber(v); got != want {
			t.Errorf("isNumber(%q) = %v", v, got)
		}
	}
}
