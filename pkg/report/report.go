// Package report renders a run document (audit.Run) for people and programs:
// a terminal table, the JSON run document itself, CSV for spreadsheets and
// CloudWatch Embedded Metric Format lines, plus the check catalogue and the
// changes since a previous run (Diff). Renderers only write what they are given: no
// progress, no colour, nothing read from the environment.
//
// Findings carry text that an attacker can choose (instance tags, host
// output, error messages echoing input), so every renderer treats strings
// as hostile: the table escapes control characters and caps lengths, CSV
// also defuses spreadsheet formulas, and JSON escapes what encoding/json
// leaves raw.
package report

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
)

// Format names an output format of `fleetdoctor audit --format`.
type Format string

// Output formats.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
	FormatCSV   Format = "csv"
	// FormatEMF is CloudWatch Embedded Metric Format (see WriteEMF).
	FormatEMF  Format = "emf"
	FormatHTML Format = "html"
	FormatASFF Format = "asff"
)

// Formats lists the formats Render supports.
var Formats = []Format{FormatTable, FormatJSON, FormatCSV, FormatEMF, FormatASFF, FormatSlack, FormatHTML}

// Planned lists formats that are part of the CLI surface (DESIGN §3) but
// not rendered yet.
var Planned = []Format{}

// FormatList is Formats as "a, b or c", for help and error messages.
func FormatList() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Supported reports whether Render can write f.
func Supported(f Format) bool { return slices.Contains(Formats, f) }

// Render writes run to w in format f; opts applies to the table only.
func Render(w io.Writer, run *audit.Run, f Format, opts TableOptions) error {
	switch f {
	case FormatTable:
		return Table(w, run, opts)
	case FormatJSON:
		return JSON(w, run)
	case FormatCSV:
		return CSV(w, run)
	case FormatEMF:
		return WriteEMF(w, run, DefaultEMFNamespace)
	case FormatHTML:
		// The CLI writes the whole report set (see ReportSet) instead.
		return HTML(w, run, HTMLOptions{})
	case FormatASFF:
		// Without the previous run nothing is archived; the CLI passes it
		// through WriteASFF directly when it has one.
		return WriteASFF(w, run, ASFFOptions{})
	case FormatSlack:
		return WriteSlack(w, run)
	}
	return fmt.Errorf("format %q is not supported (want %s)", f, FormatList())
}
