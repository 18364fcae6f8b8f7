package asl

import (
	"encoding/json"
	"strings"
	"testing"
)

func template(def any) map[string]any {
	return map[string]any{"Resources": map[string]any{
		"Fn1":     map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{"Description": "fleetdoctor discover"}},
		"Bucket1": map[string]any{"Type": "AWS::S3::Bucket", "Properties": map[string]any{}},
		"Other":   map[string]any{"Type": "AWS::SNS::Topic", "Properties": map[string]any{}},
		"SM":      map[string]any{"Type": "AWS::StepFunctions::StateMachine", "Properties": map[string]any{"DefinitionString": def}},
	}}
}

func join(parts ...any) map[string]any { return map[string]any{"Fn::Join": []any{"", parts}} }

func TestResolveDefinition(t *testing.T) {
	def := join(`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"`,
		map[string]any{"Fn::GetAtt": []any{"Fn1", "Arn"}},
		`","Parameters":{"b":"`, map[string]any{"Ref": "Bucket1"}, `","p":"arn:`, map[string]any{"Ref": "AWS::Partition"},
		`"},"End":true}}}`)
	for _, tc := range []struct {
		values             map[string]string
		wantFn, wantBucket string
	}{
		{nil, "arn:aws:lambda:us-east-1:111111111111:function:fleetdoctor-discover", DefaultBucket},
		{map[string]string{"discover": "arn:aws:lambda:eu-west-1:222222222222:function:x", KeyBucket: "b1"}, "arn:aws:lambda:eu-west-1:222222222222:function:x", "b1"},
	} {
		out, err := ResolveDefinition(template(def), tc.values)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			States map[string]struct {
				Resource   string
				Parameters map[string]string
			}
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		a := got.States["A"]
		if a.Resource != tc.wantFn || a.Parameters["b"] != tc.wantBucket || a.Parameters["p"] != "arn:aws" {
			t.Errorf("values %v: got %+v", tc.values, a)
		}
	}
}

func TestResolveDefinitionErrors(t *testing.T) {
	unknown := join(`{"A":"`, map[string]any{"Ref": "Other"}, `"}`)
	if _, err := ResolveDefinition(template(unknown), nil); err == nil || !strings.Contains(err.Error(), "Ref Other") {
		t.Errorf("unmapped Ref: err = %v", err)
	}
	if out, err := ResolveDefinition(template(unknown), map[string]string{"Other": "topic"}); err != nil || !strings.Contains(string(out), `"topic"`) {
		t.Errorf("mapped Ref: %s, %v", out, err)
	}
	att := join(`{"A":"`, map[string]any{"Fn::GetAtt": []any{"Other", "TopicName"}}, `"}`)
	if _, err := ResolveDefinition(template(att), nil); err == nil || !strings.Contains(err.Error(), "Other.TopicName") {
		t.Errorf("unmapped GetAtt: err = %v", err)
	}
	if _, err := ResolveDefinition(template(join(`{"A":`)), nil); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("broken JSON: err = %v", err)
	}
	if _, err := ResolveDefinition(map[string]any{"Resources": map[string]any{}}, nil); err == nil {
		t.Error("template without a state machine accepted")
	}
}
