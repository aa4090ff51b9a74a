package match

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard-go/switchyard/internal/israce"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func in(method, path string, hdr ...string) *Input {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Add(hdr[i], hdr[i+1])
	}
	p, q, _ := strings.Cut(path, "?")
	return &Input{Method: method, Scheme: "http", Authority: "reviews:9080", Path: p, Query: q, Port: 9080, Header: HTTPHeader(h)}
}

func TestMatchFields(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		in   *Input
		want bool
	}{
		{"empty request matches all", Request{}, in("GET", "/x"), true},
		{"uri exact", Request{URI: Exact("/reviews")}, in("GET", "/reviews"), true},
		{"uri exact ignores query", Request{URI: Exact("/reviews")}, in("GET", "/reviews?a=1"), true},
		{"uri exact is whole path", Request{URI: Exact("/reviews")}, in("GET", "/reviews/1"), false},
		{"uri prefix", Request{URI: Prefix("/rev")}, in("GET", "/reviews/1"), true},
		{"uri prefix is not path-segment aware", Request{URI: Prefix("/foo")}, in("GET", "/foobar"), true},
		{"uri prefix miss", Request{URI: Prefix("/ratings")}, in("GET", "/reviews"), false},
		{"uri empty prefix matches all", Request{URI: Prefix("")}, in("GET", "/x"), true},
		{"uri regex is full match", Request{URI: Regex("/reviews/[0-9]+")}, in("GET", "/reviews/12"), true},
		{"uri regex not partial", Request{URI: Regex("foo")}, in("GET", "/xfoox"), false},
		{"uri regex ignores query", Request{URI: Regex("/a")}, in("GET", "/a?b=c"), true},
		{"uri case-sensitive by default", Request{URI: Prefix("/Reviews")}, in("GET", "/reviews"), false},
		{"ignoreUriCase prefix", Request{URI: Prefix("/Reviews"), IgnoreURICase: true}, in("GET", "/REVIEWS/1"), true},
		{"ignoreUriCase exact", Request{URI: Exact("/Reviews"), IgnoreURICase: true}, in("GET", "/reviews"), true},
		{"ignoreUriCase does not affect regex", Request{URI: Regex("/Reviews"), IgnoreURICase: true}, in("GET", "/reviews"), false},
		{"method exact", Request{Method: Exact("POST")}, in("POST", "/"), true},
		{"method miss", Request{Method: Exact("POST")}, in("GET", "/"), false},
		{"method regex", Request{Method: Regex("GET|HEAD")}, in("HEAD", "/"), true},
		{"scheme", Request{Scheme: Exact("https")}, in("GET", "/"), false},
		{"authority prefix", Request{Authority: Prefix("reviews")}, in("GET", "/"), true},
		{"authority regex", Request{Authority: Regex("ratings.*")}, in("GET", "/"), false},
		{"header exact", Request{Headers: map[string]*StringMatch{"end-user": Exact("jason")}}, in("GET", "/", "End-User", "jason"), true},
		{"header exact is case-sensitive", Request{Headers: map[string]*StringMatch{"end-user": Exact("jason")}}, in("GET", "/", "End-User", "Jason"), false},
		{"header absent", Request{Headers: map[string]*StringMatch{"end-user": Exact("jason")}}, in("GET", "/"), false},
		{"header presence", Request{Headers: map[string]*StringMatch{"x-canary": Present()}}, in("GET", "/", "X-Canary", ""), true},
		{"header presence absent", Request{Headers: map[string]*StringMatch{"x-canary": Present()}}, in("GET", "/"), false},
		{"header regex star is presence", Request{Headers: map[string]*StringMatch{"x-canary": Regex("*")}}, in("GET", "/", "X-Canary", "1"), true},
		{"header prefix", Request{Headers: map[string]*StringMatch{"cookie": Prefix("user=")}}, in("GET", "/", "Cookie", "user=jason"), true},
		{"header several values joined", Request{Headers: map[string]*StringMatch{"x-a": Exact("1,2")}}, in("GET", "/", "X-A", "1", "X-A", "2"), true},
		{"all headers must match", Request{Headers: map[string]*StringMatch{"a": Exact("1"), "b": Exact("2")}}, in("GET", "/", "A", "1"), false},
		{"ignored header key uri", Request{Headers: map[string]*StringMatch{"uri": Exact("/nope")}}, in("GET", "/x"), true},
		{"withoutHeaders excludes match", Request{WithoutHeaders: map[string]*StringMatch{"end-user": Exact("jason")}}, in("GET", "/", "End-User", "jason"), false},
		{"withoutHeaders other value", Request{WithoutHeaders: map[string]*StringMatch{"end-user": Exact("jason")}}, in("GET", "/", "End-User", "bob"), true},
		{"withoutHeaders absent passes", Request{WithoutHeaders: map[string]*StringMatch{"end-user": Exact("jason")}}, in("GET", "/"), true},
		{"withoutHeaders absent counts as empty", Request{WithoutHeaders: map[string]*StringMatch{"end-user": Regex(".*")}}, in("GET", "/"), false},
		{"withoutHeaders presence: absent passes", Request{WithoutHeaders: map[string]*StringMatch{"x-debug": Present()}}, in("GET", "/"), true},
		{"withoutHeaders presence: present fails", Request{WithoutHeaders: map[string]*StringMatch{"x-debug": Present()}}, in("GET", "/", "X-Debug", ""), false},
		{"query exact", Request{QueryParams: map[string]*StringMatch{"v": Exact("2")}}, in("GET", "/?a=1&v=2"), true},
		{"query first value", Request{QueryParams: map[string]*StringMatch{"v": Exact("2")}}, in("GET", "/?v=1&v=2"), false},
		{"query exact empty matches bare key", Request{QueryParams: map[string]*StringMatch{"debug": Exact("")}}, in("GET", "/?debug"), true},
		{"query exact empty matches key=", Request{QueryParams: map[string]*StringMatch{"debug": Exact("")}}, in("GET", "/?debug="), true},
		{"query exact empty not with value", Request{QueryParams: map[string]*StringMatch{"debug": Exact("")}}, in("GET", "/?debug=1"), false},
		{"query presence", Request{QueryParams: map[string]*StringMatch{"debug": Present()}}, in("GET", "/?debug=1"), true},
		{"query absent", Request{QueryParams: map[string]*StringMatch{"debug": Present()}}, in("GET", "/?x=1"), false},
		{"query regex", Request{QueryParams: map[string]*StringMatch{"id": Regex("[0-9]+")}}, in("GET", "/?id=42"), true},
		{"query names case-sensitive", Request{QueryParams: map[string]*StringMatch{"ID": Present()}}, in("GET", "/?id=42"), false},
		{"port match", Request{Port: 9080}, in("GET", "/"), true},
		{"port miss", Request{Port: 9090}, in("GET", "/"), false},
		{"gateway mesh", Request{Gateways: []string{"mesh"}}, in("GET", "/"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile([]Request{tt.req}, Source{})
			require.NoError(t, err)
			_, got := m.Match(tt.in)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRegexShortcutsAgreeWithTheEngine(t *testing.T) {
	for _, tc := range []struct {
		re, v string
		want  bool
	}{
		{".*Mobile.*", "Mozilla (Mobile) Safari", true},
		{".*Mobile.*", "Mozilla", false},
		{".*Mobile.*", "line\nMobile", false}, // . does not match a newline
		{"(?s).*Mobile.*", "line\nMobile", true},
		{"/api/.*", "/api/x", true},
		{"/api/.*", "/apix", false},
		{".*\\.json", "/a/b.json", true},
		{".*\\.json", "/a/bjson", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"(?i)exact", "EXACT", true},
		{"/admin/[a-z]+/[0-9]+", "/admin/users/12", true},
		{"/admin/[a-z]+/[0-9]+", "/reviews/1", false},
		{"GET|HEAD", "HEAD", true},
	} {
		m, err := Compile([]Request{{Headers: map[string]*StringMatch{"v": Regex(tc.re)}}}, Source{})
		require.NoError(t, err)
		h := HTTPHeader{"V": {tc.v}}
		_, got := m.Match(&Input{Header: h})
		assert.Equal(t, tc.want, got, "%q against %q", tc.re, tc.v)
		assert.Equal(t, regexp.MustCompile("^(?:"+tc.re+")$").MatchString(tc.v), got, "engine disagrees: %q %q", tc.re, tc.v)
	}
}

func TestBlocksAreORedAndFirstIndexReported(t *testing.T) {
	m, err := Compile([]Request{
		{URI: Prefix("/a")},
		{Headers: map[string]*StringMatch{"end-user": Exact("jason")}},
	}, Source{})
	require.NoError(t, err)

	i, ok := m.Match(in("GET", "/b", "End-User", "jason"))
	assert.True(t, ok)
	assert.Equal(t, 1, i)
	i, ok = m.Match(in("GET", "/a", "End-User", "jason"))
	assert.True(t, ok)
	assert.Equal(t, 0, i)
	_, ok = m.Match(in("GET", "/b"))
	assert.False(t, ok)

	kind, v := m.URI(0)
	assert.Equal(t, KindPrefix, kind)
	assert.Equal(t, "/a", v)
	kind, v = m.URI(1)
	assert.Equal(t, KindPrefix, kind, "a block without uri matches as prefix /")
	assert.Equal(t, "/", v)
}

func TestSourceSelectorsAreEvaluatedAtCompileTime(t *testing.T) {
	reqs := []Request{
		{Name: "from-v2", SourceLabels: map[string]string{"app": "reviews", "version": "v2"}},
		{Name: "from-prod", SourceNamespace: "prod"},
	}
	m, err := Compile(reqs, Source{Labels: map[string]string{"app": "reviews", "version": "v2", "x": "y"}})
	require.NoError(t, err)
	i, ok := m.Match(in("GET", "/"))
	assert.True(t, ok)
	assert.Equal(t, "from-v2", m.Name(i))

	m, err = Compile(reqs, Source{Labels: map[string]string{"app": "reviews", "version": "v1"}, Namespace: "prod"})
	require.NoError(t, err)
	i, ok = m.Match(in("GET", "/"))
	assert.True(t, ok)
	assert.Equal(t, 1, i)

	m, err = Compile(reqs, Source{})
	require.NoError(t, err)
	assert.True(t, m.Never(), "a route whose every block is deselected never matches")
	_, ok = m.Match(in("GET", "/"))
	assert.False(t, ok)
}

// Istio accepts header names in any case and pseudo-headers, which Envoy
// matches as it sees them on HTTP/2.
func TestHeaderNamesAnyCaseAndPseudoHeaders(t *testing.T) {
	m, err := Compile([]Request{
		{Headers: map[string]*StringMatch{"End-User": Exact("jason")}},
		{Headers: map[string]*StringMatch{":authority": Exact("reviews:9080"), ":method": Exact("PUT")}},
		{Headers: map[string]*StringMatch{":path": Exact("/a?b=1"), ":scheme": Exact("https")}},
		{Headers: map[string]*StringMatch{":status": Exact("200")}},
	}, Source{})
	require.NoError(t, err)
	for _, tt := range []struct {
		in    Input
		block int
		ok    bool
	}{
		{Input{Header: HTTPHeader(http.Header{"End-User": {"jason"}})}, 0, true},
		{Input{Authority: "reviews:9080", Method: "PUT"}, 1, true},
		{Input{Authority: "reviews:9080", Method: "GET"}, 0, false},
		{Input{Path: "/a", Query: "b=1", Scheme: "https"}, 2, true},
		{Input{Path: "/a", Scheme: "https"}, 0, false},
	} {
		i, ok := m.Match(&tt.in)
		assert.Equal(t, tt.ok, ok, "%+v", tt.in)
		if ok {
			assert.Equal(t, tt.block, i)
		}
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	bad := "("
	tests := []struct {
		req  Request
		want string
	}{
		{Request{URI: &StringMatch{Exact: &bad, Prefix: &bad}}, "[0].uri: exact, prefix and regex are mutually exclusive; set one"},
		{Request{URI: Regex("(")}, "[0].uri.regex: invalid RE2 expression \"(\": missing closing ): `(`"},
		{Request{URI: Regex("")}, "[0].uri.regex: empty regex; use {} to match any present value"},
		{Request{URI: Regex(strings.Repeat("a", 1025))}, "[0].uri.regex: regex is 1025 characters long; the limit is 1024"},
		{Request{Method: Prefix("")}, "[0].method.prefix: empty prefix is only allowed for uri"},
		{Request{Headers: map[string]*StringMatch{"@request.auth.claims.sub": Exact("x")}}, "[0].headers[\"@request.auth.claims.sub\"]: JWT claim matches need Istio's RequestAuthentication and are not supported in-process"},
		{Request{QueryParams: map[string]*StringMatch{"": Exact("x")}}, "[0].queryParams: empty query parameter name"},
	}
	for _, tt := range tests {
		_, err := Compile([]Request{tt.req}, Source{})
		require.Error(t, err)
		assert.Equal(t, tt.want, err.Error())
	}
}

// A block naming gateways applies only to the table of one of them: the
// mesh's ("" or "mesh") or a Gateway's ("namespace/name").
func TestGatewaysSelectTheBlock(t *testing.T) {
	blocks := []Request{{Gateways: []string{"istio-system/ingress"}}}
	for _, tt := range []struct {
		gateway string
		never   bool
	}{{"", true}, {"mesh", true}, {"istio-system/ingress", false}, {"istio-system/other", true}} {
		m, err := Compile(blocks, Source{Gateway: tt.gateway})
		require.NoError(t, err)
		assert.Equal(t, tt.never, m.Never(), "gateway %q", tt.gateway)
	}
	m, err := Compile([]Request{{Gateways: []string{"mesh"}}}, Source{})
	require.NoError(t, err)
	assert.False(t, m.Never())
}

func TestMatchAllocatesNothing(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	m, err := Compile([]Request{
		{URI: Prefix("/ratings")},
		{URI: Regex("/reviews/[0-9]+"), Method: Exact("GET"),
			Headers:        map[string]*StringMatch{"end-user": Exact("jason"), "x-b": Present()},
			WithoutHeaders: map[string]*StringMatch{"x-debug": Present()},
			QueryParams:    map[string]*StringMatch{"v": Regex("[0-9]")}},
	}, Source{})
	require.NoError(t, err)
	input := in("GET", "/reviews/123?v=2", "End-User", "jason", "X-B", "1")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := m.Match(input); !ok {
			t.Fatal("no match")
		}
	})
	assert.Zero(t, allocs)
}

func FuzzStringMatch(f *testing.F) {
	f.Add("/reviews", "/reviews/1", uint8(1), false)
	f.Add("/rev", "/REVIEWS", uint8(2), true)
	f.Add("a.*b", "axxb", uint8(3), false)
	f.Add("(", "x", uint8(3), false)
	f.Add(".*Mobile.*", "a\nMobile", uint8(3), false)
	f.Add("(?s).*a.*", "x\na", uint8(3), false)
	f.Add("(?i)abc.*", "ABCd", uint8(3), false)
	f.Add("/v1/.*", "/v1/x", uint8(3), false)
	f.Fuzz(func(t *testing.T, pattern, value string, kind uint8, fold bool) {
		sm := &StringMatch{}
		switch kind % 4 {
		case 1:
			sm.Exact = &pattern
		case 2:
			sm.Prefix = &pattern
		case 3:
			sm.Regex = &pattern
		}
		m, err := Compile([]Request{{URI: sm, IgnoreURICase: fold}}, Source{})
		if err != nil {
			return // rejected patterns must only be rejected, never panic
		}
		_, got := m.Match(&Input{Path: value})
		var want bool
		switch kind % 4 {
		case 0:
			want = true
		case 1:
			want = value == pattern || (fold && strings.EqualFold(value, pattern))
		case 2:
			want = strings.HasPrefix(value, pattern) || (fold && len(value) >= len(pattern) && strings.EqualFold(value[:len(pattern)], pattern))
		case 3:
			if pattern == "*" {
				want = true
				break
			}
			re := regexp.MustCompile("^(?:" + pattern + ")$")
			want = re.MatchString(value)
		}
		if got != want {
			t.Fatalf("pattern %q kind %d fold %v value %q: got %v want %v", pattern, kind%4, fold, value, got, want)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	m, err := Compile([]Request{
		{URI: Regex("/reviews/[0-9]+"), Headers: map[string]*StringMatch{"end-user": Exact("jason")}},
	}, Source{})
	require.NoError(b, err)
	input := in("GET", "/reviews/123", "End-User", "jason")
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Match(input)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Match(input)
			}
		})
	})
}

func TestExplainSaysWhyNot(t *testing.T) {
	m, err := Compile([]Request{
		{URI: Prefix("/reviews"), Headers: map[string]*StringMatch{"end-user": Exact("jason")}},
		{URI: Regex("/ratings/[0-9]+")},
		{QueryParams: map[string]*StringMatch{"v": Present()}},
	}, Source{})
	require.NoError(t, err)
	_, ok, reasons := m.Explain(in("GET", "/reviews/1", "End-User", "alice"))
	assert.False(t, ok)
	assert.Equal(t, []string{
		`match[0]: header end-user "alice" does not match exact "jason"`,
		`match[1]: uri "/reviews/1" does not match regex "/ratings/[0-9]+"`,
		`match[2]: query parameter v is absent (want present)`,
	}, reasons)
	block, ok, reasons := m.Explain(in("GET", "/ratings/7"))
	assert.True(t, ok)
	assert.Equal(t, 1, block)
	assert.Equal(t, []string{`match[0]: uri "/ratings/7" does not match prefix "/reviews"`}, reasons)
}
