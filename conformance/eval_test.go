package conformance

import (
	"fmt"
	"go/ast"
	"go/printer"
	"go/token"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// This file evaluates the composite literals of Istio's validation test
// tables onto the real istio.io/api types, so that each case can be rendered
// as a manifest. The tables are Go code in _test.go files that cannot be
// imported; parsing them at test time (rather than copying them) keeps the
// corpus exactly what Istio tests, at the pinned version.
//
// The evaluator understands what the tables use: &T{...}, T{...}, []T{...},
// map literals (with elided element types), basic literals, true/false/nil,
// unary minus, constant arithmetic, the file's own constants, local variables
// assigned before the table, enum constants, time constants, conversions,
// durationpb.New, wrapperspb constructors and strings.Repeat. Anything else is
// an *unsupportedError, and the case is skipped and counted.

// unsupportedError reports a construct the evaluator cannot evaluate.
type unsupportedError struct {
	construct string
}

func (e *unsupportedError) Error() string { return "cannot evaluate " + e.construct }

// typeRegistry maps "importpath.Name" to the Go types and constants of the
// protobuf packages linked into this binary.
type typeRegistry struct {
	types  map[string]reflect.Type  // messages, oneof wrappers and enums
	consts map[string]reflect.Value // enum values
}

var basicTypes = map[string]reflect.Type{
	"bool":    reflect.TypeFor[bool](),
	"string":  reflect.TypeFor[string](),
	"int":     reflect.TypeFor[int](),
	"int8":    reflect.TypeFor[int8](),
	"int16":   reflect.TypeFor[int16](),
	"int32":   reflect.TypeFor[int32](),
	"int64":   reflect.TypeFor[int64](),
	"uint":    reflect.TypeFor[uint](),
	"uint8":   reflect.TypeFor[uint8](),
	"byte":    reflect.TypeFor[byte](),
	"uint16":  reflect.TypeFor[uint16](),
	"uint32":  reflect.TypeFor[uint32](),
	"uint64":  reflect.TypeFor[uint64](),
	"float32": reflect.TypeFor[float32](),
	"float64": reflect.TypeFor[float64](),
	"rune":    reflect.TypeFor[rune](),
	"any":     reflect.TypeFor[any](),
	"error":   reflect.TypeFor[error](),
}

// knownTypes are the non-protobuf named types the tables mention.
var knownTypes = map[string]reflect.Type{
	"time.Duration": reflect.TypeFor[time.Duration](),
	"google.golang.org/protobuf/proto.Message": reflect.TypeFor[proto.Message](),
}

var timeConsts = map[string]time.Duration{
	"Nanosecond":  time.Nanosecond,
	"Microsecond": time.Microsecond,
	"Millisecond": time.Millisecond,
	"Second":      time.Second,
	"Minute":      time.Minute,
	"Hour":        time.Hour,
}

// newTypeRegistry indexes every message, oneof wrapper and enum value in the
// global protobuf registry by its Go import path and name.
func newTypeRegistry() *typeRegistry {
	r := &typeRegistry{types: map[string]reflect.Type{}, consts: map[string]reflect.Value{}}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		goType := reflect.TypeOf(mt.Zero().Interface())
		if goType.Kind() != reflect.Pointer || goType.Elem().Kind() != reflect.Struct {
			return true
		}
		st := goType.Elem()
		r.types[st.PkgPath()+"."+st.Name()] = st
		r.addOneofWrappers(mt, st)
		return true
	})
	protoregistry.GlobalTypes.RangeEnums(func(et protoreflect.EnumType) bool {
		ed := et.Descriptor()
		goType := reflect.TypeOf(et.New(0))
		r.types[goType.PkgPath()+"."+goType.Name()] = goType
		prefix := goType.Name()
		if _, nested := ed.Parent().(protoreflect.MessageDescriptor); nested {
			// Values of a nested enum are scoped in the parent message:
			// LoadBalancerSettings_SimpleLB's ROUND_ROBIN is
			// LoadBalancerSettings_ROUND_ROBIN.
			prefix = strings.TrimSuffix(prefix, "_"+string(ed.Name()))
		}
		values := ed.Values()
		for i := range values.Len() {
			v := values.Get(i)
			r.consts[goType.PkgPath()+"."+prefix+"_"+string(v.Name())] = reflect.ValueOf(et.New(v.Number()))
		}
		return true
	})
	return r
}

// addOneofWrappers finds the Go wrapper type of each oneof member by setting
// the member through protoreflect and looking at the Go field it filled.
func (r *typeRegistry) addOneofWrappers(mt protoreflect.MessageType, st reflect.Type) {
	fields := mt.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		od := fd.ContainingOneof()
		if od == nil || od.IsSynthetic() {
			continue
		}
		m := mt.New()
		m.Set(fd, m.NewField(fd))
		goMsg := reflect.ValueOf(m.Interface()).Elem()
		for j := range st.NumField() {
			if st.Field(j).Tag.Get("protobuf_oneof") != string(od.Name()) {
				continue
			}
			if w := goMsg.Field(j); !w.IsNil() {
				wt := w.Elem().Type().Elem()
				r.types[wt.PkgPath()+"."+wt.Name()] = wt
			}
		}
	}
}

// evaluator evaluates expressions of one Go source file.
type evaluator struct {
	reg     *typeRegistry
	fset    *token.FileSet
	imports map[string]string   // alias → import path
	consts  map[string]ast.Expr // package-level constants of the test package
	locals  map[string]ast.Expr // variables assigned in the test function before the table
}

// value is an evaluated expression; untyped marks a constant that still
// takes the type of where it is used (as Go's untyped constants do).
type value struct {
	v       reflect.Value
	untyped bool
}

func (e *evaluator) unsupported(n ast.Node) error {
	var b strings.Builder
	_ = printer.Fprint(&b, e.fset, n)
	s := b.String()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return &unsupportedError{construct: fmt.Sprintf("%s (%T)", s, n)}
}

// evalTo evaluates x as a value of type want.
func (e *evaluator) evalTo(x ast.Expr, want reflect.Type) (reflect.Value, error) {
	v, err := e.eval(x, want)
	if err != nil {
		return reflect.Value{}, err
	}
	return e.convert(x, v, want)
}

// convert gives v the type want, as assignment (or a constant's conversion) would.
func (e *evaluator) convert(x ast.Expr, v value, want reflect.Type) (reflect.Value, error) {
	if want == nil {
		return v.v, nil
	}
	if !v.v.IsValid() { // nil
		switch want.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			return reflect.Zero(want), nil
		}
		return reflect.Value{}, fmt.Errorf("nil used as %s", want)
	}
	t := v.v.Type()
	if t.AssignableTo(want) {
		out := reflect.New(want).Elem()
		out.Set(v.v)
		return out, nil
	}
	if v.untyped || isNumeric(t) && isNumeric(want) {
		if !t.ConvertibleTo(want) {
			return reflect.Value{}, fmt.Errorf("cannot use %s as %s", t, want)
		}
		if isNumeric(want) && isNumeric(t) {
			if err := checkRange(v.v, want); err != nil {
				return reflect.Value{}, err
			}
		}
		return v.v.Convert(want), nil
	}
	return reflect.Value{}, fmt.Errorf("cannot use %s as %s", t, want)
}

func isNumeric(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// checkRange rejects a constant that does not fit its type, as the compiler would.
func checkRange(v reflect.Value, want reflect.Type) error {
	var f float64
	switch {
	case v.CanInt():
		f = float64(v.Int())
	case v.CanUint():
		f = float64(v.Uint())
	case v.CanFloat():
		f = v.Float()
		if want.Kind() != reflect.Float32 && want.Kind() != reflect.Float64 && f != math.Trunc(f) {
			return fmt.Errorf("constant %v truncated to %s", f, want)
		}
	}
	switch want.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if f < 0 || reflect.Zero(want).OverflowUint(uint64(f)) {
			return fmt.Errorf("constant %v overflows %s", f, want)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if reflect.Zero(want).OverflowInt(int64(f)) {
			return fmt.Errorf("constant %v overflows %s", f, want)
		}
	}
	return nil
}

// resolveType turns a type expression into a reflect.Type.
func (e *evaluator) resolveType(x ast.Expr) (reflect.Type, error) {
	switch x := x.(type) {
	case *ast.Ident:
		if t, ok := basicTypes[x.Name]; ok {
			return t, nil
		}
	case *ast.ParenExpr:
		return e.resolveType(x.X)
	case *ast.StarExpr:
		t, err := e.resolveType(x.X)
		if err != nil {
			return nil, err
		}
		return reflect.PointerTo(t), nil
	case *ast.ArrayType:
		if x.Len != nil {
			break
		}
		t, err := e.resolveType(x.Elt)
		if err != nil {
			return nil, err
		}
		return reflect.SliceOf(t), nil
	case *ast.MapType:
		k, err := e.resolveType(x.Key)
		if err != nil {
			return nil, err
		}
		v, err := e.resolveType(x.Value)
		if err != nil {
			return nil, err
		}
		return reflect.MapOf(k, v), nil
	case *ast.SelectorExpr:
		pkg, ok := x.X.(*ast.Ident)
		if !ok {
			break
		}
		path, ok := e.imports[pkg.Name]
		if !ok {
			break
		}
		key := path + "." + x.Sel.Name
		if t, ok := e.reg.types[key]; ok {
			return t, nil
		}
		if t, ok := knownTypes[key]; ok {
			return t, nil
		}
	}
	return nil, e.unsupported(x)
}

// isType reports whether x names a type (for conversions).
func (e *evaluator) isType(x ast.Expr) bool {
	_, err := e.resolveType(x)
	return err == nil
}

// eval evaluates x; want, when not nil, is the type the context expects (it
// gives elided composite literals their type).
func (e *evaluator) eval(x ast.Expr, want reflect.Type) (value, error) {
	switch x := x.(type) {
	case *ast.ParenExpr:
		return e.eval(x.X, want)
	case *ast.BasicLit:
		return e.basicLit(x)
	case *ast.Ident:
		return e.ident(x, want)
	case *ast.CompositeLit:
		v, err := e.compositeLit(x, want)
		return value{v: v}, err
	case *ast.UnaryExpr:
		return e.unary(x, want)
	case *ast.BinaryExpr:
		return e.binary(x, want)
	case *ast.SelectorExpr:
		return e.selector(x)
	case *ast.CallExpr:
		return e.call(x)
	}
	return value{}, e.unsupported(x)
}

func (e *evaluator) basicLit(x *ast.BasicLit) (value, error) {
	switch x.Kind {
	case token.INT:
		n, err := strconv.ParseInt(x.Value, 0, 64)
		if err != nil {
			return value{}, err
		}
		return value{v: reflect.ValueOf(n), untyped: true}, nil
	case token.FLOAT:
		f, err := strconv.ParseFloat(x.Value, 64)
		if err != nil {
			return value{}, err
		}
		return value{v: reflect.ValueOf(f), untyped: true}, nil
	case token.STRING:
		s, err := strconv.Unquote(x.Value)
		if err != nil {
			return value{}, err
		}
		return value{v: reflect.ValueOf(s), untyped: true}, nil
	case token.CHAR:
		s, _, _, err := strconv.UnquoteChar(x.Value[1:len(x.Value)-1], '\'')
		if err != nil {
			return value{}, err
		}
		return value{v: reflect.ValueOf(int64(s)), untyped: true}, nil
	}
	return value{}, e.unsupported(x)
}

func (e *evaluator) ident(x *ast.Ident, want reflect.Type) (value, error) {
	switch x.Name {
	case "true", "false":
		return value{v: reflect.ValueOf(x.Name == "true"), untyped: true}, nil
	case "nil":
		return value{}, nil
	}
	if c, ok := e.consts[x.Name]; ok {
		return e.eval(c, want)
	}
	if l, ok := e.locals[x.Name]; ok {
		return e.eval(l, want)
	}
	return value{}, e.unsupported(x)
}

func (e *evaluator) unary(x *ast.UnaryExpr, want reflect.Type) (value, error) {
	switch x.Op {
	case token.AND: // &T{...} or &local
		var elem reflect.Type
		if want != nil && want.Kind() == reflect.Pointer {
			elem = want.Elem()
		}
		v, err := e.eval(x.X, elem)
		if err != nil {
			return value{}, err
		}
		if !v.v.IsValid() {
			return value{}, e.unsupported(x)
		}
		p := reflect.New(v.v.Type())
		p.Elem().Set(v.v)
		return value{v: p}, nil
	case token.SUB, token.ADD:
		v, err := e.eval(x.X, want)
		if err != nil {
			return value{}, err
		}
		if x.Op == token.ADD {
			return v, nil
		}
		switch {
		case v.v.CanInt():
			out := reflect.New(v.v.Type()).Elem()
			out.SetInt(-v.v.Int())
			return value{v: out, untyped: v.untyped}, nil
		case v.v.CanFloat():
			out := reflect.New(v.v.Type()).Elem()
			out.SetFloat(-v.v.Float())
			return value{v: out, untyped: v.untyped}, nil
		}
	case token.NOT:
		v, err := e.eval(x.X, want)
		if err != nil {
			return value{}, err
		}
		if v.v.Kind() == reflect.Bool {
			return value{v: reflect.ValueOf(!v.v.Bool()), untyped: v.untyped}, nil
		}
	}
	return value{}, e.unsupported(x)
}

// binary evaluates constant arithmetic (30 * time.Minute, time.Hour /
// time.Second, "a" + "b"); operands keep Go's rule that a typed operand
// gives the untyped one its type.
func (e *evaluator) binary(x *ast.BinaryExpr, want reflect.Type) (value, error) {
	l, err := e.eval(x.X, nil)
	if err != nil {
		return value{}, err
	}
	r, err := e.eval(x.Y, nil)
	if err != nil {
		return value{}, err
	}
	if !l.v.IsValid() || !r.v.IsValid() {
		return value{}, e.unsupported(x)
	}
	if l.v.Kind() == reflect.String && r.v.Kind() == reflect.String && x.Op == token.ADD {
		return value{v: reflect.ValueOf(l.v.String() + r.v.String()), untyped: l.untyped && r.untyped}, nil
	}
	typ := l.v.Type()
	switch {
	case l.untyped && !r.untyped:
		typ = r.v.Type()
	case l.untyped && r.untyped && (l.v.CanFloat() || r.v.CanFloat()):
		typ = reflect.TypeFor[float64]()
	}
	if !isNumeric(l.v.Type()) || !isNumeric(r.v.Type()) {
		return value{}, e.unsupported(x)
	}
	untyped := l.untyped && r.untyped
	if typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64 {
		a, b := toFloat(l.v), toFloat(r.v)
		var f float64
		switch x.Op {
		case token.ADD:
			f = a + b
		case token.SUB:
			f = a - b
		case token.MUL:
			f = a * b
		case token.QUO:
			f = a / b
		default:
			return value{}, e.unsupported(x)
		}
		return value{v: reflect.ValueOf(f).Convert(typ), untyped: untyped}, nil
	}
	a, b := toInt(l.v), toInt(r.v)
	var n int64
	switch x.Op {
	case token.ADD:
		n = a + b
	case token.SUB:
		n = a - b
	case token.MUL:
		n = a * b
	case token.QUO:
		if b == 0 {
			return value{}, fmt.Errorf("division by zero")
		}
		n = a / b
	case token.REM:
		if b == 0 {
			return value{}, fmt.Errorf("division by zero")
		}
		n = a % b
	case token.SHL:
		n = a << uint64(b)
	default:
		return value{}, e.unsupported(x)
	}
	out := reflect.New(typ).Elem()
	if out.CanInt() {
		out.SetInt(n)
	} else {
		out.SetUint(uint64(n))
	}
	return value{v: out, untyped: untyped}, nil
}

func toFloat(v reflect.Value) float64 {
	switch {
	case v.CanInt():
		return float64(v.Int())
	case v.CanUint():
		return float64(v.Uint())
	}
	return v.Float()
}

func toInt(v reflect.Value) int64 {
	switch {
	case v.CanInt():
		return v.Int()
	case v.CanUint():
		return int64(v.Uint())
	}
	return int64(v.Float())
}

// selector evaluates pkg.Const: enum values and time's constants.
func (e *evaluator) selector(x *ast.SelectorExpr) (value, error) {
	pkg, ok := x.X.(*ast.Ident)
	if !ok {
		return value{}, e.unsupported(x)
	}
	path := e.imports[pkg.Name]
	if v, ok := e.reg.consts[path+"."+x.Sel.Name]; ok {
		return value{v: v}, nil
	}
	if path == "time" {
		if d, ok := timeConsts[x.Sel.Name]; ok {
			return value{v: reflect.ValueOf(d)}, nil
		}
	}
	return value{}, e.unsupported(x)
}

// call evaluates conversions and the few constructors the tables use.
func (e *evaluator) call(x *ast.CallExpr) (value, error) {
	if len(x.Args) == 1 && e.isType(x.Fun) {
		t, _ := e.resolveType(x.Fun)
		v, err := e.eval(x.Args[0], t)
		if err != nil {
			return value{}, err
		}
		if !v.v.IsValid() || !v.v.Type().ConvertibleTo(t) {
			return value{}, e.unsupported(x)
		}
		if v.untyped && isNumeric(t) {
			if err := checkRange(v.v, t); err != nil {
				return value{}, err
			}
		}
		return value{v: v.v.Convert(t)}, nil
	}
	sel, ok := x.Fun.(*ast.SelectorExpr)
	if !ok {
		return value{}, e.unsupported(x)
	}
	pkg, ok := sel.X.(*ast.Ident)
	if !ok {
		return value{}, e.unsupported(x)
	}
	path := e.imports[pkg.Name]
	arg := func(i int, t reflect.Type) (reflect.Value, error) {
		if i >= len(x.Args) {
			return reflect.Value{}, e.unsupported(x)
		}
		return e.evalTo(x.Args[i], t)
	}
	switch path + "." + sel.Sel.Name {
	case "google.golang.org/protobuf/types/known/durationpb.New":
		d, err := arg(0, reflect.TypeFor[time.Duration]())
		if err != nil {
			return value{}, err
		}
		return value{v: reflect.ValueOf(durationpb.New(time.Duration(d.Int())))}, nil
	case "strings.Repeat":
		s, err := arg(0, reflect.TypeFor[string]())
		if err != nil {
			return value{}, err
		}
		n, err := arg(1, reflect.TypeFor[int]())
		if err != nil {
			return value{}, err
		}
		if n.Int() < 0 || n.Int() > 4<<20 {
			return value{}, e.unsupported(x)
		}
		return value{v: reflect.ValueOf(strings.Repeat(s.String(), int(n.Int())))}, nil
	}
	if path == "google.golang.org/protobuf/types/known/wrapperspb" {
		if c, ok := wrapperConstructors[sel.Sel.Name]; ok {
			v, err := arg(0, c.arg)
			if err != nil {
				return value{}, err
			}
			return value{v: c.fn.Call([]reflect.Value{v})[0]}, nil
		}
	}
	return value{}, e.unsupported(x)
}

type constructor struct {
	arg reflect.Type
	fn  reflect.Value
}

func ctor[A any, R any](f func(A) R) constructor {
	return constructor{arg: reflect.TypeFor[A](), fn: reflect.ValueOf(f)}
}

var wrapperConstructors = map[string]constructor{
	"Bool":   ctor(wrapperspb.Bool),
	"Int32":  ctor(wrapperspb.Int32),
	"Int64":  ctor(wrapperspb.Int64),
	"UInt32": ctor(wrapperspb.UInt32),
	"UInt64": ctor(wrapperspb.UInt64),
	"Float":  ctor(wrapperspb.Float),
	"Double": ctor(wrapperspb.Double),
	"String": ctor(wrapperspb.String),
	"Bytes":  ctor(wrapperspb.Bytes),
}

// compositeLit evaluates T{...}; with the type elided, want gives it (and a
// pointer want means &T{...}, as in []*T{{...}}).
func (e *evaluator) compositeLit(x *ast.CompositeLit, want reflect.Type) (reflect.Value, error) {
	t := want
	if x.Type != nil {
		var err error
		if t, err = e.resolveType(x.Type); err != nil {
			return reflect.Value{}, err
		}
	}
	if t == nil {
		return reflect.Value{}, e.unsupported(x)
	}
	if t.Kind() == reflect.Pointer && x.Type == nil {
		v, err := e.compositeLit(x, t.Elem())
		if err != nil {
			return reflect.Value{}, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(v)
		return p, nil
	}
	out := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.Struct:
		for i, el := range x.Elts {
			var f reflect.Value
			val := el
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				key, ok := kv.Key.(*ast.Ident)
				if !ok {
					return reflect.Value{}, e.unsupported(kv.Key)
				}
				f = out.FieldByName(key.Name)
				if !f.IsValid() || !f.CanSet() {
					return reflect.Value{}, fmt.Errorf("%s has no field %s", t, key.Name)
				}
				val = kv.Value
			} else {
				if i >= t.NumField() {
					return reflect.Value{}, e.unsupported(x)
				}
				f = out.Field(i)
			}
			v, err := e.evalTo(val, f.Type())
			if err != nil {
				return reflect.Value{}, err
			}
			f.Set(v)
		}
	case reflect.Slice:
		for _, el := range x.Elts {
			if _, ok := el.(*ast.KeyValueExpr); ok {
				return reflect.Value{}, e.unsupported(el)
			}
			v, err := e.evalTo(el, t.Elem())
			if err != nil {
				return reflect.Value{}, err
			}
			out = reflect.Append(out, v)
		}
		if out.IsNil() {
			out = reflect.MakeSlice(t, 0, 0)
		}
	case reflect.Map:
		out = reflect.MakeMap(t)
		for _, el := range x.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				return reflect.Value{}, e.unsupported(el)
			}
			k, err := e.evalTo(kv.Key, t.Key())
			if err != nil {
				return reflect.Value{}, err
			}
			v, err := e.evalTo(kv.Value, t.Elem())
			if err != nil {
				return reflect.Value{}, err
			}
			out.SetMapIndex(k, v)
		}
	default:
		return reflect.Value{}, e.unsupported(x)
	}
	return out, nil
}
