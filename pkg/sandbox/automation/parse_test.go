package automation_test

import (
	"strings"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/documents"
	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/automation"
)

const goodSteps = `  - name: Describe
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: DescribeInstances
      InstanceIds: '{{ InstanceIds }}'
    outputs:
      - Name: State
        Selector: $.Reservations[0].Instances[0].State.Name
        Type: String
  - name: Each
    action: aws:loop
    inputs:
      Iterators: '{{ InstanceIds }}'
      Steps:
        - name: Inner
          action: aws:executeAwsApi
          inputs:
            Service: ec2
            Api: DescribeInstances
            InstanceIds: ['{{ Each.CurrentIteratorValue }}']
            Note: 'run {{ automation:EXECUTION_ID }} in {{ global:REGION }} saw {{ Describe.State }}'
`

func TestParseAcceptsAGoodRunbook(t *testing.T) {
	rb, err := automation.Parse(runbook(idsParam, goodSteps))
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.MainSteps) != 2 || len(rb.MainSteps[1].Steps) != 1 || rb.MainSteps[0].Outputs[0].Name != "State" {
		t.Fatalf("parsed %+v", rb)
	}
	if s := rb.MainSteps[0]; s.OnFailure != "Abort" || !s.IsCritical || s.MaxAttempts != 1 {
		t.Errorf("step defaults: %+v", s)
	}
}

func TestParseRejects(t *testing.T) {
	step := func(body string) []byte { return runbook(idsParam, goodSteps+body) }
	cases := []struct {
		name string
		doc  []byte
		want string
	}{
		{"undefined output", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: '{{ Describe.NoSuchOutput }}'
`), "NoSuchOutput"},
		{"undefined parameter", step(`  - name: Use
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: DescribeInstances
      InstanceIds: '{{ InstanceIdz }}'
`), "InstanceIdz"},
		{"undefined parameter in a branch operand", step(`  - name: Use
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Describe
          Variable: '{{ Describe.State }}'
          StringEquals: '{{ Wanted }}'
`), "Wanted"},
		{"unknown step", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: '{{ Nowhere.State }}'
`), "Nowhere"},
		{"iterator outside its loop", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: '{{ Each.CurrentIteratorValue }}'
`), "only defined inside loop Each"},
		{"unknown system variable", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: '{{ global:NOPE }}'
`), "global:NOPE"},
		{"parameter store reference", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: '{{ ssm:/x }}'
`), "Parameter Store"},
		{"unterminated reference", step(`  - name: Use
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: DescribeInstances
      InstanceIds: ['{{ InstanceIds']
`), "unterminated"},
		{"unknown action", step(`  - name: Use
    action: aws:executeScript
    inputs:
      Runtime: python3.11
`), "aws:executeScript"},
		{"missing Api", step(`  - name: Use
    action: aws:executeAwsApi
    inputs:
      Service: ec2
`), "inputs.Api: missing"},
		{"missing inputs", step(`  - name: Use
    action: aws:sleep
`), "inputs: missing"},
		{"nextStep to nowhere", step(`  - name: Use
    action: aws:sleep
    nextStep: Elsewhere
    inputs:
      Duration: PT1S
`), `"Elsewhere" is not a step`},
		{"branch into a loop body", step(`  - name: Use
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Inner
          Variable: '{{ Describe.State }}'
          StringEquals: running
`), `"Inner" is not a step in mainSteps`},
		{"onFailure to nowhere", step(`  - name: Use
    action: aws:sleep
    onFailure: step:Gone
    inputs:
      Duration: PT1S
`), `"Gone"`},
		{"bad onFailure", step(`  - name: Use
    action: aws:sleep
    onFailure: Retry
    inputs:
      Duration: PT1S
`), "onFailure"},
		{"duplicate step", step(`  - name: Inner
    action: aws:sleep
    inputs:
      Duration: PT1S
`), "used twice"},
		{"bad step name", step(`  - name: 'has space'
    action: aws:sleep
    inputs:
      Duration: PT1S
`), "letters, digits or underscores"},
		{"misspelled step field", step(`  - name: Use
    action: aws:sleep
    nextstep: Describe
    inputs:
      Duration: PT1S
`), `unknown field "nextstep"`},
		{"bad selector", step(`  - name: Use
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: DescribeInstances
    outputs:
      - Name: X
        Selector: Reservations[0]
        Type: String
`), "must start with $"},
		{"bad output type", step(`  - name: Use
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: DescribeInstances
    outputs:
      - Name: X
        Selector: $.Reservations
        Type: List
`), `"List"`},
		{"outputs on a sleep", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: PT1S
    outputs:
      - Name: X
        Selector: $.a
        Type: String
`), "outputs"},
		{"wait without DesiredValues", step(`  - name: Use
    action: aws:waitForAwsResourceProperty
    inputs:
      Service: ec2
      Api: DescribeInstances
      PropertySelector: $.a
`), "DesiredValues"},
		{"two operators", step(`  - name: Use
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Describe
          Variable: '{{ Describe.State }}'
          StringEquals: a
          StartsWith: b
`), "exactly one operator"},
		{"unknown choice operator", step(`  - name: Use
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Describe
          Variable: '{{ Describe.State }}'
          Equals: a
`), `"Equals"`},
		{"numeric operator on a word", step(`  - name: Use
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Describe
          Variable: '{{ Describe.State }}'
          NumericEquals: many
`), "must be a number"},
		{"too many iterations", step(`  - name: Use
    action: aws:loop
    inputs:
      Iterators: '{{ InstanceIds }}'
      MaxIterations: 101
      Steps:
        - name: Nap
          action: aws:sleep
          inputs:
            Duration: PT1S
`), "MaxIterations"},
		{"nested loop", step(`  - name: Outer
    action: aws:loop
    inputs:
      Iterators: '{{ InstanceIds }}'
      Steps:
        - name: Inner2
          action: aws:loop
          inputs:
            Iterators: '{{ InstanceIds }}'
            Steps:
              - name: Nap
                action: aws:sleep
                inputs:
                  Duration: PT1S
`), "nested"},
		{"loop with both forms", step(`  - name: Use
    action: aws:loop
    inputs:
      Iterators: '{{ InstanceIds }}'
      LoopCondition:
        Variable: '{{ Use.CurrentIteration }}'
        NumericLesser: 2
      Steps:
        - name: Nap
          action: aws:sleep
          inputs:
            Duration: PT1S
`), "either Iterators"},
		{"bad duration", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: 5 seconds
`), "ISO 8601"},
		{"too long a sleep", step(`  - name: Use
    action: aws:sleep
    inputs:
      Duration: P8D
`), "7 days"},
		{"runCommand with targets", step(`  - name: Use
    action: aws:runCommand
    inputs:
      DocumentName: AWS-RunShellScript
      Targets: [{Key: tag:x, Values: [y]}]
`), "Targets"},
		{"isEnd with nextStep", step(`  - name: Use
    action: aws:sleep
    isEnd: true
    nextStep: Describe
    inputs:
      Duration: PT1S
`), "exclude each other"},
		{"bad timeout", step(`  - name: Use
    action: aws:sleep
    timeoutSeconds: -1
    inputs:
      Duration: PT1S
`), "timeoutSeconds"},
		{"command document", []byte("schemaVersion: '2.2'\nmainSteps:\n  - action: aws:runShellScript\n    name: x\n    inputs: {runCommand: [id]}\n"), `"2.2"`},
		{"numeric schemaVersion", []byte("schemaVersion: 0.3\nmainSteps: []\n"), "quoted"},
		{"unknown top-level field", []byte("schemaVersion: '0.3'\nfiles: {}\nmainSteps: []\n"), `unknown field "files"`},
		{"no steps", []byte("schemaVersion: '0.3'\nmainSteps: []\n"), "mainSteps"},
		{"not a mapping", []byte("- a\n- b\n"), "mapping"},
		{"not YAML", []byte("schemaVersion: '0.3'\n  bad: [\n"), "YAML"},
		{"empty", nil, "empty"},
		{"alias", []byte("schemaVersion: '0.3'\nparameters:\n  A: &a\n    type: String\n  B: *a\nmainSteps: []\n"), "aliases"},
		{"duplicate key", []byte("schemaVersion: '0.3'\nschemaVersion: '0.3'\nmainSteps: []\n"), "twice"},
		{"bad parameter type", runbook("  X:\n    type: Number", goodSteps), `"Number"`},
		{"bad pattern", runbook("  X:\n    type: String\n    allowedPattern: '(['", goodSteps), "allowedPattern"},
		{"default breaks its pattern", runbook(idsParam+"\n  X:\n    type: String\n    default: abc\n    allowedPattern: '^[0-9]+$'", goodSteps), "default"},
		{"minItems on a String", runbook(idsParam+"\n  X:\n    type: String\n    minItems: 1", goodSteps), "minItems"},
		{"runbook output unknown", append(runbook(idsParam, goodSteps), "outputs:\n  - Describe.Nope\n"...), "Nope"},
		{"too big", append(runbook(idsParam, goodSteps), []byte("# "+strings.Repeat("x", automation.MaxDocumentSize))...), "bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb, err := automation.Parse(c.doc)
			if err == nil {
				t.Fatalf("accepted: %+v", rb)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range documents.Names() {
		b, err := documents.Read(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(runbook(idsParam, goodSteps))
	f.Add([]byte(`{"schemaVersion":"0.3","mainSteps":[{"name":"a","action":"aws:sleep","inputs":{"Duration":"PT1S"}}]}`))
	f.Add([]byte("schemaVersion: '0.3'\nmainSteps:\n  - name: b\n    action: aws:branch\n    inputs:\n      Choices:\n        - NextStep: b\n          Not: {Not: {Variable: '{{ global:REGION }}', Contains: eu}}\n"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, err := automation.Parse(data)
		if err != nil {
			return
		}
		if len(rb.MainSteps) == 0 {
			t.Fatal("a parsed runbook has steps")
		}
		seen := map[string]bool{}
		var walk func([]*automation.Step)
		walk = func(steps []*automation.Step) {
			for _, s := range steps {
				if seen[s.Name] {
					t.Fatalf("step name %q twice", s.Name)
				}
				seen[s.Name] = true
				walk(s.Steps)
			}
		}
		walk(rb.MainSteps)
	})
}
