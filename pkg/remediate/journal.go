package remediate

import (
	"context"
	"time"
)

// Entry kinds, in the order a change writes them.
const (
	// KindIntent is written before a change is made.
	KindIntent = "intent"
	// KindOutcome is written after the change was made and verified (or
	// failed).
	KindOutcome = "outcome"
	// KindRollbackIntent and KindRollbackOutcome journal a rollback.
	KindRollbackIntent  = "rollback-intent"
	KindRollbackOutcome = "rollback-outcome"
)

// Outcomes of a change.
const (
	OutcomeApplied    = "applied"    // made and verified
	OutcomeFailed     = "failed"     // the runbook or command failed for this resource
	OutcomeUnverified = "unverified" // made, but verification timed out
	OutcomeSkipped    = "skipped"    // the resource already had the after-value on resume
)

// Entry is one line of the append-only journal.
type Entry struct {
	RunID       string            `json:"runId"`
	Seq         int               `json:"seq"`
	Time        time.Time         `json:"time"`
	Kind        string            `json:"kind"`
	ChangeID    string            `json:"changeId"`
	Account     string            `json:"account"`
	Region      string            `json:"region"`
	Resource    string            `json:"resource"`
	Remediation string            `json:"remediation"`
	Before      map[string]string `json:"before,omitempty"`
	After       map[string]string `json:"after,omitempty"`
	// Outcome is set on outcome entries.
	Outcome string `json:"outcome,omitempty"`
	// ExecutionID is the Automation execution or command id that made the
	// change.
	ExecutionID string `json:"executionId,omitempty"`
	Error       string `json:"error,omitempty"`
	// Token is the idempotency token (StartAutomationExecution's
	// ClientToken) of the execution an intent belongs to: a resumed run
	// sends the same token with the same instance ids, so SSM answers with
	// the execution that may already have started instead of a second one.
	Token string `json:"token,omitempty"`
}

// Journal is an append-only record of changes. Append must be durable
// before it returns: the executor makes a change only after its intent was
// appended. Entries returns a run's entries in Seq order.
type Journal interface {
	Append(ctx context.Context, e Entry) error
	Entries(ctx context.Context, runID string) ([]Entry, error)
}
