package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// sandboxFlags configure the embedded sandbox, for `sandbox serve`.
type sandboxFlags struct {
	scenario       string
	addr           string
	instances      int
	accountRegions int
	seed           int64
	noThrottle     bool
	latency        time.Duration
	jitter         time.Duration
}

func newSandboxCmd(d deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the embedded AWS sandbox",
		Long: `sandbox runs fleetdoctor's embedded AWS: a server on loopback that answers the
EC2, SSM, IAM, STS, CloudWatch, SNS and S3 APIs fleetdoctor uses, exactly as
AWS answers them, for a fleet built from a scenario. Any AWS client can use
it through the environment that 'sandbox serve' prints.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSandboxServeCmd(d))
	return cmd
}

func newSandboxServeCmd(d deps) *cobra.Command {
	f := &sandboxFlags{scenario: "demo", addr: "127.0.0.1:4566"}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a scenario's fleet on loopback until interrupted",
		Long: `serve builds the scenario's fleet and serves it on --addr (loopback only) until
interrupted. It prints the export lines that point any AWS client at it,
then the role to assume in each account and the scenario's accounts and
regions. Counters per API are at <url>/_sandbox/stats.

The published API rate limits apply (EC2's token buckets, SSM Automation's
1 TPS); --no-throttle turns them off.`,
		Example: `  fleetdoctor sandbox serve --scenario demo --addr 127.0.0.1:4566
  eval "$(fleetdoctor sandbox serve --addr 127.0.0.1:4566 | grep ^export)"   # in another shell, after it started
  aws ec2 describe-instances --max-items 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sb, world, err := f.start(d)
			if err != nil {
				return err
			}
			defer sb.Close()
			region := world.Regions[0]
			for _, kv := range sb.Env(region) {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(d.stdout, "export %s=%s\n", k, v)
			}
			fmt.Fprintf(d.stdout, "# scenario %s: accounts %s, regions %s, audit role %s, caller account %s\n",
				f.scenario, strings.Join(world.Accounts, ","), strings.Join(world.Regions, ","), world.AuditRole, world.CallerAccount)
			fmt.Fprintf(d.stdout, "# fleetdoctor audit --accounts %s --regions %s --role-name %s\n",
				strings.Join(world.Accounts, ","), strings.Join(world.Regions, ","), world.AuditRole)
			fmt.Fprintf(d.stdout, "# stats: %s/_sandbox/stats — serving until interrupted\n", sb.URL())
			<-cmd.Context().Done()
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scenario, "scenario", f.scenario, "built-in scenario ("+strings.Join(scenario.Names(), ", ")+") or a scenario YAML file")
	fl.StringVar(&f.addr, "addr", f.addr, "loopback address to listen on (port 0 picks a free one)")
	fl.IntVar(&f.instances, "instances", 0, "instances to generate (scenarios that scale, like scale; 0 = the scenario's own)")
	fl.IntVar(&f.accountRegions, "account-regions", 0, "account-regions to spread them over (0 = the scenario's own)")
	fl.Int64Var(&f.seed, "seed", 0, "generator seed (0 = the scenario's own)")
	fl.BoolVar(&f.noThrottle, "no-throttle", false, "serve without the published API rate limits")
	fl.DurationVar(&f.latency, "latency", 0, "fixed latency added to every request")
	fl.DurationVar(&f.jitter, "jitter", 0, "random latency (uniform, up to this) added to every request")
	fl.SortFlags = false
	return cmd
}

// start validates the flags, builds the world and starts the server.
func (f *sandboxFlags) start(d deps) (*sandbox.Sandbox, *scenario.World, error) {
	if f.instances < 0 {
		return nil, nil, usageError("--instances: must not be negative, got %d", f.instances)
	}
	if f.accountRegions < 0 {
		return nil, nil, usageError("--account-regions: must not be negative, got %d", f.accountRegions)
	}
	if f.latency < 0 || f.jitter < 0 {
		return nil, nil, usageError("--latency/--jitter: must not be negative")
	}
	world, err := loadScenario(f.scenario, scenario.Params{Instances: f.instances, AccountRegions: f.accountRegions, Seed: f.seed})
	if err != nil {
		return nil, nil, err
	}
	opts := sandbox.Options{World: world, Now: worldClock(world), Latency: sandbox.Latency{Fixed: f.latency, Jitter: f.jitter}}
	if !f.noThrottle {
		opts.Limits = sandbox.DefaultLimits()
	}
	sb, err := sandbox.New(opts)
	if err != nil {
		return nil, nil, usageError("%v", err)
	}
	if err := sb.Start(f.addr); err != nil {
		return nil, nil, usageError("--addr: %v", err)
	}
	return sb, world, nil
}

// loadScenario builds a scenario's world; an unknown name is a usage error
// that lists the built-in scenarios.
func loadScenario(name string, p scenario.Params) (*scenario.World, error) {
	world, err := scenario.Load(name, p)
	if err != nil {
		return nil, usageError("--sandbox/--scenario: %v", err)
	}
	if len(world.Regions) == 0 || len(world.Accounts) == 0 {
		return nil, usageError("--sandbox/--scenario: scenario %q has no accounts or regions", name)
	}
	return world, nil
}

// sandboxProvider starts an in-process sandbox for `audit --sandbox` and
// fills in the scope the scenario defines where the flags did not.
func startAuditSandbox(p *auditPlan) (*sandbox.Sandbox, error) {
	if p.aws.Profile != "" || p.aws.RoleName != "" || p.aws.ExternalID != "" {
		return nil, usageError("--sandbox: cannot be combined with --profile, --role-name or --external-id (the sandbox has its own accounts and audit role)")
	}
	world, err := loadScenario(p.sandbox, scenario.Params{})
	if err != nil {
		return nil, err
	}
	for _, a := range p.opts.Accounts {
		if !slices.Contains(world.Accounts, a) {
			return nil, usageError("--accounts: %s is not an account of sandbox scenario %q (it has %s)", a, p.sandbox, strings.Join(world.Accounts, ", "))
		}
	}
	if len(p.opts.Accounts) == 0 {
		p.opts.Accounts = world.Accounts
	}
	if len(p.opts.Regions) == 0 {
		p.opts.Regions = world.Regions
	}
	p.opts.RoleName = world.AuditRole
	p.opts.Sandbox = p.sandbox
	// The scenario's ages (launch, last ping) count back from its own
	// fixed time, so the audit's clock runs from there too.
	clock := worldClock(world)
	p.opts.Clock = clock
	sb, err := sandbox.New(sandbox.Options{World: world, Limits: sandbox.DefaultLimits(), Now: clock})
	if err != nil {
		return nil, err
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return sb, nil
}

// worldClock is a clock that starts at the world's time and runs in real
// time from there.
func worldClock(w *scenario.World) func() time.Time {
	if w.Now.IsZero() {
		return time.Now
	}
	start := time.Now()
	return func() time.Time { return w.Now.Add(time.Since(start)) }
}
