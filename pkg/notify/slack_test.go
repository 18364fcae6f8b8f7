package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// fakeSlack is a loopback Slack: incoming webhooks under /services/ and
// the Web API's chat.postMessage under /api/. The first `limited`
// requests are answered 429 with Retry-After (when retryAfter is set),
// then `status` (200 by default).
type fakeSlack struct {
	srv *httptest.Server

	mu         sync.Mutex
	limited    int
	retryAfter string
	status     int
	apiError   string
	requests   []fakeRequest
}

type fakeRequest struct {
	at     time.Time
	path   string
	auth   string
	form   url.Values
	body   []byte
	answer int
}

const testToken = "xoxb-123-456-secrettokenvalue"

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	req := fakeRequest{at: time.Now(), path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		req.form, _ = url.ParseQuery(string(body))
	}
	defer func() { f.requests = append(f.requests, req) }()
	if f.limited > 0 {
		f.limited--
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		req.answer = http.StatusTooManyRequests
		http.Error(w, "rate_limited", http.StatusTooManyRequests)
		return
	}
	status := f.status
	if status == 0 {
		status = http.StatusOK
	}
	req.answer = status
	if status != http.StatusOK {
		http.Error(w, "invalid_payload", status)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/api/chat.postMessage" {
			fmt.Fprint(w, `{"ok":false,"error":"unknown_method"}`)
			return
		}
		if f.apiError != "" {
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, f.apiError)
			return
		}
		fmt.Fprint(w, `{"ok":true,"channel":"C0123456789","ts":"1700000000.000100"}`)
		return
	}
	fmt.Fprint(w, "ok")
}

func (f *fakeSlack) calls() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeSlack) webhook() SlackTarget {
	return SlackTarget{WebhookURL: f.srv.URL + "/services/T0000/B0000/supersecretpath"}
}

func (f *fakeSlack) bot() SlackTarget {
	return SlackTarget{Token: testToken, Channel: "C0123456789", APIURL: f.srv.URL + "/api"}
}

func testMessage() slack.WebhookMessage {
	run := &audit.Run{Run: audit.Info{ID: "run-1"}, Summary: audit.Summary{Instances: 10, FailingInstances: 1, Health: 90}}
	return report.SlackMessage(report.NotifyInput{Run: run, Mode: "audit"})
}

// assertNoSecret fails when err's text carries the target's secrets.
func assertNoSecret(t *testing.T, err error, target SlackTarget) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"supersecretpath", "T0000/B0000", testToken, "secrettokenvalue"} {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, target), s) {
			t.Errorf("the error leaks %q: %v", s, err)
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("the error hands out the *url.Error naming the URL: %v", ue.URL)
	}
}

func TestPostSlackWebhook(t *testing.T) {
	f := newFakeSlack(t)
	msg := testMessage()
	if err := PostSlack(context.Background(), f.webhook(), msg); err != nil {
		t.Fatal(err)
	}
	reqs := f.calls()
	if len(reqs) != 1 || reqs[0].path != "/services/T0000/B0000/supersecretpath" {
		t.Fatalf("requests: %+v", reqs)
	}
	var got slack.WebhookMessage
	if err := json.Unmarshal(reqs[0].body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != msg.Text || got.Blocks == nil || len(got.Blocks.BlockSet) != len(msg.Blocks.BlockSet) {
		t.Errorf("posted %s", reqs[0].body)
	}
}

func TestPostSlackWebhookHonoursRetryAfter(t *testing.T) {
	f := newFakeSlack(t)
	f.limited, f.retryAfter = 1, "1"
	start := time.Now()
	if err := PostSlack(context.Background(), f.webhook(), testMessage()); err != nil {
		t.Fatal(err)
	}
	reqs := f.calls()
	if len(reqs) != 2 || reqs[0].answer != http.StatusTooManyRequests || reqs[1].answer != http.StatusOK {
		t.Fatalf("want a 429 then a 200, got %+v", reqs)
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retried after %s, before the Retry-After of 1s", gap)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("took %s", elapsed)
	}
}

func TestPostSlackRetriesAreBounded(t *testing.T) {
	f := newFakeSlack(t)
	f.limited, f.retryAfter = 100, "0"
	err := PostSlack(context.Background(), f.webhook(), testMessage(), WithMaxRetries(2))
	if err == nil || !strings.Contains(err.Error(), "after 2 retries") {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err, f.webhook())
	if n := len(f.calls()); n != 3 {
		t.Errorf("%d requests, want 3 (1 + 2 retries)", n)
	}

	// A Retry-After beyond the cap fails at once.
	f2 := newFakeSlack(t)
	f2.limited, f2.retryAfter = 1, "3600"
	err = PostSlack(context.Background(), f2.webhook(), testMessage())
	if err == nil || !strings.Contains(err.Error(), "retry after 1h0m0s") {
		t.Fatalf("err = %v", err)
	}
	if n := len(f2.calls()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestPostSlackRetryAfterDateAndServerErrors(t *testing.T) {
	f := newFakeSlack(t)
	// An HTTP-date Retry-After, which slack-go cannot parse, still retries.
	f.limited, f.retryAfter = 1, "Wed, 21 Oct 2015 07:28:00 GMT"
	if err := PostSlack(context.Background(), f.webhook(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.calls()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	f2 := newFakeSlack(t)
	f2.status = http.StatusBadGateway
	err := PostSlack(context.Background(), f2.webhook(), testMessage(), WithMaxRetries(1))
	assertNoSecret(t, err, f2.webhook())
	if n := len(f2.calls()); n != 2 {
		t.Errorf("a 502 was tried %d times, want 2", n)
	}
}

func TestPostSlackContextCancelsTheWait(t *testing.T) {
	f := newFakeSlack(t)
	f.limited, f.retryAfter = 1, "30"
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := PostSlack(ctx, f.webhook(), testMessage())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the wait ignored the context")
	}
}

func TestPostSlackWebhookErrorsDoNotLeak(t *testing.T) {
	f := newFakeSlack(t)
	f.status = http.StatusBadRequest
	err := PostSlack(context.Background(), f.webhook(), testMessage())
	assertNoSecret(t, err, f.webhook())
	if !strings.Contains(err.Error(), "400") {
		t.Errorf("err = %v, want the status", err)
	}
	if n := len(f.calls()); n != 1 {
		t.Errorf("a 400 was retried: %d requests", n)
	}

	// A connection failure: net/http's error names the URL.
	dead := newFakeSlack(t)
	target := dead.webhook()
	dead.srv.Close()
	err = PostSlack(context.Background(), target, testMessage(), WithMaxRetries(0))
	assertNoSecret(t, err, target)
}

func TestPostSlackBot(t *testing.T) {
	f := newFakeSlack(t)
	f.limited, f.retryAfter = 1, "1"
	msg := testMessage()
	if err := PostSlack(context.Background(), f.bot(), msg); err != nil {
		t.Fatal(err)
	}
	reqs := f.calls()
	if len(reqs) != 2 {
		t.Fatalf("want a 429 then a 200, got %d requests", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retried after %s, before the Retry-After of 1s", gap)
	}
	last := reqs[1]
	if last.path != "/api/chat.postMessage" {
		t.Errorf("path %s", last.path)
	}
	token, channel, blocks, text := last.form.Get("token"), last.form.Get("channel"), last.form.Get("blocks"), last.form.Get("text")
	if last.auth == "Bearer "+testToken {
		token = testToken
	}
	if token != testToken || channel != "C0123456789" || text != msg.Text || !strings.Contains(blocks, `"type":"header"`) {
		t.Errorf("posted auth=%q form=%v", last.auth, last.form)
	}
}

func TestPostSlackBotErrors(t *testing.T) {
	f := newFakeSlack(t)
	f.apiError = "channel_not_found"
	err := PostSlack(context.Background(), f.bot(), testMessage())
	assertNoSecret(t, err, f.bot())
	if !strings.Contains(err.Error(), "channel_not_found") || !strings.Contains(err.Error(), "C0123456789") {
		t.Errorf("err = %v, want Slack's error and the channel", err)
	}
	if n := len(f.calls()); n != 1 {
		t.Errorf("an API error was retried: %d requests", n)
	}
}

func TestSlackTargetValidate(t *testing.T) {
	cases := []struct {
		t    SlackTarget
		want string // "" is valid
	}{
		{SlackTarget{WebhookURL: "https://hooks.slack.com/services/T/B/X"}, ""},
		{SlackTarget{WebhookURL: "http://127.0.0.1:9/hook"}, ""},
		{SlackTarget{WebhookURL: "http://hooks.slack.com/services/T/B/X"}, "webhookUrl: not an https URL"},
		{SlackTarget{WebhookURL: "https://user:pw@hooks.slack.com/x"}, "webhookUrl: not a URL"},
		{SlackTarget{WebhookURL: "https://h/x", Token: "xoxb-1"}, "set one, not both"},
		{SlackTarget{Token: "xoxb-1", Channel: "C123"}, ""},
		{SlackTarget{Token: "xoxb-1", Channel: "#ops"}, ""},
		{SlackTarget{Token: "secret-not-slack", Channel: "C123"}, "token: not a Slack bot"},
		{SlackTarget{Token: "xoxb-1"}, "channel: required"},
		{SlackTarget{Token: "xoxb-1", Channel: "<!channel>"}, "channel: want"},
		{SlackTarget{}, "one is required"},
	}
	for _, c := range cases {
		err := c.t.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.t, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: err = %v, want %q", c.t, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "secret-not-slack") || strings.Contains(err.Error(), "pw@")) {
			t.Errorf("the error echoes the value: %v", err)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v %s", f1, f1, f1, f1); strings.Contains(s, "xoxb") || strings.Contains(s, "services") {
		t.Errorf("formatting a target leaks its secret: %s", s)
	}
}

var f1 = SlackTarget{WebhookURL: "https://hooks.slack.com/services/T/B/X", Token: "xoxb-1"}
