package automation

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxDocumentSize is the largest runbook SSM accepts (64 KB).
const MaxDocumentSize = 64 * 1024

// MaxIterations is the most iterations an aws:loop may run.
const MaxIterations = 100

// Actions the interpreter runs. Any other action is refused by Parse.
const (
	ActionExecuteAwsAPI          = "aws:executeAwsApi"
	ActionAssertAwsResourceProp  = "aws:assertAwsResourceProperty"
	ActionWaitForAwsResourceProp = "aws:waitForAwsResourceProperty"
	ActionBranch                 = "aws:branch"
	ActionLoop                   = "aws:loop"
	ActionRunCommand             = "aws:runCommand"
	ActionSleep                  = "aws:sleep"
)

const (
	// maxNesting bounds And / Or / Not nesting in choices.
	maxNesting = 16
	// maxSleep is the longest aws:sleep.
	maxSleep = 7 * 24 * time.Hour
	// defaultWaitTimeoutSeconds is aws:waitForAwsResourceProperty's
	// timeout when the step sets none.
	defaultWaitTimeoutSeconds = 3600
	maxStepTimeoutSeconds     = 7 * 24 * 3600
	maxStepAttempts           = 10

	onFailureAbort    = "Abort"
	onFailureContinue = "Continue"
)

// Runbook is a parsed, validated Automation document (schemaVersion 0.3).
type Runbook struct {
	// Description is the document's description (Markdown).
	Description string
	// AssumeRole is the assumeRole template, usually
	// "{{ AutomationAssumeRole }}".
	AssumeRole string
	// Parameters are the document's parameters, in name order.
	Parameters []*Parameter
	// MainSteps are the top-level steps, in document order.
	MainSteps []*Step
	// Outputs are the Step.Output names the execution reports.
	Outputs []string

	params map[string]*Parameter
}

// Parameter is one runbook parameter.
type Parameter struct {
	// Name is the parameter's name.
	Name string
	// Type is String, StringList, Integer, Boolean, StringMap or MapList.
	Type string
	// Description documents the parameter.
	Description string
	// Default is the typed default value; HasDefault says whether there
	// is one (a parameter without a default is required).
	Default    any
	HasDefault bool
	// AllowedValues, when set, lists the values the parameter may take
	// (each item, for a StringList).
	AllowedValues []string
	// AllowedPattern, when set, is the regular expression every value (each
	// item, for a StringList) must match.
	AllowedPattern string
	// MinItems and MaxItems bound a StringList or MapList (0: no bound).
	MinItems, MaxItems int
	// MinChars and MaxChars bound a String or each StringList item (0: no
	// bound).
	MinChars, MaxChars int

	pattern *regexp.Regexp
}

// Step is one step of a runbook.
type Step struct {
	// Name identifies the step; names are unique across the runbook.
	Name string
	// Action is the action, for example aws:executeAwsApi.
	Action string
	// Description documents the step.
	Description string
	// Inputs are the step's inputs as written, references unresolved.
	Inputs map[string]any
	// Outputs are the values an aws:executeAwsApi step selects from the
	// response.
	Outputs []Output
	// OnFailure is Abort (the default), Continue or step:NAME.
	OnFailure string
	// NextStep, when set, is the step that runs after this one succeeds.
	NextStep string
	// IsEnd ends the execution (inside a loop: the iteration) after this
	// step.
	IsEnd bool
	// IsCritical (the default) makes a failure of this step fail the
	// execution even when onFailure lets it go on.
	IsCritical bool
	// MaxAttempts is how many times the step is tried before it fails.
	MaxAttempts int
	// TimeoutSeconds bounds each attempt (0: the action's default).
	TimeoutSeconds int
	// Steps are an aws:loop's body.
	Steps []*Step

	api    *apiSpec
	branch *branchSpec
	loop   *loopSpec
	sleep  *sleepSpec
	run    *runCommandSpec
}

// Output is one value an aws:executeAwsApi step selects.
type Output struct {
	// Name is how later steps refer to it: {{ Step.Name }}.
	Name string
	// Selector is a JSONPath into the API response.
	Selector string
	// Type is String, Integer, Boolean, StringList, StringMap or MapList.
	Type string

	sel *selector
}

type apiSpec struct {
	service, api string
	params       map[string]any
	property     *selector
	desired      []any
}

type branchSpec struct {
	choices []*choice
	def     string
}

type loopSpec struct {
	iterators any
	dataType  string
	condition *choice
	max       int
}

type sleepSpec struct {
	duration  any
	timestamp any
}

type runCommandSpec struct {
	document, instanceIDs, parameters any
	timeout                           int
}

// choice is an aws:branch choice or an aws:loop condition: a comparison of
// Variable with an operand, or And / Or / Not of nested choices.
type choice struct {
	next     string
	variable any
	op       string
	operand  any
	and, or  []*choice
	not      *choice
}

// Comparison operators of aws:branch choices.
var (
	stringOps  = []string{"StringEquals", "EqualsIgnoreCase", "StartsWith", "EndsWith", "Contains"}
	numericOps = []string{"NumericEquals", "NumericGreater", "NumericLesser", "NumericGreaterOrEquals", "NumericLesserOrEquals"}
	booleanOps = []string{"BooleanEquals"}
)

var parameterTypes = map[string]bool{"String": true, "StringList": true, "Integer": true, "Boolean": true, "StringMap": true, "MapList": true}

// Parse reads and validates an Automation runbook (YAML or JSON) the way
// SSM validates one when it is created: the schema version, every step's
// action and required inputs, unique step names, nextStep / onFailure /
// Choices targets, output selectors, and every {{ reference }} — to a
// parameter, to an output some step declares, to a loop's iterator, or to
// a system variable. Errors name the field.
func Parse(data []byte) (*Runbook, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("document is %d bytes, more than the %d SSM accepts", len(data), MaxDocumentSize)
	}
	root, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("document must be a mapping with schemaVersion, parameters and mainSteps")
	}
	if err := onlyKeys(top, "", "schemaVersion", "description", "assumeRole", "parameters", "mainSteps", "outputs"); err != nil {
		return nil, err
	}
	switch v := top["schemaVersion"].(type) {
	case string:
		if v != "0.3" {
			return nil, fmt.Errorf("schemaVersion: %q is not an Automation schema version (0.3)", v)
		}
	case float64:
		return nil, errors.New("schemaVersion: write it as the string '0.3' (quoted), not a number")
	case nil:
		return nil, errors.New("schemaVersion: missing")
	default:
		return nil, errors.New("schemaVersion: must be the string '0.3'")
	}
	rb := &Runbook{params: map[string]*Parameter{}}
	if rb.Description, err = optString(top, "", "description"); err != nil {
		return nil, err
	}
	if rb.AssumeRole, err = optString(top, "", "assumeRole"); err != nil {
		return nil, err
	}
	if err := rb.parseParameters(top["parameters"]); err != nil {
		return nil, err
	}
	p := &parser{rb: rb, names: map[string]*Step{}}
	steps, ok := top["mainSteps"].([]any)
	if !ok || len(steps) == 0 {
		return nil, errors.New("mainSteps: must be a non-empty list of steps")
	}
	if rb.MainSteps, err = p.parseSteps(steps, "mainSteps", nil); err != nil {
		return nil, err
	}
	if err := p.checkSequence(rb.MainSteps, "mainSteps"); err != nil {
		return nil, err
	}
	if err := p.checkRefs(); err != nil {
		return nil, err
	}
	if rb.AssumeRole != "" {
		if err := p.checkTemplate(rb.AssumeRole, "assumeRole", nil); err != nil {
			return nil, err
		}
	}
	if raw, ok := top["outputs"]; ok {
		list, ok := raw.([]any)
		if !ok {
			return nil, errors.New("outputs: must be a list of Step.Output names")
		}
		for i, o := range list {
			s, ok := o.(string)
			if !ok {
				return nil, fmt.Errorf("outputs[%d]: must be a Step.Output name", i)
			}
			r, err := parseRef(s)
			if err != nil || r.kind != refOutput {
				return nil, fmt.Errorf("outputs[%d]: %q is not a Step.Output name", i, s)
			}
			if err := p.checkRef(r, fmt.Sprintf("outputs[%d]", i), nil); err != nil {
				return nil, err
			}
			rb.Outputs = append(rb.Outputs, s)
		}
	}
	return rb, nil
}

// Parameter returns the named parameter, or nil.
func (rb *Runbook) Parameter(name string) *Parameter { return rb.params[name] }

func (rb *Runbook) parseParameters(raw any) error {
	if raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return errors.New("parameters: must be a mapping of parameter names to definitions")
	}
	for _, name := range sortedKeys(m) {
		path := "parameters." + name
		if !identPattern.MatchString(name) {
			return fmt.Errorf("%s: parameter names are letters, digits and underscores", path)
		}
		def, ok := m[name].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be a mapping with at least type", path)
		}
		if err := onlyKeys(def, path, "type", "description", "default", "allowedValues", "allowedPattern", "minItems", "maxItems", "minChars", "maxChars", "displayType"); err != nil {
			return err
		}
		prm := &Parameter{Name: name}
		var err error
		if prm.Type, err = optString(def, path, "type"); err != nil {
			return err
		}
		if !parameterTypes[prm.Type] {
			return fmt.Errorf("%s.type: %q is not one of String, StringList, Integer, Boolean, StringMap, MapList", path, prm.Type)
		}
		if prm.Description, err = optString(def, path, "description"); err != nil {
			return err
		}
		if prm.AllowedPattern, err = optString(def, path, "allowedPattern"); err != nil {
			return err
		}
		if prm.AllowedPattern != "" {
			if prm.pattern, err = regexp.Compile(prm.AllowedPattern); err != nil {
				return fmt.Errorf("%s.allowedPattern: %v", path, err)
			}
		}
		if av, ok := def["allowedValues"]; ok {
			list, ok := av.([]any)
			if !ok || len(list) == 0 {
				return fmt.Errorf("%s.allowedValues: must be a non-empty list", path)
			}
			for i, v := range list {
				s, ok := scalarString(v)
				if !ok {
					return fmt.Errorf("%s.allowedValues[%d]: must be a scalar", path, i)
				}
				prm.AllowedValues = append(prm.AllowedValues, s)
			}
		}
		for _, b := range []struct {
			key string
			dst *int
		}{{"minItems", &prm.MinItems}, {"maxItems", &prm.MaxItems}, {"minChars", &prm.MinChars}, {"maxChars", &prm.MaxChars}} {
			v, ok := def[b.key]
			if !ok {
				continue
			}
			n, ok := v.(int64)
			if !ok || n < 0 || n > 1<<20 {
				return fmt.Errorf("%s.%s: must be a non-negative integer", path, b.key)
			}
			*b.dst = int(n)
		}
		list := prm.Type == "StringList" || prm.Type == "MapList"
		if (prm.MinItems > 0 || prm.MaxItems > 0) && !list {
			return fmt.Errorf("%s: minItems/maxItems apply to StringList and MapList parameters only", path)
		}
		if prm.MaxItems > 0 && prm.MinItems > prm.MaxItems || prm.MaxChars > 0 && prm.MinChars > prm.MaxChars {
			return fmt.Errorf("%s: a minimum is larger than its maximum", path)
		}
		if dv, ok := def["default"]; ok {
			v, err := prm.fromDocument(dv)
			if err != nil {
				return fmt.Errorf("%s.default: %v", path, err)
			}
			if err := prm.check(v); err != nil {
				return fmt.Errorf("%s.default: %v", path, err)
			}
			prm.Default, prm.HasDefault = v, true
		}
		rb.Parameters = append(rb.Parameters, prm)
		rb.params[name] = prm
	}
	return nil
}

// fromDocument types a default value written in the document.
func (prm *Parameter) fromDocument(v any) (any, error) {
	switch prm.Type {
	case "String":
		if s, ok := scalarString(v); ok {
			return s, nil
		}
	case "Integer":
		if i, ok := integer(v); ok {
			return i, nil
		}
	case "Boolean":
		if b, ok := boolean(v); ok {
			return b, nil
		}
	case "StringList":
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				s, ok := scalarString(e)
				if !ok {
					return nil, fmt.Errorf("item %d is not a string", i)
				}
				out[i] = s
			}
			return out, nil
		}
	case "StringMap":
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
	case "MapList":
		if l, ok := v.([]any); ok {
			for i, e := range l {
				if _, ok := e.(map[string]any); !ok {
					return nil, fmt.Errorf("item %d is not a map", i)
				}
			}
			return l, nil
		}
	}
	return nil, fmt.Errorf("is not a %s", prm.Type)
}

// fromStart types a value given to StartAutomationExecution, where every
// parameter arrives as a list of strings.
func (prm *Parameter) fromStart(vals []string) (any, error) {
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", fmt.Errorf("takes exactly one value, got %d", len(vals))
		}
		return vals[0], nil
	}
	switch prm.Type {
	case "String":
		return one()
	case "Integer":
		s, err := one()
		if err != nil {
			return nil, err
		}
		i, ok := integer(s)
		if !ok {
			return nil, fmt.Errorf("value %q is not an Integer", s)
		}
		return i, nil
	case "Boolean":
		s, err := one()
		if err != nil {
			return nil, err
		}
		b, ok := boolean(s)
		if !ok {
			return nil, fmt.Errorf("value %q is not a Boolean (true or false)", s)
		}
		return b, nil
	case "StringList":
		out := make([]any, len(vals))
		for i, s := range vals {
			out[i] = s
		}
		return out, nil
	case "StringMap":
		s, err := one()
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
			return nil, fmt.Errorf("value is not a JSON object")
		}
		return normalize(m, 0)
	case "MapList":
		out := make([]any, len(vals))
		for i, s := range vals {
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
				return nil, fmt.Errorf("item %d is not a JSON object", i)
			}
			n, err := normalize(m, 0)
			if err != nil {
				return nil, fmt.Errorf("item %d: %v", i, err)
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown type %q", prm.Type)
}

// check applies the parameter's constraints to a typed value.
func (prm *Parameter) check(v any) error {
	var items []string
	switch x := v.(type) {
	case []any:
		if prm.MinItems > 0 && len(x) < prm.MinItems {
			return fmt.Errorf("has %d values; at least %d are required (minItems)", len(x), prm.MinItems)
		}
		if prm.MaxItems > 0 && len(x) > prm.MaxItems {
			return fmt.Errorf("has %d values; at most %d are allowed (maxItems)", len(x), prm.MaxItems)
		}
		if prm.Type == "MapList" {
			return nil
		}
		for _, e := range x {
			s, _ := scalarString(e)
			items = append(items, s)
		}
	case map[string]any:
		return nil
	default:
		s, _ := scalarString(x)
		items = []string{s}
	}
	for _, s := range items {
		n := len([]rune(s))
		if prm.MinChars > 0 && n < prm.MinChars {
			return fmt.Errorf("value %q is shorter than %d characters (minChars)", s, prm.MinChars)
		}
		if prm.MaxChars > 0 && n > prm.MaxChars {
			return fmt.Errorf("value %q is longer than %d characters (maxChars)", clip(s), prm.MaxChars)
		}
		if len(prm.AllowedValues) > 0 && !slices.Contains(prm.AllowedValues, s) {
			return fmt.Errorf("value %q is not one of the allowedValues %v", clip(s), prm.AllowedValues)
		}
		if prm.pattern != nil && !prm.pattern.MatchString(s) {
			return fmt.Errorf("value %q does not match the allowedPattern %s", clip(s), prm.AllowedPattern)
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// parser carries what step validation needs across the document.
type parser struct {
	rb    *Runbook
	names map[string]*Step
	// pending are the templates to check once every step (and so every
	// output) is known.
	pending []pendingRef
}

type pendingRef struct {
	value any
	path  string
	loop  *Step
}

var stepNamePattern = identPattern

func (p *parser) parseSteps(raw []any, path string, loop *Step) ([]*Step, error) {
	var steps []*Step
	for i, r := range raw {
		sp := fmt.Sprintf("%s[%d]", path, i)
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: a step must be a mapping with name, action and inputs", sp)
		}
		st, err := p.parseStep(m, sp, loop)
		if err != nil {
			return nil, err
		}
		steps = append(steps, st)
	}
	return steps, nil
}

func (p *parser) parseStep(m map[string]any, path string, loop *Step) (*Step, error) {
	if err := onlyKeys(m, path, "name", "action", "description", "inputs", "outputs", "onFailure", "maxAttempts", "timeoutSeconds", "isEnd", "nextStep", "isCritical"); err != nil {
		return nil, err
	}
	st := &Step{IsCritical: true, MaxAttempts: 1, OnFailure: onFailureAbort}
	var err error
	if st.Name, err = optString(m, path, "name"); err != nil {
		return nil, err
	}
	if !stepNamePattern.MatchString(st.Name) {
		return nil, fmt.Errorf("%s.name: %q must be 1-128 letters, digits or underscores", path, st.Name)
	}
	path = fmt.Sprintf("%s (%s)", path, st.Name)
	if _, dup := p.names[st.Name]; dup {
		return nil, fmt.Errorf("%s: step name %q is used twice", path, st.Name)
	}
	p.names[st.Name] = st
	if st.Action, err = optString(m, path, "action"); err != nil {
		return nil, err
	}
	if st.Description, err = optString(m, path, "description"); err != nil {
		return nil, err
	}
	if st.NextStep, err = optString(m, path, "nextStep"); err != nil {
		return nil, err
	}
	if v, ok := m["onFailure"]; ok {
		s, ok := v.(string)
		if !ok || !(s == onFailureAbort || s == onFailureContinue || strings.HasPrefix(s, "step:") && len(s) > 5) {
			return nil, fmt.Errorf("%s.onFailure: must be Abort, Continue or step:STEP_NAME", path)
		}
		st.OnFailure = s
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"isEnd", &st.IsEnd}, {"isCritical", &st.IsCritical}} {
		if v, ok := m[b.key]; ok {
			bv, ok := boolean(v)
			if !ok {
				return nil, fmt.Errorf("%s.%s: must be true or false", path, b.key)
			}
			*b.dst = bv
		}
	}
	if st.IsEnd && st.NextStep != "" {
		return nil, fmt.Errorf("%s: isEnd and nextStep exclude each other", path)
	}
	if v, ok := m["maxAttempts"]; ok {
		n, ok := v.(int64)
		if !ok || n < 1 || n > maxStepAttempts {
			return nil, fmt.Errorf("%s.maxAttempts: must be an integer from 1 to %d", path, maxStepAttempts)
		}
		st.MaxAttempts = int(n)
	}
	if v, ok := m["timeoutSeconds"]; ok {
		n, ok := v.(int64)
		if !ok || n < 1 || n > maxStepTimeoutSeconds {
			return nil, fmt.Errorf("%s.timeoutSeconds: must be an integer from 1 to %d", path, maxStepTimeoutSeconds)
		}
		st.TimeoutSeconds = int(n)
	}
	inputs, ok := m["inputs"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s.inputs: missing (a mapping of the action's inputs)", path)
	}
	st.Inputs = inputs
	ip := path + ".inputs"
	if _, has := m["outputs"]; has && st.Action != ActionExecuteAwsAPI {
		return nil, fmt.Errorf("%s.outputs: only aws:executeAwsApi steps declare outputs in this interpreter", path)
	}
	switch st.Action {
	case ActionExecuteAwsAPI, ActionAssertAwsResourceProp, ActionWaitForAwsResourceProp:
		if err := p.parseAPI(st, ip, loop); err != nil {
			return nil, err
		}
		if st.Action == ActionExecuteAwsAPI {
			if err := p.parseOutputs(st, m["outputs"], path+".outputs"); err != nil {
				return nil, err
			}
		}
	case ActionBranch:
		if err := p.parseBranch(st, ip, loop); err != nil {
			return nil, err
		}
	case ActionLoop:
		if loop != nil {
			return nil, fmt.Errorf("%s: an aws:loop cannot be nested in another aws:loop", path)
		}
		if err := p.parseLoop(st, ip); err != nil {
			return nil, err
		}
	case ActionSleep:
		if err := p.parseSleep(st, ip, loop); err != nil {
			return nil, err
		}
	case ActionRunCommand:
		if err := p.parseRunCommand(st, ip, loop); err != nil {
			return nil, err
		}
	case "":
		return nil, fmt.Errorf("%s.action: missing", path)
	default:
		return nil, fmt.Errorf("%s.action: %q is not an action this interpreter runs (aws:executeAwsApi, aws:assertAwsResourceProperty, aws:waitForAwsResourceProperty, aws:branch, aws:loop, aws:runCommand, aws:sleep)", path, st.Action)
	}
	return st, nil
}

func (p *parser) parseAPI(st *Step, path string, loop *Step) error {
	in := st.Inputs
	spec := &apiSpec{params: map[string]any{}}
	var err error
	if spec.service, err = literal(in, path, "Service"); err != nil {
		return err
	}
	if spec.api, err = literal(in, path, "Api"); err != nil {
		return err
	}
	isCheck := st.Action != ActionExecuteAwsAPI
	for k, v := range in {
		switch {
		case k == "Service" || k == "Api":
		case isCheck && (k == "PropertySelector" || k == "DesiredValues"):
		default:
			spec.params[k] = v
		}
	}
	if isCheck {
		ps, err := literal(in, path, "PropertySelector")
		if err != nil {
			return err
		}
		if spec.property, err = compileSelector(ps); err != nil {
			return fmt.Errorf("%s.PropertySelector: %v", path, err)
		}
		dv, ok := in["DesiredValues"].([]any)
		if !ok || len(dv) == 0 {
			return fmt.Errorf("%s.DesiredValues: must be a non-empty list", path)
		}
		spec.desired = dv
		p.defer_(dv, path+".DesiredValues", loop)
	}
	p.defer_(spec.params, path, loop)
	st.api = spec
	return nil
}

func (p *parser) parseOutputs(st *Step, raw any, path string) error {
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return fmt.Errorf("%s: must be a list of Name / Selector / Type", path)
	}
	seen := map[string]bool{}
	for i, r := range list {
		op := fmt.Sprintf("%s[%d]", path, i)
		m, ok := r.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be a mapping with Name, Selector and Type", op)
		}
		if err := onlyKeys(m, op, "Name", "Selector", "Type"); err != nil {
			return err
		}
		var o Output
		var err error
		if o.Name, err = literal(m, op, "Name"); err != nil {
			return err
		}
		if !identPattern.MatchString(o.Name) {
			return fmt.Errorf("%s.Name: %q must be letters, digits or underscores", op, o.Name)
		}
		if seen[o.Name] {
			return fmt.Errorf("%s.Name: %q is declared twice", op, o.Name)
		}
		seen[o.Name] = true
		if o.Selector, err = literal(m, op, "Selector"); err != nil {
			return err
		}
		if o.sel, err = compileSelector(o.Selector); err != nil {
			return fmt.Errorf("%s.Selector: %v", op, err)
		}
		if o.Type, err = literal(m, op, "Type"); err != nil {
			return err
		}
		if !outputTypes[o.Type] {
			return fmt.Errorf("%s.Type: %q is not one of String, Integer, Boolean, StringList, StringMap, MapList", op, o.Type)
		}
		st.Outputs = append(st.Outputs, o)
	}
	return nil
}

func (p *parser) parseBranch(st *Step, path string, loop *Step) error {
	if err := onlyKeys(st.Inputs, path, "Choices", "Default"); err != nil {
		return err
	}
	raw, ok := st.Inputs["Choices"].([]any)
	if !ok || len(raw) == 0 {
		return fmt.Errorf("%s.Choices: must be a non-empty list", path)
	}
	spec := &branchSpec{}
	for i, r := range raw {
		c, err := p.parseChoice(r, fmt.Sprintf("%s.Choices[%d]", path, i), true, loop, 0)
		if err != nil {
			return err
		}
		spec.choices = append(spec.choices, c)
	}
	if d, ok := st.Inputs["Default"]; ok {
		s, ok := d.(string)
		if !ok || s == "" {
			return fmt.Errorf("%s.Default: must be a step name", path)
		}
		spec.def = s
	}
	st.branch = spec
	return nil
}

func (p *parser) parseChoice(raw any, path string, top bool, loop *Step, depth int) (*choice, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("%s: And / Or / Not nested deeper than %d", path, maxNesting)
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a choice must be a mapping", path)
	}
	c := &choice{}
	if top {
		var err error
		if c.next, err = literal(m, path, "NextStep"); err != nil {
			return nil, err
		}
	} else if _, has := m["NextStep"]; has {
		return nil, fmt.Errorf("%s.NextStep: only a top-level choice names the next step", path)
	}
	var forms []string
	for k, v := range m {
		switch {
		case k == "NextStep" && top:
		case k == "Variable":
			c.variable = v
		case k == "And" || k == "Or":
			list, ok := v.([]any)
			if !ok || len(list) < 1 {
				return nil, fmt.Errorf("%s.%s: must be a non-empty list of choices", path, k)
			}
			for i, e := range list {
				sub, err := p.parseChoice(e, fmt.Sprintf("%s.%s[%d]", path, k, i), false, loop, depth+1)
				if err != nil {
					return nil, err
				}
				if k == "And" {
					c.and = append(c.and, sub)
				} else {
					c.or = append(c.or, sub)
				}
			}
			forms = append(forms, k)
		case k == "Not":
			sub, err := p.parseChoice(v, path+".Not", false, loop, depth+1)
			if err != nil {
				return nil, err
			}
			c.not = sub
			forms = append(forms, k)
		case slices.Contains(stringOps, k) || slices.Contains(numericOps, k) || slices.Contains(booleanOps, k):
			if err := checkOperand(k, v); err != nil {
				return nil, fmt.Errorf("%s.%s: %v", path, k, err)
			}
			c.op, c.operand = k, v
			forms = append(forms, k)
		default:
			return nil, fmt.Errorf("%s: %q is not a choice field (Variable, an operator such as StringEquals, And, Or, Not%s)", path, k, map[bool]string{true: ", NextStep"}[top])
		}
	}
	switch {
	case len(forms) != 1:
		return nil, fmt.Errorf("%s: a choice needs exactly one operator or one of And / Or / Not, found %v", path, forms)
	case c.op != "" && c.variable == nil:
		return nil, fmt.Errorf("%s.Variable: missing for %s", path, c.op)
	case c.op == "" && c.variable != nil:
		return nil, fmt.Errorf("%s.Variable: only an operator such as StringEquals compares a Variable", path)
	}
	if c.variable != nil {
		if _, ok := c.variable.(string); !ok {
			return nil, fmt.Errorf("%s.Variable: must be a {{ reference }}", path)
		}
		p.defer_(c.variable, path+".Variable", loop)
		p.defer_(c.operand, path+"."+c.op, loop)
	}
	return c, nil
}

func checkOperand(op string, v any) error {
	if s, ok := v.(string); ok && refPattern.MatchString(s) {
		return nil
	}
	switch {
	case slices.Contains(numericOps, op):
		if _, ok := number(v); !ok {
			return errors.New("must be a number or a {{ reference }}")
		}
	case slices.Contains(booleanOps, op):
		if _, ok := boolean(v); !ok {
			return errors.New("must be true, false or a {{ reference }}")
		}
	default:
		if _, ok := scalarString(v); !ok {
			return errors.New("must be a string or a {{ reference }}")
		}
	}
	return nil
}

func (p *parser) parseLoop(st *Step, path string) error {
	in := st.Inputs
	if err := onlyKeys(in, path, "Iterators", "IteratorDataType", "LoopCondition", "MaxIterations", "Steps"); err != nil {
		return err
	}
	spec := &loopSpec{max: MaxIterations, dataType: "String"}
	_, hasIt := in["Iterators"]
	_, hasCond := in["LoopCondition"]
	if hasIt == hasCond {
		return fmt.Errorf("%s: give either Iterators (for each) or LoopCondition (do while), not both or neither", path)
	}
	if hasIt {
		spec.iterators = in["Iterators"]
		switch x := spec.iterators.(type) {
		case string:
			if !refPattern.MatchString(x) {
				return fmt.Errorf("%s.Iterators: must be a list or a {{ reference }} to one", path)
			}
		case []any:
			if len(x) > MaxIterations {
				return fmt.Errorf("%s.Iterators: %d items, at most %d", path, len(x), MaxIterations)
			}
		default:
			return fmt.Errorf("%s.Iterators: must be a list or a {{ reference }} to one", path)
		}
		p.defer_(spec.iterators, path+".Iterators", st)
	}
	if v, ok := in["IteratorDataType"]; ok {
		s, ok := v.(string)
		if !ok || !slices.Contains([]string{"String", "Integer", "Boolean", "StringMap"}, s) {
			return fmt.Errorf("%s.IteratorDataType: must be String, Integer, Boolean or StringMap", path)
		}
		if !hasIt {
			return fmt.Errorf("%s.IteratorDataType: only goes with Iterators", path)
		}
		spec.dataType = s
	}
	if v, ok := in["MaxIterations"]; ok {
		n, ok := v.(int64)
		if !ok || n < 1 || n > MaxIterations {
			return fmt.Errorf("%s.MaxIterations: must be an integer from 1 to %d", path, MaxIterations)
		}
		spec.max = int(n)
	}
	body, ok := in["Steps"].([]any)
	if !ok || len(body) == 0 {
		return fmt.Errorf("%s.Steps: must be a non-empty list of steps", path)
	}
	var err error
	if st.Steps, err = p.parseSteps(body, path+".Steps", st); err != nil {
		return err
	}
	if hasCond {
		if spec.condition, err = p.parseChoice(in["LoopCondition"], path+".LoopCondition", false, st, 0); err != nil {
			return err
		}
	}
	st.loop = spec
	return nil
}

func (p *parser) parseSleep(st *Step, path string, loop *Step) error {
	if err := onlyKeys(st.Inputs, path, "Duration", "Timestamp"); err != nil {
		return err
	}
	d, hasD := st.Inputs["Duration"]
	t, hasT := st.Inputs["Timestamp"]
	if hasD == hasT {
		return fmt.Errorf("%s: give either Duration or Timestamp", path)
	}
	spec := &sleepSpec{}
	if hasD {
		s, ok := d.(string)
		if !ok {
			return fmt.Errorf("%s.Duration: must be an ISO 8601 duration such as PT5S", path)
		}
		if !refPattern.MatchString(s) {
			if _, err := parseISODuration(s); err != nil {
				return fmt.Errorf("%s.Duration: %v", path, err)
			}
		}
		spec.duration = s
		p.defer_(s, path+".Duration", loop)
	} else {
		s, ok := t.(string)
		if !ok {
			return fmt.Errorf("%s.Timestamp: must be an ISO 8601 time such as 2024-01-31T12:00:00Z", path)
		}
		if !refPattern.MatchString(s) {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return fmt.Errorf("%s.Timestamp: %q is not an ISO 8601 time such as 2024-01-31T12:00:00Z", path, s)
			}
		}
		spec.timestamp = s
		p.defer_(s, path+".Timestamp", loop)
	}
	st.sleep = spec
	return nil
}

func (p *parser) parseRunCommand(st *Step, path string, loop *Step) error {
	in := st.Inputs
	if _, has := in["Targets"]; has {
		return fmt.Errorf("%s.Targets: this interpreter runs commands on InstanceIds only", path)
	}
	if err := onlyKeys(in, path, "DocumentName", "InstanceIds", "Parameters", "Comment", "TimeoutSeconds"); err != nil {
		return err
	}
	spec := &runCommandSpec{document: in["DocumentName"], instanceIDs: in["InstanceIds"], parameters: in["Parameters"]}
	if s, ok := spec.document.(string); !ok || s == "" {
		return fmt.Errorf("%s.DocumentName: missing", path)
	}
	switch x := spec.instanceIDs.(type) {
	case []any:
		if len(x) == 0 {
			return fmt.Errorf("%s.InstanceIds: must not be empty", path)
		}
	case string:
		if !refPattern.MatchString(x) {
			return fmt.Errorf("%s.InstanceIds: must be a list or a {{ reference }} to one", path)
		}
	default:
		return fmt.Errorf("%s.InstanceIds: missing (a list of instance ids)", path)
	}
	if spec.parameters != nil {
		if _, ok := spec.parameters.(map[string]any); !ok {
			return fmt.Errorf("%s.Parameters: must be a mapping of document parameters", path)
		}
	}
	if v, ok := in["TimeoutSeconds"]; ok {
		n, ok := v.(int64)
		if !ok || n < 30 || n > 2592000 {
			return fmt.Errorf("%s.TimeoutSeconds: must be an integer from 30 to 2592000", path)
		}
		spec.timeout = int(n)
	}
	p.defer_(in, path, loop)
	st.run = spec
	return nil
}

// defer_ queues a template for checking once every step is known.
func (p *parser) defer_(v any, path string, loop *Step) {
	p.pending = append(p.pending, pendingRef{value: v, path: path, loop: loop})
}

func (p *parser) checkRefs() error {
	for _, pr := range p.pending {
		if err := p.checkTemplate(pr.value, pr.path, pr.loop); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) checkTemplate(v any, path string, loop *Step) error {
	return walkStrings(v, path, func(at, s string) error {
		refs, err := refsIn(s)
		if err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		for _, r := range refs {
			if err := p.checkRef(r, at, loop); err != nil {
				return err
			}
		}
		return nil
	})
}

// loopOutputs are the outputs every aws:loop step has.
var loopOutputs = []string{"CurrentIteration", "CurrentIteratorValue"}

func (p *parser) checkRef(r ref, path string, loop *Step) error {
	switch r.kind {
	case refSystem:
		return nil
	case refParameter:
		if p.rb.params[r.name] == nil {
			return fmt.Errorf("%s: {{ %s }} refers to a parameter the document does not define", path, r.name)
		}
		return nil
	}
	st := p.names[r.name]
	if st == nil {
		return fmt.Errorf("%s: {{ %s }} refers to a step the document does not have", path, r)
	}
	if !slices.Contains(stepOutputNames(st), r.field) {
		return fmt.Errorf("%s: {{ %s }}: step %s has no output %q (it has %v)", path, r, st.Name, r.field, stepOutputNames(st))
	}
	if st.Action == ActionLoop && r.field == "CurrentIteratorValue" && st != loop {
		// CurrentIteratorValue only means something while the loop runs.
		return fmt.Errorf("%s: {{ %s }} is only defined inside loop %s", path, r, st.Name)
	}
	return nil
}

// runCommandOutputs are the outputs every aws:runCommand step has (all but
// Status need a ResultCommander).
var runCommandOutputs = []string{"CommandId", "Status", "ResponseCode", "Output"}

// stepOutputNames lists what {{ Step.X }} may name for a step.
func stepOutputNames(st *Step) []string {
	switch st.Action {
	case ActionLoop:
		return loopOutputs
	case ActionRunCommand:
		return runCommandOutputs
	}
	var names []string
	for _, o := range st.Outputs {
		names = append(names, o.Name)
	}
	return names
}

// checkSequence validates the targets of nextStep, onFailure and branch
// choices: they must name steps of the same sequence (the main steps, or
// one loop's body).
func (p *parser) checkSequence(steps []*Step, path string) error {
	in := map[string]bool{}
	for _, st := range steps {
		in[st.Name] = true
	}
	target := func(st *Step, field, name string) error {
		if !in[name] {
			where := "this loop's steps"
			if path == "mainSteps" {
				where = "mainSteps"
			}
			return fmt.Errorf("%s (%s).%s: %q is not a step in %s", path, st.Name, field, name, where)
		}
		if name == st.Name && st.Action != ActionBranch {
			return fmt.Errorf("%s (%s).%s: a step cannot name itself", path, st.Name, field)
		}
		return nil
	}
	for _, st := range steps {
		if st.NextStep != "" {
			if err := target(st, "nextStep", st.NextStep); err != nil {
				return err
			}
		}
		if name, ok := strings.CutPrefix(st.OnFailure, "step:"); ok {
			if err := target(st, "onFailure", name); err != nil {
				return err
			}
		}
		if st.branch != nil {
			for i, c := range st.branch.choices {
				if err := target(st, fmt.Sprintf("inputs.Choices[%d].NextStep", i), c.next); err != nil {
					return err
				}
			}
			if st.branch.def != "" {
				if err := target(st, "inputs.Default", st.branch.def); err != nil {
					return err
				}
			}
		}
		if st.loop != nil {
			if err := p.checkSequence(st.Steps, path+" ("+st.Name+").inputs.Steps"); err != nil {
				return err
			}
		}
	}
	return nil
}

// onlyKeys refuses keys a mapping may not have.
func onlyKeys(m map[string]any, path string, allowed ...string) error {
	for _, k := range sortedKeys(m) {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: unknown field %q (allowed: %s)", where(path), k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func optString(m map[string]any, path, key string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: must be a string", join(path, key))
	}
	return s, nil
}

// literal reads a required string that may not contain references.
func literal(m map[string]any, path, key string) (string, error) {
	s, err := optString(m, path, key)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("%s: missing", join(path, key))
	}
	if strings.Contains(s, "{{") {
		return "", fmt.Errorf("%s: must be written out, not a {{ reference }}", join(path, key))
	}
	return s, nil
}

var isoDuration = regexp.MustCompile(`^P(?:(\d{1,6})W)?(?:(\d{1,6})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,8})M)?(?:(\d{1,9}(?:\.\d{1,9})?)S)?)?$`)

// parseISODuration reads an ISO 8601 duration such as PT5S, PT1H30M or P1D
// (weeks, days, hours, minutes, seconds; not years or months), at most
// seven days as aws:sleep allows.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration such as PT5S or PT1H", s)
	}
	// Sum in float seconds: the digits are bounded, so this cannot
	// overflow, and the result is range-checked before it becomes a
	// time.Duration.
	var secs float64
	for i, unit := range []float64{7 * 24 * 3600, 24 * 3600, 3600, 60, 1} {
		if m[i+1] != "" {
			f, _ := number(m[i+1])
			secs += f * unit
		}
	}
	if secs > maxSleep.Seconds() {
		return 0, fmt.Errorf("%q is longer than the 7 days aws:sleep allows", s)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
