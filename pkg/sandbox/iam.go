package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// viaIAM answers an IAM read from the account's model.
func viaIAM[I, O any](m func(awsapi.IAMAPI, context.Context, *I, ...func(*iam.Options)) (*O, error)) handler {
	return op(func(c *call, in *I) (*O, error) {
		st := c.s.state(c.account, c.region)
		c.s.mu.RLock()
		defer c.s.mu.RUnlock()
		return m(st.clients.IAM, c.ctx, in)
	})
}

func (s *Sandbox) iamRoutes() map[string]handler {
	return map[string]handler{
		"GetInstanceProfile":       viaIAM(awsapi.IAMAPI.GetInstanceProfile),
		"GetRole":                  viaIAM(awsapi.IAMAPI.GetRole),
		"ListAttachedRolePolicies": viaIAM(awsapi.IAMAPI.ListAttachedRolePolicies),
		"ListRolePolicies":         viaIAM(awsapi.IAMAPI.ListRolePolicies),
		"GetRolePolicy":            viaIAM(awsapi.IAMAPI.GetRolePolicy),
		"GetPolicy":                viaIAM(awsapi.IAMAPI.GetPolicy),
		"GetPolicyVersion":         viaIAM(awsapi.IAMAPI.GetPolicyVersion),
		"SimulatePrincipalPolicy":  viaIAM(awsapi.IAMAPI.SimulatePrincipalPolicy),
	}
}

func (s *Sandbox) stsRoutes() map[string]handler {
	return map[string]handler{
		"GetCallerIdentity": op(s.getCallerIdentity),
		"AssumeRole":        op(s.assumeRole),
	}
}

func (s *Sandbox) getCallerIdentity(c *call, _ *sts.GetCallerIdentityInput) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Account: aws.String(c.principal.Account), Arn: aws.String(c.principal.ARN), UserId: aws.String(c.principal.UserID)}, nil
}

// assumeRole issues credentials for a role the scenario defines as
// assumable in its account; anything else is AccessDenied, as on AWS when
// the role does not exist or does not trust the caller.
func (s *Sandbox) assumeRole(c *call, in *sts.AssumeRoleInput) (*sts.AssumeRoleOutput, error) {
	roleARN := aws.ToString(in.RoleArn)
	session := aws.ToString(in.RoleSessionName)
	if roleARN == "" || session == "" {
		return nil, apiError("ValidationError", "1 validation error detected: RoleArn and RoleSessionName are required")
	}
	if len(session) < 2 || len(session) > 64 {
		return nil, apiError("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", session)
	}
	a, err := arn.Parse(roleARN)
	if err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") {
		return nil, apiError("ValidationError", "%s is invalid", roleARN)
	}
	role := a.Resource[strings.LastIndex(a.Resource, "/")+1:]
	denied := apiError("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", c.principal.ARN, roleARN)
	if !slices.Contains(s.world.Assumable[a.AccountID], role) {
		return nil, denied
	}
	dur := int32(3600)
	if in.DurationSeconds != nil {
		dur = *in.DurationSeconds
		if dur < 900 || dur > 43200 {
			return nil, apiError("ValidationError", "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", dur)
		}
	}
	exp := time.Now().Add(time.Duration(dur) * time.Second).UTC().Truncate(time.Second) // real time: SDK credential caches compare against the wall clock
	roleID := "AROA" + strings.ToUpper(fmt.Sprintf("%.16x", role))
	assumed := fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", a.Partition, a.AccountID, role, session)
	keyID, secret, token := s.keys.issue(principal{Account: a.AccountID, ARN: assumed, UserID: roleID + ":" + session, Role: role, Expires: exp})
	return &sts.AssumeRoleOutput{
		Credentials:     &ststypes.Credentials{AccessKeyId: aws.String(keyID), SecretAccessKey: aws.String(secret), SessionToken: aws.String(token), Expiration: aws.Time(exp)},
		AssumedRoleUser: &ststypes.AssumedRoleUser{Arn: aws.String(assumed), AssumedRoleId: aws.String(roleID + ":" + session)},
	}, nil
}
