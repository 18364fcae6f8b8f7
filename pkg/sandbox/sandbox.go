// Package sandbox is fleetdoctor's embedded AWS: an HTTP server on loopback
// that the real AWS SDK clients (and the AWS CLI) talk to exactly as they
// talk to AWS — EC2 query XML, IAM/STS/SNS query XML, SSM JSON 1.1,
// CloudWatch RPC v2 CBOR (and query), S3, Security Hub REST-JSON
// (BatchImportFindings only) — serving a world built from a
// scenario (pkg/sandbox/scenario). It models multi-account access through
// sts:AssumeRole, the published API rate limits as token buckets, a latency
// model, fault injection, Run Command against modelled hosts
// (pkg/sandbox/host) and SSM Automation running fleetdoctor's own runbooks
// (pkg/sandbox/automation). Counters per API are kept in process and served
// at /_sandbox/stats.
//
// The API-side model is pkg/fake's Fleet, which already answers every read
// the collectors make with AWS's paging and filters; this package puts it
// on the wire and adds what only a server has. Handlers that change the
// model replace objects instead of mutating them in place (copy on write),
// because responses are encoded after the model's lock is released.
package sandbox

import (
	"github.com/fleetdoctor/fleetdoctor/internal/wait"

	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/automation"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// The base credentials: requests signed with this access key act as the
// world's caller account (the hub). They are printed by `sandbox serve`.
const (
	AccessKeyID     = "AKIAFLEETDOCTORSBX01"
	SecretAccessKey = "fleetdoctor-sandbox-secret-not-a-real-key"
	// CallerUser is the IAM user the base credentials belong to.
	CallerUser = "sandbox-operator"
)

// Options configures a Sandbox.
type Options struct {
	// World is what the sandbox serves (scenario.Load builds one).
	World *scenario.World
	// Limits are the token buckets; nil means no throttling. DefaultLimits
	// returns the published numbers.
	Limits Limits
	// Latency is added to every request.
	Latency Latency
	// Faults are injected by rule or rate.
	Faults []Fault
	// Seed drives jitter and fault rates (0 = 1).
	Seed uint64
	// Runner runs documents on hosts; nil answers from the model.
	Runner host.Runner
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// AutomationClock runs Automation sleeps and waits; nil is real time.
	AutomationClock automation.Clock
	// Documents are SSM documents (YAML) by name, served besides
	// fleetdoctor's own from documents/ (tests use them to run a runbook
	// with a deliberate mistake).
	Documents map[string][]byte
	// MetadataApplyDelay is how long modified metadata options stay
	// "pending" before they read "applied".
	MetadataApplyDelay time.Duration
}

// Sandbox is a running (or runnable) embedded AWS.
type Sandbox struct {
	opts  Options
	world *scenario.World
	fleet *fake.Fleet
	prov  *fake.Provider
	now   func() time.Time

	// mu guards the model: handlers that read take RLock, handlers that
	// change it take Lock.
	mu sync.RWMutex

	handlers map[string]map[string]handler // service → operation
	keys     *keyring
	stats    *Stats
	limiter  *limiter
	faults   *faulter

	rngMu sync.Mutex
	rng   *rand.Rand

	regionsMu  sync.Mutex
	regions    map[string]*regionState // "account/region"
	topics     *topics
	hub        securityHub
	s3backend  *s3mem.Backend
	s3handler  http.Handler
	server     *http.Server
	listener   net.Listener
	serveErr   chan error
	reqCounter uint64
}

// New builds a sandbox over opts.World.
func New(opts Options) (*Sandbox, error) {
	if opts.World == nil || opts.World.Fleet == nil {
		return nil, errors.New("sandbox: Options.World is required (scenario.Load builds one)")
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Runner == nil {
		opts.Runner = host.ModelRunner{}
	}
	if opts.AutomationClock == nil {
		opts.AutomationClock = realClock{}
	}
	for i, f := range opts.Faults {
		if err := f.validate(); err != nil {
			return nil, fmt.Errorf("sandbox: Faults[%d]: %w", i, err)
		}
	}
	s := &Sandbox{
		opts:    opts,
		world:   opts.World,
		fleet:   opts.World.Fleet,
		prov:    opts.World.Fleet.Provider(),
		now:     opts.Now,
		keys:    newKeyring(opts.World.CallerAccount),
		stats:   newStats(),
		limiter: newLimiter(opts.Limits),
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		regions: map[string]*regionState{},
		topics:  newTopics(),
	}
	s.faults = &faulter{rules: opts.Faults, rand: s.float}
	s.s3backend = s3mem.New()
	s.s3handler = gofakes3.New(s.s3backend, gofakes3.WithAutoBucket(false)).Server()
	s.handlers = s.routes()
	return s, nil
}

// Start serves on addr ("127.0.0.1:0" picks a free port). Only loopback
// addresses are accepted: the sandbox holds credentials-free access to a
// whole modelled organisation and is not meant to be reachable.
func (s *Sandbox) Start(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sandbox: --addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("sandbox: --addr %q: the sandbox only listens on loopback (127.0.0.1 or ::1)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listening on %s: %w", addr, err)
	}
	s.listener = ln
	s.server = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.server.Serve(ln) }()
	return nil
}

// URL is the endpoint to give SDK clients (AWS_ENDPOINT_URL).
func (s *Sandbox) URL() string {
	if s.listener == nil {
		return ""
	}
	return "http://" + s.listener.Addr().String()
}

// Close stops the server.
func (s *Sandbox) Close() error {
	if s.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.server.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.server.Close()
	}
	s.regionsMu.Lock()
	for _, r := range s.regions {
		r.close()
	}
	s.regionsMu.Unlock()
	return err
}

// World is the world the sandbox serves.
func (s *Sandbox) World() *scenario.World { return s.world }

// Stats returns the counters per API.
func (s *Sandbox) Stats() map[string]APIStats { return s.stats.snapshot() }

// ResetStats zeroes the counters.
func (s *Sandbox) ResetStats() { s.stats.reset() }

// Credentials are the base (caller account) credentials.
func (s *Sandbox) Credentials() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey, Source: "fleetdoctor sandbox"}, nil
	})
}

// Config is an aws.Config for SDK clients of this sandbox in region, with
// the base credentials and the given retry budget (0 = the SDK default).
func (s *Sandbox) Config(region string, maxAttempts int) aws.Config {
	cfg := aws.Config{
		Region:           region,
		Credentials:      s.Credentials(),
		BaseEndpoint:     aws.String(s.URL()),
		RetryMaxAttempts: maxAttempts,
		RetryMode:        aws.RetryModeStandard,
		HTTPClient:       &http.Client{Transport: awsapi.HideBodyWriteTo(http.DefaultTransport)},
	}
	return cfg
}

// Provider returns an awsapi provider that audits this sandbox over HTTP
// with the real SDK clients, assuming the world's audit role in each
// account, with the SDK's adaptive retries.
func (s *Sandbox) Provider(region string) *awsapi.AWSProvider {
	cfg := s.Config(region, awsapi.DefaultMaxAttempts)
	cfg.RetryMode = aws.RetryModeAdaptive
	return awsapi.NewProviderFromConfig(cfg, awsapi.Options{RoleName: s.world.AuditRole})
}

// Env returns the environment that points any AWS client at the sandbox.
func (s *Sandbox) Env(region string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL(),
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
	}
}

// float is a seeded random number in [0,1).
func (s *Sandbox) float() float64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64()
}

type realClock struct{}

func (realClock) Now() time.Time                                   { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error { return wait.Sleep(ctx, d) }
