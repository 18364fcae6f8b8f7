package automation_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/automation"
)

// env is a store over fleetdoctor's documents plus test runbooks.
type env struct {
	t     *testing.T
	aws   *fakeAWS
	clock *fakeClock
	cmd   *fakeCommander
	store *automation.Store
	extra map[string][]byte
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, aws: newFakeAWS(), clock: newFakeClock(), cmd: &fakeCommander{status: "Success"}, extra: map[string][]byte{}}
	docs := func(name string) ([]byte, bool) {
		if b, ok := e.extra[name]; ok {
			return b, true
		}
		b, err := documents.Read(name)
		return b, err == nil
	}
	e.store = automation.NewStore("111122223333", "eu-west-1", docs, e.aws, e.cmd, e.clock)
	t.Cleanup(e.store.Close)
	return e
}

// start starts an execution and fails the test if the start is refused.
func (e *env) start(doc string, params map[string][]string) string {
	e.t.Helper()
	out, err := e.store.StartAutomationExecution(context.Background(), &ssm.StartAutomationExecutionInput{DocumentName: aws.String(doc), Parameters: params})
	if err != nil {
		e.t.Fatalf("StartAutomationExecution(%s): %v", doc, err)
	}
	return aws.ToString(out.AutomationExecutionId)
}

// run starts an execution and returns it once it is terminal.
func (e *env) run(doc string, params map[string][]string) *types.AutomationExecution {
	e.t.Helper()
	return e.finish(e.start(doc, params))
}

func (e *env) finish(id string) *types.AutomationExecution {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.store.Wait(ctx, id); err != nil {
		e.t.Fatalf("Wait(%s): %v", id, err)
	}
	out, err := e.store.GetAutomationExecution(context.Background(), &ssm.GetAutomationExecutionInput{AutomationExecutionId: aws.String(id)})
	if err != nil {
		e.t.Fatalf("GetAutomationExecution: %v", err)
	}
	return out.AutomationExecution
}

func requireStatus(t *testing.T, x *types.AutomationExecution, want types.AutomationExecutionStatus) {
	t.Helper()
	if x.AutomationExecutionStatus != want {
		t.Fatalf("execution status = %s, want %s; failure: %s\nsteps:\n%s", x.AutomationExecutionStatus, want, aws.ToString(x.FailureMessage), describeSteps(x))
	}
}

func describeSteps(x *types.AutomationExecution) string {
	var b strings.Builder
	for _, s := range x.StepExecutions {
		fmt.Fprintf(&b, "  %s %s %s", aws.ToString(s.StepName), s.StepStatus, aws.ToString(s.FailureMessage))
		if p := s.ParentStepDetails; p != nil {
			fmt.Fprintf(&b, " [iteration %d %s]", aws.ToInt32(p.Iteration), aws.ToString(p.IteratorValue))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// stepRuns returns the step executions of a step, in order.
func stepRuns(x *types.AutomationExecution, name string) []types.StepExecution {
	var out []types.StepExecution
	for _, s := range x.StepExecutions {
		if aws.ToString(s.StepName) == name {
			out = append(out, s)
		}
	}
	return out
}

// iterated returns the iterator values a loop's inner step ran for.
func iterated(x *types.AutomationExecution, name string) []string {
	var out []string
	for _, s := range stepRuns(x, name) {
		out = append(out, aws.ToString(s.ParentStepDetails.IteratorValue))
	}
	return out
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestDocumentsParseAndConstrainEveryParameter(t *testing.T) {
	var runbooks int
	for _, name := range documents.Names() {
		kind, err := documents.Kind(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if kind != documents.TypeAutomation {
			continue
		}
		runbooks++
		b, _ := documents.Read(name)
		rb, err := automation.Parse(b)
		if err != nil {
			t.Fatalf("%s does not parse: %v", name, err)
		}
		if len(rb.Parameters) == 0 {
			t.Errorf("%s has no parameters", name)
		}
		for _, p := range rb.Parameters {
			// DESIGN §7: every parameter is constrained.
			if p.AllowedPattern == "" && len(p.AllowedValues) == 0 {
				t.Errorf("%s: parameter %s has neither allowedPattern nor allowedValues", name, p.Name)
			}
		}
		if rb.Parameter("AutomationAssumeRole") == nil || !strings.Contains(rb.AssumeRole, "AutomationAssumeRole") {
			t.Errorf("%s: assumeRole should come from the AutomationAssumeRole parameter", name)
		}
	}
	// The 4 the checks name, and FleetDoctor-TroubleshootInstance.
	if runbooks != 5 {
		t.Fatalf("found %d Automation runbooks, want the 4 the checks name and FleetDoctor-TroubleshootInstance", runbooks)
	}
}

func TestSetMetadataOptionsRequiresTokensOnEachInstance(t *testing.T) {
	e := newEnv(t)
	ids := []string{"i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa3"}
	for _, id := range ids {
		e.aws.addInstance(id, "running", "optional", 1)
	}
	e.aws.applyAfter = 2 // two reads pending before applied
	x := e.run("FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": ids, "HttpTokens": {"required"}})
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	for _, id := range ids {
		got := e.aws.instance(id)
		if got.tokens != "required" || got.hop != 1 || got.endpoint != "enabled" || got.optState != "applied" {
			t.Errorf("%s after the runbook: %+v; want tokens required, hop limit 1 kept, endpoint enabled kept, applied", id, got)
		}
	}
	if n := e.aws.count("ec2:ModifyInstanceMetadataOptions"); n != 3 {
		t.Errorf("ModifyInstanceMetadataOptions called %d times, want 3 (one per instance)", n)
	}
	if got := iterated(x, "SetHttpTokens"); !slices.Equal(got, ids) {
		t.Errorf("SetHttpTokens ran for %v, want %v", got, ids)
	}
	if got := stepRuns(x, "SetHttpEndpoint"); len(got) != 0 {
		t.Errorf("SetHttpEndpoint ran %d times though HttpEndpoint was left unchanged", len(got))
	}
	waits := stepRuns(x, "WaitForApplied")
	if len(waits) != 3 || waits[0].StepStatus != types.AutomationExecutionStatusSuccess {
		t.Fatalf("WaitForApplied ran %d times: %s", len(waits), describeSteps(x))
	}
	// The waits polled: the fake stays pending for two reads.
	if e.clock.total() < automation.PollInterval {
		t.Errorf("the clock advanced %v; the wait should have polled at least once", e.clock.total())
	}
	verify := stepRuns(x, "VerifyInstance")
	if len(verify) != 3 || !slices.Equal(verify[2].Outputs["HttpTokens"], []string{"required"}) || !slices.Equal(verify[2].Outputs["State"], []string{"applied"}) {
		t.Errorf("VerifyInstance outputs: %v", verify)
	}
	before := stepRuns(x, "DescribeInstance")
	if len(before) != 3 || !slices.Equal(before[0].Outputs["HttpTokens"], []string{"optional"}) || !slices.Equal(before[0].Outputs["HttpPutResponseHopLimit"], []string{"1"}) {
		t.Errorf("DescribeInstance should record the before-values, got %v", before)
	}
	if set := stepRuns(x, "SetHttpTokens"); len(set) != 3 || set[1].Inputs["InstanceId"] != `"`+ids[1]+`"` || set[1].Inputs["Api"] != `"ModifyInstanceMetadataOptions"` {
		t.Errorf("SetHttpTokens recorded as %v", set)
	}
	loop := stepRuns(x, "SetOptionsOnEachInstance")
	if len(loop) != 1 || !slices.Equal(loop[0].Outputs["CurrentIteration"], []string{"3"}) {
		t.Errorf("loop step: %+v", loop)
	}
	if got := x.Outputs["SetOptionsOnEachInstance.CurrentIteration"]; !slices.Equal(got, []string{"3"}) {
		t.Errorf("execution outputs %v", x.Outputs)
	}
	if got := x.Parameters["HttpEndpoint"]; !slices.Equal(got, []string{"unchanged"}) {
		t.Errorf("defaults should show in Parameters, got %v", x.Parameters)
	}
	for _, s := range stepRuns(x, "SetHttpTokens") {
		if p := s.ParentStepDetails; aws.ToString(p.StepName) != "SetOptionsOnEachInstance" || aws.ToString(p.Action) != "aws:loop" {
			t.Errorf("inner step parent: %+v", p)
		}
	}
}

func TestSetMetadataOptionsChangesOnlyWhatDiffersAndSkipsWaitingOnStoppedInstances(t *testing.T) {
	e := newEnv(t)
	e.aws.addInstance("i-0bbbbbbbbbbbbbbb1", "running", "optional", 1)
	e.aws.addInstance("i-0bbbbbbbbbbbbbbb2", "stopped", "optional", 1)
	e.aws.addInstance("i-0bbbbbbbbbbbbbbb3", "running", "required", 2)
	ids := []string{"i-0bbbbbbbbbbbbbbb1", "i-0bbbbbbbbbbbbbbb2", "i-0bbbbbbbbbbbbbbb3"}
	params := map[string][]string{"InstanceIds": ids, "HttpTokens": {"required"}, "HttpPutResponseHopLimit": {"2"}}
	x := e.run("FleetDoctor-SetMetadataOptions", params)
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	// i-1 and i-2 need tokens and hop limit; i-3 already has both.
	if n := e.aws.count("ec2:ModifyInstanceMetadataOptions"); n != 4 {
		t.Errorf("ModifyInstanceMetadataOptions called %d times, want 4", n)
	}
	if got := iterated(x, "SetHopLimit"); !slices.Equal(got, ids[:2]) {
		t.Errorf("SetHopLimit ran for %v", got)
	}
	if got := iterated(x, "WaitForApplied"); !slices.Equal(got, []string{ids[0], ids[2]}) {
		t.Errorf("WaitForApplied ran for %v; a stopped instance is not waited for", got)
	}
	if got := e.aws.instance(ids[1]); got.tokens != "required" || got.hop != 2 || got.optState != "pending" {
		t.Errorf("stopped instance: %+v (options set, applied at next start)", got)
	}
	// A rerun changes nothing.
	before := e.aws.count("ec2:ModifyInstanceMetadataOptions")
	requireStatus(t, e.run("FleetDoctor-SetMetadataOptions", params), types.AutomationExecutionStatusSuccess)
	if n := e.aws.count("ec2:ModifyInstanceMetadataOptions") - before; n != 0 {
		t.Errorf("a rerun made %d modify calls, want 0", n)
	}
}

func TestSetMetadataOptionsWaitTimesOutOnTheClock(t *testing.T) {
	e := newEnv(t)
	e.aws.addInstance("i-0ccccccccccccccc1", "running", "optional", 1)
	e.aws.neverApply = true
	x := e.run("FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {"i-0ccccccccccccccc1"}, "HttpTokens": {"required"}})
	requireStatus(t, x, types.AutomationExecutionStatusTimedout)
	w := stepRuns(x, "WaitForApplied")
	if len(w) != 1 || w[0].StepStatus != types.AutomationExecutionStatusTimedout {
		t.Fatalf("WaitForApplied: %s", describeSteps(x))
	}
	if got := e.clock.total(); got != 300*time.Second {
		t.Errorf("the wait slept %v on the clock, want its 300s timeout", got)
	}
	msg := aws.ToString(x.FailureMessage)
	for _, want := range []string{"SetOptionsOnEachInstance", "WaitForApplied", "i-0ccccccccccccccc1", "pending"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message %q does not mention %q", msg, want)
		}
	}
	if len(stepRuns(x, "VerifyInstance")) != 0 {
		t.Errorf("steps after the timed-out one ran")
	}
}

func TestAttachInstanceProfile(t *testing.T) {
	e := newEnv(t)
	ids := []string{"i-0ddddddddddddddd1", "i-0ddddddddddddddd2", "i-0ddddddddddddddd3"}
	for _, id := range ids {
		e.aws.addInstance(id, "running", "required", 2)
	}
	x := e.run("FleetDoctor-AttachInstanceProfile", map[string][]string{"InstanceIds": ids, "InstanceProfileName": {"FleetDoctorSSM"}})
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	for _, id := range ids {
		if got := e.aws.instance(id).profile; got != "FleetDoctorSSM" {
			t.Errorf("%s profile = %q", id, got)
		}
	}
	if n := e.aws.count("ec2:AssociateIamInstanceProfile"); n != 3 {
		t.Errorf("AssociateIamInstanceProfile called %d times", n)
	}
	for _, s := range stepRuns(x, "AssociateProfile") {
		if id := s.Outputs["AssociationId"]; len(id) != 1 || !strings.HasPrefix(id[0], "iip-assoc-") {
			t.Errorf("AssociateProfile outputs %v", s.Outputs)
		}
	}

	// An instance that already has a profile stops the execution there.
	x = e.run("FleetDoctor-AttachInstanceProfile", map[string][]string{"InstanceIds": ids[:1], "InstanceProfileName": {"Other"}})
	requireStatus(t, x, types.AutomationExecutionStatusFailed)
	msg := aws.ToString(x.FailureMessage)
	if !strings.Contains(msg, "AssociateProfile") || !strings.Contains(msg, "IncorrectState") {
		t.Errorf("failure message %q should name the step and the EC2 error", msg)
	}
	if e.aws.instance(ids[0]).profile != "FleetDoctorSSM" {
		t.Error("an existing profile was replaced")
	}
}

func TestEnableDHMC(t *testing.T) {
	e := newEnv(t)
	role := "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
	x := e.run("FleetDoctor-EnableDHMC", map[string][]string{"RoleName": {role}})
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	if e.aws.dhmc != role {
		t.Fatalf("DHMC setting = %q", e.aws.dhmc)
	}
	if got := x.Outputs["GetCurrentSetting.PreviousValue"]; !slices.Equal(got, []string{"$None"}) {
		t.Errorf("PreviousValue output %v, want the before-value $None", got)
	}
	if len(stepRuns(x, "VerifySetting")) != 1 || stepRuns(x, "VerifySetting")[0].StepStatus != types.AutomationExecutionStatusSuccess {
		t.Errorf("VerifySetting: %s", describeSteps(x))
	}
	// Already set: the branch skips the update.
	x = e.run("FleetDoctor-EnableDHMC", map[string][]string{"RoleName": {role}})
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	if n := e.aws.count("ssm:UpdateServiceSetting"); n != 1 {
		t.Errorf("UpdateServiceSetting called %d times over two runs, want 1", n)
	}
	if len(stepRuns(x, "UpdateSetting")) != 0 {
		t.Error("the second run updated the setting again")
	}
}

func TestSetAccountMetadataDefaults(t *testing.T) {
	e := newEnv(t)
	x := e.run("FleetDoctor-SetAccountMetadataDefaults", nil) // defaults: required, hop 2
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	if e.aws.defTokens != "required" || e.aws.defHop != 2 {
		t.Fatalf("account defaults = %q / %d", e.aws.defTokens, e.aws.defHop)
	}
	if got := x.Outputs["ModifyDefaults.Return"]; !slices.Equal(got, []string{"true"}) {
		t.Errorf("outputs %v", x.Outputs)
	}
	x = e.run("FleetDoctor-SetAccountMetadataDefaults", map[string][]string{"HttpTokens": {"optional"}, "HttpPutResponseHopLimit": {"3"}})
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	if e.aws.defTokens != "optional" || e.aws.defHop != 3 {
		t.Fatalf("account defaults = %q / %d", e.aws.defTokens, e.aws.defHop)
	}
}

// runbook builds a test runbook around its steps.
func runbook(params, steps string) []byte {
	return []byte("schemaVersion: '0.3'\nparameters:\n" + params + "\nmainSteps:\n" + steps)
}

const idsParam = `  InstanceIds:
    type: StringList
    allowedPattern: '^i-[0-9a-f]{8,17}$'`

func TestMisspelledAPIFailsTheStep(t *testing.T) {
	e := newEnv(t)
	e.aws.addInstance("i-0eeeeeeeeeeeeeee1", "running", "optional", 1)
	e.extra["Typo"] = runbook(idsParam, `  - name: Modify
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: ModifyInstanceMetadataOptons
      InstanceId: '{{ InstanceIds }}'
      HttpTokens: required
`)
	x := e.run("Typo", map[string][]string{"InstanceIds": {"i-0eeeeeeeeeeeeeee1"}})
	requireStatus(t, x, types.AutomationExecutionStatusFailed)
	msg := aws.ToString(x.FailureMessage)
	if !strings.Contains(msg, "Modify") || !strings.Contains(msg, "InvalidAction") || !strings.Contains(msg, "ModifyInstanceMetadataOptons") {
		t.Errorf("failure message %q should name the step, the error code and the API", msg)
	}
	if s := stepRuns(x, "Modify"); len(s) != 1 || s[0].StepStatus != types.AutomationExecutionStatusFailed {
		t.Errorf("step: %s", describeSteps(x))
	}
}

func TestWrongInputNameFailsTheStep(t *testing.T) {
	e := newEnv(t)
	e.aws.addInstance("i-0eeeeeeeeeeeeeee2", "running", "optional", 1)
	e.extra["WrongInput"] = runbook(idsParam, `  - name: Modify
    action: aws:loop
    inputs:
      Iterators: '{{ InstanceIds }}'
      Steps:
        - name: ModifyOne
          action: aws:executeAwsApi
          inputs:
            Service: ec2
            Api: ModifyInstanceMetadataOptions
            InstanceID: '{{ Modify.CurrentIteratorValue }}'
            HttpTokens: required
`)
	x := e.run("WrongInput", map[string][]string{"InstanceIds": {"i-0eeeeeeeeeeeeeee2"}})
	requireStatus(t, x, types.AutomationExecutionStatusFailed)
	msg := aws.ToString(x.FailureMessage)
	for _, want := range []string{"ModifyOne", "InstanceID", "iteration 1 (i-0eeeeeeeeeeeeeee2)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message %q does not mention %q", msg, want)
		}
	}
	if e.aws.instance("i-0eeeeeeeeeeeeeee2").tokens != "optional" {
		t.Error("the instance changed though the call was refused")
	}
}

func TestStartValidatesParameters(t *testing.T) {
	e := newEnv(t)
	var many []string
	for i := range 101 {
		many = append(many, fmt.Sprintf("i-%017x", i))
	}
	cases := []struct {
		name   string
		doc    string
		params map[string][]string
		code   string
		want   []string
	}{
		{"bad instance id", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {"i-0123456789abcdef0", "sg-123"}}, "InvalidAutomationExecutionParametersException", []string{"InstanceIds", "sg-123", "allowedPattern"}},
		{"101 ids", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": many}, "InvalidAutomationExecutionParametersException", []string{"InstanceIds", "101", "maxItems"}},
		{"no ids", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {}}, "InvalidAutomationExecutionParametersException", []string{"InstanceIds", "minItems"}},
		{"missing required", "FleetDoctor-SetMetadataOptions", map[string][]string{"HttpTokens": {"required"}}, "InvalidAutomationExecutionParametersException", []string{"InstanceIds", "required"}},
		{"value not allowed", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {"i-0123456789abcdef0"}, "HttpTokens": {"maybe"}}, "InvalidAutomationExecutionParametersException", []string{"HttpTokens", "maybe"}},
		{"hop limit out of range", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {"i-0123456789abcdef0"}, "HttpPutResponseHopLimit": {"65"}}, "InvalidAutomationExecutionParametersException", []string{"HttpPutResponseHopLimit", "65"}},
		{"hop limit not an integer", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {"i-0123456789abcdef0"}, "HttpPutResponseHopLimit": {"two"}}, "InvalidAutomationExecutionParametersException", []string{"HttpPutResponseHopLimit", "Integer"}},
		{"two values for a String", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {"i-0123456789abcdef0"}, "HttpTokens": {"required", "optional"}}, "InvalidAutomationExecutionParametersException", []string{"HttpTokens", "exactly one"}},
		{"unknown parameter", "FleetDoctor-SetMetadataOptions", map[string][]string{"InstanceIds": {"i-0123456789abcdef0"}, "HttpToken": {"required"}}, "InvalidAutomationExecutionParametersException", []string{"HttpToken"}},
		{"bad role", "FleetDoctor-EnableDHMC", map[string][]string{"RoleName": {"x"}, "AutomationAssumeRole": {"not-an-arn"}}, "InvalidAutomationExecutionParametersException", []string{"AutomationAssumeRole"}},
		{"unknown document", "FleetDoctor-NoSuchRunbook", nil, "AutomationDefinitionNotFoundException", []string{"FleetDoctor-NoSuchRunbook"}},
		{"command document", "Command", nil, "AutomationDefinitionNotFoundException", []string{"Command document"}},
		{"broken runbook", "Broken", nil, "InvalidDocumentContent", []string{"Broken", "NoSuchParam"}},
	}
	e.extra["Command"] = []byte("schemaVersion: '2.2'\nmainSteps:\n  - action: aws:runShellScript\n    name: x\n    inputs: {runCommand: [id]}\n")
	e.extra["Broken"] = runbook(idsParam, "  - name: S\n    action: aws:sleep\n    inputs:\n      Duration: '{{ NoSuchParam }}'\n")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.store.StartAutomationExecution(context.Background(), &ssm.StartAutomationExecutionInput{DocumentName: aws.String(c.doc), Parameters: c.params})
			if apiCode(err) != c.code {
				t.Fatalf("error %v, want code %s", err, c.code)
			}
			var ae *smithy.GenericAPIError
			if !errors.As(err, &ae) || ae.Fault != smithy.FaultClient {
				t.Errorf("error %T is not a client-fault *smithy.GenericAPIError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if n := len(e.aws.calls); n != 0 {
		t.Errorf("refused starts made %d API calls", n)
	}
}

func TestConcurrentExecutionLimit(t *testing.T) {
	e := newEnv(t)
	e.aws.block, e.aws.blocked = make(chan struct{}), make(chan struct{}, automation.MaxConcurrentExecutions)
	e.extra["Block"] = runbook("  Tag:\n    type: String\n    default: x\n    allowedPattern: '^x$'", `  - name: Block
    action: aws:executeAwsApi
    inputs:
      Service: test
      Api: Block
`)
	var ids []string
	for range automation.MaxConcurrentExecutions {
		ids = append(ids, e.start("Block", nil))
	}
	for range ids {
		<-e.aws.blocked // every execution is inside its step
	}
	_, err := e.store.StartAutomationExecution(context.Background(), &ssm.StartAutomationExecutionInput{DocumentName: aws.String("Block")})
	if apiCode(err) != "AutomationExecutionLimitExceededException" {
		t.Fatalf("101st start: %v, want AutomationExecutionLimitExceededException", err)
	}
	got, err := e.store.GetAutomationExecution(context.Background(), &ssm.GetAutomationExecutionInput{AutomationExecutionId: aws.String(ids[0])})
	if err != nil || got.AutomationExecution.AutomationExecutionStatus != types.AutomationExecutionStatusInprogress ||
		aws.ToString(got.AutomationExecution.CurrentStepName) != "Block" {
		t.Fatalf("a blocked execution: %+v, %v", got, err)
	}
	close(e.aws.block)
	for _, id := range ids {
		requireStatus(t, e.finish(id), types.AutomationExecutionStatusSuccess)
	}
	// Capacity is back.
	e.aws.block = make(chan struct{})
	close(e.aws.block)
	requireStatus(t, e.run("Block", nil), types.AutomationExecutionStatusSuccess)
}

func TestStopCancelsARunningExecution(t *testing.T) {
	e := newEnv(t)
	e.aws.block, e.aws.blocked = make(chan struct{}), make(chan struct{}, 1)
	e.extra["Block"] = runbook("  Tag:\n    type: String\n    default: x", `  - name: Block
    action: aws:executeAwsApi
    inputs:
      Service: test
      Api: Block
  - name: After
    action: aws:sleep
    inputs:
      Duration: PT1S
`)
	id := e.start("Block", nil)
	<-e.aws.blocked
	if _, err := e.store.StopAutomationExecution(context.Background(), &ssm.StopAutomationExecutionInput{AutomationExecutionId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	x := e.finish(id)
	requireStatus(t, x, types.AutomationExecutionStatusCancelled)
	if s := stepRuns(x, "Block"); len(s) != 1 || s[0].StepStatus != types.AutomationExecutionStatusCancelled {
		t.Errorf("steps: %s", describeSteps(x))
	}
	if len(stepRuns(x, "After")) != 0 {
		t.Error("a step ran after the cancel")
	}
	_, err := e.store.StopAutomationExecution(context.Background(), &ssm.StopAutomationExecutionInput{AutomationExecutionId: aws.String(id)})
	if apiCode(err) != "InvalidAutomationStatusUpdateException" {
		t.Errorf("stopping a finished execution: %v", err)
	}
}

func TestUnknownExecutionID(t *testing.T) {
	e := newEnv(t)
	_, err := e.store.GetAutomationExecution(context.Background(), &ssm.GetAutomationExecutionInput{AutomationExecutionId: aws.String("11111111-2222-3333-4444-555555555555")})
	if apiCode(err) != "AutomationExecutionNotFoundException" {
		t.Fatalf("got %v", err)
	}
	if err := e.store.Wait(context.Background(), "nope"); apiCode(err) != "AutomationExecutionNotFoundException" {
		t.Fatalf("Wait: %v", err)
	}
}

const markerSteps = `  - name: StepA
    action: aws:sleep
    isEnd: true
    inputs:
      Duration: PT1S
  - name: StepB
    action: aws:sleep
    isEnd: true
    inputs:
      Duration: PT2S
  - name: StepC
    action: aws:sleep
    isEnd: true
    inputs:
      Duration: PT3S
  - name: StepD
    action: aws:sleep
    inputs:
      Duration: PT4S
`

func TestBranchRoutes(t *testing.T) {
	e := newEnv(t)
	e.extra["Branch"] = runbook(`  Word:
    type: String
    allowedPattern: '^[a-z]*$'
  Count:
    type: Integer
    default: 0
    allowedPattern: '^[0-9]+$'
  Flag:
    type: Boolean
    default: false
    allowedValues: ['true', 'false']
  Items:
    type: StringList
    default: []`, `  - name: Choose
    action: aws:branch
    inputs:
      Choices:
        - NextStep: StepA
          Or:
            - Variable: '{{ Word }}'
              StringEquals: alpha
            - Variable: '{{ Items }}'
              Contains: magic
        - NextStep: StepB
          And:
            - Variable: '{{ Word }}'
              StartsWith: b
            - Not:
                Variable: '{{ Word }}'
                EndsWith: x
        - NextStep: StepC
          And:
            - Variable: '{{ Count }}'
              NumericGreater: 10
            - Variable: '{{ Flag }}'
              BooleanEquals: true
      Default: StepD
`+markerSteps)
	cases := []struct {
		params map[string][]string
		want   string
	}{
		{map[string][]string{"Word": {"alpha"}}, "StepA"},
		{map[string][]string{"Word": {"zzz"}, "Items": {"x", "magic"}}, "StepA"},
		{map[string][]string{"Word": {"beta"}}, "StepB"},
		{map[string][]string{"Word": {"box"}}, "StepD"},
		{map[string][]string{"Word": {"c"}, "Count": {"11"}, "Flag": {"true"}}, "StepC"},
		{map[string][]string{"Word": {"c"}, "Count": {"10"}, "Flag": {"true"}}, "StepD"},
		{map[string][]string{"Word": {"c"}, "Count": {"11"}, "Flag": {"false"}}, "StepD"},
	}
	for _, c := range cases {
		x := e.run("Branch", c.params)
		requireStatus(t, x, types.AutomationExecutionStatusSuccess)
		var ran []string
		for _, s := range x.StepExecutions {
			ran = append(ran, aws.ToString(s.StepName))
		}
		if !slices.Equal(ran, []string{"Choose", c.want}) {
			t.Errorf("%v ran %v, want [Choose %s]", c.params, ran, c.want)
		}
	}
}

func TestOnFailure(t *testing.T) {
	e := newEnv(t)
	fails := func(extra string) string {
		return `  - name: Broken
    action: aws:executeAwsApi
` + extra + `    inputs:
      Service: ec2
      Api: NoSuchApi
  - name: Next
    action: aws:sleep
    isEnd: true
    inputs:
      Duration: PT1S
  - name: Cleanup
    action: aws:sleep
    inputs:
      Duration: PT2S
`
	}
	param := "  Tag:\n    type: String\n    default: x"
	cases := []struct {
		name   string
		extra  string
		status types.AutomationExecutionStatus
		ran    []string
	}{
		{"abort is the default", "", types.AutomationExecutionStatusFailed, []string{"Broken"}},
		{"continue runs on but a critical failure fails the execution", "    onFailure: Continue\n", types.AutomationExecutionStatusFailed, []string{"Broken", "Next"}},
		{"continue past a non-critical step succeeds", "    onFailure: Continue\n    isCritical: false\n", types.AutomationExecutionStatusSuccess, []string{"Broken", "Next"}},
		{"step: jumps to the named step", "    onFailure: step:Cleanup\n", types.AutomationExecutionStatusFailed, []string{"Broken", "Cleanup"}},
		{"retries", "    maxAttempts: 3\n", types.AutomationExecutionStatusFailed, []string{"Broken"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("OnFailure%d", i)
			e.extra[name] = runbook(param, fails(c.extra))
			before := e.aws.count("ec2:NoSuchApi")
			x := e.run(name, nil)
			requireStatus(t, x, c.status)
			var ran []string
			for _, s := range x.StepExecutions {
				ran = append(ran, aws.ToString(s.StepName))
			}
			if !slices.Equal(ran, c.ran) {
				t.Errorf("ran %v, want %v", ran, c.ran)
			}
			if c.status == types.AutomationExecutionStatusFailed && !strings.Contains(aws.ToString(x.FailureMessage), "Broken") {
				t.Errorf("failure message %q does not name the failed step", aws.ToString(x.FailureMessage))
			}
			if c.name == "retries" {
				if n := e.aws.count("ec2:NoSuchApi") - before; n != 3 {
					t.Errorf("tried %d times, want maxAttempts 3", n)
				}
			}
		})
	}
}

func TestThrottledCallsAreRetried(t *testing.T) {
	e := newEnv(t)
	e.aws.throttle = 2
	x := e.run("FleetDoctor-SetAccountMetadataDefaults", nil)
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	if n := e.aws.count("ec2:ModifyInstanceMetadataDefaults"); n != 3 {
		t.Errorf("ModifyInstanceMetadataDefaults called %d times, want 2 throttled + 1", n)
	}
	if e.clock.total() != 3*time.Second {
		t.Errorf("backed off %v, want 1s + 2s", e.clock.total())
	}
}

func TestRunCommandAndSleepAndLoopCondition(t *testing.T) {
	e := newEnv(t)
	e.extra["Cmd"] = runbook(idsParam, `  - name: Repeat
    action: aws:loop
    inputs:
      MaxIterations: 5
      LoopCondition:
        Variable: '{{ Repeat.CurrentIteration }}'
        NumericLesser: 3
      Steps:
        - name: Nap
          action: aws:sleep
          inputs:
            Duration: PT1M30S
  - name: Run
    action: aws:runCommand
    inputs:
      DocumentName: FleetDoctor-DiagnoseHost
      InstanceIds: '{{ InstanceIds }}'
      Parameters:
        Mode: quick
        Run: '{{ automation:EXECUTION_ID }}'
  - name: Check
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Done
          Variable: '{{ Run.Status }}'
          StringEquals: Success
  - name: Unreached
    action: aws:sleep
    isEnd: true
    inputs:
      Duration: PT1S
  - name: Done
    action: aws:sleep
    inputs:
      Timestamp: '2025-06-01T12:10:00Z'
`)
	id := e.start("Cmd", map[string][]string{"InstanceIds": {"i-0fffffffffffffff1", "i-0fffffffffffffff2"}})
	x := e.finish(id)
	requireStatus(t, x, types.AutomationExecutionStatusSuccess)
	if n := len(stepRuns(x, "Nap")); n != 3 {
		t.Errorf("the do-while loop ran %d times, want 3", n)
	}
	want := fmt.Sprintf("FleetDoctor-DiagnoseHost [i-0fffffffffffffff1 i-0fffffffffffffff2] map[Mode:[quick] Run:[%s]]", id)
	if len(e.cmd.calls) != 1 || e.cmd.calls[0] != want {
		t.Errorf("commands %v, want [%s]", e.cmd.calls, want)
	}
	if len(stepRuns(x, "Unreached")) != 0 {
		t.Error("the branch did not route on the command status")
	}
	// 3 × 90s of naps, then sleep until 12:10 (the clock started at 12:00).
	if got := e.clock.total(); got != 10*time.Minute {
		t.Errorf("slept %v, want 10m", got)
	}

	e.cmd.status = "Failed"
	x = e.run("Cmd", map[string][]string{"InstanceIds": {"i-0fffffffffffffff1"}})
	requireStatus(t, x, types.AutomationExecutionStatusFailed)
	if !strings.Contains(aws.ToString(x.FailureMessage), "Run (aws:runCommand)") {
		t.Errorf("failure message %q", aws.ToString(x.FailureMessage))
	}
}

func TestClientTokenIsIdempotent(t *testing.T) {
	e := newEnv(t)
	start := func(tokens string) (string, error) {
		out, err := e.store.StartAutomationExecution(context.Background(), &ssm.StartAutomationExecutionInput{
			DocumentName: aws.String("FleetDoctor-SetAccountMetadataDefaults"), ClientToken: aws.String("3f1c7a9e-0000-4000-8000-000000000001"),
			Parameters: map[string][]string{"HttpTokens": {tokens}}})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.AutomationExecutionId), nil
	}
	a, err := start("required")
	if err != nil {
		t.Fatal(err)
	}
	b, err := start("required")
	if err != nil || a != b {
		t.Fatalf("retry with the same token: %q, %v; want %q", b, err, a)
	}
	if _, err := start("optional"); apiCode(err) != "IdempotentParameterMismatch" {
		t.Fatalf("same token, other parameters: %v", err)
	}
	e.finish(a)
}
