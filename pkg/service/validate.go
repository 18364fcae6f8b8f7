package service

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
	"github.com/fleetdoctor/fleetdoctor/pkg/checks"
	"github.com/fleetdoctor/fleetdoctor/pkg/policy"
)

//go:embed input.schema.json
var inputSchemaJSON []byte

// InputSchema returns the input's JSON Schema (draft 2020-12) with the
// check and remediation enums filled in, e.g. for the console's input
// editor or infra's documentation.
func InputSchema() []byte {
	b, err := json.MarshalIndent(schemaDoc(), "", "  ")
	if err != nil {
		panic("service: input.schema.json: " + err.Error())
	}
	return b
}

// maxInputBytes caps the input validated (Step Functions caps it at 256 KiB).
const maxInputBytes = 256 << 10

var (
	inputSchema = compileInputSchema()
	runIDRE     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,80}$`)
	printer     = message.NewPrinter(language.English)
)

// schemaDoc is input.schema.json with the enums of the known check and
// remediation ids, so the schema can never drift from the catalogue.
func schemaDoc() map[string]any {
	var doc map[string]any
	if err := json.Unmarshal(inputSchemaJSON, &doc); err != nil {
		panic("service: input.schema.json: " + err.Error())
	}
	props := doc["properties"].(map[string]any)
	var checkIDs []any
	for _, c := range checks.Catalogue() {
		if c.ID != checks.IncompleteID {
			checkIDs = append(checkIDs, c.ID)
		}
	}
	var remIDs []any
	for _, id := range policy.RemediationIDs() {
		remIDs = append(remIDs, id)
	}
	props["checks"].(map[string]any)["items"].(map[string]any)["enum"] = checkIDs
	props["remediations"].(map[string]any)["items"].(map[string]any)["enum"] = remIDs
	return doc
}

func compileInputSchema() *jsonschema.Schema {
	b, _ := json.Marshal(schemaDoc())
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		panic("service: input.schema.json: " + err.Error())
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(id, doc); err != nil {
		panic("service: input.schema.json: " + err.Error())
	}
	return c.MustCompile(id)
}

// UnmarshalJSON decodes an Input leniently and keeps the bytes it came
// from, so that Validate judges what the caller sent (an unknown field, a
// string where a boolean belongs) and names the field, instead of the
// runtime failing the decode with a Go error.
func (in *Input) UnmarshalJSON(b []byte) error {
	type plain Input
	var p plain
	_ = json.Unmarshal(b, &p) // type errors are reported by Validate
	*in = Input(p)
	in.raw = bytes.Clone(b)
	return nil
}

// Validate checks an input against input.schema.json and then the rules a
// schema cannot express, and returns it normalised: DryRun defaults to
// true, RunID to executionName. An invalid input gives an *Error of type
// ErrorInvalidInput whose message names the field, e.g.
// `input.scope.accounts[1]: "12" does not match ^[0-9]{12}$`.
func Validate(in Input, executionName string) (Input, error) {
	raw := in.raw
	if raw == nil {
		b, err := json.Marshal(in)
		if err != nil {
			return Input{}, invalidInput("input: %v", err)
		}
		raw = b
	}
	if len(raw) > maxInputBytes {
		return Input{}, invalidInput("input: %d bytes, more than the %d a run input may have", len(raw), maxInputBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return Input{}, invalidInput("input: not JSON: %v", err)
	}
	if err := inputSchema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return Input{}, invalidInput("input: %v", err)
		}
		return Input{}, invalidInput("%s", strings.Join(problems(ve), "; "))
	}
	for i, r := range in.Scope.Regions {
		if err := awsapi.ValidateRegion(r); err != nil {
			return Input{}, invalidInput("input.scope.regions[%d]: %v", i, err)
		}
	}
	for k := range in.Scope.Tags {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return Input{}, invalidInput("input.scope.tags[%q]: tag keys starting with aws: are reserved", capText(k, 128))
		}
	}
	if in.Mode != ModeRemediate && len(in.Remediations) > 0 {
		return Input{}, invalidInput("input.remediations: only a %q run remediates (mode is %q)", ModeRemediate, in.Mode)
	}
	if in.Mode != ModeRemediate && in.MaxChanges > 0 {
		return Input{}, invalidInput("input.maxChanges: only a %q run makes changes (mode is %q)", ModeRemediate, in.Mode)
	}
	out := in
	out.raw = nil
	if out.DryRun == nil {
		t := true
		out.DryRun = &t
	}
	if out.RunID == "" {
		if executionName == "" {
			return Input{}, invalidInput("input.runId: empty and no execution name to take it from")
		}
		if !runIDRE.MatchString(executionName) {
			return Input{}, invalidInput("executionName: %q cannot name a run: want 1-80 letters, digits, '.', '_' or '-'", capText(executionName, 100))
		}
		out.RunID = executionName
	}
	return out, nil
}

// DryRunOf reads Input.DryRun with its default (true).
func DryRunOf(in Input) bool { return in.DryRun == nil || *in.DryRun }

// problems flattens a validation error into one message per leaf.
func problems(ve *jsonschema.ValidationError) []string {
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, fieldPath(e.InstanceLocation)+": "+describeKind(e.ErrorKind))
	}
	walk(ve)
	slices.Sort(out)
	return slices.Compact(out)
}

// fieldPath writes a JSON location as input.scope.accounts[1].
func fieldPath(loc []string) string {
	var b strings.Builder
	b.WriteString("input")
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		b.WriteString("." + capText(tok, 128))
	}
	return b.String()
}

func describeKind(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Pattern:
		return fmt.Sprintf("%s does not match %s", strconv.Quote(capText(k.Got, 100)), k.Want)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return fmt.Sprintf("%s is not one of %s", quoteAny(k.Got), strings.Join(want, ", "))
	case *kind.AdditionalProperties:
		q := make([]string, len(k.Properties))
		for i, p := range k.Properties {
			q[i] = strconv.Quote(capText(p, 64))
		}
		return "unknown field " + strings.Join(q, ", ")
	case *kind.Required:
		return "missing " + strings.Join(k.Missing, ", ")
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	}
	return k.LocalizedString(printer)
}

func quoteAny(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(capText(s, 100))
	}
	return capText(fmt.Sprint(v), 100)
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$`)
)
