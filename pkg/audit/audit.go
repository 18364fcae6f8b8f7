package audit

import (
	"context"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Options says what to audit and how.
type Options struct {
	// Accounts to audit; empty means the caller's own account.
	Accounts []string
	// Regions to audit in every account; required.
	Regions []string
	// RoleName is recorded in the run's scope (the provider assumes it).
	RoleName string
	// Concurrency bounds how many account-regions are collected at once.
	Concurrency int
	// MetricWindow is how far back CloudWatch IMDS metrics are summed.
	MetricWindow time.Duration
	// Checks is the check policy (and the optional subset of checks).
	Checks checks.Config
	// Progress, when set, is told as each account-region finishes.
	Progress inventory.Progress
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// RunID names the run; empty means one derived from the start time.
	RunID string
}

// Audit runs one audit. It returns an error only when nothing can be
// audited (bad options, no usable credentials); everything narrower becomes
// an ERROR finding in the run.
func Audit(ctx context.Context, p awsapi.Provider, opts Options) (*Run, error) {
	panic("not yet")
}
