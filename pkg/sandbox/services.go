package sandbox

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/google/uuid"
)

// routes is the operation table, by service signing name.
func (s *Sandbox) routes() map[string]map[string]handler {
	return map[string]map[string]handler{
		"ec2":         s.ec2Routes(),
		"iam":         s.iamRoutes(),
		"sts":         s.stsRoutes(),
		"ssm":         s.ssmRoutes(),
		"monitoring":  s.cloudWatchRoutes(),
		"sns":         s.snsRoutes(),
		"securityhub": s.securityHubRoutes(),
		// Secrets Manager: see secretsmanager.go.
		"secretsmanager": s.secretsManagerRoutes(),
	}
}

// Operations lists the served operations as "service:Operation", sorted.
func (s *Sandbox) Operations() []string {
	var out []string
	for svc, ops := range s.handlers {
		for name := range ops {
			out = append(out, svc+":"+name)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Sandbox) cloudWatchRoutes() map[string]handler {
	return map[string]handler{
		"GetMetricData": op(func(c *call, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error) {
			if in.StartTime == nil || in.EndTime == nil {
				return nil, apiError("MissingParameter", "The parameters StartTime and EndTime are required.")
			}
			if !in.EndTime.After(*in.StartTime) {
				return nil, apiError("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
			}
			st := s.state(c.account, c.region)
			s.mu.RLock()
			defer s.mu.RUnlock()
			return st.clients.CloudWatch.GetMetricData(c.ctx, in)
		}),
		"PutMetricData": op(func(c *call, in *cloudwatch.PutMetricDataInput) (*cloudwatch.PutMetricDataOutput, error) {
			ns := aws.ToString(in.Namespace)
			if ns == "" || strings.HasPrefix(ns, "AWS/") {
				return nil, apiError("InvalidParameterValue", "The value %q for parameter Namespace is invalid: it is required and must not start with AWS/.", ns)
			}
			if len(in.MetricData) > 1000 {
				return nil, apiError("InvalidParameterValue", "The collection MetricData must not have a size greater than 1000.")
			}
			st := s.state(c.account, c.region)
			s.mu.Lock()
			defer s.mu.Unlock()
			st.metrics[ns] = append(st.metrics[ns], in.MetricData...)
			return &cloudwatch.PutMetricDataOutput{}, nil
		}),
	}
}

// PutMetrics returns the data points PutMetricData received in
// account/region for namespace.
func (s *Sandbox) PutMetrics(account, region, namespace string) []cwtypes.MetricDatum {
	st := s.state(account, region)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]cwtypes.MetricDatum(nil), st.metrics[namespace]...)
}

// Message is one SNS message the sandbox accepted.
type Message struct {
	TopicARN   string
	MessageID  string
	Subject    string
	Body       string
	Attributes map[string]string
}

type topics struct {
	mu       sync.Mutex
	arns     map[string]bool
	messages map[string][]Message
}

func newTopics() *topics { return &topics{arns: map[string]bool{}, messages: map[string][]Message{}} }

// Published returns the messages published to topicARN, oldest first.
func (s *Sandbox) Published(topicARN string) []Message {
	s.topics.mu.Lock()
	defer s.topics.mu.Unlock()
	return append([]Message(nil), s.topics.messages[topicARN]...)
}

// SNS limits.
const (
	snsMaxMessage    = 256 * 1024
	snsMaxSubject    = 100
	snsMaxAttributes = 10
)

func (s *Sandbox) snsRoutes() map[string]handler {
	return map[string]handler{
		"CreateTopic": op(func(c *call, in *sns.CreateTopicInput) (*sns.CreateTopicOutput, error) {
			name := aws.ToString(in.Name)
			if name == "" || len(name) > 256 || strings.IndexFunc(name, func(r rune) bool {
				return !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
			}) >= 0 || (strings.Contains(name, ".") && !strings.HasSuffix(name, ".fifo")) {
				return nil, apiError("InvalidParameter", "Invalid parameter: Topic Name")
			}
			a := fmt.Sprintf("arn:aws:sns:%s:%s:%s", c.region, c.account, name)
			s.topics.mu.Lock()
			s.topics.arns[a] = true
			s.topics.mu.Unlock()
			return &sns.CreateTopicOutput{TopicArn: aws.String(a)}, nil
		}),
		"ListTopics": op(func(c *call, in *sns.ListTopicsInput) (*sns.ListTopicsOutput, error) {
			s.topics.mu.Lock()
			var all []snstypes.Topic
			prefix := fmt.Sprintf("arn:aws:sns:%s:%s:", c.region, c.account)
			for _, a := range sortedKeys(s.topics.arns) {
				if strings.HasPrefix(a, prefix) {
					all = append(all, snstypes.Topic{TopicArn: aws.String(a)})
				}
			}
			s.topics.mu.Unlock()
			lo, hi, next, err := pageWindow(len(all), in.NextToken, nil, 100)
			if err != nil {
				return nil, err
			}
			return &sns.ListTopicsOutput{Topics: all[lo:hi], NextToken: next}, nil
		}),
		"Publish": op(s.publish),
	}
}

// publish validates a message the way SNS does and records it.
func (s *Sandbox) publish(c *call, in *sns.PublishInput) (*sns.PublishOutput, error) {
	a := aws.ToString(in.TopicArn)
	if a == "" {
		return nil, apiError("InvalidParameter", "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
	}
	msg := aws.ToString(in.Message)
	if msg == "" {
		return nil, apiError("InvalidParameter", "Invalid parameter: Empty message")
	}
	if len(msg) > snsMaxMessage {
		return nil, apiError("InvalidParameter", "Invalid parameter: Message too long")
	}
	if subj := aws.ToString(in.Subject); subj != "" {
		if len(subj) > snsMaxSubject || !utf8.ValidString(subj) || strings.ContainsAny(subj, "\r\n") || !isASCII(subj) {
			return nil, apiError("InvalidParameter", "Invalid parameter: Subject")
		}
	}
	if len(in.MessageAttributes) > snsMaxAttributes {
		return nil, apiError("InvalidParameter", "Invalid parameter: Number of message attributes [%d] exceeds the allowed maximum [%d].", len(in.MessageAttributes), snsMaxAttributes)
	}
	attrs := map[string]string{}
	for k, v := range in.MessageAttributes {
		dt := aws.ToString(v.DataType)
		if dt != "String" && dt != "Number" && dt != "String.Array" && dt != "Binary" && !strings.HasPrefix(dt, "Number.") && !strings.HasPrefix(dt, "String.") {
			return nil, apiError("ParameterValueInvalid", "The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", k)
		}
		attrs[k] = aws.ToString(v.StringValue)
	}
	s.topics.mu.Lock()
	defer s.topics.mu.Unlock()
	if !s.topics.arns[a] {
		return nil, apiError("NotFound", "Topic does not exist")
	}
	id := uuid.NewString()
	s.topics.messages[a] = append(s.topics.messages[a], Message{TopicARN: a, MessageID: id, Subject: aws.ToString(in.Subject), Body: msg, Attributes: attrs})
	return &sns.PublishOutput{MessageId: aws.String(id)}, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return false
		}
	}
	return true
}

// serveS3 hands S3 requests to gofakes3, counting them by method.
func (s *Sandbox) serveS3(w http.ResponseWriter, r *http.Request, known bool) {
	api := "s3:" + r.Method
	s.stats.add(api, func(a *APIStats) { a.Calls++ })
	if !known {
		s.stats.add(api, func(a *APIStats) { a.Errors++ })
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message><RequestId>%s</RequestId></Error>`, s.requestID())
		return
	}
	s.wait(r.Context())
	s.s3handler.ServeHTTP(w, r)
}

// S3Object returns an object's bytes from the sandbox's S3.
func (s *Sandbox) S3Object(bucket, key string) ([]byte, error) {
	obj, err := s.s3backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Contents.Close()
	return io.ReadAll(obj.Contents)
}

// CreateBucket makes a bucket in the sandbox's S3.
func (s *Sandbox) CreateBucket(name string) error { return s.s3backend.CreateBucket(name) }
