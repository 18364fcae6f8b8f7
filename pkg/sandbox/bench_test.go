package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// benchLatency is the latency model of the scale benchmark: every request
// waits 20 ms plus up to 10 ms of uniform jitter (a same-region API call).
var benchLatency = sandbox.Latency{Fixed: 20 * time.Millisecond, Jitter: 10 * time.Millisecond}

// BenchmarkAuditScale audits the `scale` scenario (FD_BENCH_INSTANCES
// instances, default 100,000, over 20 account-regions) through the sandbox
// with the published buckets (DefaultLimits) and benchLatency, with the
// SDK's adaptive retries, collecting all 20 account-regions at once. It
// reports wall time against the lower bound the buckets and latency imply,
// API calls against the minimum, throttled retries and peak memory.
func BenchmarkAuditScale(b *testing.B) {
	n, ars := benchEnv(b, "FD_BENCH_INSTANCES", 100000), benchEnv(b, "FD_BENCH_ACCOUNT_REGIONS", 20)
	for i := 0; i < b.N; i++ {
		world, err := scenario.Load("scale", scenario.Params{Instances: n, AccountRegions: ars})
		if err != nil {
			b.Fatal(err)
		}
		minCalls, chain := minimumCalls(world)
		sb, err := sandbox.New(sandbox.Options{World: world, Limits: benchLimits(), Latency: benchLatency, Now: func() time.Time { return world.Now }})
		if err != nil {
			b.Fatal(err)
		}
		if err := sb.Start("127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		opts := audit.Options{Accounts: world.Accounts, Regions: world.Regions, RoleName: world.AuditRole, Concurrency: 20,
			Checks: checks.DefaultConfig(), Clock: func() time.Time { return world.Now }}
		cpu0 := cpuTime()
		start := time.Now()
		run, err := audit.Audit(context.Background(), sb.Provider(world.Regions[0]), opts)
		wall := time.Since(start)
		cpu := cpuTime() - cpu0
		_ = sb.Close()
		if err != nil {
			b.Fatal(err)
		}
		if len(run.Errors) > 0 {
			b.Fatalf("%d collection errors after retries, first: %+v", len(run.Errors), run.Errors[0])
		}
		stats := sb.Stats()
		total := sandbox.Total(stats)
		bound := lowerBound(stats, world, chain)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "wall/bound")
		// The CPU the process (client, sandbox server and latency model
		// together) spent, and the wall time that CPU implies on this
		// machine's cores: when it exceeds the bound, the run is limited
		// by the machine, not by the buckets.
		floor := cpu / time.Duration(runtime.GOMAXPROCS(0))
		b.ReportMetric(cpu.Seconds(), "cpu-s")
		b.ReportMetric(floor.Seconds(), "cpu-floor-s")
		b.ReportMetric(wall.Seconds()/max(bound, floor).Seconds(), "wall/max(bound,floor)")
		// APIs without a computed minimum answer one resource per call
		// (a VPC's attribute, a profile, a role): their successful calls
		// are their minimum, so only retries count against them.
		for api, s := range stats {
			if _, ok := minCalls[api]; !ok {
				minCalls[api] = s.OK()
			}
		}
		minTotal := 0
		for _, v := range minCalls {
			minTotal += v
		}
		b.ReportMetric(float64(total.Calls), "calls")
		b.ReportMetric(float64(total.Calls)/float64(minTotal), "calls/min")
		b.ReportMetric(float64(total.Throttled), "throttled")
		b.ReportMetric(float64(len(run.Errors)), "failed-after-retries")
		b.ReportMetric(peakRSSMB(), "peak-rss-MB")
		var lines []string
		for _, api := range sortedAPIs(stats) {
			s := stats[api]
			lines = append(lines, fmt.Sprintf("%-42s calls %6d  ok %6d  throttled %5d  minimum %6d", api, s.Calls, s.OK(), s.Throttled, minCalls[api]))
		}
		b.Logf("instances %d, findings %d\n%s", run.Summary.Instances, len(run.Findings), strings.Join(lines, "\n"))
	}
}

// benchEnv reads a positive integer from the environment, or def.
func benchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// cpuTime is the user and system CPU the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// minimumCalls is the fewest calls per API an ideal client makes for the
// world: list APIs at their largest page size (DescribeInstances 1,000,
// DescribeInstanceInformation 50, GetMetricData 500 queries of two metrics
// per instance), one call per account-region or resource for the rest
// (counted from the world: VPCs, distinct profiles and roles). It also
// returns the longest chain of sequential calls in one account-region
// (its paged list APIs), which latency alone makes a lower bound.
func minimumCalls(w *scenario.World) (map[string]int, int) {
	m := map[string]int{}
	chain := 0
	ceil := func(a, b int) int { return (a + b - 1) / b }
	for _, acct := range w.Accounts {
		a := w.Fleet.Accounts[acct]
		m["sts:AssumeRole"]++
		for _, r := range a.Regions {
			n, reg := len(r.Instances), len(r.Managed)
			if n == 0 {
				continue
			}
			di, dii := max(1, ceil(n, 1000)), max(1, ceil(reg, 50))
			gm := 1
			if n > 500 {
				gm = ceil(2*n, 500)
			}
			m["ec2:DescribeInstances"] += di
			m["ssm:DescribeInstanceInformation"] += dii
			m["monitoring:GetMetricData"] += gm
			chain = max(chain, di+dii+gm)
		}
	}
	return m, chain
}

// lowerBound is the least wall time the buckets and the latency model
// allow: the slowest bucket of the busiest scope (calls spread evenly over
// the account-regions, IAM over the accounts), or the sequential chain of
// one account-region at the mean latency, whichever is longer.
func lowerBound(stats map[string]sandbox.APIStats, w *scenario.World, chain int) time.Duration {
	limits := sandbox.DefaultLimits()
	scopes := map[string]int{}
	per := 0
	for _, a := range w.Accounts {
		per += len(w.Fleet.Accounts[a].Regions)
	}
	buckets := map[string]int{}
	for api, s := range stats {
		svc, op, _ := strings.Cut(api, ":")
		name := limits.Lookup(svc, op, "")
		if svc == "ec2" && name == "" {
			name = "ec2:non-mutating"
		}
		if name == "" {
			continue
		}
		buckets[name] += s.OK()
		if svc == "iam" || svc == "sts" {
			scopes[name] = len(w.Accounts)
		} else {
			scopes[name] = per
		}
	}
	var bound time.Duration
	for name, calls := range buckets {
		bound = max(bound, limits[name].LowerBound(calls/max(1, scopes[name])))
	}
	mean := benchLatency.Fixed + benchLatency.Jitter/2
	return max(bound, time.Duration(chain)*mean)
}

func sortedAPIs(m map[string]sandbox.APIStats) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// peakRSSMB is the process's peak resident set (VmHWM) in MB, or the Go
// heap's system memory where /proc is not available.
func peakRSSMB() float64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				return float64(kb) / 1024
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.Sys) / (1 << 20)
}

// benchLimits are DefaultLimits, or none when FD_BENCH_NO_LIMITS is set
// (to see what the buckets cost).
func benchLimits() sandbox.Limits {
	if os.Getenv("FD_BENCH_NO_LIMITS") != "" {
		return nil
	}
	return sandbox.DefaultLimits()
}
