package awsapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/scenario"
)

// burstCalls sends n SSM calls at once from one account-region through a
// provider with the given paces, against a sandbox whose SSM bucket holds 6
// requests and refills at 20 per second, and returns the server's counters.
func burstCalls(t *testing.T, paces awsapi.Paces, n int) sandbox.APIStats {
	t.Helper()
	w, err := scenario.Load("demo", scenario.Params{})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{World: w, Limits: sandbox.Limits{"ssm:*": {Burst: 6, Rate: 20}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	region := w.Regions[0]
	p := awsapi.NewProviderFromConfig(sb.Config(region, 20), awsapi.Options{Paces: paces})
	ctx := context.Background()
	id, err := p.Caller(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Account(ctx, id.Account); err != nil {
		t.Fatal(err)
	}
	c, err := p.Clients(ctx, id.Account, region)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.SSM.GetServiceSetting(ctx, &ssm.GetServiceSettingInput{SettingId: aws.String("/ssm/managed-instance/default-ec2-instance-management-role")})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return sb.Stats()["ssm:GetServiceSetting"]
}

// A client paced under the server's bucket is never throttled; the same
// burst unpaced is, so the test can tell the difference.
func TestPacesKeepUnderTheBucket(t *testing.T) {
	paced := burstCalls(t, awsapi.Paces{"ssm:*": {Rate: 20, Burst: 3}}, 30)
	if paced.Throttled != 0 || paced.Calls != 30 {
		t.Errorf("paced: %+v, want 30 calls and none throttled", paced)
	}
	unpaced := burstCalls(t, awsapi.Paces{}, 30)
	if unpaced.Throttled == 0 {
		t.Errorf("unpaced: %+v, want some calls throttled", unpaced)
	}
}

// Operations find their bucket: the operation's own, then EC2's class,
// then the service's; IAM is paced per account whatever the region.
func TestPaceBuckets(t *testing.T) {
	got := awsapi.PaceBucket(awsapi.DefaultPaces(), "ec2", "DescribeInstances")
	if got != "ec2:non-mutating" {
		t.Errorf("DescribeInstances: %q", got)
	}
	for op, want := range map[string]string{
		"ec2/ModifyInstanceMetadataOptions":  "ec2:ModifyInstanceMetadataOptions",
		"ec2/ModifyInstanceMetadataDefaults": "ec2:mutating",
		"ssm/DescribeInstanceInformation":    "ssm:*",
		"monitoring/GetMetricData":           "monitoring:GetMetricData",
		"monitoring/PutMetricData":           "",
		"sts/AssumeRole":                     "",
	} {
		svc, name, _ := strings.Cut(op, "/")
		if got := awsapi.PaceBucket(awsapi.DefaultPaces(), svc, name); got != want {
			t.Errorf("%s: %q, want %q", op, got, want)
		}
	}
}
