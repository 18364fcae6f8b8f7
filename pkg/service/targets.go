package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// Targets is the targets Lambda: action "validate" returns ValidateResponse,
// "resolve" returns ResolveResponse (see TargetsEvent).
func (s *Service) Targets(ctx context.Context, ev TargetsEvent) (any, error) {
	switch ev.Action {
	case "validate":
		in, err := Validate(ev.Input, ev.ExecutionName)
		if err != nil {
			s.logger("action", "validate", "executionName", capText(ev.ExecutionName, 80)).Warn("input rejected", "error", err.Error())
			return nil, err
		}
		s.logger("runId", in.RunID, "action", "validate").Info("input accepted", "mode", in.Mode, "dryRun", DryRunOf(in))
		return ValidateResponse{Input: in}, nil
	case "resolve":
		return s.Resolve(ctx, ev.Input)
	}
	return nil, unknownAction(LambdaTargets, ev.Action)
}

// Resolve expands the run's scope into account-regions — the input's
// accounts that are also the deployment's (or the deployment's accounts,
// or the accounts of its Organizations OU) × the input's regions (or the
// deployment's) — and writes them to runs/<runId>/targets.json.
func (s *Service) Resolve(ctx context.Context, in Input) (*ResolveResponse, error) {
	if err := checkRunID(in.RunID); err != nil {
		return nil, err
	}
	// The state machine sends the validated input; a direct call is held
	// to the same rules.
	in, err := Validate(in, in.RunID)
	if err != nil {
		return nil, err
	}
	log := s.logger("runId", in.RunID, "action", "resolve")
	deployed := s.Config.Accounts
	if s.Config.OrgOU != "" {
		if s.Organizations == nil {
			return nil, fmt.Errorf("resolve: %s is set but no Organizations client was configured", EnvOrgOU)
		}
		accts, err := OUAccounts(ctx, s.Organizations, s.Config.OrgOU)
		if err != nil {
			return nil, err
		}
		deployed = accts
	}
	accounts := deployed
	if len(in.Scope.Accounts) > 0 {
		if len(deployed) == 0 {
			// A deployment without a list audits what it is asked to
			// (its own account by default).
			accounts = in.Scope.Accounts
		} else {
			accounts = nil
			for i, a := range in.Scope.Accounts {
				if !slices.Contains(deployed, a) {
					return nil, invalidInput("input.scope.accounts[%d]: %s is not one of the deployment's accounts", i, a)
				}
				accounts = append(accounts, a)
			}
		}
	}
	if len(accounts) == 0 {
		id, err := s.Provider.Caller(ctx)
		if err != nil {
			return nil, err
		}
		accounts = []string{id.Account}
	}
	regions := s.Config.Regions
	if len(in.Scope.Regions) > 0 {
		regions = in.Scope.Regions
	}
	targets := make([]Target, 0, len(accounts)*len(regions))
	for _, a := range accounts {
		for _, r := range regions {
			targets = append(targets, Target{RunID: in.RunID, Account: a, Region: r})
		}
	}
	key := runPrefix(in.RunID) + "targets.json"
	if err := s.putJSON(ctx, key, targets); err != nil {
		return nil, err
	}
	log.Info("targets resolved", "accounts", len(accounts), "regions", len(regions), "targets", len(targets))
	return &ResolveResponse{Bucket: s.Config.Bucket, Key: key, Count: len(targets)}, nil
}

// OUAccounts lists the ACTIVE accounts of an OU (or root) and of every OU
// below it, sorted, through the SDK's paginators.
func OUAccounts(ctx context.Context, api OrganizationsAPI, ou string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	queue := []string{ou}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		ap := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
		for ap.HasMorePages() {
			page, err := ap.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing the accounts of %s: %w", parent, err)
			}
			for _, a := range page.Accounts {
				id := aws.ToString(a.Id)
				if a.State == orgtypes.AccountStateActive && !seen[id] {
					seen[id] = true
					out = append(out, id)
				}
			}
		}
		cp := organizations.NewListChildrenPaginator(api, &organizations.ListChildrenInput{ParentId: aws.String(parent), ChildType: orgtypes.ChildTypeOrganizationalUnit})
		for cp.HasMorePages() {
			page, err := cp.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing the OUs under %s: %w", parent, err)
			}
			for _, c := range page.Children {
				queue = append(queue, aws.ToString(c.Id))
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
