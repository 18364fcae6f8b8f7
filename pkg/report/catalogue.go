package report

import (
	"bufio"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// Catalogue writes the checks cs for `fleetdoctor checks`: as a table (id,
// family, severity, title, remediation id or "manual") or as a JSON array
// of their metadata.
func Catalogue(w io.Writer, cs []checks.Meta, f Format) error {
	switch f {
	case FormatJSON:
		if cs == nil {
			cs = []checks.Meta{}
		}
		return writeJSON(w, cs)
	case FormatTable:
		bw := bufio.NewWriter(w)
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tFAMILY\tSEVERITY\tTITLE\tREMEDIATION")
		for _, c := range cs {
			rem := c.Remediation.ID
			if rem == "" {
				rem = "manual"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n",
				TerminalSafe(c.ID, maxCell), TerminalSafe(c.Family, maxCell),
				TerminalSafe(string(c.Severity), maxCell),
				TerminalSafe(c.Title, 150), // the registry caps titles at 150
				TerminalSafe(rem, maxCell))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		return bw.Flush()
	}
	return fmt.Errorf("format %q is not supported for the catalogue (want table or json)", f)
}
