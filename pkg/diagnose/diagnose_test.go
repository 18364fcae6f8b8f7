package diagnose

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

const (
	acct   = "111122223333"
	region = "eu-west-1"
)

// behaviour scripts one instance's invocation.
type behaviour struct {
	status  ssmtypes.CommandInvocationStatus
	output  string // the step's full stdout
	polls   int    // polls that still see InProgress
	windows bool
}

// fakeSSM answers Run Command from scripts, counting calls.
type fakeSSM struct {
	awsapi.SSMActionsAPI
	mu       sync.Mutex
	script   map[string]*behaviour
	commands map[string][]string
	objects  map[string]string // S3 key → body
	calls    map[string]int
}

func (f *fakeSSM) count(api string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[api]++
}

func (f *fakeSSM) SendCommand(_ context.Context, in *ssm.SendCommandInput, _ ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	f.count("SendCommand")
	if len(in.InstanceIds) > 50 || aws.ToString(in.DocumentName) != hostdiag.DiagnoseDocumentName || in.Parameters["Region"][0] != region {
		return nil, fmt.Errorf("bad SendCommand %+v", in)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", len(f.commands)+1)
	f.commands[id] = in.InstanceIds
	for _, inst := range in.InstanceIds {
		b := f.script[inst]
		if in.OutputS3BucketName != nil && b != nil {
			step, dir := "diagnoseLinux", "awsrunShellScript"
			if b.windows {
				step, dir = "diagnoseWindows", "awsrunPowerShellScript"
			}
			f.objects[aws.ToString(in.OutputS3KeyPrefix)+"/"+id+"/"+inst+"/"+dir+"/"+step+"/stdout"] = b.output
		}
	}
	return &ssm.SendCommandOutput{Command: &ssmtypes.Command{CommandId: aws.String(id)}}, nil
}

func cut(s string) string {
	if len(s) > PluginOutputLimit {
		return s[:PluginOutputLimit-23] + "\n---Output truncated---"
	}
	return s
}

func (f *fakeSSM) ListCommandInvocations(_ context.Context, in *ssm.ListCommandInvocationsInput, _ ...func(*ssm.Options)) (*ssm.ListCommandInvocationsOutput, error) {
	f.count("ListCommandInvocations")
	if !in.Details || aws.ToInt32(in.MaxResults) != 50 {
		return nil, fmt.Errorf("bad ListCommandInvocations %+v", in)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ssm.ListCommandInvocationsOutput{}
	for _, inst := range f.commands[aws.ToString(in.CommandId)] {
		b := f.script[inst]
		inv := ssmtypes.CommandInvocation{InstanceId: aws.String(inst), Status: b.status, StatusDetails: aws.String(string(b.status))}
		if b.polls > 0 {
			b.polls--
			inv.Status = ssmtypes.CommandInvocationStatusInProgress
		}
		skipped := ssmtypes.CommandPlugin{Name: aws.String("diagnoseWindows"), Status: ssmtypes.CommandPluginStatusSuccess, Output: aws.String("Step execution skipped due to unsatisfied preconditions: ...")}
		ran := ssmtypes.CommandPlugin{Name: aws.String("diagnoseLinux"), Status: ssmtypes.CommandPluginStatus(inv.Status), Output: aws.String(cut(b.output))}
		if b.windows {
			skipped.Name, ran.Name = ran.Name, skipped.Name
		}
		if inv.Status == ssmtypes.CommandInvocationStatusFailed {
			ran.ResponseCode = 1
		}
		inv.CommandPlugins = []ssmtypes.CommandPlugin{ran, skipped}
		if b.windows {
			inv.CommandPlugins = []ssmtypes.CommandPlugin{skipped, ran}
		}
		out.CommandInvocations = append(out.CommandInvocations, inv)
	}
	return out, nil
}

func (f *fakeSSM) GetCommandInvocation(_ context.Context, in *ssm.GetCommandInvocationInput, _ ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	f.count("GetCommandInvocation")
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.script[aws.ToString(in.InstanceId)]
	want := "diagnoseLinux"
	if b.windows {
		want = "diagnoseWindows"
	}
	if aws.ToString(in.PluginName) != want {
		return nil, fmt.Errorf("GetCommandInvocation for plugin %q, want %q", aws.ToString(in.PluginName), want)
	}
	return &ssm.GetCommandInvocationOutput{StandardOutputContent: aws.String(b.output)}, nil
}

// fakeS3 serves the fake's objects.
type fakeS3 struct {
	awsapi.S3API
	f *fakeSSM
}

func (s fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	s.f.count("GetObject")
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	body, ok := s.f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, fmt.Errorf("NoSuchKey %s", aws.ToString(in.Key))
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(body))}, nil
}

type fakeProvider struct{ f *fakeSSM }

func (p fakeProvider) Caller(context.Context) (awsapi.Identity, error) {
	return awsapi.Identity{Account: acct}, nil
}
func (p fakeProvider) Account(context.Context, string) error { return nil }
func (p fakeProvider) Clients(context.Context, string, string) (*awsapi.Clients, error) {
	return &awsapi.Clients{SSMActions: p.f, S3: fakeS3{f: p.f}}, nil
}

func report(t *testing.T, id string, pad int, platform string) string {
	t.Helper()
	r := hostdiag.Report{Schema: 1, Host: hostdiag.Host{InstanceID: id, Region: region, Platform: platform}}
	for _, c := range hostdiag.CheckIDs() {
		st := hostdiag.Pass
		if c == hostdiag.CheckIMDSBlockedByFirewall {
			st = hostdiag.Fail
		}
		r.Checks = append(r.Checks, hostdiag.Check{ID: c, Status: st})
	}
	if pad > 0 {
		r.Checks[0].Evidence = map[string]any{"pad": strings.Repeat("x", pad)}
	}
	b, err := hostdiag.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func instance(id, state, ping, platform string) inventory.Instance {
	in := inventory.Instance{ID: id, State: state}
	if ping != "" {
		in.Agent = &inventory.Agent{PingStatus: ping, PlatformType: platform}
	}
	return in
}

func TestRunScripted(t *testing.T) {
	short, long := "i-00000000000000001", "i-00000000000000002"
	failed, junk, slow, never := "i-00000000000000003", "i-00000000000000004", "i-00000000000000005", "i-00000000000000006"
	win := "i-00000000000000007"
	offline, stopped, unregistered := "i-00000000000000008", "i-00000000000000009", "i-0000000000000000a"
	f := &fakeSSM{commands: map[string][]string{}, objects: map[string]string{}, calls: map[string]int{}, script: map[string]*behaviour{
		short:  {status: ssmtypes.CommandInvocationStatusSuccess, output: report(t, short, 0, "Linux")},
		long:   {status: ssmtypes.CommandInvocationStatusSuccess, output: report(t, long, 4000, "Linux")},
		failed: {status: ssmtypes.CommandInvocationStatusFailed, output: "bash: \x1b[31mboom"},
		junk:   {status: ssmtypes.CommandInvocationStatusSuccess, output: "<html>" + strings.Repeat("\x07x", 3000)},
		slow:   {status: ssmtypes.CommandInvocationStatusSuccess, output: report(t, slow, 0, "Linux"), polls: 2},
		never:  {status: ssmtypes.CommandInvocationStatusSuccess, output: "", polls: 1 << 30},
		win:    {status: ssmtypes.CommandInvocationStatusSuccess, output: report(t, win, 3000, "Windows"), windows: true},
	}}
	snap := &inventory.Snapshot{Accounts: []*inventory.Account{{ID: acct, Regions: []*inventory.Region{{Account: acct, Name: region, Instances: []inventory.Instance{
		instance(short, "running", "Online", "Linux"), instance(long, "running", "Online", "Linux"),
		instance(failed, "running", "Online", "Linux"), instance(junk, "running", "Online", "Linux"),
		instance(slow, "running", "Online", "Linux"), instance(never, "running", "Online", "Linux"),
		instance(win, "running", "Online", "Windows"),
		instance(offline, "running", "ConnectionLost", "Linux"), instance(stopped, "stopped", "", ""),
		instance(unregistered, "running", "", ""),
	}}}}}}
	run := &audit.Run{Snapshot: snap, Summary: audit.Summary{Instances: 10}}

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var waits []time.Duration
	opts := Options{
		Timeout: time.Minute, PollInterval: time.Second, MaxPollInterval: 8 * time.Second,
		Clock: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(d)
			waits = append(waits, d)
			return nil
		},
	}
	res, err := Run(context.Background(), fakeProvider{f}, run, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 7 || res.Answered != 4 || res.Failed != 3 || res.NotDiagnosable != 3 {
		t.Errorf("sent %d answered %d failed %d not diagnosable %d", res.Sent, res.Answered, res.Failed, res.NotDiagnosable)
	}
	// One command; the short report is read from the listing, the cut
	// ones (long, win, junk) through GetCommandInvocation.
	if f.calls["SendCommand"] != 1 || f.calls["GetCommandInvocation"] != 3 || res.FullOutputReads != 3 {
		t.Errorf("calls %v, full reads %d", f.calls, res.FullOutputReads)
	}
	// Backoff: 1, 2, 4, 8, 8, ... until the minute is up.
	if len(waits) < 3 || waits[0] != time.Second || waits[1] != 2*time.Second || waits[2] != 4*time.Second || waits[len(waits)-1] != 8*time.Second {
		t.Errorf("waits %v", waits)
	}
	if f.calls["ListCommandInvocations"] != len(waits)+1 {
		t.Errorf("%d listings for %d waits", f.calls["ListCommandInvocations"], len(waits))
	}

	got := map[string]checks.Finding{}
	for _, fd := range res.Findings {
		if fd.Check == hostdiag.CheckIMDSBlockedByFirewall || fd.Check == hostdiag.CheckDiagnosisFailed || fd.Check == hostdiag.CheckNotDiagnosable {
			got[fd.Resource+" "+fd.Check] = fd
		}
	}
	for _, id := range []string{short, long, slow, win} {
		if fd, ok := got[id+" "+hostdiag.CheckIMDSBlockedByFirewall]; !ok || fd.Status != checks.Fail || fd.Account != acct || fd.Region != region {
			t.Errorf("%s: firewall finding %+v", id, fd)
		}
	}
	for id, want := range map[string]string{
		failed: "ended Failed", junk: "unusable output", never: "no answer within 1m0s",
	} {
		fd, ok := got[id+" "+hostdiag.CheckDiagnosisFailed]
		if !ok || fd.Status != checks.Error || !strings.Contains(fd.Detail, want) {
			t.Errorf("%s: %+v, want detail with %q", id, fd, want)
		}
		for _, v := range fd.Evidence {
			if s, ok := v.(string); ok && (strings.ContainsAny(s, "\x1b\x07") || len([]rune(s)) > maxExcerpt+1) {
				t.Errorf("%s: unsafe evidence %q", id, s)
			}
		}
	}
	for id, want := range map[string]string{
		offline:      "not diagnosable on host: agent offline (PingStatus ConnectionLost)",
		stopped:      "not diagnosable on host: instance is stopped",
		unregistered: "not diagnosable on host: not registered with SSM",
	} {
		if fd, ok := got[id+" "+hostdiag.CheckNotDiagnosable]; !ok || !strings.HasPrefix(fd.Detail, want) {
			t.Errorf("%s: %+v, want %q", id, fd, want)
		}
	}

	// With an output bucket the cut reports come from S3.
	f.calls = map[string]int{}
	f.commands = map[string][]string{}
	f.script[never].polls, f.script[slow].polls = 0, 0
	f.script[never].output = report(t, never, 0, "Linux")
	opts.InstanceIDs = []string{long, win, short}
	opts.OutputBucket, opts.OutputPrefix = "bucket", "fd"
	res, err = Run(context.Background(), fakeProvider{f}, run, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered != 3 || f.calls["GetObject"] != 2 || f.calls["GetCommandInvocation"] != 0 {
		t.Errorf("answered %d; calls %v", res.Answered, f.calls)
	}
}

// TestChunks: 120 online instances go out in 3 calls of at most 50.
func TestChunks(t *testing.T) {
	f := &fakeSSM{commands: map[string][]string{}, objects: map[string]string{}, calls: map[string]int{}, script: map[string]*behaviour{}}
	reg := &inventory.Region{Account: acct, Name: region}
	for i := range 120 {
		id := fmt.Sprintf("i-%017x", i+1)
		f.script[id] = &behaviour{status: ssmtypes.CommandInvocationStatusSuccess, output: report(t, id, 0, "Linux")}
		reg.Instances = append(reg.Instances, instance(id, "running", "Online", "Linux"))
	}
	run := &audit.Run{Snapshot: &inventory.Snapshot{Accounts: []*inventory.Account{{ID: acct, Regions: []*inventory.Region{reg}}}}}
	res, err := Run(context.Background(), fakeProvider{f}, run, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.calls["SendCommand"] != 3 || len(res.Commands) != 3 || res.Answered != 120 || f.calls["ListCommandInvocations"] != 3 || f.calls["GetCommandInvocation"] != 0 {
		t.Errorf("calls %v, answered %d", f.calls, res.Answered)
	}
	if res.Stats[0].Check != hostdiag.CheckIMDSUnreachable || res.Stats[0].Evaluated != 120 {
		t.Errorf("stats %+v", res.Stats)
	}
}
