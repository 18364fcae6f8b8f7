package fake

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// The collectors' call counts are asserted against this fake, so it must
// page the way AWS does.
func TestPagingLimits(t *testing.T) {
	ctx := context.Background()
	f := New("111111111111")
	for i := 0; i < 120; i++ {
		id := fmt.Sprintf("i-%03d", i)
		f.AddInstance("111111111111", "eu-west-1", InstanceSpec{ID: id})
		f.Register("111111111111", "eu-west-1", id, "Online", "3.3.0.0")
	}
	c, err := f.Provider().Clients(ctx, "111111111111", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(51)}); err == nil {
		t.Error("DescribeInstanceInformation must refuse MaxResults above 50")
	}
	if _, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1001)}); err == nil {
		t.Error("DescribeInstances must refuse MaxResults above 1000")
	}
	if _, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), InstanceIds: []string{"i-001"}}); err == nil {
		t.Error("DescribeInstances must refuse MaxResults with InstanceIds")
	}
	pages, seen := 0, 0
	p := ssm.NewDescribeInstanceInformationPaginator(c.SSM, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		seen += len(out.InstanceInformationList)
	}
	if pages != 3 || seen != 120 {
		t.Errorf("SSM paging: %d pages, %d items; want 3, 120", pages, seen)
	}
	out, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{
		Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{"i-007", "i-100"}}}})
	if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 2 || out.NextToken != nil {
		t.Errorf("filtered DescribeInstances: %+v, %v", out, err)
	}
	if _, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{NextToken: aws.String("bogus")}); err == nil {
		t.Error("a bogus NextToken must be refused")
	}
	if got := f.Calls("ec2:DescribeInstances"); got != 4 {
		t.Errorf("counted %d DescribeInstances calls, want 4", got)
	}
}
