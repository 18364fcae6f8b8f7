package checks

import (
	"fmt"
	"strings"
)

// Status is a finding's outcome.
type Status string

// Finding statuses.
const (
	Pass  Status = "PASS"
	Fail  Status = "FAIL"
	Error Status = "ERROR" // the check could not be evaluated; never a silent pass
	Muted Status = "MUTED" // failing, but the resource is exempt
)

// Severity orders findings by how much they hurt.
type Severity string

// Severities, worst first.
const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	Info     Severity = "info"
)

// Severities lists the valid severities, worst first.
var Severities = []Severity{Critical, High, Medium, Low, Info}

// Rank orders severities: critical is 5, info 1, anything else 0.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return len(Severities) - i
		}
	}
	return 0
}

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	s := Severity(strings.ToLower(strings.TrimSpace(name)))
	if s.Rank() == 0 {
		return "", fmt.Errorf("unknown severity %q (want one of critical, high, medium, low, info)", name)
	}
	return s, nil
}

// Remediation says how a failing finding gets fixed: by one of fleetdoctor's
// remediations (ID set) or by hand (Manual says what to do and why there is
// no automatic fix).
type Remediation struct {
	// ID names a remediation in DESIGN §5, such as "imds_enable_endpoint".
	ID string `json:"id,omitempty"`
	// Automatic is true when fleetdoctor can apply ID itself (behind its
	// guard rails).
	Automatic bool `json:"automatic"`
	// Document is the SSM document that carries the fix.
	Document string `json:"document,omitempty"`
	// Manual is the operator's next step when there is no automatic fix, and
	// why.
	Manual string `json:"manual,omitempty"`
}

// Finding is one check's verdict on one resource: the element of the run
// document and of the CLI's JSON output (DESIGN §3).
type Finding struct {
	Check        string         `json:"check"`
	Status       Status         `json:"status"`
	Severity     Severity       `json:"severity"`
	Account      string         `json:"account"`
	Region       string         `json:"region"`
	ResourceType string         `json:"resourceType"`
	Resource     string         `json:"resource"`
	Detail       string         `json:"detail"`
	Evidence     map[string]any `json:"evidence,omitempty"`
	Remediation  *Remediation   `json:"remediation,omitempty"`
}

// Key identifies a finding across runs: the same problem on the same
// resource has the same key.
func (f *Finding) Key() string {
	return f.Check + "|" + f.Account + "|" + f.Region + "|" + f.Resource
}
