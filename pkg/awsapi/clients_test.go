package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// isolate points the SDK's whole default chain at empty files and disables
// IMDS, so nothing from the machine leaks into the test and nothing leaves
// loopback.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_STS", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("HOME", dir)
	t.Setenv("AWS_REGION", "eu-west-1")
}

// stsServer answers GetCallerIdentity and AssumeRole in STS's XML, and
// records what it was asked.
type stsServer struct {
	mu    sync.Mutex
	forms []url.Values
	deny  map[string]bool // role ARNs to refuse
}

func (s *stsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	s.mu.Lock()
	s.forms = append(s.forms, form)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	switch form.Get("Action") {
	case "GetCallerIdentity":
		fmt.Fprint(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>
<Arn>arn:aws-us-gov:sts::111111111111:assumed-role/operator/me</Arn><UserId>AROA:me</UserId><Account>111111111111</Account>
</GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	case "AssumeRole":
		if s.deny[form.Get("RoleArn")] {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>
<Message>User is not authorized to perform: sts:AssumeRole</Message></Error><RequestId>2</RequestId></ErrorResponse>`)
			return
		}
		acct := strings.Split(form.Get("RoleArn"), ":")[4]
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIA%s</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken>
<Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>x</Arn><AssumedRoleId>y</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>3</RequestId></ResponseMetadata></AssumeRoleResponse>`, acct, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func TestProviderUsesEndpointEnvironmentAndAssumesRolePerAccount(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	sts := &stsServer{deny: map[string]bool{"arn:aws-us-gov:iam::333333333333:role/fleetdoctor-audit": true}}
	global := httptest.NewServer(sts)
	defer global.Close()
	var ec2Keys []string
	var mu sync.Mutex
	ec2srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ec2Keys = append(ec2Keys, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>`)
	}))
	defer ec2srv.Close()
	// The SDK's own endpoint environment: a global override and a
	// service-specific one that wins for EC2.
	t.Setenv("AWS_ENDPOINT_URL", global.URL)
	t.Setenv("AWS_ENDPOINT_URL_EC2", ec2srv.URL)

	ctx := context.Background()
	p, err := NewProvider(ctx, Options{RoleName: "fleetdoctor-audit", ExternalID: "ext-42"})
	if err != nil {
		t.Fatal(err)
	}
	r := ec2.NewFromConfig(p.base).Options().Retryer
	if p.base.RetryMode != aws.RetryModeAdaptive {
		t.Errorf("retry mode %q, want adaptive", p.base.RetryMode)
	}
	if got := r.MaxAttempts(); got != DefaultMaxAttempts {
		t.Errorf("max attempts %d, want %d", got, DefaultMaxAttempts)
	}
	// The SDK's own settings still win over fleetdoctor's defaults.
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	t.Setenv("AWS_RETRY_MODE", "standard")
	p2, err := NewProvider(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p2.base.RetryMode != aws.RetryModeStandard || ec2.NewFromConfig(p2.base).Options().Retryer.MaxAttempts() != 2 {
		t.Errorf("AWS_RETRY_MODE/AWS_MAX_ATTEMPTS ignored: mode %q", p2.base.RetryMode)
	}
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	t.Setenv("AWS_RETRY_MODE", "")
	id, err := p.Caller(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.Account != "111111111111" || id.Partition != "aws-us-gov" {
		t.Errorf("caller: %+v", id)
	}
	if err := p.Account(ctx, "222222222222"); err != nil {
		t.Fatalf("Account: %v", err)
	}
	c, err := p.Clients(ctx, "222222222222", "us-gov-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("DescribeInstances through AWS_ENDPOINT_URL_EC2: %v", err)
	}
	if len(ec2Keys) != 1 || !strings.Contains(ec2Keys[0], "Credential=ASIA222222222222/") || !strings.Contains(ec2Keys[0], "/us-gov-west-1/ec2/") {
		t.Errorf("EC2 request signed with %q, want the assumed role's key for us-gov-west-1", ec2Keys)
	}
	var assume url.Values
	for _, f := range sts.forms {
		if f.Get("Action") == "AssumeRole" {
			assume = f
		}
	}
	if assume.Get("RoleArn") != "arn:aws-us-gov:iam::222222222222:role/fleetdoctor-audit" || assume.Get("ExternalId") != "ext-42" || assume.Get("RoleSessionName") != "fleetdoctor" {
		t.Errorf("AssumeRole form: %v", assume)
	}

	// A role that cannot be assumed is that account's problem only.
	err = p.Account(ctx, "333333333333")
	if err == nil || !IsAccessDenied(err) {
		t.Errorf("Account(333…) = %v, want access denied", err)
	}
	if _, err := p.Clients(ctx, "333333333333", "us-gov-west-1"); err == nil {
		t.Error("Clients for an account that could not be prepared must fail")
	}
}

func TestProviderWithoutCredentials(t *testing.T) {
	isolate(t)
	_, err := NewProvider(context.Background(), Options{})
	var ce *CredentialsError
	if !errors.As(err, &ce) {
		t.Fatalf("NewProvider without credentials = %v, want *CredentialsError", err)
	}
	if !strings.Contains(err.Error(), "AWS_PROFILE") || Classify(err) != KindCredentials {
		t.Errorf("error should say how to configure credentials: %v", err)
	}
}

func TestProviderWithoutRoleStaysInCallerAccount(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	srv := httptest.NewServer(&stsServer{})
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	p, err := NewProvider(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Account(context.Background(), "111111111111"); err != nil {
		t.Errorf("caller's own account: %v", err)
	}
	if err := p.Account(context.Background(), "222222222222"); err == nil {
		t.Error("another account without a role name must be refused")
	}
}
