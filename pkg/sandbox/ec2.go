package sandbox

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
)

var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8}([0-9a-f]{9})?$`)

// viaEC2 answers a read from the fake model under the read lock.
func viaEC2[I, O any](m func(awsapi.EC2API, context.Context, *I, ...func(*ec2.Options)) (*O, error)) handler {
	return op(func(c *call, in *I) (*O, error) {
		st := c.s.state(c.account, c.region)
		c.s.mu.RLock()
		defer c.s.mu.RUnlock()
		return m(st.clients.EC2, c.ctx, in)
	})
}

func (s *Sandbox) ec2Routes() map[string]handler {
	return map[string]handler{
		"DescribeInstances":                      op(s.describeInstances),
		"GetInstanceMetadataDefaults":            viaEC2(awsapi.EC2API.GetInstanceMetadataDefaults),
		"DescribeVpcs":                           viaEC2(awsapi.EC2API.DescribeVpcs),
		"DescribeVpcAttribute":                   viaEC2(awsapi.EC2API.DescribeVpcAttribute),
		"DescribeSubnets":                        viaEC2(awsapi.EC2API.DescribeSubnets),
		"DescribeRouteTables":                    viaEC2(awsapi.EC2API.DescribeRouteTables),
		"DescribeVpcEndpoints":                   viaEC2(awsapi.EC2API.DescribeVpcEndpoints),
		"DescribeSecurityGroups":                 viaEC2(awsapi.EC2API.DescribeSecurityGroups),
		"DescribeNetworkAcls":                    viaEC2(awsapi.EC2API.DescribeNetworkAcls),
		"ModifyInstanceMetadataOptions":          op(s.modifyInstanceMetadataOptions),
		"ModifyInstanceMetadataDefaults":         op(s.modifyInstanceMetadataDefaults),
		"AssociateIamInstanceProfile":            op(s.associateIamInstanceProfile),
		"DescribeIamInstanceProfileAssociations": op(s.describeIamInstanceProfileAssociations),
	}
}

// findInstance returns the index of id in the region's instances, or -1.
// Callers hold s.mu.
func findInstance(r *fake.Region, id string) int {
	for i := range r.Instances {
		if aws.ToString(r.Instances[i].InstanceId) == id {
			return i
		}
	}
	return -1
}

func checkInstanceIDs(r *fake.Region, ids []string) error {
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return apiError("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
	}
	var missing []string
	for _, id := range ids {
		if findInstance(r, id) < 0 {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return apiError("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	default:
		return apiError("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
}

// settle flips metadata changes whose time has come from pending to
// applied.
func (s *Sandbox) settle(st *regionState) {
	s.mu.RLock()
	n := len(st.pending)
	s.mu.RUnlock()
	if n == 0 {
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range st.pending {
		if now.Before(at) {
			continue
		}
		delete(st.pending, id)
		if i := findInstance(st.region, id); i >= 0 {
			in := &st.region.Instances[i]
			mo := *in.MetadataOptions
			mo.State = ec2types.InstanceMetadataOptionsStateApplied
			in.MetadataOptions = &mo
		}
	}
}

func (s *Sandbox) describeInstances(c *call, in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
	st := s.state(c.account, c.region)
	s.settle(st)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(in.InstanceIds) > 0 && in.MaxResults == nil {
		if err := checkInstanceIDs(st.region, in.InstanceIds); err != nil {
			return nil, err
		}
	}
	return st.clients.EC2.DescribeInstances(c.ctx, in)
}

func (s *Sandbox) modifyInstanceMetadataOptions(c *call, in *ec2.ModifyInstanceMetadataOptionsInput) (*ec2.ModifyInstanceMetadataOptionsOutput, error) {
	st := s.state(c.account, c.region)
	id := aws.ToString(in.InstanceId)
	if id == "" {
		return nil, apiError("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if err := validateMetadataInput(in); err != nil {
		return nil, err
	}
	s.settle(st)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkInstanceIDs(st.region, []string{id}); err != nil {
		return nil, err
	}
	inst := &st.region.Instances[findInstance(st.region, id)]
	if name := inst.State.Name; name == ec2types.InstanceStateNameTerminated || name == ec2types.InstanceStateNameShuttingDown {
		return nil, apiError("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be modified.", id)
	}
	mo := *inst.MetadataOptions
	if in.HttpEndpoint != "" {
		mo.HttpEndpoint = ec2types.InstanceMetadataEndpointState(in.HttpEndpoint)
	}
	if in.HttpTokens != "" {
		mo.HttpTokens = ec2types.HttpTokensState(in.HttpTokens)
	}
	if in.HttpPutResponseHopLimit != nil {
		mo.HttpPutResponseHopLimit = aws.Int32(*in.HttpPutResponseHopLimit)
	}
	if in.HttpProtocolIpv6 != "" {
		mo.HttpProtocolIpv6 = ec2types.InstanceMetadataProtocolState(in.HttpProtocolIpv6)
	}
	if in.InstanceMetadataTags != "" {
		mo.InstanceMetadataTags = ec2types.InstanceMetadataTagsState(in.InstanceMetadataTags)
	}
	if in.DryRun != nil && *in.DryRun {
		return nil, apiError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	mo.State = ec2types.InstanceMetadataOptionsStatePending
	inst.MetadataOptions = &mo
	st.pending[id] = s.now().Add(s.opts.MetadataApplyDelay)
	resp := mo
	return &ec2.ModifyInstanceMetadataOptionsOutput{InstanceId: aws.String(id), InstanceMetadataOptions: &resp}, nil
}

func validateMetadataInput(in *ec2.ModifyInstanceMetadataOptionsInput) error {
	if v := in.HttpTokens; v != "" && v != ec2types.HttpTokensStateOptional && v != ec2types.HttpTokensStateRequired {
		return apiError("InvalidParameterValue", "Value (%s) for parameter HttpTokens is invalid. Valid values: optional, required", v)
	}
	if v := in.HttpEndpoint; v != "" && v != ec2types.InstanceMetadataEndpointStateEnabled && v != ec2types.InstanceMetadataEndpointStateDisabled {
		return apiError("InvalidParameterValue", "Value (%s) for parameter HttpEndpoint is invalid. Valid values: enabled, disabled", v)
	}
	if v := in.HttpPutResponseHopLimit; v != nil && (*v < 1 || *v > 64) {
		return apiError("InvalidParameterValue", "Value (%d) for parameter HttpPutResponseHopLimit is invalid. Valid values: 1-64", *v)
	}
	if in.HttpEndpoint == "" && in.HttpTokens == "" && in.HttpPutResponseHopLimit == nil && in.HttpProtocolIpv6 == "" && in.InstanceMetadataTags == "" {
		return apiError("InvalidParameterCombination", "At least one metadata option must be specified")
	}
	return nil
}

func (s *Sandbox) modifyInstanceMetadataDefaults(c *call, in *ec2.ModifyInstanceMetadataDefaultsInput) (*ec2.ModifyInstanceMetadataDefaultsOutput, error) {
	st := s.state(c.account, c.region)
	if v := in.HttpTokens; v != "" && v != ec2types.MetadataDefaultHttpTokensStateOptional && v != ec2types.MetadataDefaultHttpTokensStateRequired && v != ec2types.MetadataDefaultHttpTokensStateNoPreference {
		return nil, apiError("InvalidParameterValue", "Value (%s) for parameter HttpTokens is invalid. Valid values: optional, required, no-preference", v)
	}
	if v := in.HttpPutResponseHopLimit; v != nil && *v != -1 && (*v < 1 || *v > 64) {
		return nil, apiError("InvalidParameterValue", "Value (%d) for parameter HttpPutResponseHopLimit is invalid. Valid values: 1-64, or -1 for no preference", *v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := st.region.Defaults
	if d.ManagedBy == ec2types.ManagedByDeclarativePolicy {
		return nil, apiError("UnauthorizedOperation", "The account's instance metadata defaults are managed by a declarative policy (%s) and cannot be modified here.", aws.ToString(d.ManagedExceptionMessage))
	}
	if in.HttpTokens != "" {
		d.HttpTokens = ec2types.HttpTokensState(in.HttpTokens)
		if in.HttpTokens == ec2types.MetadataDefaultHttpTokensStateNoPreference {
			d.HttpTokens = ""
		}
	}
	if v := in.HttpPutResponseHopLimit; v != nil {
		d.HttpPutResponseHopLimit = aws.Int32(*v)
		if *v == -1 {
			d.HttpPutResponseHopLimit = nil
		}
	}
	if in.HttpEndpoint != "" {
		d.HttpEndpoint = ec2types.InstanceMetadataEndpointState(in.HttpEndpoint)
		if in.HttpEndpoint == ec2types.DefaultInstanceMetadataEndpointStateNoPreference {
			d.HttpEndpoint = ""
		}
	}
	if in.InstanceMetadataTags != "" {
		d.InstanceMetadataTags = ec2types.InstanceMetadataTagsState(in.InstanceMetadataTags)
		if in.InstanceMetadataTags == ec2types.DefaultInstanceMetadataTagsStateNoPreference {
			d.InstanceMetadataTags = ""
		}
	}
	st.region.Defaults = d
	return &ec2.ModifyInstanceMetadataDefaultsOutput{Return: aws.Bool(true)}, nil
}

// associationID is the stable association id of an instance's profile.
func associationID(instanceID string) string {
	return "iip-assoc-" + strings.TrimPrefix(instanceID, "i-")
}

func (s *Sandbox) associateIamInstanceProfile(c *call, in *ec2.AssociateIamInstanceProfileInput) (*ec2.AssociateIamInstanceProfileOutput, error) {
	st := s.state(c.account, c.region)
	id := aws.ToString(in.InstanceId)
	if id == "" || in.IamInstanceProfile == nil {
		return nil, apiError("MissingParameter", "The request must contain the parameters InstanceId and IamInstanceProfile")
	}
	name := aws.ToString(in.IamInstanceProfile.Name)
	if a := aws.ToString(in.IamInstanceProfile.Arn); a != "" {
		_, after, ok := strings.Cut(a, ":instance-profile/")
		if !ok || !strings.Contains(a, ":"+c.account+":") {
			return nil, apiError("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", a)
		}
		name = after[strings.LastIndex(after, "/")+1:]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkInstanceIDs(st.region, []string{id}); err != nil {
		return nil, err
	}
	profiles := s.fleet.Account(c.account).IAM.Profiles
	if _, ok := profiles[name]; !ok {
		return nil, apiError("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", name)
	}
	inst := &st.region.Instances[findInstance(st.region, id)]
	if inst.IamInstanceProfile != nil {
		return nil, apiError("IncorrectState", "There is an existing association for instance %s", id)
	}
	prof := &ec2types.IamInstanceProfile{
		Arn: aws.String(fmt.Sprintf("arn:aws:iam::%s:instance-profile/%s", c.account, name)),
		Id:  aws.String("AIPA" + strings.ToUpper(name)),
	}
	inst.IamInstanceProfile = prof
	return &ec2.AssociateIamInstanceProfileOutput{IamInstanceProfileAssociation: &ec2types.IamInstanceProfileAssociation{
		AssociationId:      aws.String(associationID(id)),
		InstanceId:         aws.String(id),
		IamInstanceProfile: &ec2types.IamInstanceProfile{Arn: prof.Arn, Id: prof.Id},
		State:              ec2types.IamInstanceProfileAssociationStateAssociating,
		Timestamp:          aws.Time(s.now().UTC().Truncate(1e9)),
	}}, nil
}

// describeIamInstanceProfileAssociations derives associations from the
// instances' profiles, honouring the instance-id and state filters and
// AssociationIds, paged like EC2 (MaxResults 5-1000).
func (s *Sandbox) describeIamInstanceProfileAssociations(c *call, in *ec2.DescribeIamInstanceProfileAssociationsInput) (*ec2.DescribeIamInstanceProfileAssociationsOutput, error) {
	st := s.state(c.account, c.region)
	if in.MaxResults != nil && (*in.MaxResults < 5 || *in.MaxResults > 1000) {
		return nil, apiError("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Parameter must be between 5 and 1000.", *in.MaxResults)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var all []ec2types.IamInstanceProfileAssociation
	for _, inst := range st.region.Instances {
		if inst.IamInstanceProfile == nil {
			continue
		}
		id := aws.ToString(inst.InstanceId)
		a := ec2types.IamInstanceProfileAssociation{
			AssociationId:      aws.String(associationID(id)),
			InstanceId:         aws.String(id),
			IamInstanceProfile: &ec2types.IamInstanceProfile{Arn: inst.IamInstanceProfile.Arn, Id: inst.IamInstanceProfile.Id},
			State:              ec2types.IamInstanceProfileAssociationStateAssociated,
		}
		if !filterMatch(in.Filters, "instance-id", id) || !filterMatch(in.Filters, "state", string(a.State)) {
			continue
		}
		if len(in.AssociationIds) > 0 && !slices.Contains(in.AssociationIds, *a.AssociationId) {
			continue
		}
		all = append(all, a)
	}
	lo, hi, next, err := pageWindow(len(all), in.NextToken, in.MaxResults, 1000)
	if err != nil {
		return nil, err
	}
	return &ec2.DescribeIamInstanceProfileAssociationsOutput{IamInstanceProfileAssociations: all[lo:hi], NextToken: next}, nil
}

func filterMatch(filters []ec2types.Filter, name, v string) bool {
	for _, f := range filters {
		if aws.ToString(f.Name) == name && !slices.Contains(f.Values, v) {
			return false
		}
	}
	return true
}
