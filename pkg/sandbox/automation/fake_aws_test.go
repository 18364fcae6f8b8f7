package automation_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
)

// fakeAWS is a tiny in-memory EC2 and SSM for the runbooks, strict like
// AWS: unknown APIs and unknown or missing members are errors, values are
// validated.
type fakeAWS struct {
	mu           sync.Mutex
	instances    map[string]*fakeInstance
	associations map[string]*fakeAssociation
	dhmc         string
	defTokens    string
	defHop       int64
	calls        []string
	// applyAfter is how many DescribeInstances reads a pending change
	// stays pending on a running instance; neverApply keeps it pending.
	applyAfter int
	neverApply bool
	// throttle makes the next N calls fail with ThrottlingException.
	throttle int
	// block makes the Block API wait until released (or ctx ends).
	block   chan struct{}
	blocked chan struct{}
	seq     int
}

type fakeInstance struct {
	state, endpoint, tokens string
	hop                     int32
	optState                string
	pendingReads            int
	profile                 string
}

type fakeAssociation struct {
	id, instance, profile, state string
}

func newFakeAWS() *fakeAWS {
	return &fakeAWS{instances: map[string]*fakeInstance{}, associations: map[string]*fakeAssociation{}, dhmc: "$None"}
}

func (f *fakeAWS) addInstance(id, state, tokens string, hop int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances[id] = &fakeInstance{state: state, endpoint: "enabled", tokens: tokens, hop: hop, optState: "applied"}
}

func (f *fakeAWS) instance(id string) fakeInstance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.instances[id]
}

// count returns how many calls of service:api were made.
func (f *fakeAWS) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func apiErr(code, format string, args ...any) error {
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

// members lists each API's input members; the first `required` are required.
var fakeAPIs = map[string]struct {
	members  []string
	required int
}{
	"ec2:DescribeInstances":                      {[]string{"InstanceIds", "Filters", "DryRun", "MaxResults", "NextToken"}, 0},
	"ec2:ModifyInstanceMetadataOptions":          {[]string{"InstanceId", "HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "HttpProtocolIpv6", "InstanceMetadataTags", "DryRun"}, 1},
	"ec2:AssociateIamInstanceProfile":            {[]string{"IamInstanceProfile", "InstanceId"}, 2},
	"ec2:DescribeIamInstanceProfileAssociations": {[]string{"AssociationIds", "Filters", "MaxResults", "NextToken"}, 0},
	"ec2:ModifyInstanceMetadataDefaults":         {[]string{"HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "InstanceMetadataTags", "DryRun"}, 0},
	"ec2:GetInstanceMetadataDefaults":            {[]string{"DryRun"}, 0},
	"ssm:GetServiceSetting":                      {[]string{"SettingId"}, 1},
	"ssm:UpdateServiceSetting":                   {[]string{"SettingId", "SettingValue"}, 2},
	"test:Block":                                 {nil, 0},
}

func (f *fakeAWS) Invoke(ctx context.Context, service, api string, in map[string]any) (map[string]any, error) {
	key := service + ":" + api
	if key == "test:Block" {
		f.blocked <- struct{}{}
		select {
		case <-f.block:
			return map[string]any{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, key)
	if f.throttle > 0 {
		f.throttle--
		return nil, apiErr("ThrottlingException", "Rate exceeded")
	}
	spec, ok := fakeAPIs[key]
	if !ok {
		return nil, apiErr("InvalidAction", "The action %s is not valid for this web service.", api)
	}
	for k := range in {
		if !slices.Contains(spec.members, k) {
			return nil, apiErr("UnknownParameter", "Unknown parameter in input: %q, must be one of: %s", k, strings.Join(spec.members, ", "))
		}
	}
	for _, k := range spec.members[:spec.required] {
		if _, ok := in[k]; !ok {
			return nil, apiErr("MissingParameter", "The request must contain the parameter %s", k)
		}
	}
	switch key {
	case "ec2:DescribeInstances":
		return f.describeInstances(in)
	case "ec2:ModifyInstanceMetadataOptions":
		return f.modifyOptions(in)
	case "ec2:AssociateIamInstanceProfile":
		return f.associate(in)
	case "ec2:DescribeIamInstanceProfileAssociations":
		return f.describeAssociations(in)
	case "ec2:ModifyInstanceMetadataDefaults":
		if v, ok := in["HttpTokens"]; ok {
			s, _ := v.(string)
			if s != "required" && s != "optional" && s != "no-preference" {
				return nil, apiErr("InvalidParameterValue", "HttpTokens %v", v)
			}
			f.defTokens = s
		}
		if v, ok := in["HttpPutResponseHopLimit"]; ok {
			n, ok := v.(int64)
			if !ok || n < -1 || n > 64 {
				return nil, apiErr("InvalidParameterValue", "HttpPutResponseHopLimit %v (%T)", v, v)
			}
			f.defHop = n
		}
		return map[string]any{"Return": true}, nil
	case "ec2:GetInstanceMetadataDefaults":
		acct := map[string]any{"ManagedBy": "account"}
		if f.defTokens != "" {
			acct["HttpTokens"] = f.defTokens
		}
		if f.defHop != 0 {
			acct["HttpPutResponseHopLimit"] = int32(f.defHop)
		}
		return map[string]any{"AccountLevel": acct}, nil
	case "ssm:GetServiceSetting":
		if in["SettingId"] != "/ssm/managed-instance/default-ec2-instance-management-role" {
			return nil, apiErr("ServiceSettingNotFound", "%v", in["SettingId"])
		}
		return map[string]any{"ServiceSetting": map[string]any{"SettingId": in["SettingId"], "SettingValue": f.dhmc, "Status": "Customized"}}, nil
	case "ssm:UpdateServiceSetting":
		if in["SettingId"] != "/ssm/managed-instance/default-ec2-instance-management-role" {
			return nil, apiErr("ServiceSettingNotFound", "%v", in["SettingId"])
		}
		v, ok := in["SettingValue"].(string)
		if !ok || v == "" {
			return nil, apiErr("ValidationException", "SettingValue")
		}
		f.dhmc = v
		return map[string]any{}, nil
	}
	return nil, apiErr("InvalidAction", "%s", api)
}

func (f *fakeAWS) describeInstances(in map[string]any) (map[string]any, error) {
	ids, _ := in["InstanceIds"].([]any)
	var out []any
	for _, v := range ids {
		id, ok := v.(string)
		if !ok {
			return nil, apiErr("InvalidParameterValue", "InstanceIds holds a %T", v)
		}
		inst, ok := f.instances[id]
		if !ok {
			return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		if inst.optState == "pending" && inst.state == "running" && !f.neverApply {
			if inst.pendingReads <= 0 {
				inst.optState = "applied"
			}
			inst.pendingReads--
		}
		hop := inst.hop
		out = append(out, map[string]any{"Instances": []map[string]any{{
			"InstanceId": id,
			"State":      map[string]any{"Name": inst.state, "Code": int32(16)},
			"MetadataOptions": map[string]any{
				"State": inst.optState, "HttpEndpoint": inst.endpoint, "HttpTokens": inst.tokens,
				"HttpPutResponseHopLimit": &hop, "HttpProtocolIpv6": "disabled",
			},
			"LaunchTime": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		}}})
	}
	return map[string]any{"Reservations": out}, nil
}

func (f *fakeAWS) modifyOptions(in map[string]any) (map[string]any, error) {
	id, _ := in["InstanceId"].(string)
	inst, ok := f.instances[id]
	if !ok {
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%v' does not exist", in["InstanceId"])
	}
	if v, ok := in["HttpTokens"]; ok {
		if v != "required" && v != "optional" {
			return nil, apiErr("InvalidParameterValue", "Value (%v) for parameter HttpTokens is invalid.", v)
		}
		inst.tokens = v.(string)
	}
	if v, ok := in["HttpEndpoint"]; ok {
		if v != "enabled" && v != "disabled" {
			return nil, apiErr("InvalidParameterValue", "Value (%v) for parameter HttpEndpoint is invalid.", v)
		}
		inst.endpoint = v.(string)
	}
	if v, ok := in["HttpPutResponseHopLimit"]; ok {
		n, ok := v.(int64)
		if !ok || n < 1 || n > 64 {
			return nil, apiErr("InvalidParameterValue", "Value (%v, %T) for parameter HttpPutResponseHopLimit is invalid.", v, v)
		}
		inst.hop = int32(n)
	}
	inst.optState, inst.pendingReads = "pending", f.applyAfter
	return map[string]any{"InstanceId": id, "InstanceMetadataOptions": map[string]any{
		"State": "pending", "HttpTokens": inst.tokens, "HttpEndpoint": inst.endpoint, "HttpPutResponseHopLimit": inst.hop}}, nil
}

func (f *fakeAWS) associate(in map[string]any) (map[string]any, error) {
	id, _ := in["InstanceId"].(string)
	inst, ok := f.instances[id]
	if !ok {
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%v' does not exist", in["InstanceId"])
	}
	prof, ok := in["IamInstanceProfile"].(map[string]any)
	if !ok {
		return nil, apiErr("InvalidParameterValue", "IamInstanceProfile must be a structure")
	}
	for k := range prof {
		if k != "Name" && k != "Arn" {
			return nil, apiErr("UnknownParameter", "Unknown parameter in IamInstanceProfile: %q", k)
		}
	}
	name, _ := prof["Name"].(string)
	if name == "" {
		return nil, apiErr("InvalidParameterValue", "IamInstanceProfile.Name is empty")
	}
	if inst.profile != "" {
		return nil, apiErr("IncorrectState", "There is an existing association for instance %s", id)
	}
	f.seq++
	a := &fakeAssociation{id: fmt.Sprintf("iip-assoc-%017d", f.seq), instance: id, profile: name, state: "associating"}
	f.associations[a.id] = a
	inst.profile = name
	return map[string]any{"IamInstanceProfileAssociation": a.wire()}, nil
}

func (a *fakeAssociation) wire() map[string]any {
	return map[string]any{"AssociationId": a.id, "InstanceId": a.instance, "State": a.state,
		"IamInstanceProfile": map[string]any{"Arn": "arn:aws:iam::111122223333:instance-profile/" + a.profile, "Id": "AIPA0000"}}
}

func (f *fakeAWS) describeAssociations(in map[string]any) (map[string]any, error) {
	ids, _ := in["AssociationIds"].([]any)
	var out []any
	var keys []string
	for _, v := range ids {
		keys = append(keys, fmt.Sprint(v))
	}
	sort.Strings(keys)
	for _, id := range keys {
		a, ok := f.associations[id]
		if !ok {
			return nil, apiErr("InvalidAssociationID.NotFound", "An association ID '%s' does not exist", id)
		}
		out = append(out, a.wire())
		a.state = "associated" // the next read sees it in effect
	}
	return map[string]any{"IamInstanceProfileAssociations": out}, nil
}

// fakeClock advances only when something sleeps.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept += d
	return nil
}

func (c *fakeClock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

// fakeCommander records aws:runCommand calls.
type fakeCommander struct {
	mu     sync.Mutex
	calls  []string
	status string
}

func (c *fakeCommander) RunCommand(ctx context.Context, doc string, ids []string, params map[string][]string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf("%s %v %v", doc, ids, params))
	if c.status != "Success" {
		return c.status, fmt.Errorf("command ended %s on at least one instance", c.status)
	}
	return c.status, nil
}
