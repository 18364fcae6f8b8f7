package scenario

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/host"
)

// Spec is a parsed and validated scenario file (README.md documents every
// field). A Spec is read-only once parsed: Build can expand it any number
// of times with different Params.
type Spec struct {
	// Name identifies the scenario; built-ins match their file names.
	Name string `yaml:"name"`
	// Description says in a sentence or two what the world shows.
	Description string `yaml:"description"`
	// Seed drives every random choice and every generated id.
	Seed int64 `yaml:"seed"`
	// Now is the moment launch ages and ping ages count back from; zero
	// means DefaultNow.
	Now time.Time `yaml:"now"`
	// Hub is the account the sandbox's base credentials belong to; empty
	// means the first account.
	Hub string `yaml:"hub"`
	// AuditRole is the role the auditor assumes in every account; empty
	// means DefaultAuditRole.
	AuditRole string `yaml:"auditRole"`
	// AutomationRole is the role remediation assumes; empty means
	// DefaultAutomationRole.
	AutomationRole string `yaml:"automationRole"`
	// Instances is the total number of instances; groups with a weight
	// share what the groups with a count leave.
	Instances int `yaml:"instances"`
	// IAMSets are reusable sets of IAM policies, roles and profiles.
	IAMSets map[string]*IAMSpec `yaml:"iamSets"`
	// Layouts are reusable region layouts (DHMC, IMDS defaults, VPCs).
	Layouts map[string]*LayoutSpec `yaml:"layouts"`
	// Accounts are written out by hand.
	Accounts []*AccountSpec `yaml:"accounts"`
	// Generate stamps out further accounts and regions from an IAM set and
	// layouts.
	Generate *GenerateSpec `yaml:"generate"`
	// Groups are the instances: each group places Count (or its weighted
	// share of Instances) instances built from Template.
	Groups []*GroupSpec `yaml:"groups"`
}

// AccountSpec is one hand-written account.
type AccountSpec struct {
	// ID is the 12-digit account id.
	ID string `yaml:"id"`
	// Name is a short name that group placements may use instead of the id.
	Name string `yaml:"name"`
	// IAMSet names an entry of Spec.IAMSets to start from.
	IAMSet string `yaml:"iamSet"`
	// IAM adds to (and, by name, overrides) the IAM set.
	IAM IAMSpec `yaml:"iam"`
	// AuditRoleMissing leaves the audit role out of the account, so
	// assuming it is denied.
	AuditRoleMissing bool `yaml:"auditRoleMissing"`
	// Regions are the account's regions, in order.
	Regions []*RegionSpec `yaml:"regions"`
}

// RegionSettings are what a region or a layout declares.
type RegionSettings struct {
	// DHMC is the Default Host Management Configuration role, optionally
	// with its path ("service-role/Name"); "$None" turns DHMC off. Unset
	// inherits from the layout, and is off at the end of the chain.
	DHMC *string `yaml:"dhmc"`
	// IMDSDefaults are the account-level IMDS defaults; unset inherits.
	IMDSDefaults *IMDSDefaultsSpec `yaml:"imdsDefaults"`
	// VPCs are added after the layout's.
	VPCs []*VPCSpec `yaml:"vpcs"`
}

// RegionSpec is one region of a hand-written account.
type RegionSpec struct {
	// Name is the AWS region name.
	Name string `yaml:"name"`
	// Layout names an entry of Spec.Layouts the region starts from.
	Layout         string `yaml:"layout"`
	RegionSettings `yaml:",inline"`
}

// LayoutSpec is a reusable region layout.
type LayoutSpec struct {
	// Extends names another layout whose settings and VPCs come first.
	Extends        string `yaml:"extends"`
	RegionSettings `yaml:",inline"`
}

// GenerateSpec stamps out account-regions: as many accounts as needed to
// hold AccountRegions account-regions over Regions, numbered up from
// FirstAccount.
type GenerateSpec struct {
	// AccountRegions is how many account-regions to generate;
	// Params.AccountRegions overrides it.
	AccountRegions int `yaml:"accountRegions"`
	// Regions each generated account fills, in order.
	Regions []string `yaml:"regions"`
	// FirstAccount is the first generated account id; the next ones count up.
	FirstAccount string `yaml:"firstAccount"`
	// NamePrefix names generated accounts NamePrefix-01, -02, ...
	NamePrefix string `yaml:"namePrefix"`
	// IAMSet is every generated account's IAM.
	IAMSet string `yaml:"iamSet"`
	// Layouts are cycled over the generated account-regions in order.
	Layouts []string `yaml:"layouts"`
}

// IMDSDefaultsSpec is GetInstanceMetadataDefaults' account level. Empty
// fields mean "no preference".
type IMDSDefaultsSpec struct {
	HTTPEndpoint         string `yaml:"httpEndpoint"`
	HTTPTokens           string `yaml:"httpTokens"`
	HopLimit             int32  `yaml:"hopLimit"`
	InstanceMetadataTags string `yaml:"instanceMetadataTags"`
	// ManagedBy is "account" (default) or "declarative-policy".
	ManagedBy string `yaml:"managedBy"`
}

// IAMSpec is an account's IAM: customer managed policies, roles and
// instance profiles.
type IAMSpec struct {
	Policies []*PolicySpec  `yaml:"policies"`
	Roles    []*RoleSpec    `yaml:"roles"`
	Profiles []*ProfileSpec `yaml:"profiles"`
	// SimulateDenied makes iam:SimulatePrincipalPolicy answer AccessDenied.
	SimulateDenied bool `yaml:"simulateDenied"`
}

// PolicySpec is a customer managed policy.
type PolicySpec struct {
	Name     string   `yaml:"name"`
	Document Document `yaml:"document"`
}

// RoleSpec is an IAM role.
type RoleSpec struct {
	Name string `yaml:"name"`
	// Path is the role's path, such as "service-role/"; it shows in the
	// ARN and in a DHMC setting value, never in the name.
	Path string `yaml:"path"`
	// Trust lists the service principals allowed sts:AssumeRole, such as
	// ec2.amazonaws.com.
	Trust []string `yaml:"trust"`
	// Managed are attached managed policies: an AWS managed policy name
	// (AmazonSSMManagedInstanceCore), a customer policy name of the account,
	// or an ARN of either.
	Managed []string `yaml:"managed"`
	// Inline are inline policies by name.
	Inline map[string]Document `yaml:"inline"`
	// Deleted declares a role that no longer exists, so that a profile or
	// the DHMC setting can still name it.
	Deleted bool `yaml:"deleted"`
}

// ProfileSpec is an instance profile.
type ProfileSpec struct {
	Name string `yaml:"name"`
	// Role is the profile's role; empty for a profile whose role was removed.
	Role string `yaml:"role"`
	// Deleted declares a profile that no longer exists while instances
	// still name it.
	Deleted bool `yaml:"deleted"`
}

// VPCSpec is a VPC and everything in it. Names are local to the VPC; ids
// are generated from the seed.
type VPCSpec struct {
	Name     string `yaml:"name"`
	CIDR     string `yaml:"cidr"`
	IPv6CIDR string `yaml:"ipv6Cidr"`
	// DNSSupport and DNSHostnames default to true.
	DNSSupport   *bool `yaml:"dnsSupport"`
	DNSHostnames *bool `yaml:"dnsHostnames"`
	// SecurityGroups: a group named "default" replaces the AWS default
	// group's rules; otherwise the AWS default (all from itself in, all
	// out) is created.
	SecurityGroups []*SecurityGroupSpec `yaml:"securityGroups"`
	// NetworkACLs: the one marked default covers subnets that name none;
	// without one an allow-all default ACL is created.
	NetworkACLs []*NetworkACLSpec `yaml:"networkAcls"`
	// RouteTables: the one marked main covers subnets that name none;
	// without one a main table with only local routes is created.
	RouteTables []*RouteTableSpec `yaml:"routeTables"`
	Subnets     []*SubnetSpec     `yaml:"subnets"`
	Endpoints   []*EndpointSpec   `yaml:"endpoints"`
}

// SubnetSpec is a subnet.
type SubnetSpec struct {
	Name string `yaml:"name"`
	// CIDR is the IPv4 block; IPv6-only subnets have none.
	CIDR       string `yaml:"cidr"`
	IPv6CIDR   string `yaml:"ipv6Cidr"`
	IPv6Native bool   `yaml:"ipv6Native"`
	// Zone is the availability zone letter ("a"); default "a".
	Zone       string `yaml:"zone"`
	RouteTable string `yaml:"routeTable"`
	NetworkACL string `yaml:"networkAcl"`
}

// RouteTableSpec is a route table; local routes are added.
type RouteTableSpec struct {
	Name   string      `yaml:"name"`
	Main   bool        `yaml:"main"`
	Routes []RouteSpec `yaml:"routes"`
}

// RouteSpec is one route.
type RouteSpec struct {
	// Destination is an IPv4 or IPv6 CIDR.
	Destination string `yaml:"destination"`
	// Target is the kind of gateway: igw, nat, eigw, tgw, vgw or pcx (one
	// of each per VPC, generated).
	Target string `yaml:"target"`
	// Blackhole marks a route whose target was deleted.
	Blackhole bool `yaml:"blackhole"`
}

// SecurityGroupSpec is a security group.
type SecurityGroupSpec struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	Ingress     []SGRuleSpec `yaml:"ingress"`
	Egress      []SGRuleSpec `yaml:"egress"`
}

// SGRuleSpec is one security group permission.
type SGRuleSpec struct {
	// Protocol is all, tcp, udp or icmp.
	Protocol string `yaml:"protocol"`
	// Ports is a port or "from-to"; ignored for all.
	Ports PortRange `yaml:"ports"`
	// CIDRs are IPv4 or IPv6 blocks.
	CIDRs []string `yaml:"cidrs"`
	// Groups name security groups of the same VPC.
	Groups      []string `yaml:"groups"`
	PrefixLists []string `yaml:"prefixLists"`
}

// NetworkACLSpec is a network ACL; the implicit "*" deny rules are added.
type NetworkACLSpec struct {
	Name    string          `yaml:"name"`
	Default bool            `yaml:"default"`
	Entries []NACLEntrySpec `yaml:"entries"`
}

// NACLEntrySpec is one numbered NACL rule.
type NACLEntrySpec struct {
	Rule     int32     `yaml:"rule"`
	Egress   bool      `yaml:"egress"`
	Protocol string    `yaml:"protocol"`
	Ports    PortRange `yaml:"ports"`
	CIDR     string    `yaml:"cidr"`
	// Action is allow or deny.
	Action string `yaml:"action"`
}

// EndpointSpec declares interface endpoints, one per service.
type EndpointSpec struct {
	// Services are short names: ssm, ec2messages, ssmmessages, ...
	Services       []string `yaml:"services"`
	Subnets        []string `yaml:"subnets"`
	SecurityGroups []string `yaml:"securityGroups"`
	// PrivateDNS defaults to true.
	PrivateDNS *bool `yaml:"privateDns"`
	// State defaults to available.
	State string `yaml:"state"`
}

// GroupSpec is a group of alike instances.
type GroupSpec struct {
	Name string `yaml:"name"`
	// Count is the exact number of instances; alternatively Weight.
	Count *int `yaml:"count"`
	// Weight is the group's relative share of what Spec.Instances leaves
	// after the counted groups.
	Weight float64 `yaml:"weight"`
	// Where limits the group to account-regions matching one of the
	// patterns "ACCOUNT/REGION" (ACCOUNT an id or name, either part "*");
	// empty means everywhere.
	Where []string `yaml:"where"`
	// Layouts further limits the group to account-regions built from one
	// of these layouts.
	Layouts []string `yaml:"layouts"`
	// Template is what every instance of the group looks like.
	Template InstanceTemplate `yaml:"template"`
}

// InstanceTemplate describes the instances of a group. Unset fields take
// the healthy value.
type InstanceTemplate struct {
	VPC string `yaml:"vpc"`
	// Subnets are used in turn.
	Subnets Strings `yaml:"subnets"`
	// SecurityGroups default to the VPC's default group.
	SecurityGroups []string `yaml:"securityGroups"`
	// Profile is the instance profile name; empty for none.
	Profile string `yaml:"profile"`
	// Platform is linux (default) or windows.
	Platform string `yaml:"platform"`
	// State is running (default), pending, stopping or stopped.
	State string `yaml:"state"`
	// InstanceTypes are picked at random.
	InstanceTypes Strings `yaml:"instanceTypes"`
	// LaunchAge is how long before Now the instances launched: a duration
	// ("36h", "90d") or a [min, max] pair.
	LaunchAge DurationSpan `yaml:"launchAge"`
	PublicIP  bool         `yaml:"publicIp"`
	// Tags; Name defaults to the group's name.
	Tags     map[string]string `yaml:"tags"`
	Metadata MetadataSpec      `yaml:"metadata"`
	SSM      SSMSpec           `yaml:"ssm"`
	// Metrics are the CloudWatch sums over the audit window; unset means
	// no datapoints.
	Metrics *MetricsSpec `yaml:"metrics"`
	// Host is the on-host state; unset is a healthy host.
	Host *host.State `yaml:"host"`
}

// MetadataSpec is the instance's metadata options; unset fields are the
// healthy values (enabled, required, hop limit 2, IPv6 disabled, tags
// disabled, applied).
type MetadataSpec struct {
	HTTPEndpoint         string `yaml:"httpEndpoint"`
	HTTPTokens           string `yaml:"httpTokens"`
	HopLimit             int32  `yaml:"hopLimit"`
	ProtocolIPv6         string `yaml:"protocolIpv6"`
	InstanceMetadataTags string `yaml:"instanceMetadataTags"`
	State                string `yaml:"state"`
}

// SSMSpec is the instance's Systems Manager registration.
type SSMSpec struct {
	// Ping is Online, ConnectionLost, Inactive or unregistered; empty
	// derives it from the host and instance state.
	Ping string `yaml:"ping"`
	// AgentVersion is picked at random from the list.
	AgentVersion Strings `yaml:"agentVersion"`
	// LastPing is how long ago the agent last pinged; unset derives it.
	LastPing DurationSpan `yaml:"lastPing"`
}

// MetricsSpec gives the IMDS CloudWatch sums, each a number or a [min,
// max] pair of whole numbers.
type MetricsSpec struct {
	NoToken         Span `yaml:"noToken"`
	NoTokenRejected Span `yaml:"noTokenRejected"`
}

// Strings is a list that may be written as a single scalar.
type Strings []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (s *Strings) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = Strings{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(Strings, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a string", c.Line)
			}
			out = append(out, c.Value)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

// Bounds on ranges, far beyond anything realistic, so that drawing a value
// from a range can never overflow.
const (
	maxSpan     = 1e12
	maxDuration = 36500 * 24 * time.Hour // a century
)

// Span is a whole-number range; a single number is a range of one.
type Span struct{ Min, Max int64 }

// UnmarshalYAML accepts N or [MIN, MAX].
func (s *Span) UnmarshalYAML(n *yaml.Node) error {
	vals, err := pair(n)
	if err != nil {
		return err
	}
	var out [2]int64
	for i, v := range vals {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x < 0 || x > maxSpan {
			return fmt.Errorf("line %d: %q is not a whole number in 0-%d", n.Line, v, int64(maxSpan))
		}
		out[i] = x
	}
	if out[0] > out[1] {
		return fmt.Errorf("line %d: range [%d, %d] has min above max", n.Line, out[0], out[1])
	}
	*s = Span{out[0], out[1]}
	return nil
}

// DurationSpan is a range of durations; a single duration is a range of one.
type DurationSpan struct{ Min, Max time.Duration }

// IsZero reports whether the span was left unset.
func (d DurationSpan) IsZero() bool { return d.Min == 0 && d.Max == 0 }

// UnmarshalYAML accepts D or [MIN, MAX], where a duration is Go's syntax
// ("90m", "36h") or a number of days ("90d").
func (d *DurationSpan) UnmarshalYAML(n *yaml.Node) error {
	vals, err := pair(n)
	if err != nil {
		return err
	}
	var out [2]time.Duration
	for i, v := range vals {
		x, err := parseDuration(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		out[i] = x
	}
	if out[0] > out[1] {
		return fmt.Errorf("line %d: range [%s, %s] has min above max", n.Line, out[0], out[1])
	}
	*d = DurationSpan{out[0], out[1]}
	return nil
}

func parseDuration(v string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration of at most 36500d (want e.g. 90m, 36h or 30d)", v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || !(n >= 0 && n <= 36500) {
			return 0, bad
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	x, err := time.ParseDuration(v)
	if err != nil || x < 0 || x > maxDuration {
		return 0, bad
	}
	return x, nil
}

// pair reads a scalar as [v, v] or a two-element sequence as [a, b].
func pair(n *yaml.Node) ([2]string, error) {
	switch {
	case n.Kind == yaml.ScalarNode:
		return [2]string{n.Value, n.Value}, nil
	case n.Kind == yaml.SequenceNode && len(n.Content) == 2 &&
		n.Content[0].Kind == yaml.ScalarNode && n.Content[1].Kind == yaml.ScalarNode:
		return [2]string{n.Content[0].Value, n.Content[1].Value}, nil
	}
	return [2]string{}, fmt.Errorf("line %d: want a value or a [min, max] pair", n.Line)
}

// PortRange is a TCP/UDP port range: 443 or "1024-65535".
type PortRange struct{ From, To int32 }

// UnmarshalYAML accepts a port number or "FROM-TO".
func (p *PortRange) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a port or FROM-TO", n.Line)
	}
	lo, hi, found := strings.Cut(n.Value, "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
	b, err2 := strconv.ParseInt(strings.TrimSpace(hi), 10, 32)
	if err1 != nil || err2 != nil || a < 0 || b > 65535 || a > b {
		return fmt.Errorf("line %d: %q is not a port or port range within 0-65535", n.Line, n.Value)
	}
	*p = PortRange{int32(a), int32(b)}
	return nil
}

// Document is an IAM policy document, written in YAML or as a JSON string,
// and held as compact JSON.
type Document struct{ JSON string }

// UnmarshalYAML accepts a mapping or a string of JSON.
func (d *Document) UnmarshalYAML(n *yaml.Node) error {
	var v any
	switch n.Kind {
	case yaml.ScalarNode:
		if err := json.Unmarshal([]byte(n.Value), &v); err != nil {
			return fmt.Errorf("line %d: policy document is not JSON: %v", n.Line, err)
		}
	case yaml.MappingNode:
		if err := n.Decode(&v); err != nil {
			return err
		}
	default:
		return fmt.Errorf("line %d: want a policy document (a mapping or a JSON string)", n.Line)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("line %d: a policy document is an object", n.Line)
	}
	if _, ok := m["Statement"]; !ok {
		return fmt.Errorf("line %d: policy document has no Statement", n.Line)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("line %d: policy document: %v", n.Line, err)
	}
	d.JSON = string(b)
	return nil
}
