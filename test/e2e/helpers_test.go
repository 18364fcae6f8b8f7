package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildDir holds the binaries built once for the whole package run.
var buildDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "fleetdoctor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = d
	code := m.Run()
	_ = os.RemoveAll(d)
	os.Exit(code)
}

// missing skips the test with reason outside CI and fails it under
// CI=true, where every tool the tests need must be present.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	buildMu sync.Mutex
	built   = map[string]error{}
)

// buildOnce builds the Lambda main package pkg into buildDir/<name>/bootstrap
// once per package run and returns the binary's path.
func buildOnce(t *testing.T, name, pkg string) string {
	t.Helper()
	out := filepath.Join(buildDir, name, "bootstrap")
	buildMu.Lock()
	defer buildMu.Unlock()
	err, done := built[pkg]
	if !done {
		if _, e := exec.LookPath("go"); e != nil {
			missing(t, "go is not on PATH: cannot build %s", pkg)
		}
		// A first build compiles the AWS SDK without cgo: minutes on a
		// small machine.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		err = BuildLambda(ctx, moduleRoot(t), pkg, out)
		built[pkg] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// buildLambdas builds the five Lambdas into buildDir/<name>/bootstrap
// once per package run and returns the binaries by name.
func buildLambdas(t *testing.T, names []string) map[string]string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	err, done := built["lambdas"]
	if !done {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		start := time.Now()
		err = BuildLambdas(ctx, moduleRoot(t), buildDir, names...)
		built["lambdas"] = err
		t.Logf("built %d Lambdas in %v", len(names), time.Since(start).Round(time.Second))
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		out[n] = filepath.Join(buildDir, n, "bootstrap")
	}
	return out
}

// nodeRunner returns a Runner when node and the npm packages are there
// (make e2e-deps installs them); otherwise the test is skipped (failed
// under CI).
func nodeRunner(t *testing.T) Runner {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not on PATH (apt-get install nodejs npm, then make e2e-deps)")
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"aws-local-stepfunctions", "asl-validator"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			missing(t, "test/e2e/node_modules/%s is missing: run make e2e-deps (npm ci --prefix test/e2e)", p)
		}
	}
	return Runner{Dir: dir, Node: node, Stderr: testWriter{t}}
}

// testWriter logs what is written to it, line by line, with t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(line)
	}
	return len(p), nil
}
