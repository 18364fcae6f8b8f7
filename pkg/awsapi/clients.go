package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// DefaultMaxAttempts is how many times a call is tried before its error
// counts: a fleet audit shares API buckets with everything else in the
// account, so it retries more patiently than the SDK's default of 3.
const DefaultMaxAttempts = 8

// Options configures AWSProvider.
type Options struct {
	// Profile is a shared-config profile; empty means the SDK's own choice
	// (AWS_PROFILE, then "default").
	Profile string
	// Region is the home region for STS; empty means the SDK's own choice
	// (AWS_REGION, AWS_DEFAULT_REGION, then the profile).
	Region string
	// RoleName, when set, is assumed in every audited account
	// (arn:<partition>:iam::<account>:role/<RoleName>).
	RoleName string
	// ExternalID is passed to sts:AssumeRole when set.
	ExternalID string
	// SessionName names the assumed-role sessions in CloudTrail.
	SessionName string
	// MaxAttempts overrides DefaultMaxAttempts when positive.
	MaxAttempts int
	// Paces are the client-side request paces per account-region; nil
	// means DefaultPaces, an empty map no pacing.
	Paces Paces
}

// AWSProvider builds real SDK clients: one base configuration from the
// SDK's default chain, with adaptive retries, the SDK's endpoint environment
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>) and one assumed-role
// credentials cache per account.
type AWSProvider struct {
	base aws.Config
	opts Options
	sts  STSAPI
	pace *pacer

	callerOnce sync.Once
	caller     Identity
	callerErr  error

	mu      sync.Mutex
	creds   map[string]aws.CredentialsProvider
	clients map[string]*Clients
}

var _ Provider = (*AWSProvider)(nil)

// NewProvider loads the SDK's default configuration and checks that it
// holds credentials. A *CredentialsError says none could be found.
func NewProvider(ctx context.Context, opts Options) (*AWSProvider, error) {
	if opts.SessionName == "" {
		opts.SessionName = "fleetdoctor"
	}
	var loadOpts []func(*config.LoadOptions) error
	if opts.Profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	// Adaptive retries with more patience than the SDK's default, unless
	// the operator chose otherwise through the SDK's own settings
	// (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS, retry_mode, max_attempts).
	if cfg.RetryMode == "" {
		cfg.RetryMode = aws.RetryModeAdaptive
	}
	switch {
	case opts.MaxAttempts > 0:
		cfg.RetryMaxAttempts = opts.MaxAttempts
	case cfg.RetryMaxAttempts == 0:
		cfg.RetryMaxAttempts = DefaultMaxAttempts
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = &http.Client{Transport: HideBodyWriteTo(bc.GetTransport()), Timeout: bc.GetTimeout()}
	}
	if cfg.Credentials == nil {
		return nil, &CredentialsError{Err: errors.New("no credential provider configured")}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, &CredentialsError{Err: err}
	}
	return NewProviderFromConfig(cfg, opts), nil
}

// NewProviderFromConfig builds a provider over an already complete SDK
// configuration — the embedded sandbox's, whose endpoint and credentials
// must not come from the environment. It does not check the credentials.
func NewProviderFromConfig(cfg aws.Config, opts Options) *AWSProvider {
	if opts.SessionName == "" {
		opts.SessionName = "fleetdoctor"
	}
	paces := opts.Paces
	if paces == nil {
		paces = DefaultPaces()
	}
	return &AWSProvider{
		pace:    newPacer(paces),
		base:    cfg,
		opts:    opts,
		sts:     sts.NewFromConfig(cfg),
		creds:   map[string]aws.CredentialsProvider{},
		clients: map[string]*Clients{},
	}
}

// DefaultRegion is the region the SDK's configuration chose, or "".
func (p *AWSProvider) DefaultRegion() string { return p.base.Region }

// Caller returns the identity of the base credentials (sts:GetCallerIdentity,
// called once).
func (p *AWSProvider) Caller(ctx context.Context) (Identity, error) {
	p.callerOnce.Do(func() {
		out, err := p.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			if Classify(err) == KindCredentials {
				err = &CredentialsError{Err: err}
			}
			p.callerErr = fmt.Errorf("identifying the caller (sts:GetCallerIdentity): %w", err)
			return
		}
		arn := aws.ToString(out.Arn)
		p.caller = Identity{Account: aws.ToString(out.Account), ARN: arn, Partition: partitionOf(arn)}
	})
	return p.caller, p.callerErr
}

// RoleARN is the audit role's ARN in account.
func (p *AWSProvider) RoleARN(ctx context.Context, account string) (string, error) {
	id, err := p.Caller(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", id.Partition, account, p.opts.RoleName), nil
}

// Account assumes the audit role in account (when a role name is set) and
// checks the credentials work, so that an account whose role cannot be
// assumed is known before any of its regions is read.
func (p *AWSProvider) Account(ctx context.Context, account string) error {
	id, err := p.Caller(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	_, done := p.creds[account]
	p.mu.Unlock()
	if done {
		return nil
	}
	if p.opts.RoleName == "" {
		if account != id.Account {
			return fmt.Errorf("account %s is not the caller's (%s) and no role name was given to assume there", account, id.Account)
		}
		p.mu.Lock()
		p.creds[account] = p.base.Credentials
		p.mu.Unlock()
		return nil
	}
	arn, _ := p.RoleARN(ctx, account)
	prov := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(p.sts, arn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = p.opts.SessionName
		if p.opts.ExternalID != "" {
			o.ExternalID = aws.String(p.opts.ExternalID)
		}
	}))
	if _, err := prov.Retrieve(ctx); err != nil {
		return fmt.Errorf("assuming %s: %w", arn, err)
	}
	p.mu.Lock()
	p.creds[account] = prov
	p.mu.Unlock()
	return nil
}

// Clients returns the (cached) clients for account in region.
func (p *AWSProvider) Clients(ctx context.Context, account, region string) (*Clients, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := account + "/" + region
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	creds, ok := p.creds[account]
	if !ok {
		return nil, fmt.Errorf("account %s has not been prepared (call Account first)", account)
	}
	cfg := p.base.Copy()
	cfg.Region = region
	cfg.Credentials = creds
	cfg.APIOptions = append(cfg.APIOptions[:len(cfg.APIOptions):len(cfg.APIOptions)], p.pace.apiOption(account, region))
	ssmClient := ssm.NewFromConfig(cfg)
	c := &Clients{
		EC2:        ec2.NewFromConfig(cfg),
		SSM:        ssmClient,
		IAM:        iam.NewFromConfig(cfg),
		CloudWatch: cloudwatch.NewFromConfig(cfg),
		SSMActions: ssmClient,
		// A custom endpoint (AWS_ENDPOINT_URL, an emulator) seldom serves
		// virtual-hosted buckets: address buckets by path there.
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil }),
	}
	p.clients[key] = c
	return c, nil
}

// HideBodyWriteTo wraps next so that net/http does not see the request
// body's WriteTo. smithy-go closes a request body as soon as the round trip
// returns; on a fast answer net/http can still be finishing its write, sees
// the closed body's WriteTo fail, and closes the connection under the
// response ("use of closed network connection", and the SDK's "failed to
// discard remaining HTTP response body" warnings).
func HideBodyWriteTo(next http.RoundTripper) http.RoundTripper { return hideBodyWriteTo{next} }

type hideBodyWriteTo struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (h hideBodyWriteTo) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return h.next.RoundTrip(r)
}

// partitionOf reads the partition out of an ARN ("arn:aws-cn:...").
func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) >= 2 && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}
