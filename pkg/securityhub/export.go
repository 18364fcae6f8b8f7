// Package securityhub sends fleetdoctor's findings to AWS Security Hub as
// ASFF findings (pkg/report.ASFF builds them) through BatchImportFindings.
package securityhub

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

// MaxBatch is the most findings one BatchImportFindings call accepts.
const MaxBatch = 100

// BatchImporter is the part of *securityhub.Client that Import uses.
type BatchImporter interface {
	BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
}

// Result counts what an Import did.
type Result struct {
	// Calls is the number of BatchImportFindings calls that succeeded
	// (the SDK's retries of one call are one call).
	Calls int
	// Success and Failed are the findings Security Hub accepted and
	// rejected.
	Success int
	Failed  int
	// FailedFindings says why each rejected finding was rejected.
	FailedFindings []types.ImportFindingsError
}

// Import sends findings to Security Hub in BatchImportFindings calls of at
// most MaxBatch findings, in order, collecting the findings Security Hub
// rejects. Retries are the SDK's (its retryer handles throttling); a call
// that still fails stops the import and returns the counts so far with the
// error. All findings must belong to the client's region (ByRegion splits
// them).
func Import(ctx context.Context, client BatchImporter, findings []types.AwsSecurityFinding) (Result, error) {
	var res Result
	for lo := 0; lo < len(findings); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(findings))
		out, err := client.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: findings[lo:hi]})
		if err != nil {
			return res, fmt.Errorf("securityhub: importing findings %d-%d of %d: %w", lo+1, hi, len(findings), err)
		}
		res.Calls++
		res.Success += int(aws.ToInt32(out.SuccessCount))
		res.Failed += int(aws.ToInt32(out.FailedCount))
		res.FailedFindings = append(res.FailedFindings, out.FailedFindings...)
	}
	return res, nil
}

// ByRegion groups findings by their Region (Security Hub imports a finding
// only in the region of its product ARN), keeping their order; it returns
// the regions sorted and the findings per region.
func ByRegion(findings []types.AwsSecurityFinding) ([]string, map[string][]types.AwsSecurityFinding) {
	m := map[string][]types.AwsSecurityFinding{}
	for _, f := range findings {
		r := aws.ToString(f.Region)
		m[r] = append(m[r], f)
	}
	regions := make([]string, 0, len(m))
	for r := range m {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	return regions, m
}
