package scenario_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

func serialise(t testing.TB, w *scenario.World) []byte {
	t.Helper()
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func instanceIDs(w *scenario.World) map[string]bool {
	ids := map[string]bool{}
	for _, a := range w.Fleet.Accounts {
		for _, r := range a.Regions {
			for _, in := range r.Instances {
				ids[aws.ToString(in.InstanceId)] = true
			}
		}
	}
	return ids
}

func TestDeterministic(t *testing.T) {
	for _, name := range []string{"demo", "scale"} {
		t.Run(name, func(t *testing.T) {
			p := scenario.Params{Instances: 3000, AccountRegions: 6}
			if name == "demo" {
				p = scenario.Params{}
			}
			a, err := scenario.Load(name, p)
			if err != nil {
				t.Fatal(err)
			}
			b, err := scenario.Load(name, p)
			if err != nil {
				t.Fatal(err)
			}
			sa, sb := serialise(t, a), serialise(t, b)
			if !bytes.Equal(sa, sb) {
				t.Fatalf("two builds with the same seed differ (%d vs %d bytes)", len(sa), len(sb))
			}

			p.Seed = 99
			c, err := scenario.Load(name, p)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(sa, serialise(t, c)) {
				t.Fatal("a different seed built the same world")
			}
			idsA, idsC := instanceIDs(a), instanceIDs(c)
			if len(idsA) != len(idsC) {
				t.Errorf("a different seed changed the size: %d vs %d instances", len(idsA), len(idsC))
			}
			for id := range idsC {
				if idsA[id] {
					t.Errorf("instance id %s appears under both seeds", id)
				}
			}
		})
	}
}

// TestBuildTwice checks that one parsed Spec builds the same world again:
// Build must not change the Spec.
func TestBuildTwice(t *testing.T) {
	spec, err := scenario.Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	a, err := spec.Build(scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := spec.Build(scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serialise(t, a), serialise(t, b)) {
		t.Error("building a spec twice gave different worlds")
	}
}

func countWorld(w *scenario.World) (instances, accountRegions int, accounts map[string]bool) {
	accounts = map[string]bool{}
	for id, a := range w.Fleet.Accounts {
		for _, r := range a.Regions {
			if len(r.Instances) > 0 {
				accountRegions++
				accounts[id] = true
			}
			instances += len(r.Instances)
		}
	}
	return instances, accountRegions, accounts
}

func TestScaleParams(t *testing.T) {
	for _, tc := range []struct {
		p              scenario.Params
		accountRegions int
		accounts       int
	}{
		{scenario.Params{Instances: 5000, AccountRegions: 20}, 20, 5},
		{scenario.Params{Instances: 1234, AccountRegions: 7}, 7, 2},
		{scenario.Params{Instances: 50, AccountRegions: 1}, 1, 1},
	} {
		w, err := scenario.Load("scale", tc.p)
		if err != nil {
			t.Fatalf("%+v: %v", tc.p, err)
		}
		n, ars, accts := countWorld(w)
		if n != tc.p.Instances {
			t.Errorf("%+v: %d instances, want exactly %d", tc.p, n, tc.p.Instances)
		}
		if ars != tc.accountRegions || len(accts) != tc.accounts {
			t.Errorf("%+v: instances in %d account-regions of %d accounts, want %d of %d", tc.p, ars, len(accts), tc.accountRegions, tc.accounts)
		}
		if len(w.Accounts) != tc.accounts || w.CallerAccount != w.Accounts[0] {
			t.Errorf("%+v: accounts %v, caller %s", tc.p, w.Accounts, w.CallerAccount)
		}
		if len(instanceIDs(w)) != n {
			t.Errorf("%+v: instance ids are not unique", tc.p)
		}
		for _, a := range w.Accounts {
			if roles := w.Assumable[a]; len(roles) != 2 || roles[0] != w.AuditRole {
				t.Errorf("%+v: account %s assumable roles %v", tc.p, a, roles)
			}
		}
	}
}

func TestScaleDefaults(t *testing.T) {
	w, err := scenario.Load("scale", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	n, ars, _ := countWorld(w)
	if n != 100_000 || ars != 20 {
		t.Errorf("scale defaults: %d instances in %d account-regions, want 100000 in 20", n, ars)
	}
	// Shared resources stay a handful per account-region, not per instance.
	for _, a := range w.Fleet.Accounts {
		if len(a.IAM.Roles) > 20 || len(a.IAM.Profiles) > 20 {
			t.Errorf("account %s: %d roles, %d profiles", a.ID, len(a.IAM.Roles), len(a.IAM.Profiles))
		}
		for _, r := range a.Regions {
			if len(r.VPCs) > 10 || len(r.Subnets) > 30 || len(r.SecurityGroups) > 30 {
				t.Errorf("%s/%s: %d VPCs, %d subnets, %d groups", a.ID, r.Name, len(r.VPCs), len(r.Subnets), len(r.SecurityGroups))
			}
		}
	}
	// Each on-host failure mode is on some hosts and absent from most.
	for mode, has := range hostModes {
		k := 0
		for _, st := range w.Hosts {
			if has(st) {
				k++
			}
		}
		if k < 1 || k*10 >= n {
			t.Errorf("%s on %d of %d hosts; want at least 1 and under 10%%", mode, k, n)
		}
	}
}

func BenchmarkBuildScale100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		w, err := scenario.Load("scale", scenario.Params{})
		if err != nil {
			b.Fatal(err)
		}
		if n, _, _ := countWorld(w); n != 100_000 {
			b.Fatalf("%d instances", n)
		}
	}
}
