package service

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/notify"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	fdsh "github.com/fleetdoctor/fleetdoctor/pkg/securityhub"
)

// Config is the deployment's configuration of the Lambdas, read from the
// Env* variables (LoadConfig) so that pkg/ itself never reads the
// environment.
type Config struct {
	// Bucket is the report bucket (EnvBucket, required).
	Bucket string
	// RoleName is assumed in every member account (EnvRoleName); empty
	// audits only the Lambda's own account.
	RoleName string
	// ExternalID is passed to sts:AssumeRole (EnvExternalID).
	ExternalID string
	// Accounts and Regions are the default scope (EnvAccounts,
	// EnvRegions); Regions is required.
	Accounts []string
	Regions  []string
	// OrgOU, when set, lists the accounts of this OU and its children
	// instead of Accounts (EnvOrgOU).
	OrgOU string
	// SlackSecretARN names the Slack secret (EnvSlackSecretARN).
	SlackSecretARN string
	// Slack, when set, is the Slack target given directly in the
	// environment (pkg/notify's FLEETDOCTOR_SLACK_WEBHOOK_URL, or
	// FLEETDOCTOR_SLACK_TOKEN with FLEETDOCTOR_SLACK_CHANNEL) for
	// deployments without Secrets Manager; SlackSecretARN takes
	// precedence.
	Slack *notify.SlackTarget
	// SNSTopicARN is the report topic (EnvSNSTopicARN).
	SNSTopicARN string
	// SecurityHub imports findings into Security Hub (EnvSecurityHub).
	SecurityHub bool
	// Policy is the remediation policy, already validated (EnvPolicy);
	// policy.Default when the variable is empty.
	Policy *policy.Policy
	// AutomationRoleARN is the runbooks' AutomationAssumeRole
	// (EnvAutomationRoleARN).
	AutomationRoleARN string
	// InstanceProfile is the profile iam_attach_instance_profile
	// associates (EnvInstanceProfile); it overrides the policy's.
	InstanceProfile string
	// ReportURL is the base URL of the report set (EnvReportURL).
	ReportURL string
}

var (
	bucketRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	roleRE    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	extIDRE   = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	ouRE      = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)
	arnRE     = regexp.MustCompile(`^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:[\w+=,.@:/-]+$`)
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	profileRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
)

// LoadConfig reads the configuration through getenv (os.Getenv in the
// Lambda mains). Every error names the variable at fault.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	c := Config{
		Bucket:            get(EnvBucket),
		RoleName:          get(EnvRoleName),
		ExternalID:        get(EnvExternalID),
		Accounts:          list(get(EnvAccounts)),
		Regions:           list(get(EnvRegions)),
		OrgOU:             get(EnvOrgOU),
		SlackSecretARN:    get(EnvSlackSecretARN),
		SNSTopicARN:       get(EnvSNSTopicARN),
		AutomationRoleARN: get(EnvAutomationRoleARN),
		InstanceProfile:   get(EnvInstanceProfile),
		ReportURL:         get(EnvReportURL),
	}
	bad := func(name, format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Bucket == "":
		return bad(EnvBucket, "required (the report bucket's name)")
	case !bucketRE.MatchString(c.Bucket):
		return bad(EnvBucket, "%q is not an S3 bucket name", c.Bucket)
	case c.RoleName != "" && !roleRE.MatchString(c.RoleName):
		return bad(EnvRoleName, "%q is not an IAM role name", c.RoleName)
	case c.ExternalID != "" && (len(c.ExternalID) < 2 || len(c.ExternalID) > 1224 || !extIDRE.MatchString(c.ExternalID)):
		return bad(EnvExternalID, "not a valid sts:AssumeRole external id (2-1224 characters of [\\w+=,.@:/-])")
	case c.OrgOU != "" && !ouRE.MatchString(c.OrgOU):
		return bad(EnvOrgOU, "%q is not an Organizations OU or root id (ou-… or r-…)", c.OrgOU)
	case len(c.Regions) == 0:
		return bad(EnvRegions, "required (comma-separated regions, e.g. eu-west-1,us-east-1)")
	case c.SlackSecretARN != "" && !arnRE.MatchString(c.SlackSecretARN):
		return bad(EnvSlackSecretARN, "%q is not an ARN", c.SlackSecretARN)
	case c.SNSTopicARN != "" && !arnRE.MatchString(c.SNSTopicARN):
		return bad(EnvSNSTopicARN, "%q is not an ARN", c.SNSTopicARN)
	case c.AutomationRoleARN != "" && !roleARNRE.MatchString(c.AutomationRoleARN):
		return bad(EnvAutomationRoleARN, "%q is not an IAM role ARN", c.AutomationRoleARN)
	case c.InstanceProfile != "" && !profileRE.MatchString(c.InstanceProfile):
		return bad(EnvInstanceProfile, "%q is not an instance profile name", c.InstanceProfile)
	}
	for i, a := range c.Accounts {
		if err := awsapi.ValidateAccountID(a); err != nil {
			return bad(EnvAccounts, "item %d: %v", i+1, err)
		}
	}
	for i, r := range c.Regions {
		if err := awsapi.ValidateRegion(r); err != nil {
			return bad(EnvRegions, "item %d: %v", i+1, err)
		}
	}
	if v := get(EnvSecurityHub); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad(EnvSecurityHub, "%q: want true or false", v)
		}
		c.SecurityHub = b
	}
	if c.SlackSecretARN == "" {
		t, ok, err := notify.SlackTargetFromEnv(getenv)
		if err != nil {
			return Config{}, err // names the variable, never its value
		}
		if ok {
			c.Slack = &t
		}
	}
	c.Policy = policy.Default()
	if v := getenv(EnvPolicy); strings.TrimSpace(v) != "" {
		p, err := policy.Parse([]byte(v), EnvPolicy)
		if err != nil {
			return Config{}, err // policy.Error already names EnvPolicy and the field
		}
		c.Policy = p
	}
	if c.InstanceProfile != "" {
		c.Policy.InstanceProfileName = c.InstanceProfile
	}
	return c, nil
}

// list splits a comma-separated variable, dropping empty items.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// New builds the service over real AWS clients: the SDK's default chain
// (which honours AWS_ENDPOINT_URL, so the e2e test points the binaries at
// the sandbox), an awsapi provider that assumes cfg.RoleName in each
// account, and clients for the bucket, Organizations and Security Hub.
func New(ctx context.Context, cfg Config) (*Service, error) {
	prov, err := awsapi.NewProvider(ctx, awsapi.Options{RoleName: cfg.RoleName, ExternalID: cfg.ExternalID, SessionName: "fleetdoctor-lambda"})
	if err != nil {
		return nil, err
	}
	base, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	s := &Service{
		Config:   cfg,
		Provider: prov,
		// An emulator (AWS_ENDPOINT_URL) seldom serves virtual-hosted
		// buckets: address the bucket by path there, as awsapi does.
		S3: s3.NewFromConfig(base, func(o *s3.Options) { o.UsePathStyle = base.BaseEndpoint != nil }),
	}
	if cfg.OrgOU != "" {
		s.Organizations = organizations.NewFromConfig(base)
	}
	if cfg.SecurityHub {
		s.SecurityHub = func(region string) fdsh.BatchImporter {
			return securityhub.NewFromConfig(base, func(o *securityhub.Options) { o.Region = region })
		}
	}
	if cfg.SlackSecretARN != "" {
		s.Secrets = secretsmanager.NewFromConfig(base)
	}
	if cfg.SNSTopicARN != "" {
		s.SNS = func(region string) notify.SNSPublishAPI {
			return sns.NewFromConfig(base, func(o *sns.Options) { o.Region = region })
		}
	}
	return s, nil
}
