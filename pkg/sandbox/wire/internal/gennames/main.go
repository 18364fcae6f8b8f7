// Command gennames derives the wire-name tables of package wire from the AWS
// SDK for Go v2 sources in the module cache.
//
// The SDK's generated code is the most precise description of the wire
// format available offline: for the query protocols (EC2, IAM, STS, SNS) the
// request serializers name every form key (object.Key / object.FlatKey,
// value.Array, value.Map) and the response deserializers name every XML
// element (strings.EqualFold("reservationSet", ...)); for the schema-based
// JSON and CBOR services (SSM, CloudWatch) SerializeMembers pairs each Go
// field with a schema member whose wire name is given to AddMember, and the
// union serializers list the variant types of each union interface.
//
// Only entries that differ from the default naming rules of package wire are
// written, so the table stays small. Run through go generate in package wire.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const modulePrefix = "github.com/aws/aws-sdk-go-v2/service/"

// queryServices use the EC2 query or awsquery protocols.
var queryServices = []string{"ec2", "iam", "sns", "sts"}

// schemaServices use schema-based serde (AWS JSON 1.1, RPC v2 CBOR).
var schemaServices = []string{"cloudwatch", "ssm"}

func main() {
	out := flag.String("o", "names_gen.go", "output file")
	flag.Parse()

	g := &generator{
		query: map[string]map[string]string{},
		xml:   map[string]map[string]string{},
		json:  map[string]map[string]string{},
	}
	for _, svc := range queryServices {
		dir := moduleDir(svc)
		g.querySerializers(svc, filepath.Join(dir, "serializers.go"))
		g.queryDeserializers(svc, filepath.Join(dir, "deserializers.go"))
	}
	for _, svc := range schemaServices {
		g.schemaService(svc, moduleDir(svc))
	}
	src, err := format.Source(g.render())
	if err != nil {
		log.Fatalf("format generated source: %v", err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func moduleDir(svc string) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", modulePrefix+svc).Output()
	if err != nil {
		log.Fatalf("go list %s: %v", svc, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		log.Fatalf("module %s%s is not in the module cache (run go mod download)", modulePrefix, svc)
	}
	return dir
}

func parseFile(path string) *ast.File {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		log.Fatalf("parse %s: %v", path, err)
	}
	return f
}

// container is the wire shape of a list or map, as in package wire.
type container struct {
	isMap      bool
	item       string // list member element name
	entry      string // map entry wrapper (XML only)
	key, value string
	elem       *container
}

// field is one struct member as the SDK code writes or reads it.
type field struct {
	name string
	flat bool
	fn   string // serializer/deserializer of the member's value, if any
}

type structInfo struct {
	typeKey string
	order   []string
	fields  map[string]field
}

type generator struct {
	query map[string]map[string]string // type key → Go field → Go literal of member
	xml   map[string]map[string]string
	json  map[string]map[string]string

	unions  []union
	wrapped []string // awsquery output types answered inside <OpResult>
}

type union struct {
	svc      string
	iface    string
	variants [][2]string // wire name, Go type
}

var (
	querySerRE   = regexp.MustCompile(`^aws(Ec2query|Awsquery)_serialize(OpDocument|Document)\w+$`)
	queryDeserRE = regexp.MustCompile(`^aws(Ec2query|Awsquery)_deserialize(OpDocument|Document)\w+$`)
)

// typeKey names the Go type of a parameter (after stripping pointers) the
// way package wire names reflect types: "ec2.DescribeInstancesInput",
// "ec2/types.Filter".
func typeKey(svc string, e ast.Expr) (string, bool) {
	for {
		st, ok := e.(*ast.StarExpr)
		if !ok {
			break
		}
		e = st.X
	}
	switch t := e.(type) {
	case *ast.Ident:
		return svc + "." + t.Name, true
	case *ast.SelectorExpr:
		if x, ok := t.X.(*ast.Ident); ok && x.Name == "types" {
			return svc + "/types." + t.Sel.Name, true
		}
	}
	return "", false
}

// kindOf classifies a serializer parameter type: "struct", "list" or "map".
func kindOf(e ast.Expr) string {
	for {
		st, ok := e.(*ast.StarExpr)
		if !ok {
			break
		}
		e = st.X
	}
	switch e.(type) {
	case *ast.ArrayType:
		return "list"
	case *ast.MapType:
		return "map"
	}
	return "struct"
}

func stringArgs(call *ast.CallExpr) []string {
	var out []string
	for _, a := range call.Args {
		if bl, ok := a.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			s, err := strconv.Unquote(bl.Value)
			if err == nil {
				out = append(out, s)
			}
		}
	}
	return out
}

// selectorOf returns the field name of the first x.F selector in n.
func selectorOf(n ast.Node, x string) string {
	var name string
	ast.Inspect(n, func(n ast.Node) bool {
		if name != "" {
			return false
		}
		if se, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := se.X.(*ast.Ident); ok && id.Name == x {
				name = se.Sel.Name
				return false
			}
		}
		return true
	})
	return name
}

// calledDoc returns the first called function whose name matches re.
func calledDoc(n ast.Node, re *regexp.Regexp) string {
	var name string
	ast.Inspect(n, func(n ast.Node) bool {
		if name != "" {
			return false
		}
		if call, ok := n.(*ast.CallExpr); ok {
			if id, ok := call.Fun.(*ast.Ident); ok && re.MatchString(id.Name) {
				name = id.Name
				return false
			}
		}
		return true
	})
	return name
}

// methodCall reports the string arguments of the first call recv.method(...).
func methodCall(n ast.Node, recv, method string) ([]string, bool) {
	var args []string
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if found {
			return false
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		se, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || se.Sel.Name != method {
			return true
		}
		if id, ok := se.X.(*ast.Ident); ok && id.Name == recv {
			args = stringArgs(call)
			found = true
			return false
		}
		return true
	})
	return args, found
}

type funcInfo struct {
	kind string // struct, list, map, mapEntries
	st   *structInfo
	c    *container // list or map names (without elem)
	elem string     // element function
}

// ---- query request serializers ----

func (g *generator) querySerializers(svc, path string) {
	f := parseFile(path)
	funcs := map[string]*funcInfo{}
	var structs []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !querySerRE.MatchString(fd.Name.Name) || fd.Body == nil {
			continue
		}
		param := fd.Type.Params.List[0].Type
		if g.queryUnion(svc, fd) {
			continue
		}
		info := &funcInfo{kind: kindOf(param)}
		switch info.kind {
		case "struct":
			key, ok := typeKey(svc, param)
			if !ok {
				continue
			}
			info.st = &structInfo{typeKey: key, fields: map[string]field{}}
			for _, stmt := range fd.Body.List {
				ifs, ok := stmt.(*ast.IfStmt)
				if !ok {
					continue
				}
				goField := selectorOf(ifs.Cond, "v")
				if goField == "" {
					continue
				}
				fl := field{}
				if args, ok := methodCall(ifs.Body, "object", "Key"); ok && len(args) == 1 {
					fl.name = args[0]
				} else if args, ok := methodCall(ifs.Body, "object", "FlatKey"); ok && len(args) == 1 {
					fl.name, fl.flat = args[0], true
				} else {
					continue
				}
				fl.fn = calledDoc(ifs.Body, querySerRE)
				info.st.order = append(info.st.order, goField)
				info.st.fields[goField] = fl
			}
			structs = append(structs, fd.Name.Name)
		case "list":
			args, ok := methodCall(fd.Body, "value", "Array")
			if !ok || len(args) != 1 {
				log.Fatalf("%s: list serializer without value.Array", fd.Name.Name)
			}
			info.c = &container{item: args[0]}
			info.elem = calledDoc(fd.Body, querySerRE)
		case "map":
			args, ok := methodCall(fd.Body, "value", "Map")
			if !ok || len(args) != 2 {
				log.Fatalf("%s: map serializer without value.Map", fd.Name.Name)
			}
			info.c = &container{isMap: true, entry: "entry", key: args[0], value: args[1]}
			info.elem = calledDoc(fd.Body, querySerRE)
		}
		funcs[fd.Name.Name] = info
	}
	ec2 := svc == "ec2"
	for _, name := range structs {
		st := funcs[name].st
		for _, goField := range st.order {
			fl := st.fields[goField]
			c := resolve(funcs, fl.fn)
			def := defaultQueryMember(ec2, goField, c)
			got := memberLit(fl.name, fl.flat, c)
			if got != def {
				put(g.query, st.typeKey, goField, got)
			}
		}
	}
}

// queryUnion records a union serializer (a type switch over the variants of
// a types.X interface, each writing object.Key("Member")) and reports
// whether fd is one.
func (g *generator) queryUnion(svc string, fd *ast.FuncDecl) bool {
	sel, ok := fd.Type.Params.List[0].Type.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	var ts *ast.TypeSwitchStmt
	for _, stmt := range fd.Body.List {
		if t, ok := stmt.(*ast.TypeSwitchStmt); ok {
			ts = t
		}
	}
	if ts == nil {
		return false
	}
	u := union{svc: svc, iface: sel.Sel.Name}
	for _, s := range ts.Body.List {
		cc := s.(*ast.CaseClause)
		vt, ok := variantType(cc)
		if !ok {
			continue
		}
		args, ok := methodCall(cc, "object", "Key")
		if !ok || len(args) != 1 {
			log.Fatalf("%s: variant %s without object.Key", fd.Name.Name, vt)
		}
		u.variants = append(u.variants, [2]string{args[0], vt})
	}
	if len(u.variants) > 0 {
		g.unions = append(g.unions, u)
	}
	return true
}

// variantType returns Y of `case *types.Y:`.
func variantType(cc *ast.CaseClause) (string, bool) {
	if len(cc.List) != 1 {
		return "", false
	}
	st, ok := cc.List[0].(*ast.StarExpr)
	if !ok {
		return "", false
	}
	sel, ok := st.X.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	return sel.Sel.Name, true
}

// resolve follows container functions down to the first struct or scalar.
func resolve(funcs map[string]*funcInfo, fn string) *container {
	if fn == "" {
		return nil
	}
	info, ok := funcs[fn]
	if !ok || info.c == nil {
		return nil
	}
	c := *info.c
	c.elem = resolve(funcs, info.elem)
	return &c
}

// Default rules; these must match names.go in package wire.

func defaultQueryMember(ec2 bool, goField string, c *container) string {
	return memberLit(goField, ec2 && c != nil, defaultContainer(c, "member"))
}

func defaultXMLMember(ec2 bool, goField string, c *container) string {
	if ec2 {
		return memberLit(lowerFirst(goField), false, defaultContainer(c, "item"))
	}
	return memberLit(goField, false, defaultContainer(c, "member"))
}

// defaultContainer rebuilds c (same nesting) with default element names.
func defaultContainer(c *container, item string) *container {
	if c == nil {
		return nil
	}
	d := &container{isMap: c.isMap}
	if c.isMap {
		d.entry, d.key, d.value = "entry", "key", "value"
	} else {
		d.item = item
	}
	d.elem = defaultContainer(c.elem, item)
	return d
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func memberLit(name string, flat bool, c *container) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{name: %q", name)
	if flat {
		b.WriteString(", flat: true")
	}
	if c != nil {
		b.WriteString(", shape: " + containerLit(c))
	}
	b.WriteString("}")
	return b.String()
}

func containerLit(c *container) string {
	var parts []string
	if c.isMap {
		parts = append(parts, "isMap: true", fmt.Sprintf("entry: %q", c.entry), fmt.Sprintf("key: %q", c.key), fmt.Sprintf("value: %q", c.value))
	} else {
		parts = append(parts, fmt.Sprintf("item: %q", c.item))
	}
	if c.elem != nil {
		parts = append(parts, "elem: "+containerLit(c.elem))
	}
	return "&container{" + strings.Join(parts, ", ") + "}"
}

func put(m map[string]map[string]string, typ, goField, lit string) {
	if m[typ] == nil {
		m[typ] = map[string]string{}
	}
	m[typ][goField] = lit
}

// ---- XML response deserializers ----

// equalFoldCase returns the element name of `case strings.EqualFold("x", ...)`.
func equalFoldCase(cc *ast.CaseClause) (string, bool) {
	if len(cc.List) != 1 {
		return "", false
	}
	call, ok := cc.List[0].(*ast.CallExpr)
	if !ok {
		return "", false
	}
	se, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || se.Sel.Name != "EqualFold" {
		return "", false
	}
	args := stringArgs(call)
	if len(args) != 1 {
		return "", false
	}
	return args[0], true
}

func caseClauses(body *ast.BlockStmt) []*ast.CaseClause {
	var out []*ast.CaseClause
	ast.Inspect(body, func(n ast.Node) bool {
		if cc, ok := n.(*ast.CaseClause); ok {
			out = append(out, cc)
		}
		return true
	})
	return out
}

// assigns reports whether the clause assigns to the identifier name.
func assigns(cc *ast.CaseClause, name string) bool {
	found := false
	ast.Inspect(cc, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok {
			for _, l := range as.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name == name {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

func (g *generator) queryDeserializers(svc, path string) {
	f := parseFile(path)
	funcs := map[string]*funcInfo{}
	var structs []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if ok && fd.Recv != nil && fd.Body != nil && fd.Name.Name == "HandleDeserialize" {
			g.resultWrapper(svc, fd)
			continue
		}
		if !ok || fd.Recv != nil || !queryDeserRE.MatchString(fd.Name.Name) || fd.Body == nil {
			continue
		}
		name := fd.Name.Name
		unwrapped := strings.HasSuffix(name, "Unwrapped")
		param := fd.Type.Params.List[0].Type
		info := &funcInfo{kind: kindOf(param)}
		switch {
		case info.kind == "struct":
			key, ok := typeKey(svc, param)
			if !ok {
				continue
			}
			info.st = &structInfo{typeKey: key, fields: map[string]field{}}
			for _, cc := range caseClauses(fd.Body) {
				elName, ok := equalFoldCase(cc)
				if !ok {
					continue
				}
				fl := field{name: elName}
				if fn := calledDoc(cc, queryDeserRE); fn != "" {
					fl.fn = strings.TrimSuffix(fn, "Unwrapped")
					fl.flat = strings.HasSuffix(fn, "Unwrapped")
				}
				goField := selectorOf(cc, "sv")
				if goField == "" {
					log.Fatalf("%s: case %q assigns no field", name, elName)
				}
				info.st.order = append(info.st.order, goField)
				info.st.fields[goField] = fl
			}
			structs = append(structs, name)
		case info.kind == "list" && !unwrapped:
			for _, cc := range caseClauses(fd.Body) {
				if el, ok := equalFoldCase(cc); ok {
					info.c = &container{item: el}
					info.elem = calledDoc(cc, queryDeserRE)
				}
			}
		case info.kind == "map" && !unwrapped:
			for _, cc := range caseClauses(fd.Body) {
				if el, ok := equalFoldCase(cc); ok {
					info.c = &container{isMap: true, entry: el}
				}
			}
		case info.kind == "map" && unwrapped:
			info.kind = "mapEntries"
			info.c = &container{isMap: true}
			for _, cc := range caseClauses(fd.Body) {
				el, ok := equalFoldCase(cc)
				if !ok {
					continue
				}
				if assigns(cc, "ek") {
					info.c.key = el
				} else {
					info.c.value = el
					info.elem = calledDoc(cc, queryDeserRE)
				}
			}
		default:
			continue
		}
		funcs[name] = info
	}
	// Merge map wrappers with their entry functions.
	for name, info := range funcs {
		if info.kind != "map" {
			continue
		}
		ent, ok := funcs[name+"Unwrapped"]
		if !ok {
			log.Fatalf("%s: no Unwrapped entry function", name)
		}
		info.c.key, info.c.value = ent.c.key, ent.c.value
		info.elem = ent.elem
	}
	// Flattened maps are read by the entry function directly.
	for name, info := range funcs {
		if info.kind == "mapEntries" {
			base := strings.TrimSuffix(name, "Unwrapped")
			if _, ok := funcs[base]; !ok {
				funcs[base] = &funcInfo{kind: "map", c: &container{isMap: true, entry: "entry", key: info.c.key, value: info.c.value}, elem: info.elem}
			}
		}
	}
	ec2 := svc == "ec2"
	for _, name := range structs {
		st := funcs[name].st
		for _, goField := range st.order {
			fl := st.fields[goField]
			c := resolve(funcs, fl.fn)
			def := defaultXMLMember(ec2, goField, c)
			got := memberLit(fl.name, fl.flat, c)
			if got != def {
				put(g.xml, st.typeKey, goField, got)
			}
		}
	}
}

// resultWrapper records awsquery operations whose deserializer reads an
// <OpResult> element: AWS sends one for every operation whose output is a
// structure, even an empty one, and none for operations without output.
func (g *generator) resultWrapper(svc string, fd *ast.FuncDecl) {
	st, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return
	}
	id, ok := st.X.(*ast.Ident)
	if !ok {
		return
	}
	op, ok := strings.CutPrefix(id.Name, "awsAwsquery_deserializeOp")
	if !ok {
		return
	}
	if args, ok := methodCall(fd.Body, "decoder", "GetElement"); ok && len(args) == 1 && args[0] == op+"Result" {
		g.wrapped = append(g.wrapped, svc+"."+op+"Output")
	}
}

// ---- schema-based services: JSON member names and unions ----

func (g *generator) schemaService(svc, dir string) {
	// schema variable → member name
	memberNames := map[string]string{}
	sf := parseFile(filepath.Join(dir, "schemas", "schemas.go"))
	ast.Inspect(sf, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
			return true
		}
		lhs, ok := as.Lhs[0].(*ast.Ident)
		if !ok {
			return true
		}
		if args, ok := addMember(as.Rhs[0]); ok {
			memberNames[lhs.Name] = args
		}
		return true
	})

	var files []string
	for _, pat := range []string{filepath.Join(dir, "*.go"), filepath.Join(dir, "types", "*.go")} {
		m, err := filepath.Glob(pat)
		if err != nil {
			log.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		pkgSvc := svc
		if filepath.Base(filepath.Dir(path)) == "types" {
			pkgSvc = svc + "/types"
		}
		f := parseFile(path)
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if fd.Recv != nil && fd.Name.Name == "SerializeMembers" {
				recv := fd.Recv.List[0].Type
				st, ok := recv.(*ast.StarExpr)
				if !ok {
					continue
				}
				id, ok := st.X.(*ast.Ident)
				if !ok {
					continue
				}
				typ := pkgSvc + "." + id.Name
				for _, stmt := range fd.Body.List {
					ifs, ok := stmt.(*ast.IfStmt)
					if !ok {
						continue
					}
					goField := selectorOf(ifs.Cond, "v")
					schemaVar := selectorOf(ifs.Body, "schemas")
					if goField == "" || schemaVar == "" {
						continue
					}
					wire, ok := memberNames[schemaVar]
					if !ok {
						log.Fatalf("%s.%s: schema %s has no AddMember", typ, goField, schemaVar)
					}
					if wire != goField {
						put(g.json, typ, goField, strconv.Quote(wire))
					}
				}
				continue
			}
			if fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "serialize") && len(fd.Type.Params.List) == 3 {
				g.unionSerializer(svc, fd, memberNames)
			}
		}
	}
}

func addMember(e ast.Expr) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return "", false
	}
	se, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || se.Sel.Name != "AddMember" {
		return "", false
	}
	args := stringArgs(call)
	if len(args) != 1 {
		return "", false
	}
	return args[0], true
}

func (g *generator) unionSerializer(svc string, fd *ast.FuncDecl, memberNames map[string]string) {
	sel, ok := fd.Type.Params.List[2].Type.(*ast.SelectorExpr)
	if !ok {
		return
	}
	if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "types" {
		return
	}
	var ts *ast.TypeSwitchStmt
	for _, stmt := range fd.Body.List {
		if t, ok := stmt.(*ast.TypeSwitchStmt); ok {
			ts = t
		}
	}
	if ts == nil {
		return
	}
	u := union{svc: svc, iface: sel.Sel.Name}
	for _, s := range ts.Body.List {
		cc := s.(*ast.CaseClause)
		vt, ok := variantType(cc)
		if !ok {
			continue
		}
		args, ok := methodCallSelector(cc, "s", "WriteUnion")
		if !ok {
			continue
		}
		wire, ok := memberNames[args]
		if !ok {
			log.Fatalf("union %s: schema %s has no AddMember", u.iface, args)
		}
		u.variants = append(u.variants, [2]string{wire, vt})
	}
	if len(u.variants) > 0 {
		g.unions = append(g.unions, u)
	}
}

// methodCallSelector returns the schemas.X variable passed as the second
// argument of recv.method(schema, schemas.X).
func methodCallSelector(n ast.Node, recv, method string) (string, bool) {
	var out string
	ast.Inspect(n, func(n ast.Node) bool {
		if out != "" {
			return false
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		se, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || se.Sel.Name != method || len(call.Args) != 2 {
			return true
		}
		if id, ok := se.X.(*ast.Ident); !ok || id.Name != recv {
			return true
		}
		if arg, ok := call.Args[1].(*ast.SelectorExpr); ok {
			out = arg.Sel.Name
		}
		return true
	})
	return out, out != ""
}

// ---- output ----

func (g *generator) render() []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by go run ./internal/gennames; DO NOT EDIT.\n\n")
	b.WriteString("package wire\n\n")
	b.WriteString("import (\n\t\"reflect\"\n\n")
	svcs := map[string]bool{}
	for _, u := range g.unions {
		svcs[u.svc] = true
	}
	var names []string
	for s := range svcs {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		fmt.Fprintf(&b, "\t%stypes %q\n", s, modulePrefix+s+"/types")
	}
	b.WriteString(")\n\n")

	writeTable(&b, "queryMembers", "query request members (form keys) that differ from the default rules", "member", g.query)
	writeTable(&b, "xmlMembers", "XML response members (element names) that differ from the default rules", "member", g.xml)
	writeTable(&b, "jsonMembers", "JSON/CBOR member names that differ from the Go field names", "string", g.json)

	b.WriteString("// resultWrapped lists the awsquery output types whose response has an\n")
	b.WriteString("// <OpResult> element (all but operations without output).\n")
	b.WriteString("var resultWrapped = map[string]bool{\n")
	slices.Sort(g.wrapped)
	for _, w := range g.wrapped {
		fmt.Fprintf(&b, "\t%q: true,\n", w)
	}
	b.WriteString("}\n\n")

	b.WriteString("// unionVariants lists, per union interface, its variant types by member name.\n")
	b.WriteString("var unionVariants = map[reflect.Type]map[string]reflect.Type{\n")
	slices.SortFunc(g.unions, func(a, b union) int { return strings.Compare(a.svc+a.iface, b.svc+b.iface) })
	for _, u := range g.unions {
		fmt.Fprintf(&b, "\treflect.TypeFor[%stypes.%s](): {\n", u.svc, u.iface)
		for _, v := range u.variants {
			fmt.Fprintf(&b, "\t\t%q: reflect.TypeFor[%stypes.%s](),\n", v[0], u.svc, v[1])
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func writeTable(b *bytes.Buffer, name, doc, valType string, m map[string]map[string]string) {
	fmt.Fprintf(b, "// %s lists %s.\n", name, doc)
	fmt.Fprintf(b, "var %s = map[string]map[string]%s{\n", name, valType)
	var types []string
	for t := range m {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		fmt.Fprintf(b, "\t%q: {\n", t)
		var fields []string
		for f := range m[t] {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		for _, f := range fields {
			fmt.Fprintf(b, "\t\t%q: %s,\n", f, m[t][f])
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n\n")
}
