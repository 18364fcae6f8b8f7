package fake

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// EC2 answers EC2 calls from one account-region's model.
type EC2 struct {
	f       *Fleet
	account string
	r       *Region
}

var _ awsapi.EC2API = (*EC2)(nil)

// ec2Filtered applies EC2 filter semantics to items, then pages them.
func ec2Filtered[T any](e *EC2, api string, items []T, keep func(T) bool, token *string, maxResults *int32, min, limit int32) ([]T, *string, error) {
	if err := e.f.call(e.account, e.r.Name, api); err != nil {
		return nil, nil, err
	}
	// Select indices, not items: EC2 items are large structs, and only one
	// page of them is copied out.
	var sel []int
	for i := range items {
		if keep(items[i]) {
			sel = append(sel, i)
		}
	}
	lo, hi, next, err := page(len(sel), token, maxResults, min, limit, len(sel)+1)
	if err != nil {
		return nil, nil, err
	}
	out := make([]T, 0, hi-lo)
	for _, i := range sel[lo:hi] {
		out = append(out, items[i])
	}
	return out, next, nil
}

func tagMatch(filters []ec2types.Filter, tags []ec2types.Tag) bool {
	for _, f := range filters {
		name := aws.ToString(f.Name)
		if !strings.HasPrefix(name, "tag:") {
			continue
		}
		key := strings.TrimPrefix(name, "tag:")
		found := false
		for _, t := range tags {
			if aws.ToString(t.Key) == key && slices.Contains(f.Values, aws.ToString(t.Value)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// DescribeInstances pages instances (MaxResults 5-1000), honouring the
// instance-state-name, instance-id, vpc-id and tag:KEY filters.
func (e *EC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if len(in.InstanceIds) > 0 && in.MaxResults != nil {
		if err := e.f.call(e.account, e.r.Name, "ec2:DescribeInstances"); err != nil {
			return nil, err
		}
		return nil, APIError("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	keep := func(i ec2types.Instance) bool {
		return matches(in.Filters, "instance-state-name", string(i.State.Name)) &&
			matches(in.Filters, "instance-id", aws.ToString(i.InstanceId)) &&
			matches(in.Filters, "vpc-id", aws.ToString(i.VpcId)) &&
			(len(in.InstanceIds) == 0 || slices.Contains(in.InstanceIds, aws.ToString(i.InstanceId))) &&
			tagMatch(in.Filters, i.Tags)
	}
	sel, next, err := ec2Filtered(e, "ec2:DescribeInstances", e.r.Instances, keep, in.NextToken, in.MaxResults, 5, 1000)
	if err != nil {
		return nil, err
	}
	out := &ec2.DescribeInstancesOutput{NextToken: next}
	if len(sel) > 0 {
		out.Reservations = []ec2types.Reservation{{Instances: sel, OwnerId: aws.String(e.account)}}
	}
	return out, nil
}

// GetInstanceMetadataDefaults returns the region's account defaults.
func (e *EC2) GetInstanceMetadataDefaults(context.Context, *ec2.GetInstanceMetadataDefaultsInput, ...func(*ec2.Options)) (*ec2.GetInstanceMetadataDefaultsOutput, error) {
	if err := e.f.call(e.account, e.r.Name, "ec2:GetInstanceMetadataDefaults"); err != nil {
		return nil, err
	}
	d := e.r.Defaults
	return &ec2.GetInstanceMetadataDefaultsOutput{AccountLevel: &d}, nil
}

// DescribeVpcs pages VPCs, honouring the vpc-id filter.
func (e *EC2) DescribeVpcs(_ context.Context, in *ec2.DescribeVpcsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	keep := func(v ec2types.Vpc) bool {
		return matches(in.Filters, "vpc-id", aws.ToString(v.VpcId)) &&
			(len(in.VpcIds) == 0 || slices.Contains(in.VpcIds, aws.ToString(v.VpcId)))
	}
	sel, next, err := ec2Filtered(e, "ec2:DescribeVpcs", e.r.VPCs, keep, in.NextToken, in.MaxResults, 5, 1000)
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeVpcsOutput{Vpcs: sel, NextToken: next}, nil
}

// DescribeVpcAttribute answers enableDnsSupport and enableDnsHostnames.
func (e *EC2) DescribeVpcAttribute(_ context.Context, in *ec2.DescribeVpcAttributeInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcAttributeOutput, error) {
	if err := e.f.call(e.account, e.r.Name, "ec2:DescribeVpcAttribute"); err != nil {
		return nil, err
	}
	id := aws.ToString(in.VpcId)
	if !slices.ContainsFunc(e.r.VPCs, func(v ec2types.Vpc) bool { return aws.ToString(v.VpcId) == id }) {
		return nil, APIError("InvalidVpcID.NotFound", "The vpc ID '"+id+"' does not exist")
	}
	a := e.r.VPCAttrs[id]
	out := &ec2.DescribeVpcAttributeOutput{VpcId: in.VpcId}
	switch in.Attribute {
	case ec2types.VpcAttributeNameEnableDnsSupport:
		out.EnableDnsSupport = &ec2types.AttributeBooleanValue{Value: aws.Bool(a.DNSSupport)}
	case ec2types.VpcAttributeNameEnableDnsHostnames:
		out.EnableDnsHostnames = &ec2types.AttributeBooleanValue{Value: aws.Bool(a.DNSHostnames)}
	default:
		return nil, APIError("InvalidParameterValue", "Value ("+string(in.Attribute)+") for parameter attribute is invalid.")
	}
	return out, nil
}

// DescribeSubnets pages subnets, honouring the subnet-id and vpc-id filters.
func (e *EC2) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	keep := func(s ec2types.Subnet) bool {
		return matches(in.Filters, "subnet-id", aws.ToString(s.SubnetId)) &&
			matches(in.Filters, "vpc-id", aws.ToString(s.VpcId)) &&
			(len(in.SubnetIds) == 0 || slices.Contains(in.SubnetIds, aws.ToString(s.SubnetId)))
	}
	sel, next, err := ec2Filtered(e, "ec2:DescribeSubnets", e.r.Subnets, keep, in.NextToken, in.MaxResults, 5, 1000)
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeSubnetsOutput{Subnets: sel, NextToken: next}, nil
}

// DescribeRouteTables pages route tables (MaxResults 5-100), honouring vpc-id.
func (e *EC2) DescribeRouteTables(_ context.Context, in *ec2.DescribeRouteTablesInput, _ ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error) {
	keep := func(t ec2types.RouteTable) bool { return matches(in.Filters, "vpc-id", aws.ToString(t.VpcId)) }
	sel, next, err := ec2Filtered(e, "ec2:DescribeRouteTables", e.r.RouteTables, keep, in.NextToken, in.MaxResults, 5, 100)
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeRouteTablesOutput{RouteTables: sel, NextToken: next}, nil
}

// DescribeVpcEndpoints pages endpoints, honouring vpc-id and service-name.
func (e *EC2) DescribeVpcEndpoints(_ context.Context, in *ec2.DescribeVpcEndpointsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	keep := func(v ec2types.VpcEndpoint) bool {
		return matches(in.Filters, "vpc-id", aws.ToString(v.VpcId)) &&
			matches(in.Filters, "service-name", aws.ToString(v.ServiceName))
	}
	sel, next, err := ec2Filtered(e, "ec2:DescribeVpcEndpoints", e.r.Endpoints, keep, in.NextToken, in.MaxResults, 1, 1000)
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeVpcEndpointsOutput{VpcEndpoints: sel, NextToken: next}, nil
}

// DescribeSecurityGroups pages security groups, honouring group-id.
func (e *EC2) DescribeSecurityGroups(_ context.Context, in *ec2.DescribeSecurityGroupsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	keep := func(g ec2types.SecurityGroup) bool {
		return matches(in.Filters, "group-id", aws.ToString(g.GroupId)) &&
			(len(in.GroupIds) == 0 || slices.Contains(in.GroupIds, aws.ToString(g.GroupId)))
	}
	sel, next, err := ec2Filtered(e, "ec2:DescribeSecurityGroups", e.r.SecurityGroups, keep, in.NextToken, in.MaxResults, 5, 1000)
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeSecurityGroupsOutput{SecurityGroups: sel, NextToken: next}, nil
}

// DescribeNetworkAcls pages network ACLs (MaxResults 5-100), honouring vpc-id.
func (e *EC2) DescribeNetworkAcls(_ context.Context, in *ec2.DescribeNetworkAclsInput, _ ...func(*ec2.Options)) (*ec2.DescribeNetworkAclsOutput, error) {
	keep := func(n ec2types.NetworkAcl) bool { return matches(in.Filters, "vpc-id", aws.ToString(n.VpcId)) }
	sel, next, err := ec2Filtered(e, "ec2:DescribeNetworkAcls", e.r.NACLs, keep, in.NextToken, in.MaxResults, 5, 100)
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeNetworkAclsOutput{NetworkAcls: sel, NextToken: next}, nil
}
