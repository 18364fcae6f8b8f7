package notify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// SNSPublishAPI is the SNS call PublishSNS makes; a *sns.Client satisfies
// it.
type SNSPublishAPI interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ SNSPublishAPI = (*sns.Client)(nil)

// PublishSNS publishes m (see report.SNSMessageFor) to topicARN. Each
// attribute whose value parses as a number is sent with the Number data
// type, so subscription filter policies can compare it numerically; the
// others are String. The SDK's retryer handles throttling.
func PublishSNS(ctx context.Context, api SNSPublishAPI, topicARN string, m report.SNSMessage) error {
	a, err := arn.Parse(topicARN)
	if err != nil || a.Service != "sns" || a.Resource == "" {
		return fmt.Errorf("SNS topic %q: not an SNS topic ARN", topicARN)
	}
	if m.Body == "" {
		return errors.New("SNS message: empty body")
	}
	if len(m.Body) > report.SNSMaxMessage {
		return fmt.Errorf("SNS message: body of %d bytes is over the %d byte limit", len(m.Body), report.SNSMaxMessage)
	}
	if len(m.Attributes) > report.SNSMaxAttributes {
		return fmt.Errorf("SNS message: %d attributes, SNS allows %d", len(m.Attributes), report.SNSMaxAttributes)
	}
	in := &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(m.Body)}
	if m.Subject != "" {
		in.Subject = aws.String(m.Subject)
	}
	if len(m.Attributes) > 0 {
		in.MessageAttributes = map[string]snstypes.MessageAttributeValue{}
		for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
			v := m.Attributes[k]
			dt := "String"
			if isNumber(v) {
				dt = "Number"
			}
			in.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: aws.String(dt), StringValue: aws.String(v)}
		}
	}
	if _, err := api.Publish(ctx, in); err != nil {
		return fmt.Errorf("publishing to %s: %w", topicARN, err)
	}
	return nil
}

// isNumber reports whether v is a finite decimal number SNS accepts as a
// Number attribute ("12", "-3", "98.7"; not "NaN" or "Inf").
func isNumber(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') && !math.IsInf(f, 0) && !math.IsNaN(f)
}
