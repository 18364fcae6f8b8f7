package inventory

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// describeInstancesPage is DescribeInstances' largest page (EC2 API
// reference: MaxResults 5-1000).
const describeInstancesPage = 1000

// filterValuesLimit is how many values fleetdoctor puts in one EC2 filter;
// EC2 rejects filters with more than 200 values.
const filterValuesLimit = 200

// liveStates are the instance states worth auditing. Filtering on state
// also keeps DescribeInstances out of EC2's smaller "unfiltered" throttling
// bucket (DESIGN §7).
var liveStates = []string{"pending", "running", "stopping", "stopped"}

func readInstances(ctx context.Context, api awsapi.EC2API) ([]Instance, *CollectError) {
	p := ec2.NewDescribeInstancesPaginator(api, &ec2.DescribeInstancesInput{
		MaxResults: aws.Int32(describeInstancesPage),
		Filters:    []ec2types.Filter{{Name: aws.String("instance-state-name"), Values: liveStates}},
	})
	var out []Instance
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, collectErr("EC2 instances", "ec2:DescribeInstances", err)
		}
		for _, res := range page.Reservations {
			for i := range res.Instances {
				out = append(out, toInstance(&res.Instances[i]))
			}
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func toInstance(in *ec2types.Instance) Instance {
	out := Instance{
		ID:         aws.ToString(in.InstanceId),
		Platform:   "linux",
		LaunchTime: aws.ToTime(in.LaunchTime),
		VPCID:      aws.ToString(in.VpcId),
		SubnetID:   aws.ToString(in.SubnetId),
		PublicIP:   aws.ToString(in.PublicIpAddress) != "",
	}
	if in.State != nil {
		out.State = string(in.State.Name)
	}
	if in.Platform == ec2types.PlatformValuesWindows {
		out.Platform = "windows"
	}
	if a, err := netip.ParseAddr(aws.ToString(in.PrivateIpAddress)); err == nil {
		out.PrivateIP = a
	}
	for _, g := range in.SecurityGroups {
		out.SecurityGroupIDs = append(out.SecurityGroupIDs, aws.ToString(g.GroupId))
	}
	if in.IamInstanceProfile != nil {
		out.ProfileARN = aws.ToString(in.IamInstanceProfile.Arn)
	}
	if len(in.Tags) > 0 {
		out.Tags = make(map[string]string, len(in.Tags))
		for _, t := range in.Tags {
			out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	if m := in.MetadataOptions; m != nil {
		out.Metadata = MetadataOptions{
			HTTPEndpoint: string(m.HttpEndpoint),
			HTTPTokens:   string(m.HttpTokens),
			HopLimit:     aws.ToInt32(m.HttpPutResponseHopLimit),
			ProtocolIPv6: string(m.HttpProtocolIpv6),
			InstanceTags: string(m.InstanceMetadataTags),
			State:        string(m.State),
		}
	}
	return out
}

func readDefaults(ctx context.Context, api awsapi.EC2API) (*MetadataDefaults, *CollectError) {
	out, err := api.GetInstanceMetadataDefaults(ctx, &ec2.GetInstanceMetadataDefaultsInput{})
	if err != nil {
		return nil, collectErr("account IMDS defaults", "ec2:GetInstanceMetadataDefaults", err)
	}
	d := &MetadataDefaults{ManagedBy: "account"}
	if a := out.AccountLevel; a != nil {
		d.HTTPEndpoint = string(a.HttpEndpoint)
		d.HTTPTokens = string(a.HttpTokens)
		d.HopLimit = aws.ToInt32(a.HttpPutResponseHopLimit)
		if a.ManagedBy != "" {
			d.ManagedBy = string(a.ManagedBy)
		}
	}
	return d, nil
}

// readNetwork reads, for the VPCs and subnets the instances live in, what
// decides their path to the SSM endpoints. Every call covers all VPCs (or
// subnets, or groups) at once through filters, so the number of calls grows
// with the number of distinct VPCs only through DescribeVpcAttribute, which
// has no batch form.
func readNetwork(ctx context.Context, api awsapi.EC2API, region string, insts []Instance) (Network, *CollectError) {
	net := Network{VPCs: map[string]*VPC{}, Subnets: map[string]*Subnet{}, SecurityGroups: map[string]*SecurityGroup{}}
	var vpcIDs, subnetIDs, groupIDs []string
	for i := range insts {
		if insts[i].VPCID == "" {
			continue // EC2-Classic leftovers and instances mid-launch
		}
		vpcIDs = append(vpcIDs, insts[i].VPCID)
		subnetIDs = append(subnetIDs, insts[i].SubnetID)
		groupIDs = append(groupIDs, insts[i].SecurityGroupIDs...)
	}
	vpcIDs = distinct(vpcIDs)
	if len(vpcIDs) == 0 {
		return net, nil
	}

	// Stage 1: everything keyed by VPC.
	var (
		tables []ec2types.RouteTable
		nacls  []ec2types.NetworkAcl
		eps    []ec2types.VpcEndpoint
	)
	g, gctx := errgroup.WithContext(ctx)
	var (
		mu       sync.Mutex
		firstErr *CollectError
	)
	fail := func(e *CollectError) error {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = e
		}
		return e
	}
	g.Go(func() error {
		vpcs, err := describeAll(gctx, vpcIDs, "vpc-id", func(ctx context.Context, f []ec2types.Filter) ([]ec2types.Vpc, error) {
			return collectPages(ctx, ec2.NewDescribeVpcsPaginator(api, &ec2.DescribeVpcsInput{Filters: f, MaxResults: aws.Int32(1000)}),
				func(o *ec2.DescribeVpcsOutput) []ec2types.Vpc { return o.Vpcs })
		})
		if err != nil {
			return fail(collectErr("VPCs", "ec2:DescribeVpcs", err))
		}
		for _, v := range vpcs {
			vpc := &VPC{ID: aws.ToString(v.VpcId)}
			for _, a := range v.CidrBlockAssociationSet {
				if p, err := netip.ParsePrefix(aws.ToString(a.CidrBlock)); err == nil {
					vpc.CIDRs = append(vpc.CIDRs, p)
				}
			}
			if len(vpc.CIDRs) == 0 {
				if p, err := netip.ParsePrefix(aws.ToString(v.CidrBlock)); err == nil {
					vpc.CIDRs = append(vpc.CIDRs, p)
				}
			}
			for _, a := range v.Ipv6CidrBlockAssociationSet {
				if p, err := netip.ParsePrefix(aws.ToString(a.Ipv6CidrBlock)); err == nil {
					vpc.CIDRs = append(vpc.CIDRs, p)
				}
			}
			for _, attr := range []ec2types.VpcAttributeName{ec2types.VpcAttributeNameEnableDnsSupport, ec2types.VpcAttributeNameEnableDnsHostnames} {
				out, err := api.DescribeVpcAttribute(gctx, &ec2.DescribeVpcAttributeInput{VpcId: v.VpcId, Attribute: attr})
				if err != nil {
					return fail(collectErr("DNS attributes of "+vpc.ID, "ec2:DescribeVpcAttribute", err))
				}
				if out.EnableDnsSupport != nil {
					vpc.DNSSupport = aws.ToBool(out.EnableDnsSupport.Value)
				}
				if out.EnableDnsHostnames != nil {
					vpc.DNSHostnames = aws.ToBool(out.EnableDnsHostnames.Value)
				}
			}
			net.VPCs[vpc.ID] = vpc
		}
		return nil
	})
	g.Go(func() error {
		var err error
		tables, err = describeAll(gctx, vpcIDs, "vpc-id", func(ctx context.Context, f []ec2types.Filter) ([]ec2types.RouteTable, error) {
			return collectPages(ctx, ec2.NewDescribeRouteTablesPaginator(api, &ec2.DescribeRouteTablesInput{Filters: f, MaxResults: aws.Int32(100)}),
				func(o *ec2.DescribeRouteTablesOutput) []ec2types.RouteTable { return o.RouteTables })
		})
		if err != nil {
			return fail(collectErr("route tables", "ec2:DescribeRouteTables", err))
		}
		return nil
	})
	g.Go(func() error {
		var err error
		nacls, err = describeAll(gctx, vpcIDs, "vpc-id", func(ctx context.Context, f []ec2types.Filter) ([]ec2types.NetworkAcl, error) {
			return collectPages(ctx, ec2.NewDescribeNetworkAclsPaginator(api, &ec2.DescribeNetworkAclsInput{Filters: f, MaxResults: aws.Int32(100)}),
				func(o *ec2.DescribeNetworkAclsOutput) []ec2types.NetworkAcl { return o.NetworkAcls })
		})
		if err != nil {
			return fail(collectErr("network ACLs", "ec2:DescribeNetworkAcls", err))
		}
		return nil
	})
	g.Go(func() error {
		var services []string
		for _, s := range EndpointServices {
			// China regions name their services cn.com.amazonaws.<region>.<service>.
			services = append(services, "com.amazonaws."+region+"."+s, "cn.com.amazonaws."+region+"."+s)
		}
		var err error
		eps, err = describeAll(gctx, vpcIDs, "vpc-id", func(ctx context.Context, f []ec2types.Filter) ([]ec2types.VpcEndpoint, error) {
			f = append(f, ec2types.Filter{Name: aws.String("service-name"), Values: services})
			return collectPages(ctx, ec2.NewDescribeVpcEndpointsPaginator(api, &ec2.DescribeVpcEndpointsInput{Filters: f, MaxResults: aws.Int32(1000)}),
				func(o *ec2.DescribeVpcEndpointsOutput) []ec2types.VpcEndpoint { return o.VpcEndpoints })
		})
		if err != nil {
			return fail(collectErr("VPC endpoints", "ec2:DescribeVpcEndpoints", err))
		}
		return nil
	})
	if g.Wait() != nil {
		return net, firstErr
	}

	// Stage 2: subnets and security groups of the instances and of the
	// endpoints they would use.
	var endpointsByVPC = map[string][]*Endpoint{}
	for _, e := range eps {
		if e.VpcEndpointType != "" && e.VpcEndpointType != ec2types.VpcEndpointTypeInterface {
			continue
		}
		name := aws.ToString(e.ServiceName)
		ep := &Endpoint{
			ID:         aws.ToString(e.VpcEndpointId),
			Service:    name[strings.LastIndexByte(name, '.')+1:],
			State:      strings.ToLower(string(e.State)),
			PrivateDNS: aws.ToBool(e.PrivateDnsEnabled),
			SubnetIDs:  e.SubnetIds,
		}
		for _, sg := range e.Groups {
			ep.SecurityGroupIDs = append(ep.SecurityGroupIDs, aws.ToString(sg.GroupId))
		}
		subnetIDs = append(subnetIDs, ep.SubnetIDs...)
		groupIDs = append(groupIDs, ep.SecurityGroupIDs...)
		endpointsByVPC[aws.ToString(e.VpcId)] = append(endpointsByVPC[aws.ToString(e.VpcId)], ep)
	}
	for id, v := range net.VPCs {
		v.Endpoints = endpointsByVPC[id]
		slices.SortFunc(v.Endpoints, func(a, b *Endpoint) int { return strings.Compare(a.ID, b.ID) })
	}

	var subnets []ec2types.Subnet
	var groups []ec2types.SecurityGroup
	g, gctx = errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		subnets, err = describeAll(gctx, distinct(subnetIDs), "subnet-id", func(ctx context.Context, f []ec2types.Filter) ([]ec2types.Subnet, error) {
			return collectPages(ctx, ec2.NewDescribeSubnetsPaginator(api, &ec2.DescribeSubnetsInput{Filters: f, MaxResults: aws.Int32(1000)}),
				func(o *ec2.DescribeSubnetsOutput) []ec2types.Subnet { return o.Subnets })
		})
		if err != nil {
			return fail(collectErr("subnets", "ec2:DescribeSubnets", err))
		}
		return nil
	})
	g.Go(func() error {
		var err error
		groups, err = describeAll(gctx, distinct(groupIDs), "group-id", func(ctx context.Context, f []ec2types.Filter) ([]ec2types.SecurityGroup, error) {
			return collectPages(ctx, ec2.NewDescribeSecurityGroupsPaginator(api, &ec2.DescribeSecurityGroupsInput{Filters: f, MaxResults: aws.Int32(1000)}),
				func(o *ec2.DescribeSecurityGroupsOutput) []ec2types.SecurityGroup { return o.SecurityGroups })
		})
		if err != nil {
			return fail(collectErr("security groups", "ec2:DescribeSecurityGroups", err))
		}
		return nil
	})
	if g.Wait() != nil {
		return net, firstErr
	}

	// Route tables and NACLs attach to subnets; a subnet without an
	// explicit route table association uses its VPC's main table.
	tableOf, mainOf := map[string]*RouteTable{}, map[string]*RouteTable{}
	for _, t := range tables {
		rt := toRouteTable(t)
		for _, a := range t.Associations {
			if aws.ToBool(a.Main) {
				mainOf[aws.ToString(t.VpcId)] = rt
			} else if a.SubnetId != nil {
				tableOf[aws.ToString(a.SubnetId)] = rt
			}
		}
	}
	naclOf := map[string]*NACL{}
	for _, n := range nacls {
		acl := toNACL(n)
		for _, a := range n.Associations {
			naclOf[aws.ToString(a.SubnetId)] = acl
		}
	}
	for _, s := range subnets {
		sub := &Subnet{ID: aws.ToString(s.SubnetId), VPCID: aws.ToString(s.VpcId), IPv6Native: aws.ToBool(s.Ipv6Native)}
		if p, err := netip.ParsePrefix(aws.ToString(s.CidrBlock)); err == nil {
			sub.CIDR = p
		} else if len(s.Ipv6CidrBlockAssociationSet) > 0 {
			sub.CIDR, _ = netip.ParsePrefix(aws.ToString(s.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock))
		}
		sub.RouteTable = tableOf[sub.ID]
		if sub.RouteTable == nil {
			sub.RouteTable = mainOf[sub.VPCID]
		}
		sub.NACL = naclOf[sub.ID]
		net.Subnets[sub.ID] = sub
	}
	for _, sg := range groups {
		net.SecurityGroups[aws.ToString(sg.GroupId)] = &SecurityGroup{
			ID:      aws.ToString(sg.GroupId),
			Ingress: toSGRules(sg.IpPermissions),
			Egress:  toSGRules(sg.IpPermissionsEgress),
		}
	}
	return net, nil
}

func toRouteTable(t ec2types.RouteTable) *RouteTable {
	rt := &RouteTable{ID: aws.ToString(t.RouteTableId)}
	for _, r := range t.Routes {
		route := Route{PrefixListID: aws.ToString(r.DestinationPrefixListId), Blackhole: r.State == ec2types.RouteStateBlackhole}
		dst := aws.ToString(r.DestinationCidrBlock)
		if dst == "" {
			dst = aws.ToString(r.DestinationIpv6CidrBlock)
		}
		if p, err := netip.ParsePrefix(dst); err == nil {
			route.Destination = p
		}
		route.Target, route.TargetID = routeTarget(r)
		rt.Routes = append(rt.Routes, route)
	}
	return rt
}

// routeTarget names the kind of a route's target from whichever field is set.
func routeTarget(r ec2types.Route) (kind, id string) {
	switch {
	case aws.ToString(r.NatGatewayId) != "":
		return "nat", aws.ToString(r.NatGatewayId)
	case aws.ToString(r.TransitGatewayId) != "":
		return "tgw", aws.ToString(r.TransitGatewayId)
	case aws.ToString(r.VpcPeeringConnectionId) != "":
		return "pcx", aws.ToString(r.VpcPeeringConnectionId)
	case aws.ToString(r.EgressOnlyInternetGatewayId) != "":
		return "eigw", aws.ToString(r.EgressOnlyInternetGatewayId)
	case aws.ToString(r.NetworkInterfaceId) != "":
		return "eni", aws.ToString(r.NetworkInterfaceId)
	case aws.ToString(r.InstanceId) != "":
		return "instance", aws.ToString(r.InstanceId)
	case aws.ToString(r.CoreNetworkArn) != "":
		return "other", aws.ToString(r.CoreNetworkArn)
	}
	gw := aws.ToString(r.GatewayId)
	switch {
	case gw == "local":
		return "local", gw
	case strings.HasPrefix(gw, "igw-"):
		return "igw", gw
	case strings.HasPrefix(gw, "vgw-"):
		return "vgw", gw
	case strings.HasPrefix(gw, "vpce-"):
		return "vpce", gw
	case gw != "":
		return "other", gw
	}
	return "other", ""
}

func toNACL(n ec2types.NetworkAcl) *NACL {
	acl := &NACL{ID: aws.ToString(n.NetworkAclId)}
	for _, e := range n.Entries {
		ent := NACLEntry{
			RuleNumber: aws.ToInt32(e.RuleNumber),
			Egress:     aws.ToBool(e.Egress),
			Protocol:   aws.ToString(e.Protocol),
			Allow:      e.RuleAction == ec2types.RuleActionAllow,
			FromPort:   0,
			ToPort:     65535,
		}
		cidr := aws.ToString(e.CidrBlock)
		if cidr == "" {
			cidr = aws.ToString(e.Ipv6CidrBlock)
		}
		if p, err := netip.ParsePrefix(cidr); err == nil {
			ent.CIDR = p
		}
		if e.PortRange != nil {
			ent.FromPort, ent.ToPort = aws.ToInt32(e.PortRange.From), aws.ToInt32(e.PortRange.To)
		}
		acl.Entries = append(acl.Entries, ent)
	}
	slices.SortStableFunc(acl.Entries, func(a, b NACLEntry) int { return int(a.RuleNumber - b.RuleNumber) })
	return acl
}

func toSGRules(perms []ec2types.IpPermission) []SGRule {
	var out []SGRule
	for _, p := range perms {
		r := SGRule{Protocol: aws.ToString(p.IpProtocol), FromPort: aws.ToInt32(p.FromPort), ToPort: aws.ToInt32(p.ToPort)}
		if r.Protocol == "-1" {
			r.FromPort, r.ToPort = 0, 65535
		}
		for _, ip := range p.IpRanges {
			if c, err := netip.ParsePrefix(aws.ToString(ip.CidrIp)); err == nil {
				r.CIDRs = append(r.CIDRs, c)
			}
		}
		for _, ip := range p.Ipv6Ranges {
			if c, err := netip.ParsePrefix(aws.ToString(ip.CidrIpv6)); err == nil {
				r.CIDRs = append(r.CIDRs, c)
			}
		}
		for _, g := range p.UserIdGroupPairs {
			r.GroupIDs = append(r.GroupIDs, aws.ToString(g.GroupId))
		}
		for _, pl := range p.PrefixListIds {
			r.PrefixListIDs = append(r.PrefixListIDs, aws.ToString(pl.PrefixListId))
		}
		out = append(out, r)
	}
	return out
}

// pager is the shape of every SDK paginator.
type pager[O any] interface {
	HasMorePages() bool
	NextPage(context.Context, ...func(*ec2.Options)) (O, error)
}

// collectPages drains an EC2 paginator.
func collectPages[O, T any](ctx context.Context, p pager[O], items func(O) []T) ([]T, error) {
	var out []T
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, items(page)...)
	}
	return out, nil
}

// describeAll calls describe once per chunk of at most filterValuesLimit ids,
// filtered on the named filter, and concatenates the results.
func describeAll[T any](ctx context.Context, ids []string, filter string, describe func(context.Context, []ec2types.Filter) ([]T, error)) ([]T, error) {
	var out []T
	for chunk := range slices.Chunk(ids, filterValuesLimit) {
		items, err := describe(ctx, []ec2types.Filter{{Name: aws.String(filter), Values: chunk}})
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
	}
	return out, nil
}

func distinct(ids []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	return out
}
