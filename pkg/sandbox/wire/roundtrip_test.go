package wire

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

const testRequestID = "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE"

// Namespaces of the awsquery services.
const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
	snsNS = "http://sns.amazonaws.com/doc/2010-03-31/"
)

func ec2Handler(w http.ResponseWriter, r *http.Request, body []byte, ex *exchange) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		ex.gotErr = err
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	op := form.Get("Action")
	serveDecoded(w, ex, op,
		func(in any) error { return DecodeQuery(EC2Query, form, in) },
		func(out any) ([]byte, error) { return EncodeEC2(op, out, testRequestID) },
		"text/xml;charset=UTF-8",
		func(e *Error) []byte { return EncodeEC2Error(e.Code, e.Message, testRequestID) })
}

func queryHandler(ns string) protocolHandler {
	return func(w http.ResponseWriter, r *http.Request, body []byte, ex *exchange) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			ex.gotErr = err
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		op := form.Get("Action")
		serveDecoded(w, ex, op,
			func(in any) error { return DecodeQuery(AWSQuery, form, in) },
			func(out any) ([]byte, error) { return EncodeQuery(op, ns, out, testRequestID) },
			"text/xml",
			func(e *Error) []byte { return EncodeQueryError(ns, e.Code, e.Message, testRequestID, true) })
	}
}

func jsonHandler(w http.ResponseWriter, r *http.Request, body []byte, ex *exchange) {
	op := opFromTarget(r.Header.Get("X-Amz-Target"))
	serveDecoded(w, ex, op,
		func(in any) error { return DecodeJSON(body, in) },
		EncodeJSON,
		"application/x-amz-json-1.1",
		func(e *Error) []byte { return EncodeJSONError(e.Code, e.Message) })
}

func cborHandler(w http.ResponseWriter, r *http.Request, body []byte, ex *exchange) {
	_, op, _ := strings.Cut(r.URL.Path, "/operation/")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	serveDecoded(w, ex, op,
		func(in any) error { return DecodeCBOR(body, in) },
		EncodeCBOR,
		"application/cbor",
		func(e *Error) []byte { return EncodeCBORError(e.Code, e.Message) })
}

func ec2Client(h *harness) *ec2.Client {
	return ec2.NewFromConfig(h.awsConfig(), func(o *ec2.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
}

func iamClient(h *harness) *iam.Client {
	return iam.NewFromConfig(h.awsConfig(), func(o *iam.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
}

func stsClient(h *harness) *sts.Client {
	return sts.NewFromConfig(h.awsConfig(), func(o *sts.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
}

func snsClient(h *harness) *sns.Client {
	return sns.NewFromConfig(h.awsConfig(), func(o *sns.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
}

func ssmClient(h *harness) *ssm.Client {
	return ssm.NewFromConfig(h.awsConfig(), func(o *ssm.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
}

func cloudwatchClient(h *harness) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(h.awsConfig(), func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(h.srv.URL) })
}

func TestEC2RoundTrip(t *testing.T) {
	h := newHarness(t, ec2Handler)
	c := ec2Client(h)
	roundTrip(t, h, "DescribeInstances", c.DescribeInstances)
	roundTrip(t, h, "GetInstanceMetadataDefaults", c.GetInstanceMetadataDefaults)
	roundTrip(t, h, "DescribeVpcs", c.DescribeVpcs)
	roundTrip(t, h, "DescribeVpcAttribute", c.DescribeVpcAttribute)
	roundTrip(t, h, "DescribeSubnets", c.DescribeSubnets)
	roundTrip(t, h, "DescribeRouteTables", c.DescribeRouteTables)
	roundTrip(t, h, "DescribeVpcEndpoints", c.DescribeVpcEndpoints)
	roundTrip(t, h, "DescribeSecurityGroups", c.DescribeSecurityGroups)
	roundTrip(t, h, "DescribeNetworkAcls", c.DescribeNetworkAcls)
	roundTrip(t, h, "ModifyInstanceMetadataOptions", c.ModifyInstanceMetadataOptions)
	roundTrip(t, h, "ModifyInstanceMetadataDefaults", c.ModifyInstanceMetadataDefaults)
	roundTrip(t, h, "AssociateIamInstanceProfile", c.AssociateIamInstanceProfile)
	roundTrip(t, h, "DescribeIamInstanceProfileAssociations", c.DescribeIamInstanceProfileAssociations)
}

func TestIAMRoundTrip(t *testing.T) {
	h := newHarness(t, queryHandler(iamNS))
	c := iamClient(h)
	roundTrip(t, h, "GetInstanceProfile", c.GetInstanceProfile)
	roundTrip(t, h, "GetRole", c.GetRole)
	roundTrip(t, h, "ListAttachedRolePolicies", c.ListAttachedRolePolicies)
	roundTrip(t, h, "ListRolePolicies", c.ListRolePolicies)
	roundTrip(t, h, "GetRolePolicy", c.GetRolePolicy)
	roundTrip(t, h, "GetPolicy", c.GetPolicy)
	roundTrip(t, h, "GetPolicyVersion", c.GetPolicyVersion)
	roundTrip(t, h, "SimulatePrincipalPolicy", c.SimulatePrincipalPolicy)
}

func TestSTSRoundTrip(t *testing.T) {
	h := newHarness(t, queryHandler(stsNS))
	c := stsClient(h)
	roundTrip(t, h, "GetCallerIdentity", c.GetCallerIdentity)
	roundTrip(t, h, "AssumeRole", c.AssumeRole)
}

func TestSNSRoundTrip(t *testing.T) {
	h := newHarness(t, queryHandler(snsNS))
	c := snsClient(h)
	roundTrip(t, h, "Publish", c.Publish)
	roundTrip(t, h, "CreateTopic", c.CreateTopic)
}

func TestSSMRoundTrip(t *testing.T) {
	h := newHarness(t, jsonHandler)
	c := ssmClient(h)
	roundTrip(t, h, "DescribeInstanceInformation", c.DescribeInstanceInformation)
	roundTrip(t, h, "GetServiceSetting", c.GetServiceSetting)
	roundTrip(t, h, "UpdateServiceSetting", c.UpdateServiceSetting)
	roundTrip(t, h, "SendCommand", c.SendCommand)
	roundTrip(t, h, "ListCommandInvocations", c.ListCommandInvocations)
	roundTrip(t, h, "GetCommandInvocation", c.GetCommandInvocation)
	roundTrip(t, h, "StartAutomationExecution", c.StartAutomationExecution)
	roundTrip(t, h, "GetAutomationExecution", c.GetAutomationExecution)
}

func TestCloudWatchRoundTrip(t *testing.T) {
	h := newHarness(t, cborHandler)
	c := cloudwatchClient(h)
	roundTrip(t, h, "GetMetricData", c.GetMetricData)
	roundTrip(t, h, "PutMetricData", c.PutMetricData)

	// PutMetricData bodies of 10 KiB and more arrive gzip-compressed
	// (Content-Encoding: gzip); force that here so the server side of the
	// exchange is exercised too.
	var sawGzip atomic.Bool
	gz := newHarness(t, func(w http.ResponseWriter, r *http.Request, body []byte, ex *exchange) {
		sawGzip.Store(r.Header.Get("Content-Encoding") == "gzip")
		cborHandler(w, r, body, ex)
	})
	cz := cloudwatch.NewFromConfig(gz.awsConfig(), func(o *cloudwatch.Options) {
		o.BaseEndpoint = aws.String(gz.srv.URL)
		o.RequestMinCompressSizeBytes = 1
	})
	roundTrip(t, gz, "PutMetricData", cz.PutMetricData)
	if !sawGzip.Load() {
		t.Error("PutMetricData was not compressed")
	}
}

// errorCase makes the server answer one call with an error and checks the
// client sees the same code and message.
func errorCase(t *testing.T, h *harness, code, message string, call func(context.Context) error) {
	t.Run(code, func(t *testing.T) {
		h.expect(&exchange{errOut: &Error{Code: code, Message: message}})
		err := call(context.Background())
		ex := h.done()
		if ex.gotErr != nil {
			t.Fatalf("server: %v", ex.gotErr)
		}
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("client error %T %v is not a smithy.APIError", err, err)
		}
		if apiErr.ErrorCode() != code || apiErr.ErrorMessage() != message {
			t.Errorf("client saw %q / %q, want %q / %q", apiErr.ErrorCode(), apiErr.ErrorMessage(), code, message)
		}
	})
}

// errMessage exercises escaping in every encoder.
const errMessage = `The <instance> "i-0abc" & 'friends' were not found — ünïcödé`

func TestErrors(t *testing.T) {
	t.Run("EC2", func(t *testing.T) {
		h := newHarness(t, ec2Handler)
		c := ec2Client(h)
		for _, code := range []string{"InvalidInstanceID.NotFound", "RequestLimitExceeded", "UnauthorizedOperation"} {
			errorCase(t, h, code, errMessage, func(ctx context.Context) error {
				_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
				return err
			})
		}
	})
	t.Run("IAM", func(t *testing.T) {
		h := newHarness(t, queryHandler(iamNS))
		c := iamClient(h)
		for _, code := range []string{"NoSuchEntity", "Throttling", "AccessDenied"} {
			errorCase(t, h, code, errMessage, func(ctx context.Context) error {
				_, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("r")})
				return err
			})
		}
	})
	t.Run("STS", func(t *testing.T) {
		h := newHarness(t, queryHandler(stsNS))
		c := stsClient(h)
		for _, code := range []string{"ExpiredToken", "AccessDenied"} {
			errorCase(t, h, code, errMessage, func(ctx context.Context) error {
				_, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
				return err
			})
		}
	})
	t.Run("SNS", func(t *testing.T) {
		h := newHarness(t, queryHandler(snsNS))
		c := snsClient(h)
		for _, code := range []string{"NotFound", "InvalidParameter", "Throttled"} {
			errorCase(t, h, code, errMessage, func(ctx context.Context) error {
				_, err := c.Publish(ctx, &sns.PublishInput{Message: aws.String("m"), TopicArn: aws.String("arn:aws:sns:us-east-1:111122223333:t")})
				return err
			})
		}
	})
	t.Run("SSM", func(t *testing.T) {
		h := newHarness(t, jsonHandler)
		c := ssmClient(h)
		// Modeled errors with a "Message" member, with a "message" member,
		// and an unmodeled error.
		for _, code := range []string{"InvalidInstanceId", "HierarchyLevelLimitExceededException", "ThrottlingException", "AccessDeniedException"} {
			errorCase(t, h, code, errMessage, func(ctx context.Context) error {
				_, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
				return err
			})
		}
	})
	t.Run("CloudWatch", func(t *testing.T) {
		h := newHarness(t, cborHandler)
		c := cloudwatchClient(h)
		for _, code := range []string{"InvalidNextToken", "ConcurrentModificationException", "ThrottlingException"} {
			errorCase(t, h, code, errMessage, func(ctx context.Context) error {
				_, err := c.ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
				return err
			})
		}
	})
}
