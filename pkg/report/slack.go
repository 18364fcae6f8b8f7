package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// FormatSlack is the Slack Block Kit payload (see SlackMessage) as JSON,
// ready for an incoming webhook.
const FormatSlack Format = "slack"

// Slack Block Kit limits (https://api.slack.com/reference/block-kit/blocks):
// a message holds at most 50 blocks, a section's text at most 3,000
// characters and a header's at most 150.
const (
	SlackMaxBlocks      = 50
	SlackMaxSectionText = 3000
	SlackMaxHeaderText  = 150
)

// What the message names before it summarises the rest.
const (
	// slackMaxName caps one untrusted name (a resource, account, check
	// id) in runes after escaping: ARNs fit, a 10 KB tag does not.
	slackMaxName = 100
	// slackResources is how many resources a check line names.
	slackResources = 3
	// slackMaxChecks is how many checks the message lists.
	slackMaxChecks = 12
	// slackNewExamples and slackResolvedExamples are how many new and
	// resolved findings the message names.
	slackNewExamples      = 5
	slackResolvedExamples = 3
	// slackReserve is room kept in a section for its overflow line, which
	// embeds the report link only when it is at most slackMaxInlineLink
	// long (a longer one, such as a presigned URL, is linked once at the
	// end of the message).
	slackReserve       = 300
	slackMaxInlineLink = 200
	// slackMaxLink leaves room in a section for the link's own text.
	slackMaxLink = SlackMaxSectionText - 200
)

// SlackMessage builds the Block Kit message for a run: a header with the
// fleet's health, a headline with failing instances by severity and the
// fleet's size, what is new and resolved since the previous run (when
// in.Run.Changes is set), the failing checks in catalogue order with a
// sample of resources, the remediation outcome (when in.Remediation is
// set) and a link to the full report.
//
// The message stays within Slack's limits (SlackMaxBlocks blocks, section
// text ≤ SlackMaxSectionText, header ≤ SlackMaxHeaderText) however large
// the run: what does not fit is counted in an "… and N more" line that
// points to the full report, never cut silently. Every string that came
// from a host, a tag, a name or an error message is made inert for
// Slack's mrkdwn (see slackCode): mentions such as <!channel> and links
// cannot be forged, and formatting characters do not apply.
func SlackMessage(in NotifyInput) slack.WebhookMessage {
	run := in.Run
	if run == nil {
		run = &audit.Run{}
	}
	link, linked := slackLink(in.ReportURL)
	seeReport := "see the full report"
	switch {
	case linked && len(link) <= slackMaxInlineLink:
		seeReport = "see the <" + link + "|full report>"
	case linked:
		seeReport = "see the full report (linked below)"
	}

	var blocks []slack.Block
	blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, slackHeader(run, in), false, false)))
	blocks = append(blocks, mrkdwnSection(slackHeadline(run)))
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(slackRunContext(run, in))))
	if run.Changes != nil {
		blocks = append(blocks, slack.NewDividerBlock())
		blocks = append(blocks, mrkdwnSection(slackChanges(run.Changes, seeReport)))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	for _, text := range slackChecks(run, seeReport) {
		blocks = append(blocks, mrkdwnSection(text))
	}
	if in.Remediation != nil {
		blocks = append(blocks, slack.NewDividerBlock())
		blocks = append(blocks, mrkdwnSection(slackRemediation(in.Remediation, in.DryRun)))
	}
	switch {
	case linked:
		blocks = append(blocks, mrkdwnSection(":page_facing_up: <"+link+"|Open the full report>"))
	case in.ReportURL != "":
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn("The report link was left out: it is not an http(s) URL short enough for Slack.")))
	}

	text := "fleetdoctor: " + slackEscape(SummaryLine(run), 1000)
	if linked {
		text += " — <" + link + "|full report>"
	}
	no := false
	return slack.WebhookMessage{
		Text:        text,
		Blocks:      &slack.Blocks{BlockSet: blocks},
		UnfurlLinks: &no,
		UnfurlMedia: &no,
	}
}

// WriteSlack writes the Slack payload for run (no report link, mode audit)
// as indented JSON: what `fleetdoctor audit --format slack` prints and an
// incoming webhook accepts.
func WriteSlack(w io.Writer, run *audit.Run) error {
	return WriteSlackMessage(w, SlackMessage(NotifyInput{Run: run, Mode: "audit"}))
}

// WriteSlackMessage writes msg as indented JSON.
func WriteSlackMessage(w io.Writer, msg slack.WebhookMessage) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(msg)
}

// mrkdwn is a verbatim mrkdwn text object: verbatim stops Slack from
// turning bare URLs, channel names and "@here" in the text into links and
// mentions, so only the <…> syntax this file writes itself is live.
func mrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, true)
}

func mrkdwnSection(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(text), nil, nil)
}

// slackHeader is the plain-text header: health and failing instances,
// built from numbers only.
func slackHeader(run *audit.Run, in NotifyInput) string {
	s := &run.Summary
	var h string
	switch {
	case s.Instances == 0:
		h = "fleetdoctor: no instances to judge"
	case s.FailingInstances == 0:
		h = "fleetdoctor: " + healthPercent(s.Health, s.Instances, 0) + "% healthy, none failing"
	default:
		h = fmt.Sprintf("fleetdoctor: %s%% healthy, %s failing", healthPercent(s.Health, s.Instances, s.FailingInstances),
			plural(s.FailingInstances, "instance"))
	}
	if in.DryRun {
		h += " (dry run)"
	}
	return capRunes(h, SlackMaxHeaderText)
}

// slackHeadline is the fleet at a glance.
func slackHeadline(run *audit.Run) string {
	s := &run.Summary
	var b strings.Builder
	if s.Instances == 0 {
		b.WriteString("*No instances to judge*")
	} else {
		fmt.Fprintf(&b, "*%s%% healthy*: %s of %s failing", healthPercent(s.Health, s.Instances, s.FailingInstances),
			thousands(s.FailingInstances), plural(s.Instances, "instance"))
		if parts := bySeverity(s.FailingInstancesBySeverity); parts != "" {
			b.WriteString(" — " + parts)
		}
	}
	fmt.Fprintf(&b, "\n%s × %s (%s), %s",
		plural(accountCount(run), "account"), plural(len(run.Run.Scope.Regions), "region"),
		plural(s.AccountRegions, "account-region"), plural(s.Instances, "instance"))
	if s.UnreachableAccounts > 0 {
		fmt.Fprintf(&b, "; %s could not be entered", plural(s.UnreachableAccounts, "account"))
	}
	b.WriteString(errorsAndMuted(run))
	return b.String()
}

// bySeverity formats counts worst first ("critical 1 · high 8"); unknown
// severities from a newer run are summed as "other".
func bySeverity(m map[checks.Severity]int) string {
	var parts []string
	known := 0
	for _, sev := range checks.Severities {
		if n := m[sev]; n > 0 {
			parts = append(parts, string(sev)+" "+thousands(n))
			known += n
		}
	}
	other := 0
	for sev, n := range m {
		if sev.Rank() == 0 {
			other += n
		}
	}
	if other > 0 {
		parts = append(parts, "other "+thousands(other))
	}
	return strings.Join(parts, " · ")
}

// slackRunContext names the run, its mode and when it ran.
func slackRunContext(run *audit.Run, in NotifyInput) string {
	var parts []string
	if run.Run.ID != "" {
		parts = append(parts, "run "+slackCode(run.Run.ID))
	}
	if in.Mode != "" {
		parts = append(parts, "mode "+slackCode(in.Mode))
	}
	if in.DryRun {
		parts = append(parts, "dry run")
	}
	if !run.Run.StartedAt.IsZero() {
		parts = append(parts, "started "+run.Run.StartedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if run.Run.Sandbox != "" {
		parts = append(parts, "sandbox "+slackCode(run.Run.Sandbox))
	}
	if len(parts) == 0 {
		return "fleetdoctor"
	}
	return strings.Join(parts, " · ")
}

// slackChanges is the "since the previous run" section: counts by
// severity and the first few new and resolved findings.
func slackChanges(ch *audit.Changes, seeReport string) string {
	var b strings.Builder
	b.WriteString("*Since the previous run*")
	if ch.PreviousRunID != "" {
		b.WriteString(" " + slackCode(ch.PreviousRunID))
	}
	newN, resolvedN := len(ch.New), len(ch.Resolved)
	fmt.Fprintf(&b, ": *%s new*", thousands(newN))
	if p := bySeverity(severityCounts(ch.New)); p != "" {
		b.WriteString(" (" + p + ")")
	}
	fmt.Fprintf(&b, " · *%s resolved*", thousands(resolvedN))
	if p := bySeverity(severityCounts(ch.Resolved)); p != "" {
		b.WriteString(" (" + p + ")")
	}
	if n := len(ch.Unknown); n > 0 {
		fmt.Fprintf(&b, " · %s not re-checked", thousands(n))
	}
	list := func(title string, fs []checks.Finding, max int) {
		if len(fs) == 0 {
			return
		}
		b.WriteString("\n" + title + ":")
		shown := 0
		for i := range fs {
			if shown == max {
				break
			}
			line := "\n• " + slackFindingLine(&fs[i])
			// Leave room for this list's overflow line and the rest.
			if utf8.RuneCountInString(b.String())+utf8.RuneCountInString(line) > SlackMaxSectionText-2*slackReserve {
				break
			}
			b.WriteString(line)
			shown++
		}
		if more := len(fs) - shown; more > 0 {
			fmt.Fprintf(&b, "\n… and %s more %s — %s", thousands(more), strings.ToLower(title), seeReport)
		}
	}
	list("New", ch.New, slackNewExamples)
	list("Resolved", ch.Resolved, slackResolvedExamples)
	return b.String()
}

// severityCounts counts fs per severity.
func severityCounts(fs []checks.Finding) map[checks.Severity]int {
	m := map[checks.Severity]int{}
	for i := range fs {
		m[fs[i].Severity]++
	}
	return m
}

// slackFindingLine names one finding: severity, check, resource, where.
func slackFindingLine(f *checks.Finding) string {
	where := stringsJoinNonEmpty(f.Account, f.Region)
	line := slackSeverity(f.Severity) + " " + slackCode(f.Check) + " " + slackCode(f.Resource)
	if where != "" && !strings.Contains(f.Resource, where) {
		line += " in " + slackCode(where)
	}
	return line
}

// slackSeverity is a severity in bold capitals; one this catalogue does
// not know is shown escaped.
func slackSeverity(s checks.Severity) string {
	if s.Rank() > 0 {
		return "*" + strings.ToUpper(string(s)) + "*"
	}
	return slackCode(string(s))
}

// checkLine is the findings of one check, for the message's check list.
type checkLine struct {
	check          string
	worst          checks.Severity
	failed, errors int
	resources      []string
	seen           map[string]bool
}

// slackCheckLines groups the FAIL and ERROR findings of run by check, in
// catalogue order (hostdiag.CatalogueRank, the order of every report).
func slackCheckLines(run *audit.Run) []*checkLine {
	byCheck := map[string]*checkLine{}
	var lines []*checkLine
	multiAccount := accountCount(run) > 1
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		l, ok := byCheck[f.Check]
		if !ok {
			l = &checkLine{check: f.Check, worst: f.Severity, seen: map[string]bool{}}
			byCheck[f.Check] = l
			lines = append(lines, l)
		}
		if f.Severity.Rank() > l.worst.Rank() {
			l.worst = f.Severity
		}
		if f.Status == checks.Fail {
			l.failed++
		} else {
			l.errors++
		}
		if len(l.resources) < slackResources {
			name := resourceName(f, multiAccount)
			if !l.seen[name] {
				l.seen[name] = true
				l.resources = append(l.resources, name)
			}
		}
	}
	rank := hostdiag.CatalogueRank()
	slices.SortStableFunc(lines, func(a, b *checkLine) int {
		return cmp.Or(cmp.Compare(rank(a.check), rank(b.check)), cmp.Compare(a.check, b.check))
	})
	return lines
}

// slackChecks lists the failing checks in one or more sections. When
// there are more than slackMaxChecks, the worst (by severity, then
// count) are listed, still in catalogue order, and the rest counted.
func slackChecks(run *audit.Run, seeReport string) []string {
	lines := slackCheckLines(run)
	if len(lines) == 0 {
		return []string{"*No failing checks*: nothing failed and every check could run."}
	}
	// Titles of the API-side and the host checks (diagnose merges both).
	titles := map[string]string{}
	for _, c := range checks.Catalogue() {
		titles[c.ID] = c.Title
	}
	for _, m := range hostdiag.Catalogue() {
		titles[m.ID] = m.Title
	}
	show := map[*checkLine]bool{}
	top := slices.Clone(lines)
	slices.SortStableFunc(top, func(a, b *checkLine) int {
		return cmp.Or(cmp.Compare(b.worst.Rank(), a.worst.Rank()), cmp.Compare(b.failed+b.errors, a.failed+a.errors))
	})
	for _, l := range top[:min(len(top), slackMaxChecks)] {
		show[l] = true
	}

	var sections []string
	var b strings.Builder
	fmt.Fprintf(&b, "*Failing checks* (%s)", plural(len(lines), "check"))
	hiddenChecks, hiddenFindings := 0, 0
	for _, l := range lines {
		if !show[l] {
			hiddenChecks++
			hiddenFindings += l.failed + l.errors
			continue
		}
		text := "• " + slackCheckText(l, titles)
		if utf8.RuneCountInString(b.String())+1+utf8.RuneCountInString(text) > SlackMaxSectionText-slackReserve {
			sections = append(sections, b.String())
			b.Reset()
			b.WriteString(text)
			continue
		}
		b.WriteString("\n" + text)
	}
	if hiddenChecks > 0 {
		more := "checks"
		if hiddenChecks == 1 {
			more = "check"
		}
		fmt.Fprintf(&b, "\n… and %s more %s (%s) — %s", thousands(hiddenChecks), more, plural(hiddenFindings, "finding"), seeReport)
	}
	return append(sections, b.String())
}

// slackCheckText is one check line: severity, id, title, counts and a
// sample of resources.
func slackCheckText(l *checkLine, titles map[string]string) string {
	var b strings.Builder
	b.WriteString(slackSeverity(l.worst) + " " + slackCode(l.check))
	if title := titles[l.check]; title != "" {
		b.WriteString(" " + slackEscape(title, 150)) // the registry caps titles at 150
	}
	b.WriteString(" — ")
	var counts []string
	if l.failed > 0 {
		counts = append(counts, thousands(l.failed)+" FAIL")
	}
	if l.errors > 0 {
		counts = append(counts, thousands(l.errors)+" ERROR")
	}
	b.WriteString(strings.Join(counts, ", "))
	names := make([]string, len(l.resources))
	for i, r := range l.resources {
		names[i] = slackCode(r)
	}
	b.WriteString(": " + strings.Join(names, ", "))
	if more := l.failed + l.errors - len(l.resources); more > 0 {
		b.WriteString(" and " + thousands(more) + " more")
	}
	return b.String()
}

// slackRemediation is the remediation outcome line.
func slackRemediation(o *Outcome, dryRun bool) string {
	title := "*Remediation*"
	if dryRun {
		title += " (dry run: nothing was changed)"
	}
	return fmt.Sprintf("%s: %s planned · %s applied · %s failed · %s rolled back · %s skipped", title,
		thousands(o.Planned), thousands(o.Applied), thousands(o.Failed), thousands(o.RolledBack), thousands(o.Skipped))
}

// slackLink returns raw made safe for a <url|text> link, and whether it
// is an http(s) URL with a host and no credentials, short enough
// (slackMaxLink once escaped) for a section. Characters that would
// end the link or start a mention are percent-encoded.
func slackLink(raw string) (string, bool) {
	u, ok := httpURL(raw, slackMaxLink)
	if !ok {
		return "", false
	}
	s := u.String()
	s = strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E", " ", "%20", "`", "%60", "&", "&amp;").Replace(s)
	if !isPlain(s) || len(s) > slackMaxLink {
		return "", false
	}
	return s, true
}

// httpURL parses raw as an http(s) URL with a host and no credentials,
// at most max bytes long.
func httpURL(raw string, max int) (*url.URL, bool) {
	if raw == "" || len(raw) > max {
		return nil, false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, false
	}
	return u, true
}

// slackCode shows untrusted s as inline code: escaped and capped (see
// slackEscape), with backticks replaced by a look-alike (U+02CB) so the
// text cannot close the code span, inside which *, _ and ~ do not format.
func slackCode(s string) string {
	if s == "" {
		return "–"
	}
	return "`" + slackEscape(strings.ReplaceAll(s, "`", "ˋ"), slackMaxName) + "`"
}

// slackEscape makes untrusted s safe in mrkdwn text: control characters,
// bidirectional overrides and invalid UTF-8 are made visible
// (TerminalSafe), & < > become entities so no mention, link or channel
// reference can be formed, and the result is capped at max runes, cut at
// a space when one is near the end (else between runes, never inside an
// entity) and marked with "…".
func slackEscape(s string, max int) string {
	s = TerminalSafe(s, 0)
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	kept := strings.TrimSuffix(cutWords(s, max), "…")
	// Never leave half an entity.
	if amp := strings.LastIndexByte(kept, '&'); amp >= 0 && !strings.Contains(kept[amp:], ";") {
		kept = kept[:amp]
	}
	return strings.TrimRight(kept, " ") + "…"
}
