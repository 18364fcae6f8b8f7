package report

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// Limits of the HTML report. A browser stays responsive with a few
// thousand table rows; a run of 100,000 findings is summarised in the
// charts and listed in full in findings.csv and run.json, and the page
// says so.
const (
	// DefaultHTMLMaxRows is how many findings the findings table lists,
	// worst first.
	DefaultHTMLMaxRows = 5000
	// maxHTMLChanges is how many new and how many resolved findings the
	// changes section lists.
	maxHTMLChanges = 200
	// maxHTMLBars is how many checks the findings-by-check chart draws.
	maxHTMLBars = 40
	// maxHTMLTrend is how many runs the trend chart draws (the newest).
	maxHTMLTrend = 60
	// maxHTMLOptions is how many values a filter select offers.
	maxHTMLOptions = 500
	// maxHTMLErrors is how many collection errors the errors section lists.
	maxHTMLErrors = 500
)

//go:embed html/report.html.tmpl html/report.js html/report.css
var htmlFS embed.FS

var (
	htmlTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
		"num":  thousands,
		"pct":  func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"f1":   func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	}).ParseFS(htmlFS, "html/report.html.tmpl"))
	htmlScript = mustRead("html/report.js")
	htmlStyle  = mustRead("html/report.css")
	// htmlCSP forbids every network load: the report is one file that
	// must open offline and must not leak that it was opened. Only the
	// inline script whose hash is listed may run.
	htmlCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-" +
		hashB64(htmlScript) + "'; base-uri 'none'; form-action 'none'"
)

func mustRead(name string) string {
	b, err := htmlFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func hashB64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TrendPoint is one run in the HTML report's trend chart. The JSON form
// is what the report Lambda keeps in history.json (service.KeyHistory).
type TrendPoint struct {
	RunID     string    `json:"runId"`
	StartedAt time.Time `json:"startedAt"`
	// Health is the run's percentage of instances without a FAIL finding.
	Health float64 `json:"health"`
	// FailingInstances have at least one FAIL finding.
	FailingInstances int `json:"failingInstances"`
	// Findings counts the run's FAIL and ERROR findings.
	Findings int `json:"findings"`
}

// TrendPointOf summarises run for a trend.
func TrendPointOf(run *audit.Run) TrendPoint {
	n := 0
	for i := range run.Findings {
		if s := run.Findings[i].Status; s == checks.Fail || s == checks.Error {
			n++
		}
	}
	return TrendPoint{
		RunID: run.Run.ID, StartedAt: run.Run.StartedAt, Health: run.Summary.Health,
		FailingInstances: run.Summary.FailingInstances, Findings: n,
	}
}

// HTMLOptions tunes HTML.
type HTMLOptions struct {
	// Trend is the runs to chart, oldest first, this run last; it may be
	// empty (then the chart shows this run alone).
	Trend []TrendPoint
	// MaxRows caps the findings table; zero or less means
	// DefaultHTMLMaxRows.
	MaxRows int
}

// HTML writes run as one self-contained HTML page that works offline:
// inline CSS, charts drawn as inline SVG here in Go, and a small inline
// script that only filters the findings table. A Content-Security-Policy
// forbids every network load. Every string from the run is capped (like
// the table's) and escaped by html/template.
func HTML(w io.Writer, run *audit.Run, opts HTMLOptions) error {
	if run == nil {
		return fmt.Errorf("html report: no run")
	}
	page := buildPage(run, opts)
	bw := bufio.NewWriter(w)
	if err := htmlTemplate.Execute(bw, page); err != nil {
		return fmt.Errorf("rendering the HTML report: %w", err)
	}
	return bw.Flush()
}

// htmlPage is what the template renders; every string in it is already
// capped and made visible (TerminalSafe), and html/template escapes it.
type htmlPage struct {
	CSP     string
	Style   template.CSS
	Script  template.JS
	Title   string
	Run     htmlRunInfo
	Summary string
	Health  donut
	Checks  barChart
	Trend   trendChart
	Regions []regionRow
	Changes *htmlChanges
	Table   findingTable
	Errors  []htmlError
	// ErrorsMore counts collection errors beyond maxHTMLErrors.
	ErrorsMore int
}

type htmlRunInfo struct {
	ID, Started, Finished, Duration string
	Accounts, Regions, Role         string
	Checks, MetricWindow, Sandbox   string
}

type donut struct {
	Instances, Failing, Passing int
	Percent                     string
	// PassDash and FailDash are stroke-dasharray values on a circle whose
	// circumference is 100.
	PassDash, FailDash, FailOffset string
}

type bar struct {
	Check, Title     string
	Count            int
	Y, Width, CountX int
	TextY            int
	Severity         string
}

type barChart struct {
	Bars         []bar
	Height       int
	More         int
	LabelX, BarX int
}

type trendDot struct {
	X, Y, Y2 string
	Label    string
}

type trendChart struct {
	HealthLine, FailLine string
	Dots                 []trendDot
	MaxFailing           int
	First, Last          string
	Points               int
}

type regionRow struct {
	Account, Region string
	Instances       string
	Failing         int
	BySeverity      []int
}

type htmlChanges struct {
	PreviousRunID, PreviousStarted string
	New, Resolved                  []htmlFinding
	NewMore, ResolvedMore          int
	Summary                        audit.ChangeSummary
}

type htmlFinding struct {
	Severity, Status, Check, Account, Region, Resource, Detail string
}

type findingTable struct {
	Rows                                 []htmlFinding
	Total, Shown                         int
	Truncated                            bool
	CheckOptions, SevOptions, AccOptions []string
}

type htmlError struct {
	Account, Region, What, API, Kind, Message string
}

// safe caps and makes visible untrusted text before html/template escapes
// it: escaping stops markup, and TerminalSafe also shows bidi overrides and
// controls that would otherwise disguise text.
func safe(s string, max int) string { return TerminalSafe(s, max) }

func buildPage(run *audit.Run, opts HTMLOptions) *htmlPage {
	s := &run.Summary
	info := run.Run
	p := &htmlPage{
		CSP:     htmlCSP,
		Style:   template.CSS(htmlStyle),
		Script:  template.JS(htmlScript),
		Title:   "fleetdoctor report " + safe(info.ID, maxCell),
		Summary: SummaryLine(run),
		Run: htmlRunInfo{
			ID:           safe(info.ID, maxCell),
			Started:      info.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
			Finished:     info.FinishedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
			Duration:     info.FinishedAt.Sub(info.StartedAt).Round(time.Second).String(),
			Accounts:     safeList(info.Scope.Accounts),
			Regions:      safeList(info.Scope.Regions),
			Role:         safe(info.Scope.RoleName, maxResource),
			Checks:       safeList(info.Scope.Checks),
			MetricWindow: safe(info.Scope.MetricWindow, maxCell),
			Sandbox:      safe(info.Sandbox, maxCell),
		},
	}
	p.Health = healthDonut(s)
	p.Checks = checkBars(run)
	p.Trend = trendOf(run, opts.Trend)
	p.Regions = regionRows(run)
	if run.Changes != nil {
		p.Changes = changesOf(run.Changes)
	}
	max := opts.MaxRows
	if max <= 0 {
		max = DefaultHTMLMaxRows
	}
	p.Table = tableOf(run, max)
	for i, e := range run.Errors {
		if i == maxHTMLErrors {
			p.ErrorsMore = len(run.Errors) - i
			break
		}
		msg := e.Message
		if e.Code != "" {
			msg = e.Code + ": " + msg
		}
		p.Errors = append(p.Errors, htmlError{
			Account: safe(e.Account, maxCell), Region: safe(e.Region, maxCell), What: safe(e.What, maxCell),
			API: safe(e.API, maxCell), Kind: safe(e.Kind, maxCell), Message: safe(msg, maxDetail),
		})
	}
	return p
}

// safeList joins capped items; long lists are cut with a count.
func safeList(items []string) string {
	const show = 20
	parts := make([]string, 0, min(len(items), show))
	for i, it := range items {
		if i == show {
			return strings.Join(parts, ", ") + " +" + thousands(len(items)-show) + " more"
		}
		parts = append(parts, safe(it, maxCell))
	}
	return strings.Join(parts, ", ")
}

func healthDonut(s *audit.Summary) donut {
	failing := min(max(s.FailingInstances, 0), max(s.Instances, 0))
	d := donut{Instances: s.Instances, Failing: failing, Passing: s.Instances - failing,
		Percent: healthPercent(s.Health, s.Instances, failing)}
	share := 0.0 // failing share of the circle, 0..100
	if s.Instances > 0 {
		share = 100 * float64(failing) / float64(s.Instances)
		// A single failing instance in 100,000 must still show.
		if failing > 0 && share < 0.5 {
			share = 0.5
		}
	}
	d.FailDash = fmt.Sprintf("%.2f %.2f", share, 100-share)
	d.PassDash = fmt.Sprintf("%.2f %.2f", 100-share, share)
	// Dashes start at 3 o'clock; an offset of 25 starts them at 12. The
	// failing arc follows the passing one.
	d.FailOffset = fmt.Sprintf("%.2f", 25-(100-share))
	return d
}

// checkRank orders checks as the catalogue does (host checks after API
// checks, unknown checks last).
var checkRank = hostdiag.CatalogueRank()

func checkBars(run *audit.Run) barChart {
	counts := map[string]int{}
	worst := map[string]checks.Severity{}
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		counts[f.Check]++
		if f.Severity.Rank() > worst[f.Check].Rank() {
			worst[f.Check] = f.Severity
		}
	}
	ids := slices.Collect(maps.Keys(counts))
	slices.SortFunc(ids, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(checkRank(a), checkRank(b)), cmp.Compare(a, b))
	})
	var c barChart
	if len(ids) > maxHTMLBars {
		c.More = len(ids) - maxHTMLBars
		ids = ids[:maxHTMLBars]
	}
	top := 1
	if len(ids) > 0 {
		top = counts[ids[0]]
	}
	// Labels end at labelX (room for the longest catalogue id at 12px);
	// bars start at barX and the longest is barMax wide, leaving room for
	// its count inside the 760-wide chart.
	const rowH, labelX, barX, barMax = 26, 336, 344, 360
	c.LabelX, c.BarX = labelX, barX
	for i, id := range ids {
		title := ""
		if m := checks.Lookup(id); m != nil {
			title = m.Title
		}
		w := int(math.Round(float64(barMax) * float64(counts[id]) / float64(top)))
		c.Bars = append(c.Bars, bar{
			Check: safe(id, maxCell), Title: safe(title, maxDetail), Count: counts[id],
			Y: i * rowH, TextY: i*rowH + 16, Width: max(w, 2), CountX: barX + max(w, 2) + 6, Severity: sevClass(worst[id]),
		})
	}
	c.Height = max(len(ids)*rowH, rowH)
	return c
}

// sevClass is a severity as a CSS class suffix; anything unexpected is
// "other", so a hostile severity never reaches a class attribute.
func sevClass(s checks.Severity) string {
	if slices.Contains(checks.Severities, s) {
		return string(s)
	}
	return "other"
}

// Trend chart geometry, in SVG user units.
const (
	trendW, trendH         = 640, 200
	trendLeft, trendRight  = 44, 44
	trendTop, trendBottom  = 12, 28
	trendPlotW, trendPlotH = trendW - trendLeft - trendRight, trendH - trendTop - trendBottom
)

func trendOf(run *audit.Run, pts []TrendPoint) trendChart {
	if len(pts) == 0 {
		pts = []TrendPoint{TrendPointOf(run)}
	}
	if len(pts) > maxHTMLTrend {
		pts = pts[len(pts)-maxHTMLTrend:]
	}
	t := trendChart{Points: len(pts), MaxFailing: 1}
	for _, p := range pts {
		t.MaxFailing = max(t.MaxFailing, p.FailingInstances)
	}
	var hl, fl []string
	for i, p := range pts {
		x := float64(trendLeft + trendPlotW/2)
		if len(pts) > 1 {
			x = trendLeft + float64(trendPlotW)*float64(i)/float64(len(pts)-1)
		}
		h := p.Health
		if math.IsNaN(h) { // a hand-edited run document; draw it at 0
			h = 0
		}
		h = math.Min(math.Max(h, 0), 100)
		y := trendTop + float64(trendPlotH)*(1-h/100)
		y2 := trendTop + float64(trendPlotH)*(1-float64(max(p.FailingInstances, 0))/float64(t.MaxFailing))
		xs, ys, y2s := f1(x), f1(y), f1(y2)
		hl = append(hl, xs+","+ys)
		fl = append(fl, xs+","+y2s)
		t.Dots = append(t.Dots, trendDot{X: xs, Y: ys, Y2: y2s,
			Label: fmt.Sprintf("%s (%s): %s%% healthy, %s failing instances, %s findings",
				safe(p.RunID, maxCell), p.StartedAt.UTC().Format("2006-01-02 15:04"), f1(h),
				thousands(p.FailingInstances), thousands(p.Findings))})
	}
	if len(pts) > 1 {
		t.HealthLine, t.FailLine = strings.Join(hl, " "), strings.Join(fl, " ")
	}
	t.First = pts[0].StartedAt.UTC().Format("2006-01-02")
	t.Last = pts[len(pts)-1].StartedAt.UTC().Format("2006-01-02")
	return t
}

func f1(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func regionRows(run *audit.Run) []regionRow {
	type key struct{ account, region string }
	rows := map[key]*regionRow{}
	get := func(a, r string) *regionRow {
		k := key{a, r}
		if rows[k] == nil {
			rows[k] = &regionRow{Account: safe(a, maxCell), Region: safe(r, maxCell), Instances: "—",
				BySeverity: make([]int, len(checks.Severities))}
		}
		return rows[k]
	}
	if run.Snapshot != nil {
		for _, a := range run.Snapshot.Accounts {
			for _, r := range a.Regions {
				get(a.ID, r.Name).Instances = thousands(len(r.Instances))
			}
		}
	}
	failing := map[key]map[string]bool{}
	for i := range run.Findings {
		f := &run.Findings[i]
		if f.Status != checks.Fail && f.Status != checks.Error {
			continue
		}
		if f.Region == "" {
			continue // account-wide (IAM, an unreachable account)
		}
		row := get(f.Account, f.Region)
		if r := f.Severity.Rank() - 1; r >= 0 && r < len(checks.Severities) {
			row.BySeverity[len(checks.Severities)-1-r]++
		}
		if f.Status == checks.Fail && f.ResourceType == checks.TypeInstance {
			k := key{f.Account, f.Region}
			if failing[k] == nil {
				failing[k] = map[string]bool{}
			}
			if !failing[k][f.Resource] {
				failing[k][f.Resource] = true
				row.Failing++
			}
		}
	}
	keys := slices.Collect(maps.Keys(rows))
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.region, b.region)) })
	out := make([]regionRow, len(keys))
	for i, k := range keys {
		out[i] = *rows[k]
	}
	return out
}

func htmlFindingOf(f *checks.Finding) htmlFinding {
	return htmlFinding{
		Severity: sevClass(f.Severity), Status: safe(string(f.Status), maxCell), Check: safe(f.Check, maxCell),
		Account: safe(f.Account, maxCell), Region: safe(f.Region, maxCell),
		Resource: safe(f.Resource, maxResource), Detail: safe(f.Detail, maxDetail),
	}
}

func changesOf(ch *audit.Changes) *htmlChanges {
	c := &htmlChanges{PreviousRunID: safe(ch.PreviousRunID, maxCell), Summary: ch.Summary}
	if !ch.PreviousStartedAt.IsZero() {
		c.PreviousStarted = ch.PreviousStartedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	for i := range ch.New {
		if i == maxHTMLChanges {
			c.NewMore = len(ch.New) - i
			break
		}
		c.New = append(c.New, htmlFindingOf(&ch.New[i]))
	}
	for i := range ch.Resolved {
		if i == maxHTMLChanges {
			c.ResolvedMore = len(ch.Resolved) - i
			break
		}
		c.Resolved = append(c.Resolved, htmlFindingOf(&ch.Resolved[i]))
	}
	return c
}

// statusOrder lists FAIL and ERROR before MUTED and PASS in the table.
func statusOrder(s checks.Status) int {
	switch s {
	case checks.Fail:
		return 0
	case checks.Error:
		return 1
	case checks.Muted:
		return 2
	}
	return 3
}

func tableOf(run *audit.Run, maxRows int) findingTable {
	idx := make([]int, len(run.Findings))
	checkSet, accSet := map[string]bool{}, map[string]bool{}
	for i := range run.Findings {
		idx[i] = i
		f := &run.Findings[i]
		checkSet[safe(f.Check, maxCell)] = true
		accSet[safe(f.Account, maxCell)] = true
	}
	// Worst first, so a capped table keeps what matters.
	slices.SortStableFunc(idx, func(a, b int) int {
		fa, fb := &run.Findings[a], &run.Findings[b]
		return cmp.Or(
			cmp.Compare(statusOrder(fa.Status), statusOrder(fb.Status)),
			cmp.Compare(fb.Severity.Rank(), fa.Severity.Rank()),
			cmp.Compare(checkRank(fa.Check), checkRank(fb.Check)),
			cmp.Compare(fa.Check, fb.Check),
		)
	})
	t := findingTable{Total: len(idx)}
	if len(idx) > maxRows {
		idx, t.Truncated = idx[:maxRows], true
	}
	t.Shown = len(idx)
	t.Rows = make([]htmlFinding, len(idx))
	for i, j := range idx {
		t.Rows[i] = htmlFindingOf(&run.Findings[j])
	}
	t.CheckOptions = sortedCapped(checkSet, func(a, b string) int {
		return cmp.Or(cmp.Compare(checkRank(a), checkRank(b)), cmp.Compare(a, b))
	})
	t.AccOptions = sortedCapped(accSet, strings.Compare)
	for _, s := range checks.Severities {
		t.SevOptions = append(t.SevOptions, string(s))
	}
	return t
}

func sortedCapped(set map[string]bool, cmpf func(a, b string) int) []string {
	out := slices.SortedFunc(maps.Keys(set), cmpf)
	if len(out) > maxHTMLOptions {
		out = out[:maxHTMLOptions]
	}
	return out
}
