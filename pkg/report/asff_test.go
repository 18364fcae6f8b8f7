package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

var asffT0 = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

func asffFindingFor(check, account, region, resource string, st checks.Status, sev checks.Severity) checks.Finding {
	return checks.Finding{Check: check, Status: st, Severity: sev, Account: account, Region: region,
		ResourceType: checks.TypeInstance, Resource: resource, Detail: "detail of " + resource}
}

func asffRunOf(at time.Time, fs ...checks.Finding) *audit.Run {
	return &audit.Run{Run: audit.Info{ID: "r", StartedAt: at, FinishedAt: at.Add(time.Minute)}, Findings: fs}
}

func TestASFFIDsStableAndUnique(t *testing.T) {
	base := asffFindingFor("imds_v1_allowed", "111111111111", "eu-west-1", "i-0123456789abcdef0", checks.Fail, checks.High)
	variants := []checks.Finding{base}
	for _, mod := range []func(*checks.Finding){
		func(f *checks.Finding) { f.Check = "imds_endpoint_disabled" },
		func(f *checks.Finding) { f.Account = "222222222222" },
		func(f *checks.Finding) { f.Region = "us-east-1" },
		func(f *checks.Finding) { f.Resource = "i-0fedcba9876543210" },
		func(f *checks.Finding) { f.Resource = strings.Repeat("x", 600) },
		func(f *checks.Finding) { f.Resource = strings.Repeat("x", 599) + "y" },
	} {
		f := base
		mod(&f)
		variants = append(variants, f)
	}
	ids := map[string]bool{}
	for i := range variants {
		id := ASFFID(&variants[i])
		if len(id) > asffMaxID || !isPlain(id) {
			t.Errorf("id %q: too long or not plain", id)
		}
		if ids[id] {
			t.Errorf("id %q is not unique", id)
		}
		ids[id] = true
	}
	if got := ASFFID(&base); got != "fleetdoctor/eu-west-1/111111111111/imds_v1_allowed/i-0123456789abcdef0" {
		t.Errorf("id %q", got)
	}

	// The same finding in another run (other detail, severity, time) has
	// the same id.
	later := base
	later.Detail, later.Severity = "changed", checks.Critical
	a := ASFF(asffRunOf(asffT0, base), ASFFOptions{})
	b := ASFF(asffRunOf(asffT0.Add(24*time.Hour), later), ASFFOptions{})
	if aws.ToString(a[0].Id) != aws.ToString(b[0].Id) {
		t.Errorf("ids differ across runs: %s, %s", aws.ToString(a[0].Id), aws.ToString(b[0].Id))
	}
}

func TestASFFResolvedAreArchivedWithTheSameID(t *testing.T) {
	fixed := asffFindingFor("imds_v1_allowed", "111111111111", "eu-west-1", "i-1", checks.Fail, checks.High)
	still := asffFindingFor("imds_v1_allowed", "111111111111", "eu-west-1", "i-2", checks.Fail, checks.High)
	muted := asffFindingFor("imds_v1_allowed", "111111111111", "eu-west-1", "i-3", checks.Error, checks.High)
	prev := asffRunOf(asffT0, fixed, still, muted)
	mutedNow := muted
	mutedNow.Status = checks.Muted
	cur := asffRunOf(asffT0.Add(24*time.Hour), still, mutedNow)

	before := ASFF(prev, ASFFOptions{})
	after := ASFF(cur, ASFFOptions{Previous: prev})
	if len(after) != 3 {
		t.Fatalf("%d findings, want 3 (1 active, 2 resolved)", len(after))
	}
	byID := map[string]types.AwsSecurityFinding{}
	for _, f := range after {
		byID[aws.ToString(f.Id)] = f
	}
	for i, want := range []struct {
		state    types.RecordState
		workflow types.WorkflowStatus
		comp     types.ComplianceStatus
	}{
		{types.RecordStateArchived, types.WorkflowStatusResolved, types.ComplianceStatusPassed},
		{types.RecordStateActive, types.WorkflowStatusNew, types.ComplianceStatusFailed},
		{types.RecordStateArchived, types.WorkflowStatusResolved, types.ComplianceStatusPassed},
	} {
		f, ok := byID[aws.ToString(before[i].Id)]
		if !ok {
			t.Fatalf("finding %s missing after the fix", aws.ToString(before[i].Id))
		}
		if f.RecordState != want.state || f.Workflow.Status != want.workflow || f.Compliance.Status != want.comp {
			t.Errorf("%s: %s/%s/%s, want %+v", aws.ToString(f.Id), f.RecordState, f.Workflow.Status, f.Compliance.Status, want)
		}
		// First observed in the previous run.
		if aws.ToString(f.FirstObservedAt) != "2026-11-22T06:00:00Z" || aws.ToString(f.CreatedAt) != "2026-11-22T06:00:00Z" {
			t.Errorf("%s: first observed %s created %s", aws.ToString(f.Id), aws.ToString(f.FirstObservedAt), aws.ToString(f.CreatedAt))
		}
		if aws.ToString(f.UpdatedAt) != "2026-11-23T06:01:00Z" {
			t.Errorf("%s: updated %s", aws.ToString(f.Id), aws.ToString(f.UpdatedAt))
		}
	}
	if c := before[2].Compliance.Status; c != types.ComplianceStatusNotAvailable {
		t.Errorf("ERROR finding has compliance %s, want NOT_AVAILABLE", c)
	}
}

func TestASFFSeverityMapping(t *testing.T) {
	want := map[checks.Severity]types.SeverityLabel{
		checks.Critical: types.SeverityLabelCritical, checks.High: types.SeverityLabelHigh,
		checks.Medium: types.SeverityLabelMedium, checks.Low: types.SeverityLabelLow,
		checks.Info: types.SeverityLabelInformational,
	}
	for sev, label := range want {
		out := ASFF(asffRunOf(asffT0, asffFindingFor("imds_v1_allowed", "111111111111", "eu-west-1", "i-1", checks.Fail, sev)), ASFFOptions{})
		if len(out) != 1 || out[0].Severity.Label != label || aws.ToString(out[0].Severity.Original) != string(sev) {
			t.Errorf("%s → %+v, want %s", sev, out[0].Severity, label)
		}
	}
}

func TestASFFFields(t *testing.T) {
	host := asffFindingFor(hostdiag.CheckIMDSUnreachable, "111111111111", "cn-north-1", "i-1", checks.Fail, checks.High)
	host.Remediation = &checks.Remediation{Manual: "Open the firewall."}
	pass := asffFindingFor("imds_v1_allowed", "111111111111", "eu-west-1", "i-2", checks.Pass, checks.High)
	acctF := checks.Finding{Check: "imds_v1_allowed", Status: checks.Fail, Severity: checks.Low, Account: "111111111111", Region: "eu-west-1", ResourceType: checks.TypeAccount, Resource: "111111111111"}
	out := ASFF(asffRunOf(asffT0, host, pass, acctF), ASFFOptions{GeneratorIDPrefix: "fd-"})
	if len(out) != 2 {
		t.Fatalf("%d findings, want 2 (PASS is not emitted)", len(out))
	}
	f := out[0]
	checksOut := map[string]string{
		"SchemaVersion": aws.ToString(f.SchemaVersion),
		"ProductArn":    aws.ToString(f.ProductArn),
		"GeneratorId":   aws.ToString(f.GeneratorId),
		"Title":         aws.ToString(f.Title),
		"ResourceId":    aws.ToString(f.Resources[0].Id),
		"ResourceType":  aws.ToString(f.Resources[0].Type),
		"Partition":     string(f.Resources[0].Partition),
		"Remediation":   aws.ToString(f.Remediation.Recommendation.Text),
		"Type":          f.Types[0],
	}
	wantOut := map[string]string{
		"SchemaVersion": "2018-10-08",
		"ProductArn":    "arn:aws-cn:securityhub:cn-north-1:111111111111:product/111111111111/default",
		"GeneratorId":   "fd-" + hostdiag.CheckIMDSUnreachable,
		"Title":         "IMDS unreachable from the host",
		"ResourceId":    "arn:aws-cn:ec2:cn-north-1:111111111111:instance/i-1",
		"ResourceType":  "AwsEc2Instance",
		"Partition":     "aws-cn",
		"Remediation":   "Open the firewall.",
		"Type":          asffType,
	}
	for k, v := range wantOut {
		if checksOut[k] != v {
			t.Errorf("%s = %q, want %q", k, checksOut[k], v)
		}
	}
	if r := out[1].Resources[0]; aws.ToString(r.Type) != "AwsAccount" || aws.ToString(r.Id) != "AWS::::Account:111111111111" {
		t.Errorf("account resource %s %s", aws.ToString(r.Type), aws.ToString(r.Id))
	}
	if out[1].Remediation == nil || !strings.Contains(aws.ToString(out[1].Remediation.Recommendation.Text), "imds") {
		t.Errorf("catalogue remediation missing: %+v", out[1].Remediation)
	}
	o := ASFF(asffRunOf(asffT0, acctF), ASFFOptions{ProductARN: "arn:aws:securityhub:eu-west-1:999999999999:product/999999999999/default", AwsAccountID: "999999999999"})
	if aws.ToString(o[0].ProductArn) != "arn:aws:securityhub:eu-west-1:999999999999:product/999999999999/default" || aws.ToString(o[0].AwsAccountId) != "999999999999" {
		t.Errorf("options ignored: %s %s", aws.ToString(o[0].ProductArn), aws.ToString(o[0].AwsAccountId))
	}
}

func TestASFFLengthCapsAndInertText(t *testing.T) {
	f := asffFindingFor("no_such_check_"+strings.Repeat("c", 300), "111111111111", "eu-west-1", "i-"+strings.Repeat("r", 2000), checks.Fail, checks.High)
	f.Detail = "\x1b[31m<!channel>\u202e " + strings.Repeat("word ", 1000)
	f.Remediation = &checks.Remediation{Manual: strings.Repeat("fix it ", 500)}
	out := ASFF(asffRunOf(asffT0, f), ASFFOptions{})
	a := out[0]
	for name, v := range map[string]struct {
		s   string
		max int
	}{
		"Id": {aws.ToString(a.Id), 512}, "Title": {aws.ToString(a.Title), 256},
		"Description": {aws.ToString(a.Description), 1024}, "GeneratorId": {aws.ToString(a.GeneratorId), 512},
		"Resource.Id":      {aws.ToString(a.Resources[0].Id), 512},
		"Remediation.Text": {aws.ToString(a.Remediation.Recommendation.Text), 512},
	} {
		if n := utf8.RuneCountInString(v.s); n > v.max || n == 0 {
			t.Errorf("%s has %d characters, cap %d", name, n, v.max)
		}
	}
	d := aws.ToString(a.Description)
	if strings.ContainsAny(d, "\x1b\u202e") || !strings.HasSuffix(d, "word…") {
		t.Errorf("description not inert or not cut on a word: %q…%q", d[:30], d[len(d)-20:])
	}
}

func TestWriteASFF(t *testing.T) {
	var buf bytes.Buffer
	run := asffRunOf(asffT0, asffFindingFor("imds_v1_allowed", "111111111111", "eu-west-1", "i-1", checks.Fail, checks.High))
	if err := WriteASFF(&buf, run, ASFFOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "null") {
		t.Errorf("output has nulls:\n%s", buf.String())
	}
	var doc struct {
		Findings []map[string]any
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Findings) != 1 || doc.Findings[0]["Id"] != "fleetdoctor/eu-west-1/111111111111/imds_v1_allowed/i-1" || doc.Findings[0]["RecordState"] != "ACTIVE" {
		t.Fatalf("document %s", buf.String())
	}
	buf.Reset()
	if err := WriteASFF(&buf, asffRunOf(asffT0), ASFFOptions{}); err != nil || strings.TrimSpace(buf.String()) != `{
  "Findings": []
}` {
		t.Fatalf("empty run: %v %q", err, buf.String())
	}
}

// TestASFFGolden pins the `--format asff` document: the sample run alone,
// the hostile run (every string from a tag or host inert), and a run with
// a previous one, whose gone findings are written ARCHIVED.
func TestASFFGolden(t *testing.T) {
	golden(t, "sample.asff.golden", render(t, func(b *bytes.Buffer) error { return WriteASFF(b, sampleRun(), ASFFOptions{}) }))
	golden(t, "hostile.asff.golden", render(t, func(b *bytes.Buffer) error { return WriteASFF(b, hostileRun(), ASFFOptions{}) }))
	golden(t, "changes.asff.golden", render(t, func(b *bytes.Buffer) error {
		return WriteASFF(b, changedRun(), ASFFOptions{Previous: sampleRun()})
	}))
}
