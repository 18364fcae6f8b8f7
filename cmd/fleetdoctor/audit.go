package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// Defaults of the audit flags that are not check policy.
const (
	defaultConcurrency = inventory.DefaultConcurrency
	// maxMetricsWindow is CloudWatch's retention of hourly datapoints (455
	// days); older IMDS metrics no longer exist.
	maxMetricsWindow = 455 * 24 * time.Hour
)

// auditFlags are the raw values of `fleetdoctor audit`'s flags.
type auditFlags struct {
	regions, accounts, checks, irsaOnlyClusters []string
	roleName, externalID, profile, sandbox      string
	format, output, failOn, agentMinVersion     string
	previous                                    string
	concurrency                                 int
	metricsWindow, registrationGrace            time.Duration
	quiet                                       bool
}

// auditPlan is a validated audit invocation.
type auditPlan struct {
	aws    awsapi.Options
	opts   audit.Options // Regions stays empty until the SDK's default is known
	format report.Format
	failOn checks.Severity // "" means never fail on findings
	output string
	quiet  bool
	// sandbox is the embedded sandbox scenario to audit ("" = AWS).
	sandbox string
	// previous is the run read from --previous (nil without it); the
	// output then reports the changes since it.
	previous *audit.Run
	// afterAudit, when set, runs on the audited run before it is rendered
	// (`diagnose` adds the host findings there); its error is returned
	// as is.
	afterAudit func(ctx context.Context, prov awsapi.Provider, run *audit.Run) error
	// render, when set, writes the output instead of the audit report
	// (`fix` prints its plan there).
	render func(w io.Writer, run *audit.Run) error
}

func newAuditCmd(d deps) *cobra.Command {
	var f *auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit a fleet for IMDS and SSM problems",
		Long: `audit reads the EC2, SSM, IAM and CloudWatch APIs of every account and region in
scope, runs the check catalogue ('fleetdoctor checks') over what it found, and
reports every failing check and everything it could not read. It changes
nothing.

Scope: --regions defaults to the SDK's default region (AWS_REGION or the
profile's region). --accounts defaults to the caller's own account; to audit
other accounts, --role-name names a role that exists in each of them (and in
the caller's account, if listed) and trusts the caller. An account whose role
cannot be assumed becomes an ERROR finding; the other accounts are still
audited.

Credentials come from the SDK's default chain (environment, --profile or
AWS_PROFILE, SSO, instance or task role).

Output goes to stdout, or atomically to --output: table (the default) groups
failing checks; json is the run document, which later runs and reports read;
csv is one row per finding; emf is CloudWatch Embedded Metric Format, one JSON
line per account-region and metric set (namespace FleetDoctor); asff is the
body of a Security Hub BatchImportFindings request (stable finding ids, so a
re-import updates; with --previous, findings that are gone are archived). With --previous
FILE (a run document written earlier with --format json), the table adds what
is new and what was resolved since, and the JSON gains a "changes" object; a
finding in a region or check that could not be audited again is neither new
nor resolved but "unknown". html needs --output FILE: it writes a
self-contained HTML report to FILE (charts, filterable findings; it works
offline and loads nothing) and, next to it, the rest of the report set: FILE's
name with .json (the run document) and .csv (the findings) in place of its
extension; with --previous, its trend chart starts at that run. Progress is drawn on stderr when it is a terminal,
never mixed into the output.

Exit codes: 0 nothing at or above --fail-on; 1 a FAIL or ERROR finding at or
above --fail-on; 2 bad flags or configuration; 3 no usable credentials, or no
account could be audited.`,
		Example: `  # The caller's account, in the SDK's default region
  fleetdoctor audit

  # Two regions; fail a CI job on high or critical findings
  fleetdoctor audit --regions eu-west-1,us-east-1 --fail-on high

  # Several accounts through a role deployed in each of them
  fleetdoctor audit --accounts 111122223333,444455556666 \
      --role-name fleetdoctor-audit --regions eu-west-1

  # The run document as JSON, written atomically
  fleetdoctor audit --format json --output run.json

  # What changed since yesterday's run
  fleetdoctor audit --previous yesterday.json

  # The HTML report, plus report.json and report.csv next to it
  fleetdoctor audit --format html --output report.html --previous yesterday.json

  # Two checks only, as CSV for a spreadsheet
  fleetdoctor audit --checks imds_endpoint_disabled,ssm_not_registered --format csv > findings.csv

  # EKS clusters whose pods use IRSA or Pod Identity only (hop limit 1 is right there)
  fleetdoctor audit --irsa-only-clusters prod,staging`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := f.plan(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			plan.opts.Clock = d.now
			return runAudit(cmd.Context(), d, plan)
		},
	}
	f = bindAuditFlags(cmd.Flags())
	return cmd
}

// bindAuditFlags defines the audit flags on fl, with their defaults.
func bindAuditFlags(fl *pflag.FlagSet) *auditFlags {
	policy := checks.DefaultConfig()
	f := &auditFlags{
		format:            string(report.FormatTable),
		failOn:            "none",
		concurrency:       defaultConcurrency,
		metricsWindow:     audit.DefaultMetricWindow,
		agentMinVersion:   policy.AgentMinVersion,
		registrationGrace: policy.RegistrationGrace,
	}
	fl.Var(listFlag{&f.regions}, "regions", "regions to audit, comma-separated (default: the SDK's default region)")
	fl.Var(listFlag{&f.accounts}, "accounts", "12-digit account ids to audit, comma-separated (default: the caller's account)")
	fl.StringVar(&f.roleName, "role-name", "", "role to assume in each audited account (needed for any account but the caller's)")
	fl.StringVar(&f.externalID, "external-id", "", "external id to pass when assuming --role-name")
	fl.StringVar(&f.profile, "profile", "", "shared config profile for the base credentials (default: AWS_PROFILE, then default)")
	fl.StringVar(&f.format, "format", f.format, "output format: "+report.FormatList()+" (emf: CloudWatch Embedded Metric Format; asff: Security Hub findings)")
	fl.StringVarP(&f.output, "output", "o", "", "write the output to this file (atomically, mode 0600) instead of stdout; with --format html (which needs it), FILE is the HTML report and FILE's name with .json and .csv in place of its extension get the run document and the findings")
	fl.StringVar(&f.previous, "previous", "", "a run document written earlier with --format json: report what is new and what was resolved since")
	fl.StringVar(&f.failOn, "fail-on", f.failOn, "exit 1 when a FAIL or ERROR finding is at or above this severity: critical, high, medium, low, info or none")
	fl.Var(listFlag{&f.checks}, "checks", "check ids to run, comma-separated (default: all; see 'fleetdoctor checks')")
	fl.IntVar(&f.concurrency, "concurrency", f.concurrency, "account-regions collected at once")
	fl.Var(durationFlag{&f.metricsWindow}, "metrics-window", "how far back CloudWatch IMDS metrics are read, as days (14d) or a Go duration (36h)")
	fl.StringVar(&f.agentMinVersion, "agent-min-version", f.agentMinVersion, "the fleet's minimum SSM agent version")
	fl.Var(durationFlag{&f.registrationGrace}, "registration-grace", "how long a new instance may take to register with SSM, as days or a Go duration")
	fl.Var(listFlag{&f.irsaOnlyClusters}, "irsa-only-clusters", "EKS clusters whose pods get AWS credentials only via IRSA or Pod Identity, comma-separated")
	fl.StringVar(&f.sandbox, "sandbox", "", "audit the embedded AWS sandbox instead of AWS: --sandbox (the demo scenario) or --sandbox=SCENARIO")
	fl.Lookup("sandbox").NoOptDefVal = "demo"
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar and no notes on stderr (errors are still printed)")
	fl.SortFlags = false
	return f
}

// plan validates the flags; every error names its flag and exits 2.
func (f *auditFlags) plan(changed func(string) bool) (*auditPlan, error) {
	p := &auditPlan{output: f.output, quiet: f.quiet, sandbox: f.sandbox}
	if changed("sandbox") && strings.TrimSpace(f.sandbox) == "" {
		return nil, usageError("--sandbox: empty scenario name; use --sandbox for the demo scenario or --sandbox=NAME")
	}

	if changed("regions") && len(f.regions) == 0 {
		return nil, usageError("--regions: empty list; name at least one region or leave the flag out")
	}
	for _, r := range f.regions {
		if err := awsapi.ValidateRegion(r); err != nil {
			return nil, usageError("--regions: %v", err)
		}
	}
	if changed("accounts") && len(f.accounts) == 0 {
		return nil, usageError("--accounts: empty list; name at least one account or leave the flag out")
	}
	for _, a := range f.accounts {
		if err := awsapi.ValidateAccountID(a); err != nil {
			return nil, usageError("--accounts: %v", err)
		}
	}
	if f.roleName != "" && !validRoleName(f.roleName) {
		return nil, usageError("--role-name: %q is not an IAM role name", f.roleName)
	}
	if f.externalID != "" {
		if f.roleName == "" {
			return nil, usageError("--external-id: only used when assuming a role; pass --role-name too")
		}
		if !validExternalID(f.externalID) {
			return nil, usageError("--external-id: want 2 to 1224 characters of letters, digits and +=,.@:/-_")
		}
	}

	p.format = report.Format(strings.ToLower(f.format))
	switch {
	case report.Supported(p.format):
	case slices.Contains(report.Planned, p.format):
		return nil, usageError("--format: %s is not available yet; use %s", p.format, report.FormatList())
	default:
		return nil, usageError("--format: unknown format %q (want %s)", f.format, report.FormatList())
	}

	if p.format == report.FormatHTML {
		if f.output == "" {
			return nil, usageError("--format html needs --output FILE: it writes the HTML report to FILE and the run document and findings next to it (FILE's name with .json and .csv)")
		}
		if _, err := reportSetPaths(f.output); err != nil {
			return nil, usageError("--output: %v", err)
		}
	}

	if changed("previous") || f.previous != "" {
		prev, err := readPrevious(f.previous)
		if err != nil {
			return nil, usageError("--previous: %s", report.TerminalSafe(err.Error(), 500))
		}
		p.previous = prev
	}

	if !strings.EqualFold(f.failOn, "none") {
		sev, err := checks.ParseSeverity(f.failOn)
		if err != nil {
			return nil, usageError("--fail-on: unknown severity %q (want critical, high, medium, low, info or none)", f.failOn)
		}
		p.failOn = sev
	}

	if _, err := checks.Select(f.checks); err != nil {
		return nil, usageError("--checks: %v", err)
	}
	if f.concurrency < 1 {
		return nil, usageError("--concurrency: must be at least 1, got %d", f.concurrency)
	}
	if f.metricsWindow <= 0 || f.metricsWindow > maxMetricsWindow {
		return nil, usageError("--metrics-window: must be more than 0 and at most 455d (CloudWatch keeps hourly datapoints for 455 days), got %s",
			durationFlag{&f.metricsWindow})
	}
	if f.registrationGrace < 0 {
		return nil, usageError("--registration-grace: must not be negative")
	}
	if !agentVersionRE.MatchString(f.agentMinVersion) {
		return nil, usageError("--agent-min-version: %q is not an SSM agent version (like %s)", f.agentMinVersion, checks.DHMCMinAgentVersion)
	}
	for _, c := range f.irsaOnlyClusters {
		if !eksClusterRE.MatchString(c) {
			return nil, usageError("--irsa-only-clusters: %q is not an EKS cluster name", c)
		}
	}

	policy := checks.DefaultConfig()
	policy.AgentMinVersion = f.agentMinVersion
	policy.RegistrationGrace = f.registrationGrace
	policy.IRSAOnlyClusters = f.irsaOnlyClusters
	policy.Checks = f.checks

	p.aws = awsapi.Options{Profile: f.profile, RoleName: f.roleName, ExternalID: f.externalID}
	if len(f.regions) > 0 {
		// STS and the caller lookup run in the first audited region, so an
		// audit works without a configured default region.
		p.aws.Region = f.regions[0]
	}
	p.opts = audit.Options{
		Accounts:     f.accounts,
		Regions:      f.regions,
		RoleName:     f.roleName,
		Concurrency:  f.concurrency,
		MetricWindow: f.metricsWindow,
		Checks:       policy,
	}
	return p, nil
}

// runAudit runs a validated audit and renders it.
func runAudit(ctx context.Context, d deps, p *auditPlan) error {
	var out io.Writer = d.stdout
	var file *atomicFile
	var set *reportSet
	if p.format == report.FormatHTML && p.render == nil {
		var err error
		if set, err = createReportSet(p.output); err != nil {
			return usageError("--output: %v", err)
		}
		defer set.abort()
	} else if p.output != "" {
		var err error
		if file, err = createAtomic(p.output); err != nil {
			return usageError("--output: %v", err)
		}
		defer file.abort()
		out = file
	}

	var (
		prov          awsapi.Provider
		defaultRegion string
		err           error
	)
	if p.sandbox != "" {
		sb, sbErr := startAuditSandbox(p)
		if sbErr != nil {
			return sbErr
		}
		defer sb.Close()
		prov, defaultRegion = sb.Provider(p.opts.Regions[0]), p.opts.Regions[0]
	} else {
		prov, defaultRegion, err = d.newProvider(ctx, p.aws)
	}
	if err != nil {
		var noProfile config.SharedConfigProfileNotExistError
		if errors.As(err, &noProfile) {
			return usageError("--profile: profile %q is not in the shared config or credentials file (check --profile and AWS_PROFILE)", noProfile.Profile)
		}
		return accessError(ctx, err)
	}
	if len(p.opts.Regions) == 0 {
		if defaultRegion == "" {
			return usageError("no region: pass --regions or set AWS_REGION")
		}
		if err := awsapi.ValidateRegion(defaultRegion); err != nil {
			return usageError("the default region (from AWS_REGION or the profile) is not usable: %v; pass --regions", err)
		}
		p.opts.Regions = []string{defaultRegion}
	}

	caller, err := prov.Caller(ctx)
	if err != nil {
		return accessError(ctx, err)
	}
	if p.aws.RoleName == "" && p.sandbox == "" {
		for _, a := range p.opts.Accounts {
			if a != caller.Account {
				return usageError("--accounts: %s is not the caller's account (%s); pass --role-name to name the role to assume in it", a, caller.Account)
			}
		}
	}

	var bar *progress
	if !p.quiet && d.isTerminal(d.stderr) {
		bar = &progress{out: d.stderr}
		p.opts.Progress = bar.event
	}
	run, err := audit.Audit(ctx, prov, p.opts)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return accessError(ctx, err)
	}
	if p.afterAudit != nil {
		if err := p.afterAudit(ctx, prov, run); err != nil {
			return err
		}
	}

	if p.previous != nil {
		ch := report.Diff(p.previous, run)
		run.Changes = &ch
	}

	if p.render != nil {
		if err := p.render(out, run); err != nil {
			return err
		}
	} else if set != nil {
		if err := set.write(run, report.HTMLOptions{Trend: trendOf(p.previous, run)}); err != nil {
			return usageError("--output: writing the report set: %v", err)
		}
		if !p.quiet {
			fmt.Fprintf(d.stderr, "fleetdoctor: wrote %s: %s\n", strings.Join(set.paths(), ", "), report.SummaryLine(run))
		}
	} else if p.format == report.FormatASFF {
		// With the previous run, findings it had that are gone are
		// written too, archived, so an import closes them.
		if err := report.WriteASFF(out, run, report.ASFFOptions{Previous: p.previous}); err != nil {
			return usageError("writing the %s output: %v", p.format, err)
		}
	} else if err := report.Render(out, run, p.format, report.TableOptions{}); err != nil {
		return usageError("writing the %s output: %v", p.format, err)
	}
	if file != nil {
		if err := file.commit(); err != nil {
			return usageError("--output: %v", err)
		}
		if !p.quiet {
			fmt.Fprintf(d.stderr, "fleetdoctor: wrote %s: %s\n", p.output, report.SummaryLine(run))
		}
	}

	if s := run.Summary; s.Accounts > 0 && s.UnreachableAccounts >= s.Accounts {
		return awsError(noAccountReached(run))
	}

	if p.failOn != "" {
		if n := atOrAbove(run, p.failOn); n > 0 {
			ee := &exitError{code: exitFindings}
			if !p.quiet {
				ee.err = fmt.Errorf("%d %s at or above %s (--fail-on %s)", n, plural(n, "finding"), p.failOn, p.failOn)
			}
			return ee
		}
	}
	return nil
}

// accessError maps a failure to reach AWS to exit 3 (or 130 when the user
// interrupted the run). A *awsapi.CredentialsError's text already says how
// to configure credentials.
func accessError(ctx context.Context, err error) *exitError {
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
	}
	return awsError(err)
}

// noAccountReached says why each account of a run that reached none could
// not be entered, from its whole-account audit_incomplete finding.
func noAccountReached(run *audit.Run) error {
	var b strings.Builder
	b.WriteString("no account could be audited:")
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Check == checks.IncompleteID && f.ResourceType == checks.TypeAccount && f.Region == "" {
			b.WriteString("\n  " + report.TerminalSafe(f.Account, 64) + ": " + report.TerminalSafe(f.Detail, 300))
		}
	}
	return errors.New(b.String())
}

// atOrAbove counts FAIL and ERROR findings at or above sev.
func atOrAbove(run *audit.Run, sev checks.Severity) int {
	n := 0
	for i := range run.Findings {
		f := &run.Findings[i]
		if (f.Status == checks.Fail || f.Status == checks.Error) && f.Severity.Rank() >= sev.Rank() {
			n++
		}
	}
	return n
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// maxPreviousSize caps a --previous file: a run document of 100,000
// findings is well under it.
const maxPreviousSize = 64 << 20

// readPrevious reads and strictly decodes a run document for --previous:
// one JSON object with no unknown fields, at most maxPreviousSize bytes.
func readPrevious(path string) (*audit.Run, error) {
	if path == "" {
		return nil, errors.New("empty file name")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPreviousSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPreviousSize {
		return nil, fmt.Errorf("%s is larger than %d MiB; is it a run document?", path, maxPreviousSize>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var run audit.Run
	if err := dec.Decode(&run); err != nil {
		return nil, fmt.Errorf("%s is not a run document (write one with --format json): %v", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s has more after the run document", path)
	}
	if run.Run.ID == "" || run.Run.StartedAt.IsZero() {
		return nil, fmt.Errorf("%s is not a run document: no run id or start time", path)
	}
	for i := range run.Findings {
		fd := &run.Findings[i]
		if fd.Check == "" || fd.Status == "" {
			return nil, fmt.Errorf("%s: finding %d has no check or status", path, i+1)
		}
	}
	return &run, nil
}

// trendOf is the HTML report's trend for the CLI: the --previous run, if
// any, then this one.
func trendOf(previous, run *audit.Run) []report.TrendPoint {
	var pts []report.TrendPoint
	if previous != nil {
		pts = append(pts, report.TrendPointOf(previous))
	}
	return append(pts, report.TrendPointOf(run))
}
