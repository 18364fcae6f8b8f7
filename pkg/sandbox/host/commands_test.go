package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is the instances a test's SendCommand can reach.
type world struct {
	mu      sync.Mutex
	targets map[string]Target
}

func newWorld() *world { return &world{targets: map[string]Target{}} }

func (w *world) add(id string, t Target) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Facts.InstanceID = id
	if t.Facts.Region == "" {
		t.Facts.Region = "eu-west-1"
	}
	if t.Facts.Platform == "" {
		t.Facts.Platform = "Linux"
	}
	w.targets[id] = t
}

func (w *world) online(ids ...string) {
	for _, id := range ids {
		w.add(id, Target{Registered: true, Online: true, Facts: Facts{HasCredentials: true, AgentVersion: "3.3.1142.0"}})
	}
}

func (w *world) lookup(id string) (Target, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.targets[id]
	return t, ok
}

// bucket records uploads.
type bucket struct {
	mu      sync.Mutex
	objects map[string]string
	fail    error
}

func (b *bucket) put(bkt, key string, body []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	if b.objects == nil {
		b.objects = map[string]string{}
	}
	b.objects[bkt+"/"+key] = string(body)
	return nil
}

// stubRunner returns a fixed result and records invocations.
type stubRunner struct {
	res   Result
	err   error
	mu    sync.Mutex
	calls []Invocation
}

func (s *stubRunner) Run(_ context.Context, inv Invocation) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, inv)
	return s.res, s.err
}

func instanceIDs(n, offset int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("i-%017x", offset+i)
	}
	return out
}

func newStore(r Runner) (*Commands, *fakeClock) {
	clk := &fakeClock{t: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}
	return NewCommands("111122223333", "eu-west-1", r, clk.Now), clk
}

func diagnoseInput(ids ...string) *ssm.SendCommandInput {
	return &ssm.SendCommandInput{DocumentName: aws.String(DiagnoseDocument), InstanceIds: ids}
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	return ae.ErrorCode()
}

func wantAPIError(t *testing.T, err error, code, mentions string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := apiCode(t, err); got != code {
		t.Fatalf("error code %s (%v), want %s", got, err, code)
	}
	if !strings.Contains(err.Error(), mentions) {
		t.Errorf("error %q does not mention %q", err, mentions)
	}
}

func getInv(t *testing.T, c *Commands, cmdID, inst, plugin string) *ssm.GetCommandInvocationOutput {
	t.Helper()
	in := &ssm.GetCommandInvocationInput{CommandId: aws.String(cmdID), InstanceId: aws.String(inst)}
	if plugin != "" {
		in.PluginName = aws.String(plugin)
	}
	out, err := c.GetCommandInvocation(context.Background(), in)
	if err != nil {
		t.Fatalf("GetCommandInvocation: %v", err)
	}
	return out
}

func TestSendCommandInstanceIDLimit(t *testing.T) {
	w := newWorld()
	ids := instanceIDs(51, 0)
	w.online(ids...)
	c, _ := newStore(nil)
	out, err := c.SendCommand(context.Background(), diagnoseInput(ids[:50]...), w.lookup, nil)
	if err != nil {
		t.Fatalf("50 ids: %v", err)
	}
	if got := out.Command.TargetCount; got != 50 {
		t.Errorf("TargetCount = %d", got)
	}
	_, err = c.SendCommand(context.Background(), diagnoseInput(ids...), w.lookup, nil)
	wantAPIError(t, err, "ValidationException", "instanceIds")
	if !strings.Contains(err.Error(), "50") {
		t.Errorf("error %q does not name the limit", err)
	}
}

func TestSendCommandRejects(t *testing.T) {
	w := newWorld()
	w.online("i-00000000000000001")
	w.add("i-00000000000000002", Target{Registered: false})
	tests := []struct {
		name     string
		in       *ssm.SendCommandInput
		code     string
		mentions string
	}{
		{"targets", &ssm.SendCommandInput{DocumentName: aws.String(DiagnoseDocument), Targets: []types.Target{{Key: aws.String("tag:Env"), Values: []string{"prod"}}}}, "ValidationException", "Targets"},
		{"no ids", &ssm.SendCommandInput{DocumentName: aws.String(DiagnoseDocument)}, "ValidationException", "InstanceIds"},
		{"no document", &ssm.SendCommandInput{InstanceIds: []string{"i-00000000000000001"}}, "ValidationException", "documentName"},
		{"malformed id", diagnoseInput("i-xyz"), "ValidationException", "instanceIds.1.member"},
		{"unknown document", &ssm.SendCommandInput{DocumentName: aws.String("FleetDoctor-Nope"), InstanceIds: []string{"i-00000000000000001"}}, "InvalidDocument", "FleetDoctor-Nope"},
		{"unknown instance", diagnoseInput("i-00000000000000001", "i-0000000000000000f"), "InvalidInstanceId", "i-0000000000000000f"},
		{"unregistered instance", diagnoseInput("i-00000000000000002"), "InvalidInstanceId", "i-00000000000000002"},
		{"timeout too short", &ssm.SendCommandInput{DocumentName: aws.String(DiagnoseDocument), InstanceIds: []string{"i-00000000000000001"}, TimeoutSeconds: aws.Int32(10)}, "ValidationException", "timeoutSeconds"},
		{"document version", &ssm.SendCommandInput{DocumentName: aws.String(DiagnoseDocument), InstanceIds: []string{"i-00000000000000001"}, DocumentVersion: aws.String("7")}, "InvalidDocumentVersion", "7"},
		{"unknown parameter", &ssm.SendCommandInput{DocumentName: aws.String(DiagnoseDocument), InstanceIds: []string{"i-00000000000000001"}, Parameters: map[string][]string{"x": {"1"}}}, "InvalidParameters", `"x"`},
		{"required parameter", &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{"i-00000000000000001"}}, "InvalidParameters", "commands"},
		{"allowedPattern is a full match", &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{"i-00000000000000001"},
			Parameters: map[string][]string{"commands": {"true"}, "executionTimeout": {"999999"}}}, "InvalidParameters", "executionTimeout"},
		{"String takes one value", &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{"i-00000000000000001"},
			Parameters: map[string][]string{"commands": {"true"}, "workingDirectory": {"/a", "/b"}}}, "InvalidParameters", "workingDirectory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newStore(nil)
			_, err := c.SendCommand(context.Background(), tc.in, w.lookup, nil)
			wantAPIError(t, err, tc.code, tc.mentions)
			if out, _ := c.ListCommandInvocations(context.Background(), nil); len(out.CommandInvocations) != 0 {
				t.Errorf("a rejected command left %d invocations", len(out.CommandInvocations))
			}
		})
	}
}

func TestOfflineStaysPendingThenDeliveryTimesOut(t *testing.T) {
	w := newWorld()
	w.add("i-0000000000000000a", Target{Registered: true, Online: false})
	// Registration still says Online, but the agent is stopped on the host.
	w.add("i-0000000000000000b", Target{Registered: true, Online: true, Facts: Facts{State: &State{Agent: Agent{Stopped: true}}}})
	r := &stubRunner{res: Result{Status: ResultSuccess}}
	c, clk := newStore(r)
	out, err := c.SendCommand(context.Background(), diagnoseInput("i-0000000000000000a", "i-0000000000000000b"), w.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Command.CommandId)
	for _, inst := range []string{"i-0000000000000000a", "i-0000000000000000b"} {
		g := getInv(t, c, id, inst, DiagnoseLinuxStep)
		if g.Status != types.CommandInvocationStatusPending || aws.ToString(g.StatusDetails) != "Pending" || g.ResponseCode != -1 {
			t.Errorf("%s: %s/%s code %d, want Pending/Pending -1", inst, g.Status, aws.ToString(g.StatusDetails), g.ResponseCode)
		}
	}
	clk.Advance(3599 * time.Second)
	l, _ := c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: aws.String(id)})
	for _, inv := range l.CommandInvocations {
		if inv.Status != types.CommandInvocationStatusPending {
			t.Errorf("%s is %s before the delivery timeout", aws.ToString(inv.InstanceId), inv.Status)
		}
	}
	clk.Advance(time.Second)
	l, _ = c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), Details: true})
	if len(l.CommandInvocations) != 2 {
		t.Fatalf("%d invocations", len(l.CommandInvocations))
	}
	for _, inv := range l.CommandInvocations {
		if inv.Status != types.CommandInvocationStatusTimedOut || aws.ToString(inv.StatusDetails) != "DeliveryTimedOut" {
			t.Errorf("%s: %s/%s, want TimedOut/DeliveryTimedOut", aws.ToString(inv.InstanceId), inv.Status, aws.ToString(inv.StatusDetails))
		}
		for _, p := range inv.CommandPlugins {
			if p.Status != types.CommandPluginStatusTimedOut || p.ResponseCode != -1 {
				t.Errorf("plugin %s: %s code %d", aws.ToString(p.Name), p.Status, p.ResponseCode)
			}
		}
	}
	g := getInv(t, c, id, "i-0000000000000000a", DiagnoseLinuxStep)
	if g.Status != types.CommandInvocationStatusTimedOut || aws.ToString(g.StatusDetails) != "DeliveryTimedOut" {
		t.Errorf("Get: %s/%s", g.Status, aws.ToString(g.StatusDetails))
	}
	if len(r.calls) != 0 {
		t.Errorf("the runner ran %d times for agents that cannot answer", len(r.calls))
	}

	// A shorter delivery timeout is honoured.
	out, err = c.SendCommand(context.Background(), &ssm.SendCommandInput{DocumentName: aws.String(DiagnoseDocument),
		InstanceIds: []string{"i-0000000000000000a"}, TimeoutSeconds: aws.Int32(30)}, w.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	if g := getInv(t, c, aws.ToString(out.Command.CommandId), "i-0000000000000000a", DiagnoseLinuxStep); aws.ToString(g.StatusDetails) != "DeliveryTimedOut" {
		t.Errorf("TimeoutSeconds 30: %s after 30 s", aws.ToString(g.StatusDetails))
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestOnlineRunsDiagnose(t *testing.T) {
	w := newWorld()
	w.online("i-0000000000000000a")
	w.add("i-0000000000000000b", Target{Registered: true, Online: true, Facts: Facts{Platform: "Windows", HasCredentials: true,
		State: &State{OS: "windows2022"}}})
	w.add("i-0000000000000000c", Target{Registered: true, Online: true, Facts: Facts{HTTPEndpoint: "disabled", HasCredentials: true}})
	c, _ := newStore(nil)
	out, err := c.SendCommand(context.Background(), diagnoseInput("i-0000000000000000a", "i-0000000000000000b", "i-0000000000000000c"), w.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Command.CommandId)
	if !uuidV4.MatchString(id) {
		t.Errorf("CommandId %q is not a UUID", id)
	}
	if out.Command.Status != types.CommandStatusPending || aws.ToString(out.Command.DocumentVersion) != "$DEFAULT" {
		t.Errorf("Command = %s %s", out.Command.Status, aws.ToString(out.Command.DocumentVersion))
	}

	report := func(inst, step string) hostdiag.Report {
		g := getInv(t, c, id, inst, step)
		if g.Status != types.CommandInvocationStatusSuccess || g.ResponseCode != 0 || aws.ToString(g.PluginName) != step {
			t.Fatalf("%s/%s: %s code %d", inst, step, g.Status, g.ResponseCode)
		}
		var r hostdiag.Report
		if err := json.Unmarshal([]byte(aws.ToString(g.StandardOutputContent)), &r); err != nil {
			t.Fatalf("stdout is not a report: %v: %q", err, aws.ToString(g.StandardOutputContent))
		}
		if aws.ToString(g.ExecutionStartDateTime) == "" || aws.ToString(g.ExecutionEndDateTime) == "" {
			t.Errorf("execution times missing")
		}
		return r
	}
	r := report("i-0000000000000000a", DiagnoseLinuxStep)
	if r.Host.InstanceID != "i-0000000000000000a" || r.Host.Region != "eu-west-1" || r.Host.Platform != "Linux" {
		t.Errorf("host = %+v", r.Host)
	}
	if r := report("i-0000000000000000b", DiagnoseWindowsStep); r.Host.Platform != "Windows" {
		t.Errorf("windows host = %+v", r.Host)
	}
	r = report("i-0000000000000000c", DiagnoseLinuxStep)
	for _, ch := range r.Checks {
		if ch.ID == hostdiag.CheckIMDSUnreachable && ch.Status != hostdiag.Fail {
			t.Errorf("disabled endpoint reported %s", ch.Status)
		}
	}

	// The step for the other platform is skipped, as the agent reports it.
	g := getInv(t, c, id, "i-0000000000000000a", DiagnoseWindowsStep)
	if g.Status != types.CommandInvocationStatusSuccess || !strings.Contains(aws.ToString(g.StandardOutputContent), "Step execution skipped due to unsatisfied preconditions") {
		t.Errorf("skipped step: %s %q", g.Status, aws.ToString(g.StandardOutputContent))
	}
	// A two-step document needs PluginName.
	_, err = c.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String("i-0000000000000000a")})
	wantAPIError(t, err, "InvalidPluginName", DiagnoseLinuxStep)

	l, err := c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), Details: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.CommandInvocations) != 3 {
		t.Fatalf("%d invocations", len(l.CommandInvocations))
	}
	for _, inv := range l.CommandInvocations {
		if inv.Status != types.CommandInvocationStatusSuccess || len(inv.CommandPlugins) != 2 {
			t.Errorf("%s: %s with %d plugins", aws.ToString(inv.InstanceId), inv.Status, len(inv.CommandPlugins))
		}
	}
	if n := aws.ToString(l.CommandInvocations[0].CommandPlugins[0].Name); n != DiagnoseLinuxStep {
		t.Errorf("plugin name %q", n)
	}
	// Without Details, no plugins.
	l, _ = c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: aws.String(id)})
	if len(l.CommandInvocations[0].CommandPlugins) != 0 {
		t.Error("CommandPlugins returned without Details")
	}
}

func TestListCommandInvocationsPaging(t *testing.T) {
	w := newWorld()
	ids := instanceIDs(51, 0x100)
	w.online(ids...)
	c, _ := newStore(&stubRunner{res: Result{Status: ResultSuccess, Stdout: "{}"}})
	first, err := c.SendCommand(context.Background(), diagnoseInput(ids[:50]...), w.lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendCommand(context.Background(), diagnoseInput(ids[50]), w.lookup, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	collect := func(in ssm.ListCommandInvocationsInput) (pages []int, seen map[string]bool) {
		t.Helper()
		seen = map[string]bool{}
		for {
			out, err := c.ListCommandInvocations(ctx, &in)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, len(out.CommandInvocations))
			for _, inv := range out.CommandInvocations {
				k := aws.ToString(inv.CommandId) + "/" + aws.ToString(inv.InstanceId)
				if seen[k] {
					t.Fatalf("%s listed twice", k)
				}
				seen[k] = true
			}
			if out.NextToken == nil {
				return pages, seen
			}
			in.NextToken = out.NextToken
			if len(pages) > 100 {
				t.Fatal("paging does not end")
			}
		}
	}
	if pages, seen := collect(ssm.ListCommandInvocationsInput{}); fmt.Sprint(pages) != "[50 1]" || len(seen) != 51 {
		t.Errorf("default pages %v, %d invocations; want [50 1], 51", pages, len(seen))
	}
	if pages, _ := collect(ssm.ListCommandInvocationsInput{MaxResults: aws.Int32(20)}); fmt.Sprint(pages) != "[20 20 11]" {
		t.Errorf("MaxResults 20 pages %v", pages)
	}
	if pages, _ := collect(ssm.ListCommandInvocationsInput{CommandId: first.Command.CommandId}); fmt.Sprint(pages) != "[50]" {
		t.Errorf("by command pages %v", pages)
	}
	if pages, seen := collect(ssm.ListCommandInvocationsInput{InstanceId: aws.String(ids[7])}); fmt.Sprint(pages) != "[1]" || !seen[aws.ToString(first.Command.CommandId)+"/"+ids[7]] {
		t.Errorf("by instance pages %v %v", pages, seen)
	}
	filters := func(k types.CommandFilterKey, v string) ssm.ListCommandInvocationsInput {
		return ssm.ListCommandInvocationsInput{Filters: []types.CommandFilter{{Key: k, Value: aws.String(v)}}}
	}
	if _, seen := collect(filters(types.CommandFilterKeyStatus, "Success")); len(seen) != 51 {
		t.Errorf("Status=Success: %d", len(seen))
	}
	if _, seen := collect(filters(types.CommandFilterKeyExecutionStage, "Executing")); len(seen) != 0 {
		t.Errorf("ExecutionStage=Executing: %d", len(seen))
	}
	if _, seen := collect(filters(types.CommandFilterKeyDocumentName, "AWS-RunShellScript")); len(seen) != 0 {
		t.Errorf("DocumentName filter: %d", len(seen))
	}

	for _, n := range []int32{0, 51} {
		_, err := c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{MaxResults: aws.Int32(n)})
		wantAPIError(t, err, "ValidationException", "maxResults")
	}
	_, err = c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{NextToken: aws.String("garbage")})
	wantAPIError(t, err, "InvalidNextToken", "token")
	page, _ := c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{})
	_, err = c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{NextToken: page.NextToken, InstanceId: aws.String(ids[0])})
	wantAPIError(t, err, "InvalidNextToken", "token")
	_, err = c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{Filters: []types.CommandFilter{{Key: "Colour", Value: aws.String("blue")}}})
	wantAPIError(t, err, "InvalidFilterKey", "Colour")
	_, err = c.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String("short")})
	wantAPIError(t, err, "ValidationException", "commandId")
}

func TestOutputTruncationAndS3(t *testing.T) {
	stdout := strings.Repeat("0123456789", 3000) // 30,000
	stderr := strings.Repeat("e", 9000)
	r := &stubRunner{res: Result{Status: ResultSuccess, Stdout: stdout, Stderr: stderr}}
	w := newWorld()
	w.online("i-0000000000000000a")
	c, _ := newStore(r)
	b := &bucket{}
	in := diagnoseInput("i-0000000000000000a")
	in.OutputS3BucketName, in.OutputS3KeyPrefix = aws.String("diag-output"), aws.String("runs/2025/")
	out, err := c.SendCommand(context.Background(), in, w.lookup, b.put)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Command.CommandId)

	l, err := c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), Details: true})
	if err != nil {
		t.Fatal(err)
	}
	p := l.CommandInvocations[0].CommandPlugins[0]
	o := aws.ToString(p.Output)
	if len(o) > PluginOutputLimit || !strings.HasPrefix(o, "0123456789") ||
		!strings.Contains(o, "\n---Output truncated---\n----------ERROR-------\neee") || !strings.HasSuffix(o, "\n---Error truncated----") {
		t.Errorf("plugin Output (%d chars) not cut as the agent cuts it: ...%q", len(o), o[max(0, len(o)-80):])
	}

	g := getInv(t, c, id, "i-0000000000000000a", DiagnoseLinuxStep)
	if got := aws.ToString(g.StandardOutputContent); got != stdout[:StdoutLimit] {
		t.Errorf("StandardOutputContent has %d chars, want the first %d", len(got), StdoutLimit)
	}
	if got := aws.ToString(g.StandardErrorContent); got != stderr[:StderrLimit] {
		t.Errorf("StandardErrorContent has %d chars, want the first %d", len(got), StderrLimit)
	}
	key := "runs/2025/" + id + "/i-0000000000000000a/awsrunShellScript/" + DiagnoseLinuxStep + "/stdout"
	if u := aws.ToString(g.StandardOutputUrl); u != "https://s3.eu-west-1.amazonaws.com/diag-output/"+key {
		t.Errorf("StandardOutputUrl = %q", u)
	}
	if u := aws.ToString(p.StandardOutputUrl); u != aws.ToString(g.StandardOutputUrl) {
		t.Errorf("plugin StandardOutputUrl = %q", u)
	}
	if u := aws.ToString(l.CommandInvocations[0].StandardOutputUrl); u != aws.ToString(g.StandardOutputUrl) {
		t.Errorf("invocation StandardOutputUrl = %q (the step that ran)", u)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if got := b.objects["diag-output/"+key]; got != stdout {
		t.Errorf("uploaded stdout has %d chars, want the full %d", len(got), len(stdout))
	}
	if got := b.objects["diag-output/"+strings.TrimSuffix(key, "stdout")+"stderr"]; got != stderr {
		t.Errorf("uploaded stderr has %d chars, want %d", len(got), len(stderr))
	}
}

func TestUploadFailureIsReported(t *testing.T) {
	w := newWorld()
	w.online("i-0000000000000000a")
	c, _ := newStore(nil)
	in := diagnoseInput("i-0000000000000000a")
	in.OutputS3BucketName = aws.String("missing-bucket")
	out, err := c.SendCommand(context.Background(), in, w.lookup, (&bucket{fail: errors.New("NoSuchBucket")}).put)
	if err != nil {
		t.Fatal(err)
	}
	g := getInv(t, c, aws.ToString(out.Command.CommandId), "i-0000000000000000a", DiagnoseLinuxStep)
	if !strings.Contains(aws.ToString(g.StandardErrorContent), "NoSuchBucket") {
		t.Errorf("stderr = %q", aws.ToString(g.StandardErrorContent))
	}
}

func TestTruncateOutputMatchesAgent(t *testing.T) {
	long := strings.Repeat("This is a sample text. ", 60)
	tests := []struct{ stdout, stderr, want string }{
		{"", "", ""},
		{"sample output", "", "sample output"},
		{"", "sample error", "\n----------ERROR-------\nsample error"},
		{"sample output", "sample error", "sample output\n----------ERROR-------\nsample error"},
		{long, "", "This is a sample text. This is a sample text. This is a sample text. This is \n---Output truncated---"},
		{"", long, "\n----------ERROR-------\nThis is a sample text. This is a sample text. This is\n---Error truncated----"},
		{long, long, "This is a sampl\n---Output truncated---\n----------ERROR-------\nThis is a sampl\n---Error truncated----"},
	}
	for i, tc := range tests {
		if got := truncateOutput(tc.stdout, tc.stderr, 100); got != tc.want {
			t.Errorf("case %d: got %q, want %q", i, got, tc.want)
		}
	}
	// Never more than the capacity, and never a broken rune.
	for _, so := range []int{0, 10, 1200, 1238, 1239, 5000} {
		for _, se := range []int{0, 10, 1200, 1238, 5000} {
			got := truncateOutput(strings.Repeat("é", so), strings.Repeat("ü", se), PluginOutputLimit)
			if len(got) > PluginOutputLimit || !utf8.ValidString(got) {
				t.Errorf("stdout %d, stderr %d: %d bytes", so, se, len(got))
			}
		}
	}
}

func TestRunShellScriptLayoutAndModelRunnerRefusal(t *testing.T) {
	w := newWorld()
	w.online("i-0000000000000000a")
	c, _ := newStore(ModelRunner{})
	b := &bucket{}
	out, err := c.SendCommand(context.Background(), &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{"i-0000000000000000a"},
		Parameters: map[string][]string{"commands": {"hostname"}}, OutputS3BucketName: aws.String("run-output"), OutputS3KeyPrefix: aws.String("logs"),
	}, w.lookup, b.put)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Command.CommandId)
	g := getInv(t, c, id, "i-0000000000000000a", "") // one step: PluginName may be omitted
	if g.Status != types.CommandInvocationStatusFailed || g.ResponseCode != 1 || aws.ToString(g.PluginName) != "aws:runShellScript" {
		t.Errorf("got %s code %d plugin %q", g.Status, g.ResponseCode, aws.ToString(g.PluginName))
	}
	if !strings.Contains(aws.ToString(g.StandardErrorContent), "model runner cannot run document \"AWS-RunShellScript\"") {
		t.Errorf("stderr = %q", aws.ToString(g.StandardErrorContent))
	}
	want := "logs/" + id + "/i-0000000000000000a/awsrunShellScript/0.awsrunShellScript/stdout"
	if !strings.HasSuffix(aws.ToString(g.StandardOutputUrl), "/run-output/"+want) {
		t.Errorf("StandardOutputUrl = %q, want .../run-output/%s", aws.ToString(g.StandardOutputUrl), want)
	}
	if _, ok := b.objects["run-output/"+want]; !ok {
		t.Errorf("nothing uploaded at %s: %v", want, b.objects)
	}
	_, err = c.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String("i-0000000000000000a"), PluginName: aws.String("nope")})
	wantAPIError(t, err, "InvalidPluginName", "nope")
	_, err = c.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String("i-0000000000000000b")})
	wantAPIError(t, err, "InvocationDoesNotExist", "i-0000000000000000b")
	_, err = c.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{CommandId: aws.String("x"), InstanceId: aws.String("i-0000000000000000a")})
	wantAPIError(t, err, "ValidationException", "commandId")
}

func TestDocumentSource(t *testing.T) {
	docs := map[string]string{
		"FleetDoctor-RepairHost": `{
  "schemaVersion": "2.2",
  "parameters": {
    "action": {"type": "String", "allowedValues": ["remove-rule", "add-no-proxy"]},
    "rule": {"type": "String", "default": "", "allowedPattern": "^[-A-Za-z0-9 ./:]*$"}
  },
  "mainSteps": [
    {"action": "aws:runShellScript", "name": "repairLinux", "precondition": {"StringEquals": ["platformType", "Linux"]}},
    {"action": "aws:runShellScript", "name": "restartAgent"}
  ]
}`,
		"FleetDoctor-SetMetadataOptions": "schemaVersion: '0.3'\nmainSteps: []\n",
		"FleetDoctor-Unquoted":           "schemaVersion: 2.2\nmainSteps: [{action: aws:runShellScript, name: only}]\n",
		"FleetDoctor-Broken":             "schemaVersion: 2.2\nmainSteps: {not: a list}\n",
		"FleetDoctor-BadPattern":         "schemaVersion: 2.2\nparameters: {p: {type: String, allowedPattern: '(?<=x)'}}\nmainSteps: [{action: aws:runShellScript, name: a}]\n",
	}
	r := &stubRunner{res: Result{Status: ResultSuccess, Stdout: "done"}}
	w := newWorld()
	w.online("i-0000000000000000a")
	c, _ := newStore(r)
	c.SetDocumentSource(func(name string) ([]byte, bool) {
		s, ok := docs[name]
		return []byte(s), ok
	})
	send := func(doc string, params map[string][]string) (*ssm.SendCommandOutput, error) {
		return c.SendCommand(context.Background(), &ssm.SendCommandInput{DocumentName: aws.String(doc), InstanceIds: []string{"i-0000000000000000a"}, Parameters: params}, w.lookup, nil)
	}
	_, err := send("FleetDoctor-RepairHost", map[string][]string{"action": {"reboot"}})
	wantAPIError(t, err, "InvalidParameters", "allowedValues")
	_, err = send("FleetDoctor-RepairHost", map[string][]string{"action": {"remove-rule"}, "rule": {"x; rm -rf /"}})
	wantAPIError(t, err, "InvalidParameters", "allowedPattern")
	_, err = send("FleetDoctor-SetMetadataOptions", nil)
	wantAPIError(t, err, "InvalidDocument", "not a Command document")
	_, err = send("FleetDoctor-Broken", nil)
	wantAPIError(t, err, "InvalidDocumentContent", "FleetDoctor-Broken")
	_, err = send("FleetDoctor-BadPattern", nil)
	wantAPIError(t, err, "InvalidDocumentContent", "parameters.p.allowedPattern")
	if _, err := send("FleetDoctor-Unquoted", nil); err != nil {
		t.Fatalf("schemaVersion written as a YAML number: %v", err)
	}
	// The built-in stand-ins still answer for documents the source lacks.
	if _, err := send(DiagnoseDocument, nil); err != nil {
		t.Fatalf("built-in diagnose document: %v", err)
	}
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()

	out, err := send("FleetDoctor-RepairHost", map[string][]string{"action": {"remove-rule"}, "rule": {"-A OUTPUT -d 169.254.169.254/32 -j REJECT"}})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 2 || r.calls[0].Step != "repairLinux" || r.calls[1].Step != "restartAgent" || r.calls[0].Action != "aws:runShellScript" {
		t.Fatalf("runner calls = %+v", r.calls)
	}
	if got := r.calls[0].Parameters["rule"]; len(got) != 1 || got[0] != "-A OUTPUT -d 169.254.169.254/32 -j REJECT" {
		t.Errorf("parameters = %v", r.calls[0].Parameters)
	}
	if r.calls[0].Facts.InstanceID != "i-0000000000000000a" || r.calls[0].Facts.Now.IsZero() {
		t.Errorf("facts = %+v", r.calls[0].Facts)
	}
	g := getInv(t, c, aws.ToString(out.Command.CommandId), "i-0000000000000000a", "restartAgent")
	if g.Status != types.CommandInvocationStatusSuccess || aws.ToString(g.StandardOutputContent) != "done" {
		t.Errorf("restartAgent: %s %q", g.Status, aws.ToString(g.StandardOutputContent))
	}
}

func TestRunnerFailures(t *testing.T) {
	tests := []struct {
		name          string
		runner        *stubRunner
		status        types.CommandInvocationStatus
		details, errs string
	}{
		{"runner error", &stubRunner{err: errors.New("netns setup failed")}, types.CommandInvocationStatusFailed, "Failed", "netns setup failed"},
		{"script failed", &stubRunner{res: Result{Status: ResultFailed, ResponseCode: 2, Stderr: "boom"}}, types.CommandInvocationStatusFailed, "Failed", "boom"},
		{"execution timeout", &stubRunner{res: Result{Status: ResultTimedOut, ResponseCode: 124}}, types.CommandInvocationStatusTimedOut, "ExecutionTimedOut", ""},
		{"unknown status", &stubRunner{res: Result{Status: "Sideways"}}, types.CommandInvocationStatusFailed, "Failed", "Sideways"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.online("i-0000000000000000a")
			c, _ := newStore(tc.runner)
			out, err := c.SendCommand(context.Background(), diagnoseInput("i-0000000000000000a"), w.lookup, nil)
			if err != nil {
				t.Fatal(err)
			}
			l, _ := c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: out.Command.CommandId, Details: true})
			inv := l.CommandInvocations[0]
			if inv.Status != tc.status || aws.ToString(inv.StatusDetails) != tc.details {
				t.Errorf("invocation %s/%s, want %s/%s", inv.Status, aws.ToString(inv.StatusDetails), tc.status, tc.details)
			}
			if o := aws.ToString(inv.CommandPlugins[0].Output); !strings.Contains(o, tc.errs) {
				t.Errorf("output %q does not contain %q", o, tc.errs)
			}
			if tc.runner.res.ResponseCode != 0 && inv.CommandPlugins[0].ResponseCode != int32(tc.runner.res.ResponseCode) {
				t.Errorf("response code %d", inv.CommandPlugins[0].ResponseCode)
			}
		})
	}
}

func TestConcurrentSendCommand(t *testing.T) {
	w := newWorld()
	ids := instanceIDs(12, 0x500)
	w.online(ids...)
	c, _ := newStore(nil)
	const workers, sends = 16, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	cmdIDs := map[string]bool{}
	var failures atomic.Int32
	stop := make(chan struct{})
	readers := sync.WaitGroup{}
	readers.Add(1)
	go func() { // a reader racing the writers
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{Details: true, MaxResults: aws.Int32(50)}); err != nil {
					failures.Add(1)
				}
			}
		}
	}()
	for g := range workers {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for s := range sends {
				off := (g*sends + s) % len(ids)
				batch := []string{ids[off], ids[(off+1)%len(ids)], ids[(off+2)%len(ids)]}
				out, err := c.SendCommand(context.Background(), diagnoseInput(batch...), w.lookup, nil)
				if err != nil {
					failures.Add(1)
					continue
				}
				id := aws.ToString(out.Command.CommandId)
				g, err := c.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
					CommandId: aws.String(id), InstanceId: aws.String(batch[0]), PluginName: aws.String(DiagnoseLinuxStep)})
				if err != nil || g.Status != types.CommandInvocationStatusSuccess {
					failures.Add(1)
				}
				mu.Lock()
				cmdIDs[id] = true
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d calls failed", n)
	}
	if len(cmdIDs) != workers*sends {
		t.Fatalf("%d distinct command ids, want %d", len(cmdIDs), workers*sends)
	}
	total := 0
	in := &ssm.ListCommandInvocationsInput{Filters: []types.CommandFilter{{Key: types.CommandFilterKeyStatus, Value: aws.String("Success")}}}
	for {
		out, err := c.ListCommandInvocations(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		total += len(out.CommandInvocations)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if total != workers*sends*3 {
		t.Errorf("%d successful invocations, want %d", total, workers*sends*3)
	}
}
