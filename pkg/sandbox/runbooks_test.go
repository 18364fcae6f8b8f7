package sandbox_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
)

// Each of fleetdoctor's remediation runbooks, started over the wire through
// the sandbox's Automation, changes the fleet as intended: the change shows
// in the APIs' answers and the audit's findings for it go away.
func TestRunbooksChangeTheFleet(t *testing.T) {
	ctx := context.Background()
	w := sampleWorld(10)
	bare := "i-00000000000000999" // an instance launched without a profile
	w.Fleet.AddInstance(acctA, regions[0], fake.InstanceSpec{ID: bare, VPC: "vpc-00", Subnet: "vpc-00-nat", SGs: []string{"vpc-00-sg"}, PrivateIP: "10.0.9.9"})
	sb := start(t, sandbox.Options{World: w, Limits: sandbox.DefaultLimits(), AutomationClock: instantClock{}})
	c := ssm.NewFromConfig(sb.Config(regions[0], 1))
	e := ec2Client(sb, nil)
	assume := []string{"arn:aws:iam::" + acctA + ":role/FleetDoctorAutomation"}
	disabled, eks := "i-00000000000000001", "i-00000000000000006" // SampleFleet: i%10==1 endpoint off, ==6 hop limit 1

	findings := func() map[string]bool {
		t.Helper()
		opts := auditOpts()
		opts.Accounts, opts.Regions = []string{acctA}, regions[:1]
		run, err := audit.Audit(ctx, sb.Provider(regions[0]), opts)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, f := range run.Findings {
			m[f.Check+"|"+f.Resource] = true
		}
		return m
	}
	before := findings()
	for _, key := range []string{"imds_endpoint_disabled|" + disabled, "iam_no_instance_profile_and_no_dhmc|" + bare} {
		if !before[key] {
			t.Fatalf("the fleet should fail %s before the runbooks run", key)
		}
	}

	ok := func(doc string, params map[string][]string) {
		t.Helper()
		g := runAutomation(t, c, doc, params)
		if s := g.AutomationExecution.AutomationExecutionStatus; s != ssmtypes.AutomationExecutionStatusSuccess {
			t.Fatalf("%s ended %s: %s", doc, s, aws.ToString(g.AutomationExecution.FailureMessage))
		}
	}
	ok("FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {disabled, eks}, "HttpEndpoint": {"enabled"},
		"HttpPutResponseHopLimit": {"2"}, "AutomationAssumeRole": assume})
	ok("FleetDoctor-AttachInstanceProfile", map[string][]string{"InstanceIds": {bare}, "InstanceProfileName": {"ssm-profile"}, "AutomationAssumeRole": assume})
	role := "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
	ok("FleetDoctor-EnableDHMC", map[string][]string{"RoleName": {role}, "AutomationAssumeRole": assume})
	ok("FleetDoctor-SetAccountMetadataDefaults", map[string][]string{"HttpTokens": {"required"}, "HttpPutResponseHopLimit": {"2"}, "AutomationAssumeRole": assume})

	d, err := e.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{disabled, eks, bare}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ec2types.Instance{}
	for _, r := range d.Reservations {
		for _, in := range r.Instances {
			got[aws.ToString(in.InstanceId)] = in
		}
	}
	if mo := got[disabled].MetadataOptions; mo.HttpEndpoint != ec2types.InstanceMetadataEndpointStateEnabled || aws.ToInt32(mo.HttpPutResponseHopLimit) != 2 {
		t.Errorf("%s metadata options %+v", disabled, mo)
	}
	if mo := got[eks].MetadataOptions; aws.ToInt32(mo.HttpPutResponseHopLimit) != 2 {
		t.Errorf("%s hop limit %d, want 2", eks, aws.ToInt32(mo.HttpPutResponseHopLimit))
	}
	if p := got[bare].IamInstanceProfile; p == nil || aws.ToString(p.Arn) != "arn:aws:iam::"+acctA+":instance-profile/ssm-profile" {
		t.Errorf("%s profile %+v", bare, p)
	}
	setting, err := c.GetServiceSetting(ctx, &ssm.GetServiceSettingInput{SettingId: aws.String("/ssm/managed-instance/default-ec2-instance-management-role")})
	if err != nil || aws.ToString(setting.ServiceSetting.SettingValue) != role {
		t.Errorf("DHMC setting %v, %v", setting, err)
	}
	defs, err := e.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil || defs.AccountLevel.HttpTokens != ec2types.HttpTokensStateRequired || aws.ToInt32(defs.AccountLevel.HttpPutResponseHopLimit) != 2 {
		t.Errorf("account defaults %+v, %v", defs, err)
	}

	after := findings()
	for _, key := range []string{"imds_endpoint_disabled|" + disabled, "iam_no_instance_profile_and_no_dhmc|" + bare} {
		if after[key] {
			t.Errorf("%s still fails after the runbooks", key)
		}
	}
}
