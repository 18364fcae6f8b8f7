package host

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// document is a Command document as Run Command needs it: its steps (what
// runs where, and under which name output is reported) and its parameters
// (to validate SendCommand's).
type document struct {
	name   string
	steps  []step
	params map[string]param
}

// step is one plugin run of a document.
type step struct {
	// name is the CommandPlugin name and GetCommandInvocation PluginName:
	// the mainSteps name (schema 2.x) or the plugin (schema 1.2).
	name string
	// action is the plugin, e.g. aws:runShellScript.
	action string
	// s3Dir is the output folder below <prefix>/<command>/<instance>/:
	// "awsrunShellScript/<step name>" (2.x) or
	// "awsrunShellScript/0.awsrunShellScript" (1.2).
	s3Dir string
	// platform is the platformType precondition ("" = every platform).
	platform string
}

// param is one document parameter.
type param struct {
	typ      string
	required bool
	pattern  *regexp.Regexp
	allowed  []string
}

type rawDoc struct {
	SchemaVersion string               `yaml:"schemaVersion"`
	Parameters    map[string]rawParam  `yaml:"parameters"`
	MainSteps     []rawStep            `yaml:"mainSteps"`
	RuntimeConfig map[string]yaml.Node `yaml:"runtimeConfig"`
}

type rawParam struct {
	Type           string   `yaml:"type"`
	Default        any      `yaml:"default"`
	AllowedPattern string   `yaml:"allowedPattern"`
	AllowedValues  []string `yaml:"allowedValues"`
}

type rawStep struct {
	Action       string              `yaml:"action"`
	Name         string              `yaml:"name"`
	Precondition map[string][]string `yaml:"precondition"`
}

// errNotCommand marks a document that exists but is not a Command document.
type errNotCommand struct{ schema string }

func (e errNotCommand) Error() string {
	return fmt.Sprintf("schemaVersion %q is not a Command document schema (1.2, 2.0, 2.2)", e.schema)
}

// parseDocument reads a Command document (YAML or JSON). Errors name the
// field at fault.
func parseDocument(name string, content []byte) (*document, error) {
	var raw rawDoc
	if err := yaml.Unmarshal(content, &raw); err != nil {
		return nil, fmt.Errorf("document %s: %w", name, err)
	}
	d := &document{name: name, params: map[string]param{}}
	for pname, rp := range raw.Parameters {
		p := param{typ: rp.Type, required: rp.Default == nil, allowed: rp.AllowedValues}
		switch rp.Type {
		case "String", "StringList", "Integer", "Boolean", "MapList", "StringMap":
		default:
			return nil, fmt.Errorf("document %s: parameters.%s.type: %q is not a parameter type", name, pname, rp.Type)
		}
		if rp.AllowedPattern != "" {
			re, err := regexp.Compile("^(?:" + rp.AllowedPattern + ")$")
			if err != nil {
				return nil, fmt.Errorf("document %s: parameters.%s.allowedPattern: %w", name, pname, err)
			}
			p.pattern = re
		}
		d.params[pname] = p
	}
	switch raw.SchemaVersion {
	case "1.2":
		if len(raw.MainSteps) > 0 {
			return nil, fmt.Errorf("document %s: mainSteps: not allowed in schema 1.2 (use runtimeConfig)", name)
		}
		plugins := make([]string, 0, len(raw.RuntimeConfig))
		for k := range raw.RuntimeConfig {
			plugins = append(plugins, k)
		}
		sort.Strings(plugins)
		for i, p := range plugins {
			dir := strings.ReplaceAll(p, ":", "")
			d.steps = append(d.steps, step{name: p, action: p, s3Dir: fmt.Sprintf("%s/%d.%s", dir, i, dir)})
		}
		if len(d.steps) == 0 {
			return nil, fmt.Errorf("document %s: runtimeConfig: no plugin", name)
		}
	case "2.0", "2.2":
		for i, rs := range raw.MainSteps {
			if rs.Action == "" || rs.Name == "" {
				return nil, fmt.Errorf("document %s: mainSteps[%d]: action and name are required", name, i)
			}
			if slices.ContainsFunc(d.steps, func(s step) bool { return s.name == rs.Name }) {
				return nil, fmt.Errorf("document %s: mainSteps[%d].name: %q is used twice", name, i, rs.Name)
			}
			st := step{name: rs.Name, action: rs.Action, s3Dir: strings.ReplaceAll(rs.Action, ":", "") + "/" + rs.Name}
			for k, v := range rs.Precondition {
				if k != "StringEquals" || len(v) != 2 || v[0] != "platformType" {
					return nil, fmt.Errorf("document %s: mainSteps[%d].precondition: only StringEquals [platformType, <platform>] is supported", name, i)
				}
				st.platform = v[1]
			}
			d.steps = append(d.steps, st)
		}
		if len(d.steps) == 0 {
			return nil, fmt.Errorf("document %s: mainSteps: no step", name)
		}
	case "0.3":
		return nil, errNotCommand{raw.SchemaVersion}
	default:
		return nil, fmt.Errorf("document %s: schemaVersion: %q is not supported", name, raw.SchemaVersion)
	}
	return d, nil
}

// validate checks SendCommand's parameters against the document's.
func (d *document) validate(in map[string][]string) error {
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p, ok := d.params[k]
		if !ok {
			return fmt.Errorf("parameter %q is not defined in document %s", k, d.name)
		}
		vs := in[k]
		if p.typ != "StringList" && p.typ != "MapList" && len(vs) > 1 {
			return fmt.Errorf("parameter %q is of type %s and takes one value, got %d", k, p.typ, len(vs))
		}
		for _, v := range vs {
			if p.pattern != nil && !p.pattern.MatchString(v) {
				return fmt.Errorf("parameter %q value %q does not match the allowedPattern %s", k, v, strings.TrimSuffix(strings.TrimPrefix(p.pattern.String(), "^(?:"), ")$"))
			}
			if len(p.allowed) > 0 && !slices.Contains(p.allowed, v) {
				return fmt.Errorf("parameter %q value %q is not one of the allowedValues %v", k, v, p.allowed)
			}
		}
	}
	required := make([]string, 0)
	for k, p := range d.params {
		if _, ok := in[k]; p.required && !ok {
			required = append(required, k)
		}
	}
	sort.Strings(required)
	if len(required) > 0 {
		return fmt.Errorf("required parameter(s) %s not provided for document %s", strings.Join(required, ", "), d.name)
	}
	return nil
}

// skipReason says why a step does not run on platform ("" = it runs), in
// the agent's words.
func (s step) skipReason(platform string) string {
	if s.platform != "" && !strings.EqualFold(s.platform, platform) {
		return fmt.Sprintf("Step execution skipped due to unsatisfied preconditions: '\"StringEquals\": [platformType, %s]'. Step name: %s", s.platform, s.name)
	}
	if s.action == "aws:runShellScript" && platform == "Windows" {
		return fmt.Sprintf("Step execution skipped due to unsupported plugin: %s. Step name: %s", s.action, s.name)
	}
	return ""
}

// builtinDocuments stand in for documents no source provides: the two
// AWS-owned shell documents and the layout of fleetdoctor's diagnose
// document.
var builtinDocuments = map[string]string{
	"AWS-RunShellScript": `
schemaVersion: "1.2"
parameters:
  commands: {type: StringList}
  workingDirectory: {type: String, default: ""}
  executionTimeout: {type: String, default: "3600", allowedPattern: "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"}
runtimeConfig:
  aws:runShellScript: {}
`,
	"AWS-RunPowerShellScript": `
schemaVersion: "1.2"
parameters:
  commands: {type: StringList}
  workingDirectory: {type: String, default: ""}
  executionTimeout: {type: String, default: "3600", allowedPattern: "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"}
runtimeConfig:
  aws:runPowerShellScript: {}
`,
	DiagnoseDocument: `
schemaVersion: "2.2"
mainSteps:
  - action: aws:runShellScript
    name: ` + DiagnoseLinuxStep + `
    precondition: {StringEquals: [platformType, Linux]}
  - action: aws:runPowerShellScript
    name: ` + DiagnoseWindowsStep + `
    precondition: {StringEquals: [platformType, Windows]}
`,
}

// Step names of the built-in layout of DiagnoseDocument (used when no
// document source provides the document).
const (
	DiagnoseLinuxStep   = "diagnoseLinux"
	DiagnoseWindowsStep = "diagnoseWindows"
)
