package notify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// secretValues answers GetSecretValue from a map, for the validation
// cases; TestSlackTargetFromSandboxSecret goes over the wire.
type secretValues map[string]string

func (s secretValues) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := s[aws.ToString(in.SecretId)]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: Secrets Manager can't find the specified secret.")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func TestSlackTargetFromSecretValidates(t *testing.T) {
	const secretish = "hunter2-secret-value"
	cases := []struct {
		value string
		want  SlackTarget
		err   string
	}{
		{`{"webhookUrl":"https://hooks.slack.com/services/T/B/X"}`, SlackTarget{WebhookURL: "https://hooks.slack.com/services/T/B/X"}, ""},
		{`{"token":"xoxb-1-2","channel":"C123"}`, SlackTarget{Token: "xoxb-1-2", Channel: "C123"}, ""},
		{`{"token":"xoxb-1-2"}`, SlackTarget{}, `field channel: required`},
		{`{"token":"` + secretish + `","channel":"C1"}`, SlackTarget{}, `field token: not a Slack bot`},
		{`{"webhookUrl":"http://` + secretish + `.example/x"}`, SlackTarget{}, `field webhookUrl: not an https URL`},
		{`{"webhookUrl":"https://h.example/x","channel":"C1"}`, SlackTarget{}, `field "channel": only with "token"`},
		{`{"webhookUrl":42}`, SlackTarget{}, `field "webhookUrl": want a string`},
		{`{"webhook":"` + secretish + `"}`, SlackTarget{}, `unknown field "webhook"`},
		{`{}`, SlackTarget{}, `one is required`},
		{secretish, SlackTarget{}, `not JSON`},
		{`["` + secretish + `"]`, SlackTarget{}, `not a JSON object`},
		{`{"token":"xoxb-1","channel":"C1"} {"x":1}`, SlackTarget{}, `more after`},
	}
	for _, c := range cases {
		got, err := SlackTargetFromSecret(context.Background(), secretValues{"slack": c.value}, "slack")
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: got %#v, %v", c.value, got, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: err = %v, want %q", c.value, err, c.err)
		}
		if err != nil && (strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), "hunter")) {
			t.Errorf("the error echoes the secret: %v", err)
		}
		if err != nil && !strings.Contains(err.Error(), "slack") {
			t.Errorf("the error does not name the secret: %v", err)
		}
	}
	if _, err := SlackTargetFromSecret(context.Background(), secretValues{}, "missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestSlackTargetFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want SlackTarget
		ok   bool
		err  string
	}{
		{map[string]string{}, SlackTarget{}, false, ""},
		{map[string]string{EnvSlackWebhookURL: "https://hooks.slack.com/services/T/B/X"}, SlackTarget{WebhookURL: "https://hooks.slack.com/services/T/B/X"}, true, ""},
		{map[string]string{EnvSlackToken: "xoxb-9", EnvSlackChannel: "C9"}, SlackTarget{Token: "xoxb-9", Channel: "C9"}, true, ""},
		{map[string]string{EnvSlackToken: "xoxb-9"}, SlackTarget{}, false, EnvSlackChannel + ": required"},
		{map[string]string{EnvSlackChannel: "C9"}, SlackTarget{}, false, EnvSlackChannel + " is set without " + EnvSlackToken},
		{map[string]string{EnvSlackToken: "nope-secret", EnvSlackChannel: "C9"}, SlackTarget{}, false, EnvSlackToken + ": not a Slack"},
		{map[string]string{EnvSlackWebhookURL: "ftp://nope-secret/x"}, SlackTarget{}, false, EnvSlackWebhookURL + ": not an https URL"},
		{map[string]string{EnvSlackWebhookURL: "https://h/x", EnvSlackToken: "xoxb-1"}, SlackTarget{}, false, "set one, not both"},
		{map[string]string{EnvSlackToken: "xoxb-9", EnvSlackChannel: "C9", EnvSlackAPIURL: "http://slack.example/api/"}, SlackTarget{}, false, EnvSlackAPIURL + ": not an https URL"},
	}
	for _, c := range cases {
		got, ok, err := SlackTargetFromEnv(env(c.env))
		switch {
		case c.err == "" && (err != nil || ok != c.ok || got != c.want):
			t.Errorf("%v: got %#v, %v, %v", c.env, got, ok, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: err = %v, want %q", c.env, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "nope-secret") {
			t.Errorf("the error echoes the value: %v", err)
		}
	}
}
