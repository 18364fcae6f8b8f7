package hostdiag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits Parse applies to a report, which comes from a host and is read as
// hostile input.
const (
	// MaxDetail is the most runes kept of a check's detail.
	MaxDetail = 1000
	// MaxEvidenceString is the most runes kept of any evidence string.
	MaxEvidenceString = 2048
	// MaxEvidenceDepth is the deepest evidence nesting accepted.
	MaxEvidenceDepth = 8
	// MaxChecks is the most checks a report may carry.
	MaxChecks = 64
	// maxHostField is the most runes kept of a host field.
	maxHostField = 256
)

var (
	checkIDPattern  = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
	instancePattern = regexp.MustCompile(`^(i|mi)-[0-9a-f]{8,17}$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
)

// ParseError says why a host's output is not a report.
type ParseError struct {
	// Field names the offending part ("schema", "host.instanceId",
	// "checks[3].status", or "" for the output as a whole).
	Field  string
	Reason string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return "host report: " + e.Reason
	}
	return "host report: " + e.Field + ": " + e.Reason
}

// Parse reads a diagnose document's stdout as a Report; see ParseFor.
func Parse(out []byte) (Report, error) { return ParseFor(out, "") }

// ParseFor reads a diagnose document's stdout as a Report, treating it as
// hostile: at most MaxOutput characters; exactly one JSON object with no
// unknown fields; the schema version this package speaks; a host block
// with a well-formed instance id (which must equal wantInstance when that
// is set: the output of one instance's invocation must not speak for
// another) and region; at most MaxChecks checks.
//
// What a host may get wrong without making the whole report unusable is
// repaired and marked instead, so that a bad check never hides the others:
// a check with an unknown or malformed id or status becomes ERROR (unknown
// ids keep their id, sanitised, so the operator sees what the host sent);
// a repeated id keeps its first entry; long strings are cut to MaxDetail /
// MaxEvidenceString runes and control characters are dropped; evidence
// nested deeper than MaxEvidenceDepth is dropped and the check marked
// Truncated. A known check missing from the report is added as ERROR,
// saying whether the host omitted it to fit its output.
func ParseFor(out []byte, wantInstance string) (Report, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return Report{}, &ParseError{Reason: "empty output"}
	}
	if !utf8.Valid(out) {
		return Report{}, &ParseError{Reason: "output is not valid UTF-8"}
	}
	if n := utf8.RuneCount(out); n > MaxOutput {
		return Report{}, &ParseError{Reason: fmt.Sprintf("output is %d characters, more than the %d a report may take", n, MaxOutput)}
	}
	var raw struct {
		Schema  *int       `json:"schema"`
		Host    *Host      `json:"host"`
		Checks  []rawCheck `json:"checks"`
		Omitted int        `json:"omitted"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Report{}, &ParseError{Reason: "not a report object: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Report{}, &ParseError{Reason: "trailing data after the report object"}
	}
	switch {
	case raw.Schema == nil:
		return Report{}, &ParseError{Field: "schema", Reason: "missing"}
	case *raw.Schema != SchemaVersion:
		return Report{}, &ParseError{Field: "schema", Reason: fmt.Sprintf("version %d is not supported (this fleetdoctor reads %d)", *raw.Schema, SchemaVersion)}
	case raw.Host == nil:
		return Report{}, &ParseError{Field: "host", Reason: "missing"}
	case len(raw.Checks) > MaxChecks:
		return Report{}, &ParseError{Field: "checks", Reason: fmt.Sprintf("%d checks, more than %d", len(raw.Checks), MaxChecks)}
	case raw.Omitted < 0 || raw.Omitted > MaxChecks:
		return Report{}, &ParseError{Field: "omitted", Reason: fmt.Sprintf("%d is out of range", raw.Omitted)}
	}
	h := *raw.Host
	if !instancePattern.MatchString(h.InstanceID) {
		return Report{}, &ParseError{Field: "host.instanceId", Reason: fmt.Sprintf("%q is not an instance id", clean(h.InstanceID, 32))}
	}
	if wantInstance != "" && h.InstanceID != wantInstance {
		return Report{}, &ParseError{Field: "host.instanceId", Reason: fmt.Sprintf("report is from %s, not %s", h.InstanceID, wantInstance)}
	}
	if h.Region != "" && !regionPattern.MatchString(h.Region) {
		return Report{}, &ParseError{Field: "host.region", Reason: fmt.Sprintf("%q is not a region", clean(h.Region, 32))}
	}
	if h.Platform != "Linux" && h.Platform != "Windows" {
		return Report{}, &ParseError{Field: "host.platform", Reason: fmt.Sprintf("%q is neither Linux nor Windows", clean(h.Platform, 32))}
	}
	h.OS, h.Kernel, h.AgentVersion, h.Hostname = clean(h.OS, maxHostField), clean(h.Kernel, maxHostField), clean(h.AgentVersion, 64), clean(h.Hostname, maxHostField)

	rep := Report{Schema: SchemaVersion, Host: h, Omitted: raw.Omitted}
	known := map[string]bool{}
	for _, id := range CheckIDs() {
		known[id] = true
	}
	seen := map[string]bool{}
	for i, rc := range raw.Checks {
		c := rc.check(i, known)
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		rep.Checks = append(rep.Checks, c)
	}
	for _, id := range CheckIDs() {
		if seen[id] {
			continue
		}
		detail := "the host's report does not include this check"
		if raw.Omitted > 0 {
			detail = "the host left this check out to fit its report into the command output"
		}
		rep.Checks = append(rep.Checks, Check{ID: id, Status: Error, Detail: detail})
	}
	return rep, nil
}

// rawCheck is a check as the host sent it.
type rawCheck struct {
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	Detail    string          `json:"detail"`
	Evidence  json.RawMessage `json:"evidence"`
	Truncated bool            `json:"truncated"`
}

// check validates one check, repairing what it can.
func (rc rawCheck) check(i int, known map[string]bool) Check {
	c := Check{ID: rc.ID, Status: Status(rc.Status), Detail: clean(rc.Detail, MaxDetail), Truncated: rc.Truncated}
	var problems []string
	if !checkIDPattern.MatchString(c.ID) {
		problems = append(problems, fmt.Sprintf("checks[%d] has a malformed id %q", i, clean(rc.ID, 64)))
		c.ID = fmt.Sprintf("host_invalid_check_%d", i)
	} else if !known[c.ID] {
		problems = append(problems, "unknown host check id")
	}
	switch c.Status {
	case Pass, Fail, Error:
	default:
		problems = append(problems, fmt.Sprintf("invalid status %q", clean(rc.Status, 16)))
	}
	if len(rc.Evidence) > 0 && string(rc.Evidence) != "null" {
		var ev any
		dec := json.NewDecoder(bytes.NewReader(rc.Evidence))
		dec.UseNumber()
		if err := dec.Decode(&ev); err != nil {
			problems = append(problems, "evidence is not JSON")
		} else if m, ok := ev.(map[string]any); !ok {
			problems = append(problems, "evidence is not an object")
		} else {
			cleaned, cut := cleanValue(m, 1)
			if cut {
				c.Truncated = true
			}
			if cm, ok := cleaned.(map[string]any); ok {
				c.Evidence = cm
			}
		}
	}
	if len(problems) > 0 {
		c.Status = Error
		c.Detail = clean("host sent an invalid check ("+strings.Join(problems, "; ")+")"+suffix(c.Detail), MaxDetail)
	}
	return c
}

func suffix(detail string) string {
	if detail == "" {
		return ""
	}
	return ": " + detail
}

// cleanValue caps strings and nesting in decoded evidence; cut says
// something was shortened or dropped.
func cleanValue(v any, depth int) (any, bool) {
	switch x := v.(type) {
	case string:
		s := clean(x, MaxEvidenceString)
		return s, s != x
	case map[string]any:
		if depth > MaxEvidenceDepth {
			return nil, true
		}
		out := make(map[string]any, len(x))
		cut := false
		for k, e := range x {
			ck := clean(k, 128)
			ce, c := cleanValue(e, depth+1)
			cut = cut || c || ck != k
			if ce != nil || e == nil {
				out[ck] = ce
			}
		}
		return out, cut
	case []any:
		if depth > MaxEvidenceDepth {
			return nil, true
		}
		out := make([]any, 0, len(x))
		cut := false
		for _, e := range x {
			ce, c := cleanValue(e, depth+1)
			cut = cut || c
			if ce != nil || e == nil {
				out = append(out, ce)
			}
		}
		return out, cut
	}
	return v, false // json.Number, bool, nil
}

// clean drops control characters (keeping tab and newline) and cuts s to
// at most max runes, marking the cut.
func clean(s string, max int) string {
	needs := utf8.RuneCountInString(s) > max
	if !needs {
		for _, r := range s {
			if unicode.IsControl(r) && r != '\n' && r != '\t' || r == utf8.RuneError {
				needs = true
				break
			}
		}
	}
	if !needs {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' || r == utf8.RuneError {
			continue
		}
		if n == max {
			b.WriteString(truncMark)
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
