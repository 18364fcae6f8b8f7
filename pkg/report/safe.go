package report

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Length caps for untrusted text. A terminal line or a spreadsheet cell
// that runs to kilobytes hides everything around it; the JSON document
// keeps the full text for anyone who needs it.
const (
	// maxCell caps short fields: ids, names, regions, severities.
	maxCell = 64
	// maxResource caps a resource name; ARNs (an SSM service setting's is
	// over 100 characters) need more room than other short fields.
	maxResource = 128
	// maxDetail caps free text (a finding's detail, a remediation).
	maxDetail = 1000
)

// TerminalSafe returns s with everything a terminal could act on made
// visible instead (for any text a tag, a host or an error message could
// have chosen), capped at max runes (0 means no cap):
//   - C0 controls, DEL and C1 controls (U+0080–U+009F, which include the
//     8-bit CSI) become Go-style escapes: "\x1b[31m" prints as the six
//     characters \x1b[31m, so an ANSI sequence is shown, never obeyed;
//     newlines and tabs become \n and \t, so a tag cannot forge table rows
//     or columns;
//   - bidirectional overrides and isolates (the "Trojan Source" characters)
//     become \u escapes, so text cannot appear reversed;
//   - bytes that are not UTF-8 become \xNN.
func TerminalSafe(s string, max int) string {
	if isPlain(s) {
		return capRunes(s, max)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return capRunes(b.String(), max)
}

// isPlain reports whether s is printable ASCII, the common case that needs
// no escaping.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// unsafeRune reports whether r is a non-ASCII rune a terminal may treat as
// a control: C1 controls, and the Unicode bidirectional formatting
// characters.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls, including CSI (U+009B)
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // ALM, LRM, RLM
		return true
	case r >= 0x202a && r <= 0x202e: // LRE, RLE, PDF, LRO, RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI, RLI, FSI, PDI
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// capRunes shortens s to at most max runes, marking the cut with "…";
// max <= 0 means no cap.
func capRunes(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// formulaPrefixes are the first characters that make a spreadsheet treat a
// cell as a formula (OWASP, "CSV Injection").
const formulaPrefixes = "=+-@\t\r"

// cellSafe makes s safe for a CSV cell that a spreadsheet will open and a
// terminal may print: TerminalSafe, capped, and prefixed with ' when it
// would otherwise start a formula.
func cellSafe(s string, max int) string {
	s = TerminalSafe(s, max)
	if s != "" && strings.ContainsRune(formulaPrefixes, rune(s[0])) {
		return "'" + s
	}
	return s
}
