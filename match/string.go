package match

import (
	"errors"
	"regexp/syntax"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// Kind says how a compiled StringMatch compares.
type Kind uint8

// The kinds of StringMatch.
const (
	KindAny     Kind = iota // no condition
	KindExact               // equality
	KindPrefix              // prefix
	KindRegex               // full RE2 match
	KindPresent             // present, any value
)

var kindNames = [...]string{"any", "exact", "prefix", "regex", "present"}

// String returns the kind's name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// maxRegexLen bounds the length of a regex, as Istio's validation
// approximates Envoy's program-size limit.
const maxRegexLen = 1024

// stringMatcher is a compiled StringMatch.
type stringMatcher struct {
	kind  Kind
	value string
	re    *regexMatcher
	fold  bool // case-insensitive exact/prefix (ignoreUriCase)
}

// compileString compiles m, recording problems at path. allowEmptyPrefix is
// true for uri only.
func compileString(m *StringMatch, path string, allowEmptyPrefix bool, errs *fielderr.List) stringMatcher {
	if m == nil {
		return stringMatcher{kind: KindAny}
	}
	set := 0
	for _, p := range []*string{m.Exact, m.Prefix, m.Regex} {
		if p != nil {
			set++
		}
	}
	if set > 1 {
		errs.Add(path, "exact, prefix and regex are mutually exclusive; set one")
		return stringMatcher{kind: KindAny}
	}
	switch {
	case m.Exact != nil:
		return stringMatcher{kind: KindExact, value: *m.Exact}
	case m.Prefix != nil:
		if *m.Prefix == "" && !allowEmptyPrefix {
			errs.Add(fielderr.Join(path, "prefix"), "empty prefix is only allowed for uri")
		}
		return stringMatcher{kind: KindPrefix, value: *m.Prefix}
	case m.Regex != nil:
		re := *m.Regex
		if re == "*" { // Istio treats regex "*" as a presence match
			return stringMatcher{kind: KindPresent}
		}
		if re == "" {
			errs.Add(fielderr.Join(path, "regex"), "empty regex; use {} to match any present value")
			return stringMatcher{kind: KindAny}
		}
		if len(re) > maxRegexLen {
			errs.Add(fielderr.Join(path, "regex"), "regex is %d characters long; the limit is %d", len(re), maxRegexLen)
			return stringMatcher{kind: KindAny}
		}
		c, err := compileRegex(re)
		if err != nil {
			errs.Add(fielderr.Join(path, "regex"), "invalid RE2 expression %s: %v", fielderr.Quote(re), regexErr(err))
			return stringMatcher{kind: KindAny}
		}
		return stringMatcher{kind: KindRegex, value: re, re: c}
	default:
		return stringMatcher{kind: KindPresent}
	}
}

// regexErr is regexp's message without its "error parsing regexp:"
// prefix, the expression being named already.
func regexErr(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return se.Code.String() + ": `" + se.Expr + "`"
	}
	return err.Error()
}

// match reports whether v matches. It is not used for KindAny or
// KindPresent, which depend on presence rather than the value.
func (m *stringMatcher) match(v string) bool {
	switch m.kind {
	case KindExact:
		if m.fold {
			return strings.EqualFold(v, m.value)
		}
		return v == m.value
	case KindPrefix:
		if m.fold {
			return len(v) >= len(m.value) && strings.EqualFold(v[:len(m.value)], m.value)
		}
		return strings.HasPrefix(v, m.value)
	case KindRegex:
		return m.re.match(v)
	default:
		return true
	}
}

// matchPresent applies m to a value that may be absent.
func (m *stringMatcher) matchPresent(v string, present bool) bool {
	switch m.kind {
	case KindAny:
		return true
	case KindPresent:
		return present
	default:
		return present && m.match(v)
	}
}
