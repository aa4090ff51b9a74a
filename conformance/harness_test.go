package conformance

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

// These tests check the suite's own machinery on small inputs, so that a
// wrong verdict in TestConformance is switchyard's or Istio's, not ours.

// evalSource evaluates the table of TestX in src.
func evalSource(t *testing.T, src string) []*tableCase {
	t.Helper()
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, "x_test.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	ev := &evaluator{reg: newTypeRegistry(), fset: fset, imports: map[string]string{}, consts: map[string]ast.Expr{}}
	for _, imp := range af.Imports {
		path := strings.Trim(imp.Path.Value, `"`)
		alias := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			alias = imp.Name.Name
		}
		ev.imports[alias] = path
	}
	collectConsts(af, ev.consts)
	for _, d := range af.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "TestX" {
			cases, err := tableCases(fd, ev)
			if err != nil {
				t.Fatal(err)
			}
			return cases
		}
	}
	t.Fatal("no TestX")
	return nil
}

const evalSrc = `package validation

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	networking "istio.io/api/networking/v1alpha3"
)

const someName = "foo"

func TestX(t *testing.T) {
	d := durationpb.Duration{Seconds: int64(time.Hour / time.Second)}
	cases := []struct {
		name  string
		in    *networking.DestinationRule
		valid bool
	}{
		{name: "keyed", in: &networking.DestinationRule{
			Host: someName,
			Subsets: []*networking.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}},
			TrafficPolicy: &networking.TrafficPolicy{
				LoadBalancer: &networking.LoadBalancerSettings{
					LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_ROUND_ROBIN},
				},
				ConnectionPool: &networking.ConnectionPoolSettings{
					Tcp: &networking.ConnectionPoolSettings_TCPSettings{
						MaxConnections: -(-7),
						ConnectTimeout: durationpb.New(2 * time.Second),
						IdleTimeout:    &d,
					},
				},
				OutlierDetection: &networking.OutlierDetection{
					MinHealthPercent: 10 + 5,
					SplitExternalLocalOriginErrors: true,
					ConsecutiveGatewayErrors: wrapperspb.UInt32(3),
				},
			},
			ExportTo: []string{strings.Repeat("a", 3)},
		}, valid: true},
		{"positional", nil, false},
		{name: "unsupported", in: helper()},
	}
}
`

func TestEvaluator(t *testing.T) {
	cases := evalSource(t, evalSrc)
	if len(cases) != 3 {
		t.Fatalf("got %d cases, want 3", len(cases))
	}

	if got := caseLabel(cases[0], "", 0); got != "keyed" {
		t.Errorf("label = %q, want keyed", got)
	}
	dr, err := message[*networking.DestinationRule](cases[0], "in")
	if err != nil {
		t.Fatal(err)
	}
	want := &networking.DestinationRule{
		Host:    "foo",
		Subsets: []*networking.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}},
		TrafficPolicy: &networking.TrafficPolicy{
			LoadBalancer: &networking.LoadBalancerSettings{
				LbPolicy: &networking.LoadBalancerSettings_Simple{Simple: networking.LoadBalancerSettings_ROUND_ROBIN},
			},
			ConnectionPool: &networking.ConnectionPoolSettings{
				Tcp: &networking.ConnectionPoolSettings_TCPSettings{
					MaxConnections: 7,
					ConnectTimeout: durationpb.New(2 * time.Second),
					IdleTimeout:    &durationpb.Duration{Seconds: 3600},
				},
			},
			OutlierDetection: &networking.OutlierDetection{
				MinHealthPercent:               15,
				SplitExternalLocalOriginErrors: true,
				ConsecutiveGatewayErrors:       wrapperspb.UInt32(3),
			},
		},
		ExportTo: []string{"aaa"},
	}
	if !proto.Equal(dr, want) {
		t.Errorf("evaluated\n%v\nwant\n%v", dr, want)
	}
	if ok, err := cases[0].boolean("valid"); err != nil || !ok {
		t.Errorf("valid = %v, %v; want true", ok, err)
	}

	if got := caseLabel(cases[1], "", 1); got != "positional" {
		t.Errorf("label = %q, want positional", got)
	}
	if dr, err := message[*networking.DestinationRule](cases[1], "in"); err != nil || dr != nil {
		t.Errorf("positional nil = %v, %v; want nil", dr, err)
	}

	_, err = message[*networking.DestinationRule](cases[2], "in")
	var u *unsupportedError
	if !errors.As(err, &u) || !strings.Contains(u.construct, "helper()") {
		t.Errorf("helper() evaluated to error %v; want an unsupportedError naming it", err)
	}
	if ok, err := cases[2].boolean("valid"); err != nil || ok {
		t.Errorf("absent valid = %v, %v; want false (the zero value)", ok, err)
	}
}

func TestEvaluatorRejectsOverflow(t *testing.T) {
	src := strings.Replace(evalSrc, "MaxConnections: -(-7)", "MaxConnections: 1 << 40", 1)
	cases := evalSource(t, src)
	if _, err := message[*networking.DestinationRule](cases[0], "in"); err == nil || !strings.Contains(err.Error(), "overflows") {
		t.Errorf("1<<40 as int32: err = %v; want an overflow", err)
	}
}

func TestManifest(t *testing.T) {
	y, err := manifest(rendered{
		spec: &networking.DestinationRule{
			Host: "reviews",
			TrafficPolicy: &networking.TrafficPolicy{
				LoadBalancer: &networking.LoadBalancerSettings{LbPolicy: &networking.LoadBalancerSettings_ConsistentHash{
					ConsistentHash: &networking.LoadBalancerSettings_ConsistentHashLB{
						HashKey: &networking.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName{HttpHeaderName: "x-user"},
						HashAlgorithm: &networking.LoadBalancerSettings_ConsistentHashLB_RingHash_{
							RingHash: &networking.LoadBalancerSettings_ConsistentHashLB_RingHash{MinimumRingSize: 1024},
						},
					},
				}},
				OutlierDetection: &networking.OutlierDetection{Interval: &durationpb.Duration{Nanos: 1500000}},
			},
			Subsets: []*networking.Subset{nil},
		},
		name: "foo", namespace: "bar",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: foo
  namespace: bar
spec:
  host: reviews
  subsets:
  - {}
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpHeaderName: x-user
        ringHash:
          minimumRingSize: 1024
    outlierDetection:
      interval: 0.001500s
`
	if string(y) != want {
		t.Errorf("manifest:\n%s\nwant:\n%s", y, want)
	}
}

func TestValidateIstio(t *testing.T) {
	for _, tc := range []struct {
		name      string
		doc       string
		class     kindClass
		ok        bool
		stage     string
		lenientOK bool
	}{
		{"valid", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
`, handled, true, "", true},
		{"invalid", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - fault: {abort: {httpStatus: 700}}
    route:
    - destination: {host: reviews}
`, handled, false, "validate", false},
		{"unknown field", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
    retry: {attempts: 3}
`, handled, false, "strict", true},
		{"go duration", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r}
spec:
  host: reviews
  trafficPolicy: {outlierDetection: {interval: 3m}}
`, handled, true, "", true},
		{"unknown top-level field", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec: {hosts: [a.com], ports: [{number: 80, name: http}], resolution: DNS}
extra: 1
`, handled, false, "fields", false},
		{"gateway", `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec: {}
`, handled, false, "validate", false},
		{"authorization policy", `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p}
spec: {action: DENY}
`, istioOnly, false, "validate", false},
		{"kubernetes", `apiVersion: v1
kind: Service
metadata: {name: s}
spec: {}
`, foreign, false, "schema", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validateIstio([]byte(tc.doc))
			if r.class != tc.class || r.ok != tc.ok || r.stage != tc.stage || r.lenientOK != tc.lenientOK {
				t.Errorf("got class %s ok %v stage %q lenientOK %v (%s); want %s %v %q %v",
					r.class, r.ok, r.stage, r.lenientOK, r.errText(), tc.class, tc.ok, tc.stage, tc.lenientOK)
			}
		})
	}
}

func TestCheckKnown(t *testing.T) {
	accept := verdict{ok: true}
	notSup := verdict{errs: []string{`VirtualService "r": spec.tcp: not supported: TCP routes are not supported`}}
	other := verdict{errs: []string{`VirtualService "r": spec.tcp: not supported: TCP`, `spec.hosts: at least one host is required`}}
	res := func(id string, istioOK bool, sy verdict) result {
		return result{doc: document{id: id}, istio: istioResult{class: handled, verdict: verdict{ok: istioOK}}, sy: sy}
	}
	results := []result{
		res("listed", true, notSup),
		res("fixed", true, accept),
		res("mixed", true, other),
		res("reversed", false, accept),
		{doc: document{id: "policy"}, istio: istioResult{class: istioOnly, kind: "AuthorizationPolicy", verdict: accept}},
	}
	problems, listed := checkKnown(results, []knownDifference{
		{ID: "listed", Reason: "TCP routes"},
		{ID: "fixed", Reason: "was not supported"},
		{ID: "mixed", Reason: "TCP"},
		{ID: "reversed", Reason: "?"},
		{ID: "policy", Reason: "?"},
		{ID: "gone", Reason: "?"},
		{ID: "listed", Reason: "again"},
		{ID: "noreason"},
	})
	want := []string{
		"fixed no longer disagrees",
		"mixed is not a feature switchyard reports as not supported",
		"reversed is not a feature switchyard reports as not supported",
		"policy is a AuthorizationPolicy, which is not compared",
		"gone is not in the corpus",
		"listed is listed twice",
		"noreason has no reason",
	}
	if len(problems) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(problems, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.Contains(problems[i], w) {
			t.Errorf("problem %d = %q; want it to say %q", i, problems[i], w)
		}
	}
	if !listed["listed"] || len(listed) != 7 {
		t.Errorf("listed = %v", listed)
	}
}

func TestSplitDocuments(t *testing.T) {
	docs := splitDocuments("# a comment\n---\na: 1\n---\n# only a comment\n---\n\n---\nb: 2\n--- \nc: 3")
	var got []string
	for _, d := range docs {
		got = append(got, strings.TrimSpace(string(d)))
	}
	if want := "a: 1|b: 2|c: 3"; strings.Join(got, "|") != want {
		t.Errorf("documents = %q; want %s", got, want)
	}
}

func TestErrorClass(t *testing.T) {
	for in, want := range map[string]string{
		`document 1 (VirtualService "bar/foo"): spec.http[0].route[1].destination: no ServiceEntry defines host "foo.baz"; add one`: `spec.http[*].route[*].destination: no ServiceEntry defines host "…"; add one`,
		`DestinationRule "ratings": spec.trafficPolicy.outlierDetection.interval: 500us is below 1ms (line 12)`:                     `spec.trafficPolicy.outlierDetection.interval: N is below N`,
		`port number 70000 must be in the range 1..65535`:                                                                           `port number N must be in the range N..N`,
	} {
		if got := errorClass(in); got != want {
			t.Errorf("errorClass(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestOracleMatchesIstioCRDData checks the Istio side of the suite against
// Istio's own expectations: its CRD test data holds documents the CRD schema
// accepts (*-valid.yaml) and rejects (*-invalid.yaml, with the error as
// `_err`), and Istio's TestCRDs requires the webhook to agree, except for the
// checks only the CRD schema makes (it skips those by the same tests as here).
func TestOracleMatchesIstioCRDData(t *testing.T) {
	_, results, err := run()
	if err != nil {
		t.Fatal(err)
	}
	crdOnly := func(r result) bool {
		return r.istio.kind == "EnvoyFilter" || // CEL rules the webhook never implemented
			strings.Contains(r.doc.note, "should be at least 1 chars long") || // '' and unset are one to the webhook
			strings.Contains(r.doc.note, "unknown field") || strings.Contains(r.doc.note, `"null"`)
	}
	n := 0
	for _, r := range results {
		if !strings.Contains(r.doc.id, "pkg/config/validation/testdata/crds/") {
			continue
		}
		n++
		valid := strings.HasSuffix(strings.Split(r.doc.id, "#")[0], "-valid.yaml")
		if r.istio.ok != valid && !(!valid && crdOnly(r)) {
			t.Errorf("%s: our Istio verdict is %s (%s); Istio's test data says valid=%v (%s)",
				r.doc.id, r.istio.verdict, r.istio.errText(), valid, r.doc.note)
		}
	}
	if n < 100 {
		t.Errorf("only %d documents from Istio's CRD test data", n)
	}
}

// TestTablesRenderAsIstioExpects checks the rendering of Istio's table cases:
// Istio's validator, given the whole manifest a case became, must reach the
// verdict the table expects of the fragment, so that the value under test,
// not the resource around it, decides.
func TestTablesRenderAsIstioExpects(t *testing.T) {
	_, results, err := run()
	if err != nil {
		t.Fatal(err)
	}
	// Cases whose value has no manifest form: a nil StringMatch in a map
	// becomes {} (a presence match, which Istio accepts).
	unrenderable := map[string]bool{
		"table:TestValidateHTTPRoute/null header match":         true,
		"table:TestValidateRootHTTPRoute/null header match":     true,
		"table:TestValidateDelegateHTTPRoute/null header match": true,
	}
	n := 0
	for _, r := range results {
		if r.doc.source != srcTables || r.doc.note == "" {
			continue
		}
		n++
		want := r.doc.note == "Istio's table: valid"
		switch {
		case unrenderable[r.doc.id] && r.istio.ok == want:
			t.Errorf("%s now renders as the table expects; remove it from unrenderable", r.doc.id)
		case !unrenderable[r.doc.id] && r.istio.ok != want:
			t.Errorf("%s: Istio's verdict on the manifest is %s (%s); the table expects valid=%v",
				r.doc.id, r.istio.verdict, r.istio.errText(), want)
		}
	}
	if n < 500 {
		t.Errorf("only %d table cases carry the table's expectation", n)
	}
}

// TestLocalDropsMissingFiles: a certificate file this machine lacks is the
// environment's, whether a DestinationRule or a Gateway names it; any other
// error stays.
func TestLocalDropsMissingFiles(t *testing.T) {
	for _, tc := range []struct {
		err   string
		local bool
	}{
		{`DestinationRule "r": spec.trafficPolicy.tls.caCertificates: cannot read "/etc/certs/root.pem": open /etc/certs/root.pem: no such file or directory`, true},
		{`Gateway "testns/my-gateway": spec.servers[1].tls: serverCertificate "/etc/certs/servercert.pem" and privateKey "/etc/certs/privatekey.pem": open /etc/certs/servercert.pem: no such file or directory`, true},
		{`Gateway "g": spec.servers[0].tls.caCertificates: open /etc/certs/ca.pem: no such file or directory`, true},
		{`Gateway "g": spec.servers[0].tls: serverCertificate "c.pem" and privateKey "k.pem": tls: failed to find any PEM data in certificate input`, false},
	} {
		v := verdict{stage: "new", errs: []string{tc.err}}
		if got := v.local().ok; got != tc.local {
			t.Errorf("local(%q).ok = %v; want %v", tc.err, got, tc.local)
		}
	}
}
