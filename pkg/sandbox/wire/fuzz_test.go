package wire

import (
	"errors"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// fuzzTargets returns fresh decode targets that cover lists, maps, nested
// structures, timestamps, blobs and unions.
func fuzzJSONTargets() []any {
	return []any{
		&ssm.SendCommandInput{},
		&ssm.StartAutomationExecutionInput{},
		&ssm.DescribeInstanceInformationInput{},
		&ssm.StartExecutionPreviewInput{},
		&cloudwatch.PutMetricDataInput{},
		&sns.PublishInput{},
	}
}

// checkDecodeResult fails unless err is nil or an *Error, and a successful
// decode re-encodes.
func checkDecodeResult(t *testing.T, v any, err error) {
	if err != nil {
		var we *Error
		if !errors.As(err, &we) {
			t.Fatalf("%T: error %T %v is not an *Error", v, err, err)
		}
		if we.Code == "" || we.Message == "" {
			t.Fatalf("%T: empty code or message in %#v", v, we)
		}
		return
	}
	if _, err := EncodeJSON(v); err != nil {
		t.Fatalf("%T decoded but does not re-encode: %v", v, err)
	}
}

func jsonSeeds() [][]byte {
	seeds := [][]byte{
		[]byte(`{}`), []byte(``), []byte(`null`), []byte(`[]`), []byte(`{"a":`),
		[]byte(`{"InstanceIds":["i-1"],"Parameters":{"commands":["id"]},"TimeoutSeconds":30}`),
		[]byte(`{"MetricData":[{"MetricName":"m","Timestamp":1700000000.5,"Value":"NaN","Dimensions":[{"Name":"a","Value":"b"}]}]}`),
		[]byte(`{"ExecutionInputs":{"Automation":{"Parameters":{"a":["b"]}}}}`),
		[]byte(`{"InstanceInformationFilterList":[{"key":"PingStatus","valueSet":["Online"]}]}`),
		[]byte(`{"MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAEC"}}}`),
	}
	for _, v := range fuzzJSONTargets() {
		newFiller().fill(v)
		if b, err := EncodeJSON(v); err == nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range jsonSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range fuzzJSONTargets() {
			err := DecodeJSON(body, v)
			checkDecodeResult(t, v, err)
			if err != nil {
				continue
			}
			m, err := ToMap(v)
			if err != nil {
				t.Fatalf("ToMap(%T) after decode: %v", v, err)
			}
			if err := FromMap(m, v); err != nil {
				t.Fatalf("FromMap(ToMap(%T)): %v", v, err)
			}
		}
	})
}

func FuzzDecodeCBOR(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0xff})
	f.Add([]byte{0x9f, 0x9f, 0xff})
	for _, v := range []any{&cloudwatch.PutMetricDataInput{}, &cloudwatch.GetMetricDataInput{}} {
		newFiller().fill(v)
		if b, err := EncodeCBOR(v); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&cloudwatch.PutMetricDataInput{}, &cloudwatch.GetMetricDataInput{}, &ssm.StartExecutionPreviewInput{}} {
			err := DecodeCBOR(body, v)
			checkDecodeResult(t, v, err)
			if err == nil {
				if _, err := EncodeCBOR(v); err != nil {
					t.Fatalf("%T decoded but does not re-encode as CBOR: %v", v, err)
				}
			}
		}
	})
}

func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{
		"", "Action=DescribeInstances&Version=2016-11-15",
		"Filter.1.Name=instance-state-name&Filter.1.Value.1=running&InstanceId.1=i-1&MaxResults=5",
		"PolicySourceArn=arn&ActionNames.member.1=ssm:UpdateInstanceInformation&PolicyExclusionList.member.1.PolicyArn=a",
		"ContextEntries.member.1.ContextKeyName=aws:CurrentTime&ContextEntries.member.1.ContextKeyType=date&ContextEntries.member.1.ContextKeyValues.member.1=2024-01-01T00:00:00Z",
		"Message=m&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=AAEC",
		"Filter.1..Name=x", "InstanceId.0=x", "MaxResults=1e99", "Filter=&Filter.1.Name=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, v := range []any{&ec2.DescribeInstancesInput{}, &ec2.ModifyInstanceMetadataOptionsInput{}, &ec2.DescribeSpotPriceHistoryInput{}} {
			checkDecodeResult(t, v, DecodeQuery(EC2Query, form, v))
		}
		for _, v := range []any{&iam.SimulatePrincipalPolicyInput{}, &sns.PublishInput{}, &sns.CreateTopicInput{}} {
			checkDecodeResult(t, v, DecodeQuery(AWSQuery, form, v))
		}
	})
}
