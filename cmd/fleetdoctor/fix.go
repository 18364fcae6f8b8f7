package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/diagnose"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// defaultJournalDir is where the CLI journals changes unless --journal says
// otherwise.
const defaultJournalDir = ".fleetdoctor/journal"

var (
	// runIDRE is a remediation run id: it names the journal file.
	runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// roleARNRE is an IAM role ARN.
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
)

// fixFlags are the flags `fix` adds to the audit's.
type fixFlags struct {
	policyFile     string
	apply          bool
	runID          string
	journalDir     string
	automationRole string
	hostDiagnosis  bool
}

func newFixCmd(d deps) *cobra.Command {
	var f *auditFlags
	ff := &fixFlags{journalDir: defaultJournalDir}
	cmd := &cobra.Command{
		Use:   "fix",
		Short: "Plan the fixes a policy allows; apply them with --apply",
		Long: `fix audits (same flags as 'fleetdoctor audit'), then plans the remediations the
policy file enables (--policy; see 'fleetdoctor policy validate' and
examples/policy.yaml): per account-region and remediation, batches of
instances, and for every failing finding it leaves alone, the reason (not
enabled, exempt, a gate such as IMDSv1 calls still being made, a cap).

Without --apply it prints the plan and changes nothing. With --apply it runs
the plan through fleetdoctor's SSM Automation runbooks (and the repair
Command document for on-host fixes): a canary wave first, then wider
waves, stopping when failures exceed the policy's maxErrors, verifying each
wave. Every change is written to the journal (--journal, one file per run)
before it is made; rerunning 'fix --apply --run-id ID' after an interruption
resumes without repeating a change, and 'fleetdoctor rollback ID' puts the
before-values back.

When the policy enables an on-host repair, the hosts are diagnosed first
('fleetdoctor diagnose'), so the plan sees the host findings.`,
		Example: `  # What the policy would change in eu-west-1 (changes nothing)
  fleetdoctor fix --policy policy.yaml --regions eu-west-1

  # Apply it, journaled under run id fix-2026-12-02
  fleetdoctor fix --policy policy.yaml --regions eu-west-1 --apply --run-id fix-2026-12-02

  # The plan as JSON, on the embedded sandbox
  fleetdoctor fix --policy examples/policy.yaml --sandbox --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format := strings.ToLower(f.format)
			if format == string(report.FormatTable) {
				format = "text"
			}
			if format != "text" && format != string(report.FormatJSON) {
				return usageError("--format: fix prints its plan as text or json, not %q", f.format)
			}
			f.format = string(report.FormatTable) // the audit plan only validates it
			plan, err := f.plan(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			pol, err := ff.load()
			if err != nil {
				return err
			}
			runID := ff.runID
			if runID == "" {
				runID = "fix-" + d.now().UTC().Format("20060102T150405Z")
			}
			plan.opts.Clock = d.now
			var (
				rp  *remediate.Plan
				res *remediate.Result
			)
			plan.afterAudit = func(ctx context.Context, prov awsapi.Provider, run *audit.Run) error {
				var hostFindings []checks.Finding
				if ff.hostDiagnosis || hostRepairsEnabled(pol) {
					dres, err := diagnose.Run(ctx, prov, run, diagnose.Options{})
					if err != nil {
						return accessError(ctx, err)
					}
					hostFindings = dres.Findings
				}
				rp, err = remediate.Build(remediate.Input{RunID: runID, Now: d.now(), Run: run, HostFindings: hostFindings, Policy: pol})
				if err != nil {
					return usageError("planning: %v", err)
				}
				if !ff.apply {
					return nil
				}
				if unreachable := unreachableAccounts(run); len(unreachable) > 0 {
					return awsError(fmt.Errorf("not applying: the audit could not enter account %s; fix access or narrow --accounts, then plan again", strings.Join(unreachable, ", ")))
				}
				j, err := remediate.NewFileJournal(ff.journalDir)
				if err != nil {
					return usageError("--journal: %v", err)
				}
				defer j.Close()
				xo := remediate.PolicyOptions(pol, rp.Changes())
				xo.AutomationAssumeRole = ff.automationRole
				ex := remediate.NewExecutor(prov, j, xo)
				res, err = ex.Apply(ctx, rp)
				if err != nil {
					return accessError(ctx, err)
				}
				return nil
			}
			plan.render = func(w io.Writer, _ *audit.Run) error {
				if format == string(report.FormatJSON) {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(struct {
						Plan   *remediate.Plan   `json:"plan"`
						Result *remediate.Result `json:"result,omitempty"`
					}{rp, res})
				}
				if err := remediate.WriteText(w, rp); err != nil {
					return err
				}
				if res != nil {
					writeResult(w, res)
				} else if rp.Changes() > 0 {
					fmt.Fprintf(w, "\nNothing was changed. Apply with: fleetdoctor fix --apply --run-id %s (same scope and policy)\n", rp.RunID)
				}
				return nil
			}
			if err := runAudit(cmd.Context(), d, plan); err != nil {
				return err
			}
			if res != nil && res.Failures() > 0 {
				return &exitError{code: exitFindings, err: fmt.Errorf("%d of %d changes failed or could not be verified (journal: %s)", res.Failures(), len(res.Changes), filepath.Join(ff.journalDir, runID+".jsonl"))}
			}
			return nil
		},
	}
	f = bindAuditFlags(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&ff.policyFile, "policy", "", "the remediation policy file (YAML; required)")
	fl.BoolVar(&ff.apply, "apply", false, "apply the plan (without it fix only prints the plan)")
	fl.StringVar(&ff.runID, "run-id", "", "the run id that names the journal; reuse it to resume an interrupted run (default: fix-<UTC time>)")
	fl.StringVar(&ff.journalDir, "journal", ff.journalDir, "directory of the change journal (one JSON-lines file per run)")
	fl.StringVar(&ff.automationRole, "automation-role", "", "role ARN the runbooks run as (AutomationAssumeRole; default: the caller's permissions)")
	fl.BoolVar(&ff.hostDiagnosis, "diagnose", false, "diagnose the hosts first even when no on-host repair is enabled")
	return cmd
}

// load validates the fix flags and reads the policy; every error names its
// flag or the policy's field.
func (ff *fixFlags) load() (*policy.Policy, error) {
	if ff.policyFile == "" {
		return nil, usageError("--policy: required (see examples/policy.yaml and 'fleetdoctor policy validate')")
	}
	if ff.runID != "" && !runIDRE.MatchString(ff.runID) {
		return nil, usageError("--run-id: %q: want 1-64 letters, digits, '.', '_' or '-'", ff.runID)
	}
	if ff.automationRole != "" && !roleARNRE.MatchString(ff.automationRole) {
		return nil, usageError("--automation-role: %q is not an IAM role ARN", ff.automationRole)
	}
	if ff.journalDir == "" {
		return nil, usageError("--journal: empty directory")
	}
	pol, err := policy.Load(ff.policyFile)
	if err != nil {
		return nil, usageError("--policy: %v", err)
	}
	if len(pol.EnabledIDs()) == 0 {
		return nil, usageError("--policy: %s enables no remediation; nothing to plan", ff.policyFile)
	}
	return pol, nil
}

// hostRepairsEnabled says whether the policy enables an on-host repair,
// which needs the hosts' own findings.
func hostRepairsEnabled(p *policy.Policy) bool {
	return slices.ContainsFunc(p.EnabledIDs(), func(id string) bool { return strings.HasPrefix(id, "host_") })
}

// unreachableAccounts are the accounts the audit could not enter.
func unreachableAccounts(run *audit.Run) []string {
	var out []string
	if run.Snapshot == nil {
		return nil
	}
	for _, a := range run.Snapshot.Accounts {
		if a.Err != nil {
			out = append(out, a.ID)
		}
	}
	return out
}

// writeResult prints what an apply or rollback did.
func writeResult(w io.Writer, res *remediate.Result) {
	what := "Applied"
	if res.Rollback {
		what = "Rolled back"
	}
	counts := map[string]int{}
	for _, c := range res.Changes {
		counts[c.Outcome]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	fmt.Fprintf(w, "\n%s run %s: %d %s (%s) in %d %s, %d Automation %s, %d %s.\n",
		what, res.RunID, len(res.Changes), plural(len(res.Changes), "change"), strings.Join(parts, ", "),
		len(res.Waves), plural(len(res.Waves), "wave"), res.Executions, plural(res.Executions, "execution"),
		res.Commands, plural(res.Commands, "command"))
	if res.Stopped {
		fmt.Fprintf(w, "Stopped: %s\n", report.TerminalSafe(res.StopReason, 500))
	}
	// Changes that did not go through, grouped by what happened to them.
	type group struct {
		outcome, remediation, why string
		where                     []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, c := range res.Changes {
		switch c.Outcome {
		case remediate.OutcomeFailed, remediate.OutcomeUnverified, remediate.OutcomeNotRollbackable:
		default:
			continue
		}
		key := c.Outcome + "|" + c.Remediation + "|" + c.Error
		g := byKey[key]
		if g == nil {
			g = &group{outcome: c.Outcome, remediation: c.Remediation, why: c.Error}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.where = append(g.where, c.Account+"/"+c.Region+" "+c.Resource)
	}
	for _, g := range groups {
		fmt.Fprintf(w, "  %d %s %s: %s\n", len(g.where), g.remediation, g.outcome, report.TerminalSafe(g.why, 300))
		shown := g.where[:min(len(g.where), 5)]
		more := ""
		if n := len(g.where) - len(shown); n > 0 {
			more = fmt.Sprintf(" … and %d more", n)
		}
		fmt.Fprintf(w, "    %s%s\n", report.TerminalSafe(strings.Join(shown, ", "), 600), more)
	}
}

func newRollbackCmd(d deps) *cobra.Command {
	var (
		journalDir, automationRole, format string
		aws                                awsapi.Options
	)
	journalDir, format = defaultJournalDir, "text"
	cmd := &cobra.Command{
		Use:   "rollback RUN_ID",
		Short: "Put back the before-values of a fix run",
		Long: `rollback reads the journal of a 'fix --apply' run and restores every change it
applied to its journaled before-value, through the same runbooks, in the same
waves; the rollback is journaled too, so a second rollback changes nothing.
Changes that have no undo (an attached instance profile, an on-host repair)
are listed with the reason instead.`,
		Example: `  fleetdoctor rollback fix-2026-12-02 --role-name FleetDoctorAudit`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runID := args[0]
			if !runIDRE.MatchString(runID) {
				return usageError("RUN_ID: %q is not a run id", runID)
			}
			if format != "text" && format != "json" {
				return usageError("--format: want text or json, not %q", format)
			}
			if automationRole != "" && !roleARNRE.MatchString(automationRole) {
				return usageError("--automation-role: %q is not an IAM role ARN", automationRole)
			}
			path := filepath.Join(journalDir, runID+".jsonl")
			if _, err := os.Stat(path); err != nil {
				return usageError("RUN_ID: no journal for run %s in %s (%v)", runID, journalDir, errors.Unwrap(err))
			}
			ctx := cmd.Context()
			prov, _, err := d.newProvider(ctx, aws)
			if err != nil {
				return accessError(ctx, err)
			}
			j, err := remediate.NewFileJournal(journalDir)
			if err != nil {
				return usageError("--journal: %v", err)
			}
			defer j.Close()
			res, err := remediate.NewExecutor(prov, j, remediate.ExecOptions{AutomationAssumeRole: automationRole}).Rollback(ctx, runID)
			if err != nil {
				return accessError(ctx, err)
			}
			if format == "json" {
				enc := json.NewEncoder(d.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				writeResult(d.stdout, res)
			}
			if res.Failures() > 0 {
				return &exitError{code: exitFindings, err: fmt.Errorf("%d changes could not be rolled back", res.Failures())}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&journalDir, "journal", journalDir, "directory of the change journal")
	fl.StringVar(&automationRole, "automation-role", "", "role ARN the runbooks run as (AutomationAssumeRole)")
	fl.StringVar(&aws.RoleName, "role-name", "", "role to assume in each account of the run")
	fl.StringVar(&aws.ExternalID, "external-id", "", "external id to pass when assuming --role-name")
	fl.StringVar(&aws.Profile, "profile", "", "shared config profile for the base credentials")
	fl.StringVar(&format, "format", format, "output format: text or json")
	return cmd
}
