// Package remediate fixes drift behind guard rails: the planner turns
// findings and a policy into a Plan; the executor applies a plan in waves
// through SSM Automation and Run Command, writing every change to a
// journal before making it; rollback restores the journal's before-values.
package remediate

import "time"

// Plan is what a run would change, and why it leaves the rest alone.
type Plan struct {
	RunID     string    `json:"runId"`
	CreatedAt time.Time `json:"createdAt"`
	// Batches are the changes grouped per account-region and remediation,
	// at most MaxBatch instances each, in the order they run.
	Batches []Batch `json:"batches"`
	// Skips say, for every failing finding with a remediation that the plan
	// does not change, why not.
	Skips []Skip `json:"skips"`
	// Notes are findings about the policy itself: expired exemptions,
	// malformed exemption tags (honoured until fixed).
	Notes []Note `json:"notes,omitempty"`
}

// MaxBatch is the most instances one Automation execution or SendCommand
// call takes (the runbooks' InstanceIds maxItems; SendCommand allows 50,
// host batches use HostBatch).
const (
	MaxBatch  = 100
	HostBatch = 50
)

// Batch is one runbook execution (or one SendCommand) worth of changes.
type Batch struct {
	Account     string `json:"account"`
	Region      string `json:"region"`
	Remediation string `json:"remediation"`
	// Document is the runbook or Command document that makes the change.
	Document string `json:"document"`
	// Params are the document's parameters, InstanceIds excluded (the
	// executor fills those per wave).
	Params  map[string][]string `json:"params"`
	Changes []Change            `json:"changes"`
}

// Change is one resource's intended change.
type Change struct {
	// ID is stable across reruns of the same plan:
	// RUN|account|region|resource|remediation.
	ID       string `json:"id"`
	Resource string `json:"resource"` // instance id, or "account" for account-level settings
	// Before and After are the values the change reads and writes, by
	// field (HttpTokens, HttpPutResponseHopLimit, HttpEndpoint,
	// InstanceProfileName, DHMCRole, ...).
	Before map[string]string `json:"before"`
	After  map[string]string `json:"after"`
	Reason string            `json:"reason"`
}

// Skip is a finding the plan leaves alone, with the reason.
type Skip struct {
	Account     string `json:"account"`
	Region      string `json:"region"`
	Resource    string `json:"resource"`
	Remediation string `json:"remediation"`
	Check       string `json:"check"`
	Reason      string `json:"reason"`
}

// Note is something the operator should fix in the policy or the tags.
type Note struct {
	Account  string `json:"account"`
	Region   string `json:"region"`
	Resource string `json:"resource"`
	// Kind is "exemption_expired" or "exemption_malformed".
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Changes counts the plan's changes.
func (p *Plan) Changes() int {
	n := 0
	for _, b := range p.Batches {
		n += len(b.Changes)
	}
	return n
}
