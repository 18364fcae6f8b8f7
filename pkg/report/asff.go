package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/wire"
)

// ASFF limits (AWS Security Finding Format, schema 2018-10-08), in
// characters.
const (
	asffSchemaVersion = "2018-10-08"
	asffMaxID         = 512
	asffMaxTitle      = 256
	asffMaxDesc       = 1024
	asffMaxRecText    = 512
	asffMaxResourceID = 512
	asffMaxField      = 2048 // a ProductFields value
	// asffType is the finding type every fleetdoctor finding carries.
	asffType = "Software and Configuration Checks/AWS Security Best Practices"
	// asffDefaultGenerator prefixes the check id in GeneratorId.
	asffDefaultGenerator = "fleetdoctor-"
	// asffFallbackRegion is used for findings that name no region.
	asffFallbackRegion = "us-east-1"
)

// ASFFOptions configures ASFF.
type ASFFOptions struct {
	// ProductARN is the product the findings are imported as; empty means
	// each finding's account's default product,
	// arn:aws:securityhub:<region>:<account>:product/<account>/default.
	ProductARN string
	// AwsAccountID overrides every finding's AwsAccountId; empty means the
	// finding's own account.
	AwsAccountID string
	// GeneratorIDPrefix prefixes the check id in GeneratorId; empty means
	// "fleetdoctor-".
	GeneratorIDPrefix string
	// Now stamps UpdatedAt (and CreatedAt for new findings); zero means the
	// run's FinishedAt, or the current time when that is zero too.
	Now time.Time
	// Previous is the run before this one: its FAIL and ERROR findings that
	// are no longer FAIL or ERROR are emitted as resolved (RecordState
	// ARCHIVED, Workflow RESOLVED, Compliance PASSED) under the same Id, and
	// findings it already had keep its time as FirstObservedAt.
	Previous *audit.Run
}

// ASFFID is the Security Hub finding Id of the finding f: stable across runs
// for the same (check, account, region, resource), so a re-import updates the
// finding instead of adding a second one. It is
// fleetdoctor/<region>/<account>/<check>/<resource> when that is short,
// printable ASCII without spaces, and fleetdoctor/<sha256 of the key>
// otherwise.
func ASFFID(f *checks.Finding) string {
	id := "fleetdoctor/" + f.Region + "/" + f.Account + "/" + f.Check + "/" + f.Resource
	if len(id) <= asffMaxID && isPlain(id) && !strings.Contains(id, " ") {
		return id
	}
	sum := sha256.Sum256([]byte(f.Key()))
	return "fleetdoctor/sha256/" + hex.EncodeToString(sum[:])
}

// ASFF converts run into AWS Security Finding Format findings for
// Security Hub's BatchImportFindings: one ACTIVE finding per FAIL
// (Compliance FAILED) or ERROR (Compliance NOT_AVAILABLE) finding, then,
// when opts.Previous is set, one ARCHIVED, RESOLVED finding (Compliance
// PASSED) per previous FAIL or ERROR finding that is gone. PASS and MUTED
// findings are not emitted. All text from hosts and tags is made inert
// (controls escaped) and capped at the ASFF limits. Findings of different
// regions must be imported in their own region (securityhub.ByRegion).
func ASFF(run *audit.Run, opts ASFFOptions) []types.AwsSecurityFinding {
	now := opts.Now
	if now.IsZero() {
		now = run.Run.FinishedAt
	}
	if now.IsZero() {
		now = time.Now()
	}
	nowStr := now.UTC().Format(time.RFC3339)

	prevTime := ""
	prevKeys := map[string]bool{}
	if opts.Previous != nil {
		t := opts.Previous.Run.StartedAt
		if t.IsZero() {
			t = opts.Previous.Run.FinishedAt
		}
		if !t.IsZero() {
			prevTime = t.UTC().Format(time.RFC3339)
		}
		for i := range opts.Previous.Findings {
			if f := &opts.Previous.Findings[i]; present(f) {
				prevKeys[f.Key()] = true
			}
		}
	}

	titles := checkTitles()
	var out []types.AwsSecurityFinding
	seen := map[string]bool{}
	for i := range run.Findings {
		f := &run.Findings[i]
		if !present(f) || seen[f.Key()] {
			continue
		}
		seen[f.Key()] = true
		first := nowStr
		if prevKeys[f.Key()] && prevTime != "" {
			first = prevTime
		}
		a := asffFinding(f, opts, titles, nowStr, first)
		a.LastObservedAt = aws.String(nowStr)
		a.RecordState = types.RecordStateActive
		a.Workflow = &types.Workflow{Status: types.WorkflowStatusNew}
		if f.Status == checks.Error {
			a.Compliance = &types.Compliance{Status: types.ComplianceStatusNotAvailable}
		} else {
			a.Compliance = &types.Compliance{Status: types.ComplianceStatusFailed}
		}
		out = append(out, a)
	}
	if opts.Previous != nil {
		for i := range opts.Previous.Findings {
			f := &opts.Previous.Findings[i]
			if !present(f) || seen[f.Key()] {
				continue
			}
			seen[f.Key()] = true
			first := prevTime
			if first == "" {
				first = nowStr
			}
			a := asffFinding(f, opts, titles, nowStr, first)
			a.LastObservedAt = aws.String(first)
			a.RecordState = types.RecordStateArchived
			a.Workflow = &types.Workflow{Status: types.WorkflowStatusResolved}
			a.Compliance = &types.Compliance{Status: types.ComplianceStatusPassed}
			a.ProductFields["fleetdoctor/status"] = "RESOLVED"
			out = append(out, a)
		}
	}
	return out
}

// WriteASFF writes ASFF(run, opts) as {"Findings":[...]}, the body of a
// BatchImportFindings request (the `--format asff` output), indented, with
// a trailing newline.
func WriteASFF(w io.Writer, run *audit.Run, opts ASFFOptions) error {
	fs := ASFF(run, opts)
	// The SDK structs carry no JSON tags; wire renders them as the AWS
	// wire does (model member names, unset members omitted).
	list := make([]map[string]any, 0, len(fs))
	for i := range fs {
		m, err := wire.ToMap(&fs[i])
		if err != nil {
			return fmt.Errorf("encoding ASFF finding: %w", err)
		}
		list = append(list, m)
	}
	return writeJSON(w, map[string]any{"Findings": list})
}

// present reports whether f is a problem that exists: FAIL or ERROR.
func present(f *checks.Finding) bool {
	return f.Status == checks.Fail || f.Status == checks.Error
}

// checkTitles maps check ids to catalogue titles, host_* checks included.
func checkTitles() map[string]string {
	m := map[string]string{}
	for _, c := range checks.Catalogue() {
		m[c.ID] = c.Title
	}
	for _, c := range hostdiag.Catalogue() {
		m[c.ID] = c.Title
	}
	return m
}

// asffFinding fills what active and resolved findings share.
func asffFinding(f *checks.Finding, opts ASFFOptions, titles map[string]string, now, first string) types.AwsSecurityFinding {
	region := asffText(f.Region, maxCell)
	if region == "" {
		region = asffFallbackRegion
	}
	account := asffText(f.Account, maxCell)
	if opts.AwsAccountID != "" {
		account = opts.AwsAccountID
	}
	product := opts.ProductARN
	if product == "" {
		product = "arn:" + partition(region) + ":securityhub:" + region + ":" + account + ":product/" + account + "/default"
	}
	prefix := opts.GeneratorIDPrefix
	if prefix == "" {
		prefix = asffDefaultGenerator
	}
	check := asffText(f.Check, maxCell)
	title := titles[f.Check]
	if title == "" {
		title = check
	}
	desc := cutWords(asffText(f.Detail, 0), asffMaxDesc)
	if desc == "" {
		desc = title
	}
	a := types.AwsSecurityFinding{
		SchemaVersion:   aws.String(asffSchemaVersion),
		Id:              aws.String(ASFFID(f)),
		ProductArn:      aws.String(product),
		GeneratorId:     aws.String(capRunes(prefix+check, asffMaxID)),
		AwsAccountId:    aws.String(account),
		Region:          aws.String(region),
		Types:           []string{asffType},
		CreatedAt:       aws.String(first),
		FirstObservedAt: aws.String(first),
		UpdatedAt:       aws.String(now),
		Severity:        &types.Severity{Label: severityLabel(f.Severity), Original: aws.String(asffText(string(f.Severity), maxCell))},
		Title:           aws.String(cutWords(asffText(title, 0), asffMaxTitle)),
		Description:     aws.String(desc),
		Resources:       []types.Resource{asffResource(f, region, account)},
		ProductFields: map[string]string{
			"fleetdoctor/check":  check,
			"fleetdoctor/status": string(f.Status),
		},
	}
	if text := asffRemediation(f); text != "" {
		a.Remediation = &types.Remediation{Recommendation: &types.Recommendation{Text: aws.String(text)}}
	}
	return a
}

// severityLabel maps fleetdoctor severities to ASFF labels.
func severityLabel(s checks.Severity) types.SeverityLabel {
	switch s {
	case checks.Critical:
		return types.SeverityLabelCritical
	case checks.High:
		return types.SeverityLabelHigh
	case checks.Medium:
		return types.SeverityLabelMedium
	case checks.Low:
		return types.SeverityLabelLow
	default:
		return types.SeverityLabelInformational
	}
}

// asffResource names the finding's resource the way Security Hub does.
func asffResource(f *checks.Finding, region, account string) types.Resource {
	part := partition(region)
	res := asffText(f.Resource, asffMaxResourceID)
	typ, id := "Other", res
	switch f.ResourceType {
	case checks.TypeInstance:
		typ = "AwsEc2Instance"
		if !strings.HasPrefix(res, "arn:") {
			id = "arn:" + part + ":ec2:" + region + ":" + account + ":instance/" + res
		}
	case checks.TypeAccount:
		typ, id = "AwsAccount", "AWS::::Account:"+account
	case checks.TypeRole:
		typ = "AwsIamRole"
		if !strings.HasPrefix(res, "arn:") {
			id = "arn:" + part + ":iam::" + account + ":role/" + res
		}
	case checks.TypeProfile:
		if !strings.HasPrefix(res, "arn:") {
			id = "arn:" + part + ":iam::" + account + ":instance-profile/" + res
		}
	case checks.TypeRegion:
		if res == "" || res == region {
			id = "AWS::::Account:" + account + "/" + region
		}
	}
	if id == "" {
		id = "AWS::::Account:" + account
	}
	return types.Resource{
		Type:      aws.String(typ),
		Id:        aws.String(capRunes(id, asffMaxResourceID)),
		Region:    aws.String(region),
		Partition: types.Partition(part),
	}
}

// asffRemediation is the operator's next step for f, from its remediation
// or, failing that, the catalogue's.
func asffRemediation(f *checks.Finding) string {
	r := f.Remediation
	if r == nil {
		if c := checks.Lookup(f.Check); c != nil {
			r = &c.Remediation
		}
	}
	if r == nil {
		return ""
	}
	var parts []string
	if r.Manual != "" {
		parts = append(parts, r.Manual)
	}
	if r.ID != "" {
		s := "fleetdoctor remediation " + r.ID
		if r.Automatic {
			s = "Automatic fix: " + s
		}
		if r.Document != "" {
			s += " (SSM document " + r.Document + ")"
		}
		parts = append(parts, s+".")
	}
	return cutWords(asffText(strings.Join(parts, " "), 0), asffMaxRecText)
}

// partition is the AWS partition a region belongs to.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}

// asffText makes untrusted text inert (TerminalSafe) and caps it at max
// runes (0: no cap).
func asffText(s string, max int) string {
	return TerminalSafe(s, max)
}

// cutWords shortens s to at most max runes, cutting at the last space in
// the final fifth when there is one and marking the cut with "…".
func cutWords(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	cut, n := len(s), 0
	for i := range s {
		if n == max-1 {
			cut = i
			break
		}
		n++
	}
	head := s[:cut]
	if sp := strings.LastIndexByte(head, ' '); sp > 0 && utf8.RuneCountInString(head[sp:]) <= max/5 {
		head = strings.TrimRight(head[:sp], " ")
	}
	return head + "…"
}
