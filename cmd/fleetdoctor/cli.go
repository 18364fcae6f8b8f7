package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// Exit codes: the stable CLI surface of DESIGN §3.
const (
	exitOK       = 0 // nothing at or above --fail-on
	exitFindings = 1 // a FAIL or ERROR finding at or above --fail-on
	exitUsage    = 2 // bad flags, arguments or configuration
	exitAWS      = 3 // no usable credentials, or no account could be reached
	// exitInterrupted follows the shell's 128+SIGINT convention; an
	// interrupted audit has no verdict to report.
	exitInterrupted = 130
)

// deps is everything the CLI takes from the outside world, so tests can run
// it in-process against the fake provider.
type deps struct {
	stdout, stderr io.Writer
	// newProvider builds the AWS provider and reports the SDK's default
	// region ("" when none is configured).
	newProvider func(ctx context.Context, o awsapi.Options) (awsapi.Provider, string, error)
	// isTerminal reports whether w is an interactive terminal.
	isTerminal func(w io.Writer) bool
	// now is the clock the audit measures ages against.
	now func() time.Time
}

// realDeps are the process's own streams, the SDK and the wall clock.
func realDeps() deps {
	return deps{
		stdout: os.Stdout,
		stderr: os.Stderr,
		newProvider: func(ctx context.Context, o awsapi.Options) (awsapi.Provider, string, error) {
			p, err := awsapi.NewProvider(ctx, o)
			if err != nil {
				return nil, "", err
			}
			return p, p.DefaultRegion(), nil
		},
		isTerminal: func(w io.Writer) bool {
			f, ok := w.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		},
		now: time.Now,
	}
}

// exitError carries a command's exit code; err, when set, is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError is a bad flag value, named by the message (conventionally
// "--flag: what is wrong").
func usageError(format string, args ...any) *exitError {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// awsError is a failure to reach AWS at all.
func awsError(err error) *exitError { return &exitError{code: exitAWS, err: err} }

// run executes the CLI with args and returns the process exit code.
func run(ctx context.Context, args []string, d deps) int {
	root := newRootCmd(d)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Anything cobra itself rejects (unknown flag or command, bad
		// argument count, unparsable flag value) is a usage error.
		fmt.Fprintf(d.stderr, "fleetdoctor: %s\nRun '%s --help' for usage.\n", safeLines(err.Error()), cmd.CommandPath())
		return exitUsage
	}
	if ee.err != nil {
		fmt.Fprintf(d.stderr, "fleetdoctor: %s\n", safeLines(ee.err.Error()))
		if ee.code == exitUsage {
			fmt.Fprintf(d.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return ee.code
}

// safeLines makes an error message safe for a terminal line by line: AWS
// error text and flag values can echo input an attacker chose, but the
// message's own line breaks are kept.
func safeLines(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = report.TerminalSafe(l, 2000)
	}
	return strings.Join(lines, "\n")
}

// newRootCmd builds the command tree over d.
func newRootCmd(d deps) *cobra.Command {
	root := &cobra.Command{
		Use:   "fleetdoctor",
		Short: "Find why EC2 instances cannot reach IMDS or are not managed by SSM",
		Long: `fleetdoctor audits EC2 fleets across many accounts and regions for the reasons
instances cannot reach their Instance Metadata Service (IMDS) or are not
managed by AWS Systems Manager (SSM): IMDS settings, SSM agent registration,
instance profiles and roles, Default Host Management Configuration, and the
network path to the SSM endpoints.

It reads only what the EC2, SSM, IAM and CloudWatch APIs say, with the SDK's
usual configuration: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL and
AWS_ENDPOINT_URL_<SERVICE> are honoured.

Exit codes:
  0  no finding at or above --fail-on
  1  a FAIL or ERROR finding at or above --fail-on
  2  bad flags, arguments or configuration
  3  no usable AWS credentials, or no account could be reached`,
		Example: `  # Audit the caller's account in two regions
  fleetdoctor audit --regions eu-west-1,us-east-1

  # List the checks
  fleetdoctor checks`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Shell completion stays available but out of the command list, which
	// is for the fleet's commands.
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetOut(d.stdout)
	root.SetErr(d.stderr)
	root.AddCommand(newAuditCmd(d), newChecksCmd(d), newSandboxCmd(d), newPolicyCmd(d), newDiagnoseCmd(d), newDocumentsCmd(d), newFixCmd(d), newRollbackCmd(d))
	root.AddCommand(newNotifyCmd(d))
	return root
}

// buildVersion is set at release time with
// -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion = ""

// version is buildVersion, else the module version the binary was built
// from, else "dev".
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
