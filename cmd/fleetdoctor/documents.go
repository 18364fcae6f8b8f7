package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/docinstall"
)

func newDocumentsCmd(d deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "documents",
		Short: "Manage fleetdoctor's SSM documents in AWS",
		Long: `documents manages fleetdoctor's SSM documents — the diagnose and repair Command
documents and the remediation Automation runbooks — in your accounts, for CLI
use without the CDK deployment.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newDocumentsInstallCmd(d))
	return cmd
}

// documentsScopeFlags are the audit flags `documents install` shares: scope
// and credentials.
var documentsScopeFlags = []string{"regions", "accounts", "role-name", "external-id", "profile", "sandbox", "quiet"}

func newDocumentsInstallCmd(d deps) *cobra.Command {
	// The scope and credential flags are the audit's, validated by its plan.
	shared := pflag.NewFlagSet("audit", pflag.ContinueOnError)
	f := bindAuditFlags(shared)
	var names []string
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Create or update fleetdoctor's SSM documents in each account and region",
		Long: `install creates fleetdoctor's SSM documents in every account and region in scope
(ssm:CreateDocument), or, where one exists with other content, adds a new
version (ssm:UpdateDocument) and makes it the default
(ssm:UpdateDocumentDefaultVersion). Documents whose default version already
has the content are left alone. It prints what it did to each document.

Scope and credentials work as for 'fleetdoctor audit': --regions defaults to
the SDK's default region, --accounts to the caller's account, and other
accounts need --role-name (a role there allowed to manage SSM documents).

Documents: ` + strings.Join(documents.Names(), ", ") + `.`,
		Example: `  fleetdoctor documents install --regions eu-west-1,us-east-1
  fleetdoctor documents install --accounts 111122223333,444455556666 --role-name fleetdoctor-admin --regions eu-west-1
  fleetdoctor documents install --names FleetDoctor-DiagnoseHost --sandbox`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := f.plan(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			all := documents.Names()
			if cmd.Flags().Changed("names") && len(names) == 0 {
				return usageError("--names: empty list; name at least one document or leave the flag out")
			}
			for _, n := range names {
				if !slices.Contains(all, n) {
					return usageError("--names: %q is not one of fleetdoctor's documents (%s)", n, strings.Join(all, ", "))
				}
			}
			return runDocumentsInstall(cmd.Context(), d, plan, names)
		},
	}
	fl := cmd.Flags()
	for _, n := range documentsScopeFlags {
		fl.AddFlag(shared.Lookup(n))
	}
	fl.Lookup("regions").Usage = "regions to install the documents in, comma-separated (default: the SDK's default region)"
	fl.Lookup("accounts").Usage = "12-digit account ids to install the documents in, comma-separated (default: the caller's account)"
	fl.Lookup("role-name").Usage = "role to assume in each account (needed for any account but the caller's)"
	fl.Lookup("sandbox").Usage = "install into a fresh embedded AWS sandbox instead of AWS: --sandbox (the demo scenario) or --sandbox=SCENARIO"
	fl.Var(listFlag{&names}, "names", "install only these documents, comma-separated (default: all)")
	fl.SortFlags = false
	return cmd
}

// runDocumentsInstall installs the documents in the plan's scope and
// prints one line per document, grouped by account-region.
func runDocumentsInstall(ctx context.Context, d deps, p *auditPlan, names []string) error {
	prov, cleanup, err := scopeProvider(ctx, d, p)
	if err != nil {
		return err
	}
	defer cleanup()
	outcomes, err := docinstall.InstallAll(ctx, prov, p.opts.Accounts, p.opts.Regions, docinstall.Source{Names: names})
	if err != nil && ctx.Err() != nil {
		return accessError(ctx, err)
	}
	failed, last := 0, ""
	for _, o := range outcomes {
		if scope := o.Account + " " + o.Region; scope != last {
			fmt.Fprintf(d.stdout, "%s:\n", scope)
			last = scope
		}
		line := o.String()
		if o.Type != "" {
			line = strings.Replace(line, ": ", " ("+o.Type+"): ", 1)
		}
		fmt.Fprintf(d.stdout, "  %s\n", safeLines(line))
		if o.Action == docinstall.Failed {
			failed++
		}
	}
	if failed > 0 {
		return awsError(fmt.Errorf("%d of %d %s could not be installed", failed, len(outcomes), plural(len(outcomes), "document")))
	}
	return nil
}

// scopeProvider opens the provider for a plan that is not an audit (the
// sandbox's, or AWS's through d) and completes the plan's scope: the
// default region, the caller's account. cleanup releases the sandbox.
func scopeProvider(ctx context.Context, d deps, p *auditPlan) (awsapi.Provider, func(), error) {
	noop := func() {}
	if p.sandbox != "" {
		sb, err := startAuditSandbox(p)
		if err != nil {
			return nil, noop, err
		}
		return sb.Provider(p.opts.Regions[0]), func() { _ = sb.Close() }, nil
	}
	prov, defaultRegion, err := d.newProvider(ctx, p.aws)
	if err != nil {
		var noProfile config.SharedConfigProfileNotExistError
		if errors.As(err, &noProfile) {
			return nil, noop, usageError("--profile: profile %q is not in the shared config or credentials file (check --profile and AWS_PROFILE)", noProfile.Profile)
		}
		return nil, noop, accessError(ctx, err)
	}
	if len(p.opts.Regions) == 0 {
		if defaultRegion == "" {
			return nil, noop, usageError("no region: pass --regions or set AWS_REGION")
		}
		if err := awsapi.ValidateRegion(defaultRegion); err != nil {
			return nil, noop, usageError("the default region (from AWS_REGION or the profile) is not usable: %v; pass --regions", err)
		}
		p.opts.Regions = []string{defaultRegion}
	}
	caller, err := prov.Caller(ctx)
	if err != nil {
		return nil, noop, accessError(ctx, err)
	}
	if len(p.opts.Accounts) == 0 {
		p.opts.Accounts = []string{caller.Account}
	}
	if p.aws.RoleName == "" {
		for _, a := range p.opts.Accounts {
			if a != caller.Account {
				return nil, noop, usageError("--accounts: %s is not the caller's account (%s); pass --role-name to name the role to assume in it", a, caller.Account)
			}
		}
	}
	return prov, noop, nil
}
