package sandbox

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bucket is a token bucket: Burst tokens, refilled at Rate per second.
type Bucket struct {
	Burst int     `json:"burst" yaml:"burst"`
	Rate  float64 `json:"rate" yaml:"rate"`
}

// Limits maps bucket names to buckets. A request draws from the first of
// these that exists: "service:Operation", then the service's class bucket
// (EC2: "ec2:unfiltered" for DescribeInstances without filters or paging,
// "ec2:non-mutating", "ec2:mutating"), then "service:*". A request with no
// bucket is never throttled. Buckets are per account and region (IAM and
// STS: per account), as AWS meters them.
type Limits map[string]Bucket

// DefaultLimits are the published numbers where AWS publishes them (EC2
// API request throttling; SSM StartAutomationExecution and
// Get/DescribeAutomationExecution; CloudWatch GetMetricData; STS) and
// stated assumptions where it does not (IAM's control plane, SSM's other
// APIs, SNS): change them with sandbox options when measuring.
func DefaultLimits() Limits {
	return Limits{
		// EC2 (docs: "Request throttling for the Amazon EC2 API").
		"ec2:non-mutating":                   {Burst: 100, Rate: 20},
		"ec2:unfiltered":                     {Burst: 50, Rate: 10},
		"ec2:mutating":                       {Burst: 50, Rate: 5},
		"ec2:ModifyInstanceMetadataOptions":  {Burst: 100, Rate: 5},
		"ec2:AssociateIamInstanceProfile":    {Burst: 100, Rate: 5},
		"ec2:ModifyInstanceMetadataDefaults": {Burst: 2, Rate: 2},
		// SSM (published: automation; assumed: the rest).
		"ssm:StartAutomationExecution":     {Burst: 1, Rate: 1},
		"ssm:GetAutomationExecution":       {Burst: 3, Rate: 3},
		"ssm:DescribeAutomationExecutions": {Burst: 3, Rate: 3},
		"ssm:*":                            {Burst: 40, Rate: 20},
		// IAM: one global control plane with low unpublished limits (assumed).
		"iam:*": {Burst: 20, Rate: 10},
		// STS AssumeRole: 600 requests per second per account.
		"sts:*": {Burst: 600, Rate: 600},
		// CloudWatch GetMetricData: 50 TPS.
		"monitoring:GetMetricData": {Burst: 50, Rate: 50},
		"monitoring:*":             {Burst: 150, Rate: 150},
		// SNS Publish (assumed; the published quota is far higher per region).
		"sns:*": {Burst: 300, Rate: 300},
	}
}

// Lookup returns the bucket name a request draws from, or "".
func (l Limits) Lookup(service, op, class string) string {
	for _, k := range []string{service + ":" + op, class, service + ":*"} {
		if k == "" {
			continue
		}
		if _, ok := l[k]; ok {
			return k
		}
	}
	return ""
}

// limiter holds the live buckets.
type limiter struct {
	limits Limits
	mu     sync.Mutex
	live   map[string]*rate.Limiter
}

func newLimiter(l Limits) *limiter { return &limiter{limits: l, live: map[string]*rate.Limiter{}} }

// allow draws one token for (scope, bucket); scope is "account/region".
func (l *limiter) allow(scope, bucket string, now time.Time) bool {
	if bucket == "" {
		return true
	}
	b := l.limits[bucket]
	key := scope + "|" + bucket
	l.mu.Lock()
	lim, ok := l.live[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(b.Rate), b.Burst)
		l.live[key] = lim
	}
	l.mu.Unlock()
	return lim.AllowN(now, 1)
}

// LowerBound is the least time the buckets allow for calls requests of one
// bucket in one scope: the burst is free, the rest come at Rate.
func (b Bucket) LowerBound(calls int) time.Duration {
	if calls <= b.Burst || b.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(calls-b.Burst) / b.Rate * float64(time.Second))
}

// Latency is the latency model: every request waits Fixed plus a uniform
// random share of Jitter.
type Latency struct {
	Fixed  time.Duration `json:"fixed" yaml:"fixed"`
	Jitter time.Duration `json:"jitter" yaml:"jitter"`
}

func (s *Sandbox) wait(ctx context.Context) {
	d := s.opts.Latency.Fixed
	if j := s.opts.Latency.Jitter; j > 0 {
		d += time.Duration(s.float() * float64(j))
	}
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
