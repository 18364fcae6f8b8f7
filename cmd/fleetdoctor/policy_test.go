package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePolicy(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyValidateExample(t *testing.T) {
	h := newHarness()
	file := filepath.Join("..", "..", "examples", "policy.yaml")
	if code := h.run(t, "policy", "validate", file); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	want := file + ": valid — enabled: imds_enable_endpoint, imds_require_tokens, imds_set_hop_limit, iam_attach_instance_profile" +
		" (caps: 50 per run, 25 per account; waves 5→×4 up to 100; MaxErrors 5%)\n"
	if got := h.stdout.String(); got != want {
		t.Errorf("stdout:\n got %q\nwant %q", got, want)
	}
	if h.stderr.Len() != 0 {
		t.Errorf("stderr: %s", h.stderr.String())
	}
	if h.providerCalls != 0 {
		t.Errorf("validate built an AWS provider %d times", h.providerCalls)
	}
}

func TestPolicyValidateDefaults(t *testing.T) {
	h := newHarness()
	path := writePolicy(t, "version: 1\ncaps: {perRun: 7}\nmaxErrors: 2\n")
	if code := h.run(t, "policy", "validate", path); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	want := path + ": valid — enabled: none (caps: 7 per run, 25 per account; waves 5→×4 up to 100; MaxErrors 2)\n"
	if got := h.stdout.String(); got != want {
		t.Errorf("stdout:\n got %q\nwant %q", got, want)
	}
}

func TestPolicyValidateExpiredExemption(t *testing.T) {
	h := newHarness() // the clock is 2026-03-02
	path := writePolicy(t, "version: 1\nexemptions:\n- {instanceId: i-0123abcd, owner: team-a, expires: 2026-01-31}\n- {instanceId: i-0123abce, owner: team-b, expires: 2026-12-31}\n")
	if code := h.run(t, "policy", "validate", path); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	errOut := h.stderr.String()
	if !strings.Contains(errOut, "exemption of i-0123abcd (owner team-a) expired 2026-01-31") || strings.Contains(errOut, "i-0123abce") {
		t.Errorf("stderr should warn of the expired exemption only:\n%s", errOut)
	}
}

func TestPolicyValidateInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"cap of zero", "version: 1\ncaps:\n  perRun: 0\n", []string{"/caps/perRun: must be >= 1: a cap of 0 would allow no change at all", "(line 3)"}},
		{"unknown remediation", "version: 1\nremediations:\n  imds_fix_everything: {enabled: true}\n",
			[]string{"/remediations/imds_fix_everything: unknown remediation (known: "}},
		{"several problems", "version: 2\nwaves: {canary: 0}\n", []string{"/version: must be 1", "/waves/canary: must be >= 1"}},
		{"not YAML", "version: [1\n", []string{"not valid YAML"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			path := writePolicy(t, tc.body)
			if code := h.run(t, "policy", "validate", path); code != exitUsage {
				t.Fatalf("exit %d, want %d; stdout:\n%s", code, exitUsage, h.stdout.String())
			}
			if h.stdout.Len() != 0 {
				t.Errorf("stdout not empty on an invalid policy:\n%s", h.stdout.String())
			}
			errOut := h.stderr.String()
			if !strings.HasPrefix(errOut, "fleetdoctor: "+path+": ") {
				t.Errorf("stderr does not start with the file name:\n%s", errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestPolicyValidateUsage(t *testing.T) {
	h := newHarness()
	if code := h.run(t, "policy", "validate"); code != exitUsage {
		t.Errorf("no file: exit %d, want %d", code, exitUsage)
	}
	if code := h.run(t, "policy", "validate", "a.yaml", "b.yaml"); code != exitUsage {
		t.Errorf("two files: exit %d, want %d", code, exitUsage)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if code := h.run(t, "policy", "validate", missing); code != exitUsage {
		t.Errorf("missing file: exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(h.stderr.String(), "no such file") {
		t.Errorf("missing file: stderr %q", h.stderr.String())
	}
}
