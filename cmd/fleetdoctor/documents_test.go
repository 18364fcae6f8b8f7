package main

import (
	"context"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

func TestDocumentsInstallSandbox(t *testing.T) {
	h := newHarness()
	if code := h.run(t, "documents", "install", "--sandbox", "--regions", "eu-west-1"); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, h.stderr.String())
	}
	for _, n := range documents.Names() {
		if !strings.Contains(h.stdout.String(), n) {
			t.Errorf("output lacks %s:\n%s", n, h.stdout.String())
		}
	}
	if strings.Contains(h.stdout.String(), "unchanged") || h.providerCalls != 0 {
		t.Errorf("a fresh sandbox: %s", h.stdout.String())
	}
}

// TestDocumentsInstallTwice installs into one sandbox twice, through the
// ordinary AWS provider path: created, then unchanged.
func TestDocumentsInstallTwice(t *testing.T) {
	world, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{World: world})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	h := newHarness()
	d := h.deps()
	d.newProvider = func(_ context.Context, o awsapi.Options) (awsapi.Provider, string, error) {
		cfg := sb.Config(world.Regions[0], awsapi.DefaultMaxAttempts)
		return awsapi.NewProviderFromConfig(cfg, o), world.Regions[0], nil
	}
	args := []string{"documents", "install", "--accounts", strings.Join(world.Accounts, ","), "--role-name", world.AuditRole, "--regions", strings.Join(world.Regions, ",")}
	n := len(documents.Names()) * len(world.Accounts) * len(world.Regions)
	for i, want := range []string{"created v1", "unchanged (v1)"} {
		h.stdout.Reset()
		h.stderr.Reset()
		if code := run(context.Background(), args, d); code != exitOK {
			t.Fatalf("run %d: exit %d, stderr:\n%s", i+1, code, h.stderr.String())
		}
		if got := strings.Count(h.stdout.String(), want); got != n {
			t.Errorf("run %d: %d lines say %q, want %d:\n%s", i+1, got, want, n, h.stdout.String())
		}
	}
	st := sb.Stats()
	if st["ssm:CreateDocument"].Calls != n || st["ssm:UpdateDocument"].Calls != 0 || st["ssm:DescribeDocument"].Calls != 2*n {
		t.Errorf("API calls %+v", st)
	}

	// --names limits the install; an unknown name is a usage error.
	h.stdout.Reset()
	if code := run(context.Background(), append(args, "--names", "FleetDoctor-Nope"), d); code != exitUsage {
		t.Errorf("unknown --names: exit %d", code)
	}
}
