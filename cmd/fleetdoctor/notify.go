package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
	"github.com/slack-go/slack"
	"github.com/spf13/cobra"

	"github.com/fleetdoctor/fleetdoctor/pkg/notify"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// notifyFlags are the flags of `fleetdoctor notify`.
type notifyFlags struct {
	run, previous, reportURL string
	slackEnv                 bool
	slackSecret, snsTopic    string
	dryRun                   bool
}

// dryRunOutput is what `notify --dry-run` prints: the payloads it would
// send, as one JSON object.
type dryRunOutput struct {
	Slack slack.WebhookMessage `json:"slack"`
	SNS   dryRunSNS            `json:"sns"`
}

type dryRunSNS struct {
	Subject    string            `json:"subject"`
	Body       string            `json:"body"`
	Attributes map[string]string `json:"attributes"`
}

func newNotifyCmd(d deps) *cobra.Command {
	f := &notifyFlags{}
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Send a run's report to Slack and/or an SNS topic",
		Long: `notify reads a run document written by 'fleetdoctor audit --format json' and
sends its summary: a Slack message (Block Kit: health, failing instances by
severity, what is new and resolved since --previous, the failing checks with
a sample of resources, and a link to --report-url) and/or an SNS message
(a plain-text email body, and attributes critical, high, medium, low, info,
mode, dryRun, health, new and resolved for subscription filter policies).

The Slack target is either the environment (--slack-webhook-env):
` + notify.EnvSlackWebhookURL + `, or ` + notify.EnvSlackToken + ` (xoxb-…) with
` + notify.EnvSlackChannel + `; or a Secrets Manager secret (--slack-secret) whose
value is {"webhookUrl": "https://hooks.slack.com/services/…"} or
{"token": "xoxb-…", "channel": "C0123456789"}. Slack's 429 answers are
retried after their Retry-After. Secrets Manager and SNS are reached with the
SDK's usual configuration (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, …).

--dry-run sends nothing: it prints {"slack": <payload>, "sns": {subject,
body, attributes}} on stdout.

Exit codes:
  0  everything was sent (or printed, with --dry-run)
  2  bad flags, a run document that cannot be read, or a bad Slack target
  3  Slack, SNS or Secrets Manager could not be reached or refused`,
		Example: `  # Post to the webhook in FLEETDOCTOR_SLACK_WEBHOOK_URL
  fleetdoctor audit --format json --output today.json
  fleetdoctor notify --run today.json --previous yesterday.json --slack-webhook-env

  # Bot token from Secrets Manager, and an SNS topic
  fleetdoctor notify --run today.json --slack-secret fleetdoctor/slack \
    --sns-topic arn:aws:sns:eu-west-1:111122223333:fleetdoctor-reports \
    --report-url https://reports.example.com/today.html

  # Print what would be sent
  fleetdoctor notify --run today.json --dry-run | jq .slack`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNotify(cmd.Context(), d, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.run, "run", "", "the run document to report (written by 'audit --format json'; required)")
	fl.StringVar(&f.previous, "previous", "", "an earlier run document: report what is new and resolved since")
	fl.StringVar(&f.reportURL, "report-url", "", "https URL of the full report, linked from the messages")
	fl.BoolVar(&f.slackEnv, "slack-webhook-env", false, "post to Slack with the target in "+notify.EnvSlackWebhookURL+" (or "+notify.EnvSlackToken+" and "+notify.EnvSlackChannel+")")
	fl.StringVar(&f.slackSecret, "slack-secret", "", "post to Slack with the target in this Secrets Manager secret (name or ARN)")
	fl.StringVar(&f.snsTopic, "sns-topic", "", "publish the report to this SNS topic ARN")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the Slack payload and the SNS message instead of sending them")
	return cmd
}

func runNotify(ctx context.Context, d deps, f *notifyFlags) error {
	// Flags first, so a typo costs no file read.
	if f.run == "" {
		return usageError("--run: required (a run document written by 'fleetdoctor audit --format json')")
	}
	if f.slackEnv && f.slackSecret != "" {
		return usageError("--slack-webhook-env and --slack-secret: give one Slack target, not both")
	}
	if !f.dryRun && !f.slackEnv && f.slackSecret == "" && f.snsTopic == "" {
		return usageError("nothing to send: give --slack-webhook-env, --slack-secret or --sns-topic (or --dry-run to print the messages)")
	}
	if f.reportURL != "" {
		if u, err := url.Parse(f.reportURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return usageError("--report-url: %q is not an http(s) URL", report.TerminalSafe(f.reportURL, 200))
		}
	}
	var topic arn.ARN
	if f.snsTopic != "" {
		a, err := arn.Parse(f.snsTopic)
		if err != nil || a.Service != "sns" || a.Region == "" || a.Resource == "" || strings.Contains(a.Resource, ":") {
			return usageError("--sns-topic: %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", report.TerminalSafe(f.snsTopic, 200))
		}
		topic = a
	}
	var slackTarget *notify.SlackTarget
	if f.slackEnv {
		t, ok, err := notify.SlackTargetFromEnv(os.Getenv)
		if err != nil {
			return usageError("--slack-webhook-env: %v", err)
		}
		if !ok {
			return usageError("--slack-webhook-env: set %s, or %s and %s", notify.EnvSlackWebhookURL, notify.EnvSlackToken, notify.EnvSlackChannel)
		}
		slackTarget = &t
	}

	run, err := readPrevious(f.run)
	if err != nil {
		return usageError("--run: %s", report.TerminalSafe(err.Error(), 500))
	}
	if f.previous != "" {
		prev, err := readPrevious(f.previous)
		if err != nil {
			return usageError("--previous: %s", report.TerminalSafe(err.Error(), 500))
		}
		ch := report.Diff(prev, run)
		run.Changes = &ch
	}
	// A run document from audit changes nothing and records no dry run of
	// its own, so the messages report an audit.
	in := report.NotifyInput{Run: run, ReportURL: f.reportURL, Mode: "audit"}
	msg := report.SlackMessage(in)
	snsMsg := report.SNSMessageFor(in)

	if f.dryRun {
		out := dryRunOutput{Slack: msg, SNS: dryRunSNS{Subject: snsMsg.Subject, Body: snsMsg.Body, Attributes: snsMsg.Attributes}}
		enc := json.NewEncoder(d.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return usageError("writing the dry run: %v", err)
		}
		var would []string
		switch {
		case f.slackEnv:
			would = append(would, "post to the "+slackTarget.String())
		case f.slackSecret != "":
			would = append(would, "post to the Slack target in secret "+report.TerminalSafe(f.slackSecret, 200))
		}
		if f.snsTopic != "" {
			would = append(would, "publish to "+f.snsTopic)
		}
		if len(would) > 0 {
			fmt.Fprintf(d.stderr, "fleetdoctor: dry run: would %s\n", strings.Join(would, " and "))
		}
		return nil
	}

	var errs []error
	if f.slackSecret != "" {
		cfg, err := awsConfigFor(ctx, f.slackSecret)
		if err != nil {
			return usageError("--slack-secret: %v", err)
		}
		t, err := notify.SlackTargetFromSecret(ctx, secretsmanager.NewFromConfig(cfg), f.slackSecret)
		if err != nil {
			if isRemote(err) {
				return notifyError(ctx, fmt.Errorf("--slack-secret: %w", err))
			}
			return usageError("--slack-secret: %v", err)
		}
		slackTarget = &t
	}
	var sent []string
	if slackTarget != nil {
		if err := notify.PostSlack(ctx, *slackTarget, msg); err != nil {
			errs = append(errs, err)
		} else {
			sent = append(sent, "posted to the "+slackTarget.String())
		}
	}
	if f.snsTopic != "" {
		cfg, err := awsConfigFor(ctx, f.snsTopic)
		if err != nil {
			return usageError("--sns-topic: %v", err)
		}
		cfg.Region = topic.Region
		if err := notify.PublishSNS(ctx, sns.NewFromConfig(cfg), f.snsTopic, snsMsg); err != nil {
			errs = append(errs, err)
		} else {
			sent = append(sent, "published to "+f.snsTopic)
		}
	}
	if len(sent) > 0 {
		fmt.Fprintf(d.stderr, "fleetdoctor: %s: %s\n", strings.Join(sent, " and "), report.SummaryLine(run))
	}
	if len(errs) > 0 {
		return notifyError(ctx, errors.Join(errs...))
	}
	return nil
}

// awsConfigFor loads the SDK's default configuration, in the region of
// id when id is an ARN.
func awsConfigFor(ctx context.Context, id string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if a, err := arn.Parse(id); err == nil && a.Region != "" {
		opts = append(opts, config.WithRegion(a.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: give an ARN or set AWS_REGION")
	}
	return cfg, nil
}

// isRemote reports whether err came from AWS (an API error or a failed
// request) rather than from the secret's content.
func isRemote(err error) bool {
	var ae smithy.APIError
	var oe *smithy.OperationError
	return errors.As(err, &ae) || errors.As(err, &oe)
}

// notifyError is exit 3 for a delivery that failed, 130 when interrupted.
func notifyError(ctx context.Context, err error) *exitError {
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
	}
	return &exitError{code: exitAWS, err: err}
}
