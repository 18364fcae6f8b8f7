package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ModuleRoot returns the directory of the go.mod above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// BuildLambdas compiles the Lambda main packages lambdas/<name> (module
// root root) for the host as provided.al2023 bootstraps — CGO_ENABLED=0,
// -tags lambda.norpc — into outDir/<name>/bootstrap, in one go build so
// the five share their compilation. The error carries the build's output.
func BuildLambdas(ctx context.Context, root, outDir string, names ...string) error {
	tmp, err := os.MkdirTemp(outDir, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := []string{"build", "-tags", "lambda.norpc", "-o", tmp + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./lambdas/"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(args[5:], " "), err, b)
	}
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(outDir, n), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(tmp, n), filepath.Join(outDir, n, "bootstrap")); err != nil {
			return err
		}
	}
	return nil
}

// BuildLambda compiles one main package pkg (e.g. "./lambdas/discover" or
// a test's tiny function) like BuildLambdas, to out.
func BuildLambda(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// Harness is the HTTP endpoint the Node runner calls for every Task state:
// POST /invoke/<function> runs the function (by its deployed name, e.g.
// fleetdoctor-discover) through its Runtime API bridge and answers as
// Lambda's Invoke does (200 and the response; 200 with X-Amz-Function-Error
// and the error object for a function error; 404 for an unknown function);
// GET /s3get?bucket=&key= returns an object of the sandbox's S3 (the test
// runner's stand-in for a Distributed Map's ItemReader). It listens on
// loopback only.
type Harness struct {
	// Functions by deployed name.
	Functions map[string]*Function
	// S3Object reads an object of the sandbox's S3.
	S3Object func(bucket, key string) ([]byte, error)

	mu      sync.Mutex
	invoked []string
	srv     *http.Server
	url     string
}

// Start serves the harness on a free loopback port.
func (h *Harness) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h.url = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invoke/{name}", h.handleInvoke)
	mux.HandleFunc("GET /s3get", h.handleS3Get)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	return nil
}

// URL is the harness's base URL.
func (h *Harness) URL() string { return h.url }

// Invoked lists the functions invoked so far, in order.
func (h *Harness) Invoked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.invoked...)
}

// Close stops the server (not the functions).
func (h *Harness) Close() error {
	if h.srv == nil {
		return nil
	}
	return h.srv.Close()
}

func (h *Harness) handleInvoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	fn := h.Functions[name]
	if fn == nil {
		http.Error(w, fmt.Sprintf(`{"Type":"User","message":"Function not found: %s"}`, name), http.StatusNotFound)
		return
	}
	h.mu.Lock()
	h.invoked = append(h.invoked, name)
	h.mu.Unlock()
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := fn.Invoke(r.Context(), payload)
	w.Header().Set("Content-Type", "application/json")
	var fe *FunctionError
	switch {
	case errors.As(err, &fe):
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_, _ = w.Write(fe.JSON())
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		_, _ = w.Write(resp)
	}
}

func (h *Harness) handleS3Get(w http.ResponseWriter, r *http.Request) {
	bucket, key := r.URL.Query().Get("bucket"), r.URL.Query().Get("key")
	if bucket == "" || key == "" {
		http.Error(w, "bucket and key are required", http.StatusBadRequest)
		return
	}
	if h.S3Object == nil {
		http.Error(w, "no S3", http.StatusNotFound)
		return
	}
	b, err := h.S3Object(bucket, key)
	if err != nil {
		http.Error(w, fmt.Sprintf("s3://%s/%s: %v", bucket, key, err), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// Execution is what run-sfn.mjs reports of one execution.
type Execution struct {
	// Status is SUCCEEDED, FAILED, TIMED_OUT or ABORTED.
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
	// States are the states entered, in order, nested ones included.
	States   []string `json:"states"`
	Events   []Event  `json:"events"`
	Rewrites []string `json:"rewrites"`
}

// Event is one event of the execution's log.
type Event struct {
	Type   string `json:"type"`
	State  string `json:"state,omitempty"`
	Index  *int   `json:"index,omitempty"`
	Parent string `json:"parent,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Entered counts how often a state was entered.
func (e *Execution) Entered(state string) int {
	n := 0
	for _, s := range e.States {
		if s == state {
			n++
		}
	}
	return n
}

// Runner runs run-sfn.mjs with node.
type Runner struct {
	// Dir is test/e2e (run-sfn.mjs and node_modules).
	Dir string
	// Node is the node executable.
	Node string
	// Stderr receives the runner's diagnostics (nil: kept for errors only).
	Stderr io.Writer
}

// Run executes the definition in aslFile with input, binding Task states
// to the harness at harnessURL, and returns the execution's report. An
// execution that fails is not an error; a runner that cannot run is.
func (r Runner) Run(ctx context.Context, aslFile string, input any, harnessURL, name string) (*Execution, error) {
	in, err := json.Marshal(input)
	if err != nil {
		return nil, err
	}
	if raw, ok := input.(json.RawMessage); ok {
		in = raw
	}
	cmd := exec.CommandContext(ctx, r.Node, "run-sfn.mjs", "--asl", aslFile, "--input", string(in), "--harness", harnessURL, "--name", name)
	cmd.Dir = r.Dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "NODE_NO_WARNINGS=1",
		// No AWS configuration reaches the runner: every Task is bridged.
		"AWS_EC2_METADATA_DISABLED=true"}
	if v := os.Getenv("RUN_SFN_DEBUG"); v != "" {
		cmd.Env = append(cmd.Env, "RUN_SFN_DEBUG="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if r.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, r.Stderr)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node run-sfn.mjs: %w\nstderr:\n%s", err, tail(stderr.String(), 4000))
	}
	var last string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "{") {
			last = line
		}
	}
	if last == "" {
		return nil, fmt.Errorf("node run-sfn.mjs printed no result\nstderr:\n%s", tail(stderr.String(), 4000))
	}
	var ex Execution
	if err := json.Unmarshal([]byte(last), &ex); err != nil {
		return nil, fmt.Errorf("node run-sfn.mjs result: %w", err)
	}
	return &ex, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
