package match

import (
	"maps"
	"slices"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/query"
)

// Matcher is the compiled form of a route's match blocks. It is immutable and
// safe for concurrent use.
type Matcher struct {
	blocks []block
	// never is true when every block was dropped by a compile-time selector:
	// the route does not exist for this caller.
	never bool
}

type block struct {
	index     int // position in the original list
	name      string
	uri       stringMatcher
	scheme    stringMatcher
	method    stringMatcher
	authority stringMatcher
	port      uint32
	headers   []headerMatcher
	without   []headerMatcher
	query     []queryMatcher
}

type headerMatcher struct {
	name HeaderName
	m    stringMatcher
}

// headerValue looks a header up, pseudo-headers included: Envoy matches
// ":authority", ":method", ":scheme" and ":path" (with its query) in
// headers as it sees them on HTTP/2.
func headerValue(in *Input, name HeaderName) (string, bool) {
	if len(name.Lower) == 0 || name.Lower[0] != ':' {
		return lookup(in.Header, name)
	}
	switch name.Lower {
	case ":authority":
		return in.Authority, true
	case ":method":
		return in.Method, true
	case ":scheme":
		return in.Scheme, true
	case ":path":
		if in.Query != "" {
			return in.Path + "?" + in.Query, true
		}
		return in.Path, true
	}
	return "", false
}

type queryMatcher struct {
	key string
	m   stringMatcher
}

// ignoredHeaderKeys are header keys Istio drops from `headers` because they
// have dedicated fields.
var ignoredHeaderKeys = map[string]bool{"uri": true, "scheme": true, "method": true, "authority": true}

// Compile compiles the match blocks of one route for the calling workload
// src. It reports every problem found, each with its field path relative to
// the list (for example "[0].headers[\"end-user\"].regex").
func Compile(reqs []Request, src Source) (*Matcher, error) {
	var errs fielderr.List
	m := &Matcher{}
	for i, r := range reqs {
		path := fielderr.Index("", i)
		b, applies := compileBlock(r, path, src, &errs)
		b.index = i
		if applies {
			m.blocks = append(m.blocks, b)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if len(reqs) > 0 && len(m.blocks) == 0 {
		m.never = true
	}
	return m, nil
}

func compileBlock(r Request, path string, src Source, errs *fielderr.List) (block, bool) {
	b := block{name: r.Name, port: r.Port}
	b.uri = compileString(r.URI, fielderr.Join(path, "uri"), true, errs)
	if r.IgnoreURICase && (b.uri.kind == KindExact || b.uri.kind == KindPrefix) {
		b.uri.fold = true
	}
	b.scheme = compileString(r.Scheme, fielderr.Join(path, "scheme"), false, errs)
	b.method = compileString(r.Method, fielderr.Join(path, "method"), false, errs)
	b.authority = compileString(r.Authority, fielderr.Join(path, "authority"), false, errs)
	b.headers = compileHeaders(r.Headers, fielderr.Join(path, "headers"), errs)
	b.without = compileHeaders(r.WithoutHeaders, fielderr.Join(path, "withoutHeaders"), errs)
	for _, k := range slices.Sorted(maps.Keys(r.QueryParams)) {
		if k == "" {
			errs.Add(fielderr.Join(path, "queryParams"), "empty query parameter name")
			continue
		}
		qm := compileString(r.QueryParams[k], fielderr.Key(fielderr.Join(path, "queryParams"), k), false, errs)
		b.query = append(b.query, queryMatcher{key: k, m: qm})
	}
	applies := true
	if len(r.Gateways) > 0 {
		gw := src.Gateway
		if gw == "" {
			gw = "mesh"
		}
		if !slices.Contains(r.Gateways, gw) {
			applies = false
		}
	}
	for k, v := range r.SourceLabels {
		if got, ok := src.Labels[k]; !ok || got != v {
			applies = false
		}
	}
	if r.SourceNamespace != "" && r.SourceNamespace != src.Namespace {
		applies = false
	}
	return b, applies
}

func compileHeaders(hs map[string]*StringMatch, path string, errs *fielderr.List) []headerMatcher {
	var out []headerMatcher
	for _, k := range slices.Sorted(maps.Keys(hs)) {
		kp := fielderr.Key(path, k)
		switch {
		case k == "":
			errs.Add(path, "empty header name")
			continue
		case strings.HasPrefix(k, ":") && k != ":method" && k != ":scheme" && k != ":authority" && k != ":path" && k != ":status":
			errs.Add(kp, "%s is not a header name: the pseudo-headers are :method, :scheme, :authority, :path and :status", fielderr.Quote(k))
			continue
		case !strings.HasPrefix(k, ":") && !strings.HasPrefix(k, "@") && !headerToken(k):
			errs.Add(kp, "%s is not a valid header name: use letters, digits and !#$%%&'*+-.^_`|~", fielderr.Quote(k))
			continue
		case strings.HasPrefix(k, "@request.auth.claims"):
			errs.Add(kp, "JWT claim matches need Istio's RequestAuthentication and are not supported in-process")
			continue
		case ignoredHeaderKeys[k]:
			continue // Istio ignores these keys in headers
		}
		out = append(out, headerMatcher{name: NewHeaderName(k), m: compileString(hs[k], kp, false, errs)})
	}
	return out
}

// headerToken reports whether k is an HTTP token (RFC 9110), as header
// names are.
func headerToken(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return k != ""
}

// Match reports whether in matches and, if so, the index (in the list given
// to Compile) of the first block that matched. A Matcher compiled from an
// empty list matches every request with index -1.
func (m *Matcher) Match(in *Input) (int, bool) {
	if m.never {
		return 0, false
	}
	if len(m.blocks) == 0 {
		return -1, true
	}
	for i := range m.blocks {
		if m.blocks[i].match(in) {
			return m.blocks[i].index, true
		}
	}
	return 0, false
}

// Never reports whether no block applies to the calling workload, so the
// route can never match.
func (m *Matcher) Never() bool { return m.never }

// URI returns how block i (an index returned by Match) matched the path: its
// kind and value. A route without a uri condition matches as prefix "/", as
// Istio programs Envoy.
func (m *Matcher) URI(i int) (Kind, string) {
	for j := range m.blocks {
		if m.blocks[j].index == i && m.blocks[j].uri.kind != KindAny {
			return m.blocks[j].uri.kind, m.blocks[j].uri.value
		}
	}
	return KindPrefix, "/"
}

// Name returns the name of block i, or "".
func (m *Matcher) Name(i int) string {
	for j := range m.blocks {
		if m.blocks[j].index == i {
			return m.blocks[j].name
		}
	}
	return ""
}

// URIConditions calls f with the uri condition of every block that applies:
// its kind, its value and whether it ignores case (KindAny for a block
// without one). A Matcher with no blocks matches every path: f is called
// once with KindAny. Routers use it to index routes by path.
func (m *Matcher) URIConditions(f func(kind Kind, value string, fold bool)) {
	if len(m.blocks) == 0 && !m.never {
		f(KindAny, "", false)
		return
	}
	for i := range m.blocks {
		u := &m.blocks[i].uri
		f(u.kind, u.value, u.fold)
	}
}

// Blocks reports how many blocks apply to the calling workload.
func (m *Matcher) Blocks() int { return len(m.blocks) }

func (b *block) match(in *Input) bool {
	if b.port != 0 && b.port != in.Port {
		return false
	}
	if b.uri.kind != KindAny && !b.uri.match(in.Path) {
		return false
	}
	if b.method.kind != KindAny && !b.method.match(in.Method) {
		return false
	}
	if b.scheme.kind != KindAny && !b.scheme.match(in.Scheme) {
		return false
	}
	if b.authority.kind != KindAny && !b.authority.match(in.Authority) {
		return false
	}
	for i := range b.headers {
		h := &b.headers[i]
		v, ok := headerValue(in, h.name)
		if !h.m.matchPresent(v, ok) {
			return false
		}
	}
	for i := range b.without {
		h := &b.without[i]
		v, ok := headerValue(in, h.name)
		if h.m.kind == KindPresent {
			if ok {
				return false
			}
			continue
		}
		// Istio sets treat_missing_header_as_empty: absent counts as "".
		if h.m.match(v) {
			return false
		}
	}
	for i := range b.query {
		q := &b.query[i]
		v, ok := query.Value(in.Query, q.key)
		if !q.m.matchPresent(v, ok) {
			return false
		}
	}
	return true
}

func lookup(h Header, name HeaderName) (string, bool) {
	if h == nil {
		return "", false
	}
	return h.Lookup(name)
}
