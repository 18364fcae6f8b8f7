package remediate

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/report"
)

// Caps on what the text plan prints; the JSON plan (encoding/json on the
// Plan) has everything.
const (
	textIDs         = 6   // instance ids listed per remediation
	textTransitions = 5   // before → after lines per remediation
	textExamples    = 5   // resources listed per skip reason
	textValue       = 80  // runes of a before or after value
	textReason      = 300 // runes of a skip reason or note
	textShort       = 128 // runes of ids, names, parameters
)

// safe makes untrusted text (tag values, owners, host output) inert on a
// terminal and in chat: report.TerminalSafe shows control characters and
// bidi overrides as escapes, and angle brackets become ‹ › so a value such
// as <!channel> or <https://evil|click> cannot become a mention or a link
// when the plan is pasted into Slack.
func safe(s string, max int) string {
	s = report.TerminalSafe(s, max)
	if strings.ContainsAny(s, "<>") {
		s = strings.NewReplacer("<", "‹", ">", "›").Replace(s)
	}
	return s
}

// WriteText writes a readable plan: per account-region and remediation the
// document, its parameters, how many instances in how many batches (ids
// abbreviated) and the before → after values; the skips grouped by reason
// with counts; and the notes.
func WriteText(w io.Writer, p *Plan) error {
	bw := bufio.NewWriter(w)
	batches := 0
	for _, b := range p.Batches {
		if len(b.Changes) > 0 {
			batches++
		}
	}
	fmt.Fprintf(bw, "Plan %s (%s): %s in %s; %s skipped; %s\n",
		safe(p.RunID, textShort), p.CreatedAt.UTC().Format(time.RFC3339),
		plural(p.Changes(), "change"), plural(batches, "batch"), plural(len(p.Skips), "finding"), plural(len(p.Notes), "note"))
	if p.Changes() == 0 {
		fmt.Fprintln(bw, "\nNothing to change.")
	}

	// Changes, per account-region, then per remediation and parameters.
	where := ""
	for i := 0; i < len(p.Batches); {
		b := p.Batches[i]
		j := i
		var changes []Change
		n := 0
		for ; j < len(p.Batches) && sameGroup(p.Batches[j], b); j++ {
			changes = append(changes, p.Batches[j].Changes...)
			n++
		}
		i = j
		if len(changes) == 0 {
			continue
		}
		if w := b.Account + " " + b.Region; w != where {
			where = w
			fmt.Fprintf(bw, "\n%s %s\n", safe(b.Account, textShort), safe(b.Region, textShort))
		}
		fmt.Fprintf(bw, "  %s: %s %s\n", safe(b.Remediation, textShort), safe(b.Document, textShort), params(b.Params))
		what := "instance"
		if b.Remediation == "imds_account_defaults" || b.Remediation == "dhmc_enable" {
			what = "setting"
		}
		ids := make([]string, 0, textIDs)
		for _, c := range changes[:min(len(changes), textIDs)] {
			ids = append(ids, safe(c.Resource, textShort))
		}
		more := ""
		if len(changes) > textIDs {
			more = fmt.Sprintf(" … and %d more", len(changes)-textIDs)
		}
		fmt.Fprintf(bw, "    %s in %s: %s%s\n", plural(len(changes), what), plural(n, "batch"), strings.Join(ids, ", "), more)
		writeTransitions(bw, changes)
	}

	// Skips, grouped by reason, the most common first.
	if len(p.Skips) > 0 {
		byReason := map[string][]Skip{}
		for _, s := range p.Skips {
			byReason[s.Reason] = append(byReason[s.Reason], s)
		}
		reasons := slices.SortedFunc(maps.Keys(byReason), func(a, b string) int {
			return cmp.Or(cmp.Compare(len(byReason[b]), len(byReason[a])), cmp.Compare(a, b))
		})
		fmt.Fprintf(bw, "\nSkipped (%s):\n", plural(len(p.Skips), "finding"))
		for _, r := range reasons {
			ss := byReason[r]
			fmt.Fprintf(bw, "  %5d  %s\n", len(ss), safe(r, textReason))
			var ex []string
			for _, s := range ss[:min(len(ss), textExamples)] {
				ex = append(ex, fmt.Sprintf("%s %s/%s %s (%s)", safe(s.Remediation, textShort), safe(s.Account, textShort),
					safe(s.Region, textShort), safe(s.Resource, textShort), safe(s.Check, textShort)))
			}
			more := ""
			if len(ss) > textExamples {
				more = fmt.Sprintf("; … and %d more", len(ss)-textExamples)
			}
			fmt.Fprintf(bw, "         %s%s\n", strings.Join(ex, "; "), more)
		}
	}

	if len(p.Notes) > 0 {
		fmt.Fprintf(bw, "\nNotes (%d):\n", len(p.Notes))
		for _, n := range p.Notes {
			fmt.Fprintf(bw, "  %s %s/%s %s: %s\n", safe(n.Kind, textShort), safe(n.Account, textShort), safe(n.Region, textShort),
				safe(n.Resource, textShort), safe(n.Detail, textReason))
		}
	}
	return bw.Flush()
}

// sameGroup reports whether two batches print under one heading: same
// account-region, remediation and parameters.
func sameGroup(a, b Batch) bool {
	return a.Account == b.Account && a.Region == b.Region && a.Remediation == b.Remediation &&
		maps.EqualFunc(a.Params, b.Params, slices.Equal)
}

// params prints a batch's parameters as Name=value, sorted.
func params(ps map[string][]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(ps)) {
		out = append(out, safe(k, textShort)+"="+safe(strings.Join(ps[k], ","), textShort))
	}
	if len(out) == 0 {
		return ""
	}
	return "(" + strings.Join(out, " ") + ")"
}

// writeTransitions prints the distinct before → after values of changes,
// with counts, the most common first.
func writeTransitions(w io.Writer, changes []Change) {
	counts := map[string]int{}
	for _, c := range changes {
		for _, k := range slices.Sorted(maps.Keys(c.After)) {
			before := c.Before[k]
			if before == "" {
				before = "(none)"
			}
			t := fmt.Sprintf("%s: %s → %s", safe(k, textShort), safe(before, textValue), safe(c.After[k], textValue))
			counts[t]++
		}
	}
	ts := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	for _, t := range ts[:min(len(ts), textTransitions)] {
		fmt.Fprintf(w, "    %s (%d)\n", t, counts[t])
	}
	if len(ts) > textTransitions {
		rest := 0
		for _, t := range ts[textTransitions:] {
			rest += counts[t]
		}
		fmt.Fprintf(w, "    … %d other values (%d)\n", len(ts)-textTransitions, rest)
	}
}

// plural prints n and the noun, plural when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "ch") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
