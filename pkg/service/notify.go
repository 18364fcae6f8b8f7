package service

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/fleetdoctor/fleetdoctor/pkg/notify"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// Names in ReportResponse.Notified.
const (
	NotifiedSlack       = "slack"
	NotifiedSNS         = "sns"
	NotifiedSecurityHub = "securityhub"
)

// notify sends the run's Slack message and SNS notification (when the
// deployment configures them) and returns what succeeded and why the rest
// failed. Errors never carry the webhook URL or token (pkg/notify's
// errors do not).
func (s *Service) notify(ctx context.Context, in report.NotifyInput) (notified, errs []string) {
	fail := func(what string, err error) { errs = append(errs, what+": "+capText(err.Error(), maxMessage)) }
	if s.Config.SlackSecretARN != "" || s.Config.Slack != nil {
		err := s.postSlack(ctx, in)
		if err != nil {
			fail(NotifiedSlack, err)
		} else {
			notified = append(notified, NotifiedSlack)
		}
	}
	if s.Config.SNSTopicARN != "" {
		err := s.publishSNS(ctx, in)
		if err != nil {
			fail(NotifiedSNS, err)
		} else {
			notified = append(notified, NotifiedSNS)
		}
	}
	return notified, errs
}

func (s *Service) postSlack(ctx context.Context, in report.NotifyInput) error {
	if s.Config.SlackSecretARN == "" {
		return notify.PostSlack(ctx, *s.Config.Slack, report.SlackMessage(in), s.SlackOptions...)
	}
	if s.Secrets == nil {
		return errors.New("no Secrets Manager client configured")
	}
	target, err := notify.SlackTargetFromSecret(ctx, s.Secrets, s.Config.SlackSecretARN)
	if err != nil {
		return err
	}
	return notify.PostSlack(ctx, target, report.SlackMessage(in), s.SlackOptions...)
}

func (s *Service) publishSNS(ctx context.Context, in report.NotifyInput) error {
	if s.SNS == nil {
		return errors.New("no SNS client configured")
	}
	a, err := arn.Parse(s.Config.SNSTopicARN)
	if err != nil {
		return err
	}
	// A topic is published to in its own region.
	return notify.PublishSNS(ctx, s.SNS(a.Region), s.Config.SNSTopicARN, report.SNSMessageFor(in))
}
