package match

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/switchyard-go/switchyard/internal/query"
)

// Explain evaluates in as Match does and says why each applicable block
// did not match (the first condition that failed), or which block did.
func (m *Matcher) Explain(in *Input) (block int, ok bool, reasons []string) {
	if m.never {
		return 0, false, []string{"no match block applies to this caller (sourceLabels, sourceNamespace)"}
	}
	if len(m.blocks) == 0 {
		return -1, true, nil
	}
	for i := range m.blocks {
		b := &m.blocks[i]
		if why := b.why(in); why != "" {
			reasons = append(reasons, fmt.Sprintf("match[%d]: %s", b.index, why))
			continue
		}
		return b.index, true, reasons
	}
	return 0, false, reasons
}

// why returns the first condition of b that in fails, or "".
func (b *block) why(in *Input) string {
	if b.port != 0 && b.port != in.Port {
		return fmt.Sprintf("port %d is not %d", in.Port, b.port)
	}
	for _, c := range []struct {
		name string
		m    *stringMatcher
		v    string
	}{{"uri", &b.uri, in.Path}, {"method", &b.method, in.Method}, {"scheme", &b.scheme, in.Scheme}, {"authority", &b.authority, in.Authority}} {
		if c.m.kind != KindAny && !c.m.match(c.v) {
			return fmt.Sprintf("%s %q does not match %s", c.name, c.v, c.m.describe())
		}
	}
	for i := range b.headers {
		h := &b.headers[i]
		v, ok := lookup(in.Header, h.name)
		if !h.m.matchPresent(v, ok) {
			if !ok {
				return fmt.Sprintf("header %s is absent (want %s)", h.name.Lower, h.m.describe())
			}
			return fmt.Sprintf("header %s %q does not match %s", h.name.Lower, v, h.m.describe())
		}
	}
	for i := range b.without {
		h := &b.without[i]
		v, ok := lookup(in.Header, h.name)
		if (h.m.kind == KindPresent && ok) || (h.m.kind != KindPresent && h.m.match(v)) {
			return fmt.Sprintf("withoutHeaders: header %s %q matches %s", h.name.Lower, v, h.m.describe())
		}
	}
	for i := range b.query {
		q := &b.query[i]
		v, ok := query.Value(in.Query, q.key)
		if !q.m.matchPresent(v, ok) {
			if !ok {
				return fmt.Sprintf("query parameter %s is absent (want %s)", q.key, q.m.describe())
			}
			return fmt.Sprintf("query parameter %s %q does not match %s", q.key, v, q.m.describe())
		}
	}
	return ""
}

func (m *stringMatcher) describe() string {
	s := describe(m.kind, m.value)
	if m.fold {
		s += " (ignoring case)"
	}
	return s
}

// describe renders a string condition: the one renderer of conditions, for
// Explain's reasons and for Request.String.
func describe(kind Kind, value string) string {
	switch kind {
	case KindExact:
		return fmt.Sprintf("exact %q", value)
	case KindPrefix:
		return fmt.Sprintf("prefix %q", value)
	case KindRegex:
		return fmt.Sprintf("regex %q", value)
	case KindPresent:
		return "present"
	}
	return "anything"
}

// String renders the condition: exact "v", prefix "v", regex "v" or
// present.
func (s *StringMatch) String() string {
	switch {
	case s == nil:
		return "anything"
	case s.Exact != nil:
		return describe(KindExact, *s.Exact)
	case s.Prefix != nil:
		return describe(KindPrefix, *s.Prefix)
	case s.Regex != nil:
		return describe(KindRegex, *s.Regex)
	}
	return describe(KindPresent, "")
}

// String renders the match block as its conditions, for people: "uri
// prefix \"/api\", header end-user exact \"jason\"", or "any request".
func (r *Request) String() string {
	var parts []string
	str := func(field string, sm *StringMatch) {
		if sm != nil {
			parts = append(parts, field+" "+sm.String())
		}
	}
	str("uri", r.URI)
	str("scheme", r.Scheme)
	str("method", r.Method)
	str("authority", r.Authority)
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		str("header "+k, r.Headers[k])
	}
	for _, k := range slices.Sorted(maps.Keys(r.QueryParams)) {
		str("query "+k, r.QueryParams[k])
	}
	for _, k := range slices.Sorted(maps.Keys(r.WithoutHeaders)) {
		str("without header "+k, r.WithoutHeaders[k])
	}
	if r.Port != 0 {
		parts = append(parts, fmt.Sprintf("port %d", r.Port))
	}
	for _, k := range slices.Sorted(maps.Keys(r.SourceLabels)) {
		parts = append(parts, fmt.Sprintf("source label %s=%s", k, r.SourceLabels[k]))
	}
	if r.SourceNamespace != "" {
		parts = append(parts, "source namespace "+r.SourceNamespace)
	}
	if r.IgnoreURICase {
		parts = append(parts, "ignoring uri case")
	}
	if len(parts) == 0 {
		return "any request"
	}
	return strings.Join(parts, ", ")
}
