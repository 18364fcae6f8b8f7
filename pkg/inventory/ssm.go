package inventory

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// describeInstanceInformationPage is the largest page SSM allows
// (DescribeInstanceInformation MaxResults 5-50).
const describeInstanceInformationPage = 50

// readAgents reads every SSM registration in the region, keyed by instance id.
func readAgents(ctx context.Context, api awsapi.SSMAPI) (map[string]*Agent, *CollectError) {
	p := ssm.NewDescribeInstanceInformationPaginator(api, &ssm.DescribeInstanceInformationInput{
		MaxResults: aws.Int32(describeInstanceInformationPage),
	})
	out := map[string]*Agent{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, collectErr("SSM registrations", "ssm:DescribeInstanceInformation", err)
		}
		for _, info := range page.InstanceInformationList {
			out[aws.ToString(info.InstanceId)] = &Agent{
				PingStatus:   string(info.PingStatus),
				Version:      aws.ToString(info.AgentVersion),
				PlatformType: string(info.PlatformType),
				PlatformName: aws.ToString(info.PlatformName),
				LastPing:     aws.ToTime(info.LastPingDateTime),
			}
		}
	}
	return out, nil
}

// readDHMC reads the Default Host Management Configuration setting.
func readDHMC(ctx context.Context, api awsapi.SSMAPI) (*DHMCSetting, *CollectError) {
	out, err := api.GetServiceSetting(ctx, &ssm.GetServiceSettingInput{SettingId: aws.String(DHMCSettingID)})
	if err != nil {
		if awsapi.IsNotFound(err) {
			// Never set: SSM answers with the default, "$None".
			return &DHMCSetting{Value: "$None"}, nil
		}
		return nil, collectErr("the DHMC service setting", "ssm:GetServiceSetting", err)
	}
	var v string
	if out.ServiceSetting != nil {
		v = aws.ToString(out.ServiceSetting.SettingValue)
	}
	return parseDHMC(v), nil
}

// parseDHMC reads the setting value: "$None" (or empty) is off; anything
// else is a role name, possibly with a path ("service-role/Name").
func parseDHMC(v string) *DHMCSetting {
	d := &DHMCSetting{Value: v}
	if v != "" && v != "$None" {
		d.RoleName = v[strings.LastIndexByte(v, '/')+1:]
	}
	return d
}
