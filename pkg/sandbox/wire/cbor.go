package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// DecodeCBOR fills v, a pointer to an SDK input struct, from a Smithy RPC v2
// CBOR request body, as strictly as DecodeJSON. Timestamps are tag 1 epoch
// seconds; blobs are byte strings; an empty body is an empty map.
func DecodeCBOR(body []byte, v any) error {
	rv, err := target(v)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	val, err := parseCBOR(body)
	if err != nil {
		return err
	}
	x, err := cborTree(val, nil)
	if err != nil {
		return err
	}
	return treeDecoder{d: dialectCBOR}.assign(rv, x, nil, 0)
}

// parseCBOR decodes exactly one CBOR data item. The body is wrapped in an
// indefinite-length list so trailing bytes show up as extra items.
func parseCBOR(body []byte) (val cbor.Value, err error) {
	defer func() {
		// The decoder is third-party code fed untrusted bytes; a fault in it
		// must become a client error, not take the server down.
		if r := recover(); r != nil {
			val, err = nil, &Error{Code: codeSerialization, Message: fmt.Sprintf("malformed CBOR body: %v", r)}
		}
	}()
	wrapped := make([]byte, 0, len(body)+2)
	wrapped = append(wrapped, 0x9f)
	wrapped = append(wrapped, body...)
	wrapped = append(wrapped, 0xff)
	v, err := cbor.Decode(wrapped)
	if err != nil {
		return nil, &Error{Code: codeSerialization, Message: "malformed CBOR body: " + err.Error()}
	}
	list, ok := v.(cbor.List)
	if !ok || len(list) != 1 {
		return nil, &Error{Code: codeSerialization, Message: "malformed CBOR body: expected exactly one data item"}
	}
	return list[0], nil
}

// cborTree converts a decoded CBOR value into the neutral tree.
func cborTree(v cbor.Value, path *pathSeg) (any, error) {
	switch v := v.(type) {
	case cbor.Map:
		out := make(map[string]any, len(v))
		for k, e := range v {
			x, err := cborTree(e, path.child(k))
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case cbor.List:
		out := make([]any, len(v))
		for i, e := range v {
			x, err := cborTree(e, path.index(i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case cbor.String:
		return string(v), nil
	case cbor.Slice:
		return append([]byte{}, v...), nil
	case cbor.Uint:
		return json.Number(strconv.FormatUint(uint64(v), 10)), nil
	case cbor.NegInt:
		if v == 0 { // the wrapped-around -2^64
			return json.Number("-18446744073709551616"), nil
		}
		return json.Number("-" + strconv.FormatUint(uint64(v), 10)), nil
	case cbor.Float32:
		return float64(v), nil
	case cbor.Float64:
		return float64(v), nil
	case cbor.Bool:
		return bool(v), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case *cbor.Tag:
		if v.ID == 1 {
			t, err := cbor.AsTime(v)
			if err != nil {
				return nil, &Error{Code: codeSerialization, Message: path.String() + ": invalid timestamp: " + err.Error()}
			}
			return t, nil
		}
		return nil, &Error{Code: codeSerialization, Message: fmt.Sprintf("%s: unsupported CBOR tag %d", path.String(), v.ID)}
	}
	return nil, &Error{Code: codeSerialization, Message: fmt.Sprintf("%s: unsupported CBOR value %T", path.String(), v)}
}

// EncodeCBOR renders v (an SDK output struct or pointer to one) as a Smithy
// RPC v2 CBOR body, with the omission rules of EncodeJSON. Timestamps are
// tag 1 with epoch seconds as a float64 (millisecond precision, as the SDK
// reads them).
func EncodeCBOR(v any) ([]byte, error) {
	x, err := encodeRoot(v)
	if err != nil {
		return nil, err
	}
	return cbor.Encode(cborValue(x)), nil
}

func cborValue(x any) cbor.Value {
	switch x := x.(type) {
	case map[string]any:
		m := make(cbor.Map, len(x))
		for k, v := range x {
			m[k] = cborValue(v)
		}
		return m
	case []any:
		l := make(cbor.List, len(x))
		for i, v := range x {
			l[i] = cborValue(v)
		}
		return l
	case string:
		return cbor.String(x)
	case bool:
		return cbor.Bool(x)
	case int64:
		if x < 0 {
			return cbor.NegInt(uint64(-(x + 1)) + 1)
		}
		return cbor.Uint(uint64(x))
	case uint64:
		return cbor.Uint(x)
	case float32:
		return cbor.Float32(x)
	case float64:
		return cbor.Float64(x)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(x.UnixMilli()) / 1e3)}
	case []byte:
		return cbor.Slice(x)
	}
	return &cbor.Nil{}
}
