package fake

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// SSM answers Systems Manager calls from one account-region's model.
type SSM struct {
	f       *Fleet
	account string
	r       *Region
}

var _ awsapi.SSMAPI = (*SSM)(nil)

// DescribeInstanceInformation pages registrations, at most 50 a page as in
// AWS (MaxResults 5-50; 10 when unset).
func (s *SSM) DescribeInstanceInformation(_ context.Context, in *ssm.DescribeInstanceInformationInput, _ ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error) {
	if err := s.f.call(s.account, s.r.Name, "ssm:DescribeInstanceInformation"); err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(s.r.Managed), in.NextToken, in.MaxResults, 5, 50, 10)
	if err != nil {
		return nil, APIError("ValidationException", "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50")
	}
	return &ssm.DescribeInstanceInformationOutput{InstanceInformationList: s.r.Managed[lo:hi], NextToken: next}, nil
}

// GetServiceSetting answers the DHMC setting.
func (s *SSM) GetServiceSetting(_ context.Context, in *ssm.GetServiceSettingInput, _ ...func(*ssm.Options)) (*ssm.GetServiceSettingOutput, error) {
	if err := s.f.call(s.account, s.r.Name, "ssm:GetServiceSetting"); err != nil {
		return nil, err
	}
	if aws.ToString(in.SettingId) != inventory.DHMCSettingID {
		return nil, APIError("ServiceSettingNotFound", "The specified service setting was not found.")
	}
	v := s.r.DHMC
	if v == "" {
		v = "$None"
	}
	return &ssm.GetServiceSettingOutput{ServiceSetting: &ssmtypes.ServiceSetting{
		SettingId:    in.SettingId,
		SettingValue: aws.String(v),
		ARN:          aws.String("arn:aws:ssm:" + s.r.Name + ":" + s.account + ":servicesetting" + inventory.DHMCSettingID),
		Status:       aws.String("Default"),
	}}, nil
}
