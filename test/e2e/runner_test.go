package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLambdas is a harness whose functions are Go funcs: it proves
// run-sfn.mjs (Task binding, error mapping, Retry/Catch, the Distributed
// Map substitution) against the hand-made sample definition, without the
// real Lambdas.
type fakeLambdas struct {
	mu    sync.Mutex
	calls map[string][]map[string]any
	fns   map[string]func(event map[string]any) (any, *FunctionError)
	items []byte
}

func newFakeLambdas(t *testing.T, fns map[string]func(map[string]any) (any, *FunctionError), items string) string {
	t.Helper()
	f := &fakeLambdas{calls: map[string][]map[string]any{}, fns: fns, items: []byte(items)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invoke/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		fn := f.fns[name]
		if fn == nil {
			http.Error(w, "Function not found: "+name, http.StatusNotFound)
			return
		}
		var ev map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls[name] = append(f.calls[name], ev)
		f.mu.Unlock()
		resp, fe := fn(ev)
		if fe != nil {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = w.Write(fe.JSON())
			return
		}
		_ = json.NewEncoder(w).Encode(resp)
	})
	mux.HandleFunc("GET /s3get", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("bucket") != "fd-bucket" || r.URL.Query().Get("key") != "runs/r1/targets.json" {
			http.Error(w, "NoSuchKey", http.StatusNotFound)
			return
		}
		_, _ = w.Write(f.items)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fakeCalls[srv.URL] = f
	return srv.URL
}

// fakeCalls finds a fake harness's calls by its URL (tests run serially).
var fakeCalls = map[string]*fakeLambdas{}

func (f *fakeLambdas) events(name string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.calls[name]...)
}

const sampleTargets = `[{"runId":"r1","account":"111111111111","region":"eu-west-1"},{"runId":"r1","account":"222222222222","region":"eu-west-1"},{"runId":"r1","account":"222222222222","region":"us-east-1"}]`

// happyFunctions answer every action of the contract with a plausible
// response; tests replace the ones they exercise.
func happyFunctions() map[string]func(map[string]any) (any, *FunctionError) {
	return map[string]func(map[string]any) (any, *FunctionError){
		"fleetdoctor-targets": func(ev map[string]any) (any, *FunctionError) {
			switch ev["action"] {
			case "validate":
				in, _ := ev["input"].(map[string]any)
				in["runId"] = ev["executionName"]
				return map[string]any{"input": in}, nil
			case "resolve":
				return map[string]any{"bucket": "fd-bucket", "key": "runs/r1/targets.json", "count": 3}, nil
			}
			return nil, &FunctionError{Type: "fleetdoctor.UnknownAction", Message: fmt.Sprint(ev["action"])}
		},
		"fleetdoctor-discover": func(ev map[string]any) (any, *FunctionError) {
			return map[string]any{"bucket": "fd-bucket", "key": "runs/r1/discover/x.json", "instances": 10, "findings": 2}, nil
		},
		"fleetdoctor-diagnose": func(ev map[string]any) (any, *FunctionError) {
			if ev["action"] == "plan" {
				return map[string]any{"batches": []any{map[string]any{"key": "b/0.json", "account": "111111111111", "region": "eu-west-1", "size": 3}}, "planned": 3}, nil
			}
			return map[string]any{"bucket": "fd-bucket", "key": "d.json"}, nil
		},
		"fleetdoctor-remediate": func(ev map[string]any) (any, *FunctionError) {
			if ev["action"] == "plan" {
				return map[string]any{"batches": []any{
					map[string]any{"key": "rb/0.json", "account": "111111111111", "region": "eu-west-1", "size": 2},
					map[string]any{"key": "rb/1.json", "account": "222222222222", "region": "eu-west-1", "size": 1},
				}, "planned": 3, "planKey": "runs/r1/remediate/plan.json"}, nil
			}
			return map[string]any{"bucket": "fd-bucket", "key": "r.json"}, nil
		},
		"fleetdoctor-report": func(ev map[string]any) (any, *FunctionError) {
			return map[string]any{"runId": ev["runId"], "bucket": "fd-bucket", "runKey": "runs/r1/report/run.json"}, nil
		},
	}
}

func runSample(t *testing.T, url string, input string) *Execution {
	t.Helper()
	r := nodeRunner(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ex, err := r.Run(ctx, filepath.Join("testdata", "sample.asl.json"), json.RawMessage(input), url, "exec-1")
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func TestRunnerAuditPath(t *testing.T) {
	url := newFakeLambdas(t, happyFunctions(), sampleTargets)
	ex := runSample(t, url, `{"mode":"audit","dryRun":true}`)
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("status %s (%s: %s), states %v", ex.Status, ex.Error, ex.Cause, ex.States)
	}
	want := []string{"ValidateInput", "ResolveTargets", "DiscoverAccountRegions", "Discover", "Discover", "Discover", "DiagnoseRequested", "Report", "Done"}
	if !slices.Equal(ex.States, want) {
		t.Errorf("states = %v, want %v", ex.States, want)
	}
	// The map's items are the targets file's entries (the ItemReader
	// stand-in), each passed through the ItemSelector.
	f := fakeCalls[url]
	var accounts []string
	for _, ev := range f.events("fleetdoctor-discover") {
		accounts = append(accounts, fmt.Sprint(ev["account"], "/", ev["region"], "/", ev["runId"]))
		if in, _ := ev["input"].(map[string]any); in["mode"] != "audit" {
			t.Errorf("discover event without the run's input: %v", ev)
		}
	}
	slices.Sort(accounts)
	if want := []string{"111111111111/eu-west-1/r1", "222222222222/eu-west-1/r1", "222222222222/us-east-1/r1"}; !slices.Equal(accounts, want) {
		t.Errorf("discover saw %v, want %v", accounts, want)
	}
	// The execution name reached the validate action ($$.Execution.Name).
	if ev := f.events("fleetdoctor-targets")[0]; ev["executionName"] != "exec-1" {
		t.Errorf("validate event = %v, want executionName exec-1", ev)
	}
	var out struct {
		Report struct {
			RunID string `json:"runId"`
		} `json:"report"`
	}
	if err := json.Unmarshal(ex.Output, &out); err != nil || out.Report.RunID != "exec-1" {
		t.Errorf("output = %s (%v), want report.runId exec-1", ex.Output, err)
	}
	if !slices.ContainsFunc(ex.Rewrites, func(s string) bool { return strings.Contains(s, "Map DiscoverAccountRegions: removed ItemReader") }) {
		t.Errorf("rewrites = %v, want the Distributed Map's substitution named", ex.Rewrites)
	}
}

func TestRunnerInvalidInputFailsAtFirstState(t *testing.T) {
	fns := happyFunctions()
	fns["fleetdoctor-targets"] = func(map[string]any) (any, *FunctionError) {
		return nil, &FunctionError{Type: "fleetdoctor.InvalidInput", Message: `mode: must be one of audit, diagnose, remediate (got "explode")`}
	}
	url := newFakeLambdas(t, fns, sampleTargets)
	ex := runSample(t, url, `{"mode":"explode"}`)
	if ex.Status != "FAILED" || ex.Error != "fleetdoctor.InvalidInput" {
		t.Fatalf("status %s error %q, want FAILED fleetdoctor.InvalidInput", ex.Status, ex.Error)
	}
	// Step Functions' Cause for a Lambda error is the error object as JSON.
	var cause FunctionError
	if err := json.Unmarshal([]byte(ex.Cause), &cause); err != nil || !strings.HasPrefix(cause.Message, "mode:") {
		t.Errorf("cause = %q (%v), want the Lambda error object naming the field", ex.Cause, err)
	}
	if want := []string{"ValidateInput", "InputRejected"}; !slices.Equal(ex.States, want) {
		t.Errorf("states = %v, want %v", ex.States, want)
	}
}

func TestRunnerCatchRecordsAFailedAccountRegion(t *testing.T) {
	fns := happyFunctions()
	happy := fns["fleetdoctor-discover"]
	fns["fleetdoctor-discover"] = func(ev map[string]any) (any, *FunctionError) {
		if ev["action"] == nil && ev["account"] == "222222222222" && ev["region"] == "us-east-1" {
			return nil, &FunctionError{Type: "AccessDenied", Message: "not authorized to perform: sts:AssumeRole"}
		}
		return happy(ev)
	}
	url := newFakeLambdas(t, fns, sampleTargets)
	ex := runSample(t, url, `{"mode":"audit"}`)
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("status %s (%s: %s)", ex.Status, ex.Error, ex.Cause)
	}
	if n := ex.Entered("RecordDiscoverFailure"); n != 1 {
		t.Fatalf("RecordDiscoverFailure entered %d times, want 1 (states %v)", n, ex.States)
	}
	var rec map[string]any
	for _, ev := range fakeCalls[url].events("fleetdoctor-discover") {
		if ev["action"] == "recordFailure" {
			rec = ev
		}
	}
	if rec == nil || rec["error"] != "AccessDenied" || !strings.Contains(fmt.Sprint(rec["cause"]), "sts:AssumeRole") || rec["account"] != "222222222222" {
		t.Errorf("recordFailure event = %v, want the caught AccessDenied for 222222222222", rec)
	}
}

func TestRunnerRetryAndRemediatePath(t *testing.T) {
	fns := happyFunctions()
	happy := fns["fleetdoctor-targets"]
	var mu sync.Mutex
	throttled := 0
	fns["fleetdoctor-targets"] = func(ev map[string]any) (any, *FunctionError) {
		mu.Lock()
		defer mu.Unlock()
		if ev["action"] == "resolve" && throttled < 2 {
			throttled++
			return nil, &FunctionError{Type: "Lambda.TooManyRequestsException", Message: "Rate exceeded"}
		}
		return happy(ev)
	}
	url := newFakeLambdas(t, fns, sampleTargets)
	ex := runSample(t, url, `{"mode":"remediate","dryRun":false}`)
	if ex.Status != "SUCCEEDED" {
		t.Fatalf("status %s (%s: %s), states %v", ex.Status, ex.Error, ex.Cause, ex.States)
	}
	retried := 0
	for _, e := range ex.Events {
		if e.Type == "StateRetried" && e.State == "ResolveTargets" {
			retried++
		}
	}
	if retried != 2 {
		t.Errorf("ResolveTargets retried %d times, want 2", retried)
	}
	for state, n := range map[string]int{"PlanDiagnosis": 1, "DiagnoseBatch": 1, "PlanRemediation": 1, "RemediateBatch": 2, "Report": 1} {
		if got := ex.Entered(state); got != n {
			t.Errorf("%s entered %d times, want %d (states %v)", state, got, n, ex.States)
		}
	}
	// A dry run stops after the plan.
	ex = runSample(t, url, `{"mode":"remediate","dryRun":true}`)
	if ex.Status != "SUCCEEDED" || ex.Entered("PlanRemediation") != 1 || ex.Entered("RemediateBatches") != 0 {
		t.Errorf("dry run: status %s, states %v, want the plan and no RemediateBatches", ex.Status, ex.States)
	}
}

func TestRunnerRejectsInvalidDefinition(t *testing.T) {
	r := nodeRunner(t)
	bad := filepath.Join(t.TempDir(), "bad.asl.json")
	if err := os.WriteFile(bad, []byte(`{"StartAt":"Nowhere","States":{"A":{"Type":"Pass","End":true}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := r.Run(context.Background(), bad, map[string]any{}, "http://127.0.0.1:1", "x")
	if err == nil || !strings.Contains(err.Error(), "not valid Amazon States Language") || !strings.Contains(err.Error(), "Nowhere") {
		t.Errorf("invalid definition: err = %v, want asl-validator's errors naming the missing state", err)
	}
}
