package wire

//go:generate go run ./internal/gennames -o names_gen.go

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go/middleware"
)

// member is how one struct member appears on a query or XML wire.
type member struct {
	name  string     // form key segment or XML element name
	flat  bool       // list or map flattened into repeated keys/elements
	shape *container // names inside a list or map member; nil otherwise
}

// container names the parts of a list or map.
type container struct {
	isMap bool
	item  string // list element name (ignored for a flattened list)
	entry string // map entry wrapper (ignored for a flattened map)
	key   string
	value string
	elem  *container // a list or map nested as the element
}

// wireFormat selects the naming rules.
type wireFormat int

const (
	fmtJSON     wireFormat = iota // AWS JSON 1.1 and RPC v2 CBOR
	fmtEC2Query                   // EC2 query requests
	fmtAWSQuery                   // awsquery requests
	fmtEC2XML                     // EC2 responses
	fmtAWSXML                     // awsquery responses
)

// fieldInfo describes one wire member of a struct type.
type fieldInfo struct {
	index  int
	goName string
	m      member
}

type layoutKey struct {
	f wireFormat
	t reflect.Type
}

var layouts sync.Map // layoutKey → []fieldInfo

var (
	metadataType = reflect.TypeFor[middleware.Metadata]()
	timeType     = reflect.TypeFor[time.Time]()
)

const servicePrefix = "github.com/aws/aws-sdk-go-v2/service/"

// typeKey names a struct type as the generated tables do:
// "ec2.DescribeInstancesInput", "ec2/types.Filter".
func typeKey(t reflect.Type) string {
	return strings.TrimPrefix(t.PkgPath(), servicePrefix) + "." + t.Name()
}

// fields returns the wire members of struct type t under format f: every
// exported field except ResultMetadata, with its wire name.
func fields(f wireFormat, t reflect.Type) []fieldInfo {
	key := layoutKey{f, t}
	if v, ok := layouts.Load(key); ok {
		return v.([]fieldInfo)
	}
	tk := typeKey(t)
	var out []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() || sf.Anonymous || sf.Type == metadataType {
			continue
		}
		fi := fieldInfo{index: i, goName: sf.Name}
		switch f {
		case fmtJSON:
			fi.m.name = sf.Name
			if n, ok := jsonMembers[tk][sf.Name]; ok {
				fi.m.name = n
			}
		case fmtEC2Query, fmtAWSQuery:
			if m, ok := queryMembers[tk][sf.Name]; ok {
				fi.m = m
			} else {
				fi.m = defaultMember(f, sf)
			}
		case fmtEC2XML, fmtAWSXML:
			if m, ok := xmlMembers[tk][sf.Name]; ok {
				fi.m = m
			} else {
				fi.m = defaultMember(f, sf)
			}
		}
		if fi.m.shape == nil {
			fi.m.shape = defaultShape(f, sf.Type)
		}
		out = append(out, fi)
	}
	v, _ := layouts.LoadOrStore(key, out)
	return v.([]fieldInfo)
}

// defaultMember is the naming rule of a protocol for members the model does
// not rename. The generator (internal/gennames) applies the same rules.
func defaultMember(f wireFormat, sf reflect.StructField) member {
	m := member{name: sf.Name, shape: defaultShape(f, sf.Type)}
	switch f {
	case fmtEC2Query:
		m.flat = m.shape != nil
	case fmtEC2XML:
		m.name = strings.ToLower(sf.Name[:1]) + sf.Name[1:]
	}
	return m
}

// defaultShape builds the container names for list and map type t.
func defaultShape(f wireFormat, t reflect.Type) *container {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	item := "member"
	if f == fmtEC2XML {
		item = "item"
	}
	switch {
	case t.Kind() == reflect.Slice && !isBlob(t):
		return &container{item: item, elem: defaultShape(f, t.Elem())}
	case t.Kind() == reflect.Map:
		return &container{isMap: true, entry: "entry", key: "key", value: "value", elem: defaultShape(f, t.Elem())}
	}
	return nil
}

// elemShape is the container of a list or map element type, falling back to
// the default rule where the table has no nested names.
func elemShape(f wireFormat, c *container, elem reflect.Type) *container {
	if c != nil && c.elem != nil {
		return c.elem
	}
	return defaultShape(f, elem)
}

// isBlob reports whether t is a []byte (blob) type.
func isBlob(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
}

var indexes sync.Map // layoutKey → map[string]fieldInfo

// fieldsByName indexes fields(f, t) by wire name.
func fieldsByName(f wireFormat, t reflect.Type) map[string]fieldInfo {
	key := layoutKey{f, t}
	if v, ok := indexes.Load(key); ok {
		return v.(map[string]fieldInfo)
	}
	fs := fields(f, t)
	m := make(map[string]fieldInfo, len(fs))
	for _, fi := range fs {
		m[fi.m.name] = fi
	}
	v, _ := indexes.LoadOrStore(key, m)
	return v.(map[string]fieldInfo)
}
