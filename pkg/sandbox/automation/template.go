package automation

import (
	"fmt"
	"regexp"
	"strings"
)

// A runbook refers to values as {{ Name }} (a parameter), {{ Step.Output }}
// (a step's output, including a loop's CurrentIteration and
// CurrentIteratorValue) and {{ global:NAME }} / {{ automation:NAME }}
// (system variables).
var refPattern = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

var (
	identPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)
	stepRefRE    = regexp.MustCompile(`^([A-Za-z0-9_]{1,128})\.([A-Za-z0-9_]{1,128})$`)
)

// The system variables Automation defines.
var systemVariables = map[string]bool{
	"global:ACCOUNT_ID":       true,
	"global:REGION":           true,
	"global:AWS_PARTITION":    true,
	"global:DATE":             true,
	"global:DATE_TIME":        true,
	"automation:EXECUTION_ID": true,
}

type refKind int

const (
	refParameter refKind = iota
	refOutput
	refSystem
)

// ref is one {{ ... }} reference.
type ref struct {
	kind refKind
	// name is the parameter, the step, or the system variable.
	name string
	// field is the output name of a step reference.
	field string
}

func (r ref) String() string {
	if r.kind == refOutput {
		return r.name + "." + r.field
	}
	return r.name
}

func parseRef(s string) (ref, error) {
	switch {
	case systemVariables[s]:
		return ref{kind: refSystem, name: s}, nil
	case identPattern.MatchString(s):
		return ref{kind: refParameter, name: s}, nil
	}
	if m := stepRefRE.FindStringSubmatch(s); m != nil {
		return ref{kind: refOutput, name: m[1], field: m[2]}, nil
	}
	if strings.HasPrefix(s, "global:") || strings.HasPrefix(s, "automation:") {
		return ref{}, fmt.Errorf("{{ %s }} is not an Automation system variable", s)
	}
	if strings.HasPrefix(s, "ssm:") || strings.HasPrefix(s, "resolve:") {
		return ref{}, fmt.Errorf("{{ %s }}: Parameter Store references are not supported", s)
	}
	return ref{}, fmt.Errorf("{{ %s }} is neither a parameter, a Step.Output nor a system variable", s)
}

// refsIn returns the references in a string, refusing malformed ones and
// stray "{{".
func refsIn(s string) ([]ref, error) {
	var refs []ref
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		r, err := parseRef(m[1])
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	if strings.Contains(refPattern.ReplaceAllString(s, ""), "{{") {
		return nil, fmt.Errorf("%q has an unterminated or malformed {{ reference", s)
	}
	return refs, nil
}

// walkStrings calls f on every string in a value tree, with its path.
func walkStrings(v any, path string, f func(path, s string) error) error {
	switch x := v.(type) {
	case string:
		return f(path, x)
	case []any:
		for i, e := range x {
			if err := walkStrings(e, fmt.Sprintf("%s[%d]", path, i), f); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if err := walkStrings(x[k], join(path, k), f); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolver looks references up at run time.
type resolver func(r ref) (any, error)

// substitute replaces the references in a value tree. A string that is
// exactly one reference takes the referenced value with its type (a
// StringList stays a list, an Integer a number); references inside longer
// strings are replaced by their text.
func substitute(v any, look resolver) (any, error) {
	switch x := v.(type) {
	case string:
		return substituteString(x, look)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := substitute(e, look)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, err := substitute(e, look)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	}
	return v, nil
}

func substituteString(s string, look resolver) (any, error) {
	locs := refPattern.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return s, nil
	}
	if len(locs) == 1 && locs[0][0] == 0 && locs[0][1] == len(s) {
		r, err := parseRef(s[locs[0][2]:locs[0][3]])
		if err != nil {
			return nil, err
		}
		return look(r)
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		b.WriteString(s[last:l[0]])
		r, err := parseRef(s[l[2]:l[3]])
		if err != nil {
			return nil, err
		}
		v, err := look(r)
		if err != nil {
			return nil, err
		}
		b.WriteString(text(v))
		last = l[1]
	}
	b.WriteString(s[last:])
	return b.String(), nil
}
