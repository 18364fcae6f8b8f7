// Package inventory collects what the AWS APIs say about a fleet into a
// Snapshot: plain Go data, one value per account and region, that the pure
// checks in pkg/checks evaluate. Nothing above this package sees an SDK type.
package inventory

import (
	"net/netip"
	"time"
)

// Snapshot is what the AWS APIs said about a fleet at one moment.
type Snapshot struct {
	// CollectedAt is when collection started; checks measure ages against it.
	CollectedAt time.Time `json:"collectedAt"`
	// MetricWindow is how far back the CloudWatch IMDS metrics were summed.
	MetricWindow time.Duration `json:"metricWindow"`
	// Accounts are sorted by id.
	Accounts []*Account `json:"accounts"`
}

// Account is one AWS account. IAM is global, so it is collected once per
// account and shared by the account's regions.
type Account struct {
	ID string `json:"id"`
	// Err is set when the account could not be reached at all (for example
	// sts:AssumeRole was denied); then nothing else in the account was read.
	Err *CollectError `json:"error,omitempty"`
	// IAM holds every instance profile and role the account's instances and
	// DHMC settings refer to, read once each.
	IAM IAM `json:"iam"`
	// Regions are sorted by name.
	Regions []*Region `json:"regions"`
}

// Source names one kind of data a collector reads. Checks declare the sources
// they need, so a source that failed turns into an ERROR finding for exactly
// the checks that could not run.
type Source string

// The sources, one per collector.
const (
	SourceInstances       Source = "instances"        // ec2:DescribeInstances
	SourceAccountDefaults Source = "account-defaults" // ec2:GetInstanceMetadataDefaults
	SourceManaged         Source = "ssm-instances"    // ssm:DescribeInstanceInformation
	SourceDHMC            Source = "dhmc-setting"     // ssm:GetServiceSetting
	SourceIAM             Source = "iam"              // iam:Get*/List*/SimulatePrincipalPolicy
	SourceMetrics         Source = "imds-metrics"     // cloudwatch:GetMetricData
	SourceNetwork         Source = "network"          // ec2:DescribeVpcs, subnets, routes, endpoints, SGs, NACLs
)

// Region is one account-region: the instances and everything regional that
// decides whether they can reach IMDS and SSM.
type Region struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	// Instances are sorted by id. Terminated instances are not collected.
	Instances []Instance `json:"instances"`
	// Defaults is the account's IMDS defaults in this region; nil when they
	// could not be read (see Errors).
	Defaults *MetadataDefaults `json:"defaults,omitempty"`
	// DHMC is the Default Host Management Configuration setting; nil when it
	// could not be read.
	DHMC *DHMCSetting `json:"dhmc,omitempty"`
	// Network holds the VPCs and subnets the instances live in.
	Network Network `json:"network"`
	// Errors holds, per source, why that source could not be read in this
	// region. A source that is absent here was read completely.
	Errors map[Source]*CollectError `json:"errors,omitempty"`
}

// Failed reports the collection error for src, or nil when src was read.
func (r *Region) Failed(src Source) *CollectError {
	if r.Errors == nil {
		return nil
	}
	return r.Errors[src]
}

// Instance is one EC2 instance as the APIs describe it.
type Instance struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`    // pending | running | stopping | stopped
	Platform   string    `json:"platform"` // linux | windows
	LaunchTime time.Time `json:"launchTime"`
	VPCID      string    `json:"vpcId,omitempty"`
	SubnetID   string    `json:"subnetId,omitempty"`
	// PrivateIP is the primary private IPv4 address; invalid on IPv6-only instances.
	PrivateIP netip.Addr `json:"privateIp"`
	// PublicIP reports whether the instance has a public IPv4 address, which
	// decides whether an internet gateway route is a path out.
	PublicIP         bool              `json:"publicIp,omitempty"`
	SecurityGroupIDs []string          `json:"securityGroupIds,omitempty"`
	ProfileARN       string            `json:"profileArn,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	Metadata         MetadataOptions   `json:"metadata"`
	// Agent is what SSM knows of the instance's agent; nil when the instance
	// is not registered with SSM.
	Agent *Agent `json:"agent,omitempty"`
	// IMDSCalls is the CloudWatch IMDS call counts over the metric window;
	// nil when they were not read.
	IMDSCalls *IMDSCalls `json:"imdsCalls,omitempty"`
}

// Running reports whether the instance is running, the only state in which
// IMDS and the SSM agent can be judged.
func (i *Instance) Running() bool { return i.State == "running" }

// MetadataOptions is the instance's IMDS configuration.
type MetadataOptions struct {
	HTTPEndpoint string `json:"httpEndpoint"` // enabled | disabled
	HTTPTokens   string `json:"httpTokens"`   // optional | required
	HopLimit     int32  `json:"hopLimit"`
	ProtocolIPv6 string `json:"protocolIpv6"` // enabled | disabled
	InstanceTags string `json:"instanceTags"` // enabled | disabled
	State        string `json:"state"`        // pending | applied
}

// Agent is the SSM agent as DescribeInstanceInformation reports it.
type Agent struct {
	PingStatus   string    `json:"pingStatus"` // Online | ConnectionLost | Inactive
	Version      string    `json:"version"`
	PlatformType string    `json:"platformType"` // Linux | Windows | MacOS
	PlatformName string    `json:"platformName,omitempty"`
	LastPing     time.Time `json:"lastPing"`
}

// IMDSCalls sums the instance's CloudWatch IMDS metrics over the window.
type IMDSCalls struct {
	// NoToken counts successful IMDSv1 calls (MetadataNoToken).
	NoToken float64 `json:"noToken"`
	// NoTokenRejected counts IMDSv1 calls rejected because tokens are
	// required (MetadataNoTokenRejected).
	NoTokenRejected float64 `json:"noTokenRejected"`
	// HasData is false when CloudWatch returned no datapoints at all for the
	// instance, so the zeros above are an absence of evidence.
	HasData bool `json:"hasData"`
}

// MetadataDefaults is the account-level IMDS default for new instances.
type MetadataDefaults struct {
	HTTPEndpoint string `json:"httpEndpoint,omitempty"`
	HTTPTokens   string `json:"httpTokens,omitempty"`
	// HopLimit is 0 when no default is set ("no preference").
	HopLimit int32 `json:"hopLimit,omitempty"`
	// ManagedBy is "account" or "declarative-policy"; a declarative policy
	// cannot be changed from inside the account.
	ManagedBy string `json:"managedBy,omitempty"`
}

// DHMCSettingID is the SSM service setting that turns on Default Host
// Management Configuration.
const DHMCSettingID = "/ssm/managed-instance/default-ec2-instance-management-role"

// DHMCSetting is the DHMC service setting in one region.
type DHMCSetting struct {
	// Value is the raw setting: "$None" or a role name, possibly with a
	// path such as "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole".
	Value string `json:"value"`
	// RoleName is the role name without its path; empty when DHMC is off.
	RoleName string `json:"roleName,omitempty"`
}

// Enabled reports whether the setting names a role.
func (d *DHMCSetting) Enabled() bool { return d != nil && d.RoleName != "" }

// IAM holds the account's instance profiles and roles that matter to the fleet.
type IAM struct {
	// Profiles is keyed by instance profile ARN.
	Profiles map[string]*InstanceProfile `json:"profiles,omitempty"`
	// Roles is keyed by role name.
	Roles map[string]*Role `json:"roles,omitempty"`
	// Err is set when IAM could not be read at all in the account.
	Err *CollectError `json:"error,omitempty"`
}

// InstanceProfile is an IAM instance profile.
type InstanceProfile struct {
	ARN  string `json:"arn"`
	Name string `json:"name"`
	// Exists is false when the profile was deleted while still associated.
	Exists bool `json:"exists"`
	// RoleNames are the profile's roles: zero when the role was removed or
	// deleted, which makes IMDS answer 404 for credentials.
	RoleNames []string `json:"roleNames,omitempty"`
	// Err is set when the profile could not be read.
	Err *CollectError `json:"error,omitempty"`
}

// Role is an IAM role with what the agent needs to know about it.
type Role struct {
	Name   string `json:"name"`
	ARN    string `json:"arn,omitempty"`
	Exists bool   `json:"exists"`
	// TrustedServices are the service principals the trust policy allows
	// to call sts:AssumeRole (for example "ec2.amazonaws.com").
	TrustedServices []string `json:"trustedServices,omitempty"`
	// AttachedPolicyARNs are the managed policies attached to the role.
	AttachedPolicyARNs []string `json:"attachedPolicyArns,omitempty"`
	// InlinePolicyNames are the role's inline policies.
	InlinePolicyNames []string `json:"inlinePolicyNames,omitempty"`
	// Allowed tells, for each action in AgentActions, whether the role's
	// effective permissions allow it.
	Allowed map[string]bool `json:"allowed,omitempty"`
	// PermissionsFrom says how Allowed was worked out: "simulation"
	// (iam:SimulatePrincipalPolicy) or "policy-documents" (our own
	// evaluation of the attached and inline policy documents, used when the
	// simulation is denied or unavailable).
	PermissionsFrom string `json:"permissionsFrom,omitempty"`
	// Err is set when the role, or its permissions, could not be read.
	Err *CollectError `json:"error,omitempty"`
}

// Permissions sources for Role.PermissionsFrom.
const (
	FromSimulation      = "simulation"
	FromPolicyDocuments = "policy-documents"
)

// AgentActions are the actions the SSM agent calls to register, take
// commands and open sessions: the heart of AmazonSSMManagedInstanceCore.
var AgentActions = []string{
	"ssm:UpdateInstanceInformation",
	"ssmmessages:CreateControlChannel",
	"ssmmessages:CreateDataChannel",
	"ssmmessages:OpenControlChannel",
	"ssmmessages:OpenDataChannel",
	"ec2messages:AcknowledgeMessage",
	"ec2messages:DeleteMessage",
	"ec2messages:FailMessage",
	"ec2messages:GetEndpoint",
	"ec2messages:GetMessages",
	"ec2messages:SendReply",
}

// DHMCPolicyARNSuffix is the managed policy a DHMC role needs, without the
// partition-specific prefix.
const DHMCPolicyARNSuffix = ":iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"

// Network is what decides the path from instances to the SSM endpoints.
type Network struct {
	VPCs           map[string]*VPC           `json:"vpcs,omitempty"`
	Subnets        map[string]*Subnet        `json:"subnets,omitempty"`
	SecurityGroups map[string]*SecurityGroup `json:"securityGroups,omitempty"`
}

// VPC is a VPC with its DNS attributes and SSM interface endpoints.
type VPC struct {
	ID    string         `json:"id"`
	CIDRs []netip.Prefix `json:"cidrs,omitempty"`
	// DNSSupport and DNSHostnames must both be on for an interface
	// endpoint's private DNS name to resolve.
	DNSSupport   bool `json:"dnsSupport"`
	DNSHostnames bool `json:"dnsHostnames"`
	// Endpoints are the VPC's interface endpoints for ssm, ec2messages and
	// ssmmessages.
	Endpoints []*Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is an interface VPC endpoint for one of the SSM services.
type Endpoint struct {
	ID string `json:"id"`
	// Service is the short name: "ssm", "ec2messages" or "ssmmessages".
	Service          string   `json:"service"`
	State            string   `json:"state"` // available, pending, ...
	PrivateDNS       bool     `json:"privateDns"`
	SubnetIDs        []string `json:"subnetIds,omitempty"`
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`
}

// EndpointServices are the services an agent needs, by short name.
var EndpointServices = []string{"ssm", "ec2messages", "ssmmessages"}

// Subnet is a subnet with its effective route table and network ACL.
type Subnet struct {
	ID    string       `json:"id"`
	VPCID string       `json:"vpcId"`
	CIDR  netip.Prefix `json:"cidr"`
	// IPv6Native marks an IPv6-only subnet, where IMDS is reachable only on
	// its IPv6 address.
	IPv6Native bool `json:"ipv6Native,omitempty"`
	// RouteTable is the explicitly associated table, or the VPC's main one.
	RouteTable *RouteTable `json:"routeTable,omitempty"`
	// NACL is the subnet's network ACL.
	NACL *NACL `json:"nacl,omitempty"`
}

// RouteTable is a route table.
type RouteTable struct {
	ID     string  `json:"id"`
	Routes []Route `json:"routes,omitempty"`
}

// Route is one route. Target is the kind of target, TargetID its id.
type Route struct {
	// Destination is the IPv4 or IPv6 CIDR; invalid for prefix-list routes.
	Destination  netip.Prefix `json:"destination"`
	PrefixListID string       `json:"prefixListId,omitempty"`
	// Target is one of: local, igw, eigw, nat, tgw, vgw, pcx, eni, vpce,
	// instance, other.
	Target   string `json:"target"`
	TargetID string `json:"targetId,omitempty"`
	// Blackhole marks a route whose target is gone.
	Blackhole bool `json:"blackhole,omitempty"`
}

// NACL is a network ACL.
type NACL struct {
	ID string `json:"id"`
	// Entries are sorted by rule number; egress and ingress together.
	Entries []NACLEntry `json:"entries,omitempty"`
}

// NACLEntry is one numbered NACL rule. Protocol "-1" means all protocols and
// "6" TCP; ports apply only to TCP and UDP.
type NACLEntry struct {
	RuleNumber int32        `json:"ruleNumber"`
	Egress     bool         `json:"egress"`
	Protocol   string       `json:"protocol"`
	CIDR       netip.Prefix `json:"cidr"`
	FromPort   int32        `json:"fromPort"`
	ToPort     int32        `json:"toPort"`
	Allow      bool         `json:"allow"`
}

// SecurityGroup is a security group's rules.
type SecurityGroup struct {
	ID      string   `json:"id"`
	Ingress []SGRule `json:"ingress,omitempty"`
	Egress  []SGRule `json:"egress,omitempty"`
}

// SGRule is one security group permission. Protocol "-1" means all traffic;
// otherwise "tcp", "udp", "icmp" or a number.
type SGRule struct {
	Protocol      string         `json:"protocol"`
	FromPort      int32          `json:"fromPort"`
	ToPort        int32          `json:"toPort"`
	CIDRs         []netip.Prefix `json:"cidrs,omitempty"`
	GroupIDs      []string       `json:"groupIds,omitempty"`
	PrefixListIDs []string       `json:"prefixListIds,omitempty"`
}

// CollectError says what could not be read, why, and which permission is
// missing when that is the reason.
type CollectError struct {
	// What is a human name for the data ("EC2 instances", "role app-role").
	What string `json:"what"`
	// API is the IAM action form of the failed call ("ec2:DescribeInstances").
	API string `json:"api"`
	// Kind classifies the failure: access-denied, throttled, unsupported,
	// not-found or error.
	Kind string `json:"kind"`
	// Code is the AWS error code, when there was one.
	Code string `json:"code,omitempty"`
	// Message is the error text, capped in length.
	Message string `json:"message"`
	// Permission names the IAM permission to grant, for access-denied.
	Permission string `json:"permission,omitempty"`
}

func (e *CollectError) Error() string {
	if e.Permission != "" {
		return e.What + ": " + e.API + " denied; grant " + e.Permission
	}
	return e.What + ": " + e.API + ": " + e.Message
}
