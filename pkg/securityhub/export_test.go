package securityhub_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/audit"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/fake"
	"github.com/fleetdoctor/fleetdoctor/pkg/report"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
	"github.com/fleetdoctor/fleetdoctor/pkg/securityhub"
)

const (
	acct   = "111111111111"
	region = "eu-west-1"
)

func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	w := &scenario.World{
		Fleet:         fake.SampleFleet([]string{acct}, []string{region}, 1),
		CallerAccount: acct,
		AuditRole:     "FleetDoctorAudit",
		Assumable:     map[string][]string{acct: {"FleetDoctorAudit"}},
		Accounts:      []string{acct},
		Regions:       []string{region},
	}
	sb, err := sandbox.New(sandbox.Options{World: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// failingRun has n FAIL findings on distinct instances.
func failingRun(n int, at time.Time) *audit.Run {
	run := &audit.Run{Run: audit.Info{ID: "run", StartedAt: at, FinishedAt: at}}
	for i := range n {
		run.Findings = append(run.Findings, checks.Finding{
			Check: "imds_v1_allowed", Status: checks.Fail, Severity: checks.High,
			Account: acct, Region: region, ResourceType: checks.TypeInstance,
			Resource: fmt.Sprintf("i-%017d", i), Detail: "IMDSv1 is allowed",
		})
	}
	return run
}

func TestImportBatchesAndReimportUpdates(t *testing.T) {
	sb := startSandbox(t)
	client := sdk.NewFromConfig(sb.Config(region, 1))
	ctx := context.Background()
	t1 := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

	first := report.ASFF(failingRun(250, t1), report.ASFFOptions{})
	res, err := securityhub.Import(ctx, client, first)
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 3 || res.Success != 250 || res.Failed != 0 {
		t.Fatalf("result %+v, want 3 calls, 250 succeeded", res)
	}
	if n := sb.Stats()["securityhub:BatchImportFindings"].Calls; n != 3 {
		t.Fatalf("sandbox saw %d calls, want 3", n)
	}

	// The next run: 200 still failing, 50 fixed. Re-import updates the
	// same 250 findings, archiving the 50.
	t2 := t1.Add(24 * time.Hour)
	second := report.ASFF(failingRun(200, t2), report.ASFFOptions{Previous: failingRun(250, t1)})
	if len(second) != 250 {
		t.Fatalf("second run has %d ASFF findings, want 250", len(second))
	}
	if _, err := securityhub.Import(ctx, client, second); err != nil {
		t.Fatal(err)
	}
	if n := sb.Stats()["securityhub:BatchImportFindings"].Calls; n != 6 {
		t.Fatalf("sandbox saw %d calls, want 6", n)
	}
	stored := sb.SecurityHubFindings(acct, region)
	if len(stored) != 250 {
		t.Fatalf("Security Hub holds %d findings after re-import, want 250 (duplicated?)", len(stored))
	}
	archived := 0
	for _, f := range stored {
		if f.RecordState == types.RecordStateArchived {
			archived++
			if f.Workflow == nil || f.Workflow.Status != types.WorkflowStatusResolved {
				t.Errorf("%s archived but workflow %+v", aws.ToString(f.Id), f.Workflow)
			}
		}
		if aws.ToString(f.UpdatedAt) != t2.Format(time.RFC3339) {
			t.Errorf("%s UpdatedAt %s, want %s", aws.ToString(f.Id), aws.ToString(f.UpdatedAt), t2.Format(time.RFC3339))
		}
	}
	if archived != 50 {
		t.Errorf("%d archived, want 50", archived)
	}
}

func TestImportReportsFailedFindings(t *testing.T) {
	sb := startSandbox(t)
	client := sdk.NewFromConfig(sb.Config(region, 1))
	fs := report.ASFF(failingRun(3, time.Now()), report.ASFFOptions{})
	fs[1].ProductArn = aws.String("arn:aws:securityhub:us-west-2:999999999999:product/999999999999/default")
	res, err := securityhub.Import(context.Background(), client, fs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 1 || res.Success != 2 || res.Failed != 1 || len(res.FailedFindings) != 1 || aws.ToString(res.FailedFindings[0].Id) != aws.ToString(fs[1].Id) {
		t.Fatalf("result %+v", res)
	}
}

type failing struct{ calls int }

func (f *failing) BatchImportFindings(context.Context, *sdk.BatchImportFindingsInput, ...func(*sdk.Options)) (*sdk.BatchImportFindingsOutput, error) {
	f.calls++
	if f.calls == 2 {
		return nil, fmt.Errorf("boom")
	}
	return &sdk.BatchImportFindingsOutput{SuccessCount: aws.Int32(100), FailedCount: aws.Int32(0)}, nil
}

func TestImportStopsAtAnError(t *testing.T) {
	f := &failing{}
	res, err := securityhub.Import(context.Background(), f, make([]types.AwsSecurityFinding, 250))
	if err == nil || f.calls != 2 || res.Calls != 1 || res.Success != 100 {
		t.Fatalf("err %v calls %d result %+v", err, f.calls, res)
	}
}

func TestImportNothing(t *testing.T) {
	f := &failing{}
	res, err := securityhub.Import(context.Background(), f, nil)
	if err != nil || f.calls != 0 || res.Calls != 0 {
		t.Fatalf("err %v calls %d result %+v", err, f.calls, res)
	}
}

func TestByRegion(t *testing.T) {
	fs := []types.AwsSecurityFinding{{Region: aws.String("us-east-1"), Id: aws.String("1")}, {Region: aws.String("eu-west-1"), Id: aws.String("2")}, {Region: aws.String("us-east-1"), Id: aws.String("3")}}
	regions, m := securityhub.ByRegion(fs)
	if fmt.Sprint(regions) != "[eu-west-1 us-east-1]" || len(m["us-east-1"]) != 2 || aws.ToString(m["us-east-1"][1].Id) != "3" {
		t.Fatalf("%v %v", regions, m)
	}
}
