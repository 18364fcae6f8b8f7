package wire

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	smithytime "github.com/aws/smithy-go/time"
)

// QueryStyle selects the flavour of a query-protocol request.
type QueryStyle int

const (
	// EC2Query is EC2's protocol: lists flattened as Name.N (Filter.1.Name,
	// Filter.1.Value.1, InstanceId.1).
	EC2Query QueryStyle = iota
	// AWSQuery is the protocol of IAM, STS and SNS: lists as Name.member.N,
	// maps as Name.entry.N.key / Name.entry.N.value.
	AWSQuery
)

// maxListIndex bounds list indexes in query parameters.
const maxListIndex = 1 << 20

// qnode is one dotted segment of the query parameters.
type qnode struct {
	key      string // the full parameter name up to this segment
	value    string
	hasValue bool
	children map[string]*qnode
}

func (n *qnode) child(seg string) *qnode {
	c, ok := n.children[seg]
	if !ok {
		if n.children == nil {
			n.children = map[string]*qnode{}
		}
		key := seg
		if n.key != "" {
			key = n.key + "." + seg
		}
		c = &qnode{key: key}
		n.children[seg] = c
	}
	return c
}

func (n *qnode) sortedChildren() []string {
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// queryDecoder assigns a parameter tree to an SDK input struct.
type queryDecoder struct{ style QueryStyle }

// DecodeQuery fills v, a pointer to an SDK input struct, from the form of a
// query-protocol request; Action and Version are ignored. An unknown
// parameter returns an *Error with code UnknownParameter (EC2) or
// InvalidParameter (awsquery); a badly typed or malformed value returns
// InvalidParameterValue. Both name the parameter.
func DecodeQuery(style QueryStyle, form url.Values, v any) error {
	rv, err := target(v)
	if err != nil {
		return err
	}
	qd := queryDecoder{style: style}
	root := &qnode{}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "Action" || k == "Version" {
			continue
		}
		vals := form[k]
		if len(vals) != 1 {
			return qd.invalid(k, strings.Join(vals, ","), "the parameter is given more than once")
		}
		n := root
		for seg := range strings.SplitSeq(k, ".") {
			if seg == "" {
				return qd.unknown(k)
			}
			n = n.child(seg)
		}
		n.value, n.hasValue = vals[0], true
	}
	return qd.assignStruct(rv, root)
}

func (qd queryDecoder) format() wireFormat {
	if qd.style == EC2Query {
		return fmtEC2Query
	}
	return fmtAWSQuery
}

func (qd queryDecoder) unknown(key string) *Error {
	if qd.style == EC2Query {
		return errorf(codeUnknownEC2, "The parameter %s is not recognized", key)
	}
	return errorf(codeUnknownAWSQuery, "Unknown parameter %s", key)
}

func (qd queryDecoder) invalid(key, value, why string) *Error {
	return errorf(codeInvalidValue, "Value (%s) for parameter %s is invalid. %s", value, key, why)
}

// firstKey names a parameter below n for messages: n itself if it has a
// value, else its first descendant.
func firstKey(n *qnode) string {
	for !n.hasValue && len(n.children) > 0 {
		n = n.children[n.sortedChildren()[0]]
	}
	return n.key
}

func (qd queryDecoder) assignStruct(v reflect.Value, n *qnode) error {
	if n.hasValue && (n.value != "" || len(n.children) == 0) {
		return qd.invalid(n.key, n.value, "Expected a structure with sub-parameters.")
	}
	byName := fieldsByName(qd.format(), v.Type())
	for _, seg := range n.sortedChildren() {
		c := n.children[seg]
		fi, ok := byName[seg]
		if !ok {
			return qd.unknown(firstKey(c))
		}
		if err := qd.assignMember(v.Field(fi.index), fi.m, c); err != nil {
			return err
		}
	}
	return nil
}

func (qd queryDecoder) assignMember(v reflect.Value, m member, n *qnode) error {
	t := v.Type()
	if t.Kind() == reflect.Slice && !isBlob(t) {
		return qd.assignList(v, m.shape, n, m.flat)
	}
	if t.Kind() == reflect.Map {
		return qd.assignMap(v, m.shape, n, m.flat)
	}
	return qd.assignValue(v, m.shape, n)
}

// items returns the index nodes of a list or map in order. For a wrapped
// container they sit below the wrapper segment (member, entry).
func (qd queryDecoder) items(n *qnode, wrapper string, flat bool) ([]*qnode, error) {
	if n.hasValue {
		if n.value != "" || len(n.children) > 0 {
			return nil, qd.invalid(n.key, n.value, "Expected a list of sub-parameters.")
		}
		return nil, nil // Name= is an empty list
	}
	parent := n
	if !flat {
		for _, seg := range n.sortedChildren() {
			if seg != wrapper {
				return nil, qd.unknown(firstKey(n.children[seg]))
			}
		}
		parent = n.children[wrapper]
		if parent.hasValue {
			return nil, qd.invalid(parent.key, parent.value, "Expected indexed sub-parameters.")
		}
	}
	type indexed struct {
		i int
		n *qnode
	}
	var idx []indexed
	for seg, c := range parent.children {
		i, err := strconv.Atoi(seg)
		if err != nil || i < 1 || i > maxListIndex || strconv.Itoa(i) != seg {
			return nil, qd.unknown(firstKey(c))
		}
		idx = append(idx, indexed{i, c})
	}
	slices.SortFunc(idx, func(a, b indexed) int { return a.i - b.i })
	out := make([]*qnode, len(idx))
	for i, e := range idx {
		out[i] = e.n
	}
	return out, nil
}

func (qd queryDecoder) assignList(v reflect.Value, c *container, n *qnode, flat bool) error {
	if c == nil {
		c = defaultShape(qd.format(), v.Type())
	}
	items, err := qd.items(n, c.item, flat)
	if err != nil {
		return err
	}
	t := v.Type()
	s := reflect.MakeSlice(t, len(items), len(items))
	for i, item := range items {
		if err := qd.assignElem(s.Index(i), elemShape(qd.format(), c, t.Elem()), item); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

func (qd queryDecoder) assignMap(v reflect.Value, c *container, n *qnode, flat bool) error {
	if c == nil {
		c = defaultShape(qd.format(), v.Type())
	}
	entries, err := qd.items(n, c.entry, flat)
	if err != nil {
		return err
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		return qd.invalid(n.key, "", "Unsupported map key type.")
	}
	m := reflect.MakeMapWithSize(t, len(entries))
	for _, e := range entries {
		for _, seg := range e.sortedChildren() {
			if seg != c.key && seg != c.value {
				return qd.unknown(firstKey(e.children[seg]))
			}
		}
		kn, vn := e.children[c.key], e.children[c.value]
		if kn == nil || !kn.hasValue || len(kn.children) > 0 {
			return qd.invalid(e.key+"."+c.key, "", "A map entry needs a key.")
		}
		if e.hasValue {
			return qd.invalid(e.key, e.value, "Expected a map entry.")
		}
		ev := reflect.New(t.Elem()).Elem()
		if vn != nil {
			if err := qd.assignElem(ev, elemShape(qd.format(), c, t.Elem()), vn); err != nil {
				return err
			}
		}
		m.SetMapIndex(reflect.ValueOf(kn.value).Convert(t.Key()), ev)
	}
	v.Set(m)
	return nil
}

// assignElem sets a list element or map value. Nested containers are never
// flattened.
func (qd queryDecoder) assignElem(v reflect.Value, c *container, n *qnode) error {
	t := v.Type()
	if t.Kind() == reflect.Slice && !isBlob(t) {
		return qd.assignList(v, c, n, false)
	}
	if t.Kind() == reflect.Map {
		return qd.assignMap(v, c, n, false)
	}
	return qd.assignValue(v, c, n)
}

func (qd queryDecoder) assignValue(v reflect.Value, c *container, n *qnode) error {
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := qd.assignElem(p.Elem(), c, n); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		if t != timeType {
			return qd.assignStruct(v, n)
		}
	case reflect.Interface:
		return qd.assignUnion(v, n)
	}
	if len(n.children) > 0 {
		return qd.unknown(firstKey(n.children[n.sortedChildren()[0]]))
	}
	s := n.value
	switch t.Kind() {
	case reflect.Struct: // time.Time
		tm, err := smithytime.ParseDateTime(s)
		if err != nil {
			return qd.invalid(n.key, s, "Expected an ISO 8601 timestamp.")
		}
		v.Set(reflect.ValueOf(tm))
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return qd.invalid(n.key, s, "Expected true or false.")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return qd.invalid(n.key, s, fmt.Sprintf("Expected a %d-bit integer.", t.Bits()))
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return qd.invalid(n.key, s, fmt.Sprintf("Expected an unsigned %d-bit integer.", t.Bits()))
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return qd.invalid(n.key, s, "Expected a number.")
		}
		v.SetFloat(f)
	case reflect.Slice: // blob
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return qd.invalid(n.key, s, "Expected base64-encoded data.")
		}
		v.SetBytes(b)
	default:
		return qd.invalid(n.key, s, "Unsupported parameter type.")
	}
	return nil
}

// assignUnion sets a union interface from a node with exactly one variant
// member below it.
func (qd queryDecoder) assignUnion(v reflect.Value, n *qnode) error {
	variants, ok := unionVariants[v.Type()]
	if !ok {
		return qd.invalid(n.key, n.value, "Unsupported parameter type.")
	}
	if n.hasValue || len(n.children) != 1 {
		return qd.invalid(n.key, n.value, "Expected exactly one of "+strings.Join(slices.Sorted(maps.Keys(variants)), ", ")+".")
	}
	name := n.sortedChildren()[0]
	vt, ok := variants[name]
	if !ok {
		return qd.unknown(firstKey(n.children[name]))
	}
	p := reflect.New(vt)
	if !p.Type().Implements(v.Type()) {
		return qd.invalid(n.key, "", "Unsupported parameter type.")
	}
	val := p.Elem().FieldByName("Value")
	if err := qd.assignElem(val, defaultShape(qd.format(), val.Type()), n.children[name]); err != nil {
		return err
	}
	v.Set(p)
	return nil
}
