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

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// iamReader reads one account's instance profiles and roles as the regions
// find them, so that IAM, which the regions only name, is read while the
// regions are still being listed rather than after them. Each profile and
// role is read once; a profile's read asks for its roles.
type iamReader struct {
	ctx      context.Context
	api      awsapi.IAMAPI
	policies *policyCache
	sim      simulation
	sem      chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	profiles map[string]*InstanceProfile
	roles    map[string]*Role
}

// newIAMReader reads through api at most iamConcurrency calls at a time
// (the provider paces them to the account's IAM budget).
func newIAMReader(ctx context.Context, api awsapi.IAMAPI, policies *policyCache) *iamReader {
	return &iamReader{
		ctx:      ctx,
		api:      api,
		policies: policies,
		sem:      make(chan struct{}, iamConcurrency),
		profiles: map[string]*InstanceProfile{},
		roles:    map[string]*Role{},
	}
}

// profile asks for the instance profile arn ("" is ignored).
func (r *iamReader) profile(arn string) {
	if arn == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.profiles[arn]; ok {
		return
	}
	r.profiles[arn] = nil
	r.spawn(func() {
		p := readProfile(r.ctx, r.api, arn)
		r.mu.Lock()
		r.profiles[arn] = p
		r.mu.Unlock()
		for _, name := range p.RoleNames {
			r.role(name)
		}
	})
}

// role asks for the role name ("" is ignored).
func (r *iamReader) role(name string) {
	if name == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.roles[name]; ok {
		return
	}
	r.roles[name] = nil
	r.spawn(func() {
		role := readRole(r.ctx, r.api, name, r.policies, &r.sim)
		r.mu.Lock()
		r.roles[name] = role
		r.mu.Unlock()
	})
}

// spawn runs fn when one of the reader's slots is free. It never blocks,
// so a read may ask for further reads.
func (r *iamReader) spawn(fn func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		defer func() { <-r.sem }()
		fn()
	}()
}

// wait returns what was read once every read asked for has finished.
// Reads abandoned by a cancelled context are left out.
func (r *iamReader) wait() IAM {
	r.wg.Wait()
	m := IAM{Profiles: map[string]*InstanceProfile{}, Roles: map[string]*Role{}}
	for arn, p := range r.profiles {
		if p != nil {
			m.Profiles[arn] = p
		}
	}
	for name, role := range r.roles {
		if role != nil {
			m.Roles[name] = role
		}
	}
	return m
}

// simulation finds out once per account whether the auditor may call
// iam:SimulatePrincipalPolicy: the first role to ask probes, the others
// wait for its answer, and none asks again once it was refused.
type simulation struct {
	mu          sync.Mutex
	probe       chan struct{} // closed when the first simulation has answered
	unavailable atomic.Bool
}

// run simulates the role unless the probe found simulation unavailable;
// tried is false when it did not ask.
func (s *simulation) run(ctx context.Context, api awsapi.IAMAPI, roleARN string) (allowed map[string]bool, tried bool, err error) {
	s.mu.Lock()
	if s.probe == nil {
		s.probe = make(chan struct{})
		s.mu.Unlock()
		allowed, err = simulate(ctx, api, roleARN)
		if k := awsapi.Classify(err); err != nil && (k == awsapi.KindAccessDenied || k == awsapi.KindUnsupported) {
			s.unavailable.Store(true)
		}
		close(s.probe)
		return allowed, true, err
	}
	probe := s.probe
	s.mu.Unlock()
	select {
	case <-probe:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	if s.unavailable.Load() {
		return nil, false, nil
	}
	allowed, err = simulate(ctx, api, roleARN)
	if k := awsapi.Classify(err); err != nil && (k == awsapi.KindAccessDenied || k == awsapi.KindUnsupported) {
		s.unavailable.Store(true)
	}
	return allowed, true, err
}

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

	if allowed, tried, err := sim.run(ctx, api, r.ARN); tried && err == nil {
		r.Allowed, r.PermissionsFrom = allowed, FromSimulation
		return r
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
