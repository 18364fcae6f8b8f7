package checks

import "strings"

// compareVersions compares two dotted numeric versions such as the SSM
// agent's "3.2.582.0": -1 when a < b, 0 when equal, +1 when a > b. Missing
// trailing components count as 0 ("3.2" == "3.2.0.0"). ok is false when
// either is not a dotted numeric version (empty, letters, empty components),
// so callers can skip what they cannot judge rather than guess.
//
// Components are compared as digit strings, so no component is too long.
func compareVersions(a, b string) (c int, ok bool) {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if !validVersion(a) || !validVersion(b) {
		return 0, false
	}
	for a != "" || b != "" {
		var x, y string
		x, a = nextComponent(a)
		y, b = nextComponent(b)
		if c := compareDigits(x, y); c != 0 {
			return c, true
		}
	}
	return 0, true
}

func validVersion(v string) bool {
	if v == "" {
		return false
	}
	prevDot := true
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; {
		case ch == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case ch >= '0' && ch <= '9':
			prevDot = false
		default:
			return false
		}
	}
	return !prevDot
}

// nextComponent splits off the first component; an exhausted version yields
// "0" forever.
func nextComponent(v string) (comp, rest string) {
	if v == "" {
		return "0", ""
	}
	if i := strings.IndexByte(v, '.'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return v, ""
}

// compareDigits compares non-negative decimal numbers written as digits.
func compareDigits(x, y string) int {
	x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
	switch {
	case len(x) < len(y):
		return -1
	case len(x) > len(y):
		return 1
	}
	return strings.Compare(x, y)
}
