package test

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

const contractRegion = "eu-west-1"

// errNotCompared answers, on both sides, the calls whose sources moto does
// not implement (ssm:DescribeInstanceInformation, ssm:GetServiceSetting,
// ec2:GetInstanceMetadataDefaults, cloudwatch:GetMetricData over the SDK's
// rpc-v2 CBOR protocol) and iam:SimulatePrincipalPolicy, which moto does not
// implement either. Because both providers get the same answer, both
// snapshots record the same CollectError for those sources and the IAM
// collector takes the policy-documents path on both sides — which is the
// path that exercises IAM's URL-encoded documents.
var errNotCompared = &smithy.GenericAPIError{Code: "AccessDenied", Message: "not part of the moto/sandbox contract", Fault: smithy.FaultClient}

// contractProvider restricts a provider to the sources both moto and the sandbox
// implement: instances, network and IAM (without the simulation).
type contractProvider struct{ awsapi.Provider }

func (p contractProvider) Clients(ctx context.Context, account, region string) (*awsapi.Clients, error) {
	c, err := p.Provider.Clients(ctx, account, region)
	if err != nil {
		return nil, err
	}
	return &awsapi.Clients{EC2: noDefaults{c.EC2}, SSM: notCompared{}, IAM: noSimulation{c.IAM}, CloudWatch: notCompared{}}, nil
}

type noDefaults struct{ awsapi.EC2API }

func (noDefaults) GetInstanceMetadataDefaults(context.Context, *ec2.GetInstanceMetadataDefaultsInput, ...func(*ec2.Options)) (*ec2.GetInstanceMetadataDefaultsOutput, error) {
	return nil, errNotCompared
}

type noSimulation struct{ awsapi.IAMAPI }

func (noSimulation) SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	return nil, errNotCompared
}

type notCompared struct{}

func (notCompared) DescribeInstanceInformation(context.Context, *ssm.DescribeInstanceInformationInput, ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error) {
	return nil, errNotCompared
}

func (notCompared) GetServiceSetting(context.Context, *ssm.GetServiceSettingInput, ...func(*ssm.Options)) (*ssm.GetServiceSettingOutput, error) {
	return nil, errNotCompared
}

func (notCompared) GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	return nil, errNotCompared
}

// TestMotoSandboxSnapshots is the sandbox's contract with a real AWS
// emulator: moto is seeded through the SDK, its state is mirrored into a
// fake.Fleet with raw SDK reads, a sandbox serves that fleet, and the same
// inventory.Collector over the same AWSProvider code reads both. The two
// Snapshots must be equal.
//
// Metrics are not compared: moto has no route for CloudWatch's rpc-v2 CBOR
// protocol, which the SDK's GetMetricData speaks.
func TestMotoSandboxSnapshots(t *testing.T) {
	t.Setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
	motoURL := startMoto(t)
	ctx := context.Background()
	cfg := motoConfig(motoURL)
	cfg.RetryMaxAttempts = 1
	seedMoto(ctx, t, cfg)

	world := mirrorMoto(ctx, t, cfg)
	sb, err := sandbox.New(sandbox.Options{World: world})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	// A fixed clock on both sides: CollectedAt is then equal by
	// construction, and nothing needs normalising.
	t0 := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	collect := func(p awsapi.Provider) *inventory.Snapshot {
		t.Helper()
		c := &inventory.Collector{Provider: contractProvider{p}, MetricWindow: 24 * time.Hour, Clock: func() time.Time { return t0 }}
		snap, err := c.Collect(ctx, []string{world.CallerAccount}, []string{contractRegion})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	fromMoto := collect(awsapi.NewProviderFromConfig(cfg, awsapi.Options{}))
	fromSandbox := collect(awsapi.NewProviderFromConfig(sb.Config(contractRegion, 3), awsapi.Options{}))

	// The snapshot is about something.
	if len(fromMoto.Accounts) != 1 || len(fromMoto.Accounts[0].Regions) != 1 {
		t.Fatalf("moto snapshot: %d accounts", len(fromMoto.Accounts))
	}
	acct, reg := fromMoto.Accounts[0], fromMoto.Accounts[0].Regions[0]
	if n := len(reg.Instances); n != 6 {
		t.Errorf("moto snapshot: %d instances, want 6", n)
	}
	for _, src := range []inventory.Source{inventory.SourceInstances, inventory.SourceNetwork} {
		if e := reg.Failed(src); e != nil {
			t.Errorf("moto snapshot: source %s failed: %v", src, e)
		}
	}
	if len(acct.IAM.Profiles) != 2 || len(acct.IAM.Roles) != 1 {
		t.Errorf("moto snapshot: %d profiles, %d roles; want 2 and 1", len(acct.IAM.Profiles), len(acct.IAM.Roles))
	}
	if r := acct.IAM.Roles["ssm-role"]; r == nil || !r.Allowed["ssm:UpdateInstanceInformation"] || len(r.InlinePolicyNames) != 1 {
		t.Errorf("moto snapshot: ssm-role not read through its documents: %+v", r)
	}
	var endpoints int
	for _, v := range reg.Network.VPCs {
		endpoints += len(v.Endpoints)
	}
	if endpoints == 0 {
		t.Errorf("moto snapshot: no VPC endpoints")
	}

	want, err := json.MarshalIndent(fromMoto, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(fromSandbox, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("the sandbox's snapshot differs from moto's:\n%s", lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines that differ, position by position (the two
// documents have the same shape when they differ only in values).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + "\n  moto:    " + wl + "\n  sandbox: " + gl + "\n")
		}
	}
	return b.String()
}

// seedMoto builds a small fleet in moto through the SDK.
func seedMoto(ctx context.Context, t *testing.T, cfg aws.Config) {
	t.Helper()
	ec2c, iamc := ec2.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// IAM: a role trusting EC2 with the core policy and an inline policy,
	// a profile with it and a profile without a role.
	must(iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ssm-role"), AssumeRolePolicyDocument: aws.String(fake.TrustEC2)}))
	must(iamc.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("ssm-role"), PolicyArn: aws.String(fake.CorePolicyARN)}))
	must(iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ssm-role"), PolicyName: aws.String("logs"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:PutLogEvents","s3:GetObject"],"Resource":"*"}]}`)}))
	must(iamc.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("ssm-profile")}))
	must(iamc.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("ssm-profile"), RoleName: aws.String("ssm-role")}))
	must(iamc.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String("orphan-profile")}))

	// Network: a VPC with DNS hostnames, two subnets, an internet gateway
	// default route, an SSM interface endpoint, a security group allowing
	// HTTPS out and a NACL entry.
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	vpcID := vpc.Vpc.VpcId
	must(ec2c.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: vpcID, EnableDnsHostnames: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}}))
	var subnets []*string
	for _, cidr := range []string{"10.9.1.0/24", "10.9.2.0/24"} {
		s, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpcID, CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(contractRegion + "a")})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, s.Subnet.SubnetId)
	}
	igw, err := ec2c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{})
	if err != nil {
		t.Fatal(err)
	}
	must(ec2c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: igw.InternetGateway.InternetGatewayId, VpcId: vpcID}))
	rts, err := ec2c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{*vpcID}}}})
	if err != nil || len(rts.RouteTables) == 0 {
		t.Fatalf("main route table of %s: %v", *vpcID, err)
	}
	must(ec2c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: rts.RouteTables[0].RouteTableId,
		DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: igw.InternetGateway.InternetGatewayId}))
	sg, err := ec2c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: vpcID, GroupName: aws.String("app"), Description: aws.String("app servers")})
	if err != nil {
		t.Fatal(err)
	}
	must(ec2c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: sg.GroupId, IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}},
	}}}))
	must(ec2c.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: vpcID, ServiceName: aws.String("com.amazonaws." + contractRegion + ".ssm"),
		VpcEndpointType: ec2types.VpcEndpointTypeInterface, SubnetIds: []string{*subnets[0]}, SecurityGroupIds: []string{*sg.GroupId},
		PrivateDnsEnabled: aws.Bool(true)}))
	nacls, err := ec2c.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{*vpcID}}}})
	if err != nil || len(nacls.NetworkAcls) == 0 {
		t.Fatalf("default NACL of %s: %v", *vpcID, err)
	}
	must(ec2c.CreateNetworkAclEntry(ctx, &ec2.CreateNetworkAclEntryInput{NetworkAclId: nacls.NetworkAcls[0].NetworkAclId, RuleNumber: aws.Int32(50),
		Egress: aws.Bool(true), Protocol: aws.String("6"), RuleAction: ec2types.RuleActionDeny, CidrBlock: aws.String("10.9.2.0/24"),
		PortRange: &ec2types.PortRange{From: aws.Int32(443), To: aws.Int32(443)}}))

	// Six instances with different IMDS settings, profiles and tags.
	images, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(images.Images) == 0 {
		t.Fatalf("moto images: %v", err)
	}
	launch := func(subnet *string, profile string, meta *ec2types.InstanceMetadataOptionsRequest, tags map[string]string) {
		t.Helper()
		in := &ec2.RunInstancesInput{
			ImageId: images.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			InstanceType: ec2types.InstanceTypeT3Micro, SubnetId: subnet, MetadataOptions: meta, SecurityGroupIds: []string{*sg.GroupId},
		}
		if profile != "" {
			in.IamInstanceProfile = &ec2types.IamInstanceProfileSpecification{Name: aws.String(profile)}
		}
		if len(tags) > 0 {
			spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeInstance}
			for k, v := range tags {
				spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
			in.TagSpecifications = []ec2types.TagSpecification{spec}
		}
		must(ec2c.RunInstances(ctx, in))
	}
	launch(subnets[0], "ssm-profile", &ec2types.InstanceMetadataOptionsRequest{HttpEndpoint: ec2types.InstanceMetadataEndpointStateDisabled}, map[string]string{"Name": "disabled"})
	launch(subnets[0], "ssm-profile", &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional}, map[string]string{"Name": "v1", "team": "web"})
	launch(subnets[1], "ssm-profile", &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(1)},
		map[string]string{"eks:cluster-name": "prod"})
	launch(subnets[1], "orphan-profile", &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired}, nil)
	launch(subnets[0], "", nil, map[string]string{"Name": "no-profile"})
	launch(subnets[1], "", &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(3),
		InstanceMetadataTags: ec2types.InstanceMetadataTagsStateEnabled}, nil)
}

// mirrorMoto reads moto's state with raw SDK calls into a sandbox world,
// keeping every SDK object exactly as moto returned it.
func mirrorMoto(ctx context.Context, t *testing.T, cfg aws.Config) *scenario.World {
	t.Helper()
	ec2c, iamc := ec2.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	account := aws.ToString(id.Account)
	f := fake.New(account)
	r := f.Region(account, contractRegion)
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("mirroring moto (%s): %v", what, err)
		}
	}

	insts, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	check("DescribeInstances", err)
	for _, res := range insts.Reservations {
		r.Instances = append(r.Instances, res.Instances...)
	}
	vpcs, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	check("DescribeVpcs", err)
	r.VPCs = vpcs.Vpcs
	for _, v := range vpcs.Vpcs {
		support, err := ec2c.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: v.VpcId, Attribute: ec2types.VpcAttributeNameEnableDnsSupport})
		check("DescribeVpcAttribute", err)
		hostnames, err := ec2c.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: v.VpcId, Attribute: ec2types.VpcAttributeNameEnableDnsHostnames})
		check("DescribeVpcAttribute", err)
		r.VPCAttrs[aws.ToString(v.VpcId)] = fake.VPCAttrs{
			DNSSupport:   support.EnableDnsSupport != nil && aws.ToBool(support.EnableDnsSupport.Value),
			DNSHostnames: hostnames.EnableDnsHostnames != nil && aws.ToBool(hostnames.EnableDnsHostnames.Value),
		}
	}
	subnets, err := ec2c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	check("DescribeSubnets", err)
	r.Subnets = subnets.Subnets
	rts, err := ec2c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
	check("DescribeRouteTables", err)
	r.RouteTables = rts.RouteTables
	eps, err := ec2c.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{})
	check("DescribeVpcEndpoints", err)
	r.Endpoints = eps.VpcEndpoints
	sgs, err := ec2c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	check("DescribeSecurityGroups", err)
	r.SecurityGroups = sgs.SecurityGroups
	nacls, err := ec2c.DescribeNetworkAcls(ctx, &ec2.DescribeNetworkAclsInput{})
	check("DescribeNetworkAcls", err)
	r.NACLs = nacls.NetworkAcls

	// IAM documents come URL-encoded off the wire; pkg/fake stores them
	// decoded and encodes them when answering.
	decode := func(what string, doc *string) string {
		t.Helper()
		s, err := url.QueryUnescape(aws.ToString(doc))
		check(what, err)
		return s
	}
	m := f.Account(account).IAM
	profiles, err := iamc.ListInstanceProfiles(ctx, &iam.ListInstanceProfilesInput{})
	check("ListInstanceProfiles", err)
	for _, lp := range profiles.InstanceProfiles {
		p, err := iamc.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: lp.InstanceProfileName})
		check("GetInstanceProfile", err)
		fp := &fake.Profile{Name: aws.ToString(lp.InstanceProfileName)}
		for _, role := range p.InstanceProfile.Roles {
			name := aws.ToString(role.RoleName)
			fp.Roles = append(fp.Roles, name)
			if _, done := m.Roles[name]; !done {
				m.Roles[name] = mirrorRole(ctx, t, iamc, m, name, decode)
			}
		}
		m.Profiles[fp.Name] = fp
	}
	return &scenario.World{Fleet: f, CallerAccount: account, Accounts: []string{account}, Regions: []string{contractRegion}}
}

func mirrorRole(ctx context.Context, t *testing.T, iamc *iam.Client, m *fake.IAM, name string, decode func(string, *string) string) *fake.Role {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("mirroring moto role %s (%s): %v", name, what, err)
		}
	}
	role, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	check("GetRole", err)
	fr := &fake.Role{Name: name, Trust: decode("trust policy", role.Role.AssumeRolePolicyDocument), Inline: map[string]string{}}
	attached, err := iamc.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	check("ListAttachedRolePolicies", err)
	for _, ap := range attached.AttachedPolicies {
		arn := aws.ToString(ap.PolicyArn)
		fr.Attached = append(fr.Attached, arn)
		pol, err := iamc.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: ap.PolicyArn})
		check("GetPolicy", err)
		v, err := iamc.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: ap.PolicyArn, VersionId: pol.Policy.DefaultVersionId})
		check("GetPolicyVersion", err)
		// Replaces fake.NewIAM's trimmed copy of the core policy with
		// moto's full managed document.
		m.Policies[arn] = &fake.Policy{ARN: arn, Document: decode("policy "+arn, v.PolicyVersion.Document)}
	}
	inline, err := iamc.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	check("ListRolePolicies", err)
	for _, pn := range inline.PolicyNames {
		p, err := iamc.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(pn)})
		check("GetRolePolicy", err)
		fr.Inline[pn] = decode("inline policy "+pn, p.PolicyDocument)
	}
	return fr
}
