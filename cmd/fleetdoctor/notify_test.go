package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fleetdoctor/fleetdoctor/pkg/notify"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// slackHook is a loopback incoming webhook that records what it gets.
type slackHook struct {
	srv    *httptest.Server
	status int
	mu     sync.Mutex
	bodies [][]byte
}

func newSlackHook(t *testing.T) *slackHook {
	h := &slackHook{status: http.StatusOK}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.mu.Unlock()
		w.WriteHeader(h.status)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *slackHook) url() string { return h.srv.URL + "/services/T1/B1/hooksecret" }

func (h *slackHook) posts() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.bodies...)
}

// clearSlackEnv keeps the developer's own Slack settings out of a test.
func clearSlackEnv(t *testing.T) {
	for _, k := range []string{notify.EnvSlackWebhookURL, notify.EnvSlackToken, notify.EnvSlackChannel, notify.EnvSlackAPIURL} {
		t.Setenv(k, "")
	}
}

func TestNotifyDryRun(t *testing.T) {
	clearSlackEnv(t)
	h := newHarness(acctA)
	runFile := writePrevious(t, h, "--regions", "eu-west-1")
	code := h.run(t, "notify", "--run", runFile, "--dry-run", "--report-url", "https://reports.example.com/r.html",
		"--sns-topic", "arn:aws:sns:eu-west-1:"+acctA+":reports")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	var out struct {
		Slack struct {
			Text   string           `json:"text"`
			Blocks []map[string]any `json:"blocks"`
		} `json:"slack"`
		SNS struct {
			Subject    string            `json:"subject"`
			Body       string            `json:"body"`
			Attributes map[string]string `json:"attributes"`
		} `json:"sns"`
	}
	if err := json.Unmarshal(h.stdout.Bytes(), &out); err != nil {
		t.Fatalf("stdout is not the dry-run object: %v\n%s", err, h.stdout.String())
	}
	if len(out.Slack.Blocks) == 0 || out.Slack.Blocks[0]["type"] != "header" || !strings.Contains(fmt.Sprint(out.Slack.Blocks), "<https://reports.example.com/r.html|Open the full report>") {
		t.Errorf("slack payload: %s", h.stdout.String())
	}
	if !strings.HasPrefix(out.SNS.Subject, "fleetdoctor: ") || out.SNS.Attributes["mode"] != "audit" || !strings.Contains(out.SNS.Body, "Full report: https://reports.example.com/r.html") {
		t.Errorf("sns message: %+v", out.SNS)
	}
	if !strings.Contains(h.stderr.String(), "would publish to arn:aws:sns:eu-west-1:") {
		t.Errorf("stderr: %s", h.stderr.String())
	}
}

func TestNotifyWebhookFromEnv(t *testing.T) {
	clearSlackEnv(t)
	hook := newSlackHook(t)
	t.Setenv(notify.EnvSlackWebhookURL, hook.url())
	h := newHarness(acctA)
	runFile := writePrevious(t, h, "--regions", "eu-west-1")
	if code := h.run(t, "notify", "--run", runFile, "--previous", runFile, "--slack-webhook-env"); code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	posts := hook.posts()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	if !strings.Contains(string(posts[0]), `"blocks"`) || !strings.Contains(string(posts[0]), "*0 new*") {
		t.Errorf("posted %s", posts[0])
	}
	if !strings.Contains(h.stderr.String(), "posted to the Slack webhook") {
		t.Errorf("stderr: %s", h.stderr.String())
	}

	// Slack refuses: exit 3, and the webhook's secret path is not printed.
	hook.status = http.StatusNotFound
	if code := h.run(t, "notify", "--run", runFile, "--slack-webhook-env"); code != exitAWS {
		t.Errorf("refused: exit %d, want %d", code, exitAWS)
	}
	if strings.Contains(h.stderr.String(), "hooksecret") || !strings.Contains(h.stderr.String(), "404") {
		t.Errorf("stderr: %s", h.stderr.String())
	}
}

// TestNotifySecretAndSNS reads the Slack target from Secrets Manager and
// publishes to SNS, both on the sandbox through the SDK's environment.
func TestNotifySecretAndSNS(t *testing.T) {
	clearSlackEnv(t)
	world, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{World: world})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	region := world.Regions[0]
	for _, kv := range sb.Env(region) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_PROFILE", "")

	ctx := context.Background()
	hook := newSlackHook(t)
	sm := secretsmanager.NewFromConfig(sb.Config(region, 1))
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("fleetdoctor/slack"),
		SecretString: aws.String(`{"webhookUrl":"` + hook.url() + `"}`)}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(sb.Config(region, 1)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("reports")})
	if err != nil {
		t.Fatal(err)
	}
	topicARN := aws.ToString(topic.TopicArn)

	h := newHarness(acctA)
	runFile := writePrevious(t, h, "--regions", "eu-west-1")
	code := h.run(t, "notify", "--run", runFile, "--previous", runFile, "--slack-secret", "fleetdoctor/slack",
		"--sns-topic", topicARN, "--report-url", "https://reports.example.com/r.html")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if n := len(hook.posts()); n != 1 {
		t.Errorf("%d Slack posts, want 1", n)
	}
	msgs := sb.Published(topicARN)
	if len(msgs) != 1 {
		t.Fatalf("%d SNS messages, want 1", len(msgs))
	}
	if a := msgs[0].Attributes; a["new"] != "0" || a["resolved"] != "0" || a["mode"] != "audit" || a["dryRun"] != "false" {
		t.Errorf("attributes %v", a)
	}
	if !strings.HasPrefix(msgs[0].Subject, "fleetdoctor: ") || !strings.Contains(msgs[0].Body, "Full report: https://reports.example.com/r.html") {
		t.Errorf("subject %q body:\n%s", msgs[0].Subject, msgs[0].Body)
	}

	// A secret that does not exist is an AWS error (exit 3); one that is
	// not a Slack target is a configuration error (exit 2).
	if code := h.run(t, "notify", "--run", runFile, "--slack-secret", "nope"); code != exitAWS || !strings.Contains(h.stderr.String(), "--slack-secret") {
		t.Errorf("missing secret: exit %d: %s", code, h.stderr.String())
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bad"), SecretString: aws.String(`{"token":"hunter2"}`)}); err != nil {
		t.Fatal(err)
	}
	if code := h.run(t, "notify", "--run", runFile, "--slack-secret", "bad"); code != exitUsage || strings.Contains(h.stderr.String(), "hunter2") ||
		!strings.Contains(h.stderr.String(), "token") {
		t.Errorf("bad secret: exit %d: %s", code, h.stderr.String())
	}
	if n := len(hook.posts()); n != 1 {
		t.Errorf("%d Slack posts after the failures, want still 1", n)
	}
}

func TestNotifyUsageErrors(t *testing.T) {
	clearSlackEnv(t)
	h := newHarness(acctA)
	runFile := writePrevious(t, h, "--regions", "eu-west-1")
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"run":{},"surprise":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--dry-run"}, "--run: required"},
		{[]string{"--run", runFile}, "nothing to send"},
		{[]string{"--run", runFile, "--slack-webhook-env", "--slack-secret", "x"}, "not both"},
		{[]string{"--run", runFile, "--slack-webhook-env"}, "--slack-webhook-env: set " + notify.EnvSlackWebhookURL},
		{[]string{"--run", runFile, "--dry-run", "--report-url", "javascript:alert(1)"}, "--report-url"},
		{[]string{"--run", runFile, "--sns-topic", "arn:aws:sqs:eu-west-1:1:q"}, "--sns-topic"},
		{[]string{"--run", filepath.Join(t.TempDir(), "missing.json"), "--dry-run"}, "--run:"},
		{[]string{"--run", bad, "--dry-run"}, "--run:"},
		{[]string{"--run", runFile, "--previous", bad, "--dry-run"}, "--previous:"},
		{[]string{"--run", runFile, "--dry-run", "extra"}, "unknown command"},
	}
	for _, c := range cases {
		code := h.run(t, append([]string{"notify"}, c.args...)...)
		if code != exitUsage || !strings.Contains(h.stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", c.args, code, h.stderr.String(), exitUsage, c.want)
		}
		if h.stdout.Len() != 0 {
			t.Errorf("%v: wrote stdout %q", c.args, h.stdout.String())
		}
	}
	t.Setenv(notify.EnvSlackToken, "not-a-token-secret")
	t.Setenv(notify.EnvSlackChannel, "C1")
	if code := h.run(t, "notify", "--run", runFile, "--slack-webhook-env"); code != exitUsage || strings.Contains(h.stderr.String(), "not-a-token-secret") ||
		!strings.Contains(h.stderr.String(), notify.EnvSlackToken) {
		t.Errorf("bad token: exit %d: %s", code, h.stderr.String())
	}
}
