package sandbox

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"
)

// Secrets Manager limits
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html):
// a secret value is at most 65,536 bytes, a name at most 512 characters.
const (
	secretMaxValue = 65536
	secretMaxName  = 512
)

// secret is one secret and its current value (the sandbox keeps only the
// AWSCURRENT version).
type secret struct {
	arn, name string
	version   string
	str       *string
	bin       []byte
	created   time.Time
}

// secretStore holds the secrets per "account/region" → name.
type secretStore struct {
	mu      sync.Mutex
	secrets map[string]map[string]*secret
}

// secretsManagerRoutes serves Secrets Manager's JSON 1.1 protocol
// (X-Amz-Target secretsmanager.<Operation>): CreateSecret and
// PutSecretValue so tests can seed a secret, GetSecretValue to read it.
func (s *Sandbox) secretsManagerRoutes() map[string]handler {
	st := &secretStore{secrets: map[string]map[string]*secret{}}
	return map[string]handler{
		"CreateSecret": op(func(c *call, in *secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
			return st.create(c, in)
		}),
		"PutSecretValue": op(func(c *call, in *secretsmanager.PutSecretValueInput) (*secretsmanager.PutSecretValueOutput, error) {
			return st.put(c, in)
		}),
		"GetSecretValue": op(func(c *call, in *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
			return st.get(c, in)
		}),
	}
}

// secretValue validates a value the way Secrets Manager does: at most one
// of string and binary, within the size limit.
func secretValue(str *string, bin []byte, required bool) error {
	switch {
	case str != nil && bin != nil:
		return apiError("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
	case str == nil && bin == nil && required:
		return apiError("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	case len(aws.ToString(str)) > secretMaxValue || len(bin) > secretMaxValue:
		return apiError("InvalidParameterException", "The secret value is larger than %d bytes.", secretMaxValue)
	}
	return nil
}

func (st *secretStore) create(c *call, in *secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
	name := aws.ToString(in.Name)
	if name == "" || len(name) > secretMaxName || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+=.@-", r))
	}) >= 0 {
		return nil, apiError("ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if err := secretValue(in.SecretString, in.SecretBinary, false); err != nil {
		return nil, err
	}
	scope := c.account + "/" + c.region
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.secrets[scope]
	if m == nil {
		m = map[string]*secret{}
		st.secrets[scope] = m
	}
	if _, ok := m[name]; ok {
		return nil, apiError("ResourceExistsException", "The operation failed because the secret %s already exists.", name)
	}
	sec := &secret{
		arn:     fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", c.region, c.account, name, strings.ReplaceAll(uuid.NewString(), "-", "")[:6]),
		name:    name,
		str:     in.SecretString,
		bin:     in.SecretBinary,
		created: c.s.now(),
	}
	out := &secretsmanager.CreateSecretOutput{ARN: aws.String(sec.arn), Name: aws.String(name)}
	if sec.str != nil || sec.bin != nil {
		sec.version = uuid.NewString()
		out.VersionId = aws.String(sec.version)
	}
	m[name] = sec
	return out, nil
}

// find looks a secret up by name or ARN in the caller's account and
// region; the caller holds st.mu.
func (st *secretStore) find(c *call, id string) (*secret, error) {
	if id == "" {
		return nil, apiError("InvalidParameterException", "SecretId is required.")
	}
	m := st.secrets[c.account+"/"+c.region]
	if a, err := arn.Parse(id); err == nil {
		for _, sec := range m {
			// A partial ARN (without the random suffix) names it too.
			if sec.arn == id || (a.Service == "secretsmanager" && strings.HasPrefix(sec.arn, id+"-") && len(sec.arn) == len(id)+7) {
				return sec, nil
			}
		}
	} else if sec, ok := m[id]; ok {
		return sec, nil
	}
	return nil, apiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func (st *secretStore) put(c *call, in *secretsmanager.PutSecretValueInput) (*secretsmanager.PutSecretValueOutput, error) {
	if err := secretValue(in.SecretString, in.SecretBinary, true); err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sec, err := st.find(c, aws.ToString(in.SecretId))
	if err != nil {
		return nil, err
	}
	sec.str, sec.bin, sec.version = in.SecretString, in.SecretBinary, uuid.NewString()
	return &secretsmanager.PutSecretValueOutput{ARN: aws.String(sec.arn), Name: aws.String(sec.name),
		VersionId: aws.String(sec.version), VersionStages: []string{"AWSCURRENT"}}, nil
}

func (st *secretStore) get(c *call, in *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sec, err := st.find(c, aws.ToString(in.SecretId))
	if err != nil {
		return nil, err
	}
	if sec.version == "" {
		return nil, apiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
	}
	if v := aws.ToString(in.VersionId); v != "" && v != sec.version {
		return nil, apiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", v)
	}
	if stage := aws.ToString(in.VersionStage); stage != "" && stage != "AWSCURRENT" {
		return nil, apiError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
	}
	return &secretsmanager.GetSecretValueOutput{
		ARN: aws.String(sec.arn), Name: aws.String(sec.name), VersionId: aws.String(sec.version),
		SecretString: sec.str, SecretBinary: sec.bin, VersionStages: []string{"AWSCURRENT"},
		CreatedDate: aws.Time(sec.created),
	}, nil
}
