package policy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// Defaults filled in for what a policy file leaves out.
const (
	DefaultHopLimitTarget       = 2
	DefaultHopLimitNestedTarget = 3
	DefaultCapPerRun            = 50
	DefaultCapPerAccount        = 25
	DefaultWaveCanary           = 5
	DefaultWaveGrowth           = 4
	DefaultWaveMax              = 100
	DefaultMaxErrors            = "5%"
	// MaxTokensWindow is the longest tokens.window: CloudWatch keeps
	// hourly datapoints of MetadataNoToken for 455 days.
	MaxTokensWindow = 455 * 24 * time.Hour
	// MaxFileSize bounds what Load reads.
	MaxFileSize = 1 << 20
)

// maxNodes bounds the YAML nodes one policy may expand to, aliases
// included, so a document of nested aliases cannot exhaust memory.
const maxNodes = 100_000

//go:embed schema.json
var schemaJSON []byte

// Schema returns the policy's JSON Schema (draft 2020-12), e.g. for an
// editor's YAML language server.
func Schema() []byte { return bytes.Clone(schemaJSON) }

// compiled is the schema compiled once, and rawSchema the same document as
// plain values, read for the messages ("x-error", "x-hint", "x-unknown")
// and the known property names of the schema location an error names.
var compiled, rawSchema = mustCompile()

func mustCompile() (*jsonschema.Schema, any) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		panic("policy: schema.json: " + err.Error())
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		panic("policy: schema.json: " + err.Error())
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(id, doc); err != nil {
		panic("policy: schema.json: " + err.Error())
	}
	sch, err := c.Compile(id)
	if err != nil {
		panic("policy: schema.json: " + err.Error())
	}
	return sch, raw
}

// Default returns the policy of an empty file: version 1, every
// remediation off, every parameter and guard rail at its default.
func Default() *Policy {
	return &Policy{
		Version:      1,
		Remediations: map[string]Remediation{},
		Tokens:       TokensPolicy{Window: DefaultTokensWindow},
		HopLimit:     HopLimitPolicy{Target: DefaultHopLimitTarget, NestedTarget: DefaultHopLimitNestedTarget},
		Caps:         Caps{PerRun: DefaultCapPerRun, PerAccount: DefaultCapPerAccount},
		Waves:        Waves{Canary: DefaultWaveCanary, Growth: DefaultWaveGrowth, Max: DefaultWaveMax},
		MaxErrors:    DefaultMaxErrors,
	}
}

// FieldError is one problem in a policy file.
type FieldError struct {
	// Path is the JSON Pointer of the offending field ("/caps/perRun");
	// "" is the document as a whole.
	Path string
	// Line is the field's line in the file (its parent's for a missing
	// field), 0 when unknown.
	Line int
	// Message says what is wrong, e.g. "must be >= 1".
	Message string
}

// Error prints the problem without its source: "/caps/perRun: must be >= 1 (line 9)".
func (f FieldError) Error() string {
	s := f.Message
	if f.Path != "" {
		s = f.Path + ": " + s
	}
	if f.Line > 0 {
		s += fmt.Sprintf(" (line %d)", f.Line)
	}
	return s
}

// Error is a policy file that was rejected, with every problem found.
type Error struct {
	// Source names the file ("policy.yaml").
	Source string
	// Problems are in file order.
	Problems []FieldError
}

// Error prints one problem a line: "policy.yaml: /caps/perRun: must be >= 1 (line 9)".
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = e.Source + ": " + p.Error()
	}
	return strings.Join(lines, "\n")
}

// Paths lists the problems' paths, for tests and tools.
func (e *Error) Paths() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Path
	}
	return out
}

// Load reads and validates the policy file at path; see Parse.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: reading %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Source: path, Problems: []FieldError{{Message: fmt.Sprintf("is larger than %d bytes", MaxFileSize)}}}
	}
	return Parse(data, path)
}

// Parse reads a policy from YAML (JSON is YAML too), validates it against
// the embedded JSON Schema and the rules the schema cannot express, and
// fills in the defaults of Default for what it leaves out. source names the
// document in errors. On any problem it returns a nil policy and an *Error
// listing every problem found, each naming the field's JSON Pointer.
func Parse(data []byte, source string) (*Policy, error) {
	fail := func(probs ...FieldError) (*Policy, error) {
		return nil, &Error{Source: source, Problems: probs}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(FieldError{Message: "is empty: a policy needs at least \"version: 1\""})
		}
		return fail(FieldError{Message: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fail(FieldError{Line: extra.Line, Message: "holds more than one YAML document"})
	}
	conv := converter{lines: map[string]int{}, budget: maxNodes}
	value, err := conv.value(&doc, "")
	if err != nil {
		var fe FieldError
		if errors.As(err, &fe) {
			return fail(fe)
		}
		return fail(FieldError{Message: err.Error()})
	}
	if value == nil {
		return fail(FieldError{Message: "is empty: a policy needs at least \"version: 1\""})
	}
	if err := compiled.Validate(value); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return fail(FieldError{Message: err.Error()})
		}
		return fail(conv.sorted(schemaProblems(ve, conv.lines))...)
	}
	p, probs := decode(value)
	if len(probs) > 0 {
		for i := range probs {
			probs[i].Line = conv.line(probs[i].Path)
		}
		return fail(conv.sorted(probs)...)
	}
	return p, nil
}

// converter turns a YAML node tree into the plain values JSON Schema
// validates (map[string]any, []any, string, json.Number, bool, nil),
// recording each value's line by JSON Pointer.
type converter struct {
	lines  map[string]int
	budget int
}

func (c *converter) line(path string) int {
	for {
		if l, ok := c.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = path[:strings.LastIndexByte(path, '/')]
	}
}

// sorted orders problems by line, then path, and drops duplicates.
func (c *converter) sorted(probs []FieldError) []FieldError {
	slices.SortStableFunc(probs, func(a, b FieldError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Path, b.Path)
	})
	return slices.Compact(probs)
}

func (c *converter) value(n *yaml.Node, path string) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, FieldError{Line: n.Line, Message: fmt.Sprintf("expands to more than %d values (nested aliases?)", maxNodes)}
	}
	if _, ok := c.lines[path]; !ok {
		c.lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], path)
	case yaml.AliasNode:
		return c.value(n.Alias, path)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, FieldError{Path: path, Line: k.Line, Message: "has a key that is not a plain name"}
			}
			if k.ShortTag() == "!!merge" {
				return nil, FieldError{Path: path, Line: k.Line, Message: "uses a merge key (<<), which policies do not support: write the fields out"}
			}
			p := path + "/" + escape(k.Value)
			if _, dup := m[k.Value]; dup {
				return nil, FieldError{Path: p, Line: k.Line, Message: "is given twice"}
			}
			c.lines[p] = k.Line
			val, err := c.value(v, p)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			val, err := c.value(e, path+"/"+strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		return s, nil
	case yaml.ScalarNode:
		return scalar(n, path)
	}
	return nil, FieldError{Path: path, Line: n.Line, Message: "is not a YAML value"}
}

// scalar converts a resolved YAML scalar. Timestamps stay the text they
// were written as (expires: 2027-03-31 is a date string to the schema).
func scalar(n *yaml.Node, path string) (any, error) {
	bad := func(what string) error {
		return FieldError{Path: path, Line: n.Line, Message: fmt.Sprintf("%q is not a usable %s", n.Value, what)}
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, bad("boolean")
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, bad("integer")
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad("number")
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return json.Number(strconv.FormatInt(int64(f), 10)), nil
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	default: // !!str, !!timestamp, !!binary and custom tags: the text
		return n.Value, nil
	}
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func pointer(toks []string) string {
	var sb strings.Builder
	for _, t := range toks {
		sb.WriteByte('/')
		sb.WriteString(escape(t))
	}
	return sb.String()
}

// schemaProblems flattens a validation error tree into its leaves, worded
// for people.
func schemaProblems(ve *jsonschema.ValidationError, lines map[string]int) []FieldError {
	var out []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		conv := converter{lines: lines}
		for _, fe := range describe(e, pointer(e.InstanceLocation), schemaAt(e.SchemaURL)) {
			fe.Line = conv.line(fe.Path)
			out = append(out, fe)
		}
	}
	walk(ve)
	return out
}

// schemaAt is the raw schema object at an absolute schema location
// ("https://.../schema.json#/properties/caps").
func schemaAt(url string) map[string]any {
	_, frag, _ := strings.Cut(url, "#")
	node := rawSchema
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n := node.(type) {
		case map[string]any:
			node = n[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil
			}
			node = n[i]
		default:
			return nil
		}
	}
	m, _ := node.(map[string]any)
	return m
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

var printer = message.NewPrinter(language.English)

// typeNames words JSON Schema types for a YAML author.
var typeNames = map[string]string{
	"object":  "a mapping",
	"array":   "a list",
	"string":  "a string",
	"integer": "a whole number",
	"number":  "a number",
	"boolean": "true or false",
	"null":    "empty",
}

func typeName(t string) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return t
}

// describe words one leaf error; a leaf about several properties
// (required, additionalProperties) becomes one problem per property.
func describe(e *jsonschema.ValidationError, path string, sch map[string]any) []FieldError {
	custom, hint := str(sch, "x-error"), str(sch, "x-hint")
	one := func(msg string) []FieldError { return []FieldError{{Path: path, Message: msg}} }
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = typeName(w)
		}
		msg := fmt.Sprintf("must be %s, not %s", strings.Join(want, " or "), typeName(k.Got))
		if len(k.Want) == 1 && k.Want[0] == "string" && (k.Got == "number" || k.Got == "integer" || k.Got == "boolean") {
			msg += " (put it in quotes)"
		}
		return one(msg)
	case *kind.Required:
		var out []FieldError
		for _, m := range k.Missing {
			msg := "is required"
			if custom != "" {
				msg = custom
			}
			out = append(out, FieldError{Path: path + "/" + escape(m), Message: msg})
		}
		return out
	case *kind.AdditionalProperties:
		var known []string
		if props, ok := sch["properties"].(map[string]any); ok {
			for name := range props {
				known = append(known, name)
			}
		}
		slices.Sort(known)
		what := str(sch, "x-unknown")
		if what == "" {
			what = "unknown field"
		}
		var out []FieldError
		for _, p := range k.Properties {
			out = append(out, FieldError{Path: path + "/" + escape(p), Message: fmt.Sprintf("%s (known: %s)", what, strings.Join(known, ", "))})
		}
		return out
	case *kind.Minimum:
		msg := "must be >= " + k.Want.RatString()
		if hint != "" {
			msg += ": " + hint
		}
		return one(msg)
	case *kind.Maximum:
		return one("must be <= " + k.Want.RatString())
	case *kind.Pattern, *kind.Const, *kind.Enum, *kind.Format:
		if custom != "" {
			return []FieldError{{Path: path, Message: custom}}
		}
	case *kind.MinLength:
		if custom != "" {
			return []FieldError{{Path: path, Message: custom}}
		}
		if k.Want == 1 {
			return one("must not be empty")
		}
		return one(fmt.Sprintf("must be at least %d characters", k.Want))
	case *kind.MaxLength:
		return one(fmt.Sprintf("must be at most %d characters", k.Want))
	}
	return one(e.ErrorKind.LocalizedString(printer))
}

// file mirrors a schema-valid policy document; pointers tell a field left
// out (default applies) from one set to its zero value.
type file struct {
	Version      int                    `json:"version"`
	Remediations map[string]Remediation `json:"remediations"`
	Tokens       *struct {
		Window *string  `json:"window"`
		Force  []string `json:"force"`
	} `json:"tokens"`
	HopLimit *struct {
		ContainerHostsNeedIMDS *bool    `json:"containerHostsNeedIMDS"`
		Target                 *int32   `json:"target"`
		NestedTarget           *int32   `json:"nestedTarget"`
		KeepIRSAClusters       []string `json:"keepIrsaClusters"`
	} `json:"hopLimit"`
	InstanceProfileName string   `json:"instanceProfileName"`
	DHMCRoleName        string   `json:"dhmcRoleName"`
	NoProxyHosts        []string `json:"noProxyHosts"`
	AgentMinVersion     string   `json:"agentMinVersion"`
	Caps                *struct {
		PerRun     *int `json:"perRun"`
		PerAccount *int `json:"perAccount"`
	} `json:"caps"`
	Waves *struct {
		Canary *int `json:"canary"`
		Growth *int `json:"growth"`
		Max    *int `json:"max"`
	} `json:"waves"`
	MaxErrors  json.RawMessage `json:"maxErrors"`
	Exemptions []struct {
		InstanceID string `json:"instanceId"`
		Owner      string `json:"owner"`
		Expires    string `json:"expires"`
		Reason     string `json:"reason"`
	} `json:"exemptions"`
}

// decode turns a schema-valid document into a Policy over the defaults and
// checks the rules the schema cannot express.
func decode(value any) (*Policy, []FieldError) {
	var probs []FieldError
	bad := func(path, format string, args ...any) {
		probs = append(probs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	data, err := json.Marshal(value)
	if err != nil {
		return nil, []FieldError{{Message: err.Error()}}
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// The schema admits only what file holds; this is a bug.
		return nil, []FieldError{{Message: "internal error: schema and decoder disagree: " + err.Error()}}
	}
	p := Default()
	p.Version = f.Version
	for id, r := range f.Remediations {
		p.Remediations[id] = r
	}
	if t := f.Tokens; t != nil {
		if t.Window != nil {
			w, err := ParseWindow(*t.Window)
			switch {
			case err != nil:
				bad("/tokens/window", "%v", err)
			case w <= 0:
				bad("/tokens/window", "must be longer than 0: MetadataNoToken must have been zero over some time")
			case w > MaxTokensWindow:
				bad("/tokens/window", "must be at most 455d (CloudWatch keeps MetadataNoToken for 455 days)")
			default:
				p.Tokens.Window = w
			}
		}
		p.Tokens.Force = t.Force
	}
	if h := f.HopLimit; h != nil {
		if h.ContainerHostsNeedIMDS != nil {
			p.HopLimit.ContainerHostsNeedIMDS = *h.ContainerHostsNeedIMDS
		}
		if h.Target != nil {
			p.HopLimit.Target = *h.Target
		}
		if h.NestedTarget != nil {
			p.HopLimit.NestedTarget = *h.NestedTarget
		}
		if p.HopLimit.NestedTarget < p.HopLimit.Target {
			bad("/hopLimit/nestedTarget", "must be >= hopLimit.target (%d): nested containers need at least the hops of plain ones", p.HopLimit.Target)
		}
		p.HopLimit.KeepIRSAClusters = h.KeepIRSAClusters
	}
	p.InstanceProfileName = f.InstanceProfileName
	p.DHMCRoleName = f.DHMCRoleName
	p.NoProxyHosts = f.NoProxyHosts
	p.AgentMinVersion = f.AgentMinVersion
	if c := f.Caps; c != nil {
		setInt(&p.Caps.PerRun, c.PerRun)
		setInt(&p.Caps.PerAccount, c.PerAccount)
	}
	if w := f.Waves; w != nil {
		setInt(&p.Waves.Canary, w.Canary)
		setInt(&p.Waves.Growth, w.Growth)
		setInt(&p.Waves.Max, w.Max)
		if p.Waves.Canary > p.Waves.Max {
			bad("/waves/canary", "must be <= waves.max (%d)", p.Waves.Max)
		}
	}
	if len(f.MaxErrors) > 0 {
		var s string
		if json.Unmarshal(f.MaxErrors, &s) != nil {
			s = string(f.MaxErrors) // a number
		}
		if _, _, err := parseMaxErrors(s); err != nil {
			bad("/maxErrors", "%v", err)
		}
		p.MaxErrors = s
	}
	seen := map[string]int{}
	for i, e := range f.Exemptions {
		path := fmt.Sprintf("/exemptions/%d", i)
		t, err := parseExpiry(e.Expires)
		if err != nil {
			bad(path+"/expires", "must be a date (YYYY-MM-DD) or an RFC 3339 time: %q is not", e.Expires)
		}
		if j, dup := seen[e.InstanceID]; dup {
			bad(path+"/instanceId", "%s is already exempted by /exemptions/%d", e.InstanceID, j)
		}
		seen[e.InstanceID] = i
		p.Exemptions = append(p.Exemptions, Exemption{InstanceID: e.InstanceID, Owner: e.Owner, Expires: t.UTC(), Reason: e.Reason})
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return p, nil
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

var windowRE = regexp.MustCompile(`^(?:([0-9]+)d)?(.*)$`)

// ParseWindow reads a duration in days ("14d"), Go syntax ("336h") or both
// ("1d12h").
func ParseWindow(s string) (time.Duration, error) {
	m := windowRE.FindStringSubmatch(s)
	if s == "" || m == nil || (m[1] == "" && m[2] == "") {
		return 0, fmt.Errorf("%q is not a duration: want days (14d), Go syntax (336h) or both (1d12h)", s)
	}
	var d time.Duration
	if m[1] != "" {
		days, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || days > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, fmt.Errorf("%q is too long", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	}
	if m[2] != "" {
		rest, err := time.ParseDuration(m[2])
		if err != nil || rest < 0 {
			return 0, fmt.Errorf("%q is not a duration: want days (14d), Go syntax (336h) or both (1d12h)", s)
		}
		if d > math.MaxInt64-rest {
			return 0, fmt.Errorf("%q is too long", s)
		}
		d += rest
	}
	return d, nil
}

// FormatWindow writes d as ParseWindow reads it: whole days as "14d",
// anything else in Go syntax.
func FormatWindow(d time.Duration) string {
	day := 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// parseMaxErrors reads "3" (count) or "5%" / "2.5%" (percent, exact).
func parseMaxErrors(s string) (count int, percent *big.Rat, err error) {
	if num, ok := strings.CutSuffix(s, "%"); ok {
		r, ok := new(big.Rat).SetString(num)
		if !ok || num == "" || strings.ContainsAny(num, "eE/+-") || r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
			return 0, nil, fmt.Errorf("%q is not a percentage from 0%% to 100%%", s)
		}
		return 0, r, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, nil, fmt.Errorf("%q is not a count (3) or a percentage (5%%)", s)
	}
	return n, nil, nil
}

// MaxErrorsFor is how many of planned changes may fail before the run
// stops (it stops when failures exceed this): the count, or the percentage
// of planned rounded up. A MaxErrors that does not parse (only possible in
// a Policy built in code) tolerates no failure.
func (p *Policy) MaxErrorsFor(planned int) int {
	n, pct, err := parseMaxErrors(p.MaxErrors)
	switch {
	case err != nil:
		return 0
	case pct == nil:
		return n
	case planned <= 0:
		return 0
	}
	v := new(big.Rat).Mul(pct, big.NewRat(int64(planned), 100))
	q, r := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return int(q.Int64())
}

// EnabledIDs lists the enabled remediations in plan order.
func (p *Policy) EnabledIDs() []string {
	var out []string
	for _, id := range RemediationIDs() {
		if p.Enabled(id) {
			out = append(out, id)
		}
	}
	return out
}

// MarshalYAML writes the policy in the file format Parse reads, so
// yaml.Marshal(p) round-trips.
func (p *Policy) MarshalYAML() (any, error) {
	type exemption struct {
		InstanceID string `yaml:"instanceId"`
		Owner      string `yaml:"owner"`
		Expires    string `yaml:"expires"`
		Reason     string `yaml:"reason,omitempty"`
	}
	type remediation struct {
		Enabled bool `yaml:"enabled"`
	}
	type out struct {
		Version      int                    `yaml:"version"`
		Remediations map[string]remediation `yaml:"remediations,omitempty"`
		Tokens       struct {
			Window string   `yaml:"window"`
			Force  []string `yaml:"force,omitempty"`
		} `yaml:"tokens"`
		HopLimit struct {
			ContainerHostsNeedIMDS bool     `yaml:"containerHostsNeedIMDS"`
			Target                 int32    `yaml:"target"`
			NestedTarget           int32    `yaml:"nestedTarget"`
			KeepIRSAClusters       []string `yaml:"keepIrsaClusters,omitempty"`
		} `yaml:"hopLimit"`
		InstanceProfileName string   `yaml:"instanceProfileName,omitempty"`
		DHMCRoleName        string   `yaml:"dhmcRoleName,omitempty"`
		NoProxyHosts        []string `yaml:"noProxyHosts,omitempty"`
		AgentMinVersion     string   `yaml:"agentMinVersion,omitempty"`
		Caps                struct {
			PerRun     int `yaml:"perRun"`
			PerAccount int `yaml:"perAccount"`
		} `yaml:"caps"`
		Waves struct {
			Canary int `yaml:"canary"`
			Growth int `yaml:"growth"`
			Max    int `yaml:"max"`
		} `yaml:"waves"`
		MaxErrors  string      `yaml:"maxErrors"`
		Exemptions []exemption `yaml:"exemptions,omitempty"`
	}
	var o out
	o.Version = p.Version
	if len(p.Remediations) > 0 {
		o.Remediations = map[string]remediation{}
		for id, r := range p.Remediations {
			o.Remediations[id] = remediation(r)
		}
	}
	o.Tokens.Window, o.Tokens.Force = FormatWindow(p.Tokens.Window), p.Tokens.Force
	o.HopLimit.ContainerHostsNeedIMDS = p.HopLimit.ContainerHostsNeedIMDS
	o.HopLimit.Target, o.HopLimit.NestedTarget = p.HopLimit.Target, p.HopLimit.NestedTarget
	o.HopLimit.KeepIRSAClusters = p.HopLimit.KeepIRSAClusters
	o.InstanceProfileName, o.DHMCRoleName = p.InstanceProfileName, p.DHMCRoleName
	o.NoProxyHosts, o.AgentMinVersion = p.NoProxyHosts, p.AgentMinVersion
	o.Caps.PerRun, o.Caps.PerAccount = p.Caps.PerRun, p.Caps.PerAccount
	o.Waves.Canary, o.Waves.Growth, o.Waves.Max = p.Waves.Canary, p.Waves.Growth, p.Waves.Max
	o.MaxErrors = p.MaxErrors
	for _, e := range p.Exemptions {
		o.Exemptions = append(o.Exemptions, exemption{InstanceID: e.InstanceID, Owner: e.Owner, Expires: formatExpiry(e.Expires), Reason: e.Reason})
	}
	return o, nil
}

// formatExpiry writes an expiry as parseExpiry reads it: a date when it is
// the last second of a UTC day, else RFC 3339.
func formatExpiry(t time.Time) string {
	u := t.UTC()
	if h, m, s := u.Clock(); h == 23 && m == 59 && s == 59 && u.Nanosecond() == 0 {
		return u.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}
