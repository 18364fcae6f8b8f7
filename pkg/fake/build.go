package fake

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// InstanceSpec describes an instance in plain terms; zero fields take the
// healthy default (running Linux, IMDS enabled, tokens required, hop 2).
type InstanceSpec struct {
	ID            string
	State         string // running
	Platform      string // "" (Linux) or "windows"
	VPC, Subnet   string
	PrivateIP     string
	PublicIP      bool
	SGs           []string
	Profile       string // instance profile name; "" for none
	Tags          map[string]string
	HTTPEndpoint  string // enabled
	HTTPTokens    string // required
	HopLimit      int32  // 2
	ProtocolIPv6  string // disabled
	MetadataState string // applied
	LaunchTime    time.Time
}

// DefaultLaunch is the launch time of instances that do not set one.
var DefaultLaunch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// AddInstance adds an instance to account/region.
func (f *Fleet) AddInstance(account, region string, s InstanceSpec) {
	r := f.Region(account, region)
	in := ec2types.Instance{
		InstanceId: aws.String(s.ID),
		State:      &ec2types.InstanceState{Name: ec2types.InstanceStateName(or(s.State, "running"))},
		LaunchTime: aws.Time(or(s.LaunchTime, DefaultLaunch)),
		MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{
			HttpEndpoint:            ec2types.InstanceMetadataEndpointState(or(s.HTTPEndpoint, "enabled")),
			HttpTokens:              ec2types.HttpTokensState(or(s.HTTPTokens, "required")),
			HttpPutResponseHopLimit: aws.Int32(or(s.HopLimit, 2)),
			HttpProtocolIpv6:        ec2types.InstanceMetadataProtocolState(or(s.ProtocolIPv6, "disabled")),
			InstanceMetadataTags:    ec2types.InstanceMetadataTagsStateDisabled,
			State:                   ec2types.InstanceMetadataOptionsState(or(s.MetadataState, "applied")),
		},
		PlatformDetails: aws.String("Linux/UNIX"),
	}
	if s.Platform == "windows" {
		in.Platform = ec2types.PlatformValuesWindows
		in.PlatformDetails = aws.String("Windows")
	}
	if s.VPC != "" {
		in.VpcId, in.SubnetId = aws.String(s.VPC), aws.String(s.Subnet)
	}
	if s.PrivateIP != "" {
		in.PrivateIpAddress = aws.String(s.PrivateIP)
	}
	if s.PublicIP {
		in.PublicIpAddress = aws.String("203.0.113.10")
	}
	for _, g := range s.SGs {
		in.SecurityGroups = append(in.SecurityGroups, ec2types.GroupIdentifier{GroupId: aws.String(g)})
	}
	if s.Profile != "" {
		in.IamInstanceProfile = &ec2types.IamInstanceProfile{
			Arn: aws.String("arn:aws:iam::" + account + ":instance-profile/" + s.Profile),
			Id:  aws.String("AIPA" + s.Profile),
		}
	}
	for k, v := range s.Tags {
		in.Tags = append(in.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	r.Instances = append(r.Instances, in)
}

// Register makes an instance known to SSM with the given ping status and
// agent version.
func (f *Fleet) Register(account, region, id, ping, version string) {
	r := f.Region(account, region)
	r.Managed = append(r.Managed, ssmtypes.InstanceInformation{
		InstanceId:       aws.String(id),
		PingStatus:       ssmtypes.PingStatus(ping),
		AgentVersion:     aws.String(version),
		PlatformType:     ssmtypes.PlatformTypeLinux,
		PlatformName:     aws.String("Amazon Linux"),
		ResourceType:     ssmtypes.ResourceTypeEc2Instance,
		LastPingDateTime: aws.Time(DefaultLaunch.Add(time.Hour)),
	})
}

// SetMetrics records MetadataNoToken and MetadataNoTokenRejected sums for an
// instance.
func (f *Fleet) SetMetrics(account, region, id string, noToken, rejected float64) {
	f.Region(account, region).Metrics[id] = map[string]float64{"MetadataNoToken": noToken, "MetadataNoTokenRejected": rejected}
}

// AddProfile adds an instance profile and its role (trusting EC2) with the
// given managed policies attached. An empty role name adds a profile
// without a role.
func (f *Fleet) AddProfile(account, profile, role string, policies ...string) {
	m := f.Account(account).IAM
	p := &Profile{Name: profile}
	if role != "" {
		p.Roles = []string{role}
		if _, ok := m.Roles[role]; !ok {
			m.Roles[role] = &Role{Name: role, Trust: TrustEC2, Attached: policies, Inline: map[string]string{}}
		}
	}
	m.Profiles[profile] = p
}

// SubnetSpec describes a subnet of a VPC built by AddVPC.
type SubnetSpec struct {
	ID   string
	CIDR string
	// Default is the default route's target id: "nat-…", "igw-…", "tgw-…",
	// or "" for an isolated subnet.
	Default    string
	IPv6Native bool
}

// VPCSpec describes a VPC for AddVPC.
type VPCSpec struct {
	ID      string
	CIDR    string
	NoDNS   bool // DNS support and hostnames off
	Subnets []SubnetSpec
	// Endpoints are the SSM services with interface endpoints (in the first
	// subnet), and whether their private DNS is on.
	Endpoints map[string]bool
}

// AddVPC adds a VPC with its subnets, one route table per subnet, an
// allow-all network ACL, a default security group ("<vpc>-sg", egress all,
// ingress 443 from the VPC) and the requested endpoints (using that group).
func (f *Fleet) AddVPC(account, region string, v VPCSpec) {
	r := f.Region(account, region)
	r.VPCs = append(r.VPCs, ec2types.Vpc{VpcId: aws.String(v.ID), CidrBlock: aws.String(v.CIDR), OwnerId: aws.String(account)})
	r.VPCAttrs[v.ID] = VPCAttrs{DNSSupport: !v.NoDNS, DNSHostnames: !v.NoDNS}
	sg := v.ID + "-sg"
	r.SecurityGroups = append(r.SecurityGroups, ec2types.SecurityGroup{
		GroupId: aws.String(sg), VpcId: aws.String(v.ID),
		IpPermissionsEgress: []ec2types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}},
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String(v.CIDR)}}}},
	})
	nacl := ec2types.NetworkAcl{NetworkAclId: aws.String("acl-" + v.ID), VpcId: aws.String(v.ID), IsDefault: aws.Bool(true)}
	for _, egress := range []bool{false, true} {
		nacl.Entries = append(nacl.Entries,
			ec2types.NetworkAclEntry{RuleNumber: aws.Int32(100), Egress: aws.Bool(egress), Protocol: aws.String("-1"), CidrBlock: aws.String("0.0.0.0/0"), RuleAction: ec2types.RuleActionAllow},
			ec2types.NetworkAclEntry{RuleNumber: aws.Int32(32767), Egress: aws.Bool(egress), Protocol: aws.String("-1"), CidrBlock: aws.String("0.0.0.0/0"), RuleAction: ec2types.RuleActionDeny})
	}
	for i, s := range v.Subnets {
		sub := ec2types.Subnet{SubnetId: aws.String(s.ID), VpcId: aws.String(v.ID), CidrBlock: aws.String(s.CIDR), Ipv6Native: aws.Bool(s.IPv6Native)}
		r.Subnets = append(r.Subnets, sub)
		nacl.Associations = append(nacl.Associations, ec2types.NetworkAclAssociation{SubnetId: aws.String(s.ID), NetworkAclId: nacl.NetworkAclId})
		rt := ec2types.RouteTable{
			RouteTableId: aws.String(fmt.Sprintf("rtb-%s-%d", v.ID, i)), VpcId: aws.String(v.ID),
			Associations: []ec2types.RouteTableAssociation{{SubnetId: aws.String(s.ID)}},
			Routes:       []ec2types.Route{{DestinationCidrBlock: aws.String(v.CIDR), GatewayId: aws.String("local"), State: ec2types.RouteStateActive}},
		}
		if s.Default != "" {
			route := ec2types.Route{DestinationCidrBlock: aws.String("0.0.0.0/0"), State: ec2types.RouteStateActive}
			switch s.Default[:4] {
			case "nat-":
				route.NatGatewayId = aws.String(s.Default)
			case "tgw-":
				route.TransitGatewayId = aws.String(s.Default)
			default:
				route.GatewayId = aws.String(s.Default)
			}
			rt.Routes = append(rt.Routes, route)
		}
		r.RouteTables = append(r.RouteTables, rt)
	}
	r.NACLs = append(r.NACLs, nacl)
	for svc, dns := range v.Endpoints {
		ep := ec2types.VpcEndpoint{
			VpcEndpointId:     aws.String("vpce-" + v.ID + "-" + svc),
			VpcId:             aws.String(v.ID),
			ServiceName:       aws.String("com.amazonaws." + region + "." + svc),
			VpcEndpointType:   ec2types.VpcEndpointTypeInterface,
			State:             ec2types.StateAvailable,
			PrivateDnsEnabled: aws.Bool(dns),
			Groups:            []ec2types.SecurityGroupIdentifier{{GroupId: aws.String(sg)}},
		}
		if len(v.Subnets) > 0 {
			ep.SubnetIds = []string{v.Subnets[0].ID}
		}
		r.Endpoints = append(r.Endpoints, ep)
	}
}

// SampleFleet builds a deterministic fleet: in each account-region, one VPC
// with a NAT subnet and an isolated subnet, perRegion instances spread over
// them, and a mix of healthy and broken instances (IMDS disabled, IMDSv1
// in use, lost agents, unregistered instances, a profile without a role,
// hop limit 1 on EKS nodes). The first account is the caller.
func SampleFleet(accounts, regions []string, perRegion int) *Fleet {
	f := New(accounts[0])
	for ai, acct := range accounts {
		f.AddProfile(acct, "ssm-profile", "ssm-role", CorePolicyARN)
		f.AddProfile(acct, "orphan-profile", "")
		for ri, region := range regions {
			vpc := fmt.Sprintf("vpc-%d%d", ai, ri)
			f.AddVPC(acct, region, VPCSpec{ID: vpc, CIDR: "10.0.0.0/16", Subnets: []SubnetSpec{
				{ID: vpc + "-nat", CIDR: "10.0.0.0/20", Default: "nat-" + vpc},
				{ID: vpc + "-isolated", CIDR: "10.0.16.0/20"},
			}})
			for i := 0; i < perRegion; i++ {
				id := fmt.Sprintf("i-%02d%02d%013d", ai, ri, i)
				s := InstanceSpec{ID: id, VPC: vpc, Subnet: vpc + "-nat", SGs: []string{vpc + "-sg"}, Profile: "ssm-profile",
					PrivateIP: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)}).String()}
				ping, version, register := "Online", "3.3.1142.0", true
				noToken := 0.0
				switch i % 10 {
				case 1:
					s.HTTPEndpoint = "disabled"
				case 2:
					s.HTTPTokens, noToken = "optional", 12
				case 3:
					ping = "ConnectionLost"
				case 4:
					register = false
					s.Subnet = vpc + "-isolated"
				case 5:
					s.Profile = "orphan-profile"
					register = false
				case 6:
					s.HopLimit = 1
					s.Tags = map[string]string{"eks:cluster-name": "prod"}
				case 7:
					version = "3.1.1004.0"
				}
				f.AddInstance(acct, region, s)
				if register {
					f.Register(acct, region, id, ping, version)
				}
				f.SetMetrics(acct, region, id, noToken, 0)
			}
		}
	}
	return f
}
