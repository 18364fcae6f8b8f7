package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// restJSONOps maps restJson1 requests ("METHOD /path") to operations.
var restJSONOps = map[string]string{
	"POST /findings/import": "BatchImportFindings",
}

// securityHubMaxBatch is BatchImportFindings' limit on findings per call.
const securityHubMaxBatch = 100

// securityHub holds the imported findings: "account/region" → Id →
// finding. The zero value is ready to use.
type securityHub struct {
	mu       sync.Mutex
	findings map[string]map[string]shtypes.AwsSecurityFinding
}

func (s *Sandbox) securityHubRoutes() map[string]handler {
	return map[string]handler{
		"BatchImportFindings": op(s.batchImportFindings),
	}
}

// batchImportFindings validates findings the way Security Hub does for the
// default product and stores them by Id: importing an Id again replaces
// the finding. Invalid findings are reported in FailedFindings; a request
// with more than 100 (or no) findings is rejected whole.
func (s *Sandbox) batchImportFindings(c *call, in *securityhub.BatchImportFindingsInput) (*securityhub.BatchImportFindingsOutput, error) {
	if len(in.Findings) == 0 || len(in.Findings) > securityHubMaxBatch {
		return nil, apiError("InvalidInputException", "Findings must contain between 1 and %d items, got %d.", securityHubMaxBatch, len(in.Findings))
	}
	out := &securityhub.BatchImportFindingsOutput{}
	var ok []shtypes.AwsSecurityFinding
	for _, f := range in.Findings {
		if code, msg := s.validateFinding(c, &f); code != "" {
			out.FailedFindings = append(out.FailedFindings, shtypes.ImportFindingsError{Id: f.Id, ErrorCode: aws.String(code), ErrorMessage: aws.String(msg)})
			continue
		}
		ok = append(ok, f)
	}
	scope := c.account + "/" + c.region
	s.hub.mu.Lock()
	if s.hub.findings == nil {
		s.hub.findings = map[string]map[string]shtypes.AwsSecurityFinding{}
	}
	m := s.hub.findings[scope]
	if m == nil {
		m = map[string]shtypes.AwsSecurityFinding{}
		s.hub.findings[scope] = m
	}
	for _, f := range ok {
		m[*f.Id] = f
	}
	s.hub.mu.Unlock()
	out.SuccessCount = aws.Int32(int32(len(ok)))
	out.FailedCount = aws.Int32(int32(len(out.FailedFindings)))
	return out, nil
}

// validateFinding checks the required ASFF members, the limits fleetdoctor
// relies on and that the product belongs to the caller's account and
// region; it returns an error code and message, or "" when f is valid.
func (s *Sandbox) validateFinding(c *call, f *shtypes.AwsSecurityFinding) (string, string) {
	required := []struct {
		name string
		v    *string
		max  int
	}{
		{"Id", f.Id, 512}, {"ProductArn", f.ProductArn, 2048}, {"GeneratorId", f.GeneratorId, 512},
		{"AwsAccountId", f.AwsAccountId, 12}, {"SchemaVersion", f.SchemaVersion, 32},
		{"CreatedAt", f.CreatedAt, 64}, {"UpdatedAt", f.UpdatedAt, 64},
		{"Title", f.Title, 256}, {"Description", f.Description, 1024},
	}
	for _, r := range required {
		if aws.ToString(r.v) == "" {
			return "InvalidInput", fmt.Sprintf("Finding is missing required member %s", r.name)
		}
		if n := len([]rune(*r.v)); n > r.max {
			return "InvalidInput", fmt.Sprintf("%s is %d characters long; the maximum is %d", r.name, n, r.max)
		}
	}
	if len(f.Resources) == 0 || len(f.Resources) > 32 {
		return "InvalidInput", "Resources must contain between 1 and 32 items"
	}
	for _, r := range f.Resources {
		if aws.ToString(r.Id) == "" || aws.ToString(r.Type) == "" {
			return "InvalidInput", "Every resource needs an Id and a Type"
		}
	}
	if f.Severity == nil || f.Severity.Label == "" && f.Severity.Normalized == nil {
		return "InvalidInput", "Severity.Label is required"
	}
	if len(f.Types) == 0 {
		return "InvalidInput", "Types must contain at least one item"
	}
	if f.Remediation != nil && f.Remediation.Recommendation != nil && len([]rune(aws.ToString(f.Remediation.Recommendation.Text))) > 512 {
		return "InvalidInput", "Remediation.Recommendation.Text is longer than 512 characters"
	}
	// The default product: arn:aws:securityhub:<region>:<account>:product/<account>/default.
	parts := strings.SplitN(*f.ProductArn, ":", 6)
	if len(parts) != 6 || parts[2] != "securityhub" || parts[3] != c.region || parts[4] != c.account {
		return "InvalidProductArn", fmt.Sprintf("ProductArn %s is not a product of account %s in %s", *f.ProductArn, c.account, c.region)
	}
	return "", ""
}

// SecurityHubFindings returns the findings imported into account/region,
// sorted by Id.
func (s *Sandbox) SecurityHubFindings(account, region string) []shtypes.AwsSecurityFinding {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	m := s.hub.findings[account+"/"+region]
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]shtypes.AwsSecurityFinding, 0, len(ids))
	for _, id := range ids {
		out = append(out, m[id])
	}
	return out
}
