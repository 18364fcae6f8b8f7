package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// DefaultMaxResources is how many resources a table group lists before
// "+K more".
const DefaultMaxResources = 5

// TableOptions tunes Table.
type TableOptions struct {
	// MaxResources is how many resources each group names; zero or less
	// means DefaultMaxResources.
	MaxResources int
}

// group is one row of the table: the findings of one check with one status
// and one severity (a check may raise its severity for some resources).
type group struct {
	check    string
	status   checks.Status
	severity checks.Severity
	count    int
	// resources are distinct, in finding order.
	resources []string
	seen      map[string]bool
}

// Table writes the FAIL and ERROR findings of run, one row per check,
// status and severity in catalogue order, followed by a one-line summary.
// Every string that could come from a tag, a host or an error message is
// escaped and capped (see TerminalSafe) before it reaches w.
func Table(w io.Writer, run *audit.Run, opts TableOptions) error {
	max := opts.MaxResources
	if max <= 0 {
		max = DefaultMaxResources
	}
	bw := bufio.NewWriter(w)
	groups := groupFindings(run)
	if len(groups) == 0 {
		fmt.Fprintln(bw, "No findings: nothing failed and every check could run.")
	} else {
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tCHECK\tSTATUS\tCOUNT\tRESOURCES")
		for _, g := range groups {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n",
				TerminalSafe(string(g.severity), maxCell),
				TerminalSafe(g.check, maxCell),
				TerminalSafe(string(g.status), maxCell),
				thousands(g.count),
				resourceList(g.resources, max))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	writeChanges(bw, run.Changes, DefaultMaxChanges)
	fmt.Fprintln(bw)
	fmt.Fprintln(bw, SummaryLine(run))
	return bw.Flush()
}

// groupFindings collects FAIL and ERROR findings into rows ordered by the
// catalogue (checks it does not know, from a newer run file, come last by
// id), then FAIL before ERROR, then worst severity first.
func groupFindings(run *audit.Run) []*group {
	type key struct {
		check    string
		status   checks.Status
		severity checks.Severity
	}
	byKey := map[key]*group{}
	var groups []*group
	multiAccount := accountCount(run) > 1
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		k := key{f.Check, f.Status, f.Severity}
		g, ok := byKey[k]
		if !ok {
			g = &group{check: f.Check, status: f.Status, severity: f.Severity, seen: map[string]bool{}}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.count++
		name := resourceName(f, multiAccount)
		if !g.seen[name] {
			g.seen[name] = true
			g.resources = append(g.resources, name)
		}
	}
	// Host checks (merged in by `fleetdoctor diagnose`) follow the
	// API-side catalogue, in their own catalogue order.
	rank := hostdiag.CatalogueRank()
	statusRank := func(s checks.Status) int {
		if s == checks.Fail {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(groups, func(a, b *group) int {
		return cmp.Or(
			cmp.Compare(rank(a.check), rank(b.check)),
			cmp.Compare(a.check, b.check),
			cmp.Compare(statusRank(a.status), statusRank(b.status)),
			cmp.Compare(b.severity.Rank(), a.severity.Rank()),
		)
	})
	return groups
}

// resourceName is how a finding's resource is shown. Instance ids are
// unique across accounts; other names (roles, profiles, settings) are not,
// so in a multi-account run they are qualified with the account.
func resourceName(f *checks.Finding, multiAccount bool) string {
	name := f.Resource
	if name == "" {
		name = strings.Trim(f.Account+"/"+f.Region, "/")
	}
	if multiAccount && f.ResourceType != checks.TypeInstance && f.Account != "" &&
		!strings.Contains(name, f.Account) {
		name = f.Account + "/" + name
	}
	return name
}

// resourceList names the first max resources and counts the rest.
func resourceList(resources []string, max int) string {
	shown := resources
	if len(shown) > max {
		shown = shown[:max]
	}
	parts := make([]string, len(shown))
	for i, r := range shown {
		parts[i] = TerminalSafe(r, maxResource)
	}
	s := strings.Join(parts, ", ")
	if more := len(resources) - len(shown); more > 0 {
		s += " +" + thousands(more) + " more"
	}
	return s
}

// SummaryLine is the run in one sentence, for the end of the table and for
// notifications, such as
//
//	1,000 instances in 2 accounts × 2 regions: 87.3% healthy, 127 failing (high 100, medium 20, low 7); 3 audit errors
func SummaryLine(run *audit.Run) string {
	s := &run.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s × %s: ",
		plural(s.Instances, "instance"), plural(accountCount(run), "account"), plural(len(run.Run.Scope.Regions), "region"))
	if s.Instances == 0 {
		b.WriteString("no instances to judge")
	} else {
		fmt.Fprintf(&b, "%s%% healthy, ", healthPercent(s.Health, s.Instances, s.FailingInstances))
		if s.FailingInstances == 0 {
			b.WriteString("none failing")
		} else {
			b.WriteString(thousands(s.FailingInstances) + " failing")
			var parts []string
			for _, sev := range checks.Severities {
				if n := s.FailingInstancesBySeverity[sev]; n > 0 {
					parts = append(parts, string(sev)+" "+thousands(n))
				}
			}
			if len(parts) > 0 {
				b.WriteString(" (" + strings.Join(parts, ", ") + ")")
			}
		}
	}
	b.WriteString(errorsAndMuted(run))
	return b.String()
}

// errorsAndMuted is the "; N audit errors; N muted" end of a summary line
// ("" when there are neither).
func errorsAndMuted(run *audit.Run) string {
	errs, muted := 0, 0
	for i := range run.Findings {
		switch run.Findings[i].Status {
		case checks.Error:
			errs++
		case checks.Muted:
			muted++
		}
	}
	var b strings.Builder
	if errs > 0 {
		b.WriteString("; " + plural(errs, "audit error"))
	}
	if muted > 0 {
		b.WriteString("; " + thousands(muted) + " muted")
	}
	return b.String()
}

// accountCount is the number of accounts the run covered.
func accountCount(run *audit.Run) int {
	if run.Summary.Accounts > 0 {
		return run.Summary.Accounts
	}
	return len(run.Run.Scope.Accounts)
}

// healthPercent formats health to one decimal without ever rounding a
// failing fleet up to 100.0% or a partly healthy one down to 0.0%.
func healthPercent(health float64, instances, failing int) string {
	h := math.Round(health*10) / 10
	if failing > 0 && h >= 100 {
		h = 99.9
	}
	if failing < instances && h <= 0 {
		h = 0.1
	}
	return strconv.FormatFloat(h, 'f', 1, 64)
}

// plural formats "1 account" / "2 accounts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

// thousands formats n with comma thousands separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
