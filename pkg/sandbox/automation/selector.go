package automation

import (
	"fmt"
	"strconv"
	"strings"
)

// selector is the JSONPath subset runbooks use to pick values out of API
// responses: $ root, .Name and ['Name'] children, [N] indexes (negative
// from the end), [*] and .* wildcards, and ..Name recursive descent.
type selector struct {
	text string
	segs []segment
	// multi is set when the path can match several values (a wildcard or
	// recursive descent), which makes the result a list.
	multi bool
}

type segKind int

const (
	segChild segKind = iota
	segIndex
	segWildcard
	segDescend
)

type segment struct {
	kind  segKind
	key   string
	index int
}

const maxSelectorLen = 1024

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// compileSelector parses a JSONPath selector.
func compileSelector(s string) (*selector, error) {
	if len(s) > maxSelectorLen {
		return nil, fmt.Errorf("selector is longer than %d characters", maxSelectorLen)
	}
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("selector %q must start with $", s)
	}
	sel := &selector{text: s}
	i := 1
	name := func() (string, error) {
		j := i
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		if j == i {
			return "", fmt.Errorf("selector %q: expected a name at offset %d", s, i)
		}
		n := s[i:j]
		i = j
		return n, nil
	}
	for i < len(s) {
		switch {
		case strings.HasPrefix(s[i:], ".."):
			i += 2
			n, err := name()
			if err != nil {
				return nil, err
			}
			sel.segs = append(sel.segs, segment{kind: segDescend, key: n})
			sel.multi = true
		case strings.HasPrefix(s[i:], ".*"):
			i += 2
			sel.segs = append(sel.segs, segment{kind: segWildcard})
			sel.multi = true
		case s[i] == '.':
			i++
			n, err := name()
			if err != nil {
				return nil, err
			}
			sel.segs = append(sel.segs, segment{kind: segChild, key: n})
		case s[i] == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("selector %q: unclosed [", s)
			}
			inner := strings.TrimSpace(s[i+1 : i+end])
			i += end + 1
			switch {
			case inner == "*":
				sel.segs = append(sel.segs, segment{kind: segWildcard})
				sel.multi = true
			case len(inner) >= 2 && (inner[0] == '\'' && inner[len(inner)-1] == '\'' || inner[0] == '"' && inner[len(inner)-1] == '"'):
				sel.segs = append(sel.segs, segment{kind: segChild, key: inner[1 : len(inner)-1]})
			default:
				n, err := strconv.Atoi(inner)
				if err != nil || n > 1<<20 || n < -(1<<20) {
					return nil, fmt.Errorf("selector %q: [%s] is not an index, a quoted name or *", s, inner)
				}
				sel.segs = append(sel.segs, segment{kind: segIndex, index: n})
			}
		default:
			return nil, fmt.Errorf("selector %q: unexpected %q at offset %d", s, s[i], i)
		}
	}
	return sel, nil
}

// eval returns the values the selector matches in a normalized document.
func (sel *selector) eval(doc any) []any {
	cur := []any{doc}
	for _, sg := range sel.segs {
		var next []any
		for _, v := range cur {
			switch sg.kind {
			case segChild:
				if m, ok := v.(map[string]any); ok {
					if c, ok := m[sg.key]; ok {
						next = append(next, c)
					}
				}
			case segIndex:
				if l, ok := v.([]any); ok {
					i := sg.index
					if i < 0 {
						i += len(l)
					}
					if i >= 0 && i < len(l) {
						next = append(next, l[i])
					}
				}
			case segWildcard:
				switch x := v.(type) {
				case []any:
					next = append(next, x...)
				case map[string]any:
					for _, k := range sortedKeys(x) {
						next = append(next, x[k])
					}
				}
			case segDescend:
				next = descend(v, sg.key, next, 0)
			}
		}
		cur = next
	}
	// A missing member reads as absent, not as null.
	out := cur[:0]
	for _, v := range cur {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

func descend(v any, key string, acc []any, depth int) []any {
	if depth > maxDepth {
		return acc
	}
	switch x := v.(type) {
	case map[string]any:
		if c, ok := x[key]; ok {
			acc = append(acc, c)
		}
		for _, k := range sortedKeys(x) {
			acc = descend(x[k], key, acc, depth+1)
		}
	case []any:
		for _, e := range x {
			acc = descend(e, key, acc, depth+1)
		}
	}
	return acc
}

// Output types an aws:executeAwsApi output can declare.
var outputTypes = map[string]bool{"String": true, "Integer": true, "Boolean": true, "StringList": true, "StringMap": true, "MapList": true}

// typed converts what a selector matched into the output's declared type.
func typed(sel *selector, matched []any, typ string) (any, error) {
	if len(matched) == 0 {
		return nil, fmt.Errorf("selector %s matched nothing in the response", sel.text)
	}
	single := func() (any, error) {
		if len(matched) > 1 {
			return nil, fmt.Errorf("selector %s matched %d values, a %s output takes one", sel.text, len(matched), typ)
		}
		return matched[0], nil
	}
	list := func() []any {
		if !sel.multi && len(matched) == 1 {
			if l, ok := matched[0].([]any); ok {
				return l
			}
		}
		return matched
	}
	switch typ {
	case "String":
		v, err := single()
		if err != nil {
			return nil, err
		}
		s, ok := scalarString(v)
		if !ok {
			return nil, fmt.Errorf("selector %s matched a %s, not a String", sel.text, kindOf(v))
		}
		return s, nil
	case "Integer":
		v, err := single()
		if err != nil {
			return nil, err
		}
		i, ok := integer(v)
		if !ok {
			return nil, fmt.Errorf("selector %s matched %s, not an Integer", sel.text, text(v))
		}
		return i, nil
	case "Boolean":
		v, err := single()
		if err != nil {
			return nil, err
		}
		b, ok := boolean(v)
		if !ok {
			return nil, fmt.Errorf("selector %s matched %s, not a Boolean", sel.text, text(v))
		}
		return b, nil
	case "StringList":
		var out []any
		for _, e := range list() {
			s, ok := scalarString(e)
			if !ok {
				return nil, fmt.Errorf("selector %s matched a %s inside the list, a StringList holds strings", sel.text, kindOf(e))
			}
			out = append(out, s)
		}
		return out, nil
	case "MapList":
		var out []any
		for _, e := range list() {
			if _, ok := e.(map[string]any); !ok {
				return nil, fmt.Errorf("selector %s matched a %s inside the list, a MapList holds maps", sel.text, kindOf(e))
			}
			out = append(out, e)
		}
		return out, nil
	case "StringMap":
		v, err := single()
		if err != nil {
			return nil, err
		}
		if _, ok := v.(map[string]any); !ok {
			return nil, fmt.Errorf("selector %s matched a %s, not a StringMap", sel.text, kindOf(v))
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown output type %q", typ)
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "map"
	case []any:
		return "list"
	case nil:
		return "null"
	}
	return "scalar"
}
