package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"

	smithytime "github.com/aws/smithy-go/time"
)

// EC2Namespace is the XML namespace of EC2 responses.
const EC2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// EncodeEC2 renders an EC2 response for operation op (e.g. "DescribeInstances"):
// <OpResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>…</requestId>…</OpResponse>.
// Element names follow the EC2 model (reservationSet, instancesSet, …; lists
// of <item>); timestamps are ISO 8601, blobs base64.
func EncodeEC2(op string, out any, requestID string) ([]byte, error) {
	if err := checkOpName(op); err != nil {
		return nil, err
	}
	rv, err := outputStruct(out)
	if err != nil {
		return nil, err
	}
	w := &xmlWriter{f: fmtEC2XML}
	w.b.WriteString(xml.Header)
	w.b.WriteString("<" + op + `Response xmlns="` + EC2Namespace + `"><requestId>`)
	escape(&w.b, requestID)
	w.b.WriteString("</requestId>")
	if rv.IsValid() {
		if err := w.fields(rv, nil, 0); err != nil {
			return nil, err
		}
	}
	w.b.WriteString("</" + op + "Response>")
	return w.b.Bytes(), nil
}

// EncodeQuery renders an awsquery response for operation op:
// <OpResponse xmlns="NS"><OpResult>…</OpResult><ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></OpResponse>.
// The Result element is left out only for operations without output, as AWS
// does; an empty output structure is an empty Result element. Lists are
// <member> elements, maps <entry><key/><value/></entry>.
func EncodeQuery(op, xmlns string, out any, requestID string) ([]byte, error) {
	if err := checkOpName(op); err != nil {
		return nil, err
	}
	rv, err := outputStruct(out)
	if err != nil {
		return nil, err
	}
	w := &xmlWriter{f: fmtAWSXML}
	w.b.WriteString(xml.Header)
	w.b.WriteString("<" + op + `Response xmlns="`)
	escape(&w.b, xmlns)
	w.b.WriteString(`">`)
	if t := reflect.TypeOf(out); t != nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if resultWrapped[typeKey(t)] || len(fields(fmtAWSXML, t)) > 0 {
			w.b.WriteString("<" + op + "Result>")
			if rv.IsValid() {
				if err := w.fields(rv, nil, 0); err != nil {
					return nil, err
				}
			}
			w.b.WriteString("</" + op + "Result>")
		}
	}
	w.b.WriteString("<ResponseMetadata><RequestId>")
	escape(&w.b, requestID)
	w.b.WriteString("</RequestId></ResponseMetadata></" + op + "Response>")
	return w.b.Bytes(), nil
}

// checkOpName rejects operation names that are not plain identifiers, as
// they become XML element names.
func checkOpName(op string) error {
	if op == "" {
		return fmt.Errorf("wire: empty operation name")
	}
	for _, r := range op {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("wire: invalid operation name %q", op)
		}
	}
	return nil
}

// outputStruct returns the struct behind out; the zero Value for a nil
// pointer.
func outputStruct(out any) (reflect.Value, error) {
	rv := reflect.ValueOf(out)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			if rv.Type().Elem().Kind() == reflect.Struct {
				return reflect.Value{}, nil
			}
			break
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("wire: encode needs a struct or pointer to one, got %T", out)
	}
	return rv, nil
}

type xmlWriter struct {
	b bytes.Buffer
	f wireFormat
}

func (w *xmlWriter) open(name string)  { w.b.WriteString("<" + name + ">") }
func (w *xmlWriter) close(name string) { w.b.WriteString("</" + name + ">") }

// fields writes the members of struct v.
func (w *xmlWriter) fields(v reflect.Value, path *pathSeg, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("wire: %s: nested deeper than %d levels", path.String(), maxDepth)
	}
	for _, fi := range fields(w.f, v.Type()) {
		fv := v.Field(fi.index)
		if omitMember(fv) {
			continue
		}
		if err := w.member(fi.m, fv, path.child(fi.goName), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// member writes one struct member, honouring flattening.
func (w *xmlWriter) member(m member, v reflect.Value, path *pathSeg, depth int) error {
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if !m.flat {
		return w.element(m.name, v, m.shape, path, depth)
	}
	switch {
	case v.Kind() == reflect.Slice && !isBlob(v.Type()):
		for i := range v.Len() {
			if err := w.element(m.name, v.Index(i), elemShape(w.f, m.shape, v.Type().Elem()), path.index(i), depth+1); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Map:
		return w.entries(m.name, m.shape, v, path, depth)
	}
	return w.element(m.name, v, m.shape, path, depth)
}

// entries writes the entries of map v, each wrapped in an element called
// wrapper, keys in order.
func (w *xmlWriter) entries(wrapper string, c *container, v reflect.Value, path *pathSeg, depth int) error {
	if c == nil {
		c = defaultShape(w.f, v.Type())
	}
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int {
		switch {
		case a.String() < b.String():
			return -1
		case a.String() > b.String():
			return 1
		}
		return 0
	})
	for _, k := range keys {
		w.open(wrapper)
		w.open(c.key)
		escape(&w.b, k.String())
		w.close(c.key)
		if err := w.element(c.value, v.MapIndex(k), elemShape(w.f, c, v.Type().Elem()), path.child(k.String()), depth+1); err != nil {
			return err
		}
		w.close(wrapper)
	}
	return nil
}

// element writes <name>value</name>.
func (w *xmlWriter) element(name string, v reflect.Value, c *container, path *pathSeg, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("wire: %s: nested deeper than %d levels", path.String(), maxDepth)
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			w.b.WriteString("<" + name + "/>")
			return nil
		}
		v = v.Elem()
	}
	t := v.Type()
	switch t.Kind() {
	case reflect.Struct:
		if t == timeType {
			w.open(name)
			w.b.WriteString(smithytime.FormatDateTime(v.Interface().(time.Time)))
			w.close(name)
			return nil
		}
		w.open(name)
		if err := w.fields(v, path, depth+1); err != nil {
			return err
		}
		w.close(name)
		return nil
	case reflect.Slice:
		if isBlob(t) {
			w.open(name)
			w.b.WriteString(base64.StdEncoding.EncodeToString(v.Bytes()))
			w.close(name)
			return nil
		}
		if c == nil {
			c = defaultShape(w.f, t)
		}
		w.open(name)
		for i := range v.Len() {
			if err := w.element(c.item, v.Index(i), elemShape(w.f, c, t.Elem()), path.index(i), depth+1); err != nil {
				return err
			}
		}
		w.close(name)
		return nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("wire: %s: unsupported map key type %s", path.String(), t.Key())
		}
		if c == nil {
			c = defaultShape(w.f, t)
		}
		w.open(name)
		if err := w.entries(c.entry, c, v, path, depth); err != nil {
			return err
		}
		w.close(name)
		return nil
	case reflect.Interface:
		return fmt.Errorf("wire: %s: unions are not supported in XML responses", path.String())
	}
	text, err := scalarText(v)
	if err != nil {
		return fmt.Errorf("wire: %s: %w", path.String(), err)
	}
	w.open(name)
	escape(&w.b, text)
	w.close(name)
	return nil
}

// scalarText formats a scalar as query protocols write it in XML.
func scalarText(v reflect.Value) (string, error) {
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return "NaN", nil
		case math.IsInf(f, 1):
			return "Infinity", nil
		case math.IsInf(f, -1):
			return "-Infinity", nil
		}
		return strconv.FormatFloat(f, 'f', -1, v.Type().Bits()), nil
	}
	return "", fmt.Errorf("unsupported type %s", v.Type())
}
