package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// Changes is what changed since a previous run; see audit.Changes.
type Changes = audit.Changes

// DefaultMaxChanges is how many new and how many resolved findings the
// table lists before "+K more".
const DefaultMaxChanges = 20

// Diff compares the FAIL and ERROR findings of cur with those of prev,
// keyed by (check, account, region, resource). A nil prev makes every
// finding of cur new.
//
// A finding of prev that is missing from cur is Resolved only when cur
// really looked again: its account and region are in cur's scope, its
// check ran in cur, and no audit_incomplete finding of cur covers that
// account-region and check (the whole account, the account's IAM, or the
// region's collection). Otherwise it is Unknown: a region that could not
// be read resolves nothing.
func Diff(prev, cur *audit.Run) Changes {
	ch := Changes{Summary: audit.ChangeSummary{
		NewBySeverity:      map[checks.Severity]int{},
		ResolvedBySeverity: map[checks.Severity]int{},
	}}
	curFindings := failing(cur)
	if prev == nil {
		ch.New = curFindings
	} else {
		ch.PreviousRunID = prev.Run.ID
		ch.PreviousStartedAt = prev.Run.StartedAt
		prevFindings := failing(prev)
		prevKeys := make(map[string]bool, len(prevFindings))
		for i := range prevFindings {
			prevKeys[prevFindings[i].Key()] = true
		}
		curKeys := make(map[string]bool, len(curFindings))
		for i := range curFindings {
			f := curFindings[i]
			curKeys[f.Key()] = true
			if prevKeys[f.Key()] {
				ch.Unchanged = append(ch.Unchanged, f)
			} else {
				ch.New = append(ch.New, f)
			}
		}
		cov := newCoverage(cur)
		for i := range prevFindings {
			f := prevFindings[i]
			switch {
			case curKeys[f.Key()]:
			case cov.audited(&f):
				ch.Resolved = append(ch.Resolved, f)
			default:
				ch.Unknown = append(ch.Unknown, f)
			}
		}
	}
	for _, l := range []*[]checks.Finding{&ch.New, &ch.Resolved, &ch.Unknown, &ch.Unchanged} {
		if *l == nil {
			*l = []checks.Finding{}
		}
		hostdiag.SortFindings(*l)
	}
	ch.Summary.New, ch.Summary.Resolved = len(ch.New), len(ch.Resolved)
	ch.Summary.Unchanged, ch.Summary.Unknown = len(ch.Unchanged), len(ch.Unknown)
	for _, f := range ch.New {
		ch.Summary.NewBySeverity[f.Severity]++
	}
	for _, f := range ch.Resolved {
		ch.Summary.ResolvedBySeverity[f.Severity]++
	}
	return ch
}

// failing returns the FAIL and ERROR findings of run, one per key.
func failing(run *audit.Run) []checks.Finding {
	var out []checks.Finding
	seen := map[string]bool{}
	for i := range run.Findings {
		f := run.Findings[i]
		if (f.Status != checks.Fail && f.Status != checks.Error) || seen[f.Key()] {
			continue
		}
		seen[f.Key()] = true
		out = append(out, f)
	}
	return out
}

// coverage is what a run looked at: the account-regions in its scope, the
// checks it evaluated, and the gaps its audit_incomplete findings name.
type coverage struct {
	accounts, regions map[string]bool
	// checks ran (nil: the run does not say, so any check counts).
	checks map[string]bool
	// gaps maps "account|region" (region "*" for every region of the
	// account) to the checks not evaluated there; a nil set means all.
	gaps map[string]map[string]bool
}

func newCoverage(run *audit.Run) *coverage {
	c := &coverage{
		accounts: setOf(run.Run.Scope.Accounts),
		regions:  setOf(run.Run.Scope.Regions),
		gaps:     map[string]map[string]bool{},
	}
	if len(run.Summary.Checks) > 0 {
		c.checks = map[string]bool{checks.IncompleteID: true}
		for _, st := range run.Summary.Checks {
			c.checks[st.Check] = true
		}
		for i := range run.Findings {
			c.checks[run.Findings[i].Check] = true
		}
	}
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Check != checks.IncompleteID {
			continue
		}
		region := f.Region
		if region == "" || region == "global" || f.ResourceType == checks.TypeAccount {
			region = "*"
		}
		// A whole account that could not be entered has no region and
		// misses every check.
		notChecked, ok := notCheckedOf(f)
		if f.Region == "" || !ok {
			notChecked = nil
		}
		key := f.Account + "|" + region
		gap, seen := c.gaps[key]
		switch {
		case seen && gap == nil: // already every check
		case notChecked == nil:
			c.gaps[key] = nil
		default:
			if gap == nil {
				gap = map[string]bool{}
				c.gaps[key] = gap
			}
			for _, id := range notChecked {
				gap[id] = true
			}
		}
	}
	return c
}

// notCheckedOf reads the checks an audit_incomplete finding names in its
// evidence (a []string when built, a []any when read back from JSON).
func notCheckedOf(f *checks.Finding) ([]string, bool) {
	switch v := f.Evidence["notChecked"].(type) {
	case []string:
		return v, true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// audited reports whether the run evaluated f's check in f's account and
// region.
func (c *coverage) audited(f *checks.Finding) bool {
	if !c.accounts[f.Account] {
		return false
	}
	if f.Region != "" && f.Region != "global" && !c.regions[f.Region] {
		return false
	}
	if c.checks != nil && !c.checks[f.Check] {
		return false
	}
	for _, key := range []string{f.Account + "|*", f.Account + "|" + f.Region} {
		if gap, ok := c.gaps[key]; ok && (gap == nil || gap[f.Check]) {
			return false
		}
	}
	// The previous run's own collection gaps are resolved by reading the
	// region again; an account-wide one needs every region readable.
	if f.Check == checks.IncompleteID && f.Region == "" {
		for key := range c.gaps {
			if strings.HasPrefix(key, f.Account+"|") {
				return false
			}
		}
	}
	return true
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// writeChanges writes the "since the previous run" section of the table:
// the counts, then up to max new and max resolved findings.
func writeChanges(w io.Writer, ch *Changes, max int) {
	if ch == nil {
		return
	}
	fmt.Fprintln(w)
	since := "since the previous run"
	if ch.PreviousRunID != "" {
		since += " (" + TerminalSafe(ch.PreviousRunID, maxCell) + ")"
	}
	fmt.Fprintf(w, "%s: %s new, %s resolved", since, thousands(len(ch.New)), thousands(len(ch.Resolved)))
	if n := len(ch.Unknown); n > 0 {
		fmt.Fprintf(w, ", %s not re-checked", thousands(n))
	}
	fmt.Fprintln(w)
	list := func(title string, fs []checks.Finding) {
		if len(fs) == 0 {
			return
		}
		fmt.Fprintln(w, title+":")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		defer tw.Flush()
		shown := fs
		if len(shown) > max {
			shown = shown[:max]
		}
		for i := range shown {
			f := &shown[i]
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n",
				TerminalSafe(string(f.Severity), maxCell), TerminalSafe(f.Check, maxCell),
				TerminalSafe(stringsJoinNonEmpty(f.Account, f.Region), maxCell),
				TerminalSafe(f.Resource, maxResource))
		}
		if more := len(fs) - len(shown); more > 0 {
			fmt.Fprintf(tw, "  +%s more\n", thousands(more))
		}
	}
	list("New", ch.New)
	list("Resolved", ch.Resolved)
}

// stringsJoinNonEmpty joins the non-empty parts with "/".
func stringsJoinNonEmpty(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += "/"
		}
		out += p
	}
	return out
}
