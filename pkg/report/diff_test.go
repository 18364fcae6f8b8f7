package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

func keys(fs []checks.Finding) []string {
	out := []string{}
	for i := range fs {
		out = append(out, fs[i].Key())
	}
	return out
}

func sameKeys(t *testing.T, what string, got []checks.Finding, want ...string) {
	t.Helper()
	g := keys(got)
	if want == nil {
		want = []string{}
	}
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, g, want)
	}
}

// diffRuns is a previous and a current run over acctA × {eu-west-1,
// us-east-1}: one finding stays, one is fixed, one appears, and one is in
// a region the current run could not read.
func diffRuns() (prev, cur *audit.Run) {
	prev, cur = emptyRun(), emptyRun()
	prev.Run.ID, cur.Run.ID = "run-prev", "run-cur"
	for _, r := range []*audit.Run{prev, cur} {
		r.Run.Scope.Regions = []string{"eu-west-1", "us-east-1"}
		r.Summary.Checks = []checks.Stat{{Check: "imds_endpoint_disabled"}, {Check: "imds_v1_allowed"}, {Check: "ssm_not_registered"}}
	}
	stay := fail("imds_endpoint_disabled", checks.High, acctA, "eu-west-1", checks.TypeInstance, "i-stay", "")
	fixed := fail("imds_v1_allowed", checks.Medium, acctA, "eu-west-1", checks.TypeInstance, "i-fixed", "")
	dark := fail("ssm_not_registered", checks.Critical, acctA, "us-east-1", checks.TypeInstance, "i-dark", "")
	other := fail("imds_v1_allowed", checks.Medium, acctA, "us-east-1", checks.TypeInstance, "i-other-check", "")
	added := fail("imds_endpoint_disabled", checks.High, acctA, "us-east-1", checks.TypeInstance, "i-new", "")
	muted := fail("imds_v1_allowed", checks.Medium, acctA, "eu-west-1", checks.TypeInstance, "i-muted", "")
	muted.Status = checks.Muted
	prev.Findings = []checks.Finding{dark, fixed, stay, other}
	cur.Findings = []checks.Finding{added, stay, muted,
		{Check: checks.IncompleteID, Status: checks.Error, Severity: checks.High, Account: acctA, Region: "us-east-1",
			ResourceType: checks.TypeRegion, Resource: acctA + "/us-east-1",
			Evidence: map[string]any{"notChecked": []string{"ssm_not_registered"}}},
	}
	return prev, cur
}

func TestDiffNewResolvedUnknown(t *testing.T) {
	prev, cur := diffRuns()
	ch := Diff(prev, cur)
	inc := checks.IncompleteID + "|" + acctA + "|us-east-1|" + acctA + "/us-east-1"
	sameKeys(t, "new", ch.New, "imds_endpoint_disabled|"+acctA+"|us-east-1|i-new", inc)
	// i-other-check is in the unreadable region, but its check did not
	// need the failed source: it is resolved.
	sameKeys(t, "resolved", ch.Resolved, "imds_v1_allowed|"+acctA+"|eu-west-1|i-fixed", "imds_v1_allowed|"+acctA+"|us-east-1|i-other-check")
	sameKeys(t, "unchanged", ch.Unchanged, "imds_endpoint_disabled|"+acctA+"|eu-west-1|i-stay")
	sameKeys(t, "unknown", ch.Unknown, "ssm_not_registered|"+acctA+"|us-east-1|i-dark")
	s := ch.Summary
	if s.New != 2 || s.Resolved != 2 || s.Unchanged != 1 || s.Unknown != 1 ||
		s.NewBySeverity[checks.High] != 2 || s.ResolvedBySeverity[checks.Medium] != 2 {
		t.Errorf("summary %+v", s)
	}
	if ch.PreviousRunID != "run-prev" {
		t.Errorf("previous run id %q", ch.PreviousRunID)
	}
	// Catalogue order, not finding order, and the same on every call.
	again := Diff(prev, cur)
	if strings.Join(keys(again.New), ",") != strings.Join(keys(ch.New), ",") {
		t.Error("Diff is not deterministic")
	}
}

func TestDiffUnknownWhenNotAudited(t *testing.T) {
	prev, _ := diffRuns()
	f := prev.Findings[1] // i-fixed, imds_v1_allowed in eu-west-1
	cases := map[string]func(cur *audit.Run){
		"region out of scope":  func(cur *audit.Run) { cur.Run.Scope.Regions = []string{"us-east-1"} },
		"account out of scope": func(cur *audit.Run) { cur.Run.Scope.Accounts = []string{acctB} },
		"check not run": func(cur *audit.Run) {
			cur.Summary.Checks = []checks.Stat{{Check: "imds_endpoint_disabled"}}
			cur.Findings = slices.DeleteFunc(cur.Findings, func(f checks.Finding) bool { return f.Status == checks.Muted })
		},
		"account unreachable": func(cur *audit.Run) {
			cur.Findings = append(cur.Findings, checks.Finding{Check: checks.IncompleteID, Status: checks.Error,
				Account: acctA, ResourceType: checks.TypeAccount, Resource: acctA,
				Evidence: map[string]any{"notChecked": []any{"ssm_not_registered"}}})
		},
		"region unreadable, checks not named": func(cur *audit.Run) {
			cur.Findings = append(cur.Findings, checks.Finding{Check: checks.IncompleteID, Status: checks.Error,
				Account: acctA, Region: "eu-west-1", ResourceType: checks.TypeRegion})
		},
		"region unreadable for the check (from JSON)": func(cur *audit.Run) {
			cur.Findings = append(cur.Findings, checks.Finding{Check: checks.IncompleteID, Status: checks.Error,
				Account: acctA, Region: "eu-west-1", ResourceType: checks.TypeRegion,
				Evidence: map[string]any{"notChecked": []any{"imds_v1_allowed"}}})
		},
		"IAM unreadable for the check": func(cur *audit.Run) {
			cur.Findings = append(cur.Findings, checks.Finding{Check: checks.IncompleteID, Status: checks.Error,
				Account: acctA, Region: "global", ResourceType: checks.TypeAccount,
				Evidence: map[string]any{"notChecked": []string{"imds_v1_allowed"}}})
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			_, c := diffRuns()
			mutate(c)
			ch := Diff(prev, c)
			for _, r := range ch.Resolved {
				if r.Key() == f.Key() {
					t.Errorf("%s resolved, want unknown", f.Key())
				}
			}
			found := false
			for _, u := range ch.Unknown {
				found = found || u.Key() == f.Key()
			}
			if !found {
				t.Errorf("%s not unknown: %q", f.Key(), keys(ch.Unknown))
			}
		})
	}
}

func TestDiffNilPrevious(t *testing.T) {
	_, cur := diffRuns()
	ch := Diff(nil, cur)
	if len(ch.New) != 3 || len(ch.Resolved)+len(ch.Unknown)+len(ch.Unchanged) != 0 || ch.PreviousRunID != "" {
		t.Errorf("nil previous: %+v", ch.Summary)
	}
	if ch.Resolved == nil || ch.Unknown == nil {
		t.Error("empty lists must not be nil")
	}
}

func TestDiffJSONRoundTrip(t *testing.T) {
	// A previous run read back from its JSON (evidence as []any) diffs
	// the same as the in-memory one.
	prev, cur := diffRuns()
	var b bytes.Buffer
	if err := JSON(&b, prev); err != nil {
		t.Fatal(err)
	}
	var back audit.Run
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	a, c := Diff(prev, cur), Diff(&back, cur)
	if strings.Join(keys(a.Resolved), ",") != strings.Join(keys(c.Resolved), ",") ||
		strings.Join(keys(a.Unknown), ",") != strings.Join(keys(c.Unknown), ",") {
		t.Errorf("round trip changes the diff")
	}
}

func changedRun() *audit.Run {
	prev, cur := diffRuns()
	ch := Diff(prev, cur)
	cur.Changes = &ch
	return cur
}

func TestChangesGolden(t *testing.T) {
	golden(t, "changes.table.golden", render(t, func(b *bytes.Buffer) error { return Table(b, changedRun(), TableOptions{}) }))
	golden(t, "changes.json.golden", render(t, func(b *bytes.Buffer) error { return JSON(b, changedRun()) }))
}

func TestChangesTableCappedAndEscaped(t *testing.T) {
	prev := emptyRun()
	cur := emptyRun()
	for _, h := range hostile {
		cur.Findings = append(cur.Findings, fail("imds_endpoint_disabled", checks.High, acctA, "eu-west-1", checks.TypeInstance, h, ""))
	}
	for i := range 3 * DefaultMaxChanges {
		cur.Findings = append(cur.Findings, fail("imds_v1_allowed", checks.Medium, acctA, "eu-west-1", checks.TypeInstance, strings.Repeat("x", i+1), ""))
	}
	ch := Diff(prev, cur)
	cur.Changes = &ch
	var b bytes.Buffer
	if err := Table(&b, cur, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "since the previous run (run-empty): 70 new, 0 resolved") {
		t.Errorf("no changes headline:\n%s", out)
	}
	if !strings.Contains(out, "+50 more") {
		t.Errorf("new list not capped at %d", DefaultMaxChanges)
	}
	if strings.ContainsAny(out, "\x1b\u009b\u202e") || strings.Contains(out, "FAIL\tforged") {
		t.Error("hostile text reached the table raw")
	}
}
