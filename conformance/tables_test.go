package conformance

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	networking "istio.io/api/networking/v1alpha3"
	typev1beta1 "istio.io/api/type/v1beta1"
	sigsyaml "sigs.k8s.io/yaml"
)

// skippedCase is a table case the suite could not turn into a manifest.
type skippedCase struct {
	id     string
	reason string
}

// tableCase is one element of a test table, its fields still Go syntax.
type tableCase struct {
	test   string
	fields map[string]ast.Expr // field name → expression (absent: zero value)
	types  map[string]ast.Expr // field name → declared type
	ev     *evaluator
}

// has reports whether the case sets field.
func (c *tableCase) has(field string) bool {
	_, ok := c.fields[field]
	return ok
}

// get evaluates a field to its declared type; an absent field is its zero value.
func (c *tableCase) get(field string) (reflect.Value, error) {
	te, ok := c.types[field]
	if !ok {
		return reflect.Value{}, fmt.Errorf("%s has no field %q", c.test, field)
	}
	t, err := c.ev.resolveType(te)
	if err != nil {
		return reflect.Value{}, err
	}
	x, ok := c.fields[field]
	if !ok {
		return reflect.Zero(t), nil
	}
	return c.ev.evalTo(x, t)
}

func (c *tableCase) str(field string) (string, error) {
	v, err := c.get(field)
	if err != nil {
		return "", err
	}
	if v.Kind() != reflect.String {
		return "", fmt.Errorf("field %s is %s, not a string", field, v.Type())
	}
	return v.String(), nil
}

func (c *tableCase) boolean(field string) (bool, error) {
	v, err := c.get(field)
	if err != nil {
		return false, err
	}
	if v.Kind() != reflect.Bool {
		return false, fmt.Errorf("field %s is %s, not a bool", field, v.Type())
	}
	return v.Bool(), nil
}

// message evaluates a field holding a protobuf message of type T (nil when
// the case leaves it nil).
func message[T proto.Message](c *tableCase, field string) (T, error) {
	var zero T
	v, err := c.get(field)
	if err != nil {
		return zero, err
	}
	if !v.IsValid() || (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return zero, nil
	}
	m, ok := v.Interface().(T)
	if !ok {
		return zero, errNotRenderable{fmt.Sprintf("%s is a %T, not a %T", field, v.Interface(), zero)}
	}
	return m, nil
}

// errNotRenderable marks a case whose value has no manifest form.
type errNotRenderable struct{ why string }

func (e errNotRenderable) Error() string { return e.why }

// rendered is a resource built from a case, before it becomes YAML.
type rendered struct {
	spec      proto.Message
	name      string
	namespace string
	labels    map[string]string
}

// table says how to turn the cases of one Istio test into resources.
type table struct {
	test string
	// name picks the case's name; empty means the field "name".
	name string
	// expect reports what Istio's test expects of the case (true = valid);
	// nil when the table has no such field.
	expect func(c *tableCase) (bool, error)
	render func(c *tableCase) (rendered, error)
}

// Names and hosts of the resources cases are put in. They follow Istio's
// tables (someName, someNamespace, foo.bar routed to foo.baz), so that the
// value under test is the only thing that varies.
const (
	caseName      = "foo"
	caseNamespace = "bar"
	vsHost        = "foo.bar"
	routeHost     = "foo.baz"
	drHost        = "reviews"
)

func byField(field string) func(c *tableCase) (bool, error) {
	return func(c *tableCase) (bool, error) { return c.boolean(field) }
}

func byEmptyString(field string) func(c *tableCase) (bool, error) {
	return func(c *tableCase) (bool, error) {
		s, err := c.str(field)
		return s == "", err
	}
}

// whole renders a case whose field is the resource itself.
func whole(field string) func(c *tableCase) (rendered, error) {
	return func(c *tableCase) (rendered, error) {
		m, err := message[proto.Message](c, field)
		if err != nil {
			return rendered{}, err
		}
		if m == nil {
			return rendered{}, errNotRenderable{"the resource is nil"}
		}
		if kind := m.ProtoReflect().Descriptor().Name(); !resourceKinds[string(kind)] {
			return rendered{}, errNotRenderable{fmt.Sprintf("a %s is not a resource", kind)}
		}
		r := rendered{spec: m, name: caseName, namespace: caseNamespace}
		if c.has("labels") {
			v, err := c.get("labels")
			if err != nil {
				return rendered{}, err
			}
			r.labels, _ = v.Interface().(map[string]string)
		}
		return r, nil
	}
}

// resourceKinds are the networking.istio.io kinds a whole-resource case may hold.
var resourceKinds = map[string]bool{
	"VirtualService": true, "DestinationRule": true, "ServiceEntry": true,
	"Gateway": true, "Sidecar": true, "WorkloadEntry": true, "WorkloadGroup": true,
}

// routeBase is the route a fragment is put in: foo.bar to foo.baz.
func routeBase() *networking.HTTPRoute {
	return &networking.HTTPRoute{Route: []*networking.HTTPRouteDestination{{Destination: &networking.Destination{Host: routeHost}}}}
}

func virtualService(routes ...*networking.HTTPRoute) rendered {
	return rendered{spec: &networking.VirtualService{Hosts: []string{vsHost}, Http: routes}, name: caseName, namespace: caseNamespace}
}

// inRoute renders a fragment of type T set on routeBase() by set; a nil
// fragment leaves the base route as it is.
func inRoute[T proto.Message](field string, set func(r *networking.HTTPRoute, v T)) func(c *tableCase) (rendered, error) {
	return func(c *tableCase) (rendered, error) {
		v, err := message[T](c, field)
		if err != nil {
			return rendered{}, err
		}
		r := routeBase()
		if !reflect.ValueOf(v).IsNil() {
			set(r, v)
		}
		return virtualService(r), nil
	}
}

// inPolicy renders a fragment of a DestinationRule's traffic policy.
func inPolicy[T proto.Message](field string, set func(p *networking.TrafficPolicy, v T)) func(c *tableCase) (rendered, error) {
	return func(c *tableCase) (rendered, error) {
		v, err := message[T](c, field)
		if err != nil {
			return rendered{}, err
		}
		p := &networking.TrafficPolicy{}
		if !reflect.ValueOf(v).IsNil() {
			set(p, v)
		}
		return rendered{spec: &networking.DestinationRule{Host: drHost, TrafficPolicy: p}, name: caseName, namespace: caseNamespace}, nil
	}
}

// inGateway renders a fragment of a Gateway's server.
func inGateway[T proto.Message](field string, set func(s *networking.Server, v T) *networking.Server) func(c *tableCase) (rendered, error) {
	return func(c *tableCase) (rendered, error) {
		v, err := message[T](c, field)
		if err != nil {
			return rendered{}, err
		}
		var s *networking.Server
		if !reflect.ValueOf(v).IsNil() {
			s = set(&networking.Server{
				Hosts: []string{"foo.bar.com"},
				Port:  &networking.Port{Number: 443, Protocol: "HTTPS", Name: "https"},
			}, v)
		}
		if s == nil {
			return rendered{}, errNotRenderable{"the server is nil"}
		}
		return rendered{spec: &networking.Gateway{Servers: []*networking.Server{s}}, name: caseName, namespace: caseNamespace}, nil
	}
}

// tables lists the networking tests of pkg/config/validation whose cases
// become manifests, and where each case's value goes.
var tables = []table{
	// Whole resources.
	{test: "TestValidateVirtualService", expect: byField("valid"), render: whole("in")},
	{test: "TestValidateChainingVirtualService", expect: byField("valid"), render: whole("in")},
	{test: "TestValidateDestinationRule", expect: byField("valid"), render: whole("in")},
	{test: "TestValidateServiceEntries", expect: byField("valid"), render: whole("in")},

	// HTTP routes and their parts, in a VirtualService for foo.bar.
	{test: "TestValidateHTTPRoute", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		r, err := message[*networking.HTTPRoute](c, "route")
		if err != nil || r == nil {
			return rendered{}, errors.Join(err, errNotRenderable{"the route is nil"})
		}
		return virtualService(r), nil
	}},
	{test: "TestValidateRootHTTPRoute", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		r, err := message[*networking.HTTPRoute](c, "route")
		if err != nil || r == nil {
			return rendered{}, errors.Join(err, errNotRenderable{"the route is nil"})
		}
		return virtualService(r), nil
	}},
	{test: "TestValidateDelegateHTTPRoute", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		// A delegate VirtualService has no hosts.
		r, err := message[*networking.HTTPRoute](c, "route")
		if err != nil || r == nil {
			return rendered{}, errors.Join(err, errNotRenderable{"the route is nil"})
		}
		return rendered{spec: &networking.VirtualService{Http: []*networking.HTTPRoute{r}}, name: caseName, namespace: caseNamespace}, nil
	}},
	{test: "TestValidateDestination", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		d, err := message[*networking.Destination](c, "destination")
		if err != nil {
			return rendered{}, err
		}
		return virtualService(&networking.HTTPRoute{Route: []*networking.HTTPRouteDestination{{Destination: d}}}), nil
	}},
	{test: "TestValidateRouteDestination", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		// validateRouteDestinations checks TCP and TLS routes' destinations.
		v, err := c.get("routes")
		if err != nil {
			return rendered{}, err
		}
		routes, _ := v.Interface().([]*networking.RouteDestination)
		return rendered{spec: &networking.VirtualService{Hosts: []string{vsHost}, Tcp: []*networking.TCPRoute{{Route: routes}}}, name: caseName, namespace: caseNamespace}, nil
	}},
	{test: "TestValidateHTTPFaultInjectionAbort", expect: byField("valid"), render: inRoute("in", func(r *networking.HTTPRoute, v *networking.HTTPFaultInjection_Abort) {
		r.Fault = &networking.HTTPFaultInjection{Abort: v}
	})},
	{test: "TestValidateHTTPFaultInjectionDelay", expect: byField("valid"), render: inRoute("in", func(r *networking.HTTPRoute, v *networking.HTTPFaultInjection_Delay) {
		r.Fault = &networking.HTTPFaultInjection{Delay: v}
	})},
	{test: "TestValidateHTTPStatus", name: "in", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		// validateHTTPStatus checks a fault's abort status.
		v, err := c.get("in")
		if err != nil {
			return rendered{}, err
		}
		r := routeBase()
		r.Fault = &networking.HTTPFaultInjection{Abort: &networking.HTTPFaultInjection_Abort{
			ErrorType: &networking.HTTPFaultInjection_Abort_HttpStatus{HttpStatus: int32(v.Int())},
		}}
		return virtualService(r), nil
	}},
	{test: "TestValidateHTTPRetry", expect: byField("valid"), render: inRoute("in", func(r *networking.HTTPRoute, v *networking.HTTPRetry) {
		r.Retries = v
	})},
	{test: "TestValidateHTTPRewrite", expect: byField("valid"), render: inRoute("in", func(r *networking.HTTPRoute, v *networking.HTTPRewrite) {
		r.Rewrite = v
	})},
	{test: "TestValidateUriRegexRewrite", expect: byField("valid"), render: inRoute("in", func(r *networking.HTTPRoute, v *networking.RegexRewrite) {
		r.Rewrite = &networking.HTTPRewrite{UriRegexRewrite: v}
	})},
	{test: "TestValidateHTTPRedirect", expect: byField("valid"), render: inRoute("redirect", func(r *networking.HTTPRoute, v *networking.HTTPRedirect) {
		r.Route, r.Redirect = nil, v // a redirect replaces the route
	})},
	{test: "TestValidateHTTPDirectResponse", expect: byField("valid"), render: inRoute("directResponse", func(r *networking.HTTPRoute, v *networking.HTTPDirectResponse) {
		r.Route, r.DirectResponse = nil, v // a direct response replaces the route
	})},
	{test: "TestValidateCORSPolicy", expect: byField("valid"), render: inRoute("in", func(r *networking.HTTPRoute, v *networking.CorsPolicy) {
		r.CorsPolicy = v
	})},
	{test: "TestValidateHTTPHeaderName", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		// ValidateHTTPHeaderNameOrJwtClaimRoute checks the header names of matches.
		name, err := c.str("name")
		if err != nil {
			return rendered{}, err
		}
		r := routeBase()
		r.Match = []*networking.HTTPMatchRequest{{Headers: map[string]*networking.StringMatch{
			name: {MatchType: &networking.StringMatch_Exact{Exact: "v"}},
		}}}
		return virtualService(r), nil
	}},
	{test: "TestValidateHTTPHeaderValue", name: "input", expect: func(c *tableCase) (bool, error) {
		// expected: errors.New(…) marks the invalid ones; absent or nil, the valid.
		id, isIdent := c.fields["expected"].(*ast.Ident)
		return !c.has("expected") || isIdent && id.Name == "nil", nil
	}, render: func(c *tableCase) (rendered, error) {
		// ValidateHTTPHeaderValue checks the values of header operations.
		v, err := c.str("input")
		if err != nil {
			return rendered{}, err
		}
		r := routeBase()
		r.Headers = &networking.Headers{Request: &networking.Headers_HeaderOperations{Set: map[string]string{"x-case": v}}}
		return virtualService(r), nil
	}},

	// Traffic policy parts, in a DestinationRule for reviews.
	{test: "TestValidateTrafficPolicy", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		p, err := message[*networking.TrafficPolicy](c, "in")
		if err != nil {
			return rendered{}, err
		}
		return rendered{spec: &networking.DestinationRule{Host: drHost, TrafficPolicy: p}, name: caseName, namespace: caseNamespace}, nil
	}},
	{test: "TestValidateConnectionPool", expect: byField("valid"), render: inPolicy("in", func(p *networking.TrafficPolicy, v *networking.ConnectionPoolSettings) {
		p.ConnectionPool = v
	})},
	{test: "TestValidateLoadBalancer", expect: byField("valid"), render: inPolicy("in", func(p *networking.TrafficPolicy, v *networking.LoadBalancerSettings) {
		p.LoadBalancer = v
	})},
	{test: "TestValidateOutlierDetection", expect: byField("valid"), render: inPolicy("in", func(p *networking.TrafficPolicy, v *networking.OutlierDetection) {
		p.OutlierDetection = v
	})},

	// ServiceEntry port names.
	{test: "TestValidatePortName", expect: byField("valid"), render: func(c *tableCase) (rendered, error) {
		name, err := c.str("name")
		if err != nil {
			return rendered{}, err
		}
		return rendered{spec: &networking.ServiceEntry{
			Hosts:      []string{"foo.bar.com"},
			Ports:      []*networking.ServicePort{{Number: 80, Protocol: "HTTP", Name: name}},
			Resolution: networking.ServiceEntry_DNS,
		}, name: caseName, namespace: caseNamespace}, nil
	}},

	// exportTo, on the kind the case names.
	{test: "Test_validateExportTo", expect: func(c *tableCase) (bool, error) {
		bad, err := c.boolean("wantErr")
		return !bad, err
	}, render: func(c *tableCase) (rendered, error) {
		ns, err := c.str("namespace")
		if err != nil {
			return rendered{}, err
		}
		v, err := c.get("exportTo")
		if err != nil {
			return rendered{}, err
		}
		exportTo, _ := v.Interface().([]string)
		se, err := c.boolean("isServiceEntry")
		if err != nil {
			return rendered{}, err
		}
		drSel, err := c.boolean("isDestinationRuleWithSelector")
		if err != nil {
			return rendered{}, err
		}
		r := rendered{name: caseName, namespace: ns}
		switch {
		case se:
			r.spec = &networking.ServiceEntry{
				Hosts:      []string{"foo.bar.com"},
				Ports:      []*networking.ServicePort{{Number: 80, Protocol: "HTTP", Name: "http"}},
				Resolution: networking.ServiceEntry_DNS,
				ExportTo:   exportTo,
			}
		case drSel:
			r.spec = &networking.DestinationRule{
				Host:             drHost,
				WorkloadSelector: &typev1beta1.WorkloadSelector{MatchLabels: map[string]string{"app": "a"}},
				ExportTo:         exportTo,
			}
		default:
			vs := virtualService(routeBase()).spec.(*networking.VirtualService)
			vs.ExportTo = exportTo
			r.spec = vs
		}
		return r, nil
	}},

	// Kinds switchyard does not handle yet: recorded with Istio's verdict.
	{test: "TestValidateGateway", expect: byEmptyString("out"), render: whole("in")},
	{test: "TestValidateServer", expect: byEmptyString("out"), render: inGateway("in", func(_ *networking.Server, v *networking.Server) *networking.Server {
		return v
	})},
	{test: "TestValidateTlsOptions", expect: byEmptyString("out"), render: inGateway("in", func(s *networking.Server, v *networking.ServerTLSSettings) *networking.Server {
		s.Tls = v
		return s
	})},
	{test: "TestValidateSidecar", expect: byField("valid"), render: whole("in")},
	{test: "TestValidateWorkloadEntry", expect: byField("valid"), render: whole("in")},
	{test: "TestValidateWorkloadGroup", expect: byField("valid"), render: whole("in")},
}

// tableDocuments parses Istio's validation tests in dir and renders the
// cases of the tables listed in tables as manifests. Cases it cannot
// evaluate or render are returned as skipped, with the reason.
func tableDocuments(dir string) ([]document, []skippedCase, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	reg := newTypeRegistry()
	consts := map[string]ast.Expr{}
	type fn struct {
		decl *ast.FuncDecl
		ev   *evaluator
	}
	funcs := map[string]fn{}
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, nil, err
		}
		if af.Name.Name != "validation" {
			continue // the external test package (openapi_test.go) holds no tables
		}
		test := strings.HasSuffix(f, "_test.go") // the package's own files give constants only
		imports := map[string]string{}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			alias := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				alias = imp.Name.Name
			}
			imports[alias] = path
		}
		ev := &evaluator{reg: reg, fset: fset, imports: imports, consts: consts}
		collectConsts(af, consts)
		for _, d := range af.Decls {
			if d, ok := d.(*ast.FuncDecl); ok && test && d.Recv == nil && d.Body != nil {
				funcs[d.Name.Name] = fn{decl: d, ev: ev}
			}
		}
	}

	var docs []document
	var skipped []skippedCase
	for _, tb := range tables {
		f, ok := funcs[tb.test]
		if !ok {
			return nil, nil, fmt.Errorf("Istio's tests have no %s (renamed?): update tables", tb.test)
		}
		cases, err := tableCases(f.decl, f.ev)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", tb.test, err)
		}
		seen := map[string]int{}
		for i, c := range cases {
			name := caseLabel(c, tb.name, i)
			seen[name]++
			if n := seen[name]; n > 1 {
				name = fmt.Sprintf("%s#%d", name, n)
			}
			id := "table:" + tb.test + "/" + name
			doc, err := renderCase(tb, c)
			if err != nil {
				skipped = append(skipped, skippedCase{id: id, reason: err.Error()})
				continue
			}
			doc.id, doc.source = id, srcTables
			docs = append(docs, doc)
		}
	}
	return docs, skipped, nil
}

// collectConsts records the package-level constants of a file.
func collectConsts(af *ast.File, consts map[string]ast.Expr) {
	for _, d := range af.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					consts[n.Name] = vs.Values[i]
				}
			}
		}
	}
}

// tableCases finds the test's table, a []struct{…}{…} literal, and splits
// it into cases; variables assigned before it are made available to the
// evaluator.
func tableCases(decl *ast.FuncDecl, base *evaluator) ([]*tableCase, error) {
	ev := *base
	ev.locals = map[string]ast.Expr{}
	var lit *ast.CompositeLit
	var st *ast.StructType
	for _, stmt := range decl.Body.List {
		as, ok := stmt.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != len(as.Rhs) {
			continue
		}
		for i, rhs := range as.Rhs {
			if cl, ok := rhs.(*ast.CompositeLit); ok && lit == nil {
				if at, ok := cl.Type.(*ast.ArrayType); ok {
					if s, ok := at.Elt.(*ast.StructType); ok {
						lit, st = cl, s
						continue
					}
				}
			}
			if id, ok := as.Lhs[i].(*ast.Ident); ok && as.Tok == token.DEFINE && lit == nil {
				ev.locals[id.Name] = rhs
			}
		}
		if lit != nil {
			break
		}
	}
	if lit == nil {
		return nil, fmt.Errorf("no []struct{…}{…} table in the function")
	}
	var names []string
	types := map[string]ast.Expr{}
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			names = append(names, n.Name)
			types[n.Name] = f.Type
		}
	}
	var cases []*tableCase
	for _, el := range lit.Elts {
		cl, ok := el.(*ast.CompositeLit)
		if !ok {
			return nil, fmt.Errorf("a table element is not a literal")
		}
		c := &tableCase{test: decl.Name.Name, fields: map[string]ast.Expr{}, types: types, ev: &ev}
		for i, x := range cl.Elts {
			if kv, ok := x.(*ast.KeyValueExpr); ok {
				if k, ok := kv.Key.(*ast.Ident); ok {
					c.fields[k.Name] = kv.Value
				}
				continue
			}
			if i < len(names) {
				c.fields[names[i]] = x
			}
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// caseLabel names a case by its name field (or the field given), or by its
// position when it has none.
func caseLabel(c *tableCase, field string, i int) string {
	if field == "" {
		field = "name"
	}
	if c.has(field) {
		if v, err := c.get(field); err == nil {
			switch v.Kind() {
			case reflect.String:
				q := strconv.Quote(v.String()) // control characters escaped
				return q[1 : len(q)-1]
			case reflect.Int, reflect.Int32, reflect.Int64:
				return strconv.FormatInt(v.Int(), 10)
			}
		}
	}
	return fmt.Sprintf("case %d", i+1)
}

// renderCase evaluates a case and renders it as a manifest.
func renderCase(tb table, c *tableCase) (doc document, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic rendering: %v", p)
		}
	}()
	r, err := tb.render(c)
	if err != nil {
		return document{}, err
	}
	if tb.expect != nil {
		valid, err := tb.expect(c)
		if err != nil {
			return document{}, err
		}
		doc.note = "Istio's table: invalid"
		if valid {
			doc.note = "Istio's table: valid"
		}
	}
	y, err := manifest(r)
	if err != nil {
		return document{}, err
	}
	doc.yaml = y
	return doc, nil
}

// manifest renders a resource as the YAML a user would write: JSON field
// names, enums by name, durations as "1.5s", 64-bit integers as numbers.
func manifest(r rendered) ([]byte, error) {
	spec, err := plain(r.spec.ProtoReflect())
	if err != nil {
		return nil, err
	}
	meta := map[string]any{"name": r.name}
	if r.namespace != "" {
		meta["namespace"] = r.namespace
	}
	if len(r.labels) > 0 {
		meta["labels"] = r.labels
	}
	obj := map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       string(r.spec.ProtoReflect().Descriptor().Name()),
		"metadata":   meta,
		"spec":       spec,
	}
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return sigsyaml.JSONToYAML(js)
}

// plain converts a message to JSON-ready values, as protojson would, except
// that 64-bit integers stay numbers (as users write them in YAML) and a nil
// element of a list or map becomes {}.
func plain(m protoreflect.Message) (any, error) {
	if !m.IsValid() {
		// A nil element of a list or map (match: [nil]) has no manifest
		// form; {} is the nearest a user can write.
		return map[string]any{}, nil
	}
	if strings.HasPrefix(string(m.Descriptor().FullName()), "google.protobuf.") {
		js, err := protojson.Marshal(m.Interface())
		if err != nil {
			return nil, err
		}
		var v any
		d := json.NewDecoder(strings.NewReader(string(js)))
		d.UseNumber()
		err = d.Decode(&v)
		return v, err
	}
	out := map[string]any{}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		var x any
		switch {
		case fd.IsList():
			l := v.List()
			xs := make([]any, l.Len())
			for i := range l.Len() {
				if xs[i], err = plainValue(fd, l.Get(i)); err != nil {
					return false
				}
			}
			x = xs
		case fd.IsMap():
			xm := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				xm[k.String()], err = plainValue(fd.MapValue(), mv)
				return err == nil
			})
			x = xm
		default:
			x, err = plainValue(fd, v)
		}
		if err != nil {
			return false
		}
		out[fd.JSONName()] = x
		return true
	})
	return out, err
}

func plainValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return plain(v.Message())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name()), nil
		}
		return int64(v.Enum()), nil
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes()), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float(), nil
	}
	return v.Interface(), nil
}
