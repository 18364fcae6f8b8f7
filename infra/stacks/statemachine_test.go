package stacks

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/infra/asl"
	fd "github.com/fleetdoctor/fleetdoctor/infra/constructs"
	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

// states collects every state of a definition, nested ones included.
func states(def map[string]any, into map[string]map[string]any) {
	sts, _ := def["States"].(map[string]any)
	for name, s := range sts {
		st := s.(map[string]any)
		into[name] = st
		for _, key := range []string{"ItemProcessor", "Iterator"} {
			if p, ok := st[key].(map[string]any); ok {
				states(p, into)
			}
		}
	}
}

func TestStateMachineDefinition(t *testing.T) {
	s := synth(t)
	b, err := asl.ResolveDefinition(s.hubJSON, map[string]string{asl.KeyBucket: "reports-bucket"})
	if err != nil {
		t.Fatal(err)
	}
	raw := string(b)
	for _, banned := range []string{"JSONata", `"Arguments"`, `"Assign"`, `"Output"`, `"QueryLanguage"`} {
		if strings.Contains(raw, banned) {
			t.Errorf("definition uses %s; it must be JSONPath only (aws-local-stepfunctions)", banned)
		}
	}
	var def map[string]any
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	if def["StartAt"] != service.StateValidateInput {
		t.Errorf("StartAt = %v", def["StartAt"])
	}
	all := map[string]map[string]any{}
	states(def, all)
	want := []string{
		service.StateValidateInput, service.StateInputRejected, service.StateResolveTargets, service.StateDiscoverMap,
		service.StateDiscover, service.StateDiscoverFailed, service.StateChooseDiagnose, service.StatePlanDiagnosis,
		service.StateDiagnoseMap, service.StateDiagnoseBatch, service.StateDiagnoseFailed, service.StateChooseRemediate,
		service.StatePlanRemediation, service.StateChooseApply, service.StateRemediateMap, service.StateRemediateBatch,
		service.StateRemediateFailed, service.StateReport, service.StateReportFailed, service.StateSucceeded,
	}
	for _, name := range want {
		if all[name] == nil {
			t.Errorf("state %s missing", name)
		}
	}
	if len(all) != len(want) {
		t.Errorf("definition has %d states, the contract %d", len(all), len(want))
	}
	// Every Task invokes a fleetdoctor Lambda and retries its service
	// errors; only the Lambda's own errors are caught.
	tasks := 0
	for name, st := range all {
		if st["Type"] != "Task" {
			continue
		}
		tasks++
		if r, _ := st["Resource"].(string); !strings.HasPrefix(r, "arn:aws:lambda:us-east-1:111111111111:function:fleetdoctor-") {
			t.Errorf("%s: Resource %q is not a resolved Lambda ARN", name, r)
		}
		retried := map[string]bool{}
		for _, r := range st["Retry"].([]any) {
			for _, e := range r.(map[string]any)["ErrorEquals"].([]any) {
				retried[e.(string)] = true
			}
		}
		for _, e := range fd.LambdaRetryErrors {
			if !retried[e] {
				t.Errorf("%s does not retry %s", name, e)
			}
		}
		if retried[service.ErrorInvalidInput] || retried["States.ALL"] {
			t.Errorf("%s retries %v; invalid input must fail at once", name, retried)
		}
	}
	if tasks != 11 {
		t.Errorf("%d Task states, want 11", tasks)
	}
	catch := func(state, err, next string) {
		t.Helper()
		for _, c := range toSlice(all[state]["Catch"]) {
			c := c.(map[string]any)
			if slices.Contains(toSlice(c["ErrorEquals"]), any(err)) && c["Next"] == next {
				return
			}
		}
		t.Errorf("%s does not catch %s into %s (Catch %v)", state, err, next, all[state]["Catch"])
	}
	catch(service.StateValidateInput, service.ErrorInvalidInput, service.StateInputRejected)
	catch(service.StateDiscover, "States.ALL", service.StateDiscoverFailed)
	catch(service.StateDiagnoseBatch, "States.ALL", service.StateDiagnoseFailed)
	catch(service.StateRemediateBatch, "States.ALL", service.StateRemediateFailed)
	catch(service.StateReport, "States.ALL", service.StateReportFailed)
	for _, f := range []string{service.StateInputRejected, service.StateReportFailed} {
		if all[f]["Type"] != "Fail" || all[f]["ErrorPath"] != "$.error.Error" || all[f]["CausePath"] != "$.error.Cause" {
			t.Errorf("%s = %v, want a Fail taking Error/Cause from the caught error", f, all[f])
		}
	}
	v := all[service.StateValidateInput]["Parameters"].(map[string]any)
	if v["action"] != "validate" || v["input.$"] != "$" || v["executionName.$"] != "$$.Execution.Name" {
		t.Errorf("ValidateInput parameters = %v", v)
	}

	// The Distributed Map reads the targets file and returns nothing.
	dm := all[service.StateDiscoverMap]
	proc := dm["ItemProcessor"].(map[string]any)["ProcessorConfig"].(map[string]any)
	reader, _ := dm["ItemReader"].(map[string]any)
	params, _ := reader["Parameters"].(map[string]any)
	if proc["Mode"] != "DISTRIBUTED" || reader["Resource"] != "arn:aws:states:::s3:getObject" ||
		params["Key.$"] != "$.targets.key" || params["Bucket"] != "reports-bucket" {
		t.Errorf("discover map: processor %v, reader %v", proc, reader)
	}
	if _, ok := dm["ResultPath"]; !ok || dm["ResultPath"] != nil {
		t.Errorf("discover map ResultPath = %v, want null", dm["ResultPath"])
	}
	if dm["MaxConcurrency"] != float64(s.props.MaxConcurrency) || dm["ToleratedFailurePercentage"] != float64(100) {
		t.Errorf("discover map concurrency/tolerance = %v/%v", dm["MaxConcurrency"], dm["ToleratedFailurePercentage"])
	}
	sel := dm["ItemSelector"].(map[string]any)
	if sel["account.$"] != "$$.Map.Item.Value.account" || sel["input.$"] != "$.input" {
		t.Errorf("discover ItemSelector = %v", sel)
	}
	for m, items := range map[string]string{service.StateDiagnoseMap: "$.diagnosis.batches", service.StateRemediateMap: "$.remediation.batches"} {
		if all[m]["ItemsPath"] != items || all[m]["ResultPath"] != nil {
			t.Errorf("%s: ItemsPath %v ResultPath %v", m, all[m]["ItemsPath"], all[m]["ResultPath"])
		}
	}
	if all[service.StateRemediateMap]["MaxConcurrency"] != float64(fd.RemediateMapConcurrency) ||
		all[service.StateDiagnoseMap]["MaxConcurrency"] != float64(fd.DiagnoseMapConcurrency) {
		t.Error("inline map concurrency differs from the constructs' constants")
	}
	// Results land beside $.input so later states can read mode/dryRun.
	for st, path := range map[string]string{service.StateResolveTargets: "$.targets", service.StatePlanDiagnosis: "$.diagnosis",
		service.StatePlanRemediation: "$.remediation", service.StateReport: "$.report"} {
		if all[st]["ResultPath"] != path {
			t.Errorf("%s ResultPath = %v, want %s", st, all[st]["ResultPath"], path)
		}
	}
	apply, _ := json.Marshal(all[service.StateChooseApply])
	for _, want := range []string{`"$.input.dryRun"`, `"BooleanEquals":false`, `"$.remediation.planned"`, `"NumericGreaterThan":0`} {
		if !strings.Contains(string(apply), want) {
			t.Errorf("ApplyRequested lacks %s: %s", want, apply)
		}
	}
	if all[service.StateChooseApply]["Default"] != service.StateReport || all[service.StateChooseDiagnose]["Default"] != service.StateReport {
		t.Error("Choice defaults must go to Report")
	}
}

func toSlice(v any) []any { s, _ := v.([]any); return s }
