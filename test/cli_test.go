package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLI builds the real fleetdoctor binary and runs it as a process, the
// way scripts and CI jobs do. It never reaches AWS: the environment holds
// no credentials, IMDS is disabled, and any HTTP(S) the SDK might attempt
// is sent to a closed loopback port through the proxy variables.
func TestCLI(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: skipping the test that builds a binary (never skipped under CI=true)")
	}
	bin := buildCLI(t)

	t.Run("help shows examples", func(t *testing.T) {
		for _, args := range [][]string{{"--help"}, {"audit", "--help"}, {"checks", "--help"}} {
			r := runCLI(t, bin, isolatedEnv(t), args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "fleetdoctor ") {
				t.Errorf("%v: exit %d, stdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
			}
		}
	})

	t.Run("unknown region exits 2 naming --regions", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "audit", "--regions", "eu-wst-1")
		if r.code != 2 || !strings.Contains(r.stderr, "--regions") || !strings.Contains(r.stderr, `"eu-wst-1"`) ||
			!strings.Contains(r.stderr, "eu-west-1") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout not empty:\n%s", r.stdout)
		}
	})

	t.Run("unknown flag exits 2", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "audit", "--regoins", "eu-west-1")
		if r.code != 2 || !strings.Contains(r.stderr, "--regoins") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("no credentials exits 3 and says how to configure them", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "audit")
		if r.code != 3 {
			t.Errorf("exit %d, want 3; stderr:\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"no usable AWS credentials", "configure credentials", "AWS_PROFILE"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if r.stdout != "" {
			t.Errorf("stdout not empty:\n%s", r.stdout)
		}
	})

	t.Run("missing profile exits 2 naming --profile", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "audit", "--profile", "no-such-profile")
		if r.code != 2 || !strings.Contains(r.stderr, "--profile") || !strings.Contains(r.stderr, "no-such-profile") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("audit --sandbox audits the demo scenario with nothing configured", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "audit", "--sandbox", "--format", "json", "--quiet")
		if r.code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
		var run struct {
			Run struct {
				Sandbox string `json:"sandbox"`
				Scope   struct{ Accounts, Regions []string }
			} `json:"run"`
			Summary struct {
				Instances, UnreachableAccounts int
			} `json:"summary"`
			Findings []struct{ Check string }
			Errors   []any
		}
		if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
			t.Fatalf("stdout is not the run document: %v", err)
		}
		if run.Run.Sandbox != "demo" || len(run.Run.Scope.Accounts) != 2 || len(run.Run.Scope.Regions) != 2 ||
			run.Summary.Instances < 900 || run.Summary.UnreachableAccounts != 0 || len(run.Errors) != 0 || len(run.Findings) == 0 {
			t.Errorf("run: %+v, %d findings, %d errors", run.Run, len(run.Findings), len(run.Errors))
		}
	})

	t.Run("unknown sandbox scenario exits 2 listing the scenarios", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "audit", "--sandbox=nope")
		if r.code != 2 || !strings.Contains(r.stderr, "demo") || !strings.Contains(r.stderr, "scale") || !strings.Contains(r.stderr, "--sandbox") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("--sandbox with --role-name exits 2", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "audit", "--sandbox", "--role-name", "x")
		if r.code != 2 || !strings.Contains(r.stderr, "--sandbox") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("sandbox serve rejects a non-loopback address", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "sandbox", "serve", "--addr", "0.0.0.0:4566")
		if r.code != 2 || !strings.Contains(r.stderr, "--addr") || !strings.Contains(r.stderr, "loopback") {
			t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("checks lists the catalogue as JSON", func(t *testing.T) {
		r := runCLI(t, bin, isolatedEnv(t), "checks", "--format", "json")
		var metas []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &metas) != nil || len(metas) == 0 {
			t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, m := range metas {
			if m.ID == "" || m.Severity == "" {
				t.Errorf("catalogue entry without id or severity: %+v", m)
			}
		}
	})
}

// buildCLI builds ./cmd/fleetdoctor into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" {
		t.Fatalf("finding the module root: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "fleetdoctor")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/fleetdoctor")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// isolatedEnv is an environment with no AWS credentials anywhere the SDK
// looks: no AWS_* variables but the region, empty shared config and
// credentials files, a fresh HOME, IMDS disabled so the SDK never tries
// 169.254.169.254, and proxies pointing at a closed loopback port so any
// other request fails on this machine.
func isolatedEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	cfg := filepath.Join(home, "aws-config")
	creds := filepath.Join(home, "aws-credentials")
	for _, f := range []string{cfg, creds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const nowhere = "http://127.0.0.1:9" // discard port; nothing listens
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_CONFIG_FILE=" + cfg,
		"AWS_SHARED_CREDENTIALS_FILE=" + creds,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_REGION=eu-west-1",
		"HTTPS_PROXY=" + nowhere,
		"HTTP_PROXY=" + nowhere,
		"https_proxy=" + nowhere,
		"http_proxy=" + nowhere,
		"NO_PROXY=",
		"no_proxy=",
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the binary with env and args. The deadline only stops a hung
// process from hanging the suite; no test asserts on time.
func runCLI(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && ctx.Err() == nil:
	default:
		t.Fatalf("running %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}
