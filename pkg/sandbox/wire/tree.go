package wire

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The JSON and CBOR codecs share a neutral tree: map[string]any, []any,
// string, bool, int64, uint64, float32, float64, time.Time, []byte and nil.

// maxDepth bounds the nesting the codecs follow, in both directions.
const maxDepth = 64

// variantNames maps each union variant type to its member name.
var variantNames = func() map[reflect.Type]string {
	m := map[reflect.Type]string{}
	for _, vs := range unionVariants {
		for name, t := range vs {
			m[t] = name
		}
	}
	return m
}()

// encodeTree converts an SDK value to the neutral tree.
func encodeTree(v reflect.Value, path *pathSeg, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%s: nested deeper than %d levels", path.String(), maxDepth)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return encodeTree(v.Elem(), path, depth+1)
	case reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return encodeUnion(v.Elem(), path, depth)
	case reflect.Struct:
		if v.Type() == timeType {
			return v.Interface().(time.Time), nil
		}
		out := map[string]any{}
		for _, fi := range fields(fmtJSON, v.Type()) {
			fv := v.Field(fi.index)
			if omitMember(fv) {
				continue
			}
			x, err := encodeTree(fv, path.child(fi.m.name), depth+1)
			if err != nil {
				return nil, err
			}
			out[fi.m.name] = x
		}
		return out, nil
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if isBlob(v.Type()) {
			return v.Bytes(), nil
		}
		out := make([]any, v.Len())
		for i := range out {
			x, err := encodeTree(v.Index(i), path.index(i), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%s: unsupported map key type %s", path.String(), v.Type().Key())
		}
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key().String()
			x, err := encodeTree(iter.Value(), path.child(k), depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), nil
	case reflect.Float32:
		return float32(v.Float()), nil
	case reflect.Float64:
		return v.Float(), nil
	}
	return nil, fmt.Errorf("%s: unsupported type %s", path.String(), v.Type())
}

// encodeUnion writes a union variant (a *XMemberY{Value: …}) as a map with
// its one member.
func encodeUnion(v reflect.Value, path *pathSeg, depth int) (any, error) {
	t := v.Type()
	for t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, nil
		}
		v, t = v.Elem(), t.Elem()
	}
	name, ok := variantNames[t]
	if !ok {
		name, ok = variantName(t)
	}
	if !ok {
		return nil, fmt.Errorf("%s: unsupported union variant %s", path.String(), t)
	}
	x, err := encodeTree(v.FieldByName("Value"), path.child(name), depth+1)
	if err != nil {
		return nil, err
	}
	return map[string]any{name: x}, nil
}

// variantName applies the SDK's naming rule for union variants not in the
// generated table: type <Union>Member<Name> with a single Value field.
func variantName(t reflect.Type) (string, bool) {
	if t.Kind() != reflect.Struct {
		return "", false
	}
	if _, ok := t.FieldByName("Value"); !ok {
		return "", false
	}
	i := strings.LastIndex(t.Name(), "Member")
	if i <= 0 || i+len("Member") == len(t.Name()) {
		return "", false
	}
	return t.Name()[i+len("Member"):], true
}

// omitMember reports whether a struct member is left out of the wire: nil
// pointers, slices, maps and interfaces, and unset enums.
func omitMember(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return v.IsNil()
	case reflect.String:
		return v.Len() == 0 && isEnum(v.Type())
	}
	return false
}

// isEnum reports whether t is an SDK enum: a named string type.
func isEnum(t reflect.Type) bool {
	return t.Kind() == reflect.String && t.PkgPath() != ""
}

// pathSeg is one step of the path to a member, kept as a linked list so
// that the codecs spell a path out only when they report an error about it.
// The nil *pathSeg is the request (or response) itself.
type pathSeg struct {
	up   *pathSeg
	name string
	i    int // a list index when name is ""
}

// child is the member name under p.
func (p *pathSeg) child(name string) *pathSeg { return &pathSeg{up: p, name: name} }

// index is the list element i under p.
func (p *pathSeg) index(i int) *pathSeg { return &pathSeg{up: p, i: i} }

// String spells the path as Member.Sub[2].Name, or "request" at the root.
func (p *pathSeg) String() string {
	if p == nil {
		return "request"
	}
	var segs []*pathSeg
	for s := p; s != nil; s = s.up {
		segs = append(segs, s)
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		switch {
		case s.name == "":
			fmt.Fprintf(&b, "[%d]", s.i)
		case b.Len() > 0:
			b.WriteString("." + s.name)
		default:
			b.WriteString(s.name)
		}
	}
	return b.String()
}

// epochSeconds formats t as exact decimal epoch seconds.
func epochSeconds(t time.Time) string {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	if nsec == 0 {
		return strconv.FormatInt(sec, 10)
	}
	sign := ""
	if sec < 0 { // t.Unix rounds down: -1.5s is sec -2, nsec 5e8
		sign, sec, nsec = "-", -(sec + 1), 1e9-nsec
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nsec), "0")
	return sign + strconv.FormatInt(sec, 10) + "." + frac
}

// jsonValue converts the neutral tree into values encoding/json renders the
// way AWS JSON protocols expect.
func jsonValue(x any) any {
	switch x := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = jsonValue(v)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = jsonValue(v)
		}
		return out
	case time.Time:
		return json.Number(epochSeconds(x))
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case float32:
		return jsonFloat(float64(x), 32)
	case float64:
		return jsonFloat(x, 64)
	}
	return x
}

func jsonFloat(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// sortedKeys returns the keys of m in order, so errors are deterministic.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
