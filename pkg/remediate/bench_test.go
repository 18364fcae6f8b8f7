package remediate_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
	"github.com/fleetdoctor/fleetdoctor/pkg/remediate"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
)

// BenchmarkFix10k fixes N instances (FD_BENCH_FIX_INSTANCES, default
// 10,000) in one account-region on the sandbox with the published buckets
// (sandbox.DefaultLimits) and real time: the hop limit of every instance
// goes to 3, one ModifyInstanceMetadataOptions each, through
// FleetDoctor-SetMetadataOptions in waves of 100, ×4, at most 2,500, with
// the provider's own pacing (StartAutomationExecution 1/s,
// GetAutomationExecution 3/s). The bucket-limited minimum is
// (N − 100) / 5 s (ModifyInstanceMetadataOptions: 100 burst, 5/s), about
// 33 minutes at 10,000, so a routine run uses a smaller N:
//
//	FD_BENCH_FIX_INSTANCES=600 go test -run '^$' -bench BenchmarkFix10k -benchtime 1x ./pkg/remediate/
//
// It reports the wall time, the minimum, their ratio (the target is ≤ 1.2),
// the StartAutomationExecution calls against ceil(N/100) + waves, and the
// changes that failed (the target is 0).
func BenchmarkFix10k(b *testing.B) {
	n := 10000
	if v := os.Getenv("FD_BENCH_FIX_INSTANCES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("FD_BENCH_FIX_INSTANCES=%q: want a positive number", v)
		}
	}
	o := remediate.ExecOptions{Canary: 100, Growth: 4, Max: 2500, MaxErrors: -1,
		PollInterval: 5 * time.Second, VerifyInterval: time.Second, VerifyTimeout: 2 * time.Minute}
	limits := sandbox.DefaultLimits()
	minimum := limits["ec2:ModifyInstanceMetadataOptions"].LowerBound(n)
	waves := len(o.WaveSizes(n))
	bound := (n+remediate.MaxBatch-1)/remediate.MaxBatch + waves
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sb := startSandbox(b, sandbox.Options{World: world([]string{acct}, n), Limits: limits})
		plan := metadataPlan(fmt.Sprintf("bench-%d", i), acct, ids(n, 0), policy.SetHopLimit, remediate.FieldHopLimit, "3")
		ex := remediate.NewExecutor(sb.Provider(region), fileJournal(b, b.TempDir()), o)
		b.StartTimer()
		start := time.Now()
		res, err := ex.Apply(context.Background(), plan)
		wall := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		st := sb.Stats()
		failed := n - res.Count(remediate.OutcomeApplied)
		ratio := wall.Seconds() / max(minimum.Seconds(), 1e-9)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(minimum.Seconds(), "min-s")
		b.ReportMetric(ratio, "wall/min")
		b.ReportMetric(float64(res.Executions), "starts")
		b.ReportMetric(float64(bound), "start-bound")
		b.ReportMetric(float64(failed), "failed")
		b.Logf("N=%d: wall %v, bucket-limited minimum %v, wall/min %.3f; StartAutomationExecution %d (bound ceil(N/100)+waves = %d, %d waves; "+
			"sandbox: %d requests, %d OK); failed %d; ModifyInstanceMetadataOptions calls %d (OK %d, throttled %d)",
			n, wall.Round(time.Millisecond), minimum, ratio, res.Executions, bound, waves, st[startAPI].Calls, st[startAPI].OK(), failed,
			st["ec2:ModifyInstanceMetadataOptions"].Calls, st["ec2:ModifyInstanceMetadataOptions"].OK(), st["ec2:ModifyInstanceMetadataOptions"].Throttled)
		if failed > 0 {
			for _, c := range res.Changes {
				if c.Outcome != remediate.OutcomeApplied {
					b.Logf("%s: %s %s", c.Resource, c.Outcome, c.Error)
					break
				}
			}
		}
	}
}
