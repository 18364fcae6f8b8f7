package report

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
)

// SNS limits (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html):
// a message is at most 256 KiB, a subject at most 100 printable ASCII
// characters without line breaks, and a message carries at most 10
// attributes.
const (
	SNSMaxMessage    = 256 * 1024
	SNSMaxSubject    = 100
	SNSMaxAttributes = 10
)

// snsBodyBudget leaves room under SNSMaxMessage for the truncation note:
// the body is cut at a line well before the limit.
const snsBodyBudget = SNSMaxMessage - 4*1024

// SNSMessage is a notification for an SNS topic: an email-friendly
// subject and plain-text body, and message attributes for subscription
// filter policies. Attribute values that parse as numbers are published
// with the Number data type, the others as String.
type SNSMessage struct {
	Subject    string
	Body       string
	Attributes map[string]string
}

// SNS message attribute names, for subscription filter policies such as
// {"critical": [{"numeric": [">", 0]}], "dryRun": ["false"]}.
const (
	// SNSAttrMode is the run's mode (audit, diagnose or remediate).
	SNSAttrMode = "mode"
	// SNSAttrDryRun is "true" or "false".
	SNSAttrDryRun = "dryRun"
	// SNSAttrHealth is the fleet's health percentage (Number).
	SNSAttrHealth = "health"
	// SNSAttrNew and SNSAttrResolved count the changes since the previous
	// run (Number; absent without one).
	SNSAttrNew      = "new"
	SNSAttrResolved = "resolved"
)

// SNSMessageFor builds the SNS notification for a run. The subject says
// the health and failing instances in printable ASCII; the body is the
// run's table (see Table: untrusted text escaped and capped) with the
// report link, the changes and the remediation outcome, cut at a line
// boundary with a note pointing to the full report when it would exceed
// SNSMaxMessage. The attributes are the FAIL and ERROR findings per
// severity (one Number attribute per severity, named after it), mode,
// dryRun, health, and new and resolved when the run was compared.
func SNSMessageFor(in NotifyInput) SNSMessage {
	run := in.Run
	if run == nil {
		run = &audit.Run{}
	}
	s := &run.Summary
	m := SNSMessage{Attributes: map[string]string{}}

	// Subject: numbers and fixed words only, then made ASCII-safe anyway.
	subj := "fleetdoctor: "
	switch {
	case s.Instances == 0:
		subj += "no instances to judge"
	case s.FailingInstances == 0:
		subj += healthPercent(s.Health, s.Instances, 0) + "% healthy, none failing"
	default:
		subj += fmt.Sprintf("%s%% healthy, %s failing", healthPercent(s.Health, s.Instances, s.FailingInstances), plural(s.FailingInstances, "instance"))
		if n := s.FailingInstancesBySeverity[checks.Critical]; n > 0 {
			subj += fmt.Sprintf(" (%s critical)", thousands(n))
		}
	}
	if run.Changes != nil {
		subj += fmt.Sprintf(", %s new", thousands(len(run.Changes.New)))
	}
	if in.DryRun {
		subj += " [dry run]"
	}
	m.Subject = asciiSubject(subj)

	// Body.
	var head bytes.Buffer
	fmt.Fprintf(&head, "fleetdoctor run %s", TerminalSafe(run.Run.ID, maxCell))
	if in.Mode != "" {
		fmt.Fprintf(&head, " (mode %s", TerminalSafe(in.Mode, maxCell))
		if in.DryRun {
			head.WriteString(", dry run")
		}
		head.WriteString(")")
	} else if in.DryRun {
		head.WriteString(" (dry run)")
	}
	head.WriteString("\n")
	if !run.Run.StartedAt.IsZero() {
		fmt.Fprintf(&head, "Started %s\n", run.Run.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	link, linked := plainLink(in.ReportURL)
	if linked {
		fmt.Fprintf(&head, "Full report: %s\n", link)
	}
	if o := in.Remediation; o != nil {
		fmt.Fprintf(&head, "Remediation: %s planned, %s applied, %s failed, %s rolled back, %s skipped",
			thousands(o.Planned), thousands(o.Applied), thousands(o.Failed), thousands(o.RolledBack), thousands(o.Skipped))
		if in.DryRun {
			head.WriteString(" (dry run: nothing was changed)")
		}
		head.WriteString("\n")
	}
	head.WriteString("\n")
	var table bytes.Buffer
	_ = Table(&table, run, TableOptions{}) // a bytes.Buffer does not fail
	m.Body = head.String() + capLines(table.String(), snsBodyBudget-head.Len(), link)

	// Attributes.
	for _, sev := range checks.Severities {
		m.Attributes[string(sev)] = strconv.Itoa(s.BySeverity[sev])
	}
	mode := in.Mode
	if mode == "" {
		mode = "audit"
	}
	m.Attributes[SNSAttrMode] = asciiSubject(capRunes(mode, maxCell))
	m.Attributes[SNSAttrDryRun] = strconv.FormatBool(in.DryRun)
	m.Attributes[SNSAttrHealth] = strconv.FormatFloat(s.Health, 'f', 1, 64)
	if run.Changes != nil {
		m.Attributes[SNSAttrNew] = strconv.Itoa(len(run.Changes.New))
		m.Attributes[SNSAttrResolved] = strconv.Itoa(len(run.Changes.Resolved))
	}
	return m
}

// capLines returns text when it fits in max bytes, else its first lines
// that do, followed by a note counting the lines left out and pointing
// to link (when there is one).
func capLines(text string, max int, link string) string {
	if len(text) <= max {
		return text
	}
	cut := strings.LastIndexByte(text[:max], '\n') + 1
	kept := text[:cut]
	more := strings.Count(text[cut:], "\n")
	if !strings.HasSuffix(text, "\n") {
		more++
	}
	note := fmt.Sprintf("… and %s more lines", thousands(more))
	if link != "" {
		note += ": see the full report at " + link
	} else {
		note += ": see the full report"
	}
	return kept + note + "\n"
}

// asciiSubject makes s a valid SNS subject: printable ASCII only (other
// characters become '?', "×" and "…" are spelled out), no line breaks,
// at most SNSMaxSubject characters.
func asciiSubject(s string) string {
	s = strings.NewReplacer("×", "x", "…", "...", "—", "-").Replace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		default:
			b.WriteByte('?')
		}
	}
	out := b.String()
	if len(out) > SNSMaxSubject {
		out = out[:SNSMaxSubject-3]
		if sp := strings.LastIndexByte(out, ' '); sp > SNSMaxSubject/2 {
			out = out[:sp]
		}
		out += "..."
	}
	return out
}

// plainLink returns raw, re-encoded, when it is an http(s) URL fit to
// print on a line of a plain-text email (at most 8 KiB), else "".
func plainLink(raw string) (string, bool) {
	u, ok := httpURL(raw, 8*1024)
	if !ok {
		return "", false
	}
	s := strings.NewReplacer(" ", "%20", "<", "%3C", ">", "%3E").Replace(u.String())
	if !isPlain(s) {
		return "", false
	}
	return s, true
}
