package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fleetdoctor/fleetdoctor/pkg/notify"
	fdsh "github.com/fleetdoctor/fleetdoctor/pkg/securityhub"
)

func TestLoadConfig(t *testing.T) {
	good := map[string]string{
		EnvBucket: "reports-bucket", EnvRegions: "eu-west-1, us-east-1", EnvAccounts: "111111111111,222222222222",
		EnvRoleName: "FleetDoctorAudit", EnvSecurityHub: "true",
		EnvPolicy: "version: 1\nremediations:\n  imds_enable_endpoint: {enabled: true}\n",
	}
	env := func(over map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := over[k]; ok {
				return v
			}
			return good[k]
		}
	}
	c, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Slack != nil {
		t.Errorf("a Slack target without configuration: %v", c.Slack)
	}
	if c, err := LoadConfig(env(map[string]string{notify.EnvSlackWebhookURL: "https://hooks.slack.com/services/T/B/x"})); err != nil || c.Slack == nil {
		t.Errorf("webhook from the environment: %v, %v", c.Slack, err)
	}
	if c.Bucket != "reports-bucket" || !slices.Equal(c.Regions, []string{"eu-west-1", "us-east-1"}) || len(c.Accounts) != 2 ||
		!c.SecurityHub || !c.Policy.Enabled("imds_enable_endpoint") {
		t.Errorf("config %+v", c)
	}
	for name, tc := range map[string]struct {
		over map[string]string
		want string
	}{
		"no bucket":   {map[string]string{EnvBucket: ""}, EnvBucket + ": required"},
		"bad bucket":  {map[string]string{EnvBucket: "Bad_Bucket"}, EnvBucket},
		"no regions":  {map[string]string{EnvRegions: ""}, EnvRegions + ": required"},
		"bad region":  {map[string]string{EnvRegions: "eu-west-1,mars-1"}, EnvRegions + ": item 2"},
		"bad account": {map[string]string{EnvAccounts: "1234"}, EnvAccounts + ": item 1"},
		"bad role":    {map[string]string{EnvRoleName: "a b"}, EnvRoleName},
		"bad ou":      {map[string]string{EnvOrgOU: "finance"}, EnvOrgOU},
		"bad hub":     {map[string]string{EnvSecurityHub: "yes please"}, EnvSecurityHub},
		"bad policy":  {map[string]string{EnvPolicy: "version: 1\ncaps: {perRun: 0}\n"}, EnvPolicy + ": /caps/perRun"},
		"bad topic":   {map[string]string{EnvSNSTopicARN: "reports"}, EnvSNSTopicARN},
		"bad secret":  {map[string]string{EnvSlackSecretARN: "slack"}, EnvSlackSecretARN},
		"bad automat": {map[string]string{EnvAutomationRoleARN: "admin"}, EnvAutomationRoleARN},
		"bad webhook": {map[string]string{notify.EnvSlackWebhookURL: "http://slack.example.com/x"}, notify.EnvSlackWebhookURL},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadConfig(env(tc.over)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// fakeOrg is an organisation: OUs with children and accounts, listed one
// item a page so the paginators are exercised.
type fakeOrg struct {
	children map[string][]string
	accounts map[string][]orgtypes.Account
	calls    int
}

func page[T any](items []T, token *string) ([]T, *string) {
	i := 0
	if token != nil {
		fmt.Sscan(*token, &i)
	}
	if i >= len(items) {
		return nil, nil
	}
	var next *string
	if i+1 < len(items) {
		next = aws.String(fmt.Sprint(i + 1))
	}
	return items[i : i+1], next
}

func (f *fakeOrg) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.calls++
	items, next := page(f.accounts[aws.ToString(in.ParentId)], in.NextToken)
	return &organizations.ListAccountsForParentOutput{Accounts: items, NextToken: next}, nil
}

func (f *fakeOrg) ListChildren(_ context.Context, in *organizations.ListChildrenInput, _ ...func(*organizations.Options)) (*organizations.ListChildrenOutput, error) {
	f.calls++
	if in.ChildType != orgtypes.ChildTypeOrganizationalUnit {
		return nil, errors.New("only OUs are listed")
	}
	var kids []orgtypes.Child
	for _, id := range f.children[aws.ToString(in.ParentId)] {
		kids = append(kids, orgtypes.Child{Id: aws.String(id), Type: orgtypes.ChildTypeOrganizationalUnit})
	}
	items, next := page(kids, in.NextToken)
	return &organizations.ListChildrenOutput{Children: items, NextToken: next}, nil
}

func acct(id string, st orgtypes.AccountState) orgtypes.Account {
	return orgtypes.Account{Id: aws.String(id), State: st}
}

// The OU's accounts are those of the OU and every OU below it, active
// only; the input's accounts must be among them.
func TestResolveOU(t *testing.T) {
	e := newEnv(t)
	org := &fakeOrg{
		children: map[string][]string{"ou-root-aaaaaaaa": {"ou-root-bbbbbbbb", "ou-root-cccccccc"}, "ou-root-bbbbbbbb": {"ou-root-dddddddd"}},
		accounts: map[string][]orgtypes.Account{
			"ou-root-aaaaaaaa": {acct("111111111111", orgtypes.AccountStateActive)},
			"ou-root-bbbbbbbb": {acct("222222222222", orgtypes.AccountStateActive), acct("333333333333", orgtypes.AccountStateSuspended)},
			"ou-root-dddddddd": {acct("444444444444", orgtypes.AccountStateActive), acct("555555555555", orgtypes.AccountStatePendingClosure)},
		},
	}
	got, err := OUAccounts(context.Background(), org, "ou-root-aaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"111111111111", "222222222222", "444444444444"}; !slices.Equal(got, want) {
		t.Errorf("OU accounts %v, want %v", got, want)
	}
	e.svc.Config.OrgOU = "ou-root-aaaaaaaa"
	e.svc.Organizations = org
	in := Input{Mode: ModeAudit, RunID: "run-ou", Scope: Scope{Regions: []string{"eu-west-1"}}}
	res, err := e.svc.Resolve(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 3 {
		t.Errorf("%d targets, want 3 accounts × 1 region", res.Count)
	}
	in.Scope.Accounts = []string{"111111111111", "333333333333"}
	if _, err := e.svc.Resolve(context.Background(), in); !isType(err, ErrorInvalidInput) || !strings.Contains(err.Error(), "input.scope.accounts[1]") {
		t.Errorf("a suspended account in scope: %v", err)
	}
}

// fakeSecrets holds one secret.
type fakeSecrets struct{ value string }

func (f fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if f.value == "" {
		return nil, errors.New("ResourceNotFoundException: no such secret")
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, SecretString: aws.String(f.value)}, nil
}

// The report posts to Slack (a webhook on loopback) and publishes to SNS
// (the sandbox's); a Slack secret that cannot be read is reported without
// stopping SNS.
func TestReportNotifies(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var posts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, string(b))
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer hook.Close()
	region := e.world.Regions[0]
	snsc := sns.NewFromConfig(e.sb.Config(region, 0))
	topic, err := snsc.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String("fleetdoctor-reports")})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Config.SlackSecretARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:slack-AbCdEf"
	e.svc.Config.SNSTopicARN = aws.ToString(topic.TopicArn)
	e.svc.Secrets = fakeSecrets{value: `{"webhookUrl":"` + hook.URL + `/hook"}`}
	e.svc.SNS = func(r string) notify.SNSPublishAPI { return sns.NewFromConfig(e.sb.Config(r, 0)) }
	e.svc.SlackOptions = []notify.Option{notify.WithHTTPClient(hook.Client())}
	e.svc.Config.SecurityHub = true
	e.svc.SecurityHub = func(r string) fdsh.BatchImporter { return securityhub.NewFromConfig(e.sb.Config(r, 0)) }

	in := Input{Mode: ModeAudit, RunID: "run-s", Scope: Scope{Accounts: e.world.Accounts[:1], Regions: e.world.Regions[:1]}}
	e.discoverAll(t, in)
	rep, err := e.svc.Report(context.Background(), ReportEvent{RunID: in.RunID, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Notified, []string{NotifiedSecurityHub, NotifiedSlack, NotifiedSNS}) || len(rep.NotifyErrors) != 0 {
		t.Fatalf("notified %v, errors %v", rep.Notified, rep.NotifyErrors)
	}
	if n := e.sb.Stats()["securityhub:BatchImportFindings"].OK(); n == 0 {
		t.Error("no findings were imported into Security Hub")
	}
	if len(posts) != 1 || !json.Valid([]byte(posts[0])) {
		t.Errorf("Slack got %d posts: %q", len(posts), posts)
	}
	if msgs := e.sb.Published(e.svc.Config.SNSTopicARN); len(msgs) != 1 {
		t.Errorf("%d SNS messages", len(msgs))
	}

	e.svc.Secrets = fakeSecrets{}
	rep, err = e.svc.Report(context.Background(), ReportEvent{RunID: in.RunID, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Notified, []string{NotifiedSecurityHub, NotifiedSNS}) || len(rep.NotifyErrors) != 1 || !strings.HasPrefix(rep.NotifyErrors[0], "slack: ") {
		t.Errorf("with an unreadable secret: notified %v, errors %v", rep.Notified, rep.NotifyErrors)
	}
}

// Each Lambda main builds as the deployment builds it: linux/arm64,
// lambda.norpc, no cgo.
func TestLambdasBuild(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: builds five binaries (never skipped under CI=true)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go is not on PATH")
		}
		t.Skip("go is not on PATH")
	}
	out := t.TempDir()
	for _, name := range []string{LambdaTargets, LambdaDiscover, LambdaDiagnose, LambdaRemediate, LambdaReport} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join("..", "..", "lambdas", name)
			if lines := countLines(t, filepath.Join(src, "main.go")); lines >= 40 {
				t.Errorf("lambdas/%s/main.go has %d lines; a main stays under 40", name, lines)
			}
			bin := filepath.Join(out, name, "bootstrap")
			cmd := exec.Command(goBin, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", bin, "./"+filepath.ToSlash(src))
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, b)
			}
			if fi, err := os.Stat(bin); err != nil || fi.Size() == 0 {
				t.Fatalf("no bootstrap: %v", err)
			}
		})
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// The input's instance ids and tags narrow what a discover part holds,
// and a large part is stored gzipped and read back whole.
func TestDiscoverNarrowsAndCompresses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tg := Target{RunID: "run-w", Account: e.world.Accounts[0], Region: e.world.Regions[0]}
	resp, err := e.svc.Discover(ctx, DiscoverEvent{Target: tg, Input: Input{Mode: ModeAudit, RunID: tg.RunID}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := e.sb.S3Object(testBucket, resp.Key)
	if err != nil {
		t.Fatal(err)
	}
	var whole DiscoverPart
	e.get(t, resp.Key, &whole)
	if gz := raw[0] == 0x1f; gz != (len(raw) > 0 && resp.Instances > 0 && !json.Valid(raw)) {
		t.Errorf("a part of %d instances is stored as %d bytes starting %q", resp.Instances, len(raw), raw[:2])
	}
	// A document over the threshold is gzipped and read back whole.
	big := strings.Repeat("fleetdoctor ", gzipAbove/6)
	if err := e.svc.putJSON(ctx, "runs/x/big.json", map[string]string{"big": big}); err != nil {
		t.Fatal(err)
	}
	if stored, err := e.sb.S3Object(testBucket, "runs/x/big.json"); err != nil || stored[0] != 0x1f || len(stored) > gzipAbove/10 {
		t.Errorf("a %d-byte document is stored as %d bytes (%v)", len(big), len(stored), err)
	}
	var back map[string]string
	e.get(t, "runs/x/big.json", &back)
	if back["big"] != big {
		t.Error("the gzipped document did not read back whole")
	}
	if whole.Run.Summary.Instances != resp.Instances || len(whole.Snapshot.Accounts[0].Regions[0].Instances) != resp.Instances {
		t.Fatalf("read back %d instances, wrote %d", whole.Run.Summary.Instances, resp.Instances)
	}
	insts := whole.Snapshot.Accounts[0].Regions[0].Instances
	pick := []string{insts[0].ID, insts[len(insts)-1].ID}
	in := Input{Mode: ModeAudit, RunID: "run-n2", Scope: Scope{InstanceIDs: pick}}
	tg.RunID = in.RunID
	resp, err = e.svc.Discover(ctx, DiscoverEvent{Target: tg, Input: in})
	if err != nil {
		t.Fatal(err)
	}
	var part DiscoverPart
	e.get(t, resp.Key, &part)
	if resp.Instances != 2 || len(part.Snapshot.Accounts[0].Regions[0].Instances) != 2 {
		t.Errorf("narrowed to %v: %d instances", pick, resp.Instances)
	}
	for _, f := range part.Run.Findings {
		if f.ResourceType == "AWS::EC2::Instance" && !slices.Contains(pick, f.Resource) {
			t.Errorf("finding for %s outside the scope", f.Resource)
		}
	}
}

// A batch whose Task failed is recorded: each of its instances gets a
// host_diagnosis_failed finding, a failed remediate batch counts its
// changes as failed; keys outside the run are refused.
func TestBatchRecordFailure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := Input{Mode: ModeRemediate, RunID: "run-f"}
	key := runPrefix(in.RunID) + "diagnose/batches/00000.json"
	if err := e.svc.putJSON(ctx, key, DiagnoseBatchDoc{Account: "111111111111", Region: "eu-west-1", InstanceIDs: []string{"i-0000000000000000a", "i-0000000000000000b"}}); err != nil {
		t.Fatal(err)
	}
	b := Batch{Key: key, Account: "111111111111", Region: "eu-west-1", Size: 2}
	out, err := e.svc.Diagnose(ctx, DiagnoseEvent{Action: "recordFailure", RunID: in.RunID, Input: in, Batch: &b, Error: "States.Timeout", Cause: "timed out"})
	if err != nil {
		t.Fatal(err)
	}
	diag, err := e.svc.loadDiagnosis(ctx, in.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if out.(*PartResponse).Findings != 2 || diag.Failed != 2 || len(diag.Findings) != 2 || !strings.Contains(diag.Findings[1].Detail, "States.Timeout") {
		t.Errorf("recorded diagnosis failure: %+v", diag)
	}

	rb := Batch{Key: runPrefix(in.RunID) + "remediate/batches/00000.json", Account: "111111111111", Region: "eu-west-1", Size: 7}
	if err := e.svc.putJSON(ctx, planKey(in.RunID), map[string]any{"runId": in.RunID, "batches": []any{}, "skips": []any{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Remediate(ctx, RemediateEvent{Action: "recordFailure", RunID: in.RunID, Input: in, Batch: &rb, Error: "Lambda.Unknown"}); err != nil {
		t.Fatal(err)
	}
	oc, err := e.svc.outcome(ctx, in.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if oc == nil || oc.Failed != 7 {
		t.Errorf("outcome %+v, want 7 failed", oc)
	}

	evil := Batch{Key: "runs/other/diagnose/batches/00000.json"}
	if _, err := e.svc.Diagnose(ctx, DiagnoseEvent{Action: "batch", RunID: in.RunID, Batch: &evil}); !isType(err, ErrorInvalidInput) {
		t.Errorf("a batch of another run: %v", err)
	}
	if _, err := e.svc.Remediate(ctx, RemediateEvent{Action: "batch", RunID: in.RunID}); !isType(err, ErrorInvalidInput) {
		t.Errorf("a batch without a key: %v", err)
	}
	if _, err := e.svc.Remediate(ctx, RemediateEvent{Action: "apply", RunID: in.RunID}); !isType(err, ErrorUnknownAction) {
		t.Errorf("an unknown action: %v", err)
	}
	if _, err := e.svc.Report(ctx, ReportEvent{RunID: "../../etc"}); !isType(err, ErrorInvalidInput) {
		t.Errorf("a run id with a path: %v", err)
	}
}
