package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// JSON writes run as the indented run document: the `--format json` output
// and the stored run format. Field order follows the struct definitions and
// map keys are sorted, so the same run always gives the same bytes; absent
// lists are written as [] and absent maps as {}, never null, so consumers
// need no special case.
func JSON(w io.Writer, run *audit.Run) error {
	return writeJSON(w, normalized(run))
}

// writeJSON marshals v indented, escapes what encoding/json leaves raw and
// writes it with a trailing newline in one call.
func writeJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	data = append(escapeUnsafeRunes(data), '\n')
	_, err = w.Write(data)
	return err
}

// normalized returns a shallow copy of run whose nil slices and maps are
// empty ones.
func normalized(run *audit.Run) *audit.Run {
	out := *run
	out.Findings = orEmpty(out.Findings)
	out.Errors = orEmpty(out.Errors)
	out.Run.Scope.Accounts = orEmpty(out.Run.Scope.Accounts)
	out.Run.Scope.Regions = orEmpty(out.Run.Scope.Regions)
	out.Summary.Checks = orEmpty(out.Summary.Checks)
	if out.Changes != nil {
		ch := *out.Changes
		ch.New, ch.Resolved, ch.Unknown = orEmpty(ch.New), orEmpty(ch.Resolved), orEmpty(ch.Unknown)
		if ch.Summary.NewBySeverity == nil {
			ch.Summary.NewBySeverity = map[checks.Severity]int{}
		}
		if ch.Summary.ResolvedBySeverity == nil {
			ch.Summary.ResolvedBySeverity = map[checks.Severity]int{}
		}
		out.Changes = &ch
	}
	if out.Summary.ByStatus == nil {
		out.Summary.ByStatus = map[checks.Status]int{}
	}
	if out.Summary.BySeverity == nil {
		out.Summary.BySeverity = map[checks.Severity]int{}
	}
	if out.Summary.FailingInstancesBySeverity == nil {
		out.Summary.FailingInstancesBySeverity = map[checks.Severity]int{}
	}
	return &out
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// escapeUnsafeRunes replaces, in encoded JSON, the runes that encoding/json
// writes raw but a terminal may obey (C1 controls such as the 8-bit CSI,
// bidirectional overrides) with \u escapes. encoding/json already escapes
// C0 controls (ESC becomes \u001b) and U+2028/U+2029. Such runes can only
// occur inside JSON strings, where \uXXXX means the same rune, so the
// document decodes to exactly the same value.
func escapeUnsafeRunes(data []byte) []byte {
	if !bytes.ContainsFunc(data, unsafeRune) {
		return data
	}
	var b bytes.Buffer
	b.Grow(len(data) + 32)
	for _, r := range string(data) {
		if unsafeRune(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.Bytes()
}
