package match

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// regexMatcher full-matches a value against an RE2 expression, taking
// shortcuts that give the same answer as the regex engine for the shapes
// routes use most: a literal, "lit.*", ".*lit", ".*lit.*", and a required
// literal prefix that rejects most values before the engine runs.
type regexMatcher struct {
	re     *regexp.Regexp // anchored ^(?:expr)$
	shape  regexShape
	lit    string // the literal of a shaped regex
	noNL   bool   // the shape's ".*" does not match newlines
	prefix string // every match starts with this (general shape)
}

type regexShape uint8

const (
	shapeGeneral regexShape = iota
	shapeLiteral
	shapePrefix   // lit.*
	shapeSuffix   // .*lit
	shapeContains // .*lit.*
)

// compileRegex compiles expr for full matches. The expression is checked
// as written, as RE2 and Envoy check it, before it is anchored: only then
// is ^(?:expr)$ the same expression, anchored. (Anchored first,
// "secret)|(?:.*" would be accepted, as "^(?:secret)|(?:.*)$", and match
// every value.)
func compileRegex(expr string) (*regexMatcher, error) {
	unanchored, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, err
	}
	m := &regexMatcher{re: re}
	m.prefix, _ = unanchored.LiteralPrefix()
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return m, nil
	}
	tree = tree.Simplify()
	switch {
	case isLiteral(tree):
		m.shape, m.lit = shapeLiteral, string(tree.Rune)
	case tree.Op == syntax.OpConcat && len(tree.Sub) == 2 && isLiteral(tree.Sub[0]) && isAnyStar(tree.Sub[1]):
		m.shape, m.lit, m.noNL = shapePrefix, string(tree.Sub[0].Rune), tree.Sub[1].Sub[0].Op == syntax.OpAnyCharNotNL
	case tree.Op == syntax.OpConcat && len(tree.Sub) == 2 && isAnyStar(tree.Sub[0]) && isLiteral(tree.Sub[1]):
		m.shape, m.lit, m.noNL = shapeSuffix, string(tree.Sub[1].Rune), tree.Sub[0].Sub[0].Op == syntax.OpAnyCharNotNL
	case tree.Op == syntax.OpConcat && len(tree.Sub) == 3 && isAnyStar(tree.Sub[0]) && isLiteral(tree.Sub[1]) && isAnyStar(tree.Sub[2]) &&
		tree.Sub[0].Sub[0].Op == tree.Sub[2].Sub[0].Op:
		m.shape, m.lit, m.noNL = shapeContains, string(tree.Sub[1].Rune), tree.Sub[0].Sub[0].Op == syntax.OpAnyCharNotNL
	}
	return m, nil
}

// isLiteral reports whether t is a case-sensitive literal.
func isLiteral(t *syntax.Regexp) bool {
	return t.Op == syntax.OpLiteral && t.Flags&syntax.FoldCase == 0
}

// isAnyStar reports whether t is ".*", with or without the s flag.
func isAnyStar(t *syntax.Regexp) bool {
	return t.Op == syntax.OpStar && len(t.Sub) == 1 &&
		(t.Sub[0].Op == syntax.OpAnyChar || t.Sub[0].Op == syntax.OpAnyCharNotNL)
}

func (m *regexMatcher) match(v string) bool {
	if m.noNL && strings.IndexByte(v, '\n') >= 0 {
		return m.re.MatchString(v)
	}
	switch m.shape {
	case shapeLiteral:
		return v == m.lit
	case shapePrefix:
		return strings.HasPrefix(v, m.lit)
	case shapeSuffix:
		return strings.HasSuffix(v, m.lit)
	case shapeContains:
		return strings.Contains(v, m.lit)
	}
	if !strings.HasPrefix(v, m.prefix) {
		return false
	}
	return m.re.MatchString(v)
}
