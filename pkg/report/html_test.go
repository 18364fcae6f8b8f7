package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// sampleTrend is three earlier runs plus run itself, oldest first.
func sampleTrend(run *audit.Run) []TrendPoint {
	var pts []TrendPoint
	for i, h := range []float64{91.2, 95.5, 97.9} {
		pts = append(pts, TrendPoint{
			RunID:     fmt.Sprintf("run-earlier-%d", i),
			StartedAt: run.Run.StartedAt.Add(-time.Duration(3-i) * 24 * time.Hour),
			Health:    h, FailingInstances: int(1000 * (100 - h) / 100), Findings: 200 - 50*i,
		})
	}
	return append(pts, TrendPointOf(run))
}

// sampleWithChanges is sampleRun compared with a previous run that had
// one finding this run no longer has and lacked two it has.
func sampleWithChanges() *audit.Run {
	run := sampleRun()
	prev := sampleRun()
	prev.Run.ID = "run-20260301T093000Z"
	prev.Run.StartedAt = started.Add(-24 * time.Hour)
	prev.Findings = append(prev.Findings[2:], fail("imds_endpoint_disabled", checks.High, acctA, "eu-west-1",
		checks.TypeInstance, "i-0f000000000000009", "IMDS endpoint is disabled on i-0f000000000000009"))
	ch := Diff(prev, run)
	run.Changes = &ch
	return run
}

func renderHTML(t *testing.T, run *audit.Run, opts HTMLOptions) string {
	t.Helper()
	return string(render(t, func(b *bytes.Buffer) error { return HTML(b, run, opts) }))
}

func TestHTMLGolden(t *testing.T) {
	sample := sampleWithChanges()
	golden(t, "sample.html.golden", []byte(renderHTML(t, sample, HTMLOptions{Trend: sampleTrend(sample)})))
	golden(t, "empty.html.golden", []byte(renderHTML(t, emptyRun(), HTMLOptions{})))
	golden(t, "hostile.html.golden", []byte(renderHTML(t, hostileRun(), HTMLOptions{})))
}

var (
	scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	cspRE    = regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`)
	// refRE finds attributes that make a browser load something.
	refRE = regexp.MustCompile(`(?i)\s(src|href|srcset|action|formaction|poster|data|xlink:href|background)\s*=\s*"([^"]*)"`)
)

func TestHTMLIsSelfContained(t *testing.T) {
	for name, run := range map[string]*audit.Run{"sample": sampleWithChanges(), "hostile": hostileRun(), "empty": emptyRun()} {
		t.Run(name, func(t *testing.T) {
			out := renderHTML(t, run, HTMLOptions{Trend: sampleTrend(run)})
			for _, m := range refRE.FindAllStringSubmatch(out, -1) {
				if !strings.HasPrefix(m[2], "data:") {
					t.Errorf("the page references %s=%q", m[1], m[2])
				}
			}
			for _, bad := range []string{"<link rel=\"stylesheet\"", "@import", "url(", "<iframe", "<img", "<object", "<embed"} {
				if strings.Contains(out, bad) {
					t.Errorf("the page contains %q", bad)
				}
			}
			if strings.Count(out, "<script") != 1 {
				t.Errorf("want exactly one script element, got %d", strings.Count(out, "<script"))
			}
			// The CSP forbids network loads and allows exactly the inline
			// script on the page.
			m := cspRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatal("no Content-Security-Policy meta tag")
			}
			csp := strings.ReplaceAll(m[1], "&#39;", "'")
			for _, want := range []string{"default-src 'none'", "img-src data:", "style-src 'unsafe-inline'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			sm := scriptRE.FindStringSubmatch(out)
			if sm == nil {
				t.Fatal("no inline script")
			}
			sum := sha256.Sum256([]byte(sm[1]))
			if want := "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
				t.Errorf("CSP %q does not allow the page's script (%s)", csp, want)
			}
		})
	}
}

func TestHTMLHostileTextIsInert(t *testing.T) {
	run := hostileRun()
	run.Run.ID = `<script>alert(1)</script>`
	run.Findings[0].Check = `"><img src=x onerror=alert(1)>`
	run.Findings[1].Account = `' onmouseover='alert(1)`
	run.Errors = []audit.RunError{{Account: "<b>acct</b>", Region: "eu-west-1"}}
	run.Errors[0].Message = "</td></tr></table><script>alert(2)</script>"
	out := renderHTML(t, run, HTMLOptions{Trend: []TrendPoint{
		{RunID: "</title><script>x</script>", StartedAt: started, Health: math.NaN(), FailingInstances: -5},
		{RunID: "run-hostile", StartedAt: started, Health: 250},
	}})
	if strings.Contains(out, "NaN") || strings.Contains(out, "+Inf") || strings.Contains(out, "-Inf") {
		t.Error("a broken trend point reached the SVG as NaN or Inf")
	}
	for _, bad := range []string{
		"<script>alert", "<img", "<b>acct", "onmouseover='", "</title><script>",
		"\x1b", "\u202e", "\u2066", "\u009b", "\xff",
		strings.Repeat("A", maxDetail+1),
	} {
		if strings.Contains(out, bad) {
			t.Errorf("hostile text reached the page raw: %q", bad)
		}
	}
	// The text is shown (escaped and made visible), not dropped.
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `\x1b[31mred`, `\u202eevil`, `\xff`, "…"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHTMLCharts(t *testing.T) {
	run := sampleRun()
	out := renderHTML(t, run, HTMLOptions{Trend: sampleTrend(run)})
	for _, id := range []string{`id="chart-health"`, `id="chart-checks"`, `id="chart-trend"`, `id="findings"`, `id="regions"`, `id="shown-count"`} {
		if !strings.Contains(out, id) {
			t.Errorf("page lacks %s", id)
		}
	}
	// Donut: 13 of 1,000 failing is 1.3 of the circle.
	if !strings.Contains(out, `stroke-dasharray="1.30 98.70"`) || !strings.Contains(out, ">98.7%<") {
		t.Errorf("health donut does not show 13 of 1,000 failing")
	}
	// One bar per check with FAIL or ERROR findings, largest first.
	bars := regexp.MustCompile(`<g class="bar sev-([a-z]+)" data-check="([^"]+)">`).FindAllStringSubmatch(out, -1)
	if len(bars) != 6 || bars[0][2] != "imds_endpoint_disabled" || bars[0][1] != "high" {
		t.Errorf("bars: %v", bars)
	}
	if !strings.Contains(out, `data-check="ssm_not_registered"`) || !strings.Contains(out, `<rect x="344" y="0" width="360"`) {
		t.Errorf("bar chart is not scaled to the largest check")
	}
	// Trend: four points, a line through them.
	line := regexp.MustCompile(`<polyline id="trend-health"[^>]* points="([^"]+)"`).FindStringSubmatch(out)
	if line == nil || len(strings.Fields(line[1])) != 4 {
		t.Fatalf("trend line: %v", line)
	}
	if got := strings.Count(out, `class="dot dot-health"`); got != 4 {
		t.Errorf("%d trend dots, want 4", got)
	}
	// A single run draws a dot and no line.
	one := renderHTML(t, run, HTMLOptions{})
	if strings.Contains(one, "<polyline") || strings.Count(one, `class="dot dot-health"`) != 1 {
		t.Errorf("a one-run trend must be a dot")
	}
}

func TestHTMLAccountRegionTable(t *testing.T) {
	out := renderHTML(t, sampleRun(), HTMLOptions{})
	// acctA/eu-west-1: 7 high imds_endpoint_disabled on 7 instances (the
	// muted finding does not count; the profile finding has a region but
	// is not an instance).
	want := "<tr><td>" + acctA + "</td><td>eu-west-1</td><td class=\"n\">—</td><td class=\"n\">7</td>" +
		`<td class="n">0</td><td class="n">8</td><td class="n">0</td><td class="n">0</td><td class="n">0</td></tr>`
	if !strings.Contains(out, want) {
		t.Errorf("account-region row missing:\n%s", want)
	}
}

func TestHTMLChanges(t *testing.T) {
	run := sampleWithChanges()
	out := renderHTML(t, run, HTMLOptions{})
	if !strings.Contains(out, `id="changes"`) || !strings.Contains(out, "Changes since run-20260301T093000Z") {
		t.Fatal("no changes section")
	}
	newList := regexp.MustCompile(`(?s)<ul id="changes-new">(.*?)</ul>`).FindStringSubmatch(out)[1]
	resolved := regexp.MustCompile(`(?s)<ul id="changes-resolved">(.*?)</ul>`).FindStringSubmatch(out)[1]
	if strings.Count(newList, "<li>") != 2 || !strings.Contains(newList, "i-0a000000000000000") {
		t.Errorf("new: %s", newList)
	}
	if strings.Count(resolved, "<li>") != 1 || !strings.Contains(resolved, "i-0f000000000000009") {
		t.Errorf("resolved: %s", resolved)
	}
	if strings.Contains(renderHTML(t, sampleRun(), HTMLOptions{}), `id="changes"`) {
		t.Error("a run without Changes has a changes section")
	}
}

// bigRun has n FAIL findings spread over checks, severities and accounts.
func bigRun(n int) *audit.Run {
	run := sampleRun()
	cat := checks.Catalogue()
	run.Findings = run.Findings[:0]
	for i := range n {
		c := cat[i%len(cat)]
		sev := checks.Severities[i%len(checks.Severities)]
		acct := fmt.Sprintf("%012d", 100000000000+i%7)
		id := fmt.Sprintf("i-%017x", i)
		run.Findings = append(run.Findings, fail(c.ID, sev, acct, []string{"eu-west-1", "us-east-1"}[i%2], checks.TypeInstance, id,
			c.Title+" on "+id))
	}
	run.Summary.Instances, run.Summary.FailingInstances = 200000, n
	run.Summary.Health = 100 * float64(200000-n) / 200000
	return run
}

func TestHTMLLargeRunIsCapped(t *testing.T) {
	run := bigRun(12000)
	out := renderHTML(t, run, HTMLOptions{})
	if got := strings.Count(out, "<tr data-check="); got != DefaultHTMLMaxRows {
		t.Errorf("%d table rows, want %d", got, DefaultHTMLMaxRows)
	}
	if !strings.Contains(out, "Showing 5,000 of 12,000 findings") || !strings.Contains(out, "findings.csv / run.json") {
		t.Error("the page does not say the table is cut and where the rest is")
	}
	// Worst first: every critical finding (2,400) is in the table.
	if got := strings.Count(out, `data-severity="critical"`); got != 2400 {
		t.Errorf("%d critical rows, want all 2400", got)
	}
	// The filters offer every account, not only those in the shown rows.
	if got := strings.Count(out, "<option>1000000000"); got != 7 {
		t.Errorf("%d account options, want 7", got)
	}
	small := renderHTML(t, run, HTMLOptions{MaxRows: 10})
	if strings.Count(small, "<tr data-check=") != 10 || !strings.Contains(small, "Showing 10 of 12,000") {
		t.Error("MaxRows is not honoured")
	}
	if strings.Contains(renderHTML(t, sampleRun(), HTMLOptions{}), `id="truncated"`) {
		t.Error("a small run says it is truncated")
	}
}

func TestTrendPointOf(t *testing.T) {
	run := sampleRun()
	p := TrendPointOf(run)
	fails := 0
	for _, f := range run.Findings {
		if f.Status == checks.Fail || f.Status == checks.Error {
			fails++
		}
	}
	if p.RunID != run.Run.ID || !p.StartedAt.Equal(run.Run.StartedAt) || p.Health != 98.7 || p.FailingInstances != 13 || p.Findings != fails {
		t.Errorf("TrendPointOf = %+v (want %d findings)", p, fails)
	}
}

func TestHTMLNilRun(t *testing.T) {
	if err := HTML(&bytes.Buffer{}, nil, HTMLOptions{}); err == nil {
		t.Error("a nil run was rendered")
	}
}

func BenchmarkHTML100k(b *testing.B) {
	run := bigRun(100000)
	for b.Loop() {
		if err := HTML(&bytes.Buffer{}, run, HTMLOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
