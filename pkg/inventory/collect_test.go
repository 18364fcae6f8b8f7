package inventory_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

const (
	acctA  = "111111111111"
	acctB  = "222222222222"
	region = "eu-west-1"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func collect(t *testing.T, f *fake.Fleet, accounts, regions []string) *inventory.Snapshot {
	t.Helper()
	c := &inventory.Collector{Provider: f.Provider(), MetricWindow: 14 * 24 * time.Hour, Clock: func() time.Time { return now }}
	snap, err := c.Collect(context.Background(), accounts, regions)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return snap
}

// fleetOf builds one account-region with n instances in one VPC, all using
// one instance profile, all registered with SSM.
func fleetOf(n int) *fake.Fleet {
	f := fake.New(acctA)
	f.AddProfile(acctA, "web", "web-role", fake.CorePolicyARN)
	f.AddVPC(acctA, region, fake.VPCSpec{ID: "vpc-1", CIDR: "10.0.0.0/16", Subnets: []fake.SubnetSpec{
		{ID: "subnet-a", CIDR: "10.0.0.0/20", Default: "nat-1"}, {ID: "subnet-b", CIDR: "10.0.16.0/20"},
	}})
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("i-%017d", i)
		f.AddInstance(acctA, region, fake.InstanceSpec{ID: id, VPC: "vpc-1", Subnet: []string{"subnet-a", "subnet-b"}[i%2],
			SGs: []string{"vpc-1-sg"}, Profile: "web", PrivateIP: "10.0.0.10"})
		f.Register(acctA, region, id, "Online", "3.3.1142.0")
	}
	return f
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// The efficiency contract of issue 2: calls grow with pages, profiles, roles
// and VPCs — never with instances one by one.
func TestCollectCallCounts(t *testing.T) {
	for _, n := range []int{1, 50, 51, 500, 501, 999, 1000, 1001, 2500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := fleetOf(n)
			collect(t, f, []string{acctA}, []string{region})
			metricCalls := 1 // one SEARCH call covers up to 500 instances
			if n > 500 {
				metricCalls = ceilDiv(2*n, 500)
			}
			want := map[string]int{
				"sts:AssumeRole":                  1,
				"ec2:DescribeInstances":           ceilDiv(n, 1000),
				"ssm:DescribeInstanceInformation": ceilDiv(n, 50),
				"ssm:GetServiceSetting":           1,
				"ec2:GetInstanceMetadataDefaults": 1,
				"cloudwatch:GetMetricData":        metricCalls,
				"iam:GetInstanceProfile":          1,
				"iam:GetRole":                     1,
				"iam:ListAttachedRolePolicies":    1,
				"iam:ListRolePolicies":            1,
				"iam:SimulatePrincipalPolicy":     1,
				"ec2:DescribeVpcs":                1,
				"ec2:DescribeVpcAttribute":        2,
				"ec2:DescribeSubnets":             1,
				"ec2:DescribeRouteTables":         1,
				"ec2:DescribeNetworkAcls":         1,
				"ec2:DescribeVpcEndpoints":        1,
				"ec2:DescribeSecurityGroups":      1,
			}
			got := f.AllCalls()
			for api, w := range want {
				if got[api] != w {
					t.Errorf("%s: %d calls, want %d", api, got[api], w)
				}
			}
			for api := range got {
				if _, ok := want[api]; !ok {
					t.Errorf("unexpected call %s ×%d", api, got[api])
				}
			}
		})
	}
}

// IAM and network calls follow distinct profiles, roles and VPCs.
func TestCollectCallsScaleWithDistinctResources(t *testing.T) {
	f := fake.New(acctA)
	const vpcs, profiles, perVPC = 3, 4, 40
	for p := 0; p < profiles; p++ {
		f.AddProfile(acctA, fmt.Sprintf("prof-%d", p), fmt.Sprintf("role-%d", p), fake.CorePolicyARN)
	}
	for v := 0; v < vpcs; v++ {
		vpc := fmt.Sprintf("vpc-%d", v)
		f.AddVPC(acctA, region, fake.VPCSpec{ID: vpc, CIDR: "10.0.0.0/16", Subnets: []fake.SubnetSpec{{ID: vpc + "-s", CIDR: "10.0.0.0/20"}}})
		for i := 0; i < perVPC; i++ {
			f.AddInstance(acctA, region, fake.InstanceSpec{ID: fmt.Sprintf("i-%d-%03d", v, i), VPC: vpc, Subnet: vpc + "-s",
				SGs: []string{vpc + "-sg"}, Profile: fmt.Sprintf("prof-%d", i%profiles)})
		}
	}
	collect(t, f, []string{acctA}, []string{region})
	for api, want := range map[string]int{
		"iam:GetInstanceProfile":      profiles,
		"iam:GetRole":                 profiles,
		"iam:SimulatePrincipalPolicy": profiles,
		"ec2:DescribeVpcAttribute":    2 * vpcs,
		"ec2:DescribeVpcs":            1,
		"ec2:DescribeSubnets":         1,
		"ec2:DescribeSecurityGroups":  1,
	} {
		if got := f.Calls(api); got != want {
			t.Errorf("%s: %d calls, want %d", api, got, want)
		}
	}
}

func TestCollectConvertsEverything(t *testing.T) {
	f := fake.New(acctA)
	f.AddProfile(acctA, "web", "web-role", fake.CorePolicyARN)
	f.AddVPC(acctA, region, fake.VPCSpec{ID: "vpc-1", CIDR: "10.0.0.0/16", NoDNS: true,
		Subnets:   []fake.SubnetSpec{{ID: "subnet-nat", CIDR: "10.0.0.0/20", Default: "nat-0abc"}, {ID: "subnet-iso", CIDR: "10.0.16.0/20", IPv6Native: true}},
		Endpoints: map[string]bool{"ssm": true, "ssmmessages": false},
	})
	f.AddInstance(acctA, region, fake.InstanceSpec{ID: "i-1", VPC: "vpc-1", Subnet: "subnet-nat", SGs: []string{"vpc-1-sg"}, Profile: "web",
		PrivateIP: "10.0.0.5", PublicIP: true, HTTPTokens: "optional", HopLimit: 1, Tags: map[string]string{"eks:cluster-name": "prod"}})
	f.AddInstance(acctA, region, fake.InstanceSpec{ID: "i-2", VPC: "vpc-1", Subnet: "subnet-iso", State: "stopped", Platform: "windows", MetadataState: "pending"})
	f.AddInstance(acctA, region, fake.InstanceSpec{ID: "i-gone", State: "terminated"})
	f.Register(acctA, region, "i-1", "ConnectionLost", "3.2.100.0")
	f.SetMetrics(acctA, region, "i-1", 7, 2)
	r := f.Region(acctA, region)
	r.DHMC = "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
	r.Defaults.HttpTokens = "required"
	r.Defaults.ManagedBy = "declarative-policy"

	snap := collect(t, f, []string{acctA}, []string{region})
	if len(snap.Accounts) != 1 || len(snap.Accounts[0].Regions) != 1 {
		t.Fatalf("shape: %+v", snap)
	}
	got := snap.Accounts[0].Regions[0]
	if len(got.Errors) != 0 {
		t.Fatalf("errors: %v", got.Errors)
	}
	if ids := []string{got.Instances[0].ID, got.Instances[1].ID}; len(got.Instances) != 2 || !slices.Equal(ids, []string{"i-1", "i-2"}) {
		t.Fatalf("instances: %+v (terminated ones must be filtered out)", got.Instances)
	}
	i1, i2 := got.Instances[0], got.Instances[1]
	if i1.Metadata.HTTPTokens != "optional" || i1.Metadata.HopLimit != 1 || i1.Metadata.HTTPEndpoint != "enabled" || i1.Metadata.State != "applied" {
		t.Errorf("metadata: %+v", i1.Metadata)
	}
	if i1.PrivateIP != netip.MustParseAddr("10.0.0.5") || !i1.PublicIP || i1.Tags["eks:cluster-name"] != "prod" || i1.ProfileARN != "arn:aws:iam::"+acctA+":instance-profile/web" {
		t.Errorf("instance i-1: %+v", i1)
	}
	if i1.Agent == nil || i1.Agent.PingStatus != "ConnectionLost" || i1.Agent.Version != "3.2.100.0" {
		t.Errorf("agent: %+v", i1.Agent)
	}
	if i1.IMDSCalls == nil || i1.IMDSCalls.NoToken != 7 || i1.IMDSCalls.NoTokenRejected != 2 || !i1.IMDSCalls.HasData {
		t.Errorf("metrics: %+v", i1.IMDSCalls)
	}
	if i2.Platform != "windows" || i2.State != "stopped" || i2.Agent != nil || i2.Metadata.State != "pending" {
		t.Errorf("instance i-2: %+v", i2)
	}
	if i2.IMDSCalls == nil || i2.IMDSCalls.HasData {
		t.Errorf("an instance without series should have known zero calls without data: %+v", i2.IMDSCalls)
	}
	if got.DHMC == nil || got.DHMC.RoleName != "AWSSystemsManagerDefaultEC2InstanceManagementRole" || !got.DHMC.Enabled() {
		t.Errorf("dhmc: %+v", got.DHMC)
	}
	if got.Defaults == nil || got.Defaults.HTTPTokens != "required" || got.Defaults.ManagedBy != "declarative-policy" {
		t.Errorf("defaults: %+v", got.Defaults)
	}

	vpc := got.Network.VPCs["vpc-1"]
	if vpc == nil || vpc.DNSSupport || vpc.DNSHostnames || len(vpc.CIDRs) != 1 {
		t.Fatalf("vpc: %+v", vpc)
	}
	if len(vpc.Endpoints) != 2 {
		t.Fatalf("endpoints: %+v", vpc.Endpoints)
	}
	for _, e := range vpc.Endpoints {
		if want := e.Service == "ssm"; e.PrivateDNS != want || e.State != "available" || !slices.Equal(e.SubnetIDs, []string{"subnet-nat"}) {
			t.Errorf("endpoint %+v", e)
		}
	}
	nat, iso := got.Network.Subnets["subnet-nat"], got.Network.Subnets["subnet-iso"]
	if nat == nil || iso == nil {
		t.Fatalf("subnets: %+v", got.Network.Subnets)
	}
	if !iso.IPv6Native || nat.CIDR != netip.MustParsePrefix("10.0.0.0/20") {
		t.Errorf("subnet fields: %+v %+v", nat, iso)
	}
	var natRoute *inventory.Route
	for i, r := range nat.RouteTable.Routes {
		if r.Destination.String() == "0.0.0.0/0" {
			natRoute = &nat.RouteTable.Routes[i]
		}
	}
	if natRoute == nil || natRoute.Target != "nat" || natRoute.TargetID != "nat-0abc" {
		t.Errorf("nat subnet routes: %+v", nat.RouteTable)
	}
	if len(iso.RouteTable.Routes) != 1 || iso.RouteTable.Routes[0].Target != "local" {
		t.Errorf("isolated subnet routes: %+v", iso.RouteTable)
	}
	if nat.NACL == nil || len(nat.NACL.Entries) != 4 || nat.NACL.Entries[0].RuleNumber != 100 {
		t.Errorf("nacl: %+v", nat.NACL)
	}
	sg := got.Network.SecurityGroups["vpc-1-sg"]
	if sg == nil || len(sg.Egress) != 1 || sg.Egress[0].Protocol != "-1" || sg.Egress[0].ToPort != 65535 ||
		len(sg.Ingress) != 1 || sg.Ingress[0].FromPort != 443 {
		t.Errorf("security group: %+v", sg)
	}

	iam := snap.Accounts[0].IAM
	prof := iam.Profiles["arn:aws:iam::"+acctA+":instance-profile/web"]
	if prof == nil || !prof.Exists || !slices.Equal(prof.RoleNames, []string{"web-role"}) {
		t.Fatalf("profile: %+v", prof)
	}
	role := iam.Roles["web-role"]
	if role == nil || !role.Exists || role.PermissionsFrom != inventory.FromSimulation ||
		!slices.Equal(role.TrustedServices, []string{"ec2.amazonaws.com"}) || !slices.Equal(role.AttachedPolicyARNs, []string{fake.CorePolicyARN}) {
		t.Fatalf("role: %+v", role)
	}
	for _, a := range inventory.AgentActions {
		if !role.Allowed[a] {
			t.Errorf("core policy should allow %s", a)
		}
	}
	// The DHMC role is read too, even though no instance uses it; here it
	// does not exist.
	if dr := iam.Roles["AWSSystemsManagerDefaultEC2InstanceManagementRole"]; dr == nil || dr.Exists || dr.Err != nil {
		t.Errorf("dhmc role: %+v", dr)
	}
}

func TestIAMProfilesWithoutRoles(t *testing.T) {
	f := fake.New(acctA)
	f.AddProfile(acctA, "orphan", "")       // role removed from the profile
	f.AddProfile(acctA, "dangling", "gone") // profile names a role that no longer exists
	delete(f.Account(acctA).IAM.Roles, "gone")
	f.AddInstance(acctA, region, fake.InstanceSpec{ID: "i-1", Profile: "orphan"})
	f.AddInstance(acctA, region, fake.InstanceSpec{ID: "i-2", Profile: "dangling"})
	f.AddInstance(acctA, region, fake.InstanceSpec{ID: "i-3", Profile: "deleted"}) // profile deleted while associated
	snap := collect(t, f, []string{acctA}, []string{region})
	iam := snap.Accounts[0].IAM
	arn := func(n string) string { return "arn:aws:iam::" + acctA + ":instance-profile/" + n }
	if p := iam.Profiles[arn("orphan")]; !p.Exists || len(p.RoleNames) != 0 || p.Err != nil {
		t.Errorf("orphan: %+v", p)
	}
	if p := iam.Profiles[arn("deleted")]; p.Exists || p.Err != nil {
		t.Errorf("deleted: %+v", p)
	}
	if r := iam.Roles["gone"]; r == nil || r.Exists || r.Err != nil {
		t.Errorf("gone role: %+v", r)
	}
}

// Without iam:SimulatePrincipalPolicy the collector reads the policy
// documents instead — asking for the simulation once per account, and for
// each managed policy once per run.
func TestIAMSimulationDeniedFallsBackToDocuments(t *testing.T) {
	f := fake.New(acctA)
	for _, acct := range []string{acctA, acctB} {
		m := f.Account(acct).IAM
		m.SimulateDenied = true
		custom := "arn:aws:iam::" + acct + ":policy/agent-extras"
		m.Policies[custom] = &fake.Policy{ARN: custom, Document: `{"Statement":{"Effect":"Allow","Action":"ec2messages:*","Resource":"*"}}`}
		f.AddProfile(acct, "full", "full-role", fake.CorePolicyARN)
		f.AddProfile(acct, "partial", "partial-role", custom)
		m.Roles["partial-role"].Inline["sessions"] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:UpdateInstanceInformation","ssmmessages:*"],"Resource":"*"},{"Effect":"Deny","Action":"ssmmessages:OpenDataChannel","Resource":"*"}]}`
		f.AddProfile(acct, "none", "none-role")
		for i, p := range []string{"full", "partial", "none"} {
			f.AddInstance(acct, region, fake.InstanceSpec{ID: fmt.Sprintf("i-%d", i), Profile: p})
		}
	}
	snap := collect(t, f, []string{acctA, acctB}, []string{region})
	for _, a := range snap.Accounts {
		roles := a.IAM.Roles
		for _, name := range []string{"full-role", "partial-role", "none-role"} {
			if r := roles[name]; r.PermissionsFrom != inventory.FromPolicyDocuments || r.Err != nil {
				t.Fatalf("%s %s: %+v", a.ID, name, r)
			}
		}
		for _, act := range inventory.AgentActions {
			if !roles["full-role"].Allowed[act] {
				t.Errorf("full-role should allow %s", act)
			}
			if roles["none-role"].Allowed[act] {
				t.Errorf("none-role should not allow %s", act)
			}
			want := act != "ssmmessages:OpenDataChannel" // explicit deny wins
			if roles["partial-role"].Allowed[act] != want {
				t.Errorf("partial-role %s: allowed=%v, want %v", act, roles["partial-role"].Allowed[act], want)
			}
		}
	}
	if got := f.Calls("iam:SimulatePrincipalPolicy"); got != 2 {
		t.Errorf("SimulatePrincipalPolicy: %d calls, want one per account (2)", got)
	}
	// Distinct managed policies: the AWS core policy (shared) + one custom
	// policy per account = 3.
	if got := f.Calls("iam:GetPolicyVersion"); got != 3 {
		t.Errorf("GetPolicyVersion: %d calls, want 3 (cached per policy ARN)", got)
	}
	if got := f.Calls("iam:GetRolePolicy"); got != 2 {
		t.Errorf("GetRolePolicy: %d calls, want 2", got)
	}
}

func TestCollectErrorsStayLocal(t *testing.T) {
	f := fleetOf(3)
	f.AddProfile(acctB, "web", "web-role", fake.CorePolicyARN)
	f.AddInstance(acctB, region, fake.InstanceSpec{ID: "i-b", Profile: "web"})
	f.Account(acctB).AssumeRoleDenied = true
	f.AddInstance(acctA, "us-east-1", fake.InstanceSpec{ID: "i-us"})
	f.Fail(acctA, region, "cloudwatch:GetMetricData", fake.AccessDenied("cloudwatch:GetMetricData"))
	f.Fail(acctA, "us-east-1", "ec2:DescribeInstances", fake.Unauthorized("ec2:DescribeInstances"))
	f.Fail(acctA, "", "iam:GetRole", fake.APIError("Throttling", "Rate exceeded"))

	snap := collect(t, f, []string{acctB, acctA}, []string{region, "us-east-1"})
	a, b := snap.Accounts[0], snap.Accounts[1]
	if a.ID != acctA || b.ID != acctB {
		t.Fatalf("accounts not sorted: %s %s", a.ID, b.ID)
	}
	if b.Err == nil || b.Err.API != "sts:AssumeRole" || b.Err.Kind != "access-denied" || b.Err.Permission != "sts:AssumeRole" || len(b.Regions) != 0 {
		t.Errorf("unreachable account: %+v", b)
	}
	eu, us := a.Regions[0], a.Regions[1]
	if eu.Name != region || us.Name != "us-east-1" {
		t.Fatalf("regions: %s %s", eu.Name, us.Name)
	}
	if e := eu.Failed(inventory.SourceMetrics); e == nil || e.Permission != "cloudwatch:GetMetricData" {
		t.Errorf("metrics error: %+v", e)
	}
	if len(eu.Instances) != 3 || eu.Instances[0].IMDSCalls != nil || eu.Instances[0].Agent == nil {
		t.Errorf("the rest of eu-west-1 should be collected, metrics unknown: %+v", eu.Instances[0])
	}
	if e := us.Failed(inventory.SourceInstances); e == nil || e.Code != "UnauthorizedOperation" || e.Permission != "ec2:DescribeInstances" {
		t.Errorf("instances error: %+v", e)
	}
	if us.Defaults == nil || us.DHMC == nil {
		t.Errorf("defaults and DHMC do not depend on instances: %+v", us)
	}
	if r := a.IAM.Roles["web-role"]; r == nil || r.Err == nil || r.Err.Kind != "throttled" || r.Err.Permission != "" {
		t.Errorf("throttled role: %+v", r)
	}
}

// A SEARCH that returns the 500-series maximum may be missing instances, so
// the collector asks per instance instead.
func TestMetricsFallBackWhenSearchIsFull(t *testing.T) {
	f := fleetOf(10)
	r := f.Region(acctA, region)
	for i := 0; i < 600; i++ { // terminated instances still have series
		r.Metrics[fmt.Sprintf("i-old%05d", i)] = map[string]float64{"MetadataNoToken": 1, "MetadataNoTokenRejected": 1}
	}
	f.SetMetrics(acctA, region, "i-00000000000000003", 5, 0)
	snap := collect(t, f, []string{acctA}, []string{region})
	if got := f.Calls("cloudwatch:GetMetricData"); got != 2 {
		t.Errorf("GetMetricData: %d calls, want 2 (search, then one batch)", got)
	}
	insts := snap.Accounts[0].Regions[0].Instances
	if c := insts[3].IMDSCalls; c == nil || c.NoToken != 5 || !c.HasData {
		t.Errorf("i-3 calls: %+v", c)
	}
	if c := insts[0].IMDSCalls; c == nil || c.HasData {
		t.Errorf("i-0 calls: %+v", c)
	}
}

func TestCollectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &inventory.Collector{Provider: fleetOf(1).Provider()}
	if _, err := c.Collect(ctx, []string{acctA}, []string{region}); err == nil {
		t.Fatal("a cancelled collection must fail, not return a partial snapshot")
	}
}

func TestCollectProgress(t *testing.T) {
	f := fake.SampleFleet([]string{acctA, acctB}, []string{region, "us-east-1"}, 5)
	var events []inventory.ProgressEvent
	c := &inventory.Collector{Provider: f.Provider(), Concurrency: 1, Progress: func(e inventory.ProgressEvent) { events = append(events, e) }}
	if _, err := c.Collect(context.Background(), []string{acctA, acctB}, []string{region, "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	if len(events) != 6 || events[5].Done != 6 || events[5].Total != 6 {
		t.Errorf("progress events: %+v", events)
	}
}

// docs/audit-role-policy.json is what the README tells operators to grant;
// every API the collectors call must be in it.
func TestAuditRolePolicyCoversEveryCall(t *testing.T) {
	raw, err := os.ReadFile("../../docs/audit-role-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct{ Action []string }
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	granted := map[string]bool{}
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			granted[a] = true
		}
	}
	// A fleet that exercises every path, including the policy-document
	// fallback when the simulation is denied.
	f := fake.SampleFleet([]string{acctA}, []string{region}, 5)
	f.Account(acctA).IAM.SimulateDenied = true
	f.Account(acctA).IAM.Roles["ssm-role"].Inline["extra"] = `{"Statement":[]}`
	collect(t, f, []string{acctA}, []string{region})
	for api := range f.AllCalls() {
		if api == "sts:AssumeRole" {
			continue // granted by the role's trust policy, not by this policy
		}
		if !granted[api] {
			t.Errorf("%s is called but not in docs/audit-role-policy.json", api)
		}
		delete(granted, api)
	}
	for api := range granted {
		t.Errorf("%s is granted but never called", api)
	}
}
