package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
)

// chromiumBin is Debian's chromium package; the Makefile's test-deps
// installs it.
const chromiumBin = "/usr/bin/chromium"

// chromiumFlags start a headless browser that cannot reach anything but
// loopback: its own background traffic (component updates, account and
// time checks) goes to a proxy on a closed loopback port, and every host
// name fails to resolve. The report itself must not need any of it.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-extensions", "--disable-default-apps", "--disable-domain-reliability",
	"--no-pings", "--disable-client-side-phishing-detection", "--disable-breakpad",
	"--metrics-recording-only", "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
}

func needChromium(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(chromiumBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required under CI=true (apt-get install chromium, or make test-deps): %v", err)
		}
		t.Skipf("no chromium at %s (apt-get install chromium): %v", chromiumBin, err)
	}
}

// chromium runs the browser once on target with a fresh profile and returns
// its stdout.
func chromium(t *testing.T, target string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append(append(slices.Clone(chromiumFlags), "--user-data-dir="+t.TempDir()), args...)
	cmd := exec.CommandContext(ctx, chromiumBin, append(all, target)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", target, err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// writePage renders run into dir/name and returns its file:// URL.
func writePage(t *testing.T, dir, name string, run *audit.Run, opts HTMLOptions) (path string, u *url.URL) {
	t.Helper()
	path = filepath.Join(dir, name)
	var b bytes.Buffer
	if err := HTML(&b, run, opts); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, &url.URL{Scheme: "file", Path: path}
}

var rowRE = regexp.MustCompile(`<tr data-check="([^"]*)" data-severity="([^"]*)" data-account="([^"]*)"( hidden="")?>(.*?)</tr>`)

// visibleRows counts the findings rows of a dumped DOM that are not
// hidden, and all rows.
func visibleRows(t *testing.T, dom []byte) (visible, all int) {
	t.Helper()
	for _, m := range rowRE.FindAllSubmatch(dom, -1) {
		all++
		if len(m[4]) == 0 {
			visible++
		}
	}
	return visible, all
}

// expectRows counts, in the static page, the rows a filter should leave.
func expectRows(page []byte, check, severity, account, q string) int {
	n := 0
	tagRE := regexp.MustCompile(`<[^>]*>`)
	for _, m := range rowRE.FindAllSubmatch(page, -1) {
		text := strings.ToLower(htmlUnescape(tagRE.ReplaceAllString(string(m[5]), "")))
		if (check == "" || string(m[1]) == check) && (severity == "" || string(m[2]) == severity) &&
			(account == "" || string(m[3]) == account) && (q == "" || strings.Contains(text, strings.ToLower(q))) {
			n++
		}
	}
	return n
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&amp;", "&").Replace(s)
}

func TestHTMLInBrowser(t *testing.T) {
	needChromium(t)
	dir := t.TempDir()
	sample := sampleWithChanges()
	samplePath, sampleURL := writePage(t, dir, "sample.html", sample, HTMLOptions{Trend: sampleTrend(sample)})
	big := bigRun(20000)
	bigTrend := sampleTrend(big)
	bigPath, bigURL := writePage(t, dir, "big.html", big, HTMLOptions{Trend: bigTrend})

	// Chromium start-up is mostly waiting, so the loads run in parallel
	// (at most -parallel, GOMAXPROCS by default, at once).
	t.Run("screenshot", func(t *testing.T) {
		t.Parallel()
		shot := filepath.Join(t.TempDir(), "report.png")
		chromium(t, sampleURL.String(), "--screenshot="+shot, "--window-size=1280,2000")
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2000 {
			t.Errorf("screenshot is %v, want 1280×2000", b)
		}
		if n := colours(img); n < 20 {
			t.Errorf("screenshot has %d colours; a rendered report has many", n)
		}
	})

	t.Run("charts in the DOM", func(t *testing.T) {
		t.Parallel()
		dom := chromium(t, sampleURL.String(), "--dump-dom")
		for _, re := range []string{
			`<svg id="chart-health"[^>]*>(?s:.*?)<circle class="arc arc-pass"(?s:.*?)<circle class="arc arc-fail"`,
			`<svg id="chart-checks"[^>]*>(?s:.*?)<rect `,
			`<svg id="chart-trend"[^>]*>(?s:.*?)<polyline id="trend-health"`,
			`<table id="findings">`,
			// The script ran: it writes data-shown.
			`<output id="shown-count" data-rows="17" data-shown="17">17 of 17 rows shown</output>`,
		} {
			if !regexp.MustCompile(re).Match(dom) {
				t.Errorf("DOM lacks %s", re)
			}
		}
		if got := strings.Count(string(dom), `<g class="bar `); got != 6 {
			t.Errorf("%d bars in the checks chart, want 6", got)
		}
	})

	t.Run("filters", func(t *testing.T) {
		t.Parallel()
		samplePage, _ := os.ReadFile(samplePath)
		bigPage, _ := os.ReadFile(bigPath)
		// Sanity: the filter cases below are not all trivial.
		if expectRows(bigPage, "", "critical", "100000000003", "") == 0 || expectRows(samplePage, "imds_v1_allowed", "", "", "") == 0 {
			t.Fatal("the filter cases select nothing; the test would prove nothing")
		}
		for _, tc := range []struct {
			page                       []byte
			u                          *url.URL
			check, sev, account, query string
		}{
			{samplePage, sampleURL, "imds_v1_allowed", "", "", ""},
			{samplePage, sampleURL, "", "high", acctA, ""},
			{samplePage, sampleURL, "", "", "", "ORPHAN-profile"},
			{samplePage, sampleURL, "", "", "", "no registered & <none>"},
			{bigPage, bigURL, "", "critical", "100000000003", ""},
			{bigPage, bigURL, "imds_v1_allowed", "", "", "i-00000000000000"},
		} {
			want := expectRows(tc.page, tc.check, tc.sev, tc.account, tc.query)
			frag := url.Values{}
			for k, v := range map[string]string{"check": tc.check, "severity": tc.sev, "account": tc.account, "q": tc.query} {
				if v != "" {
					frag.Set(k, v)
				}
			}
			fragment := frag.Encode()
			t.Run(fragment, func(t *testing.T) {
				t.Parallel()
				// Each load also records a net log: the page must ask for
				// nothing, and the browser must resolve no host name.
				reqs, dns, dom := pageRequests(t, tc.u.String()+"#"+fragment)
				if len(reqs) != 0 || len(dns) != 0 {
					t.Errorf("#%s: the page made requests %v; host names resolved: %v", fragment, reqs, dns)
				}
				visible, all := visibleRows(t, dom)
				if visible != want || all == 0 {
					t.Errorf("#%s: %d of %d rows visible, want %d", fragment, visible, all, want)
				}
				if !bytes.Contains(dom, fmt.Appendf(nil, `data-shown="%d">%s of %s rows shown`, want, thousands(want), thousands(all))) {
					t.Errorf("#%s: the shown-rows count does not say %d of %d", fragment, want, all)
				}
			})
		}
	})

	t.Run("net log sees requests", func(t *testing.T) {
		t.Parallel()
		// Control for the net log checks above: a page that does load
		// something is caught, so a silent net log cannot pass by
		// accident.
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer srv.Close()
		ctrl := filepath.Join(dir, "control.html")
		page := `<!DOCTYPE html><title>c</title><img src="` + srv.URL + `/probe.png"><script>fetch("` + srv.URL + `/fetch")</script>`
		if err := os.WriteFile(ctrl, []byte(page), 0o600); err != nil {
			t.Fatal(err)
		}
		reqs, _, _ := pageRequests(t, (&url.URL{Scheme: "file", Path: ctrl}).String())
		if !slices.ContainsFunc(reqs, func(u string) bool { return strings.HasPrefix(u, srv.URL+"/probe.png") }) {
			t.Fatalf("the control page's image request was not seen in the net log: %v", reqs)
		}
	})
}

// colours counts distinct colours in img (up to 1,000).
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= 1000 {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// pageRequests loads target with a net log and returns the URLs the page
// asked for (requests with a document initiator; the browser's own
// background requests have none), any host names the browser tried to
// resolve, and the DOM after the page's script ran.
func pageRequests(t *testing.T, target string) (requests, resolved []string, dom []byte) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "netlog.json")
	dom = chromium(t, target, "--dump-dom", "--log-net-log="+logPath)
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("no net log: %v", err)
	}
	var nl struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int            `json:"type"`
			Params map[string]any `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &nl); err != nil {
		// Chromium may be killed before it closes the JSON array.
		trimmed := strings.TrimRight(strings.TrimSpace(string(data)), ",")
		if err2 := json.Unmarshal([]byte(trimmed+"]}"), &nl); err2 != nil {
			t.Fatalf("net log is not JSON: %v", err)
		}
	}
	types := nl.Constants.LogEventTypes
	if len(types) == 0 || len(nl.Events) == 0 {
		t.Fatal("the net log has no events; is --log-net-log supported?")
	}
	for _, e := range nl.Events {
		switch e.Type {
		case types["URL_REQUEST_START_JOB"]:
			u, _ := e.Params["url"].(string)
			if u == "" {
				continue
			}
			initiator, _ := e.Params["initiator"].(string)
			nik, _ := e.Params["network_isolation_key"].(string)
			if initiator != "not an origin" || strings.HasPrefix(nik, "file:") {
				requests = append(requests, u)
			}
		case types["HOST_RESOLVER_DNS_TASK"], types["DNS_TRANSACTION"]:
			if h, _ := e.Params["hostname"].(string); h != "" {
				resolved = append(resolved, h)
			}
		}
	}
	return requests, resolved, dom
}
