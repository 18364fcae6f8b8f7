package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

const (
	acctA     = "111111111111"
	acctB     = "222222222222"
	auditRole = "FleetDoctorAudit"
)

var (
	regions = []string{"eu-west-1", "us-east-1"}
	t0      = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
)

// sampleWorld is pkg/fake's sample fleet as a sandbox world.
func sampleWorld(perRegion int) *scenario.World {
	f := fake.SampleFleet([]string{acctA, acctB}, regions, perRegion)
	return &scenario.World{
		Fleet:         f,
		CallerAccount: acctA,
		AuditRole:     auditRole,
		Assumable:     map[string][]string{acctA: {auditRole}, acctB: {auditRole}},
		Accounts:      []string{acctA, acctB},
		Regions:       regions,
	}
}

func start(t *testing.T, o sandbox.Options) *sandbox.Sandbox {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	sb, err := sandbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

func auditOpts() audit.Options {
	return audit.Options{
		Accounts: []string{acctA, acctB},
		Regions:  regions,
		Checks:   checks.DefaultConfig(),
		Clock:    func() time.Time { return t0 },
		RunID:    "fd-test",
	}
}

// findingsJSON is the run's findings and errors, stable for comparison.
func findingsJSON(t *testing.T, run *audit.Run) string {
	t.Helper()
	b, err := json.MarshalIndent(struct {
		F any
		E any
		S any
	}{run.Findings, run.Errors, run.Summary}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The same audit over HTTP with the real SDK clients and in process over
// the fake model gives identical findings: the wire adds nothing and loses
// nothing.
func TestAuditOverTheWireMatchesInProcess(t *testing.T) {
	ctx := context.Background()
	world := sampleWorld(30)
	want, err := audit.Audit(ctx, world.Fleet.Provider(), auditOpts())
	if err != nil {
		t.Fatal(err)
	}
	sb := start(t, sandbox.Options{World: sampleWorld(30)})
	o := auditOpts()
	o.RoleName = auditRole
	got, err := audit.Audit(ctx, sb.Provider(regions[0]), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Findings) == 0 {
		t.Fatal("no findings from the sample fleet")
	}
	if g, w := findingsJSON(t, got), findingsJSON(t, want); g != w {
		t.Errorf("over the wire differs from in process:\n%s", firstDiff(g, w))
	}
	stats := sb.Stats()
	// 2 accounts: one AssumeRole each, one GetCallerIdentity.
	if n := stats["sts:AssumeRole"].Calls; n != 2 {
		t.Errorf("sts:AssumeRole calls = %d, want 2", n)
	}
	// 30 instances per region fit one page: one DescribeInstances per account-region.
	if n := stats["ec2:DescribeInstances"].Calls; n != 4 {
		t.Errorf("ec2:DescribeInstances calls = %d, want 4", n)
	}
	// DescribeInstanceInformation pages by 50.
	if n := stats["ssm:DescribeInstanceInformation"].Calls; n != 4 {
		t.Errorf("ssm:DescribeInstanceInformation calls = %d, want 4", n)
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "line " + strconv.Itoa(i) + ":\n got: " + al[i] + "\nwant: " + bl[i]
		}
	}
	return "lengths differ"
}

// Throttling and faults change how long an audit takes, never what it
// finds: with 30% of calls throttled and 1% failing with 5xx the SDK's
// retries recover every call.
func TestFaultsDoNotChangeFindings(t *testing.T) {
	ctx := context.Background()
	clean := start(t, sandbox.Options{World: sampleWorld(120)})
	o := auditOpts()
	o.RoleName = auditRole
	want, err := audit.Audit(ctx, clean.Provider(regions[0]), o)
	if err != nil {
		t.Fatal(err)
	}
	faulty := start(t, sandbox.Options{World: sampleWorld(120), Seed: 7, Faults: []sandbox.Fault{
		{Rate: 0.30, Kind: sandbox.FaultThrottle},
		{Rate: 0.01 / 0.70, Kind: sandbox.FaultServerError},
	}})
	got, err := audit.Audit(ctx, fastRetries(faulty), o)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := findingsJSON(t, got), findingsJSON(t, want); g != w {
		t.Errorf("faults changed the findings:\n%s", firstDiff(g, w))
	}
	total := sandbox.Total(faulty.Stats())
	if total.Faulted == 0 {
		t.Fatal("no faults were injected")
	}
	if share := float64(total.Faulted) / float64(total.Calls); share < 0.2 || share > 0.45 {
		t.Errorf("faulted share %.2f of %d calls, want about 0.31", share, total.Calls)
	}
}

// fastRetries is a provider over sb whose SDK retries back off for at
// most 20 ms and have no retry quota, so a test with heavy injected faults
// recovers quickly; production keeps the SDK's adaptive mode.
func fastRetries(sb *sandbox.Sandbox) *awsapi.AWSProvider {
	cfg := sb.Config(regions[0], 0)
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 12
			o.MaxBackoff = 20 * time.Millisecond
			o.RateLimiter = ratelimit.None
		})
	}
	return awsapi.NewProviderFromConfig(cfg, awsapi.Options{RoleName: auditRole})
}

// An account whose audit role the scenario does not define is AccessDenied
// on sts:AssumeRole; the audit reports it and audits the other account.
func TestUnassumableRoleIsAccessDenied(t *testing.T) {
	w := sampleWorld(10)
	w.Assumable[acctB] = nil
	sb := start(t, sandbox.Options{World: w})
	o := auditOpts()
	o.RoleName = auditRole
	run, err := audit.Audit(context.Background(), sb.Provider(regions[0]), o)
	if err != nil {
		t.Fatal(err)
	}
	if run.Summary.UnreachableAccounts != 1 {
		t.Fatalf("unreachable accounts = %d, want 1", run.Summary.UnreachableAccounts)
	}
	found := false
	for _, e := range run.Errors {
		if e.Account == acctB && strings.Contains(e.Code+e.Message, "AccessDenied") {
			found = true
		}
	}
	if !found {
		t.Errorf("no AccessDenied error for %s in %+v", acctB, run.Errors)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func ec2Client(sb *sandbox.Sandbox, creds aws.CredentialsProvider) *ec2.Client {
	cfg := sb.Config(regions[0], 1)
	if creds != nil {
		cfg.Credentials = creds
	}
	return ec2.NewFromConfig(cfg)
}

func TestErrorsAreAWSShaped(t *testing.T) {
	ctx := context.Background()
	sb := start(t, sandbox.Options{World: sampleWorld(5)})
	c := ec2Client(sb, nil)

	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown instance: %v", err)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"bogus"}})
	if apiCode(err) != "InvalidInstanceID.Malformed" {
		t.Errorf("malformed instance id: %v", err)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1001)})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("MaxResults 1001: %v", err)
	}
	bad := ec2Client(sb, credentials.NewStaticCredentialsProvider("AKIANOTKNOWN00000000", "x", ""))
	_, err = bad.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if apiCode(err) != "AuthFailure" {
		t.Errorf("unknown key: %v", err)
	}
	stsc := sts.NewFromConfig(sb.Config(regions[0], 1))
	_, err = stsc.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acctB + ":role/NoSuchRole"), RoleSessionName: aws.String("t")})
	if apiCode(err) != "AccessDenied" && apiCode(err) != "ValidationError" {
		t.Errorf("unknown role: %v", err)
	}
	_, err = ssm.NewFromConfig(sb.Config(regions[0], 1)).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(51)})
	if apiCode(err) != "ValidationException" {
		t.Errorf("DescribeInstanceInformation MaxResults 51: %v", err)
	}
}

// Requests no SDK would send get AWS-style errors, never a 500 with a
// stack.
func TestMalformedRequests(t *testing.T) {
	sb := start(t, sandbox.Options{World: sampleWorld(2)})
	auth := "AWS4-HMAC-SHA256 Credential=" + sandbox.AccessKeyID + "/20261122/eu-west-1/%s/aws4_request, SignedHeaders=host, Signature=00"
	for _, tc := range []struct {
		name, service, body, target, ctype string
		wantCode                           string
	}{
		{"ec2 no action", "ec2", "Version=2016-11-15", "", "application/x-www-form-urlencoded", "MissingAction"},
		{"ec2 bad query", "ec2", "Action=DescribeInstances&%zz", "", "application/x-www-form-urlencoded", "MalformedQueryString"},
		{"ec2 unknown action", "ec2", "Action=LaunchRockets&Version=2016-11-15", "", "application/x-www-form-urlencoded", "InvalidAction"},
		{"ec2 bad max", "ec2", "Action=DescribeInstances&Version=2016-11-15&MaxResults=lots", "", "application/x-www-form-urlencoded", "InvalidParameterValue"},
		{"ssm garbage", "ssm", "{not json", "AmazonSSM.DescribeInstanceInformation", "application/x-amz-json-1.1", "SerializationException"},
		{"ssm no target", "ssm", "{}", "", "application/x-amz-json-1.1", "UnknownOperationException"},
		{"iam unknown", "iam", "Action=DeleteEverything&Version=2010-05-08", "", "application/x-www-form-urlencoded", "InvalidAction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, sb.URL()+"/", strings.NewReader(tc.body))
			req.Header.Set("Authorization", strings.Replace(auth, "%s", tc.service, 1))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode >= 500 {
				t.Errorf("status %d: %s", resp.StatusCode, b)
			}
			if !strings.Contains(string(b), tc.wantCode) {
				t.Errorf("status %d body %s, want code %s", resp.StatusCode, b, tc.wantCode)
			}
			if strings.Contains(string(b), "goroutine") || strings.Contains(string(b), ".go:") {
				t.Errorf("stack trace in answer: %s", b)
			}
		})
	}
}

func TestModifyMetadataOptionsPendingThenApplied(t *testing.T) {
	ctx := context.Background()
	now := t0
	sb := start(t, sandbox.Options{World: sampleWorld(5), Now: func() time.Time { return now }, MetadataApplyDelay: 10 * time.Second})
	c := ec2Client(sb, nil)
	id := "i-00000000000000001" // SampleFleet: account 0, region 0, instance 1 (IMDS disabled)
	out, err := c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpEndpoint: ec2types.InstanceMetadataEndpointStateEnabled, HttpTokens: ec2types.HttpTokensStateRequired})
	if err != nil {
		t.Fatal(err)
	}
	if out.InstanceMetadataOptions.State != ec2types.InstanceMetadataOptionsStatePending {
		t.Errorf("state after modify = %s, want pending", out.InstanceMetadataOptions.State)
	}
	read := func() ec2types.InstanceMetadataOptionsResponse {
		d, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Reservations[0].Instances[0].MetadataOptions
	}
	if mo := read(); mo.State != "pending" || mo.HttpEndpoint != "enabled" {
		t.Errorf("before the delay: %+v", mo)
	}
	now = now.Add(11 * time.Second)
	if mo := read(); mo.State != "applied" || mo.HttpEndpoint != "enabled" || mo.HttpTokens != "required" {
		t.Errorf("after the delay: %+v", mo)
	}
	_, err = c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String(id), HttpPutResponseHopLimit: aws.Int32(65)})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("hop limit 65: %v", err)
	}
}

func TestSNSAndS3(t *testing.T) {
	ctx := context.Background()
	sb := start(t, sandbox.Options{World: sampleWorld(1)})
	cfg := sb.Config(regions[0], 1)
	sc := sns.NewFromConfig(cfg)
	topic, err := sc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("fleetdoctor")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Subject: aws.String("fleet health 97%"), Message: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	_, err = sc.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Subject: aws.String(strings.Repeat("x", 101)), Message: aws.String("hello")})
	if apiCode(err) != "InvalidParameter" {
		t.Errorf("101-char subject: %v", err)
	}
	_, err = sc.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(strings.Repeat("x", 256*1024+1))})
	if apiCode(err) != "InvalidParameter" {
		t.Errorf("message over 256 KiB: %v", err)
	}
	if msgs := sb.Published(*topic.TopicArn); len(msgs) != 1 || msgs[0].Body != "hello" {
		t.Errorf("published = %+v", msgs)
	}

	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reports")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String("runs/1.json"), Body: strings.NewReader(`{"ok":true}`)}); err != nil {
		t.Fatal(err)
	}
	b, err := sb.S3Object("reports", "runs/1.json")
	if err != nil || string(b) != `{"ok":true}` {
		t.Errorf("object = %q, %v", b, err)
	}
}

func TestStatsEndpoint(t *testing.T) {
	sb := start(t, sandbox.Options{World: sampleWorld(1)})
	_, _ = ec2Client(sb, nil).DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
	resp, err := http.Get(sb.URL() + "/_sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		APIs map[string]sandbox.APIStats `json:"apis"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.APIs["ec2:DescribeVpcs"], sandbox.APIStats{Calls: 1}) {
		t.Errorf("stats = %+v", got.APIs)
	}
}
