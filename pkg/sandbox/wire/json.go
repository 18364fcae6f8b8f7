package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// DecodeJSON fills v, a pointer to an SDK input struct, from an AWS JSON 1.1
// request body. Decoding is strict: an unknown member, a value of the wrong
// type or malformed JSON returns an *Error (SerializationException) naming
// the member. Timestamps are epoch seconds; blobs are base64; an empty body
// is {}.
func DecodeJSON(body []byte, v any) error {
	return decodeJSON(body, v, dialectJSON)
}

func decodeJSON(body []byte, v any, d dialect) error {
	rv, err := target(v)
	if err != nil {
		return err
	}
	x, err := parseJSON(body)
	if err != nil {
		return err
	}
	return treeDecoder{d: d}.assign(rv, x, nil, 0)
}

// target checks that v is a non-nil pointer to a struct and returns the
// struct.
func target(v any) (reflect.Value, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("wire: decode target must be a non-nil pointer to a struct, got %T", v)
	}
	return rv.Elem(), nil
}

// parseJSON parses a whole JSON document into the neutral tree, numbers as
// json.Number.
func parseJSON(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, &Error{Code: codeSerialization, Message: "malformed JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Code: codeSerialization, Message: "malformed JSON body: data after the top-level value"}
	}
	return x, nil
}

// EncodeJSON renders v (an SDK output struct or pointer to one) as an AWS
// JSON 1.1 body. Members use their model names (the Go field names unless
// the model says otherwise); nil pointers, nil slices and maps, unset enums,
// ResultMetadata and unexported fields are omitted; timestamps are epoch
// seconds (fractional when needed); blobs are base64; unions are objects
// with one member.
func EncodeJSON(v any) ([]byte, error) {
	x, err := encodeRoot(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonValue(x)); err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// encodeRoot converts a struct or pointer to one into the neutral tree; a
// nil pointer is an empty object.
func encodeRoot(v any) (map[string]any, error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return map[string]any{}, nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("wire: encode needs a struct or pointer to one, got %T", v)
	}
	x, err := encodeTree(rv, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	return x.(map[string]any), nil
}

// ToMap converts an SDK struct (or pointer to one) into a generic map keyed
// by model member names, the way encoding/json would decode the AWS JSON
// rendering of v: objects are map[string]any, lists []any, numbers float64,
// timestamps epoch seconds (float64), blobs base64 strings.
func ToMap(v any) (map[string]any, error) {
	b, err := EncodeJSON(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	return m, nil
}

// FromMap fills v, a pointer to an SDK struct, from a generic map keyed by
// model member names (the inverse of ToMap). It is as strict as DecodeJSON:
// unknown members and wrongly typed values return an *Error naming the
// member. Timestamps may be epoch seconds or ISO 8601 strings.
func FromMap(m map[string]any, v any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return &Error{Code: codeSerialization, Message: "cannot represent the input as JSON: " + err.Error()}
	}
	return decodeJSON(b, v, dialectMap)
}
