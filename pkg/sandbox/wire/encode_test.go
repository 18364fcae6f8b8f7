package wire

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/aws/smithy-go/middleware"
)

func TestEncodeEC2Shape(t *testing.T) {
	out := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{
		ReservationId: aws.String("r-1"),
		Groups:        []ec2types.GroupIdentifier{},
		Instances: []ec2types.Instance{{
			InstanceId: aws.String("i-1"),
			LaunchTime: aws.Time(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
			MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{
				HttpTokens:              ec2types.HttpTokensStateRequired,
				HttpPutResponseHopLimit: aws.Int32(2),
			},
			Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("a<b&c")}},
		}},
	}}}
	b, err := EncodeEC2("DescribeInstances", out, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>` +
		`<reservationSet><item><groupSet></groupSet><instancesSet><item><instanceId>i-1</instanceId>` +
		`<launchTime>2024-05-01T12:00:00Z</launchTime><metadataOptions><httpPutResponseHopLimit>2</httpPutResponseHopLimit>` +
		`<httpTokens>required</httpTokens></metadataOptions><tagSet><item><key>Name</key><value>a&lt;b&amp;c</value></item></tagSet>` +
		`</item></instancesSet><reservationId>r-1</reservationId></item></reservationSet></DescribeInstancesResponse>`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	if err := xml.Unmarshal(b, new(struct{})); err != nil {
		t.Errorf("not well-formed: %v", err)
	}
}

func TestEncodeQueryShape(t *testing.T) {
	b, err := EncodeQuery("GetCallerIdentity", stsNS, &sts.GetCallerIdentityOutput{
		Account: aws.String("111122223333"), Arn: aws.String("arn:aws:iam::111122223333:user/a"), UserId: aws.String("AIDA"),
		ResultMetadata: middleware.Metadata{},
	}, "req-2")
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Account>111122223333</Account><Arn>arn:aws:iam::111122223333:user/a</Arn><UserId>AIDA</UserId>` +
		`</GetCallerIdentityResult><ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	// An output shape without members has no Result element.
	b, err = EncodeQuery("DeleteRole", iamNS, &iam.DeleteRoleOutput{}, "req-3")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "DeleteRoleResult") || !strings.Contains(string(b), "<RequestId>req-3</RequestId>") {
		t.Errorf("DeleteRole: %s", b)
	}
	// A nil output of a shape with members still has one.
	b, err = EncodeQuery("GetRole", iamNS, (*iam.GetRoleOutput)(nil), "req-4")
	if err != nil || !strings.Contains(string(b), "<GetRoleResult></GetRoleResult>") {
		t.Errorf("nil GetRole: %s %v", b, err)
	}
	if _, err := EncodeQuery("X", iamNS, 5, "r"); err == nil {
		t.Error("EncodeQuery accepted a non-struct")
	}
	if _, err := EncodeEC2("X", "s", "r"); err == nil {
		t.Error("EncodeEC2 accepted a non-struct")
	}
	for _, op := range []string{"", "Describe<x>", "A B", "Op\"x"} {
		if _, err := EncodeEC2(op, &ec2.DescribeInstancesOutput{}, "r"); err == nil {
			t.Errorf("EncodeEC2 accepted operation name %q", op)
		}
		if _, err := EncodeQuery(op, iamNS, &iam.GetRoleOutput{}, "r"); err == nil {
			t.Errorf("EncodeQuery accepted operation name %q", op)
		}
	}
}

func TestXMLControlCharacters(t *testing.T) {
	out := &iam.GetRolePolicyOutput{PolicyDocument: aws.String("a\x00b\x1fc\ud7ff]]>")}
	b, err := EncodeQuery("GetRolePolicy", iamNS, out, "r")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Doc string `xml:"GetRolePolicyResult>PolicyDocument"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, b)
	}
	if !strings.HasPrefix(doc.Doc, "a") || !strings.HasSuffix(doc.Doc, "]]>") {
		t.Errorf("document %q", doc.Doc)
	}
}

func TestErrorEncoders(t *testing.T) {
	if got, want := string(EncodeEC2Error("InvalidInstanceID.NotFound", `The instance ID 'i-1' does not exist & <more>`, "req")),
		`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID &#39;i-1&#39; does not exist &amp; &lt;more&gt;</Message></Error></Errors><RequestID>req</RequestID></Response>`; got != want {
		t.Errorf("EC2 error\n%s\nwant\n%s", got, want)
	}
	if got, want := string(EncodeQueryError(iamNS, "NoSuchEntity", "Role r not found", "req", true)),
		`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>Role r not found</Message></Error><RequestId>req</RequestId></ErrorResponse>`; got != want {
		t.Errorf("query error\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(string(EncodeQueryError(iamNS, "ServiceFailure", "m", "req", false)), "<Type>Receiver</Type>") {
		t.Error("receiver fault not marked Receiver")
	}
	var j map[string]string
	if err := json.Unmarshal(EncodeJSONError("InvalidInstanceId", `say "hi" <b>`), &j); err != nil {
		t.Fatal(err)
	}
	if len(j) != 2 || j["__type"] != "InvalidInstanceId" || j["message"] != `say "hi" <b>` {
		t.Errorf("JSON error %v", j)
	}
	v, err := cbor.Decode(EncodeCBORError("ThrottlingException", "slow down"))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(cbor.Map)
	if m["__type"] != cbor.String("ThrottlingException") || m["message"] != cbor.String("slow down") || m["Message"] != m["message"] {
		t.Errorf("CBOR error %v", m)
	}
}

func TestEncodeJSONRules(t *testing.T) {
	out := &ssm.DescribeInstanceInformationOutput{
		InstanceInformationList: []ssmtypes.InstanceInformation{{
			InstanceId:       aws.String("i-1"),
			PingStatus:       ssmtypes.PingStatusOnline,
			LastPingDateTime: aws.Time(time.Unix(1700000000, 250_000_000)),
			IsLatestVersion:  aws.Bool(false),
		}},
		NextToken:      nil,
		ResultMetadata: middleware.Metadata{},
	}
	b, err := EncodeJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"InstanceInformationList":[{"InstanceId":"i-1","IsLatestVersion":false,"LastPingDateTime":1700000000.25,"PingStatus":"Online"}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, err = EncodeJSON(&ssm.DescribeInstanceInformationOutput{InstanceInformationList: []ssmtypes.InstanceInformation{}})
	if err != nil || string(b) != `{"InstanceInformationList":[]}` {
		t.Errorf("empty list: %s %v", b, err)
	}
	b, err = EncodeJSON((*ssm.GetServiceSettingOutput)(nil))
	if err != nil || string(b) != `{}` {
		t.Errorf("nil output: %s %v", b, err)
	}
	// Non-pointer numbers are always written; non-finite floats as strings;
	// the model's lower-case member names.
	b, err = EncodeJSON(&cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{{Values: []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0.5}}}})
	if err != nil || string(b) != `{"MetricDataResults":[{"Values":["NaN","Infinity","-Infinity",0.5]}]}` {
		t.Errorf("floats: %s %v", b, err)
	}
	b, err = EncodeJSON(&ssm.DescribeInstanceInformationInput{InstanceInformationFilterList: []ssmtypes.InstanceInformationFilter{{Key: ssmtypes.InstanceInformationFilterKeyPingStatus, ValueSet: []string{"Online"}}}})
	if err != nil || string(b) != `{"InstanceInformationFilterList":[{"key":"PingStatus","valueSet":["Online"]}]}` {
		t.Errorf("member names: %s %v", b, err)
	}
	if _, err := EncodeJSON(42); err == nil {
		t.Error("EncodeJSON accepted a non-struct")
	}
}

func TestEpochSeconds(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(0, 0), "0"},
		{time.Unix(1700000000, 0), "1700000000"},
		{time.Unix(1700000000, 5e8), "1700000000.5"},
		{time.Unix(1700000000, 123), "1700000000.000000123"},
		{time.Unix(-2, 5e8), "-1.5"},
		{time.Unix(-1, 5e8), "-0.5"},
		{time.Unix(-3, 0), "-3"},
	} {
		if got := epochSeconds(c.t); got != c.want {
			t.Errorf("epochSeconds(%v) = %s, want %s", c.t, got, c.want)
		}
	}
}

func TestEncodeCBORTimestamps(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := EncodeCBOR(&cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{{Timestamps: []time.Time{ts}}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := cbor.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	tag, ok := v.(cbor.Map)["MetricDataResults"].(cbor.List)[0].(cbor.Map)["Timestamps"].(cbor.List)[0].(*cbor.Tag)
	if !ok || tag.ID != 1 || tag.Value != cbor.Float64(float64(ts.Unix())) {
		t.Errorf("timestamp encoded as %#v", tag)
	}
}

// TestGeneratedNamesUpToDate regenerates the name tables from the SDK
// sources in the module cache and compares them with names_gen.go.
func TestGeneratedNamesUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "names_gen.go")
	cmd := exec.Command("go", "run", "./internal/gennames", "-o", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("generator: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("names_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, have) {
		t.Error("names_gen.go is stale: run go generate ./pkg/sandbox/wire")
	}
}
