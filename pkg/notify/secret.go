package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretsAPI is the Secrets Manager call SlackTargetFromSecret makes; a
// *secretsmanager.Client satisfies it.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// maxSecret caps the secret value read: Secrets Manager's own limit is
// 64 KiB, and a Slack target is a few hundred bytes.
const maxSecret = 64 * 1024

// slackSecret is the JSON a Slack secret holds: {"webhookUrl": "…"} or
// {"token": "xoxb-…", "channel": "C123"}.
type slackSecret struct {
	WebhookURL string `json:"webhookUrl"`
	Token      string `json:"token"`
	Channel    string `json:"channel"`
}

// SlackTargetFromSecret reads the Slack target from the Secrets Manager
// secret secretID (name or ARN; the Lambdas get it from
// service.EnvSlackSecretARN). The secret's value (SecretString, or
// SecretBinary holding the same JSON) must be {"webhookUrl": "https://…"}
// or {"token": "xoxb-…", "channel": "C123"}; unknown fields are rejected.
// Errors name the secret and the field, never the value.
func SlackTargetFromSecret(ctx context.Context, api SecretsAPI, secretID string) (SlackTarget, error) {
	if secretID == "" {
		return SlackTarget{}, errors.New("the Slack secret: no secret id given")
	}
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return SlackTarget{}, fmt.Errorf("reading the Slack secret %s: %w", secretID, err)
	}
	var raw []byte
	switch {
	case out.SecretString != nil:
		raw = []byte(aws.ToString(out.SecretString))
	case len(out.SecretBinary) > 0:
		raw = out.SecretBinary
	default:
		return SlackTarget{}, fmt.Errorf("the Slack secret %s has no value", secretID)
	}
	t, err := parseSlackSecret(raw)
	if err != nil {
		return SlackTarget{}, fmt.Errorf("the Slack secret %s: %w", secretID, err)
	}
	return t, nil
}

// parseSlackSecret decodes and validates a secret value. encoding/json's
// own errors can quote part of the input, so they are replaced by ones
// that name the field or the offset only.
func parseSlackSecret(raw []byte) (SlackTarget, error) {
	if len(raw) > maxSecret {
		return SlackTarget{}, fmt.Errorf("the value is larger than %d KiB", maxSecret/1024)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s slackSecret
	if err := dec.Decode(&s); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return SlackTarget{}, fmt.Errorf("field %q: want a string", te.Field)
		case errors.As(err, &se):
			return SlackTarget{}, fmt.Errorf("the value is not JSON (syntax error at byte %d); want {\"webhookUrl\": …} or {\"token\": …, \"channel\": …}", se.Offset)
		case errors.As(err, &te):
			return SlackTarget{}, errors.New("the value is not a JSON object; want {\"webhookUrl\": …} or {\"token\": …, \"channel\": …}")
		}
		// DisallowUnknownFields: `json: unknown field "name"` names the
		// field, which is not secret.
		return SlackTarget{}, fmt.Errorf("the value is not a Slack target: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return SlackTarget{}, errors.New("the value has more after its JSON object")
	}
	t := SlackTarget{WebhookURL: s.WebhookURL, Token: s.Token, Channel: s.Channel}
	if s.WebhookURL != "" && s.Channel != "" && s.Token == "" {
		return SlackTarget{}, errors.New(`field "channel": only with "token" (a webhook posts to its own channel)`)
	}
	if err := t.Validate(); err != nil {
		return SlackTarget{}, fmt.Errorf("field %w", err)
	}
	return t, nil
}

// Environment variables SlackTargetFromEnv reads (the CLI's
// --slack-webhook-env).
const (
	EnvSlackWebhookURL = "FLEETDOCTOR_SLACK_WEBHOOK_URL"
	EnvSlackToken      = "FLEETDOCTOR_SLACK_TOKEN"
	EnvSlackChannel    = "FLEETDOCTOR_SLACK_CHANNEL"
	// EnvSlackAPIURL overrides the Slack Web API base for the token
	// (tests, Slack GovSlack); optional.
	EnvSlackAPIURL = "FLEETDOCTOR_SLACK_API_URL"
)

// SlackTargetFromEnv reads the Slack target from the environment through
// getenv: EnvSlackWebhookURL, or EnvSlackToken with EnvSlackChannel. It
// reports false when none is set. Errors name the variable, never its
// value.
func SlackTargetFromEnv(getenv func(string) string) (SlackTarget, bool, error) {
	t := SlackTarget{
		WebhookURL: getenv(EnvSlackWebhookURL),
		Token:      getenv(EnvSlackToken),
		Channel:    getenv(EnvSlackChannel),
		APIURL:     getenv(EnvSlackAPIURL),
	}
	if t.WebhookURL == "" && t.Token == "" {
		if t.Channel != "" {
			return SlackTarget{}, false, fmt.Errorf("%s is set without %s", EnvSlackChannel, EnvSlackToken)
		}
		return SlackTarget{}, false, nil
	}
	if err := t.Validate(); err != nil {
		return SlackTarget{}, false, fmt.Errorf("%s", envNames(err, t))
	}
	return t, true, nil
}

// envNames rewrites a Validate error to name the environment variables.
func envNames(err error, t SlackTarget) string {
	switch {
	case t.WebhookURL != "" && t.Token != "":
		return fmt.Sprintf("%s and %s: set one, not both", EnvSlackWebhookURL, EnvSlackToken)
	case t.WebhookURL != "":
		return fmt.Sprintf("%s: %v", EnvSlackWebhookURL, trimField(err))
	case t.Channel == "" || !validChannel(t.Channel):
		return fmt.Sprintf("%s: %v", EnvSlackChannel, trimField(err))
	case t.APIURL != "" && checkURL(t.APIURL) != nil:
		return fmt.Sprintf("%s: %v", EnvSlackAPIURL, trimField(err))
	}
	return fmt.Sprintf("%s: %v", EnvSlackToken, trimField(err))
}

// trimField drops Validate's "field: " prefix.
func trimField(err error) string {
	msg := err.Error()
	for _, f := range []string{"webhookUrl: ", "token: ", "channel: ", "apiUrl: "} {
		if len(msg) > len(f) && msg[:len(f)] == f {
			return msg[len(f):]
		}
	}
	return msg
}
