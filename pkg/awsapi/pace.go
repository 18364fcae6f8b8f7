package awsapi

import (
	"context"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Pace is a client-side token bucket: Burst requests at once, then Rate
// requests per second.
type Pace struct {
	Rate  float64
	Burst int
}

// Paces maps bucket names to client-side paces. A request waits on the
// first of "service:Operation", its EC2 class ("ec2:non-mutating",
// "ec2:mutating") and "service:*" that exists; services are named by their
// signing names (ec2, ssm, iam, monitoring, sts). Paces apply per account
// and region, IAM's and STS's per account (they are global), as AWS meters
// its buckets.
type Paces map[string]Pace

// DefaultPaces keep a fleet audit under the buckets AWS meters it against
// instead of spending them and then backing off: after one throttling error
// the SDK's retryer waits about a second, which on a chain of paged calls
// costs more than pacing does. Each pace spends the published refill rate
// but only part of the burst, so that jitter between client and server
// and other callers in the account keep some headroom.
//
//   - EC2 non-mutating: published 100 burst / 20 per s; mutating actions
//     ModifyInstanceMetadataOptions and AssociateIamInstanceProfile 100 / 5.
//   - CloudWatch GetMetricData: published 50 per s.
//   - SSM StartAutomationExecution 1 per s, GetAutomationExecution 3 per s
//     (published).
//   - SSM, IAM: unpublished; 20 per s (SSM, per account-region) and 10 per
//     s (IAM, per account) are the assumptions the sandbox models too.
func DefaultPaces() Paces {
	return Paces{
		"ec2:non-mutating":                  {Rate: 20, Burst: 50},
		"ec2:mutating":                      {Rate: 5, Burst: 25},
		"ec2:ModifyInstanceMetadataOptions": {Rate: 5, Burst: 50},
		"ec2:AssociateIamInstanceProfile":   {Rate: 5, Burst: 50},
		"ssm:*":                             {Rate: 20, Burst: 30},
		"ssm:StartAutomationExecution":      {Rate: 1, Burst: 1},
		"ssm:GetAutomationExecution":        {Rate: 3, Burst: 3},
		"iam:*":                             {Rate: 10, Burst: 15},
		"monitoring:GetMetricData":          {Rate: 50, Burst: 25},
	}
}

// signingNames maps the SDK's service ids to signing names.
var signingNames = map[string]string{"EC2": "ec2", "SSM": "ssm", "IAM": "iam", "CloudWatch": "monitoring", "STS": "sts", "SNS": "sns", "S3": "s3"}

// pacer holds the live client-side buckets of one provider.
type pacer struct {
	paces Paces
	mu    sync.Mutex
	live  map[string]*rate.Limiter
}

func newPacer(p Paces) *pacer { return &pacer{paces: p, live: map[string]*rate.Limiter{}} }

// bucket returns the pace name a request of service and operation waits on.
func (p *pacer) bucket(service, op string) string {
	class := ""
	if service == "ec2" {
		class = "ec2:mutating"
		if strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "Get") {
			class = "ec2:non-mutating"
		}
	}
	for _, k := range []string{service + ":" + op, class, service + ":*"} {
		if _, ok := p.paces[k]; k != "" && ok {
			return k
		}
	}
	return ""
}

// limiter returns the live bucket for name in scope.
func (p *pacer) limiter(scope, name string) *rate.Limiter {
	key := scope + "|" + name
	p.mu.Lock()
	defer p.mu.Unlock()
	lim, ok := p.live[key]
	if !ok {
		pc := p.paces[name]
		lim = rate.NewLimiter(rate.Limit(pc.Rate), max(1, pc.Burst))
		p.live[key] = lim
	}
	return lim
}

// wait blocks until a request of the context's operation may be sent from
// account in region.
func (p *pacer) wait(ctx context.Context, account, region string) error {
	service := signingNames[awsmiddleware.GetServiceID(ctx)]
	name := p.bucket(service, awsmiddleware.GetOperationName(ctx))
	if name == "" {
		return nil
	}
	scope := account + "/" + region
	if service == "iam" || service == "sts" {
		scope = account
	}
	return p.limiter(scope, name).Wait(ctx)
}

// apiOption adds the pacing step to a client's stack. It sits after the
// retry step, so every attempt, retries included, waits its turn.
func (p *pacer) apiOption(account, region string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		mw := middleware.FinalizeMiddlewareFunc("fleetdoctorPace", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if err := p.wait(ctx, account, region); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, err
			}
			return next.HandleFinalize(ctx, in)
		})
		if _, ok := stack.Finalize.Get("Retry"); ok {
			return stack.Finalize.Insert(mw, "Retry", middleware.After)
		}
		return stack.Finalize.Add(mw, middleware.After)
	}
}

// PaceBucket is the name of the pace in paces that a request of service
// (its signing name) and operation waits on, or "" when none applies.
func PaceBucket(paces Paces, service, op string) string {
	return newPacer(paces).bucket(service, op)
}
