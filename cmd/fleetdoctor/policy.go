package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

func newPolicyCmd(d deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with remediation policy files",
		Long: `A remediation policy is a YAML file that says which remediations 'fleetdoctor
fix' may apply, their parameters (tokens window, hop limit targets, instance
profile, DHMC role, NO_PROXY hosts, agent minimum version), the guard rails
(caps per run and per account, wave sizes, MaxErrors) and exemptions. See
examples/policy.yaml; its JSON Schema is pkg/policy/schema.json.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newPolicyValidateCmd(d))
	return cmd
}

func newPolicyValidateCmd(d deps) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a policy file and summarize it",
		Long: `validate reads a policy file, checks it against the policy schema and rules,
and prints a one-line summary of what it enables and its guard rails, with the
defaults filled in. An invalid file is reported field by field, each problem
naming the field's path (e.g. /caps/perRun) and line, and exits 2. Expired
exemptions are valid but reported on stderr.`,
		Example: `  fleetdoctor policy validate examples/policy.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			fmt.Fprintln(d.stdout, report.TerminalSafe(args[0], 500)+": valid — "+policySummary(p))
			now := d.now()
			for _, e := range p.Exemptions {
				if e.Expired(now) {
					fmt.Fprintf(d.stderr, "fleetdoctor: warning: exemption of %s (owner %s) expired %s; it is honoured until renewed or removed\n",
						e.InstanceID, report.TerminalSafe(e.Owner, 200), e.Expires.Format(time.DateOnly))
				}
			}
			return nil
		},
	}
}

// policySummary is what a policy enables and its guard rails, on one line.
func policySummary(p *policy.Policy) string {
	enabled := "none"
	if ids := p.EnabledIDs(); len(ids) > 0 {
		enabled = strings.Join(ids, ", ")
	}
	return fmt.Sprintf("enabled: %s (caps: %d per run, %d per account; waves %d→×%d up to %d; MaxErrors %s)",
		enabled, p.Caps.PerRun, p.Caps.PerAccount, p.Waves.Canary, p.Waves.Growth, p.Waves.Max, p.MaxErrors)
}
