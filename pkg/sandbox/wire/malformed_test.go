package wire

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/encoding/cbor"
)

// wantError checks that err is an *Error with the code and a message that
// mentions every one of names.
func wantError(t *testing.T, err error, code string, names ...string) {
	t.Helper()
	var we *Error
	if !errors.As(err, &we) {
		t.Fatalf("got %T %v, want *Error", err, err)
	}
	if we.Code != code {
		t.Errorf("code %q, want %q (message %q)", we.Code, code, we.Message)
	}
	for _, n := range names {
		if !strings.Contains(we.Message, n) {
			t.Errorf("message %q does not name %q", we.Message, n)
		}
	}
}

func TestDecodeJSONMalformed(t *testing.T) {
	deep := strings.Repeat(`{"AutomationExecutionId":`, 20000) + `"x"` + strings.Repeat("}", 20000)
	deepList := `{"InstanceIds":` + strings.Repeat("[", 50000) + strings.Repeat("]", 50000) + `}`
	cases := []struct {
		name, body string
		names      []string
	}{
		{"garbage", `not json at all`, nil},
		{"truncated", `{"InstanceIds":["i-1"`, nil},
		{"trailing data", `{} {}`, []string{"after"}},
		{"top-level list", `[]`, []string{"object"}},
		{"unknown member", `{"InstanceIds":["i-1"],"Bogus":1}`, []string{"Bogus"}},
		{"unknown nested member", `{"Targets":[{"Key":"k","Values":["v"],"Extra":true}]}`, []string{"Targets[0].Extra"}},
		{"wrong case", `{"instanceIds":["i-1"]}`, []string{"instanceIds"}},
		{"string for list", `{"InstanceIds":"i-1"}`, []string{"InstanceIds", "list"}},
		{"number for string", `{"DocumentName":5}`, []string{"DocumentName", "string"}},
		{"object for string", `{"DocumentName":{"a":1}}`, []string{"DocumentName"}},
		{"string for int", `{"TimeoutSeconds":"30"}`, []string{"TimeoutSeconds"}},
		{"fraction for int", `{"TimeoutSeconds":30.5}`, []string{"TimeoutSeconds"}},
		{"int overflow", `{"TimeoutSeconds":99999999999}`, []string{"TimeoutSeconds", "32-bit"}},
		{"huge exponent", `{"TimeoutSeconds":1e400}`, []string{"TimeoutSeconds"}},
		{"list for map", `{"Parameters":["a"]}`, []string{"Parameters", "map"}},
		{"bad map value", `{"Parameters":{"commands":"ls"}}`, []string{"Parameters.commands"}},
		{"bool as string", `{"AlarmConfiguration":{"IgnorePollAlarmFailure":"yes","Alarms":[]}}`, []string{"AlarmConfiguration.IgnorePollAlarmFailure"}},
		{"deep junk in list", deepList, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, DecodeJSON([]byte(c.body), &ssm.SendCommandInput{}), codeSerialization, c.names...)
		})
	}
	t.Run("deep nesting", func(t *testing.T) {
		wantError(t, DecodeJSON([]byte(deep), &ssm.GetAutomationExecutionInput{}), codeSerialization)
	})
	t.Run("bad timestamp", func(t *testing.T) {
		wantError(t, DecodeJSON([]byte(`{"StartTime":true}`), &cloudwatch.GetMetricDataInput{}), codeSerialization, "StartTime", "timestamp")
		wantError(t, DecodeJSON([]byte(`{"EndTime":"2024-01-01T00:00:00Z"}`), &cloudwatch.GetMetricDataInput{}), codeSerialization, "EndTime", "timestamp")
	})
	t.Run("bad blob", func(t *testing.T) {
		wantError(t, DecodeJSON([]byte(`{"Message":"m","MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"%%%"}}}`), &sns.PublishInput{}), codeSerialization, "MessageAttributes.a.BinaryValue", "base64")
	})
	t.Run("union with two members", func(t *testing.T) {
		wantError(t, DecodeJSON([]byte(`{"DocumentName":"d","ExecutionInputs":{"Automation":{},"Other":{}}}`), &ssm.StartExecutionPreviewInput{}), codeSerialization, "ExecutionInputs", "exactly one")
	})
	t.Run("unknown union member", func(t *testing.T) {
		wantError(t, DecodeJSON([]byte(`{"DocumentName":"d","ExecutionInputs":{"Other":{}}}`), &ssm.StartExecutionPreviewInput{}), codeSerialization, "ExecutionInputs.Other")
	})
}

func TestDecodeJSONAccepts(t *testing.T) {
	var in ssm.SendCommandInput
	if err := DecodeJSON(nil, &in); err != nil {
		t.Fatalf("empty body: %v", err)
	}
	if err := DecodeJSON([]byte(" \n"), &in); err != nil {
		t.Fatalf("blank body: %v", err)
	}
	body := `{"DocumentName":"AWS-RunShellScript","InstanceIds":["i-1","i-2"],"Parameters":{"commands":["id"]},"TimeoutSeconds":null,"Comment":"é\u00e9"}`
	if err := DecodeJSON([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	if *in.DocumentName != "AWS-RunShellScript" || len(in.InstanceIds) != 2 || in.Parameters["commands"][0] != "id" || in.TimeoutSeconds != nil || *in.Comment != "éé" {
		t.Errorf("decoded %+v", in)
	}
	var ss ssm.UpdateServiceSettingInput
	if err := DecodeJSON([]byte(`{"SettingId":"/ssm/x","SettingValue":"$None"}`), &ss); err != nil || *ss.SettingValue != "$None" {
		t.Errorf("UpdateServiceSetting: %v %+v", err, ss)
	}
	// Fractional epoch seconds, the model's lower-case member names and
	// non-finite floats as AWS JSON writes them.
	var gm cloudwatch.GetMetricStatisticsInput
	if err := DecodeJSON([]byte(`{"StartTime":1700000000.25,"EndTime":1700000100,"Period":60,"MetricName":"m","Namespace":"n"}`), &gm); err != nil {
		t.Fatal(err)
	}
	if gm.StartTime.UnixMilli() != 1700000000250 || gm.EndTime.Unix() != 1700000100 {
		t.Errorf("timestamps %v %v", gm.StartTime, gm.EndTime)
	}
	var di ssm.DescribeInstanceInformationInput
	if err := DecodeJSON([]byte(`{"InstanceInformationFilterList":[{"key":"PingStatus","valueSet":["Online"]}]}`), &di); err != nil {
		t.Fatal(err)
	}
	if f := di.InstanceInformationFilterList[0]; f.Key != "PingStatus" || f.ValueSet[0] != "Online" {
		t.Errorf("filter %+v", f)
	}
	if err := DecodeJSON([]byte(`{"InstanceInformationFilterList":[{"Key":"PingStatus"}]}`), &di); err == nil {
		t.Error(`"Key" accepted where the model says "key"`)
	}
	var pm cloudwatch.PutMetricDataInput
	if err := DecodeJSON([]byte(`{"Namespace":"n","MetricData":[{"MetricName":"m","Value":"NaN","Values":["Infinity","-Infinity",1.5]}]}`), &pm); err != nil {
		t.Fatal(err)
	}
	if v := *pm.MetricData[0].Value; v == v {
		t.Errorf("Value %v, want NaN", v)
	}
}

func TestDecodeQueryMalformed(t *testing.T) {
	ec2Cases := []struct {
		name, query, code string
		names             []string
	}{
		{"unknown", "Action=DescribeInstances&Bogus=1", codeUnknownEC2, []string{"Bogus"}},
		{"unknown nested", "Filter.1.Name=a&Filter.1.Bogus=b", codeUnknownEC2, []string{"Filter.1.Bogus"}},
		{"awsquery list form", "InstanceId.member.1=i-1", codeUnknownEC2, []string{"InstanceId.member.1"}},
		{"zero index", "InstanceId.0=i-1", codeUnknownEC2, []string{"InstanceId.0"}},
		{"padded index", "InstanceId.01=i-1", codeUnknownEC2, []string{"InstanceId.01"}},
		{"huge index", "InstanceId.99999999999999999999=i-1", codeUnknownEC2, []string{"InstanceId.99999999999999999999"}},
		{"empty segment", "Filter..Name=a", codeUnknownEC2, []string{"Filter..Name"}},
		{"children under scalar", "MaxResults.1=5", codeUnknownEC2, []string{"MaxResults.1"}},
		{"children under string item", "InstanceId.1.x.y.z=5", codeUnknownEC2, []string{"InstanceId.1.x.y.z"}},
		{"bad int", "MaxResults=ten", codeInvalidValue, []string{"MaxResults", "ten"}},
		{"int overflow", "MaxResults=9999999999", codeInvalidValue, []string{"MaxResults"}},
		{"bad bool", "DryRun=maybe", codeInvalidValue, []string{"DryRun", "maybe"}},
		{"value on struct list", "Filter=x", codeInvalidValue, []string{"Filter"}},
		{"value on struct item", "Filter.1=x", codeInvalidValue, []string{"Filter.1"}},
		{"repeated", "MaxResults=5&MaxResults=6", codeInvalidValue, []string{"MaxResults"}},
	}
	for _, c := range ec2Cases {
		t.Run("EC2/"+c.name, func(t *testing.T) {
			form, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, DecodeQuery(EC2Query, form, &ec2.DescribeInstancesInput{}), c.code, c.names...)
		})
	}
	awsCases := []struct {
		name, query, code string
		names             []string
	}{
		{"unknown", "Action=GetRole&RoleName=r&Bogus=1", codeUnknownAWSQuery, []string{"Bogus"}},
		{"ec2 list form", "PolicySourceArn=a&ActionNames.1=s3:GetObject", codeUnknownAWSQuery, []string{"ActionNames.1"}},
		{"bad member index", "PolicySourceArn=a&ActionNames.member.x=s3:GetObject", codeUnknownAWSQuery, []string{"ActionNames.member.x"}},
		{"bad enum-free int", "PolicySourceArn=a&MaxItems=lots", codeInvalidValue, []string{"MaxItems", "lots"}},
		{"bad union", "PolicySourceArn=a&PolicyExclusionList.member.1.PolicyArn=x&PolicyExclusionList.member.1.PolicyType=user", codeInvalidValue, []string{"PolicyExclusionList.member.1"}},
		{"unknown union member", "PolicySourceArn=a&PolicyExclusionList.member.1.Bogus=x", codeUnknownAWSQuery, []string{"PolicyExclusionList.member.1.Bogus"}},
		{"unknown member in list item", "PolicySourceArn=a&ContextEntries.member.1.ContextKeyName=k&ContextEntries.member.1.ContextKeyValues.member.1=v&ContextEntries.member.1.ContextKeyType=date&ContextEntries.member.1.Bogus=1", codeUnknownAWSQuery, []string{"ContextEntries.member.1.Bogus"}},
	}
	for _, c := range awsCases {
		t.Run("AWSQuery/"+c.name, func(t *testing.T) {
			form, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, DecodeQuery(AWSQuery, form, &iam.SimulatePrincipalPolicyInput{}), c.code, c.names...)
		})
	}
	t.Run("map entry without key", func(t *testing.T) {
		form := url.Values{"Message": {"m"}, "MessageAttributes.entry.1.Value.DataType": {"String"}}
		wantError(t, DecodeQuery(AWSQuery, form, &sns.PublishInput{}), codeInvalidValue, "MessageAttributes.entry.1.Name")
	})
	t.Run("bad blob", func(t *testing.T) {
		form := url.Values{"Message": {"m"}, "MessageAttributes.entry.1.Name": {"a"}, "MessageAttributes.entry.1.Value.DataType": {"Binary"}, "MessageAttributes.entry.1.Value.BinaryValue": {"%%%"}}
		wantError(t, DecodeQuery(AWSQuery, form, &sns.PublishInput{}), codeInvalidValue, "MessageAttributes.entry.1.Value.BinaryValue")
	})
	t.Run("bad timestamp", func(t *testing.T) {
		form := url.Values{"Filter.1.Name": {"x"}, "StartTime": {"yesterday"}}
		wantError(t, DecodeQuery(EC2Query, form, &ec2.DescribeSpotPriceHistoryInput{}), codeInvalidValue, "StartTime", "yesterday")
	})
}

func TestDecodeQueryAccepts(t *testing.T) {
	form, _ := url.ParseQuery("Action=DescribeInstances&Version=2016-11-15&Filter.2.Name=b&Filter.2.Value.1=y&Filter.1.Name=a&Filter.1.Value.1=x&Filter.1.Value.2=z&InstanceId.1=i-1&InstanceId.10=i-10&InstanceId.2=i-2&DryRun=false&MaxResults=5")
	var in ec2.DescribeInstancesInput
	if err := DecodeQuery(EC2Query, form, &in); err != nil {
		t.Fatal(err)
	}
	if len(in.Filters) != 2 || *in.Filters[0].Name != "a" || in.Filters[0].Values[1] != "z" || *in.Filters[1].Name != "b" {
		t.Errorf("filters %+v", in.Filters)
	}
	if strings.Join(in.InstanceIds, ",") != "i-1,i-2,i-10" || *in.DryRun || *in.MaxResults != 5 {
		t.Errorf("decoded %+v", in)
	}
	// An awsquery empty list is sent as Name= and decodes to an empty,
	// non-nil list.
	var lp iam.SimulatePrincipalPolicyInput
	form = url.Values{"PolicySourceArn": {"arn"}, "ActionNames": {""}}
	if err := DecodeQuery(AWSQuery, form, &lp); err != nil {
		t.Fatal(err)
	}
	if lp.ActionNames == nil || len(lp.ActionNames) != 0 {
		t.Errorf("ActionNames %#v, want empty list", lp.ActionNames)
	}
}

func TestDecodeCBORMalformed(t *testing.T) {
	valid := cbor.Encode(cbor.Map{"Namespace": cbor.String("n")})
	deep := bytes.Repeat([]byte{0x81}, 10000) // nested one-element lists
	cases := []struct {
		name  string
		body  []byte
		names []string
	}{
		{"garbage", []byte("not cbor"), nil},
		{"truncated", valid[:len(valid)-1], nil},
		{"trailing item", append(append([]byte{}, valid...), valid...), []string{"one data item"}},
		{"break only", []byte{0xff}, nil},
		{"deep nesting", deep, nil},
		{"not a map", cbor.Encode(cbor.List{cbor.String("x")}), []string{"object"}},
		{"unknown member", cbor.Encode(cbor.Map{"Namespace": cbor.String("n"), "Bogus": cbor.Uint(1)}), []string{"Bogus"}},
		{"string for list", cbor.Encode(cbor.Map{"MetricData": cbor.String("x")}), []string{"MetricData"}},
		{"untagged timestamp", cbor.Encode(cbor.Map{"MetricData": cbor.List{cbor.Map{"MetricName": cbor.String("m"), "Timestamp": cbor.Uint(1)}}}), []string{"MetricData[0].Timestamp"}},
		{"wrong tag", cbor.Encode(cbor.Map{"MetricData": cbor.List{cbor.Map{"Timestamp": &cbor.Tag{ID: 0, Value: cbor.String("2024-01-01T00:00:00Z")}}}}), []string{"tag 0"}},
		{"float for int", cbor.Encode(cbor.Map{"MetricData": cbor.List{cbor.Map{"StorageResolution": cbor.Float64(1.5)}}}), []string{"StorageResolution"}},
		{"int overflow", cbor.Encode(cbor.Map{"MetricData": cbor.List{cbor.Map{"StorageResolution": cbor.Uint(1 << 40)}}}), []string{"StorageResolution"}},
		{"min negint", cbor.Encode(cbor.Map{"MetricData": cbor.List{cbor.Map{"StorageResolution": cbor.NegInt(0)}}}), []string{"StorageResolution"}},
		{"string for number", cbor.Encode(cbor.Map{"MetricData": cbor.List{cbor.Map{"Value": cbor.String("1")}}}), []string{"MetricData[0].Value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, DecodeCBOR(c.body, &cloudwatch.PutMetricDataInput{}), codeSerialization, c.names...)
		})
	}
}

func TestDecodeTargetMisuse(t *testing.T) {
	var in ssm.SendCommandInput
	for _, v := range []any{nil, in, (*ssm.SendCommandInput)(nil), new(int)} {
		if err := DecodeJSON([]byte(`{}`), v); err == nil {
			t.Errorf("DecodeJSON(%T) accepted a bad target", v)
		}
		if err := DecodeCBOR(nil, v); err == nil {
			t.Errorf("DecodeCBOR(%T) accepted a bad target", v)
		}
		if err := DecodeQuery(EC2Query, url.Values{}, v); err == nil {
			t.Errorf("DecodeQuery(%T) accepted a bad target", v)
		}
	}
}
