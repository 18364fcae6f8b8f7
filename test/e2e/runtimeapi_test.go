package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoFunction runs testdata/echolambda (a tiny aws-lambda-go function)
// behind the Runtime API bridge, so the bridge is proven independently of
// fleetdoctor's Lambdas.
func echoFunction(t *testing.T, f *Function) *Function {
	t.Helper()
	f.Binary = buildOnce(t, "echolambda", "./test/e2e/testdata/echolambda")
	if f.Name == "" {
		f.Name = "echo"
	}
	f.Logs = testWriter{t}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

type echoResponse struct {
	Value       string `json:"value"`
	Function    string `json:"function"`
	FunctionARN string `json:"functionArn"`
	RequestID   string `json:"requestId"`
	DeadlineIn  int64  `json:"deadlineInMs"`
	PID         int    `json:"pid"`
	Env         string `json:"env"`
	Blob        string `json:"blob"`
}

func invokeEcho(t *testing.T, f *Function, event string) (echoResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := f.Invoke(ctx, []byte(event))
	if err != nil {
		return echoResponse{}, err
	}
	var r echoResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	return r, nil
}

func wantFunctionError(t *testing.T, err error, typ, msgPart string) *FunctionError {
	t.Helper()
	var fe *FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want a *FunctionError of type %s", err, err, typ)
	}
	if fe.Type != typ || !strings.Contains(fe.Message, msgPart) {
		t.Fatalf("function error = %+v, want type %q and a message containing %q", fe, typ, msgPart)
	}
	return fe
}

func TestRuntimeAPIInvokeAndContext(t *testing.T) {
	f := echoFunction(t, &Function{Name: "fleetdoctor-echo", Timeout: 20 * time.Second, Env: []string{"ECHO_MARK=from-the-bridge"}})
	r, err := invokeEcho(t, f, `{"do":"echo","value":"hello"}`)
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != "hello" || r.Function != "fleetdoctor-echo" {
		t.Errorf("response = %+v, want value hello from fleetdoctor-echo", r)
	}
	if r.FunctionARN != "arn:aws:lambda:us-east-1:111111111111:function:fleetdoctor-echo" {
		t.Errorf("invoked function ARN = %q", r.FunctionARN)
	}
	if r.RequestID == "" {
		t.Error("the handler saw no request id")
	}
	// The deadline header becomes the handler's context deadline.
	if r.DeadlineIn <= 0 || r.DeadlineIn > 20_000 {
		t.Errorf("deadline in %d ms, want within the 20 s timeout", r.DeadlineIn)
	}
	r2, err := invokeEcho(t, f, `{"do":"env","value":"ECHO_MARK"}`)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Env != "from-the-bridge" {
		t.Errorf("ECHO_MARK in the function = %q, want the Function.Env value", r2.Env)
	}
	if r2.PID != r.PID {
		t.Errorf("second invocation ran in process %d, first in %d: a warm process should be reused", r2.PID, r.PID)
	}
	if r2.RequestID == r.RequestID {
		t.Errorf("both invocations had request id %s", r.RequestID)
	}
	// The test's own environment does not leak into the function.
	t.Setenv("ECHO_LEAK", "leaked")
	r3, err := invokeEcho(t, f, `{"do":"env","value":"ECHO_LEAK"}`)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Env != "" {
		t.Errorf("the test's environment leaked into the function: ECHO_LEAK=%q", r3.Env)
	}
	if got := f.Invocations(); got != 3 {
		t.Errorf("Invocations() = %d, want 3", got)
	}
}

func TestRuntimeAPIFunctionErrors(t *testing.T) {
	f := echoFunction(t, &Function{Timeout: 20 * time.Second})
	_, err := invokeEcho(t, f, `{"do":"fail","value":"explode"}`)
	wantFunctionError(t, err, "fleetdoctor.InvalidInput", "mode: must be one of")

	_, err = invokeEcho(t, f, `{"do":"plain"}`)
	wantFunctionError(t, err, "errorString", "plain failure")

	// A panic is reported as the function's error and the process exits;
	// the next invocation gets a new process.
	first, err := invokeEcho(t, f, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = invokeEcho(t, f, `{"do":"panic","value":"now"}`)
	wantFunctionError(t, err, "string", "boom: now")
	after, err := invokeEcho(t, f, `{"do":"echo","value":"again"}`)
	if err != nil {
		t.Fatalf("invocation after a panic: %v", err)
	}
	if after.Value != "again" || after.PID == first.PID {
		t.Errorf("after the panic: %+v (first pid %d), want a new process answering", after, first.PID)
	}

	// A process that exits without answering.
	_, err = invokeEcho(t, f, `{"do":"exit"}`)
	wantFunctionError(t, err, ErrorTypeExit, "exit status 3")
	if _, err := invokeEcho(t, f, `{"do":"echo"}`); err != nil {
		t.Fatalf("invocation after an exit: %v", err)
	}
}

func TestRuntimeAPITimeout(t *testing.T) {
	f := echoFunction(t, &Function{Timeout: 1500 * time.Millisecond})
	start := time.Now()
	_, err := invokeEcho(t, f, `{"do":"sleep","value":"10s"}`)
	wantFunctionError(t, err, ErrorTypeTimeout, "Task timed out after 1.50 seconds")
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the timeout took %v", d)
	}
	r, err := invokeEcho(t, f, `{"do":"echo","value":"alive"}`)
	if err != nil || r.Value != "alive" {
		t.Fatalf("after a timeout: %+v, %v", r, err)
	}
}

func TestRuntimeAPIInitError(t *testing.T) {
	f := echoFunction(t, &Function{Env: []string{"ECHO_INIT_FAIL=1"}, Timeout: 10 * time.Second})
	_, err := invokeEcho(t, f, `{"do":"echo"}`)
	var fe *FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v, want a function error", err)
	}
	// The init error is reported when it was posted before the process
	// exited; otherwise the exit is.
	if !(fe.Type == "Runtime.ConfigError" && strings.Contains(fe.Message, "FLEETDOCTOR_BUCKET")) && fe.Type != ErrorTypeExit {
		t.Errorf("init failure reported as %+v", fe)
	}
}

func TestRuntimeAPIResponseTooLarge(t *testing.T) {
	f := echoFunction(t, &Function{Timeout: 20 * time.Second})
	_, err := invokeEcho(t, f, fmt.Sprintf(`{"do":"big","size":%d}`, maxPayload+10))
	wantFunctionError(t, err, ErrorTypeTooLarge, "exceeded maximum")
	if _, err := f.Invoke(context.Background(), make([]byte, maxPayload+1)); err == nil {
		t.Error("a request over 6 MB was accepted")
	}
}

func TestRuntimeAPIConcurrentPool(t *testing.T) {
	f := echoFunction(t, &Function{Timeout: 20 * time.Second, Concurrency: 3})
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	pids := map[int]int{}
	values := map[string]bool{}
	start := time.Now()
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := invokeEcho(t, f, `{"do":"sleep","value":"300ms"}`)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			pids[r.PID]++
			values[r.RequestID] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(values) != 6 {
		t.Errorf("%d distinct request ids, want 6", len(values))
	}
	if len(pids) != 3 {
		t.Errorf("invocations ran in %d processes (%v), want the pool of 3", len(pids), pids)
	}
	// Six 300 ms invocations over three processes: two rounds, not six.
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("6 invocations took %v on a pool of 3", d)
	}
}

func TestRuntimeAPIClose(t *testing.T) {
	f := echoFunction(t, &Function{Timeout: 20 * time.Second})
	if _, err := invokeEcho(t, f, `{"do":"echo"}`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Invoke(context.Background(), []byte(`{"do":"echo"}`)); err == nil {
		t.Error("Invoke after Close succeeded")
	}
}
