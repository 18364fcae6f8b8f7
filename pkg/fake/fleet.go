// Package fake is an in-memory AWS for unit tests: one model of a fleet
// (accounts, regions, instances, IAM, network, metrics) answered through the
// awsapi interfaces, with every call counted and any call failable. It
// pages like AWS (MaxResults limits, NextToken) so the collectors' call
// counts can be asserted. Anything that must cross the wire belongs to the
// embedded sandbox instead.
package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// Fleet is the in-memory model. Build it with New and the Add helpers, or
// set the exported maps directly; then hand Provider() to the code under test.
type Fleet struct {
	// CallerAccount is the account the base credentials belong to.
	CallerAccount string
	// Accounts is keyed by account id.
	Accounts map[string]*Account

	mu     sync.Mutex
	calls  map[string]int // "ec2:DescribeInstances" → count
	faults map[string]error
}

// Account is one account's model.
type Account struct {
	ID string
	// AssumeRoleDenied makes sts:AssumeRole into the account fail.
	AssumeRoleDenied bool
	Regions          map[string]*Region
	IAM              *IAM
}

// Region is one account-region's model, in SDK types.
type Region struct {
	Name      string
	Instances []ec2types.Instance
	// Managed are the SSM registrations (DescribeInstanceInformation).
	Managed  []ssmtypes.InstanceInformation
	Defaults ec2types.InstanceMetadataDefaultsResponse
	// DHMC is the DHMC setting value; "" answers "$None".
	DHMC           string
	VPCs           []ec2types.Vpc
	VPCAttrs       map[string]VPCAttrs
	Subnets        []ec2types.Subnet
	RouteTables    []ec2types.RouteTable
	Endpoints      []ec2types.VpcEndpoint
	SecurityGroups []ec2types.SecurityGroup
	NACLs          []ec2types.NetworkAcl
	// Metrics holds datapoint sums per instance id and metric name.
	Metrics map[string]map[string]float64
}

// VPCAttrs are a VPC's DNS attributes.
type VPCAttrs struct{ DNSSupport, DNSHostnames bool }

// New returns an empty fleet whose caller is account.
func New(account string) *Fleet {
	f := &Fleet{CallerAccount: account, Accounts: map[string]*Account{}}
	f.Reset()
	return f
}

// Account returns the account's model, creating it.
func (f *Fleet) Account(id string) *Account {
	a, ok := f.Accounts[id]
	if !ok {
		a = &Account{ID: id, Regions: map[string]*Region{}, IAM: NewIAM()}
		f.Accounts[id] = a
	}
	return a
}

// Region returns the account-region's model, creating it.
func (f *Fleet) Region(account, region string) *Region {
	a := f.Account(account)
	r, ok := a.Regions[region]
	if !ok {
		r = &Region{Name: region, VPCAttrs: map[string]VPCAttrs{}, Metrics: map[string]map[string]float64{}}
		a.Regions[region] = r
	}
	return r
}

// Reset forgets counted calls and injected faults.
func (f *Fleet) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[string]int{}
	f.faults = map[string]error{}
}

// Calls returns how many times api ("ec2:DescribeInstances") was called,
// over all accounts and regions.
func (f *Fleet) Calls(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[api]
}

// AllCalls returns a copy of every call count.
func (f *Fleet) AllCalls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.calls)
}

// Fail makes every call of api in account and region return err; region ""
// matches global services (IAM, STS) and any region.
func (f *Fleet) Fail(account, region, api string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[account+"|"+region+"|"+api] = err
}

// call counts one call and returns its injected fault, if any.
func (f *Fleet) call(account, region, api string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[api]++
	if err, ok := f.faults[account+"|"+region+"|"+api]; ok {
		return err
	}
	return f.faults[account+"||"+api]
}

// APIError builds an AWS-shaped error.
func APIError(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
}

// AccessDenied is the error IAM-style services return for a denied call.
func AccessDenied(api string) error {
	return APIError("AccessDenied", "User: arn:aws:sts::000000000000:assumed-role/audit/fleetdoctor is not authorized to perform: "+api)
}

// Unauthorized is EC2's spelling of a denied call.
func Unauthorized(api string) error {
	return APIError("UnauthorizedOperation", "You are not authorized to perform this operation. ("+api+")")
}

// Provider returns an awsapi.Provider over the fleet.
func (f *Fleet) Provider() *Provider { return &Provider{f: f} }

// Provider is the fake's awsapi.Provider.
type Provider struct {
	f *Fleet
	// Region is what DefaultRegion reports.
	Region string
}

var _ awsapi.Provider = (*Provider)(nil)

// DefaultRegion is the configured default region.
func (p *Provider) DefaultRegion() string { return p.Region }

// Caller reports the fleet's caller account.
func (p *Provider) Caller(context.Context) (awsapi.Identity, error) {
	return awsapi.Identity{
		Account:   p.f.CallerAccount,
		ARN:       "arn:aws:sts::" + p.f.CallerAccount + ":assumed-role/operator/fake",
		Partition: "aws",
	}, nil
}

// Account assumes the audit role in account, counted as sts:AssumeRole.
func (p *Provider) Account(_ context.Context, account string) error {
	if err := p.f.call(account, "", "sts:AssumeRole"); err != nil {
		return err
	}
	a, ok := p.f.Accounts[account]
	if !ok || a.AssumeRoleDenied {
		return APIError("AccessDenied", "User: arn:aws:sts::"+p.f.CallerAccount+
			":assumed-role/operator/fake is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::"+
			account+":role/fleetdoctor-audit")
	}
	return nil
}

// Clients returns clients answering from the account-region's model.
func (p *Provider) Clients(_ context.Context, account, region string) (*awsapi.Clients, error) {
	a, ok := p.f.Accounts[account]
	if !ok {
		return nil, fmt.Errorf("fake: no account %s", account)
	}
	r := p.f.Region(account, region)
	return &awsapi.Clients{
		EC2:        &EC2{f: p.f, account: account, r: r},
		SSM:        &SSM{f: p.f, account: account, r: r},
		IAM:        &IAMClient{f: p.f, account: account, m: a.IAM},
		CloudWatch: &CloudWatch{f: p.f, account: account, r: r},
	}, nil
}

// page returns the window of n items that token and max select, and the
// next token ("" when done). It validates max against [min, limit] the way
// AWS does, returning an InvalidParameterValue-style error.
func page(n int, token *string, maxResults *int32, min, limit int32, defaultSize int) (lo, hi int, next *string, err error) {
	size := defaultSize
	if maxResults != nil {
		if *maxResults < min || *maxResults > limit {
			return 0, 0, nil, APIError("InvalidParameterValue",
				fmt.Sprintf("Value ( %d ) for parameter maxResults is invalid. Parameter must be between %d and %d.", *maxResults, min, limit))
		}
		size = int(*maxResults)
	}
	if token != nil && *token != "" {
		v, convErr := strconv.Atoi(*token)
		if convErr != nil || v < 0 || v > n {
			return 0, 0, nil, APIError("InvalidNextToken", "The specified token is invalid.")
		}
		lo = v
	}
	hi = min2(lo+size, n)
	if hi < n {
		s := strconv.Itoa(hi)
		next = &s
	}
	return lo, hi, next, nil
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// filterValues returns the values of the named filter, and whether it was given.
func filterValues(filters []ec2types.Filter, name string) ([]string, bool) {
	for _, f := range filters {
		if f.Name != nil && *f.Name == name {
			return f.Values, true
		}
	}
	return nil, false
}

// matches reports whether v passes the filter (absent filters pass).
func matches(filters []ec2types.Filter, name, v string) bool {
	vals, ok := filterValues(filters, name)
	return !ok || slices.Contains(vals, v)
}
