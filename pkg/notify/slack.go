// Package notify sends a run's notifications: the Slack message (through
// an incoming webhook or a bot token, see SlackTarget) and the SNS message
// built by pkg/report. Slack credentials come from a Secrets Manager secret
// (SlackTargetFromSecret) or the environment (SlackTargetFromEnv) and never
// appear in an error.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/fleetdoctor/fleetdoctor/internal/wait"
)

// DefaultSlackAPIURL is the Slack Web API base the bot token is used with.
const DefaultSlackAPIURL = "https://slack.com/api/"

// Retry defaults. Slack allows about one message per second per webhook
// and answers 429 with Retry-After when a sender goes faster
// (https://api.slack.com/docs/rate-limits).
const (
	// DefaultMaxRetries is how many times a rate-limited or failed (5xx)
	// post is retried.
	DefaultMaxRetries = 3
	// DefaultMaxRetryAfter is the longest Retry-After honoured; a longer
	// one fails the post rather than hold a Lambda for minutes.
	DefaultMaxRetryAfter = 60 * time.Second
	// defaultBackoff is the wait before retrying a 5xx or a 429 without
	// Retry-After; it doubles per attempt.
	defaultBackoff = time.Second
	// defaultTimeout bounds one HTTP request.
	defaultTimeout = 30 * time.Second
)

// SlackTarget is where a Slack message goes: an incoming webhook
// (WebhookURL), or a channel posted to with a bot token (Token and
// Channel, through chat.postMessage at APIURL). Its String and GoString
// name the kind of target only, so printing one leaks nothing.
type SlackTarget struct {
	WebhookURL string
	Token      string
	Channel    string
	// APIURL is the Slack Web API base for the bot token
	// (DefaultSlackAPIURL when empty); tests point it at loopback.
	APIURL string
}

// String describes t without its webhook URL or token.
func (t SlackTarget) String() string {
	switch {
	case t.WebhookURL != "":
		return "Slack webhook"
	case t.Token != "":
		return "Slack channel " + t.Channel
	}
	return "no Slack target"
}

// GoString is String, so %#v does not print the secret fields either.
func (t SlackTarget) GoString() string { return t.String() }

// Validate checks that t names exactly one kind of target and that its
// URLs are https (http only on loopback, for tests). Errors name the
// field, never its value.
func (t SlackTarget) Validate() error {
	switch {
	case t.WebhookURL != "" && t.Token != "":
		return errors.New("webhookUrl and token: set one, not both")
	case t.WebhookURL != "":
		if err := checkURL(t.WebhookURL); err != nil {
			return fmt.Errorf("webhookUrl: %w", err)
		}
	case t.Token != "":
		if !strings.HasPrefix(t.Token, "xoxb-") && !strings.HasPrefix(t.Token, "xoxp-") {
			return errors.New("token: not a Slack bot or user token (want xoxb-…)")
		}
		if strings.ContainsAny(t.Token, " \t\r\n") {
			return errors.New("token: contains white space")
		}
		if t.Channel == "" {
			return errors.New("channel: required with a token")
		}
		if !validChannel(t.Channel) {
			return errors.New("channel: want a channel id such as C0123456789 or a name such as #ops")
		}
		if t.APIURL != "" {
			if err := checkURL(t.APIURL); err != nil {
				return fmt.Errorf("apiUrl: %w", err)
			}
		}
	default:
		return errors.New("webhookUrl or token: one is required")
	}
	return nil
}

// validChannel accepts channel ids and names.
func validChannel(c string) bool {
	if len(c) > 80 {
		return false
	}
	for _, r := range strings.TrimPrefix(c, "#") {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return strings.TrimPrefix(c, "#") != ""
}

// checkURL accepts https URLs, and http ones on loopback.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("not a URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return errors.New("not an https URL")
}

// Option tunes PostSlack.
type Option func(*options)

type options struct {
	client        *http.Client
	maxRetries    int
	maxRetryAfter time.Duration
	backoff       time.Duration
}

// WithHTTPClient sets the HTTP client (default: 30 s timeout per request).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithMaxRetries sets how many times a rate-limited or 5xx post is
// retried (default DefaultMaxRetries; 0 never retries).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = max(n, 0) } }

// WithMaxRetryAfter sets the longest Retry-After honoured (default
// DefaultMaxRetryAfter).
func WithMaxRetryAfter(d time.Duration) Option { return func(o *options) { o.maxRetryAfter = d } }

// PostSlack sends msg to t: to a webhook with
// slack.PostWebhookCustomHTTPContext, or with the bot token through
// chat.postMessage. A 429 is retried after its Retry-After (a context-aware
// wait), a 5xx after a doubling backoff, at most DefaultMaxRetries times
// (see the options). Errors say what failed without the webhook URL or
// token.
func PostSlack(ctx context.Context, t SlackTarget, msg slack.WebhookMessage, opts ...Option) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("invalid Slack target: %w", err)
	}
	o := options{
		client:        &http.Client{Timeout: defaultTimeout},
		maxRetries:    DefaultMaxRetries,
		maxRetryAfter: DefaultMaxRetryAfter,
		backoff:       defaultBackoff,
	}
	for _, fn := range opts {
		fn(&o)
	}
	send := func() error {
		return slack.PostWebhookCustomHTTPContext(ctx, t.WebhookURL, o.client, &msg)
	}
	if t.WebhookURL == "" {
		base := t.APIURL
		if base == "" {
			base = DefaultSlackAPIURL
		}
		if !strings.HasSuffix(base, "/") {
			base += "/"
		}
		api := slack.New(t.Token, slack.OptionAPIURL(base), slack.OptionHTTPClient(o.client))
		msgOpts := []slack.MsgOption{
			slack.MsgOptionText(msg.Text, false),
			slack.MsgOptionDisableLinkUnfurl(),
			slack.MsgOptionDisableMediaUnfurl(),
		}
		if msg.Blocks != nil {
			msgOpts = append(msgOpts, slack.MsgOptionBlocks(msg.Blocks.BlockSet...))
		}
		send = func() error {
			_, _, err := api.PostMessageContext(ctx, t.Channel, msgOpts...)
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		err := send()
		if err == nil {
			return nil
		}
		delay, retry := retryDelay(err, o.backoff<<attempt)
		if !retry || attempt >= o.maxRetries || ctx.Err() != nil {
			if retry && attempt >= o.maxRetries {
				return fmt.Errorf("posting to the %s: still failing after %d retries: %w", t, o.maxRetries, redact(err, t))
			}
			return fmt.Errorf("posting to the %s: %w", t, redact(err, t))
		}
		if delay > o.maxRetryAfter {
			return fmt.Errorf("posting to the %s: Slack asked to retry after %s, longer than the %s allowed", t, delay, o.maxRetryAfter)
		}
		if err := wait.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("posting to the %s: waiting %s to retry: %w", t, delay, err)
		}
	}
}

// retryDelay says whether err is worth retrying and after how long:
// Slack's Retry-After for a 429 (slack-go's RateLimitedError, for both
// the webhook and the Web API), backoff for a 429 without it (or with
// one slack-go cannot read) or a 5xx.
func retryDelay(err error, backoff time.Duration) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return max(rl.RetryAfter, 0), true
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) && (sc.Code == http.StatusTooManyRequests || sc.Code >= 500) {
		return backoff, true
	}
	// slack-go reads Retry-After as whole seconds and fails on the HTTP
	// date form RFC 9110 also allows; that is still a 429.
	var ne *strconv.NumError
	if errors.As(err, &ne) && ne.Func == "ParseInt" {
		return backoff, true
	}
	return 0, false
}

// redact returns err with t's webhook URL (whole, its path, and its
// escaped forms) and token replaced by "[redacted]". A *url.Error names
// the URL it failed on, and the webhook's path is its secret.
func redact(err error, t SlackTarget) error {
	msg := err.Error()
	var secrets []string
	if t.WebhookURL != "" {
		secrets = append(secrets, t.WebhookURL, url.PathEscape(t.WebhookURL), url.QueryEscape(t.WebhookURL))
		if u, perr := url.Parse(t.WebhookURL); perr == nil {
			if u.Path != "" && u.Path != "/" {
				secrets = append(secrets, u.String(), u.EscapedPath(), u.Path)
			}
			if u.RawQuery != "" {
				secrets = append(secrets, u.RawQuery)
			}
		}
	}
	if t.Token != "" {
		secrets = append(secrets, t.Token, url.QueryEscape(t.Token))
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg != err.Error() {
		// The original names a secret somewhere in its chain: do not
		// let errors.As hand it out.
		return errors.New(msg)
	}
	return err
}
