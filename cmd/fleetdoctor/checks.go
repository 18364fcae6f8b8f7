package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

func newChecksCmd(d deps) *cobra.Command {
	format := string(report.FormatTable)
	cmd := &cobra.Command{
		Use:   "checks",
		Short: "List the check catalogue",
		Long: `checks lists every check fleetdoctor runs, in the order reports show them: its
stable id (the value --checks takes and findings carry), family, default
severity, title, and the remediation that fixes a failure ("manual" when a
person has to). Check ids never change once published. The host family's
checks run on the instance through the FleetDoctor-DiagnoseHost document
(fleetdoctor diagnose); the others read the AWS APIs.

The json format is the full metadata of each check: the risk it guards
against, the data sources it reads and its remediation.`,
		Example: `  # The catalogue as a table
  fleetdoctor checks

  # Every check's metadata as JSON
  fleetdoctor checks --format json

  # The ids of the IMDS checks, for --checks
  fleetdoctor checks --format json | jq -r '.[] | select(.family == "imds") | .id' | paste -sd, -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := report.Format(strings.ToLower(format))
			if f != report.FormatTable && f != report.FormatJSON {
				return usageError("--format: unknown format %q (want table or json)", format)
			}
			if err := report.Catalogue(d.stdout, catalogue(), f); err != nil {
				return usageError("writing the catalogue: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", format, "output format: table or json")
	return cmd
}

// catalogue is every check: the API-side checks, then the host checks the
// diagnose document runs.
func catalogue() []checks.Meta {
	return append(checks.Metas(checks.Catalogue()), hostdiag.Catalogue()...)
}
