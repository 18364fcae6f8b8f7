package wire

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// filler populates every exported member of an SDK struct tree with
// distinct non-zero values.
type filler struct {
	n        int
	maxDepth int
}

func newFiller() *filler { return &filler{maxDepth: 6} }

func (f *filler) next() int {
	f.n++
	return f.n
}

// fill populates v (a pointer to a struct).
func (f *filler) fill(v any) {
	f.value(reflect.ValueOf(v).Elem(), 0)
}

// value fills v. depth counts struct nesting; below maxDepth, pointers,
// lists and maps of structures stay nil so recursive shapes terminate.
func (f *filler) value(v reflect.Value, depth int) {
	t := v.Type()
	if depth >= f.maxDepth && holdsStruct(t) {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		f.value(p.Elem(), depth)
		if !emptyStruct(p.Elem()) {
			v.Set(p)
		}
	case reflect.Struct:
		if t == timeType {
			// Whole seconds, UTC; distinct per field.
			v.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(f.next())*3_600, 0).UTC()))
			return
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() || sf.Anonymous || sf.Type == metadataType {
				continue // unexported and ResultMetadata
			}
			f.value(v.Field(i), depth+1)
		}
	case reflect.Slice:
		if isBlob(t) {
			v.SetBytes([]byte(fmt.Sprintf("blob-%d", f.next())))
			return
		}
		s := reflect.MakeSlice(t, 2, 2)
		for i := range 2 {
			f.value(s.Index(i), depth)
			if emptyStruct(s.Index(i)) {
				return
			}
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(t)
		for range 2 {
			k := reflect.New(t.Key()).Elem()
			k.SetString(fmt.Sprintf("key-%d", f.next()))
			e := reflect.New(t.Elem()).Elem()
			f.value(e, depth)
			if emptyStruct(e) {
				return
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Interface:
		// Unions get each of their variants in turn; other interfaces
		// (documents) stay nil.
		variants := unionVariants[t]
		if len(variants) == 0 {
			return
		}
		names := slices.Sorted(maps.Keys(variants))
		p := reflect.New(variants[names[f.next()%len(names)]])
		f.value(p.Elem().FieldByName("Value"), depth+1)
		v.Set(p)
	case reflect.String:
		n := f.next()
		if vals := enumValues(t); len(vals) > 0 {
			v.SetString(vals[n%len(vals)])
			return
		}
		v.SetString(fmt.Sprintf("str-%d", n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.next()%100 + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.next()%100 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.next()) + 0.5)
	}
}

// emptyStruct reports whether v is a structure (other than time.Time) with
// no member set: the depth limit can leave one behind, and query protocols
// put nothing on the wire for it, so the filler leaves such values out.
func emptyStruct(v reflect.Value) bool {
	return v.Kind() == reflect.Struct && v.Type() != timeType && v.IsZero()
}

// holdsStruct reports whether t is, or is a pointer, list or map of, a
// structure other than time.Time, or a union.
func holdsStruct(t reflect.Type) bool {
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			if isBlob(t) {
				return false
			}
			t = t.Elem()
		case reflect.Struct:
			return t != timeType
		case reflect.Interface:
			return true
		default:
			return false
		}
	}
}

// enumValues returns the values of an SDK enum type (its Values method).
func enumValues(t reflect.Type) []string {
	m, ok := t.MethodByName("Values")
	if !ok || m.Type.NumIn() != 1 || m.Type.NumOut() != 1 || m.Type.Out(0).Kind() != reflect.Slice {
		return nil
	}
	out := m.Func.Call([]reflect.Value{reflect.New(t).Elem()})[0]
	vals := make([]string, out.Len())
	for i := range vals {
		vals[i] = out.Index(i).String()
	}
	return vals
}

// normalize makes two decoded trees comparable: timestamps in UTC and
// ResultMetadata cleared.
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			f := v.Field(i)
			if !v.Type().Field(i).IsExported() {
				continue
			}
			if f.Type() == metadataType {
				f.Set(reflect.Zero(metadataType))
				continue
			}
			normalize(f)
		}
	case reflect.Slice:
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			normalize(e)
			v.SetMapIndex(iter.Key(), e)
		}
	}
}

// diff returns the path of the first difference between a and b, or "".
func diff(a, b reflect.Value, path string) string {
	if a.IsValid() != b.IsValid() {
		return fmt.Sprintf("%s: validity %v vs %v", path, a.IsValid(), b.IsValid())
	}
	if !a.IsValid() {
		return ""
	}
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s: type %s vs %s", path, a.Type(), b.Type())
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v vs %v", path, a.IsNil(), b.IsNil())
		}
		if a.IsNil() {
			return ""
		}
		return diff(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		if a.Type() == timeType {
			ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
			if !ta.Equal(tb) {
				return fmt.Sprintf("%s: %v vs %v", path, ta, tb)
			}
			return ""
		}
		for i := range a.NumField() {
			sf := a.Type().Field(i)
			if !sf.IsExported() || sf.Type == metadataType {
				continue
			}
			if d := diff(a.Field(i), b.Field(i), path+"."+sf.Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil slice %v vs %v", path, a.IsNil(), b.IsNil())
		}
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: len %d vs %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Map:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil map %v vs %v", path, a.IsNil(), b.IsNil())
		}
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: len %d vs %d", path, a.Len(), b.Len())
		}
		iter := a.MapRange()
		for iter.Next() {
			bv := b.MapIndex(iter.Key())
			if !bv.IsValid() {
				return fmt.Sprintf("%s[%v]: missing", path, iter.Key())
			}
			if d := diff(iter.Value(), bv, fmt.Sprintf("%s[%v]", path, iter.Key())); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return fmt.Sprintf("%s: %#v vs %#v", path, a.Interface(), b.Interface())
	}
	return ""
}

// assertEqual fails t unless want and got (pointers to structs) are equal
// after normalisation, ignoring ResultMetadata.
func assertEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	normalize(reflect.ValueOf(want))
	normalize(reflect.ValueOf(got))
	if d := diff(reflect.ValueOf(want), reflect.ValueOf(got), what); d != "" {
		t.Errorf("%s differs (want vs got) at %s", what, d)
	}
}

// exchange is what the test server expects and answers for one call.
type exchange struct {
	op     string
	newIn  func() any
	out    any
	errOut *Error // when set, answer with this error and HTTP 400

	gotIn  any
	gotErr error
	gotOp  string
}

// harness is an httptest server on 127.0.0.1 whose handler decodes one
// request with the package's decoders and answers with its encoders.
type harness struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	ex *exchange
}

// protocolHandler decodes a request into in (returned by newIn) and writes
// out, or writes errOut.
type protocolHandler func(w http.ResponseWriter, r *http.Request, body []byte, ex *exchange)

func newHarness(t *testing.T, ph protocolHandler) *harness {
	h := &harness{t: t}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r)
		h.mu.Lock()
		defer h.mu.Unlock()
		ex := h.ex
		if ex == nil {
			http.Error(w, "no exchange expected", http.StatusInternalServerError)
			return
		}
		if err != nil {
			ex.gotErr = err
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ph(w, r, body, ex)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		rd = zr
	}
	return io.ReadAll(rd)
}

func (h *harness) expect(ex *exchange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ex = ex
}

func (h *harness) done() *exchange {
	h.mu.Lock()
	defer h.mu.Unlock()
	ex := h.ex
	h.ex = nil
	return ex
}

// awsConfig is a client configuration pointing nowhere but the harness.
func (h *harness) awsConfig() aws.Config {
	tr := h.srv.Client().Transport
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "SECRET", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				r.Body = readOnlyBody{r.Body}
			}
			return tr.RoundTrip(r)
		})},
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// readOnlyBody hides io.WriterTo of the SDK's request body. smithy-go closes
// the request body as soon as http.Client.Do returns; against a loopback
// server the response can arrive before net/http's write loop has made its
// final "anything after Content-Length?" copy, and smithy's body then
// answers WriteTo with io.EOF as an error. net/http takes that for a failed
// request write and closes the connection under the response being read
// ("use of closed network connection"), about 2% of the time for a response
// of tens of kilobytes. Read after Close returns a clean io.EOF, so hiding
// WriteTo removes the race. Every SDK client pointed at the sandbox needs
// the same wrapper; it does not change what goes on the wire.
type readOnlyBody struct{ io.ReadCloser }

// roundTrip fills an input and an output, calls the real client and checks
// that the server decoded exactly the input and the client decoded exactly
// the output.
func roundTrip[In, Out, Opts any](t *testing.T, h *harness, op string, call func(context.Context, *In, ...func(*Opts)) (*Out, error)) {
	t.Run(op, func(t *testing.T) {
		roundTripValue(t, h, op, reflect.ValueOf(call))
	})
}

// roundTripValue is roundTrip for a client method value of the shape
// func(context.Context, *In, ...func(*Options)) (*Out, error).
func roundTripValue(t *testing.T, h *harness, op string, method reflect.Value) {
	t.Helper()
	mt := method.Type()
	f := newFiller()
	in, out := reflect.New(mt.In(1).Elem()), reflect.New(mt.Out(0).Elem())
	f.fill(in.Interface())
	f.fill(out.Interface())
	h.expect(&exchange{op: op, newIn: func() any { return reflect.New(mt.In(1).Elem()).Interface() }, out: out.Interface()})
	res := method.Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
	ex := h.done()
	if ex.gotErr != nil {
		t.Fatalf("server: %v", ex.gotErr)
	}
	if err, _ := res[1].Interface().(error); err != nil {
		t.Fatalf("client: %v", err)
	}
	if ex.gotOp != op {
		t.Errorf("server saw operation %q, want %q", ex.gotOp, op)
	}
	assertEqual(t, "input", in.Interface(), ex.gotIn)
	assertEqual(t, "output", out.Interface(), res[0].Interface())
}

// operations lists the operation methods of an SDK client by name.
func operations(client any) map[string]reflect.Value {
	ops := map[string]reflect.Value{}
	v := reflect.ValueOf(client)
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	for i := range v.NumMethod() {
		m := v.Method(i)
		mt := m.Type()
		if mt.NumIn() != 3 || !mt.IsVariadic() || mt.In(0) != ctxType || mt.NumOut() != 2 || mt.Out(1) != errType {
			continue
		}
		if mt.In(1).Kind() != reflect.Pointer || mt.Out(0).Kind() != reflect.Pointer {
			continue
		}
		ops[v.Type().Method(i).Name] = m
	}
	return ops
}

// roundTripAll runs roundTripValue for every operation of client except
// those in skip (operation → reason).
func roundTripAll(t *testing.T, h *harness, client any, skip map[string]string) {
	ops := operations(client)
	if len(ops) == 0 {
		t.Fatalf("%T has no operations", client)
	}
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		if _, ok := skip[op]; ok {
			continue
		}
		t.Run(op, func(t *testing.T) {
			roundTripValue(t, h, op, ops[op])
		})
	}
	for op := range skip {
		if _, ok := ops[op]; !ok {
			t.Errorf("skip list names %s, which %T does not have", op, client)
		}
	}
}

// serveDecoded is the common tail of protocol handlers: decode, record,
// encode.
func serveDecoded(w http.ResponseWriter, ex *exchange, op string, decode func(any) error, encode func(any) ([]byte, error), contentType string, errBody func(*Error) []byte) {
	ex.gotOp = op
	if ex.errOut != nil {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(errBody(ex.errOut))
		return
	}
	in := ex.newIn()
	if err := decode(in); err != nil {
		ex.gotErr = fmt.Errorf("decode %s: %w", op, err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	ex.gotIn = in
	b, err := encode(ex.out)
	if err != nil {
		ex.gotErr = fmt.Errorf("encode %s: %w", op, err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// opFromTarget returns Op from an X-Amz-Target of Service.Op.
func opFromTarget(target string) string {
	_, op, _ := strings.Cut(target, ".")
	return op
}

// reflectTypeOf returns the struct type behind pointer v.
func reflectTypeOf(v any) reflect.Type {
	return reflect.TypeOf(v).Elem()
}
