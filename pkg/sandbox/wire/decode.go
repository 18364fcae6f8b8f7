package wire

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	smithytime "github.com/aws/smithy-go/time"
)

// dialect tells treeDecoder how scalars that differ between JSON and CBOR
// arrive: timestamps (JSON epoch-second numbers, CBOR tag 1), blobs (JSON
// base64 strings, CBOR byte strings) and non-finite floats (JSON strings).
type dialect int

const (
	dialectJSON dialect = iota
	dialectCBOR
	dialectMap // JSON, and timestamps may also be ISO 8601 strings (FromMap)
)

// treeDecoder assigns a neutral tree (as produced by parseJSON or cborTree)
// to an SDK value, strictly.
type treeDecoder struct{ d dialect }

func (td treeDecoder) fail(path *pathSeg, format string, args ...any) *Error {
	return &Error{Code: codeSerialization, Message: path.String() + ": " + fmt.Sprintf(format, args...)}
}

// describe names the wire type of x for messages.
func describe(x any) string {
	switch x.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case float64:
		return "a floating-point number"
	case time.Time:
		return "a timestamp"
	case []byte:
		return "a byte string"
	}
	return fmt.Sprintf("%T", x)
}

// assign sets v (settable) from x. A nil x (null) leaves v unset.
func (td treeDecoder) assign(v reflect.Value, x any, path *pathSeg, depth int) error {
	if x == nil {
		return nil
	}
	if depth > maxDepth {
		return td.fail(path, "nested deeper than %d levels", maxDepth)
	}
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := td.assign(p.Elem(), x, path, depth+1); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Interface:
		return td.assignUnion(v, x, path, depth)
	case reflect.Struct:
		if t == timeType {
			tm, err := td.timestamp(x, path)
			if err != nil {
				return err
			}
			v.Set(reflect.ValueOf(tm))
			return nil
		}
		obj, ok := x.(map[string]any)
		if !ok {
			return td.fail(path, "expected an object, got %s", describe(x))
		}
		byName := fieldsByName(fmtJSON, t)
		for _, k := range sortedKeys(obj) {
			fi, ok := byName[k]
			if !ok {
				return td.fail(path.child(k), "unknown member %q", k)
			}
			if err := td.assign(v.Field(fi.index), obj[k], path.child(k), depth+1); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if isBlob(t) {
			b, err := td.blob(x, path)
			if err != nil {
				return err
			}
			v.SetBytes(b)
			return nil
		}
		list, ok := x.([]any)
		if !ok {
			return td.fail(path, "expected a list, got %s", describe(x))
		}
		s := reflect.MakeSlice(t, len(list), len(list))
		for i, e := range list {
			if err := td.assign(s.Index(i), e, path.index(i), depth+1); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		obj, ok := x.(map[string]any)
		if !ok {
			return td.fail(path, "expected a map, got %s", describe(x))
		}
		if t.Key().Kind() != reflect.String {
			return td.fail(path, "unsupported map key type %s", t.Key())
		}
		m := reflect.MakeMapWithSize(t, len(obj))
		for _, k := range sortedKeys(obj) {
			e := reflect.New(t.Elem()).Elem()
			if err := td.assign(e, obj[k], path.child(k), depth+1); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(m)
		return nil
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			return td.fail(path, "expected a string, got %s", describe(x))
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return td.fail(path, "expected a boolean, got %s", describe(x))
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := x.(json.Number)
		if !ok {
			return td.fail(path, "expected an integer, got %s", describe(x))
		}
		i, err := strconv.ParseInt(string(n), 10, t.Bits())
		if err != nil {
			return td.fail(path, "%s is not a %d-bit integer", n, t.Bits())
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := x.(json.Number)
		if !ok {
			return td.fail(path, "expected an integer, got %s", describe(x))
		}
		u, err := strconv.ParseUint(string(n), 10, t.Bits())
		if err != nil {
			return td.fail(path, "%s is not an unsigned %d-bit integer", n, t.Bits())
		}
		v.SetUint(u)
		return nil
	case reflect.Float32, reflect.Float64:
		f, err := td.float(x, path, t.Bits())
		if err != nil {
			return err
		}
		v.SetFloat(f)
		return nil
	}
	return td.fail(path, "unsupported type %s", t)
}

// assignUnion sets a union interface from an object with exactly one member.
func (td treeDecoder) assignUnion(v reflect.Value, x any, path *pathSeg, depth int) error {
	variants, ok := unionVariants[v.Type()]
	if !ok {
		return td.fail(path, "unsupported member type %s", v.Type())
	}
	obj, ok := x.(map[string]any)
	if !ok {
		return td.fail(path, "expected an object, got %s", describe(x))
	}
	var set []string
	for _, k := range sortedKeys(obj) {
		if obj[k] != nil {
			set = append(set, k)
		}
	}
	if len(set) != 1 {
		return td.fail(path, "a union must set exactly one member, got %d", len(set))
	}
	name := set[0]
	vt, ok := variants[name]
	if !ok {
		return td.fail(path.child(name), "unknown member %q", name)
	}
	p := reflect.New(vt)
	if !p.Type().Implements(v.Type()) {
		return td.fail(path, "variant %s does not implement %s", vt, v.Type())
	}
	if err := td.assign(p.Elem().FieldByName("Value"), obj[name], path.child(name), depth+1); err != nil {
		return err
	}
	v.Set(p)
	return nil
}

func (td treeDecoder) timestamp(x any, path *pathSeg) (time.Time, error) {
	switch x := x.(type) {
	case time.Time:
		if td.d == dialectCBOR {
			return x, nil
		}
	case string:
		if td.d == dialectMap {
			tm, err := smithytime.ParseDateTime(x)
			if err != nil {
				return time.Time{}, td.fail(path, "%q is not an ISO 8601 timestamp", x)
			}
			return tm, nil
		}
	case json.Number:
		if td.d != dialectCBOR {
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || math.IsInf(f, 0) {
				return time.Time{}, td.fail(path, "%s is not an epoch-seconds timestamp", x)
			}
			return smithytime.ParseEpochSeconds(f), nil
		}
	}
	return time.Time{}, td.fail(path, "expected a timestamp, got %s", describe(x))
}

func (td treeDecoder) blob(x any, path *pathSeg) ([]byte, error) {
	switch x := x.(type) {
	case []byte:
		if td.d == dialectCBOR {
			return x, nil
		}
	case string:
		if td.d != dialectCBOR {
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, td.fail(path, "invalid base64 blob: %v", err)
			}
			return b, nil
		}
	}
	return nil, td.fail(path, "expected a blob, got %s", describe(x))
}

func (td treeDecoder) float(x any, path *pathSeg, bits int) (float64, error) {
	switch x := x.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), bits)
		if err != nil {
			return 0, td.fail(path, "%s is not a %d-bit floating-point number", x, bits)
		}
		return f, nil
	case float64:
		if bits == 32 && !math.IsNaN(x) && !math.IsInf(x, 0) && math.Abs(x) > math.MaxFloat32 {
			return 0, td.fail(path, "%g overflows a 32-bit floating-point number", x)
		}
		return x, nil
	case string:
		if td.d != dialectCBOR {
			switch x {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
	}
	return 0, td.fail(path, "expected a number, got %s", describe(x))
}
