package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
)

func hubFinding(region, account, id, title string) shtypes.AwsSecurityFinding {
	return shtypes.AwsSecurityFinding{
		SchemaVersion: aws.String("2018-10-08"),
		Id:            aws.String(id),
		ProductArn:    aws.String(fmt.Sprintf("arn:aws:securityhub:%s:%s:product/%s/default", region, account, account)),
		GeneratorId:   aws.String("fleetdoctor-test"),
		AwsAccountId:  aws.String(account),
		CreatedAt:     aws.String("2026-11-22T06:00:00Z"),
		UpdatedAt:     aws.String("2026-11-22T06:00:00Z"),
		Title:         aws.String(title),
		Description:   aws.String("detail"),
		Types:         []string{"Software and Configuration Checks/AWS Security Best Practices"},
		Severity:      &shtypes.Severity{Label: shtypes.SeverityLabelHigh},
		Resources:     []shtypes.Resource{{Type: aws.String("AwsEc2Instance"), Id: aws.String("arn:aws:ec2:" + region + ":" + account + ":instance/i-1")}},
		RecordState:   shtypes.RecordStateActive,
		Workflow:      &shtypes.Workflow{Status: shtypes.WorkflowStatusNew},
	}
}

func hubClient(sb *sandbox.Sandbox, region string) *securityhub.Client {
	return securityhub.NewFromConfig(sb.Config(region, 1))
}

func TestSecurityHubBatchImportFindings(t *testing.T) {
	sb := start(t, sandbox.Options{World: sampleWorld(1)})
	ctx := context.Background()
	c := hubClient(sb, "eu-west-1")

	bad := hubFinding("us-east-1", acctA, "wrong-region", "x") // product in another region
	out, err := c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: []shtypes.AwsSecurityFinding{
		hubFinding("eu-west-1", acctA, "a", "first"), hubFinding("eu-west-1", acctA, "b", "first"), bad,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.SuccessCount) != 2 || aws.ToInt32(out.FailedCount) != 1 || len(out.FailedFindings) != 1 || aws.ToString(out.FailedFindings[0].Id) != "wrong-region" {
		t.Fatalf("first import: success %d failed %d %+v", aws.ToInt32(out.SuccessCount), aws.ToInt32(out.FailedCount), out.FailedFindings)
	}

	// Re-importing an Id replaces the finding.
	upd := hubFinding("eu-west-1", acctA, "a", "second")
	upd.RecordState = shtypes.RecordStateArchived
	if _, err := c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: []shtypes.AwsSecurityFinding{upd}}); err != nil {
		t.Fatal(err)
	}
	got := sb.SecurityHubFindings(acctA, "eu-west-1")
	if len(got) != 2 || aws.ToString(got[0].Id) != "a" || aws.ToString(got[0].Title) != "second" || got[0].RecordState != shtypes.RecordStateArchived {
		t.Fatalf("after re-import: %d findings, first %q %q", len(got), aws.ToString(got[0].Id), aws.ToString(got[0].Title))
	}
	if n := len(sb.SecurityHubFindings(acctA, "us-east-1")); n != 0 {
		t.Errorf("us-east-1 has %d findings, want 0", n)
	}

	// More than 100 findings is rejected whole.
	many := make([]shtypes.AwsSecurityFinding, 101)
	for i := range many {
		many[i] = hubFinding("eu-west-1", acctA, fmt.Sprint("m", i), "t")
	}
	_, err = c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: many})
	var inv *shtypes.InvalidInputException
	if !errors.As(err, &inv) {
		t.Fatalf("101 findings: err %v (%s), want InvalidInputException", err, apiCode(err))
	}
	if n := len(sb.SecurityHubFindings(acctA, "eu-west-1")); n != 2 {
		t.Errorf("after rejected call: %d findings, want 2", n)
	}
	st := sb.Stats()["securityhub:BatchImportFindings"]
	if st.Calls != 3 || st.Errors != 1 {
		t.Errorf("stats %+v, want 3 calls, 1 error", st)
	}
}
