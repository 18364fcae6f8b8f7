// Command asl prints the plain ASL of the state machine in a synthesized
// FleetDoctorHub template:
//
//	go run ./infra/cmd/asl -template cdk.out/FleetDoctorHub.template.json [-bucket NAME] [-lambda name=ARN ...] > statemachine.asl.json
//
// Lambda ARNs default to arn:aws:lambda:us-east-1:111111111111:function:fleetdoctor-<name>.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/infra/asl"
)

type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }

func (p pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	p[k] = v
	return nil
}

func main() {
	values := pairs{}
	template := flag.String("template", "cdk.out/FleetDoctorHub.template.json", "the synthesized hub template")
	bucket := flag.String("bucket", asl.DefaultBucket, "the report bucket's name")
	flag.Var(values, "lambda", "name=ARN of a Lambda (targets, discover, diagnose, remediate, report), or logicalId[.Attr]=value of another token; repeatable")
	flag.Parse()
	if err := run(*template, *bucket, values); err != nil {
		fmt.Fprintln(os.Stderr, "asl:", err)
		os.Exit(1)
	}
}

func run(path, bucket string, values pairs) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var t map[string]any
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	values[asl.KeyBucket] = bucket
	out, err := asl.ResolveDefinition(t, values)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = os.Stdout.Write(out)
	return err
}
