package fake

import (
	"context"
	"encoding/json"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// IAM is one account's IAM model.
type IAM struct {
	Profiles map[string]*Profile // by name
	Roles    map[string]*Role    // by name
	// Policies are managed policies (customer and AWS) by ARN.
	Policies map[string]*Policy
	// SimulateDenied makes iam:SimulatePrincipalPolicy answer AccessDenied,
	// as it does for auditors without that permission.
	SimulateDenied bool
}

// Profile is an instance profile.
type Profile struct {
	Name  string
	Roles []string
}

// Role is a role with its policies as JSON documents.
type Role struct {
	Name     string
	Trust    string
	Attached []string          // managed policy ARNs
	Inline   map[string]string // name → document
}

// Policy is a managed policy's default version.
type Policy struct {
	ARN      string
	Document string
}

// NewIAM returns an empty IAM model holding the two AWS managed policies
// that matter to SSM, with their documents trimmed to the agent's actions.
func NewIAM() *IAM {
	m := &IAM{Profiles: map[string]*Profile{}, Roles: map[string]*Role{}, Policies: map[string]*Policy{}}
	m.Policies[CorePolicyARN] = &Policy{ARN: CorePolicyARN, Document: CorePolicyDocument}
	m.Policies[DHMCPolicyARN] = &Policy{ARN: DHMCPolicyARN, Document: CorePolicyDocument}
	return m
}

// AWS managed policies the fake knows.
const (
	CorePolicyARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
	DHMCPolicyARN = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"
	// CorePolicyDocument grants the agent's actions with service wildcards.
	CorePolicyDocument = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:DescribeAssociation","ssm:GetDocument","ssm:ListAssociations","ssm:ListInstanceAssociations","ssm:UpdateInstanceInformation","ssm:UpdateInstanceAssociationStatus","ssm:PutInventory"],"Resource":"*"},{"Effect":"Allow","Action":["ssmmessages:CreateControlChannel","ssmmessages:CreateDataChannel","ssmmessages:OpenControlChannel","ssmmessages:OpenDataChannel"],"Resource":"*"},{"Effect":"Allow","Action":["ec2messages:AcknowledgeMessage","ec2messages:DeleteMessage","ec2messages:FailMessage","ec2messages:GetEndpoint","ec2messages:GetMessages","ec2messages:SendReply"],"Resource":"*"}]}`
	// TrustEC2 lets EC2 assume a role.
	TrustEC2 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	// TrustSSM lets Systems Manager assume a role (the DHMC role).
	TrustSSM = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ssm.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

// IAMClient answers IAM calls from one account's model.
type IAMClient struct {
	f       *Fleet
	account string
	m       *IAM
}

var _ awsapi.IAMAPI = (*IAMClient)(nil)

// encodeDoc percent-encodes a policy document as IAM returns it (RFC 3986).
func encodeDoc(doc string) *string {
	return aws.String(strings.ReplaceAll(url.QueryEscape(doc), "+", "%20"))
}

func noSuch(kind, name string) error {
	return APIError("NoSuchEntity", "The "+kind+" with name "+name+" cannot be found.")
}

func (c *IAMClient) roleARN(name string) string {
	return "arn:aws:iam::" + c.account + ":role/" + name
}

// GetInstanceProfile returns a profile and its roles.
func (c *IAMClient) GetInstanceProfile(_ context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	if err := c.f.call(c.account, "", "iam:GetInstanceProfile"); err != nil {
		return nil, err
	}
	name := aws.ToString(in.InstanceProfileName)
	p, ok := c.m.Profiles[name]
	if !ok {
		return nil, noSuch("instance profile", name)
	}
	out := &iamtypes.InstanceProfile{
		InstanceProfileName: aws.String(name),
		Arn:                 aws.String("arn:aws:iam::" + c.account + ":instance-profile/" + name),
	}
	for _, r := range p.Roles {
		out.Roles = append(out.Roles, iamtypes.Role{RoleName: aws.String(r), Arn: aws.String(c.roleARN(r))})
	}
	return &iam.GetInstanceProfileOutput{InstanceProfile: out}, nil
}

// GetRole returns a role with its URL-encoded trust policy.
func (c *IAMClient) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	if err := c.f.call(c.account, "", "iam:GetRole"); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RoleName)
	r, ok := c.m.Roles[name]
	if !ok {
		return nil, noSuch("role", name)
	}
	return &iam.GetRoleOutput{Role: &iamtypes.Role{
		RoleName: aws.String(name), Arn: aws.String(c.roleARN(name)), AssumeRolePolicyDocument: encodeDoc(r.Trust),
	}}, nil
}

// iamPage pages n items with IAM's Marker/MaxItems (1-1000, default 100).
func iamPage(n int, marker *string, maxItems *int32) (lo, hi int, next *string, truncated bool, err error) {
	lo, hi, next, err = page(n, marker, maxItems, 1, 1000, 100)
	return lo, hi, next, next != nil, err
}

// ListAttachedRolePolicies pages the role's managed policies.
func (c *IAMClient) ListAttachedRolePolicies(_ context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	if err := c.f.call(c.account, "", "iam:ListAttachedRolePolicies"); err != nil {
		return nil, err
	}
	r, ok := c.m.Roles[aws.ToString(in.RoleName)]
	if !ok {
		return nil, noSuch("role", aws.ToString(in.RoleName))
	}
	lo, hi, next, trunc, err := iamPage(len(r.Attached), in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	out := &iam.ListAttachedRolePoliciesOutput{Marker: next, IsTruncated: trunc}
	for _, arn := range r.Attached[lo:hi] {
		out.AttachedPolicies = append(out.AttachedPolicies, iamtypes.AttachedPolicy{PolicyArn: aws.String(arn), PolicyName: aws.String(path.Base(arn))})
	}
	return out, nil
}

// ListRolePolicies pages the role's inline policy names.
func (c *IAMClient) ListRolePolicies(_ context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	if err := c.f.call(c.account, "", "iam:ListRolePolicies"); err != nil {
		return nil, err
	}
	r, ok := c.m.Roles[aws.ToString(in.RoleName)]
	if !ok {
		return nil, noSuch("role", aws.ToString(in.RoleName))
	}
	names := slices.Sorted(maps.Keys(r.Inline))
	lo, hi, next, trunc, err := iamPage(len(names), in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	return &iam.ListRolePoliciesOutput{PolicyNames: names[lo:hi], Marker: next, IsTruncated: trunc}, nil
}

// GetRolePolicy returns an inline policy document, URL-encoded.
func (c *IAMClient) GetRolePolicy(_ context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	if err := c.f.call(c.account, "", "iam:GetRolePolicy"); err != nil {
		return nil, err
	}
	r, ok := c.m.Roles[aws.ToString(in.RoleName)]
	if !ok {
		return nil, noSuch("role", aws.ToString(in.RoleName))
	}
	doc, ok := r.Inline[aws.ToString(in.PolicyName)]
	if !ok {
		return nil, noSuch("role policy", aws.ToString(in.PolicyName))
	}
	return &iam.GetRolePolicyOutput{RoleName: in.RoleName, PolicyName: in.PolicyName, PolicyDocument: encodeDoc(doc)}, nil
}

// GetPolicy returns a managed policy's metadata (default version v1).
func (c *IAMClient) GetPolicy(_ context.Context, in *iam.GetPolicyInput, _ ...func(*iam.Options)) (*iam.GetPolicyOutput, error) {
	if err := c.f.call(c.account, "", "iam:GetPolicy"); err != nil {
		return nil, err
	}
	p, ok := c.m.Policies[aws.ToString(in.PolicyArn)]
	if !ok {
		return nil, noSuch("policy", aws.ToString(in.PolicyArn))
	}
	return &iam.GetPolicyOutput{Policy: &iamtypes.Policy{Arn: aws.String(p.ARN), DefaultVersionId: aws.String("v1"), PolicyName: aws.String(path.Base(p.ARN))}}, nil
}

// GetPolicyVersion returns a managed policy's document, URL-encoded.
func (c *IAMClient) GetPolicyVersion(_ context.Context, in *iam.GetPolicyVersionInput, _ ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error) {
	if err := c.f.call(c.account, "", "iam:GetPolicyVersion"); err != nil {
		return nil, err
	}
	p, ok := c.m.Policies[aws.ToString(in.PolicyArn)]
	if !ok || aws.ToString(in.VersionId) != "v1" {
		return nil, noSuch("policy version", aws.ToString(in.PolicyArn)+" "+aws.ToString(in.VersionId))
	}
	return &iam.GetPolicyVersionOutput{PolicyVersion: &iamtypes.PolicyVersion{
		Document: encodeDoc(p.Document), VersionId: aws.String("v1"), IsDefaultVersion: true,
	}}, nil
}

// SimulatePrincipalPolicy decides each action from the role's documents
// with a deliberately simple matcher (exact names and '*' wildcards, deny
// wins, resources and conditions ignored) that is independent of the
// collector's own evaluator.
func (c *IAMClient) SimulatePrincipalPolicy(_ context.Context, in *iam.SimulatePrincipalPolicyInput, _ ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error) {
	if err := c.f.call(c.account, "", "iam:SimulatePrincipalPolicy"); err != nil {
		return nil, err
	}
	if c.m.SimulateDenied {
		return nil, AccessDenied("iam:SimulatePrincipalPolicy")
	}
	name := path.Base(aws.ToString(in.PolicySourceArn))
	r, ok := c.m.Roles[name]
	if !ok {
		return nil, noSuch("role", name)
	}
	var docs []string
	for _, arn := range r.Attached {
		if p, ok := c.m.Policies[arn]; ok {
			docs = append(docs, p.Document)
		}
	}
	for _, d := range r.Inline {
		docs = append(docs, d)
	}
	out := &iam.SimulatePrincipalPolicyOutput{}
	for _, action := range in.ActionNames {
		decision := iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
		for _, d := range docs {
			switch simpleDecide(d, action) {
			case "Deny":
				decision = iamtypes.PolicyEvaluationDecisionTypeExplicitDeny
			case "Allow":
				if decision == iamtypes.PolicyEvaluationDecisionTypeImplicitDeny {
					decision = iamtypes.PolicyEvaluationDecisionTypeAllowed
				}
			}
		}
		out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{EvalActionName: aws.String(action), EvalDecision: decision})
	}
	return out, nil
}

func simpleDecide(doc, action string) string {
	var d struct {
		Statement []struct {
			Effect string
			Action any
		}
	}
	if json.Unmarshal([]byte(doc), &d) != nil {
		return ""
	}
	result := ""
	for _, st := range d.Statement {
		var acts []string
		switch a := st.Action.(type) {
		case string:
			acts = []string{a}
		case []any:
			for _, x := range a {
				if s, ok := x.(string); ok {
					acts = append(acts, s)
				}
			}
		}
		for _, a := range acts {
			if ok, _ := path.Match(strings.ToLower(a), strings.ToLower(action)); ok {
				if st.Effect == "Deny" {
					return "Deny"
				}
				result = "Allow"
			}
		}
	}
	return result
}
