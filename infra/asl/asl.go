// Package asl turns the state machine of a synthesized FleetDoctorHub
// template into plain Amazon States Language JSON, for running it outside
// AWS (the e2e test runs it with aws-local-stepfunctions).
//
// The template's AWS::StepFunctions::StateMachine DefinitionString is a
// Fn::Join of strings and tokens (Fn::GetAtt of the Lambdas' Arn, Ref of
// the report bucket, pseudo parameters). ResolveDefinition substitutes
// every token with a plain value.
package asl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Placeholders of the resolved definition.
const (
	// Partition, Region and Account replace the pseudo parameters and
	// appear in the default Lambda ARNs.
	Partition = "aws"
	Region    = "us-east-1"
	Account   = "111111111111"
	// KeyBucket is the values key of the report bucket's name.
	KeyBucket = "bucket"
	// DefaultBucket replaces the bucket's Ref when values has no KeyBucket.
	DefaultBucket = "fleetdoctor-reports"
)

// functionDescription is how the template says which Lambda a function
// is: the functions construct describes each as "fleetdoctor <name>".
const functionDescription = "fleetdoctor "

// LambdaARN is the default ARN a Lambda's token becomes.
func LambdaARN(name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:fleetdoctor-%s", Partition, Region, Account, name)
}

// ResolveDefinition returns the ASL of the template's only state machine
// with every token replaced. values maps:
//   - a Lambda name (service.LambdaTargets, ...) to the ARN its
//     Fn::GetAtt Arn becomes (default LambdaARN(name));
//   - KeyBucket to the report bucket's name (default DefaultBucket);
//   - a logical id (Ref) or "logicalId.Attribute" (Fn::GetAtt) to a
//     value, for any other token.
//
// A token nothing maps is an error naming it.
func ResolveDefinition(template map[string]any, values map[string]string) ([]byte, error) {
	resources, _ := template["Resources"].(map[string]any)
	if resources == nil {
		return nil, errors.New("template has no Resources")
	}
	var machines []string
	lambdaOf := map[string]string{} // logical id → Lambda name
	var buckets []string
	for id, r := range resources {
		res, _ := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::StepFunctions::StateMachine":
			machines = append(machines, id)
		case "AWS::Lambda::Function":
			d, _ := props["Description"].(string)
			if name, ok := strings.CutPrefix(d, functionDescription); ok {
				lambdaOf[id] = name
			}
		case "AWS::S3::Bucket":
			buckets = append(buckets, id)
		}
	}
	if len(machines) != 1 {
		return nil, fmt.Errorf("template has %d state machines, want 1", len(machines))
	}
	sort.Strings(buckets)
	def := resources[machines[0]].(map[string]any)["Properties"].(map[string]any)["DefinitionString"]
	lookup := func(key string) (string, bool) {
		v, ok := values[key]
		return v, ok
	}
	resolveRef := func(id string) (string, error) {
		switch id {
		case "AWS::Partition":
			return Partition, nil
		case "AWS::Region":
			return Region, nil
		case "AWS::AccountId":
			return Account, nil
		case "AWS::URLSuffix":
			return "amazonaws.com", nil
		}
		if v, ok := lookup(id); ok {
			return v, nil
		}
		if _, isBucket := resources[id].(map[string]any); isBucket && resources[id].(map[string]any)["Type"] == "AWS::S3::Bucket" {
			if v, ok := lookup(KeyBucket); ok {
				return v, nil
			}
			return DefaultBucket, nil
		}
		return "", fmt.Errorf("no value for Ref %s (pass it in values)", id)
	}
	resolveAtt := func(id, attr string) (string, error) {
		if v, ok := lookup(id + "." + attr); ok {
			return v, nil
		}
		if name, ok := lambdaOf[id]; ok && attr == "Arn" {
			if v, ok := lookup(name); ok {
				return v, nil
			}
			return LambdaARN(name), nil
		}
		return "", fmt.Errorf("no value for Fn::GetAtt %s.%s (pass %q in values)", id, attr, id+"."+attr)
	}
	var flatten func(v any) (string, error)
	flatten = func(v any) (string, error) {
		switch t := v.(type) {
		case string:
			return t, nil
		case map[string]any:
			if ref, ok := t["Ref"].(string); ok {
				return resolveRef(ref)
			}
			if att, ok := t["Fn::GetAtt"].([]any); ok && len(att) == 2 {
				id, _ := att[0].(string)
				attr, _ := att[1].(string)
				return resolveAtt(id, attr)
			}
			if join, ok := t["Fn::Join"].([]any); ok && len(join) == 2 {
				sep, _ := join[0].(string)
				parts, _ := join[1].([]any)
				var out []string
				for _, p := range parts {
					s, err := flatten(p)
					if err != nil {
						return "", err
					}
					out = append(out, s)
				}
				return strings.Join(out, sep), nil
			}
		}
		return "", fmt.Errorf("unsupported token in DefinitionString: %v", v)
	}
	s, err := flatten(def)
	if err != nil {
		return nil, fmt.Errorf("state machine %s: %w", machines[0], err)
	}
	var asl map[string]any
	if err := json.Unmarshal([]byte(s), &asl); err != nil {
		return nil, fmt.Errorf("state machine %s: resolved definition is not JSON: %w", machines[0], err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(asl); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
