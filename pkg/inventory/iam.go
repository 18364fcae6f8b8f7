package inventory

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"golang.org/x/sync/errgroup"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// collectIAM reads, once each, the instance profiles the account's instances
// use, their roles and the DHMC roles its regions name. Nothing is read per
// instance.
func collectIAM(ctx context.Context, api awsapi.IAMAPI, acct *Account, policies *policyCache) IAM {
	m := IAM{Profiles: map[string]*InstanceProfile{}, Roles: map[string]*Role{}}
	var profileARNs, roleNames []string
	for _, r := range acct.Regions {
		for i := range r.Instances {
			profileARNs = append(profileARNs, r.Instances[i].ProfileARN)
		}
		if r.DHMC.Enabled() {
			roleNames = append(roleNames, r.DHMC.RoleName)
		}
	}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(iamConcurrency)
	for _, arn := range distinct(profileARNs) {
		g.Go(func() error {
			p := readProfile(gctx, api, arn)
			mu.Lock()
			m.Profiles[arn] = p
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	for _, p := range m.Profiles {
		roleNames = append(roleNames, p.RoleNames...)
	}

	roles := distinct(roleNames)
	if len(roles) == 0 {
		return m
	}
	// The first role finds out whether the auditor may simulate; the rest
	// then run concurrently without asking again.
	var sim simulation
	m.Roles[roles[0]] = readRole(ctx, api, roles[0], policies, &sim)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(iamConcurrency)
	for _, name := range roles[1:] {
		g.Go(func() error {
			r := readRole(gctx, api, name, policies, &sim)
			mu.Lock()
			m.Roles[name] = r
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
	return m
}

// simulation remembers that iam:SimulatePrincipalPolicy is not available to
// the auditor in this account, so it is not asked again for every role.
type simulation struct{ unavailable atomic.Bool }

func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

func readProfile(ctx context.Context, api awsapi.IAMAPI, arn string) *InstanceProfile {
	name := lastSegment(arn)
	p := &InstanceProfile{ARN: arn, Name: name}
	out, err := api.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	switch {
	case awsapi.IsNotFound(err):
		return p // deleted while still associated
	case err != nil:
		p.Err = collectErr("instance profile "+name, "iam:GetInstanceProfile", err)
		return p
	}
	p.Exists = true
	for _, r := range out.InstanceProfile.Roles {
		p.RoleNames = append(p.RoleNames, aws.ToString(r.RoleName))
	}
	return p
}

func readRole(ctx context.Context, api awsapi.IAMAPI, name string, policies *policyCache, sim *simulation) *Role {
	r := &Role{Name: name}
	out, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	switch {
	case awsapi.IsNotFound(err):
		return r
	case err != nil:
		r.Err = collectErr("role "+name, "iam:GetRole", err)
		return r
	}
	r.Exists = true
	r.ARN = aws.ToString(out.Role.Arn)
	if trust, err := parsePolicy(aws.ToString(out.Role.AssumeRolePolicyDocument)); err == nil {
		r.TrustedServices = trustedServices(trust)
	}

	attached := iam.NewListAttachedRolePoliciesPaginator(api, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if err != nil {
			r.Err = collectErr("policies of role "+name, "iam:ListAttachedRolePolicies", err)
			return r
		}
		for _, p := range page.AttachedPolicies {
			r.AttachedPolicyARNs = append(r.AttachedPolicyARNs, aws.ToString(p.PolicyArn))
		}
	}
	inline := iam.NewListRolePoliciesPaginator(api, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if err != nil {
			r.Err = collectErr("inline policies of role "+name, "iam:ListRolePolicies", err)
			return r
		}
		r.InlinePolicyNames = append(r.InlinePolicyNames, page.PolicyNames...)
	}

	if !sim.unavailable.Load() {
		allowed, err := simulate(ctx, api, r.ARN)
		if err == nil {
			r.Allowed, r.PermissionsFrom = allowed, FromSimulation
			return r
		}
		if k := awsapi.Classify(err); k == awsapi.KindAccessDenied || k == awsapi.KindUnsupported {
			sim.unavailable.Store(true)
		}
	}
	// Without the simulation, read the documents and decide ourselves.
	docs, cerr := roleDocuments(ctx, api, r, policies)
	if cerr != nil {
		r.Err = cerr
		return r
	}
	r.Allowed = map[string]bool{}
	for _, a := range AgentActions {
		r.Allowed[a] = evaluate(docs, a)
	}
	r.PermissionsFrom = FromPolicyDocuments
	return r
}

// simulate asks IAM whether the role may call each of AgentActions.
func simulate(ctx context.Context, api awsapi.IAMAPI, roleARN string) (map[string]bool, error) {
	p := iam.NewSimulatePrincipalPolicyPaginator(api, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(roleARN),
		ActionNames:     AgentActions,
	})
	allowed := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, res := range page.EvaluationResults {
			allowed[aws.ToString(res.EvalActionName)] = res.EvalDecision == iamtypes.PolicyEvaluationDecisionTypeAllowed
		}
	}
	return allowed, nil
}

// roleDocuments reads the role's inline policies and its managed policies'
// default versions (each managed policy once per run, through the cache).
func roleDocuments(ctx context.Context, api awsapi.IAMAPI, r *Role, policies *policyCache) ([]*policyDoc, *CollectError) {
	var docs []*policyDoc
	for _, name := range r.InlinePolicyNames {
		out, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(name)})
		if err != nil {
			return nil, collectErr("inline policy "+name+" of role "+r.Name, "iam:GetRolePolicy", err)
		}
		if d, err := parsePolicy(aws.ToString(out.PolicyDocument)); err == nil {
			docs = append(docs, d)
		}
	}
	for _, arn := range slices.Sorted(slices.Values(r.AttachedPolicyARNs)) {
		d, cerr := policies.get(arn, func() (*policyDoc, *CollectError) {
			pol, err := api.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
			if err != nil {
				return nil, collectErr("managed policy "+arn, "iam:GetPolicy", err)
			}
			ver, err := api.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
			if err != nil {
				return nil, collectErr("managed policy "+arn, "iam:GetPolicyVersion", err)
			}
			doc, perr := parsePolicy(aws.ToString(ver.PolicyVersion.Document))
			if perr != nil {
				return nil, &CollectError{What: "managed policy " + arn, API: "iam:GetPolicyVersion", Kind: string(awsapi.KindOther), Message: perr.Error()}
			}
			return doc, nil
		})
		if cerr != nil {
			return nil, cerr
		}
		docs = append(docs, d)
	}
	return docs, nil
}
