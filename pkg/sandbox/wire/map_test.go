package wire

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func TestMapRoundTrip(t *testing.T) {
	for _, mk := range []func() any{
		func() any { return &ec2.DescribeInstancesOutput{} },
		func() any { return &ec2.ModifyInstanceMetadataOptionsInput{} },
		func() any { return &iam.SimulatePrincipalPolicyInput{} },
		func() any { return &ssm.GetAutomationExecutionOutput{} },
		func() any { return &ssm.DescribeInstanceInformationInput{} },
		func() any { return &cloudwatch.GetMetricDataOutput{} },
	} {
		v := mk()
		newFiller().fill(v)
		m, err := ToMap(v)
		if err != nil {
			t.Fatalf("ToMap(%T): %v", v, err)
		}
		got := mk()
		if err := FromMap(m, got); err != nil {
			t.Fatalf("FromMap(%T): %v", v, err)
		}
		assertEqual(t, typeKey(reflectTypeOf(v)), v, got)
	}
}

func TestToMapShape(t *testing.T) {
	v := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: []ec2types.Instance{{
		InstanceId: new("i-1"),
		LaunchTime: new(time.Unix(1700000000, 0)),
		MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{
			HttpPutResponseHopLimit: new(int32(2)),
			HttpTokens:              ec2types.HttpTokensStateOptional,
		},
	}}}}}
	m, err := ToMap(v)
	if err != nil {
		t.Fatal(err)
	}
	inst := m["Reservations"].([]any)[0].(map[string]any)["Instances"].([]any)[0].(map[string]any)
	opts := inst["MetadataOptions"].(map[string]any)
	if inst["InstanceId"] != "i-1" || inst["LaunchTime"] != float64(1700000000) || opts["HttpPutResponseHopLimit"] != float64(2) || opts["HttpTokens"] != "optional" {
		t.Errorf("ToMap = %v", m)
	}
	if _, ok := opts["HttpEndpoint"]; ok {
		t.Error("unset enum present in map")
	}
}

func TestFromMapRunbookInputs(t *testing.T) {
	// What an Automation step hands over: Go values of several kinds.
	var in ec2.ModifyInstanceMetadataOptionsInput
	err := FromMap(map[string]any{
		"InstanceId":              "i-1",
		"HttpTokens":              "required",
		"HttpPutResponseHopLimit": 2,
		"HttpEndpoint":            "enabled",
		"DryRun":                  false,
	}, &in)
	if err != nil {
		t.Fatal(err)
	}
	if *in.InstanceId != "i-1" || in.HttpTokens != ec2types.HttpTokensStateRequired || *in.HttpPutResponseHopLimit != 2 || in.HttpEndpoint != ec2types.InstanceMetadataEndpointStateEnabled || *in.DryRun {
		t.Errorf("decoded %+v", in)
	}
	var pol iam.SimulatePrincipalPolicyInput
	err = FromMap(map[string]any{
		"PolicySourceArn":     "arn:aws:iam::111122223333:role/r",
		"ActionNames":         []string{"ssm:UpdateInstanceInformation"},
		"PolicyExclusionList": []any{map[string]any{"PolicyArn": "arn:aws:iam::aws:policy/p"}},
		"ContextEntries": []any{map[string]any{
			"ContextKeyName": "aws:CurrentTime", "ContextKeyType": "date", "ContextKeyValues": []any{"2024-01-01T00:00:00Z"},
		}},
	}, &pol)
	if err != nil {
		t.Fatal(err)
	}
	if arn, ok := pol.PolicyExclusionList[0].(*iamtypes.PolicyIdentifierMemberPolicyArn); !ok || arn.Value != "arn:aws:iam::aws:policy/p" {
		t.Errorf("union decoded as %#v", pol.PolicyExclusionList[0])
	}
	// Timestamps may be ISO 8601 strings or epoch seconds.
	var gm cloudwatch.GetMetricDataInput
	if err := FromMap(map[string]any{"StartTime": "2024-01-01T00:00:00Z", "EndTime": 1704070800}, &gm); err != nil {
		t.Fatal(err)
	}
	if !gm.StartTime.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) || gm.EndTime.Unix() != 1704070800 {
		t.Errorf("times %v %v", gm.StartTime, gm.EndTime)
	}

	for _, c := range []struct {
		name string
		m    map[string]any
		code string
		who  string
	}{
		{"unknown member", map[string]any{"InstanceId": "i-1", "HopLimit": 2}, codeSerialization, "HopLimit"},
		{"fractional int", map[string]any{"HttpPutResponseHopLimit": 2.5}, codeSerialization, "HttpPutResponseHopLimit"},
		{"string for int", map[string]any{"HttpPutResponseHopLimit": "2"}, codeSerialization, "HttpPutResponseHopLimit"},
		{"not JSON", map[string]any{"InstanceId": func() {}}, codeSerialization, "JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, FromMap(c.m, &ec2.ModifyInstanceMetadataOptionsInput{}), c.code, c.who)
		})
	}
}
