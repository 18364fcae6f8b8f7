package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
)

func TestSecretsManager(t *testing.T) {
	sb := start(t, sandbox.Options{World: sampleWorld(1)})
	ctx := context.Background()
	c := secretsmanager.NewFromConfig(sb.Config("eu-west-1", 1))

	created, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("fleetdoctor/slack"), SecretString: aws.String(`{"webhookUrl":"https://hooks.slack.com/services/T/B/X"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := aws.ToString(created.ARN)
	if !strings.HasPrefix(a, "arn:aws:secretsmanager:eu-west-1:"+acctA+":secret:fleetdoctor/slack-") || len(a) != len("arn:aws:secretsmanager:eu-west-1:"+acctA+":secret:fleetdoctor/slack-")+6 {
		t.Errorf("ARN %q", a)
	}

	// By name, by full ARN and by partial ARN.
	for _, id := range []string{"fleetdoctor/slack", a, a[:len(a)-7]} {
		got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if aws.ToString(got.SecretString) != `{"webhookUrl":"https://hooks.slack.com/services/T/B/X"}` || aws.ToString(got.ARN) != a ||
			aws.ToString(got.VersionId) != aws.ToString(created.VersionId) || got.CreatedDate == nil {
			t.Errorf("GetSecretValue(%s) = %+v", id, got)
		}
	}

	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("fleetdoctor/slack"), SecretBinary: []byte(`{"token":"xoxb-1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(a)})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.SecretBinary) != `{"token":"xoxb-1"}` || got.SecretString != nil || aws.ToString(got.VersionId) != aws.ToString(put.VersionId) {
		t.Errorf("after PutSecretValue: %+v", got)
	}

	// Errors, with the SDK's typed exceptions.
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("missing")})
	var nf *smtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("missing secret: %v, want ResourceNotFoundException", err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("fleetdoctor/slack"), SecretString: aws.String("x")})
	var ex *smtypes.ResourceExistsException
	if !errors.As(err, &ex) {
		t.Errorf("duplicate name: %v, want ResourceExistsException", err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("big"), SecretString: aws.String(strings.Repeat("x", 65537))})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterException" {
		t.Errorf("oversized value: %v", err)
	}
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")}); !errors.As(err, &nf) {
		t.Errorf("secret without a value: %v, want ResourceNotFoundException", err)
	}

	// Secrets are per region (and account).
	other := secretsmanager.NewFromConfig(sb.Config("us-east-1", 1))
	if _, err := other.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("fleetdoctor/slack")}); !errors.As(err, &nf) {
		t.Errorf("another region sees the secret: %v", err)
	}
	if n := sb.Stats()["secretsmanager:GetSecretValue"].Calls; n < 5 {
		t.Errorf("GetSecretValue counted %d calls", n)
	}
}
