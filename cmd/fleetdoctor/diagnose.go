package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

var (
	// instanceIDRE is an EC2 instance id (or a hybrid managed node's).
	instanceIDRE = regexp.MustCompile(`^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$`)
	// bucketRE is an S3 bucket name (general purpose buckets).
	bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// s3PrefixRE keeps key prefixes to printable, unsurprising characters.
	s3PrefixRE = regexp.MustCompile(`^[A-Za-z0-9!_.*'()/-]{0,400}$`)
)

// diagnoseFlags are the flags `diagnose` adds to the audit's.
type diagnoseFlags struct {
	instances      []string
	onlyFailing    bool
	bucket, prefix string
	timeout        time.Duration
}

func newDiagnoseCmd(d deps) *cobra.Command {
	var f *auditFlags
	df := &diagnoseFlags{prefix: "fleetdoctor/diagnose", timeout: diagnose.DefaultTimeout}
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Audit, then diagnose the hosts on the instances themselves",
		Long: `diagnose runs the audit ('fleetdoctor audit', same flags), then sends the read-only
` + hostdiag.DiagnoseDocumentName + ` Command document with SSM Run Command to every
running instance whose SSM agent is Online (at most 50 instances per
SendCommand), collects the answers with ListCommandInvocations, and adds the
host checks' findings (firewall rules matching 169.254.169.254, proxies
without NO_PROXY, lost routes, the agent's state and log, clock skew, ...)
to the report. It changes nothing on the hosts.

Instances that cannot be diagnosed on the host (agent offline, not
registered, instance stopped) get an explicit host_not_diagnosable finding
besides their API-side findings; an invocation that fails or prints no
usable report gets host_diagnosis_failed.

The document must exist in each account-region: 'fleetdoctor documents
install' creates it (or deploy the CDK stack). The caller needs
ssm:SendCommand, ssm:ListCommandInvocations and ssm:GetCommandInvocation.
Reports longer than the 2,500 characters ListCommandInvocations returns are
read back with GetCommandInvocation, or from S3 with --output-bucket (the
instances' role then needs s3:PutObject there, the caller s3:GetObject).`,
		Example: `  # Every online instance of the caller's account in eu-west-1
  fleetdoctor diagnose --regions eu-west-1

  # Only instances with failing API-side checks, as JSON
  fleetdoctor diagnose --only-failing --format json --output diagnosis.json

  # Two instances; full output through S3
  fleetdoctor diagnose --instances i-0123456789abcdef0,i-0fedcba9876543210 --output-bucket my-ssm-output

  # The embedded sandbox
  fleetdoctor diagnose --sandbox`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := f.plan(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			opts, err := df.options(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			plan.opts.Clock = d.now
			plan.afterAudit = func(ctx context.Context, prov awsapi.Provider, run *audit.Run) error {
				res, err := diagnose.Run(ctx, prov, run, opts)
				if err != nil {
					return accessError(ctx, err)
				}
				diagnose.Merge(run, res)
				if !plan.quiet {
					fmt.Fprintf(d.stderr, "fleetdoctor: diagnosed on host: %d %s sent in %d %s, %d answered, %d without a usable report, %d not diagnosable\n",
						res.Sent, plural(res.Sent, "instance"), len(res.Commands), plural(len(res.Commands), "command"),
						res.Answered, res.Failed, res.NotDiagnosable)
				}
				return nil
			}
			return runAudit(cmd.Context(), d, plan)
		},
	}
	f = bindAuditFlags(cmd.Flags())
	fl := cmd.Flags()
	fl.Var(listFlag{&df.instances}, "instances", "diagnose only these instance ids, comma-separated (default: every instance in scope)")
	fl.BoolVar(&df.onlyFailing, "only-failing", false, "diagnose only instances with a failing API-side check")
	fl.StringVar(&df.bucket, "output-bucket", "", "S3 bucket for the full command output (SendCommand OutputS3BucketName); cut reports are read from there")
	fl.StringVar(&df.prefix, "output-prefix", df.prefix, "key prefix in --output-bucket")
	fl.Var(durationFlag{&df.timeout}, "timeout", "how long to wait for the instances of an account-region to answer, as a Go duration (10m)")
	return cmd
}

// options validates the diagnose flags; every error names its flag.
func (df *diagnoseFlags) options(changed func(string) bool) (diagnose.Options, error) {
	if changed("instances") && len(df.instances) == 0 {
		return diagnose.Options{}, usageError("--instances: empty list; name at least one instance or leave the flag out")
	}
	for _, id := range df.instances {
		if !instanceIDRE.MatchString(id) {
			return diagnose.Options{}, usageError("--instances: %q is not an instance id (like i-0123456789abcdef0)", id)
		}
	}
	if df.bucket != "" && !bucketRE.MatchString(df.bucket) {
		return diagnose.Options{}, usageError("--output-bucket: %q is not an S3 bucket name", df.bucket)
	}
	if changed("output-prefix") && df.bucket == "" {
		return diagnose.Options{}, usageError("--output-prefix: only used with --output-bucket")
	}
	if !s3PrefixRE.MatchString(df.prefix) {
		return diagnose.Options{}, usageError("--output-prefix: want at most 400 characters of letters, digits and !_.*'()/-")
	}
	if df.timeout < time.Minute || df.timeout > 24*time.Hour {
		return diagnose.Options{}, usageError("--timeout: must be between 1m and 24h, got %s", durationFlag{&df.timeout})
	}
	return diagnose.Options{
		InstanceIDs:  df.instances,
		OnlyFailing:  df.onlyFailing,
		OutputBucket: df.bucket,
		OutputPrefix: df.prefix,
		Timeout:      df.timeout,
	}, nil
}
