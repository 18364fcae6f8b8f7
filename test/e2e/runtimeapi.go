// Package e2e runs the deployed fleetdoctor orchestration locally: the
// synthesized state machine executed by aws-local-stepfunctions (Node, see
// run-sfn.mjs), every Task state bridged to the real Lambda binaries
// (lambdas/<name>, built with -tags lambda.norpc) through a local Lambda
// Runtime API, and the Lambdas talking to the embedded AWS sandbox. See
// docs/e2e.md.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Runtime API paths (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	runtimeNext      = "/2018-06-01/runtime/invocation/next"
	runtimeResponse  = "/2018-06-01/runtime/invocation/{id}/response"
	runtimeError     = "/2018-06-01/runtime/invocation/{id}/error"
	runtimeInitError = "/2018-06-01/runtime/init/error"

	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	headerErrorBody   = "Lambda-Runtime-Function-Error-Body"

	// maxPayload is Lambda's synchronous request and response limit.
	maxPayload = 6 << 20
)

// Error types the bridge reports itself, as Lambda does.
const (
	ErrorTypeTimeout     = "Sandbox.Timedout"
	ErrorTypeExit        = "Runtime.ExitError"
	ErrorTypeInit        = "Runtime.InitError"
	ErrorTypeTooLarge    = "Function.ResponseSizeTooLarge"
	ErrorTypeRequestSize = "RequestEntityTooLargeException"
)

// FunctionError is a Lambda function error: what the function posted to
// the Runtime API's error endpoint (or what the bridge saw go wrong: a
// timeout, the process exiting). It is what Lambda's Invoke returns with
// X-Amz-Function-Error, and what Step Functions matches Retry/Catch on.
type FunctionError struct {
	Type       string          `json:"errorType"`
	Message    string          `json:"errorMessage"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

// Error implements error.
func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// JSON is the error as the Lambda Invoke API returns it.
func (e *FunctionError) JSON() []byte {
	b, _ := json.Marshal(e)
	return b
}

// Function is one Lambda function run locally: a pool of bootstrap
// processes, each with its own Runtime API server on loopback. Invoke hands
// an event to an idle process and waits for its response or error. Close
// stops every process.
type Function struct {
	// Name is the function name (AWS_LAMBDA_FUNCTION_NAME).
	Name string
	// Binary is the bootstrap executable.
	Binary string
	// Env is added to the process environment (KEY=value); the process
	// does not inherit the test's environment.
	Env []string
	// Timeout is the function timeout (default 60 s): the invocation's
	// deadline, after which the process is killed and the invocation
	// fails with Sandbox.Timedout.
	Timeout time.Duration
	// Concurrency is how many processes serve invocations at once
	// (default 1).
	Concurrency int
	// Logs receives the processes' stdout and stderr (nil: discarded).
	Logs io.Writer
	// ARN is the invoked function ARN (default: a us-east-1 ARN of Name).
	ARN string

	once      sync.Once
	idle      chan *instance
	all       []*instance
	closed    chan struct{}
	closeOnce sync.Once
	invokes   atomic.Int64
}

// Invocations counts the invocations so far.
func (f *Function) Invocations() int64 { return f.invokes.Load() }

func (f *Function) init() {
	f.once.Do(func() {
		if f.Concurrency <= 0 {
			f.Concurrency = 1
		}
		if f.Timeout <= 0 {
			f.Timeout = 60 * time.Second
		}
		if f.ARN == "" {
			f.ARN = "arn:aws:lambda:us-east-1:111111111111:function:" + f.Name
		}
		f.closed = make(chan struct{})
		f.idle = make(chan *instance, f.Concurrency)
		for i := 0; i < f.Concurrency; i++ {
			in := &instance{fn: f, pending: map[string]*invocation{}}
			f.all = append(f.all, in)
			f.idle <- in
		}
	})
}

// Start starts every process of the pool now (Invoke otherwise starts
// them on first use) and reports a process that cannot be started.
func (f *Function) Start() error {
	f.init()
	for _, in := range f.all {
		in.mu.Lock()
		err := in.ensureStarted()
		in.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// Invoke runs the function on payload (a JSON event) and returns its
// response. A function error (what the function reported, a timeout, a
// crash) is a *FunctionError; any other error means the invocation could
// not be made.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f.init()
	if len(payload) > maxPayload {
		return nil, &FunctionError{Type: ErrorTypeRequestSize, Message: fmt.Sprintf("request payload of %d bytes exceeds %d", len(payload), maxPayload)}
	}
	var in *instance
	select {
	case in = <-f.idle:
	case <-f.closed:
		return nil, fmt.Errorf("function %s: closed", f.Name)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { f.idle <- in }()
	f.invokes.Add(1)
	return in.invoke(ctx, payload)
}

// Close stops the processes and their Runtime API servers.
func (f *Function) Close() error {
	f.init()
	f.closeOnce.Do(func() { close(f.closed) })
	var errs []error
	for _, in := range f.all {
		in.mu.Lock()
		errs = append(errs, in.stop())
		in.mu.Unlock()
	}
	return errors.Join(errs...)
}

// instance is one bootstrap process and its Runtime API server.
type instance struct {
	fn *Function

	mu      sync.Mutex // guards the fields below; held by the one invocation in flight
	srv     *http.Server
	addr    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	exitErr error
	next    chan *invocation
	initErr chan *FunctionError
	pendMu  sync.Mutex
	pending map[string]*invocation
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan invokeResult // buffered 1
	taken    atomic.Bool
}

type invokeResult struct {
	body []byte
	err  *FunctionError
}

// ensureStarted starts the Runtime API server and the process if they do
// not run. Called with in.mu held.
func (in *instance) ensureStarted() error {
	if in.srv == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("function %s: runtime API listener: %w", in.fn.Name, err)
		}
		in.addr = ln.Addr().String()
		in.next = make(chan *invocation)
		in.initErr = make(chan *FunctionError, 1)
		mux := http.NewServeMux()
		mux.HandleFunc("GET "+runtimeNext, in.handleNext)
		mux.HandleFunc("POST "+runtimeResponse, in.handleResponse)
		mux.HandleFunc("POST "+runtimeError, in.handleError)
		mux.HandleFunc("POST "+runtimeInitError, in.handleInitError)
		in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = in.srv.Serve(ln) }()
	}
	if in.cmd != nil {
		select {
		case <-in.exited:
		default:
			return nil // running
		}
	}
	cmd := exec.Command(in.fn.Binary)
	cmd.Dir = filepath.Dir(in.fn.Binary)
	cmd.Env = append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"TZ=UTC",
		"AWS_LAMBDA_RUNTIME_API=" + in.addr,
		"AWS_LAMBDA_FUNCTION_NAME=" + in.fn.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(in.fn.Timeout/time.Second)),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + in.fn.Name,
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT=" + cmd.Dir,
		"_HANDLER=bootstrap",
	}, in.fn.Env...)
	if in.fn.Logs != nil {
		cmd.Stdout = in.fn.Logs
		cmd.Stderr = in.fn.Logs
	}
	cmd.WaitDelay = 2 * time.Second
	// A new process starts with no init error of a former one pending.
	select {
	case <-in.initErr:
	default:
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("function %s: starting %s: %w", in.fn.Name, in.fn.Binary, err)
	}
	in.cmd = cmd
	exited := make(chan struct{})
	in.exited = exited
	go func() {
		err := cmd.Wait()
		in.pendMu.Lock()
		in.exitErr = err
		in.pendMu.Unlock()
		close(exited)
	}()
	return nil
}

// stop kills the process and closes the server. Called with in.mu held.
func (in *instance) stop() error {
	var err error
	if in.cmd != nil {
		select {
		case <-in.exited:
		default:
			_ = in.cmd.Process.Kill()
			<-in.exited
		}
		in.cmd = nil
	}
	if in.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if e := in.srv.Shutdown(ctx); e != nil {
			err = in.srv.Close()
		}
		in.srv = nil
	}
	return err
}

// kill stops the process only (the next invocation starts a new one).
func (in *instance) kill() {
	if in.cmd == nil {
		return
	}
	select {
	case <-in.exited:
	default:
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
}

func (in *instance) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	select {
	case <-in.fn.closed:
		return nil, fmt.Errorf("function %s: closed", in.fn.Name)
	default:
	}
	if err := in.ensureStarted(); err != nil {
		return nil, err
	}
	inv := &invocation{
		id:       uuid.NewString(),
		payload:  payload,
		deadline: time.Now().Add(in.fn.Timeout),
		done:     make(chan invokeResult, 1),
	}
	in.pendMu.Lock()
	in.pending[inv.id] = inv
	in.pendMu.Unlock()
	defer func() {
		in.pendMu.Lock()
		delete(in.pending, inv.id)
		in.pendMu.Unlock()
	}()
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	exitError := func() error {
		in.pendMu.Lock()
		defer in.pendMu.Unlock()
		msg := "Runtime exited without providing a reason"
		if in.exitErr != nil {
			msg = "Runtime exited with error: " + in.exitErr.Error()
		}
		return &FunctionError{Type: ErrorTypeExit, Message: fmt.Sprintf("RequestId: %s Error: %s", inv.id, msg)}
	}
	// Hand the event to the process's GET /next. A process that exits
	// before taking it (one that panicked on the previous event and is on
	// its way out) is replaced once: the event was not delivered.
	restarted := false
handOff:
	select {
	case in.next <- inv:
	case fe := <-in.initErr:
		in.kill()
		return nil, fe
	case <-in.exited:
		if !restarted {
			restarted = true
			if err := in.ensureStarted(); err != nil {
				return nil, err
			}
			goto handOff
		}
		return nil, exitError()
	case <-timer.C:
		in.kill()
		return nil, in.timeoutError(inv)
	case <-ctx.Done():
		in.kill()
		return nil, ctx.Err()
	case <-in.fn.closed:
		in.kill()
		return nil, fmt.Errorf("function %s: closed during the invocation", in.fn.Name)
	}
	select {
	case r := <-inv.done:
		if r.err != nil {
			return nil, r.err
		}
		return r.body, nil
	case <-in.exited:
		// The process may have posted its answer just before exiting
		// (a panic reports the error, then exits).
		select {
		case r := <-inv.done:
			if r.err != nil {
				return nil, r.err
			}
			return r.body, nil
		default:
		}
		return nil, exitError()
	case <-timer.C:
		in.kill()
		return nil, in.timeoutError(inv)
	case <-ctx.Done():
		in.kill()
		return nil, ctx.Err()
	case <-in.fn.closed:
		in.kill()
		return nil, fmt.Errorf("function %s: closed during the invocation", in.fn.Name)
	}
}

func (in *instance) timeoutError(inv *invocation) *FunctionError {
	return &FunctionError{Type: ErrorTypeTimeout, Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, in.fn.Timeout.Seconds())}
}

func (in *instance) handleNext(w http.ResponseWriter, r *http.Request) {
	select {
	case inv := <-in.next:
		h := w.Header()
		h.Set(headerRequestID, inv.id)
		h.Set(headerDeadline, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set(headerFunctionARN, in.fn.ARN)
		h.Set(headerTraceID, "Root=1-"+strconv.FormatInt(time.Now().Unix(), 16)+"-"+inv.id[:8]+";Parent=0;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

// lookup finds the invocation in flight for a request id and marks it
// answered; a second answer (or an unknown id) is refused.
func (in *instance) lookup(w http.ResponseWriter, r *http.Request) *invocation {
	id := r.PathValue("id")
	in.pendMu.Lock()
	inv := in.pending[id]
	in.pendMu.Unlock()
	if inv == nil || !inv.taken.CompareAndSwap(false, true) {
		writeRuntimeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id "+id)
		return nil
	}
	return inv
}

func (in *instance) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv := in.lookup(w, r)
	if inv == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	switch {
	case err != nil:
		inv.done <- invokeResult{err: &FunctionError{Type: ErrorTypeExit, Message: "reading the response: " + err.Error()}}
	case len(body) > maxPayload:
		inv.done <- invokeResult{err: &FunctionError{Type: ErrorTypeTooLarge, Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayload)}}
		writeRuntimeError(w, http.StatusRequestEntityTooLarge, ErrorTypeTooLarge, "response too large")
		return
	case r.Trailer.Get(headerErrorType) != "":
		// The runtime failed while streaming the response and said so in
		// the trailers (aws-lambda-go does this).
		fe := &FunctionError{Type: r.Trailer.Get(headerErrorType)}
		if raw, err := base64.StdEncoding.DecodeString(r.Trailer.Get(headerErrorBody)); err == nil {
			_ = json.Unmarshal(raw, fe)
		}
		inv.done <- invokeResult{err: fe}
	default:
		inv.done <- invokeResult{body: body}
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

func (in *instance) handleError(w http.ResponseWriter, r *http.Request) {
	inv := in.lookup(w, r)
	if inv == nil {
		return
	}
	inv.done <- invokeResult{err: readFunctionError(r)}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

func (in *instance) handleInitError(w http.ResponseWriter, r *http.Request) {
	fe := readFunctionError(r)
	if fe.Type == "" || fe.Type == "Unknown" {
		fe.Type = ErrorTypeInit
	}
	select {
	case in.initErr <- fe:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// readFunctionError reads an error post: the body's errorType and
// errorMessage, the Lambda-Runtime-Function-Error-Type header when the
// body has no type.
func readFunctionError(r *http.Request) *FunctionError {
	fe := &FunctionError{}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, fe); err != nil && len(bytes.TrimSpace(body)) > 0 {
		fe.Message = string(body)
	}
	if fe.Type == "" {
		fe.Type = r.Header.Get(headerErrorType)
	}
	if fe.Type == "" {
		fe.Type = "Unknown"
	}
	return fe
}

func writeRuntimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}
