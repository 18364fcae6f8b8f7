package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

const testReportURL = "https://reports.example.com/runs/run-20260302T093000Z/report.html?a=1&b=2"

func slackJSON(t *testing.T, msg slack.WebhookMessage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSlackMessage(&b, msg); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSlackGolden(t *testing.T) {
	withChanges := changedRun()
	cases := map[string]NotifyInput{
		"sample":  {Run: sampleRun(), Mode: "audit"},
		"empty":   {Run: emptyRun(), Mode: "audit"},
		"hostile": {Run: hostileRun(), Mode: "audit", ReportURL: testReportURL},
		"changes": {Run: withChanges, Mode: "remediate", DryRun: true, ReportURL: testReportURL,
			Remediation: &Outcome{Planned: 5, Applied: 0, Skipped: 5}},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".slack.golden", slackJSON(t, SlackMessage(in)))
		})
	}
	// WriteSlack (--format slack) is the same payload without a link.
	got := render(t, func(b *bytes.Buffer) error { return Render(b, sampleRun(), FormatSlack, TableOptions{}) })
	golden(t, "sample.slack.golden", got)
}

// slackTexts returns every text of a payload: the fallback and each text
// object's, keyed by their JSON path, plus the header texts.
func slackTexts(t *testing.T, msg slack.WebhookMessage) (texts []string, headers []string, blocks int) {
	t.Helper()
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("the payload does not marshal: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, inHeader bool)
	walk = func(v any, inHeader bool) {
		switch x := v.(type) {
		case map[string]any:
			header := inHeader || x["type"] == "header"
			for k, c := range x {
				if s, ok := c.(string); ok && k == "text" {
					texts = append(texts, s)
					if header {
						headers = append(headers, s)
					}
					continue
				}
				walk(c, header)
			}
		case []any:
			for _, c := range x {
				walk(c, inHeader)
			}
		}
	}
	walk(doc, false)
	bs, _ := doc["blocks"].([]any)
	return texts, headers, len(bs)
}

// checkSlackLimits asserts Slack's limits on msg.
func checkSlackLimits(t *testing.T, msg slack.WebhookMessage) {
	t.Helper()
	texts, headers, blocks := slackTexts(t, msg)
	if blocks == 0 || blocks > SlackMaxBlocks {
		t.Errorf("%d blocks, want 1..%d", blocks, SlackMaxBlocks)
	}
	for _, s := range texts {
		if n := utf8.RuneCountInString(s); n > SlackMaxSectionText {
			t.Errorf("a text of %d characters (limit %d): %.200s…", n, SlackMaxSectionText, s)
		}
		if !utf8.ValidString(s) {
			t.Errorf("text is not UTF-8: %q", s)
		}
	}
	if len(headers) != 1 {
		t.Errorf("%d headers, want 1", len(headers))
	}
	for _, h := range headers {
		if n := utf8.RuneCountInString(h); n > SlackMaxHeaderText {
			t.Errorf("header of %d characters (limit %d): %s", n, SlackMaxHeaderText, h)
		}
	}
}

// syntheticRun is a fleet with n FAIL/ERROR findings over many checks,
// accounts and regions.
func syntheticRun(n int) *audit.Run {
	cat := checks.Catalogue()
	var ids []string
	for _, c := range cat {
		ids = append(ids, c.ID)
	}
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("synthetic_check_%02d", i))
	}
	accounts := make([]string, 60)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("%012d", 100000000000+i)
	}
	regions := []string{"eu-west-1", "us-east-1", "ap-southeast-2", "sa-east-1"}
	run := emptyRun()
	run.Run.ID = fmt.Sprintf("run-synthetic-%d", n)
	run.Run.Scope.Accounts, run.Run.Scope.Regions = accounts, regions
	sevCount := map[checks.Severity]int{}
	run.Findings = make([]checks.Finding, 0, n)
	for i := range n {
		// Skew: low-numbered checks get most findings.
		check := ids[(i*i+i/7)%len(ids)]
		sev := checks.Severities[i%len(checks.Severities)]
		st := checks.Fail
		if i%97 == 0 {
			st = checks.Error
		}
		run.Findings = append(run.Findings, checks.Finding{
			Check: check, Status: st, Severity: sev, Account: accounts[i%len(accounts)], Region: regions[i%len(regions)],
			ResourceType: checks.TypeInstance, Resource: fmt.Sprintf("i-%017x", i), Detail: "synthetic",
		})
		sevCount[sev]++
	}
	run.Summary = audit.Summary{
		Accounts: len(accounts), AccountRegions: len(accounts) * len(regions), Instances: n + 10, FailingInstances: n,
		Health: 100 * 10 / float64(n+10), FailingInstancesBySeverity: sevCount, BySeverity: sevCount,
	}
	return run
}

var (
	countRE    = regexp.MustCompile(`([\d,]+) (FAIL|ERROR)`)
	moreRE     = regexp.MustCompile(`… and ([\d,]+) more checks? \(([\d,]+) findings?\)`)
	newRE      = regexp.MustCompile(`\*([\d,]+) new\*`)
	moreNewRE  = regexp.MustCompile(`… and ([\d,]+) more new`)
	checksHead = regexp.MustCompile(`\*Failing checks\* \(([\d,]+) checks?\)`)
)

// atoi reads a number the regexps matched ("1,234").
func atoi(s string) int {
	n, _ := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	return n
}

// checkSlackCounts asserts that the check lines and the overflow line of
// msg add up to the run's FAIL and ERROR findings and its checks.
func checkSlackCounts(t *testing.T, msg slack.WebhookMessage, run *audit.Run) {
	t.Helper()
	for _, p := range slackCountProblems(t, msg, run) {
		t.Error(p)
	}
}

// slackCountProblems says where the counts of msg do not add up to run's.
func slackCountProblems(t *testing.T, msg slack.WebhookMessage, run *audit.Run) []string {
	t.Helper()
	var problems []string
	wantFindings, distinct := 0, map[string]bool{}
	for i := range run.Findings {
		if s := run.Findings[i].Status; s == checks.Fail || s == checks.Error {
			wantFindings++
			distinct[run.Findings[i].Check] = true
		}
	}
	texts, _, _ := slackTexts(t, msg)
	gotFindings, gotChecks, headChecks := 0, 0, -1
	newShown, newMore, newTotal := 0, 0, -1
	for _, text := range texts {
		if m := checksHead.FindStringSubmatch(text); m != nil {
			headChecks = atoi(m[1])
		}
		if m := newRE.FindStringSubmatch(text); m != nil {
			newTotal = atoi(m[1])
		}
		list := ""
		for _, line := range strings.Split(text, "\n") {
			switch {
			case line == "New:" || line == "Resolved:":
				list = line
			case strings.HasPrefix(line, "• ") && list == "New:":
				newShown++
			case strings.HasPrefix(line, "• ") && list == "Resolved:":
			case strings.HasPrefix(line, "• "):
				gotChecks++
				for _, m := range countRE.FindAllStringSubmatch(line, -1) {
					gotFindings += atoi(m[1])
				}
			}
			if m := moreRE.FindStringSubmatch(line); m != nil {
				gotChecks += atoi(m[1])
				gotFindings += atoi(m[2])
			}
			if m := moreNewRE.FindStringSubmatch(line); m != nil {
				newMore += atoi(m[1])
			}
		}
	}
	if gotFindings != wantFindings {
		problems = append(problems, fmt.Sprintf("the message accounts for %d findings, the run has %d", gotFindings, wantFindings))
	}
	if wantFindings > 0 && (gotChecks != len(distinct) || headChecks != len(distinct)) {
		problems = append(problems, fmt.Sprintf("the message accounts for %d checks (headline %d), the run has %d", gotChecks, headChecks, len(distinct)))
	}
	if run.Changes != nil {
		if newTotal != len(run.Changes.New) {
			problems = append(problems, fmt.Sprintf("headline says %d new, the changes have %d", newTotal, len(run.Changes.New)))
		}
		if newShown+newMore != len(run.Changes.New) {
			problems = append(problems, fmt.Sprintf("%d new shown + %d more, want %d", newShown, newMore, len(run.Changes.New)))
		}
	}
	return problems
}

func TestSlackLimitsAndCountsAtScale(t *testing.T) {
	sizes := []int{0, 1, 7, 50, 1000, 20000, 100000}
	if testing.Short() && os.Getenv("CI") != "true" {
		sizes = sizes[:5]
	}
	for _, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			run := syntheticRun(n)
			if n%2 == 0 {
				ch := Diff(nil, run)
				run.Changes = &ch
			}
			msg := SlackMessage(NotifyInput{Run: run, ReportURL: testReportURL, Mode: "audit", Remediation: &Outcome{Planned: n}})
			checkSlackLimits(t, msg)
			checkSlackCounts(t, msg, run)
		})
	}
	for _, name := range []string{"sample", "hostile", "empty", "changes"} {
		t.Run(name, func(t *testing.T) {
			run := map[string]func() *audit.Run{"sample": sampleRun, "hostile": hostileRun, "empty": emptyRun, "changes": changedRun}[name]()
			msg := SlackMessage(NotifyInput{Run: run})
			checkSlackLimits(t, msg)
			checkSlackCounts(t, msg, run)
		})
	}
}

// TestSlackCountsCatchDrops makes sure the count check can fail: a message
// with a check line removed must not add up.
func TestSlackCountsCatchDrops(t *testing.T) {
	run := sampleRun()
	msg := SlackMessage(NotifyInput{Run: run})
	for _, b := range msg.Blocks.BlockSet {
		if s, ok := b.(*slack.SectionBlock); ok && strings.Contains(s.Text.Text, "*Failing checks*") {
			lines := strings.Split(s.Text.Text, "\n")
			s.Text.Text = strings.Join(append(lines[:1], lines[2:]...), "\n")
		}
	}
	if len(slackCountProblems(t, msg, run)) == 0 {
		t.Error("a dropped check line went unnoticed")
	}
}

// injection is text an attacker puts in a tag or makes a host print to
// ping a channel, phish with a link or break the formatting.
var injection = []string{
	"<!channel> urgent",
	"<!here|here>",
	"<@U123> please approve",
	"<https://evil.example/|click here>",
	"<#C123|general>",
	"```code block``` and `inline`",
	"*bold* _italic_ ~strike~ > quote",
	"&lt;!channel&gt; pre-escaped",
	"@channel @here !subteam^S123",
	strings.Repeat("<!channel>", 1024),
	strings.Repeat("word ", 2048),
}

func injectionRun() *audit.Run {
	run := hostileRun()
	run.Run.ID = "<!channel> run"
	for _, h := range injection {
		run.Findings = append(run.Findings, checks.Finding{
			Check: "ssm_not_registered", Status: checks.Fail, Severity: checks.Critical, Account: "<@U123>", Region: h,
			ResourceType: checks.TypeInstance, Resource: h, Detail: h,
		}, checks.Finding{
			Check: h, Status: checks.Error, Severity: checks.Severity(h), Account: acctA, Region: "eu-west-1",
			ResourceType: checks.TypeInstance, Resource: "i-" + h, Detail: h,
		})
	}
	ch := Diff(nil, run)
	run.Changes = &ch
	run.Changes.PreviousRunID = "<https://evil|click>"
	return run
}

func TestSlackInjectionIsInert(t *testing.T) {
	run := injectionRun()
	in := NotifyInput{Run: run, ReportURL: testReportURL, Mode: "<!channel>", DryRun: true, Remediation: &Outcome{Planned: 1}}
	msg := SlackMessage(in)
	checkSlackLimits(t, msg)
	link, ok := slackLink(testReportURL)
	if !ok {
		t.Fatal("the test URL is not linkable")
	}
	texts, _, _ := slackTexts(t, msg)
	for _, text := range texts {
		// The only live syntax is the report link this package wrote.
		rest := regexp.MustCompile(`<`+regexp.QuoteMeta(link)+`\|[A-Za-z ]+>`).ReplaceAllString(text, "")
		if strings.ContainsAny(rest, "<>") {
			t.Errorf("unescaped < or > in %.300q", text)
		}
		for _, bad := range []string{"<!", "<@", "<#", "<http", "\x1b", "\u202e", "\n\n\n"} {
			if strings.Contains(rest, bad) {
				t.Errorf("%q in %.300q", bad, text)
			}
		}
		// Untrusted text only ever appears inside code spans (odd
		// segments), where *, _ and ~ do not format.
		if strings.Count(text, "`")%2 != 0 {
			t.Errorf("unbalanced backticks in %.300q", text)
		}
		for i, seg := range strings.Split(text, "`") {
			if i%2 == 1 {
				continue
			}
			for _, word := range []string{"channel", "U123", "evil", "click", "here|", "bold", "AAAA", "word word", "subteam", "code block"} {
				if strings.Contains(seg, word) {
					t.Errorf("%q outside a code span in %.300q", word, text)
				}
			}
		}
		if strings.Contains(text, strings.Repeat("A", slackMaxName)) || strings.Contains(text, strings.Repeat("word ", slackMaxName/5)) {
			t.Errorf("an untrusted string was not capped: %.300q", text)
		}
	}
	if strings.Contains(msg.Text, "<!") {
		t.Errorf("fallback text has a live mention: %q", msg.Text)
	}
}

func TestSlackEscape(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"<!channel>", 100, "&lt;!channel&gt;"},
		{"a & b", 100, "a &amp; b"},
		{"\x1b[31m", 100, `\x1b[31m`},
		{"one two three four", 16, "one two three…"},
		// Never half an entity: "&lt;" would be cut at 6 runes.
		{"abcd<efgh", 7, "abcd…"},
		{"ééééééé", 4, "ééé…"},
		{"nospacesatallhere", 8, "nospace…"},
	}
	for _, c := range cases {
		if got := slackEscape(c.in, c.max); got != c.want {
			t.Errorf("slackEscape(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
		if n := utf8.RuneCountInString(slackEscape(c.in, c.max)); n > c.max {
			t.Errorf("slackEscape(%q, %d) has %d runes", c.in, c.max, n)
		}
	}
	if got := slackCode("a`b"); got != "`aˋb`" {
		t.Errorf("slackCode backtick: %q", got)
	}
}

func TestSlackLink(t *testing.T) {
	cases := map[string]string{
		"https://r.example/a?x=1&y=2":  "https://r.example/a?x=1&amp;y=2",
		"https://r.example/a|b<c>":     "https://r.example/a%7Cb%3Cc%3E",
		"http://127.0.0.1:8080/report": "http://127.0.0.1:8080/report",
		"javascript:alert(1)":          "",
		"https://user:pw@r.example/":   "",
		"/relative/path":               "",
		"":                             "",
	}
	for in, want := range cases {
		got, ok := slackLink(in)
		if got != want || ok != (want != "") {
			t.Errorf("slackLink(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	msg := SlackMessage(NotifyInput{Run: sampleRun(), ReportURL: "javascript:alert(1)"})
	data, _ := json.Marshal(msg)
	if bytes.Contains(data, []byte("javascript")) {
		t.Error("a javascript: URL reached the payload")
	}
}

func TestSlackLongReportURL(t *testing.T) {
	long := "https://bucket.s3.eu-west-1.amazonaws.com/runs/r/report.html?X-Amz-Signature=" + strings.Repeat("ab&", 300)
	for _, run := range []*audit.Run{syntheticRun(5000), injectionRun()} {
		msg := SlackMessage(NotifyInput{Run: run, ReportURL: long})
		checkSlackLimits(t, msg)
		texts, _, _ := slackTexts(t, msg)
		all := strings.Join(texts, "\n")
		if !strings.Contains(all, "see the full report (linked below)") || !strings.Contains(all, "|Open the full report>") {
			t.Errorf("a long URL is not linked once at the end:\n%.2000s", all)
		}
	}
	// Too long to link at all: said so, and every text within limits.
	msg := SlackMessage(NotifyInput{Run: sampleRun(), ReportURL: long + strings.Repeat("cd&", 400)})
	checkSlackLimits(t, msg)
	texts, _, _ := slackTexts(t, msg)
	if all := strings.Join(texts, "\n"); strings.Contains(all, "X-Amz-Signature") || !strings.Contains(all, "The report link was left out") {
		t.Errorf("an overlong URL:\n%.2000s", all)
	}
}

func TestSlackRemediationAndDryRun(t *testing.T) {
	msg := SlackMessage(NotifyInput{Run: sampleRun(), Mode: "remediate", DryRun: true,
		Remediation: &Outcome{Planned: 9, Applied: 4, Failed: 2, RolledBack: 1, Skipped: 3}})
	texts, headers, _ := slackTexts(t, msg)
	all := strings.Join(texts, "\n")
	for _, want := range []string{"9 planned", "4 applied", "2 failed", "1 rolled back", "3 skipped", "dry run: nothing was changed", "mode `remediate`"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the message:\n%s", want, all)
		}
	}
	if !strings.HasSuffix(headers[0], "(dry run)") {
		t.Errorf("header %q does not say dry run", headers[0])
	}
}

func TestSlackNamesHostChecks(t *testing.T) {
	cat := hostdiag.Catalogue()
	if len(cat) == 0 {
		t.Fatal("no host checks to test with")
	}
	run := emptyRun()
	run.Findings = append(run.Findings, fail(cat[0].ID, checks.High, acctA, "eu-west-1", checks.TypeInstance, "i-0123", "d"))
	texts, _, _ := slackTexts(t, SlackMessage(NotifyInput{Run: run}))
	want := "`" + cat[0].ID + "` " + slackEscape(cat[0].Title, 150) + " — 1 FAIL"
	if !strings.Contains(strings.Join(texts, "\n"), want) {
		t.Errorf("no %q in\n%s", want, strings.Join(texts, "\n"))
	}
}

// FuzzSlackCode checks the escaping's invariants on any input: no live
// mrkdwn syntax, one code span, valid UTF-8 and the length cap.
func FuzzSlackCode(f *testing.F) {
	for _, s := range append(append([]string{}, injection...), hostile...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := slackCode(s)
		if strings.ContainsAny(got, "<>\n\r\x1b") || !utf8.ValidString(got) {
			t.Fatalf("slackCode(%q) = %q", s, got)
		}
		if s != "" && (strings.Count(got, "`") != 2 || !strings.HasPrefix(got, "`") || !strings.HasSuffix(got, "`")) {
			t.Fatalf("slackCode(%q) = %q: not one code span", s, got)
		}
		if n := utf8.RuneCountInString(got); n > slackMaxName+2 {
			t.Fatalf("slackCode(%q) has %d runes", s, n)
		}
		if amp := strings.Count(got, "&"); amp != strings.Count(got, "&amp;")+strings.Count(got, "&lt;")+strings.Count(got, "&gt;") {
			t.Fatalf("slackCode(%q) = %q: a bare or cut entity", s, got)
		}
	})
}

// BenchmarkSlack100k builds the Slack message and the SNS message of a
// 100,000-finding run.
func BenchmarkSlack100k(b *testing.B) {
	run := syntheticRun(100000)
	for b.Loop() {
		in := NotifyInput{Run: run, ReportURL: "https://reports.example.com/r.html"}
		_ = SlackMessage(in)
		_ = SNSMessageFor(in)
	}
}
