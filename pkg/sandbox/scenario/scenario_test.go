package scenario_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// minimal is the README's example scenario.
var minimal = func() string {
	b, err := os.ReadFile("testdata/minimal.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func TestNames(t *testing.T) {
	names := scenario.Names()
	if !slices.IsSorted(names) || !slices.Contains(names, "demo") || !slices.Contains(names, "scale") {
		t.Fatalf("Names() = %v, want a sorted list with demo and scale", names)
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("scenarios", n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		spec, err := scenario.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if spec.Name != n {
			t.Errorf("scenarios/%s.yaml names itself %q", n, spec.Name)
		}
	}
}

func TestLoadUnknown(t *testing.T) {
	_, err := scenario.Load("nonesuch", scenario.Params{})
	if err == nil {
		t.Fatal("loading an unknown scenario succeeded")
	}
	for _, want := range append([]string{"nonesuch"}, scenario.Names()...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := scenario.Load(path, scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	r := w.Fleet.Accounts["123456789012"].Regions["eu-west-1"]
	if len(r.Instances) != 23 {
		t.Errorf("%d instances, want 23", len(r.Instances))
	}
	if w.CallerAccount != "123456789012" || w.AuditRole != scenario.DefaultAuditRole {
		t.Errorf("caller %s, audit role %s", w.CallerAccount, w.AuditRole)
	}
	if len(r.Managed) != 23 || len(r.Metrics) != 2 || len(w.Hosts) != 1 {
		t.Errorf("%d registrations, %d with metrics, %d hosts; want 23, 2, 1", len(r.Managed), len(r.Metrics), len(w.Hosts))
	}
	for _, m := range r.Managed {
		st := w.Hosts[aws.ToString(m.InstanceId)]
		if want := map[bool]string{true: "ConnectionLost", false: "Online"}[st != nil]; string(m.PingStatus) != want {
			t.Errorf("%s is %s, want %s", aws.ToString(m.InstanceId), m.PingStatus, want)
		}
	}
	if _, err := scenario.Load(filepath.Join(t.TempDir(), "missing.yaml"), scenario.Params{}); err == nil {
		t.Error("loading a missing file succeeded")
	}
}

func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), minimal) {
		t.Error("README.md does not show testdata/minimal.yaml verbatim; keep the two in step")
	}
}

// TestParseErrors breaks the minimal scenario in one place at a time and
// checks the error names where.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"unknown field", "    iam:\n", "    colour: red\n    iam:\n", []string{"line 5", "colour"}},
		{"bad account id", `id: "123456789012"`, `id: "12345"`, []string{"accounts[0].id", "12 digits"}},
		{"bad region", "name: eu-west-1", "name: eu-west-9", []string{"accounts[0].regions[0].name", "eu-west-9"}},
		{"subnet outside VPC", "cidr: 10.0.0.0/20", "cidr: 10.9.0.0/20",
			[]string{"accounts[0].regions[0].vpcs[0].subnets[0].cidr", "not inside"}},
		{"overlapping subnets", "cidr: 10.0.16.0/20", "cidr: 10.0.8.0/21",
			[]string{"accounts[0].regions[0].vpcs[0].subnets[1].cidr", "overlaps"}},
		{"dangling route table", "zone: a, routeTable: private", "zone: a, routeTable: privat",
			[]string{"accounts[0].regions[0].vpcs[0].subnets[0].routeTable", "privat"}},
		{"dangling role", "role: ssm-role}", "role: ssm-rol}", []string{"accounts[0].iam.profiles[0].role", "ssm-rol"}},
		{"unknown managed policy", "[AmazonSSMManagedInstanceCore]", "[AmazonSSMManagedInstanceCor]",
			[]string{"accounts[0].iam.roles[0].managed[0]", "AmazonSSMManagedInstanceCor"}},
		{"dangling VPC", "      vpc: main\n      profile: ssm-profile\n      tags", "      vpc: mian\n      profile: ssm-profile\n      tags",
			[]string{"groups[0].template.vpc", `"mian"`}},
		{"dangling subnet", "      tags: {app: web}", "      tags: {app: web}\n      subnets: [private-z]",
			[]string{"groups[0].template.subnets[0]", "private-z"}},
		{"dangling security group", "      tags: {app: web}", "      tags: {app: web}\n      securityGroups: [web-sg]",
			[]string{"groups[0].template.securityGroups[0]", "web-sg"}},
		{"dangling profile", "      profile: ssm-profile\n      tags", "      profile: ssm-profle\n      tags",
			[]string{"groups[0].template.profile", "ssm-profle"}},
		{"dangling DHMC role", "      - name: eu-west-1\n", "      - name: eu-west-1\n        dhmc: service-role/missing\n",
			[]string{"accounts[0].regions[0].dhmc", "missing"}},
		{"unknown account in where", "    count: 20\n", "    count: 20\n    where: [nobody/*]\n",
			[]string{"groups[0].where[0]", "nobody"}},
		{"weight without total", "    count: 20\n", "    weight: 1\n", []string{"instances", "weight"}},
		{"Online contradicts host", "      host:\n", "      ssm: {ping: Online}\n      host:\n",
			[]string{"groups[2].template.ssm.ping", "every process"}},
		{"bad firewall action", "action: REJECT}", "action: ACCEPT}", []string{"groups[2].template.host.firewall[0].action", "ACCEPT"}},
		{"bad duration", "      tags: {app: web}", "      tags: {app: web}\n      launchAge: 3 weeks", []string{"line 30", "3 weeks"}},
		{"bad metric range", "noToken: [1, 50]", "noToken: [50, 1]", []string{"line 36", "min above max"}},
		{"second document", "groups:", "---\ngroups:", []string{"more than one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(minimal, tc.old) {
				t.Fatalf("test is stale: %q is not in testdata/minimal.yaml", tc.old)
			}
			_, err := scenario.Parse([]byte(strings.Replace(minimal, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := scenario.Parse([]byte(minimal)); err != nil {
		t.Fatalf("the unbroken scenario does not parse: %v", err)
	}
	if _, err := scenario.Parse(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty input: %v", err)
	}
}

func TestParamsErrors(t *testing.T) {
	spec, err := scenario.Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    scenario.Params
		want string
	}{
		{scenario.Params{AccountRegions: 3}, "generate"},
		{scenario.Params{Instances: 5}, "count"},
		{scenario.Params{Instances: -1}, "Params.Instances"},
	} {
		if _, err := spec.Build(tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) = %v, want an error mentioning %q", tc.p, err, tc.want)
		}
	}
	if _, err := scenario.Load("scale", scenario.Params{Instances: 1_000_000, AccountRegions: 1}); err == nil ||
		!strings.Contains(err.Error(), "has room for") {
		t.Errorf("overfilling a subnet: %v", err)
	}
}

// TestSpecBuiltInGo checks that a Spec assembled in Go is validated by
// Build rather than trusted.
func TestSpecBuiltInGo(t *testing.T) {
	s := &scenario.Spec{Name: "go", Accounts: []*scenario.AccountSpec{{ID: "1"}}}
	if _, err := s.Build(scenario.Params{}); err == nil || !strings.Contains(err.Error(), "accounts[0].id") {
		t.Errorf("Build of an invalid Spec: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	demo, err := os.ReadFile("scenarios/demo.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(demo)
	f.Add([]byte("name: x\naccounts: [null]\ngroups: [null]\n"))
	f.Add([]byte("name: x\nlayouts: {a: {extends: a}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := scenario.Parse(data)
		if err != nil {
			return
		}
		total := spec.Instances
		for _, g := range spec.Groups {
			if g.Count != nil {
				total += *g.Count
			}
		}
		if total > 5000 || spec.Generate != nil && spec.Generate.AccountRegions > 50 {
			return // valid but too big to build on every fuzz input
		}
		if _, err := spec.Build(scenario.Params{}); err != nil {
			t.Fatalf("Parse accepted a scenario that Build rejects: %v", err)
		}
	})
}
