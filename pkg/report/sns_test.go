package report

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// snsText renders m for a golden file.
func snsText(m SNSMessage) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Subject: %s\n", m.Subject)
	for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
		fmt.Fprintf(&b, "Attribute %s: %s\n", k, m.Attributes[k])
	}
	b.WriteString("\n" + m.Body)
	return b.Bytes()
}

func checkSNSLimits(t *testing.T, m SNSMessage) {
	t.Helper()
	if len(m.Subject) == 0 || len(m.Subject) > SNSMaxSubject {
		t.Errorf("subject of %d bytes: %q", len(m.Subject), m.Subject)
	}
	for i := 0; i < len(m.Subject); i++ {
		if c := m.Subject[i]; c < 0x20 || c >= 0x7f {
			t.Errorf("subject byte %#x is not printable ASCII: %q", c, m.Subject)
		}
	}
	if len(m.Body) == 0 || len(m.Body) >= SNSMaxMessage {
		t.Errorf("body of %d bytes (limit %d)", len(m.Body), SNSMaxMessage)
	}
	if len(m.Attributes) > SNSMaxAttributes {
		t.Errorf("%d attributes (limit %d)", len(m.Attributes), SNSMaxAttributes)
	}
}

func TestSNSGolden(t *testing.T) {
	cases := map[string]NotifyInput{
		"sample":  {Run: sampleRun(), Mode: "audit"},
		"empty":   {Run: emptyRun()},
		"changes": {Run: changedRun(), Mode: "remediate", DryRun: true, ReportURL: testReportURL, Remediation: &Outcome{Planned: 3, Applied: 2, Failed: 1}},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			m := SNSMessageFor(in)
			checkSNSLimits(t, m)
			golden(t, name+".sns.golden", snsText(m))
		})
	}
}

func TestSNSAttributes(t *testing.T) {
	run := changedRun()
	m := SNSMessageFor(NotifyInput{Run: run, Mode: "remediate", DryRun: true})
	for _, sev := range checks.Severities {
		if got, want := m.Attributes[string(sev)], strconv.Itoa(run.Summary.BySeverity[sev]); got != want {
			t.Errorf("attribute %s = %q, want %q", sev, got, want)
		}
	}
	want := map[string]string{
		SNSAttrMode: "remediate", SNSAttrDryRun: "true", SNSAttrHealth: strconv.FormatFloat(run.Summary.Health, 'f', 1, 64),
		SNSAttrNew: strconv.Itoa(len(run.Changes.New)), SNSAttrResolved: strconv.Itoa(len(run.Changes.Resolved)),
	}
	for k, v := range want {
		if m.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
		}
	}
	if !strings.Contains(m.Subject, "[dry run]") {
		t.Errorf("subject %q does not say dry run", m.Subject)
	}
}

func TestSNSHostileAndHuge(t *testing.T) {
	run := injectionRun()
	m := SNSMessageFor(NotifyInput{Run: run, Mode: "audit\r\nBcc: x@evil.example", ReportURL: testReportURL})
	checkSNSLimits(t, m)
	if strings.ContainsAny(m.Body, "\x1b\u202e") || strings.Contains(m.Body, strings.Repeat("A", 200)) {
		t.Error("the body carries raw control characters or an uncapped string")
	}
	if strings.ContainsAny(m.Attributes[SNSAttrMode], "\r\n") {
		t.Errorf("mode attribute %q has a line break", m.Attributes[SNSAttrMode])
	}

	// Thousands of checks with long names: far more than 256 KiB of table.
	big := emptyRun()
	for i := range 3000 {
		big.Findings = append(big.Findings, fail(fmt.Sprintf("check_%04d", i), checks.High, acctA, "eu-west-1",
			checks.TypeInstance, fmt.Sprintf("%0120d", i), "d"))
	}
	big.Summary.FailingInstances, big.Summary.Instances = 3000, 3000
	m = SNSMessageFor(NotifyInput{Run: big, ReportURL: testReportURL})
	checkSNSLimits(t, m)
	if !strings.Contains(m.Body, "more lines: see the full report at https://reports.example.com/") {
		t.Errorf("the cut body does not point to the report:\n%s", m.Body[len(m.Body)-300:])
	}
	if !strings.Contains(m.Body, "check_0000") {
		t.Error("the body lost its first rows")
	}
}

func TestASCIISubject(t *testing.T) {
	cases := map[string]string{
		"plain":                     "plain",
		"a\r\nb":                    "a  b",
		"é×…":                       "?x...",
		strings.Repeat("word ", 40): strings.Repeat("word ", 18) + "word...",
	}
	for in, want := range cases {
		if got := asciiSubject(in); got != want {
			t.Errorf("asciiSubject(%q) = %q, want %q", in, got, want)
		}
	}
}
