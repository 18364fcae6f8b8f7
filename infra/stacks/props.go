// Package stacks builds fleetdoctor's two CDK stacks — FleetDoctorHub (the
// state machine, its Lambdas, the report bucket, notifications, schedule
// and monitoring) and FleetDoctorMember (the role the hub assumes in every
// audited account, the SSM documents and the Automation role) — from Props
// read out of the CDK context. main.go only reads the context and the
// environment and calls Build, so the tests build the same stacks.
package stacks

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	// The schedule's time zone is checked against the IANA database; embed
	// it so validation does not depend on the machine's zoneinfo.
	_ "time/tzdata"

	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// Context keys (`cdk synth -c key=value` or cdk.json "context").
const (
	KeyHubAccount          = "hubAccount"
	KeyRegion              = "region"
	KeyAccounts            = "accounts"
	KeyOrgOU               = "orgOu"
	KeyRegions             = "regions"
	KeySchedule            = "schedule"
	KeyTimeZone            = "timeZone"
	KeyMode                = "mode"
	KeySlackSecretName     = "slackSecretName"
	KeyExternalID          = "externalId"
	KeyMemberRoleName      = "memberRoleName"
	KeyEnabledRemediations = "enabledRemediations"
	KeyDriftThreshold      = "driftThreshold"
	KeyLambdaDir           = "lambdaDir"
	KeyNotificationEmail   = "notificationEmail"
	KeyMaxConcurrency      = "maxConcurrency"
	KeyRunsRetentionDays   = "runsRetentionDays"
)

// Defaults of the optional props.
const (
	DefaultSchedule          = "cron(0 6 * * ? *)"
	DefaultTimeZone          = "UTC"
	DefaultMode              = service.ModeAudit
	DefaultSlackSecretName   = "fleetdoctor/slack"
	DefaultMemberRoleName    = "FleetDoctorMember"
	DefaultLambdaDir         = "bin/lambda"
	DefaultMaxConcurrency    = 40
	DefaultRunsRetentionDays = 90
	// MaxDistributedConcurrency is Step Functions' limit of concurrent
	// child executions of one Distributed Map.
	MaxDistributedConcurrency = 10000
)

// Names of the roles and profile the member stack creates in every member
// account. They are fixed so the hub can name them without a lookup.
const (
	AutomationRoleName      = "FleetDoctorAutomation"
	InstanceRoleName        = "FleetDoctorSSMInstance"
	InstanceProfileName     = "FleetDoctorSSMInstanceProfile"
	DHMCRoleName            = "FleetDoctorDHMC"
	HubStackName            = "FleetDoctorHub"
	MemberStackName         = "FleetDoctorMember"
	hubLambdaRoleNamePrefix = "FleetDoctorHub-"
)

// Lambdas lists the five functions of pkg/service's contract.
var Lambdas = []string{service.LambdaTargets, service.LambdaDiscover, service.LambdaDiagnose, service.LambdaRemediate, service.LambdaReport}

// Remediations lists the remediation ids enabledRemediations accepts.
var Remediations = []string{
	policy.EnableEndpoint, policy.RequireTokens, policy.SetHopLimit, policy.AccountDefaults,
	policy.AttachProfile, policy.EnableDHMC, policy.HostRemoveFirewall, policy.HostAddNoProxy, policy.HostRestartAgent,
}

// Props are the deployment's settings, one per context key.
type Props struct {
	// HubAccount and Region are where the hub stack is deployed.
	HubAccount string
	Region     string
	// Accounts and OrgOU are the default scope: a list of member accounts
	// or an Organizations OU whose accounts are audited. Neither: the hub
	// account only.
	Accounts []string
	OrgOU    string
	// Regions audited by default (default: Region).
	Regions []string
	// Schedule is the EventBridge Scheduler expression of the scheduled
	// run, evaluated in TimeZone.
	Schedule string
	TimeZone string
	// Mode of the scheduled run (always a dry run).
	Mode string
	// SlackSecretName names the Secrets Manager secret the stack creates;
	// its value is put out of band.
	SlackSecretName string
	// ExternalID is what the member role's trust requires (sts:ExternalId).
	ExternalID string
	// MemberRoleName is the role the hub assumes in each member account.
	MemberRoleName string
	// EnabledRemediations are the remediation ids the member role and
	// the Automation role get write permissions for.
	EnabledRemediations []string
	// DriftThreshold: the drift alarm fires when a run's failing findings
	// exceed it.
	DriftThreshold float64
	// LambdaDir holds <name>/bootstrap per Lambda (`make lambdas`).
	LambdaDir string
	// NotificationEmail, when set, subscribes to the alarm/report topic.
	NotificationEmail string
	// MaxConcurrency bounds the account-regions discovered at once.
	MaxConcurrency int
	// RunsRetentionDays is how long runs/ objects are kept.
	RunsRetentionDays int
}

// Lookup returns a context value as a string, or "" when unset.
type Lookup func(key string) string

var (
	accountRe    = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	orgOURe      = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)
	scheduleRe   = regexp.MustCompile(`^(cron\(\S+( \S+){5}\)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\))$`)
	externalIDRe = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	roleNameRe   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	secretNameRe = regexp.MustCompile(`^[\w/+=.@-]{1,512}$`)
)

// list splits a comma list, dropping blanks.
func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// FromContext reads Props from the context (ctx) with env supplying
// CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION for hubAccount / region, fills
// the defaults and validates them. Every error names its context key.
func FromContext(ctx, env Lookup) (Props, error) {
	p := Props{
		HubAccount:        ctx(KeyHubAccount),
		Region:            ctx(KeyRegion),
		Accounts:          list(ctx(KeyAccounts)),
		OrgOU:             strings.TrimSpace(ctx(KeyOrgOU)),
		Regions:           list(ctx(KeyRegions)),
		Schedule:          strings.TrimSpace(ctx(KeySchedule)),
		TimeZone:          strings.TrimSpace(ctx(KeyTimeZone)),
		Mode:              strings.TrimSpace(ctx(KeyMode)),
		SlackSecretName:   strings.TrimSpace(ctx(KeySlackSecretName)),
		ExternalID:        ctx(KeyExternalID),
		MemberRoleName:    strings.TrimSpace(ctx(KeyMemberRoleName)),
		LambdaDir:         strings.TrimSpace(ctx(KeyLambdaDir)),
		NotificationEmail: strings.TrimSpace(ctx(KeyNotificationEmail)),
	}
	if p.HubAccount == "" {
		p.HubAccount = env("CDK_DEFAULT_ACCOUNT")
	}
	if p.Region == "" {
		p.Region = env("CDK_DEFAULT_REGION")
	}
	p.EnabledRemediations = list(ctx(KeyEnabledRemediations))
	var errs []error
	number := func(key string, bits int, set func(float64)) {
		s := strings.TrimSpace(ctx(key))
		if s == "" {
			return
		}
		v, err := strconv.ParseFloat(s, bits)
		if err != nil {
			errs = append(errs, fmt.Errorf("context %s: %q is not a number", key, s))
			return
		}
		set(v)
	}
	number(KeyDriftThreshold, 64, func(v float64) { p.DriftThreshold = v })
	number(KeyMaxConcurrency, 64, func(v float64) {
		p.MaxConcurrency = int(v)
		if v < 1 {
			errs = append(errs, fmt.Errorf("context %s: %v is not between 1 and %d", KeyMaxConcurrency, v, MaxDistributedConcurrency))
		} else if float64(p.MaxConcurrency) != v {
			errs = append(errs, fmt.Errorf("context %s: %v is not a whole number", KeyMaxConcurrency, v))
		}
	})
	number(KeyRunsRetentionDays, 64, func(v float64) {
		p.RunsRetentionDays = int(v)
		if v < 1 {
			errs = append(errs, fmt.Errorf("context %s: %v is not a positive number of days", KeyRunsRetentionDays, v))
		} else if float64(p.RunsRetentionDays) != v {
			errs = append(errs, fmt.Errorf("context %s: %v is not a whole number of days", KeyRunsRetentionDays, v))
		}
	})
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	p.Defaults()
	return p, p.Validate()
}

// Defaults fills the optional props that are empty.
func (p *Props) Defaults() {
	if len(p.Regions) == 0 && p.Region != "" {
		p.Regions = []string{p.Region}
	}
	if len(p.Accounts) == 0 && p.OrgOU == "" && p.HubAccount != "" {
		p.Accounts = []string{p.HubAccount}
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&p.Schedule, DefaultSchedule)
	def(&p.TimeZone, DefaultTimeZone)
	def(&p.Mode, DefaultMode)
	def(&p.SlackSecretName, DefaultSlackSecretName)
	def(&p.MemberRoleName, DefaultMemberRoleName)
	def(&p.LambdaDir, DefaultLambdaDir)
	if p.MaxConcurrency == 0 {
		p.MaxConcurrency = DefaultMaxConcurrency
	}
	if p.RunsRetentionDays == 0 {
		p.RunsRetentionDays = DefaultRunsRetentionDays
	}
}

// Validate checks every prop; each error names the context key to fix.
func (p *Props) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("context %s: "+format, append([]any{key}, a...)...))
	}
	if !accountRe.MatchString(p.HubAccount) {
		bad(KeyHubAccount, "%q is not a 12-digit AWS account id (set -c %s=... or CDK_DEFAULT_ACCOUNT)", p.HubAccount, KeyHubAccount)
	}
	if !regionRe.MatchString(p.Region) {
		bad(KeyRegion, "%q is not an AWS region (set -c %s=... or CDK_DEFAULT_REGION)", p.Region, KeyRegion)
	}
	for _, a := range p.Accounts {
		if !accountRe.MatchString(a) {
			bad(KeyAccounts, "%q is not a 12-digit AWS account id", a)
		}
	}
	if p.OrgOU != "" {
		if !orgOURe.MatchString(p.OrgOU) {
			bad(KeyOrgOU, "%q is not an Organizations OU id (ou-xxxx-yyyyyyyy) or root id (r-xxxx)", p.OrgOU)
		}
		if len(p.Accounts) > 0 {
			bad(KeyOrgOU, "give %s or %s, not both", KeyAccounts, KeyOrgOU)
		}
	}
	if len(p.Regions) == 0 {
		bad(KeyRegions, "no region to audit")
	}
	for _, r := range p.Regions {
		if !regionRe.MatchString(r) {
			bad(KeyRegions, "%q is not an AWS region", r)
		}
	}
	if !scheduleRe.MatchString(p.Schedule) {
		bad(KeySchedule, "%q is not a Scheduler expression: want cron(min hour day-of-month month day-of-week year), e.g. %q, or rate(N unit)", p.Schedule, DefaultSchedule)
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "Local" {
		bad(KeyTimeZone, "%q is not an IANA time zone (e.g. UTC, Europe/Paris)", p.TimeZone)
	}
	if p.Mode != service.ModeAudit && p.Mode != service.ModeDiagnose && p.Mode != service.ModeRemediate {
		bad(KeyMode, "%q is not one of %s, %s, %s", p.Mode, service.ModeAudit, service.ModeDiagnose, service.ModeRemediate)
	}
	if !secretNameRe.MatchString(p.SlackSecretName) {
		bad(KeySlackSecretName, "%q is not a Secrets Manager secret name", p.SlackSecretName)
	}
	switch {
	case p.ExternalID == "":
		bad(KeyExternalID, "is required: the member role's trust policy demands it (sts:ExternalId); pass -c %s=<shared secret string>", KeyExternalID)
	case len(p.ExternalID) < 2 || len(p.ExternalID) > 1224 || !externalIDRe.MatchString(p.ExternalID):
		bad(KeyExternalID, "must be 2 to 1224 characters of letters, digits and +=,.@:/-_")
	}
	if !roleNameRe.MatchString(p.MemberRoleName) {
		bad(KeyMemberRoleName, "%q is not an IAM role name", p.MemberRoleName)
	}
	for _, r := range p.EnabledRemediations {
		if !slices.Contains(Remediations, r) {
			bad(KeyEnabledRemediations, "%q is not a remediation id (want some of %s)", r, strings.Join(Remediations, ","))
		}
	}
	if p.DriftThreshold < 0 {
		bad(KeyDriftThreshold, "%v is negative", p.DriftThreshold)
	}
	if p.MaxConcurrency < 1 || p.MaxConcurrency > MaxDistributedConcurrency {
		bad(KeyMaxConcurrency, "%d is not between 1 and %d", p.MaxConcurrency, MaxDistributedConcurrency)
	}
	if p.RunsRetentionDays < 1 {
		bad(KeyRunsRetentionDays, "%d is not a positive number of days", p.RunsRetentionDays)
	}
	if p.NotificationEmail != "" {
		if a, err := mail.ParseAddress(p.NotificationEmail); err != nil || a.Address != p.NotificationEmail {
			bad(KeyNotificationEmail, "%q is not an email address", p.NotificationEmail)
		}
	}
	for _, name := range Lambdas {
		f := filepath.Join(p.LambdaDir, name, "bootstrap")
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
			bad(KeyLambdaDir, "%s is missing: build the Lambdas first (make lambdas) or point %s at their directory", f, KeyLambdaDir)
		}
	}
	return errors.Join(errs...)
}
