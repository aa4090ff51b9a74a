package match

import (
	"fmt"
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
	var s string
	switch m.kind {
	case KindExact:
		s = fmt.Sprintf("exact %q", m.value)
	case KindPrefix:
		s = fmt.Sprintf("prefix %q", m.value)
	case KindRegex:
		s = fmt.Sprintf("regex %q", m.value)
	case KindPresent:
		s = "presence"
	default:
		s = "anything"
	}
	if m.fold {
		s += " (ignoring case)"
	}
	return strings.TrimSpace(s)
}
