package documents

// A lint for every embedded document, strict enough to catch the mistakes SSM
// only reports at CreateDocument or run time: unknown keys, dangling
// references and jump targets, unconstrained String parameters, AWS API calls
// that do not exist in the SDK, and scripts that shellcheck rejects.

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"gopkg.in/yaml.v3"
)

// maxDocumentBytes is SSM's limit on a document's content (DESIGN §7).
const maxDocumentBytes = 64 * 1024

var (
	identRE   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	refRE     = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	stepRefRE = regexp.MustCompile(`^([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)$`)
	// envRefRE finds $SSM_X, ${SSM_X...} (shell) and $env:SSM_X (PowerShell).
	envRefRE = regexp.MustCompile(`\$(?:\{|env:)?SSM_([A-Za-z0-9_]+)`)
)

var (
	topKeys = map[string][]string{
		TypeAutomation: {"description", "schemaVersion", "assumeRole", "parameters", "mainSteps", "outputs", "files"},
		TypeCommand:    {"description", "schemaVersion", "parameters", "mainSteps"},
	}
	paramKeys = map[string][]string{
		TypeAutomation: {"type", "description", "default", "allowedValues", "allowedPattern", "minItems", "maxItems", "minChars", "maxChars", "displayType"},
		TypeCommand:    {"type", "description", "default", "allowedValues", "allowedPattern", "minItems", "maxItems", "minChars", "maxChars", "displayType", "interpolationType"},
	}
	paramTypes = []string{"String", "StringList", "Integer", "Boolean", "MapList", "StringMap"}

	automationStepKeys = []string{"name", "action", "inputs", "outputs", "onFailure", "onCancel", "isEnd", "nextStep", "isCritical", "maxAttempts", "timeoutSeconds", "description"}
	commandStepKeys    = []string{"action", "name", "inputs", "precondition"}
	scriptInputKeys    = []string{"runCommand", "workingDirectory", "timeoutSeconds"}
	outputTypes        = []string{"String", "Integer", "Boolean", "StringList", "StringMap", "MapList"}

	// The system variables Automation defines (those the sandbox interpreter
	// knows, pkg/sandbox/automation/template.go).
	systemVariables = []string{"global:ACCOUNT_ID", "global:REGION", "global:AWS_PARTITION", "global:DATE", "global:DATE_TIME", "automation:EXECUTION_ID"}

	// builtinOutputs are the outputs an Automation action has without
	// declaring them.
	builtinOutputs = map[string][]string{
		"aws:runCommand":           {"CommandId", "Status", "ResponseCode", "Output"},
		"aws:executeAutomation":    {"ExecutionId", "Status", "Output"},
		"aws:loop":                 {"CurrentIteration", "CurrentIteratorValue"},
		"aws:approve":              {"ApprovalStatus", "ApproverDecisions", "Approvers"},
		"aws:runInstances":         {"InstanceIds"},
		"aws:invokeLambdaFunction": {"StatusCode", "FunctionError", "LogResult", "Payload"},
	}
	automationActions = []string{"aws:approve", "aws:assertAwsResourceProperty", "aws:branch", "aws:changeInstanceState", "aws:copyImage", "aws:createImage", "aws:createStack", "aws:createTags", "aws:deleteImage", "aws:deleteStack", "aws:executeAutomation", "aws:executeAwsApi", "aws:executeScript", "aws:executeStateMachine", "aws:invokeLambdaFunction", "aws:invokeWebhook", "aws:loop", "aws:pause", "aws:runCommand", "aws:runInstances", "aws:sleep", "aws:updateVariable", "aws:waitForAwsResourceProperty"}

	// apiMetaInputs are the inputs of the API-calling actions that are not
	// fields of the API's input.
	apiMetaInputs = map[string][]string{
		"aws:executeAwsApi":              {"Service", "Api"},
		"aws:waitForAwsResourceProperty": {"Service", "Api", "PropertySelector", "DesiredValues"},
		"aws:assertAwsResourceProperty":  {"Service", "Api", "PropertySelector", "DesiredValues"},
	}
	// sdkClients maps an Automation Service name to its aws-sdk-go-v2 client;
	// add a service here when a document starts calling it.
	sdkClients = map[string]reflect.Type{
		"cloudwatch": reflect.TypeOf(&cloudwatch.Client{}),
		"ec2":        reflect.TypeOf(&ec2.Client{}),
		"iam":        reflect.TypeOf(&iam.Client{}),
		"s3":         reflect.TypeOf(&s3.Client{}),
		"sns":        reflect.TypeOf(&sns.Client{}),
		"ssm":        reflect.TypeOf(&ssm.Client{}),
		"sts":        reflect.TypeOf(&sts.Client{}),
	}
)

// script is one step's script, its runCommand lines joined with "\n".
type script struct {
	step, action, text string
}

// linter collects a document's problems as it walks it.
type linter struct {
	read     func(name string) ([]byte, error)
	kind     string
	params   map[string]map[string]any
	used     map[string]bool
	outputs  map[string]map[string]bool // every step's outputs, at any depth
	names    map[string]bool            // the step names seen so far
	steps    []any                      // mainSteps
	scripts  []script
	problems []string
}

// stepNames lists the names of steps, including those inside loops.
func stepNames(steps []any) []string {
	var names []string
	for _, s := range steps {
		st, _ := s.(map[string]any)
		if name, ok := st["name"].(string); ok {
			names = append(names, name)
		}
		if in, ok := st["inputs"].(map[string]any); ok && st["action"] == "aws:loop" {
			body, _ := in["Steps"].([]any)
			names = append(names, stepNames(body)...)
		}
	}
	return names
}

func (l *linter) errorf(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// lint checks one document's bytes; aws:runCommand steps are checked
// against the embedded documents they run.
func lint(b []byte) *linter { return lintWith(b, Read) }

// lintWith is lint with read standing in for Read.
func lintWith(b []byte, read func(name string) ([]byte, error)) *linter {
	l := &linter{read: read, params: map[string]map[string]any{}, used: map[string]bool{}, outputs: map[string]map[string]bool{}, names: map[string]bool{}}
	if len(b) > maxDocumentBytes {
		l.errorf("document is %d bytes; SSM's limit is %d", len(b), maxDocumentBytes)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		l.errorf("not YAML: %v", err)
		return l
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		l.errorf("the document is not a YAML mapping")
		return l
	}
	var doc map[string]any // decoding the node refuses duplicate keys
	if err := root.Content[0].Decode(&doc); err != nil {
		l.errorf("YAML: %v", err)
		return l
	}
	switch sv, _ := scalar(doc["schemaVersion"]); sv {
	case "0.3":
		l.kind = TypeAutomation
	case "2.2":
		l.kind = TypeCommand
	default:
		l.errorf("schemaVersion %q: the lint knows 0.3 (Automation) and 2.2 (Command)", sv)
		return l
	}
	l.onlyKeys("document", doc, topKeys[l.kind])
	if d, _ := doc["description"].(string); strings.TrimSpace(d) == "" {
		l.errorf("description is missing")
	}
	l.lintParameters(doc["parameters"])
	steps, ok := doc["mainSteps"].([]any)
	if !ok || len(steps) == 0 {
		l.errorf("mainSteps must be a non-empty list")
		return l
	}
	l.steps = steps
	if l.kind == TypeAutomation {
		l.lintAutomationSteps(steps, scope{})
		if r, ok := doc["assumeRole"]; ok {
			l.refs("assumeRole", r, nil)
		}
		l.lintDocumentOutputs(doc["outputs"])
	} else {
		l.lintCommandSteps(steps)
	}
	for _, p := range slices.Sorted(maps.Keys(l.params)) {
		if !l.used[p] {
			l.errorf("parameter %s is declared but never used", p)
		}
	}
	return l
}

// onlyKeys reports keys of m outside allowed.
func (l *linter) onlyKeys(where string, m map[string]any, allowed []string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(allowed, k) {
			l.errorf("%s: unknown key %q (allowed: %s)", where, k, strings.Join(allowed, ", "))
		}
	}
}

// scalar returns a YAML scalar as its text.
func scalar(v any) (string, bool) {
	switch v.(type) {
	case string, int, float64, bool:
		return fmt.Sprint(v), true
	}
	return "", false
}

func positiveInt(v any) bool {
	n, ok := v.(int)
	return ok && n > 0
}

// ---- parameters ----

func (l *linter) lintParameters(v any) {
	if v == nil {
		return
	}
	params, ok := v.(map[string]any)
	if !ok {
		l.errorf("parameters must be a mapping")
		return
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		where := "parameter " + name
		p, ok := params[name].(map[string]any)
		if !ok {
			l.errorf("%s: must be a mapping", where)
			continue
		}
		l.params[name] = p
		if !identRE.MatchString(name) {
			l.errorf("%s: name does not match %s", where, identRE)
		}
		l.onlyKeys(where, p, paramKeys[l.kind])
		typ, _ := p["type"].(string)
		if !slices.Contains(paramTypes, typ) {
			l.errorf("%s: type %q is not one of %s", where, typ, strings.Join(paramTypes, ", "))
		}
		pattern, hasPattern := p["allowedPattern"].(string)
		var re *regexp.Regexp
		if hasPattern {
			var err error
			if re, err = regexp.Compile(pattern); err != nil {
				l.errorf("%s: allowedPattern %q does not compile as a Go regexp: %v", where, pattern, err)
			}
		} else if _, ok := p["allowedPattern"]; ok {
			l.errorf("%s: allowedPattern must be a string", where)
		}
		if typ == "String" && !hasPattern {
			l.errorf("%s: String parameter has no allowedPattern", where)
		}
		if it, ok := p["interpolationType"]; ok && it != "ENV_VAR" {
			l.errorf("%s: interpolationType %v; the only value is ENV_VAR", where, it)
		}
		if l.kind == TypeCommand && typ == "String" && p["interpolationType"] != "ENV_VAR" {
			l.errorf("%s: a Command document's String parameter needs interpolationType: ENV_VAR", where)
		}
		for _, k := range []string{"minItems", "maxItems", "minChars", "maxChars"} {
			if v, ok := p[k]; ok && !positiveInt(v) {
				l.errorf("%s: %s %v is not a positive integer", where, k, v)
			}
		}
		if lo, hi := p["minItems"], p["maxItems"]; positiveInt(lo) && positiveInt(hi) && lo.(int) > hi.(int) {
			l.errorf("%s: minItems %d > maxItems %d", where, lo, hi)
		}
		var allowed []string
		if av, ok := p["allowedValues"]; ok {
			allowed = l.values(where+" allowedValues", "StringList", av)
			if len(allowed) == 0 {
				l.errorf("%s: allowedValues is empty", where)
			}
		}
		l.matchAll(where+" allowedValues", re, pattern, allowed)
		if def, ok := p["default"]; ok {
			vals := l.values(where+" default", typ, def)
			l.matchAll(where+" default", re, pattern, vals)
			for _, s := range vals {
				if allowed != nil && !slices.Contains(allowed, s) {
					l.errorf("%s: default %q is not among the allowedValues", where, s)
				}
			}
			if max, ok := p["maxItems"].(int); ok && typ == "StringList" && len(vals) > max {
				l.errorf("%s: default has %d items, more than maxItems %d", where, len(vals), max)
			}
		}
	}
}

// values returns a parameter value as the strings its allowedPattern
// applies to: each element of a StringList, the text of anything else.
func (l *linter) values(where, typ string, v any) []string {
	if typ != "StringList" {
		if s, ok := scalar(v); ok {
			return []string{s}
		}
		return nil // MapList, StringMap: no pattern applies
	}
	list, ok := v.([]any)
	if !ok {
		l.errorf("%s: must be a list", where)
		return nil
	}
	var out []string
	for i, e := range list {
		s, ok := scalar(e)
		if !ok {
			l.errorf("%s[%d]: must be a scalar", where, i)
		}
		out = append(out, s)
	}
	return out
}

func (l *linter) matchAll(where string, re *regexp.Regexp, pattern string, vals []string) {
	for _, s := range vals {
		if re != nil && !re.MatchString(s) {
			l.errorf("%s: %q does not match the allowedPattern %s", where, s, pattern)
		}
	}
}

// ---- references ----

// scope is what {{ Step.Output }} may name at a point of an Automation
// runbook: the steps declared before it, with their outputs.
type scope map[string]map[string]bool

func (s scope) with(step string, outs map[string]bool) scope {
	c := maps.Clone(s)
	c[step] = outs
	return c
}

// refs checks every {{ }} reference in the strings of v. vis is the
// Automation scope (nil in Command documents).
func (l *linter) refs(where string, v any, vis scope) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			l.refs(fmt.Sprintf("%s[%d]", where, i), e, vis)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			l.refs(where+"."+k, x[k], vis)
		}
	case string:
		for _, m := range refRE.FindAllStringSubmatch(x, -1) {
			if msg := l.resolve(m[1], vis); msg != "" {
				l.errorf("%s: {{ %s }}: %s", where, m[1], msg)
			}
		}
		if strings.Contains(refRE.ReplaceAllString(x, ""), "{{") {
			l.errorf("%s: unterminated or malformed {{ in %q", where, x)
		}
	}
}

// resolve returns why a reference does not resolve, or "".
func (l *linter) resolve(r string, vis scope) string {
	if _, ok := l.params[r]; ok {
		l.used[r] = true
		return ""
	}
	if identRE.MatchString(r) {
		return "not a declared parameter"
	}
	if l.kind == TypeCommand {
		if strings.HasPrefix(r, "ssm:") {
			return ""
		}
		return "a Command document can refer only to its parameters and to ssm: parameters"
	}
	if slices.Contains(systemVariables, r) {
		return ""
	}
	m := stepRefRE.FindStringSubmatch(r)
	switch {
	case m == nil:
		return "neither a parameter, a system variable nor Step.Output"
	case vis[m[1]] == nil && slices.Contains(stepNames(l.steps), m[1]):
		return fmt.Sprintf("step %s is not declared before this point (or is inside another loop)", m[1])
	case vis[m[1]] == nil:
		return fmt.Sprintf("no step %s", m[1])
	case !vis[m[1]][m[2]]:
		return fmt.Sprintf("step %s declares no output %s (it has %v)", m[1], m[2], slices.Sorted(maps.Keys(vis[m[1]])))
	}
	return ""
}

// ---- Automation ----

// lintAutomationSteps checks one list of steps (mainSteps or a loop's
// Steps), where vis is what the steps before the list declared.
func (l *linter) lintAutomationSteps(steps []any, vis scope) {
	siblings := map[string]bool{}
	for i, s := range steps {
		st, _ := s.(map[string]any)
		name, _ := st["name"].(string)
		switch {
		case !identRE.MatchString(name):
			l.errorf("step %d: name %q does not match %s", i, name, identRE)
		case l.names[name]:
			l.errorf("step %s: the name is used twice", name)
		}
		l.names[name], siblings[name] = true, true
	}
	target := func(where, to string) {
		if !siblings[to] {
			l.errorf("%s: no step %q in the same step list", where, to)
		}
	}
	for _, s := range steps {
		st, ok := s.(map[string]any)
		if !ok {
			l.errorf("mainSteps: a step is not a mapping")
			continue
		}
		name, _ := st["name"].(string)
		where := "step " + name
		l.onlyKeys(where, st, automationStepKeys)
		action, _ := st["action"].(string)
		if !slices.Contains(automationActions, action) {
			l.errorf("%s: action %q is not an Automation action", where, action)
		}
		inputs, ok := st["inputs"].(map[string]any)
		if !ok && action != "aws:pause" {
			l.errorf("%s: inputs must be a mapping", where)
		}
		if _, ok := st["nextStep"]; ok {
			to, _ := st["nextStep"].(string)
			target(where+" nextStep", to)
		}
		for _, k := range []string{"onFailure", "onCancel"} {
			v, ok := st[k]
			if !ok {
				continue
			}
			s, _ := v.(string)
			switch to, jump := strings.CutPrefix(s, "step:"); {
			case jump:
				target(where+" "+k, to)
			case s == "Abort", s == "Continue" && k == "onFailure":
			default:
				l.errorf("%s: %s %q is not Abort, Continue or step:NAME", where, k, s)
			}
		}
		for _, k := range []string{"isEnd", "isCritical"} {
			if v, ok := st[k]; ok {
				if _, ok := v.(bool); !ok {
					l.errorf("%s: %s must be true or false", where, k)
				}
			}
		}
		for _, k := range []string{"maxAttempts", "timeoutSeconds"} {
			if v, ok := st[k]; ok && !positiveInt(v) {
				l.errorf("%s: %s %v is not a positive integer", where, k, v)
			}
		}
		if _, ok := apiMetaInputs[action]; ok && inputs != nil {
			l.lintAPICall(where, action, inputs)
		}
		if action == "aws:runCommand" && inputs != nil {
			l.lintRunCommand(where, inputs)
		}
		if action == "aws:branch" {
			choices, ok := inputs["Choices"].([]any)
			if !ok || len(choices) == 0 {
				l.errorf("%s: Choices must be a non-empty list", where)
			}
			for i, c := range choices {
				c, _ := c.(map[string]any)
				to, _ := c["NextStep"].(string)
				target(fmt.Sprintf("%s Choices[%d].NextStep", where, i), to)
			}
			if d, ok := inputs["Default"]; ok {
				to, _ := d.(string)
				target(where+" Default", to)
			}
		}
		outs := l.stepOutputs(where, action, st["outputs"])
		l.outputs[name] = outs
		if action == "aws:loop" {
			l.refs(where+" inputs", withoutKey(inputs, "Steps"), vis)
			if n, ok := inputs["MaxIterations"]; ok && (!positiveInt(n) || n.(int) > 100) {
				l.errorf("%s: MaxIterations %v is not 1 to 100", where, n)
			}
			body, ok := inputs["Steps"].([]any)
			if !ok || len(body) == 0 {
				l.errorf("%s: Steps must be a non-empty list", where)
			}
			l.lintAutomationSteps(body, vis.with(name, outs))
			// CurrentIteratorValue means something only while the loop runs.
			outs = withoutKey(outs, "CurrentIteratorValue")
		} else {
			l.refs(where+" inputs", inputs, vis)
		}
		vis = vis.with(name, outs)
	}
}

func withoutKey[V any](m map[string]V, key string) map[string]V {
	c := maps.Clone(m)
	delete(c, key)
	return c
}

// stepOutputs checks a step's declared outputs and returns them with the
// action's built-in ones.
func (l *linter) stepOutputs(where, action string, v any) map[string]bool {
	outs := map[string]bool{}
	for _, o := range builtinOutputs[action] {
		outs[o] = true
	}
	if v == nil {
		return outs
	}
	list, ok := v.([]any)
	if !ok {
		l.errorf("%s: outputs must be a list", where)
		return outs
	}
	for i, e := range list {
		o, _ := e.(map[string]any)
		at := fmt.Sprintf("%s outputs[%d]", where, i)
		l.onlyKeys(at, o, []string{"Name", "Selector", "Type"})
		name, _ := o["Name"].(string)
		sel, _ := o["Selector"].(string)
		typ, _ := o["Type"].(string)
		switch {
		case !identRE.MatchString(name):
			l.errorf("%s: Name %q does not match %s", at, name, identRE)
		case outs[name]:
			l.errorf("%s: output %s declared twice", at, name)
		}
		if !strings.HasPrefix(sel, "$") {
			l.errorf("%s: Selector %q is not a JSONPath starting with $", at, sel)
		}
		if !slices.Contains(outputTypes, typ) {
			l.errorf("%s: Type %q is not one of %s", at, typ, strings.Join(outputTypes, ", "))
		}
		outs[name] = true
	}
	return outs
}

// lintDocumentOutputs checks the runbook's outputs name Step.Output pairs
// that exist.
func (l *linter) lintDocumentOutputs(v any) {
	if v == nil {
		return
	}
	list, ok := v.([]any)
	if !ok {
		l.errorf("outputs must be a list")
		return
	}
	for _, e := range list {
		s, _ := e.(string)
		m := stepRefRE.FindStringSubmatch(s)
		if m == nil || !l.outputs[m[1]][m[2]] {
			l.errorf("outputs: %q is not the output of a step", s)
		}
	}
}

// lintAPICall checks an API-calling step against aws-sdk-go-v2: the Service
// has a client, the client a method Api, and every other input is a field of
// the method's input struct (recursively for nested mappings and lists).
func (l *linter) lintAPICall(where, action string, inputs map[string]any) {
	meta := apiMetaInputs[action]
	for _, k := range meta {
		if _, ok := inputs[k]; !ok {
			l.errorf("%s: %s needs input %s", where, action, k)
		}
	}
	if sel, ok := inputs["PropertySelector"].(string); ok && !strings.HasPrefix(sel, "$.") {
		l.errorf("%s: PropertySelector %q does not start with $.", where, sel)
	}
	svc, _ := inputs["Service"].(string)
	api, _ := inputs["Api"].(string)
	client, ok := sdkClients[svc]
	if !ok {
		l.errorf("%s: Service %q has no aws-sdk-go-v2 client in the lint (add it to sdkClients)", where, svc)
		return
	}
	m, ok := client.MethodByName(api)
	if !ok || m.Type.NumIn() != 4 || m.Type.In(2).Kind() != reflect.Pointer || !strings.HasSuffix(m.Type.In(2).Elem().Name(), "Input") {
		l.errorf("%s: %s has no API %q", where, svc, api)
		return
	}
	in := m.Type.In(2).Elem()
	for _, k := range slices.Sorted(maps.Keys(inputs)) {
		if !slices.Contains(meta, k) {
			l.field(where+" inputs", in, k, inputs[k])
		}
	}
}

// lintRunCommand checks an aws:runCommand step that runs a fleetdoctor
// document: the document is embedded and a Command document, the Parameters
// are its parameters and literal values match their allowedPattern, and every
// parameter without a default is given.
func (l *linter) lintRunCommand(where string, inputs map[string]any) {
	name, _ := inputs["DocumentName"].(string)
	if !strings.HasPrefix(name, "FleetDoctor-") {
		return // an AWS-owned document, or a reference
	}
	b, err := l.read(name)
	if err != nil {
		l.errorf("%s: DocumentName %s: %v", where, name, err)
		return
	}
	var target struct {
		SchemaVersion string                    `yaml:"schemaVersion"`
		Parameters    map[string]map[string]any `yaml:"parameters"`
	}
	if err := yaml.Unmarshal(b, &target); err != nil {
		return // the target's own lint reports it
	}
	if kind, _ := TypeOf(target.SchemaVersion); kind != TypeCommand {
		l.errorf("%s: DocumentName %s is not a Command document", where, name)
		return
	}
	given, _ := inputs["Parameters"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(given)) {
		p, ok := target.Parameters[k]
		if !ok {
			l.errorf("%s: %s has no parameter %s", where, name, k)
			continue
		}
		pattern, _ := p["allowedPattern"].(string)
		re, err := regexp.Compile(pattern)
		if err != nil {
			continue // the target's own lint reports it
		}
		vals := []any{given[k]}
		if list, ok := given[k].([]any); ok {
			vals = list
		}
		for _, v := range vals {
			if s, ok := scalar(v); ok && !refRE.MatchString(s) && !re.MatchString(s) {
				l.errorf("%s: Parameters.%s %q does not match %s's allowedPattern %s", where, k, s, name, pattern)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(target.Parameters)) {
		if _, ok := target.Parameters[k]["default"]; !ok && given[k] == nil {
			l.errorf("%s: %s requires parameter %s", where, name, k)
		}
	}
}

// field checks that struct t has an exported field key that fits v.
func (l *linter) field(where string, t reflect.Type, key string, v any) {
	f, ok := t.FieldByName(key)
	if !ok || !f.IsExported() {
		l.errorf("%s: %s has no field %s", where, t, key)
		return
	}
	l.shape(where+"."+key, f.Type, v)
}

// shape checks that a YAML value fits a Go type: a mapping a struct (or
// map), a list a slice. Scalars (including {{ references }}) are not typed.
func (l *linter) shape(where string, t reflect.Type, v any) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				l.field(where, t, k, x[k])
			}
		case reflect.Map, reflect.Interface:
		default:
			l.errorf("%s: a mapping where the API takes %s", where, t)
		}
	case []any:
		if t.Kind() != reflect.Slice {
			l.errorf("%s: a list where the API takes %s", where, t)
			return
		}
		for i, e := range x {
			l.shape(fmt.Sprintf("%s[%d]", where, i), t.Elem(), e)
		}
	default:
		if s, _ := v.(string); t.Kind() == reflect.Struct && !refRE.MatchString(s) {
			l.errorf("%s: a scalar where the API takes %s", where, t)
		}
	}
}

// ---- Command ----

func (l *linter) lintCommandSteps(steps []any) {
	for i, s := range steps {
		st, ok := s.(map[string]any)
		if !ok {
			l.errorf("mainSteps[%d]: not a mapping", i)
			continue
		}
		name, _ := st["name"].(string)
		where := "step " + name
		switch {
		case !identRE.MatchString(name):
			l.errorf("mainSteps[%d]: name %q does not match %s", i, name, identRE)
		case l.names[name]:
			l.errorf("%s: the name is used twice", where)
		}
		l.names[name] = true
		l.onlyKeys(where, st, commandStepKeys)
		action, _ := st["action"].(string)
		if action != "aws:runShellScript" && action != "aws:runPowerShellScript" {
			l.errorf("%s: action %q; the lint knows aws:runShellScript and aws:runPowerShellScript", where, action)
		}
		if pc, ok := st["precondition"]; ok {
			l.precondition(where, action, pc)
		}
		inputs, ok := st["inputs"].(map[string]any)
		if !ok {
			l.errorf("%s: inputs must be a mapping", where)
			continue
		}
		l.onlyKeys(where+" inputs", inputs, scriptInputKeys)
		l.refs(where+" inputs", inputs, nil)
		lines, ok := inputs["runCommand"].([]any)
		if !ok || len(lines) == 0 {
			l.errorf("%s: inputs.runCommand must be a non-empty list of lines", where)
			continue
		}
		var text []string
		for j, line := range lines {
			s, ok := line.(string)
			if !ok {
				l.errorf("%s: runCommand[%d] is not a string", where, j)
			}
			text = append(text, s)
		}
		sc := script{step: name, action: action, text: strings.Join(text, "\n")}
		for _, m := range refRE.FindAllStringSubmatch(sc.text, -1) {
			// Agents older than 3.3.2746.0 only substitute the text, so a
			// parameter in a script must not admit characters that could
			// leave a quoted string.
			pattern, _ := l.params[m[1]]["allowedPattern"].(string)
			if c, bad := admits(pattern, scriptUnsafe); bad {
				l.errorf("%s: the script interpolates {{ %s }}, whose allowedPattern admits %q; read $SSM_%s (interpolationType ENV_VAR) or tighten the pattern", where, m[1], c, m[1])
			}
		}
		for _, m := range envRefRE.FindAllStringSubmatch(sc.text, -1) {
			if p, ok := l.params[m[1]]; !ok || p["interpolationType"] != "ENV_VAR" {
				l.errorf("%s: the script reads SSM_%s, but there is no parameter %s with interpolationType ENV_VAR", where, m[1], m[1])
			} else {
				l.used[m[1]] = true
			}
		}
		if action == "aws:runPowerShellScript" {
			for _, msg := range lintPowerShell(sc.text) {
				l.errorf("%s: PowerShell: %s", where, msg)
			}
		}
		l.scripts = append(l.scripts, sc)
	}
}

// scriptUnsafe are the characters that can end a quoted string or start an
// expansion in bash or PowerShell.
const scriptUnsafe = "\"'`$\\;|&<>(){}\n\r\u2018\u2019\u201c\u201d"

// admits reports a character of chars that the regexp pattern can match,
// found by walking its syntax tree (an unparsable pattern admits anything).
func admits(pattern, chars string) (rune, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return '?', true
	}
	var walk func(re *syntax.Regexp) (rune, bool)
	walk = func(re *syntax.Regexp) (rune, bool) {
		switch re.Op {
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			return '.', true
		case syntax.OpLiteral:
			for _, r := range re.Rune {
				if strings.ContainsRune(chars, r) {
					return r, true
				}
			}
		case syntax.OpCharClass:
			for _, c := range chars {
				for i := 0; i+1 < len(re.Rune); i += 2 {
					if re.Rune[i] <= c && c <= re.Rune[i+1] {
						return c, true
					}
				}
			}
		}
		for _, sub := range re.Sub {
			if c, ok := walk(sub); ok {
				return c, true
			}
		}
		return 0, false
	}
	return walk(re)
}

// precondition checks `StringEquals: [platformType, Linux|Windows|MacOS]`
// and that the platform can run the action.
func (l *linter) precondition(where, action string, v any) {
	m, _ := v.(map[string]any)
	eq, _ := m["StringEquals"].([]any)
	if len(m) != 1 || len(eq) != 2 || eq[0] != "platformType" {
		l.errorf("%s: precondition must be StringEquals: [platformType, Linux|Windows|MacOS], not %v", where, v)
		return
	}
	switch eq[1] {
	case "Linux", "MacOS":
		if action == "aws:runPowerShellScript" {
			l.errorf("%s: aws:runPowerShellScript limited to %v; fleetdoctor runs PowerShell on Windows only", where, eq[1])
		}
	case "Windows":
		if action == "aws:runShellScript" {
			l.errorf("%s: aws:runShellScript limited to Windows", where)
		}
	default:
		l.errorf("%s: precondition platformType %v is not Linux, Windows or MacOS", where, eq[1])
	}
}

// lintPowerShell is a modest check of a script we cannot run here: brackets
// balance outside strings and comments, and no PowerShell 7 syntax that
// Windows PowerShell 5.1 (what aws:runPowerShellScript runs on Windows)
// cannot parse.
func lintPowerShell(src string) []string {
	code := psCode(src)
	var problems []string
	var stack []rune
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for i, c := range code {
		switch c {
		case '(', '{', '[':
			stack = append(stack, c)
		case ')', '}', ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return append(problems, fmt.Sprintf("unbalanced %q at line %d", c, 1+strings.Count(code[:i], "\n")))
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		problems = append(problems, fmt.Sprintf("%d unclosed bracket(s), innermost %q", len(stack), stack[len(stack)-1]))
	}
	for _, c := range []struct{ re, why string }{
		{`&&|\|\|`, "pipeline chain operators && and || need PowerShell 7"},
		{`\?\?|\?\.`, "null-coalescing and null-conditional operators need PowerShell 7"},
		{`(?i)ForEach-Object\s+-Parallel`, "ForEach-Object -Parallel needs PowerShell 7"},
	} {
		if regexp.MustCompile(c.re).MatchString(code) {
			problems = append(problems, c.why)
		}
	}
	return problems
}

// psCode blanks a PowerShell script's comments and strings (including
// here-strings), keeping the newlines, so what is left is code.
func psCode(src string) string {
	rs := []rune(src)
	var out []rune
	// find returns the index of s in rs from i on, or len(rs).
	find := func(i int, s string) int {
		for ; i < len(rs); i++ {
			if strings.HasPrefix(string(rs[i:min(i+len(s), len(rs))]), s) {
				return i
			}
		}
		return len(rs)
	}
	blank := func(from, to int) int {
		for _, r := range rs[from:min(to, len(rs))] {
			if r == '\n' {
				out = append(out, r)
			}
		}
		return to
	}
	for i := 0; i < len(rs); {
		c, next := rs[i], rune(0)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		switch {
		case c == '`': // escape: the next character is literal
			i = blank(i, i+2)
		case c == '<' && next == '#':
			i = blank(i, find(i+2, "#>")+2)
		case c == '#':
			i = blank(i, find(i, "\n"))
		case c == '@' && (next == '"' || next == '\''):
			closer := "\n" + string(next) + "@"
			i = blank(i, find(i+2, closer)+len(closer))
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(rs) {
				if c == '"' && rs[j] == '`' {
					j += 2
				} else if rs[j] == c && j+1 < len(rs) && rs[j+1] == c { // doubled quote
					j += 2
				} else if rs[j] == c {
					break
				} else {
					j++
				}
			}
			i = blank(i, j+1)
		default:
			out = append(out, c)
			i++
		}
	}
	return string(out)
}

// ---- tests ----

func TestLintDocuments(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no documents")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := Read(name)
			if err != nil {
				t.Fatal(err)
			}
			l := lint(b)
			for _, p := range l.problems {
				t.Errorf("%s: %s", name, p)
			}
			if kind, err := Kind(name); err != nil || kind != l.kind {
				t.Errorf("%s: Kind = %q, %v; the lint read it as %q", name, kind, err, l.kind)
			}
		})
	}
}

// shellcheck runs shellcheck -s bash on a script and returns its complaints.
// The SSM_ variables of the ENV_VAR parameters come from the agent; a line
// the lint adds after any shebang assigns them so shellcheck does not report
// them unassigned (SC2154), which shifts the reported line numbers by one.
func shellcheck(t *testing.T, text string, envParams []string) string {
	t.Helper()
	header := ":"
	for _, p := range envParams {
		header += fmt.Sprintf(` "${SSM_%s:=}"`, p)
	}
	lines := strings.SplitAfterN(text, "\n", 2)
	if strings.HasPrefix(text, "#!") {
		text = lines[0] + header + "\n" + strings.Join(lines[1:], "")
	} else {
		text = header + "\n" + text
	}
	cmd := exec.Command("shellcheck", "-s", "bash", "-")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("%v (line numbers count the lint's added line)\n%s", err, out.String())
	}
	return ""
}

func requireShellcheck(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shellcheck is required under CI: %v (apt-get install shellcheck)", err)
		}
		t.Skipf("shellcheck not installed (apt-get install shellcheck): %v", err)
	}
}

func TestLintShellScripts(t *testing.T) {
	requireShellcheck(t)
	if msg := shellcheck(t, "echo $1", nil); !strings.Contains(msg, "SC2086") {
		t.Fatalf("shellcheck passed an unquoted $1: %q", msg)
	}
	if msg := shellcheck(t, "#!/bin/bash\necho \"$SSM_Mode\"", []string{"Mode"}); msg != "" {
		t.Fatalf("shellcheck rejected a script reading an SSM_ variable: %s", msg)
	}
	for _, name := range Names() {
		b, err := Read(name)
		if err != nil {
			t.Fatal(err)
		}
		l := lint(b)
		var envParams []string
		for _, p := range slices.Sorted(maps.Keys(l.params)) {
			if l.params[p]["interpolationType"] == "ENV_VAR" {
				envParams = append(envParams, p)
			}
		}
		for _, sc := range l.scripts {
			if sc.action != "aws:runShellScript" {
				continue
			}
			t.Run(name+"/"+sc.step, func(t *testing.T) {
				text := refRE.ReplaceAllString(sc.text, "PARAM") // TestLintDocuments judges these
				if msg := shellcheck(t, text, envParams); msg != "" {
					t.Errorf("%s: step %s: shellcheck -s bash: %s", name, sc.step, msg)
				}
			})
		}
	}
}

func TestLintPowerShell(t *testing.T) {
	good := `# a comment with ( and {
$x = "a ) string with $(Get-Date) and a ` + "`" + `" quote"
$y = 'it''s { fine'
$h = @"
here ) string
"@
<# block ( comment #>
if ($x) { Write-Output @($y, $h)[0] }`
	if p := lintPowerShell(good); len(p) != 0 {
		t.Errorf("lintPowerShell(good) = %v", p)
	}
	for src, want := range map[string]string{
		"if ($x) { Write-Output 1":           "unclosed",
		"Write-Output (1))":                  "unbalanced",
		"Get-Item x && Write-Output y":       "PowerShell 7",
		"$a = $b ?? 'c'":                     "PowerShell 7",
		"1..3 | ForEach-Object -Parallel {}": "PowerShell 7",
	} {
		if p := lintPowerShell(src); !strings.Contains(strings.Join(p, "; "), want) {
			t.Errorf("lintPowerShell(%q) = %v, want a problem with %q", src, p, want)
		}
	}
}

// brokenCase is a broken copy of a document and what the lint must say.
type brokenCase struct {
	name, want string
	doc        []byte
}

// readWith is Read with extra in-memory documents.
func readWith(extra map[string][]byte) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if b, ok := extra[name]; ok {
			return b, nil
		}
		return Read(name)
	}
}

// mutate replaces the first old with new in a document, failing when old is
// missing (so a broken copy cannot silently equal the original).
func mutate(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("mutation: %q is not in the document", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

// TestLintCatchesBrokenCopies proves the lint fails on deliberately broken
// in-memory copies of the runbooks and of a small Command document.
func TestLintCatchesBrokenCopies(t *testing.T) {
	read := func(name string) []byte {
		b, err := Read(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	meta := read("FleetDoctor-SetMetadataOptions")
	dhmc := read("FleetDoctor-EnableDHMC")
	attach := read("FleetDoctor-AttachInstanceProfile")
	command := []byte(`description: Test document.
schemaVersion: '2.2'
parameters:
  Mode:
    type: String
    default: check
    allowedPattern: '^(check|fix)$'
    interpolationType: ENV_VAR
mainSteps:
  - action: aws:runShellScript
    name: Linux
    precondition:
      StringEquals: [platformType, Linux]
    inputs:
      runCommand:
        - 'echo "$SSM_Mode"'
  - action: aws:runPowerShellScript
    name: Windows
    precondition:
      StringEquals: [platformType, Windows]
    inputs:
      runCommand:
        - 'if ($env:SSM_Mode -eq "fix") { Write-Output "fixing" }'
`)
	if p := lint(command).problems; len(p) != 0 {
		t.Fatalf("the valid Command document fails the lint: %v", p)
	}
	fakeRead := readWith(map[string][]byte{"FleetDoctor-Test": command})
	// A fallback for agents without ENV_VAR is fine when the pattern is safe.
	if p := lint(mutate(t, command, `'echo "$SSM_Mode"'`, `'echo "${SSM_Mode:-{{ Mode }}}"'`)).problems; len(p) != 0 {
		t.Fatalf("a safely interpolated parameter fails the lint: %v", p)
	}
	cases := []brokenCase{
		{"wrong Api", `ec2 has no API "ModifyInstanceMetadataOption"`, mutate(t, meta, "Api: ModifyInstanceMetadataOptions", "Api: ModifyInstanceMetadataOption")},
		{"misspelled input", "has no field HttpToken", mutate(t, meta, "HttpTokens: '{{ HttpTokens }}'", "HttpToken: '{{ HttpTokens }}'")},
		{"misspelled nested input", "has no field ProfileName", mutate(t, attach, "Name: '{{ InstanceProfileName }}'", "ProfileName: '{{ InstanceProfileName }}'")},
		{"unknown service", `Service "ec3"`, mutate(t, meta, "Service: ec2", "Service: ec3")},
		{"ssm api", `ssm has no API "GetServiceSettings"`, mutate(t, dhmc, "Api: GetServiceSetting", "Api: GetServiceSettings")},
		{"wait without selector", "needs input PropertySelector", mutate(t, attach, "PropertySelector:", "Selector:")},
		{"unknown top-level key", `unknown key "mainStep"`, mutate(t, meta, "mainSteps:", "mainStep: []\nmainSteps:")},
		{"unknown step key", `unknown key "onFail"`, mutate(t, dhmc, "    maxAttempts: 3", "    onFail: Abort")},
		{"duplicate key", "already defined", mutate(t, dhmc, "    maxAttempts: 3", "    maxAttempts: 3\n    maxAttempts: 4")},
		{"undeclared parameter", "not a declared parameter", mutate(t, dhmc, "SettingValue: '{{ RoleName }}'", "SettingValue: '{{ RolName }}'")},
		{"undeclared output", "declares no output PreviousValues", mutate(t, dhmc, "Variable: '{{ GetCurrentSetting.PreviousValue }}'", "Variable: '{{ GetCurrentSetting.PreviousValues }}'")},
		{"loop step outside its loop", "not declared before", mutate(t, attach, "Iterators: '{{ InstanceIds }}'", "Iterators: '{{ AssociateProfile.AssociationId }}'")},
		{"iterator value after its loop", "declares no output CurrentIteratorValue", mutate(t, attach, "    isEnd: true\n", "  - name: After\n    action: aws:executeAwsApi\n    inputs:\n      Service: ec2\n      Api: DescribeInstances\n      InstanceIds: ['{{ AttachToEachInstance.CurrentIteratorValue }}']\n")},
		{"bad system variable", "neither a parameter", mutate(t, dhmc, "SettingValue: '{{ RoleName }}'", "SettingValue: '{{ global:NOPE }}'")},
		{"reference to a later step", "not declared before", mutate(t, meta, "StringEquals: '{{ DescribeInstance.HttpEndpoint }}'", "StringEquals: '{{ VerifyInstance.HttpEndpoint }}'")},
		{"malformed reference", "malformed", mutate(t, dhmc, "SettingValue: '{{ RoleName }}'", "SettingValue: '{{ RoleName }'")},
		{"bad nextStep", `no step "VerifySettings"`, mutate(t, dhmc, "nextStep: VerifySetting", "nextStep: VerifySettings")},
		{"bad branch target", `no step "ChooseHttpToken"`, mutate(t, meta, "Default: ChooseHttpTokens", "Default: ChooseHttpToken")},
		{"bad onFailure", `no step "Nope"`, mutate(t, attach, "onFailure: Abort", "onFailure: step:Nope")},
		{"jump into a loop", `no step "AssociateProfile"`, mutate(t, attach, "onFailure: Abort", "onFailure: step:AssociateProfile")},
		{"duplicate step name", "used twice", mutate(t, dhmc, "name: ChooseUpdate", "name: GetCurrentSetting")},
		{"bad step name", "does not match", mutate(t, dhmc, "name: ChooseUpdate", "name: Choose-Update")},
		{"bad document output", "not the output of a step", mutate(t, dhmc, "  - GetCurrentSetting.PreviousValue", "  - GetCurrentSetting.Previous")},
		{"bad parameter type", `type "Str"`, mutate(t, dhmc, "type: String", "type: Str")},
		{"String without pattern", "has no allowedPattern", mutate(t, dhmc, "    allowedPattern: '^([\\w+=,.@-]+/)*[\\w+=,.@-]{1,64}$'\n", "")},
		{"default breaks pattern", "does not match the allowedPattern", mutate(t, dhmc, "default: ''", "default: 'x'")},
		{"non-RE2 pattern", "does not compile", mutate(t, dhmc, "allowedPattern: '^$|", "allowedPattern: '(?<=a)^$|")},
		{"allowedValue breaks pattern", "does not match the allowedPattern", mutate(t, meta, "      - disabled\n", "      - off\n")},
		{"StringList default too long", "more than maxItems", mutate(t, meta, "maxItems: 100\n    allowedPattern: '^i-[0-9a-f]{8,17}$'", "maxItems: 1\n    default: [i-0123456789abcdef0, i-0123456789abcdef1]\n    allowedPattern: '^i-[0-9a-f]{8,17}$'")},
		{"StringList element breaks pattern", "does not match", mutate(t, meta, "maxItems: 100\n", "maxItems: 100\n    default: [sg-1]\n")},
		{"unused parameter", "never used", mutate(t, dhmc, "parameters:\n", "parameters:\n  Spare:\n    type: Integer\n")},
		{"loop too long", "MaxIterations", mutate(t, attach, "MaxIterations: 100", "MaxIterations: 101")},
		{"too big", "SSM's limit", append(bytes.Clone(dhmc), "\n#"+strings.Repeat("x", maxDocumentBytes)+"\n"...)},
		{"not YAML", "not YAML", []byte("description: [x\n")},
		{"unknown schemaVersion", "schemaVersion", mutate(t, dhmc, "schemaVersion: '0.3'", "schemaVersion: '1.2'")},
		{"command: automation-only key", `unknown key "assumeRole"`, mutate(t, command, "mainSteps:", "assumeRole: x\nmainSteps:")},
		{"command: no description", "description is missing", mutate(t, command, "description: Test document.", "description: ''")},
		{"command: no ENV_VAR", "interpolationType: ENV_VAR", mutate(t, command, "    interpolationType: ENV_VAR\n", "")},
		{"command: bad precondition", "precondition", mutate(t, command, "[platformType, Linux]", "[platformType, linux]")},
		{"command: shell on Windows", "limited to Windows", mutate(t, command, "[platformType, Linux]", "[platformType, Windows]")},
		{"command: no runCommand", "runCommand must be", mutate(t, command, "      runCommand:\n        - 'echo", "      workingDirectory: /\n      commands:\n        - 'echo")},
		{"command: duplicate name", "used twice", mutate(t, command, "name: Windows", "name: Linux")},
		{"command: step key", `unknown key "timeoutSeconds"`, mutate(t, command, "    name: Linux\n", "    name: Linux\n    timeoutSeconds: 10\n")},
		{"command: interpolated script", `admits '\''`, mutate(t, mutate(t, command, `'echo "$SSM_Mode"'`, `'echo "{{ Mode }}"'`), "'^(check|fix)$'", `'^[\w'' ]+$'`)},
		{"command: interpolated script, any character", `admits '.'`, mutate(t, mutate(t, command, `'echo "$SSM_Mode"'`, `'echo "{{ Mode }}"'`), "'^(check|fix)$'", "'^.+$'")},
		{"command: unknown env var", "reads SSM_Mood", mutate(t, command, `'echo "$SSM_Mode"'`, `'echo "$SSM_Mood" "$SSM_Mode"'`)},
		{"command: automation reference", "only to its parameters", mutate(t, command, `'echo "$SSM_Mode"'`, `'echo "$SSM_Mode" {{ global:REGION }}'`)},
		{"command: PowerShell brackets", "PowerShell: unbalanced", mutate(t, command, `Write-Output "fixing" }`, `Write-Output "fixing" }}`)},
		{"command: unknown action", `action "aws:runScript"`, mutate(t, command, "aws:runShellScript", "aws:runScript")},
	}
	cases = append(cases, runCommandCases(t, command)...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := lintWith(c.doc, fakeRead).problems
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("lint found %v, want a problem containing %q", p, c.want)
			}
		})
	}
}

// runCommandCases are broken copies of a runbook that runs the Command
// document FleetDoctor-Test (command, read through a fake Read).
func runCommandCases(t *testing.T, command []byte) []brokenCase {
	runbook := []byte(`description: Test runbook.
schemaVersion: '0.3'
parameters:
  InstanceId:
    type: String
    allowedPattern: '^i-[0-9a-f]{8,17}$'
mainSteps:
  - name: Run
    action: aws:runCommand
    inputs:
      DocumentName: FleetDoctor-Test
      InstanceIds: ['{{ InstanceId }}']
      Parameters:
        Mode: fix
  - name: Next
    action: aws:branch
    inputs:
      Choices:
        - NextStep: Run
          Variable: '{{ Run.Output }}'
          Contains: x
outputs:
  - Run.CommandId
`)
	fakeRead := readWith(map[string][]byte{"FleetDoctor-Test": command})
	if p := lintWith(runbook, fakeRead).problems; len(p) != 0 {
		t.Fatalf("the valid runbook fails the lint: %v", p)
	}
	noDefault := readWith(map[string][]byte{"FleetDoctor-Test": mutate(t, command, "    default: check\n", "")})
	if p := lintWith(mutate(t, runbook, "      Parameters:\n        Mode: fix\n", ""), noDefault).problems; !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, "requires parameter Mode") }) {
		t.Errorf("a missing required parameter passes the lint: %v", p)
	}
	return []brokenCase{
		{"runCommand: unknown parameter", "has no parameter Mood", mutate(t, runbook, "Mode: fix", "Mood: fix")},
		{"runCommand: value breaks the pattern", `Parameters.Mode "repair" does not match`, mutate(t, runbook, "Mode: fix", "Mode: [repair]")},
		{"runCommand: unknown document", "FleetDoctor-Nope", mutate(t, runbook, "DocumentName: FleetDoctor-Test", "DocumentName: FleetDoctor-Nope")},
		{"runCommand: runbook as command", "is not a Command document", mutate(t, runbook, "DocumentName: FleetDoctor-Test", "DocumentName: FleetDoctor-EnableDHMC")},
		{"runCommand: undeclared output", "declares no output Stdout", mutate(t, runbook, "{{ Run.Output }}", "{{ Run.Stdout }}")},
	}
}
