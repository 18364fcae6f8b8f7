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
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
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

// Run Command over the wire: the diagnose document reaches Online agents,
// whose report comes back through ListCommandInvocations; agents that are
// not Online never answer.
func TestSendCommandOverTheWire(t *testing.T) {
	ctx := context.Background()
	sb := start(t, sandbox.Options{World: sampleWorld(10)})
	c := ssm.NewFromConfig(sb.Config(regions[0], 1))
	online, lost := "i-00000000000000000", "i-00000000000000003" // SampleFleet: i%10==3 is ConnectionLost
	out, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String(host.DiagnoseDocument), InstanceIds: []string{online, lost}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: out.Command.CommandId, Details: true, MaxResults: aws.Int32(50)})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]ssmtypes.CommandInvocationStatus{}
	for _, i := range inv.CommandInvocations {
		status[aws.ToString(i.InstanceId)] = i.Status
		if aws.ToString(i.InstanceId) == online && (len(i.CommandPlugins) == 0 || !strings.Contains(aws.ToString(i.CommandPlugins[0].Output), `"schema":1`)) {
			t.Errorf("online instance's plugin output lacks the report: %+v", i.CommandPlugins)
		}
	}
	if status[online] != ssmtypes.CommandInvocationStatusSuccess || status[lost] != ssmtypes.CommandInvocationStatusPending {
		t.Errorf("statuses = %v, want Success for the online agent and Pending for the lost one", status)
	}
	_, err = c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("NoSuchDocument"), InstanceIds: []string{online}})
	if apiCode(err) != "InvalidDocument" {
		t.Errorf("unknown document: %v", err)
	}
}

// Automation over the wire runs fleetdoctor's own runbook against the
// sandbox's EC2 handlers; a runbook with a wrong API parameter fails; and
// StartAutomationExecution is held to 1 TPS.
func TestAutomationOverTheWire(t *testing.T) {
	ctx := context.Background()
	broken := []byte(`schemaVersion: '0.3'
description: a runbook with a misspelled API parameter
parameters:
  InstanceId:
    type: String
    allowedPattern: '^i-[0-9a-f]{8,17}$'
mainSteps:
  - name: Modify
    action: aws:executeAwsApi
    isEnd: true
    inputs:
      Service: ec2
      Api: ModifyInstanceMetadataOptions
      InstanceId: '{{ InstanceId }}'
      HttpTokenz: required
`)
	sb := start(t, sandbox.Options{World: sampleWorld(10), Limits: sandbox.DefaultLimits(),
		Documents: map[string][]byte{"Broken-Runbook": broken}, AutomationClock: instantClock{}})
	c := ssm.NewFromConfig(sb.Config(regions[0], 1))
	id := "i-00000000000000002" // SampleFleet: i%10==2 allows IMDSv1
	run := func(doc string, params map[string][]string) *ssm.GetAutomationExecutionOutput {
		t.Helper()
		return runAutomation(t, c, doc, params)
	}
	g := run("FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {id}, "HttpTokens": {"required"},
		"AutomationAssumeRole": {"arn:aws:iam::" + acctA + ":role/FleetDoctorAutomation"}})
	if s := g.AutomationExecution.AutomationExecutionStatus; s != ssmtypes.AutomationExecutionStatusSuccess {
		t.Fatalf("runbook ended %s: %s", s, aws.ToString(g.AutomationExecution.FailureMessage))
	}
	d, err := ec2Client(sb, nil).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Reservations[0].Instances[0].MetadataOptions.HttpTokens; got != ec2types.HttpTokensStateRequired {
		t.Errorf("after the runbook HttpTokens = %s, want required", got)
	}
	if n := sb.Stats()["ec2:ModifyInstanceMetadataOptions"].OK(); n != 1 {
		t.Errorf("ModifyInstanceMetadataOptions succeeded %d times, want 1", n)
	}

	g = run("Broken-Runbook", map[string][]string{"InstanceId": {id}})
	if s := g.AutomationExecution.AutomationExecutionStatus; s != ssmtypes.AutomationExecutionStatusFailed ||
		!strings.Contains(aws.ToString(g.AutomationExecution.FailureMessage)+stepFailures(g), "HttpTokenz") {
		t.Errorf("broken runbook: status %s, failure %q %s", s, aws.ToString(g.AutomationExecution.FailureMessage), stepFailures(g))
	}

	// Two starts back to back: the second is throttled (1 TPS).
	params := map[string][]string{"InstanceId": {id}}
	_, err1 := c.StartAutomationExecution(ctx, &ssm.StartAutomationExecutionInput{DocumentName: aws.String("Broken-Runbook"), Parameters: params})
	_, err2 := c.StartAutomationExecution(ctx, &ssm.StartAutomationExecutionInput{DocumentName: aws.String("Broken-Runbook"), Parameters: params})
	if apiCode(err1) != "ThrottlingException" && apiCode(err2) != "ThrottlingException" {
		t.Errorf("two immediate starts were not throttled: %v, %v", err1, err2)
	}
}

func stepFailures(g *ssm.GetAutomationExecutionOutput) string {
	var b strings.Builder
	for _, s := range g.AutomationExecution.StepExecutions {
		b.WriteString(aws.ToString(s.FailureMessage))
	}
	return b.String()
}

// instantClock runs Automation's sleeps and polls without waiting.
type instantClock struct{}

func (instantClock) Now() time.Time                                   { return time.Now() }
func (instantClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// runAutomation starts doc through c, waiting out the 1 TPS start bucket,
// and polls (within the 3 TPS budget) until the execution has ended.
func runAutomation(t *testing.T, c *ssm.Client, doc string, params map[string][]string) *ssm.GetAutomationExecutionOutput {
	t.Helper()
	ctx := context.Background()
	var out *ssm.StartAutomationExecutionOutput
	var err error
	for attempt := 0; attempt < 50; attempt++ { // 1 TPS: wait out the bucket
		out, err = c.StartAutomationExecution(ctx, &ssm.StartAutomationExecutionInput{DocumentName: aws.String(doc), Parameters: params})
		if apiCode(err) != "ThrottlingException" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		g, err := c.GetAutomationExecution(ctx, &ssm.GetAutomationExecutionInput{AutomationExecutionId: out.AutomationExecutionId})
		if err == nil && g.AutomationExecution.AutomationExecutionStatus != ssmtypes.AutomationExecutionStatusInprogress &&
			g.AutomationExecution.AutomationExecutionStatus != ssmtypes.AutomationExecutionStatusPending {
			return g
		}
		time.Sleep(400 * time.Millisecond) // GetAutomationExecution: 3 TPS
	}
	t.Fatalf("execution of %s did not finish", doc)
	return nil
}
