package sandbox

import (
	"fmt"
	"time"
)

// FaultKind is what an injected fault does.
type FaultKind string

// Fault kinds.
const (
	// FaultServerError answers the service's 5xx internal error.
	FaultServerError FaultKind = "5xx"
	// FaultTimeout holds the request for Delay, then drops the connection
	// without an answer.
	FaultTimeout FaultKind = "timeout"
	// FaultAccessDenied answers the service's access-denied error.
	FaultAccessDenied FaultKind = "access-denied"
	// FaultThrottle answers the service's throttling error.
	FaultThrottle FaultKind = "throttle"
)

// Fault injects failures into matching requests. Empty match fields match
// everything; Rate 0 (or 1) fails every match, otherwise that share of
// matches fails. A role that cannot be assumed is
// Fault{Service: "sts", Op: "AssumeRole", Account: "...", Role: "...", Kind: FaultAccessDenied}.
type Fault struct {
	Service string    `json:"service,omitempty" yaml:"service,omitempty"` // ec2, ssm, iam, sts, monitoring, sns, s3
	Op      string    `json:"op,omitempty" yaml:"op,omitempty"`
	Account string    `json:"account,omitempty" yaml:"account,omitempty"` // the account acted in (for AssumeRole: the target)
	Region  string    `json:"region,omitempty" yaml:"region,omitempty"`
	Role    string    `json:"role,omitempty" yaml:"role,omitempty"` // AssumeRole target role name
	Rate    float64   `json:"rate,omitempty" yaml:"rate,omitempty"`
	Kind    FaultKind `json:"kind" yaml:"kind"`
	// Delay is how long a timeout fault holds the request (default 30 s).
	Delay time.Duration `json:"delay,omitempty" yaml:"delay,omitempty"`
}

func (f Fault) validate() error {
	switch f.Kind {
	case FaultServerError, FaultTimeout, FaultAccessDenied, FaultThrottle:
	default:
		return fmt.Errorf("kind %q: want one of 5xx, timeout, access-denied, throttle", f.Kind)
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("rate %v: want 0..1", f.Rate)
	}
	if f.Role != "" && (f.Service != "sts" || f.Op != "AssumeRole") {
		return fmt.Errorf("role %q: only meaningful with service sts, op AssumeRole", f.Role)
	}
	return nil
}

type faulter struct {
	rules []Fault
	rand  func() float64
}

// match returns the first fault that fires for the request.
func (f *faulter) match(service, op, account, region, role string) (Fault, bool) {
	for _, r := range f.rules {
		if (r.Service != "" && r.Service != service) || (r.Op != "" && r.Op != op) ||
			(r.Account != "" && r.Account != account) || (r.Region != "" && r.Region != region) ||
			(r.Role != "" && r.Role != role) {
			continue
		}
		if r.Rate > 0 && r.Rate < 1 && f.rand() >= r.Rate {
			continue
		}
		return r, true
	}
	return Fault{}, false
}
