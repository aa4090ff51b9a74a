// Package hostname checks host names as Istio's validation does: DNS-1123
// labels, a wildcard only as the whole or the start of the first label, a
// top-level domain that is not all digits. One checker for every kind, so
// that a ServiceEntry and a VirtualService agree on what a host is.
package hostname

import (
	"fmt"
	"strconv"
	"strings"
)

// maxLabel and maxName are DNS's limits on a label and a name.
const (
	maxLabel = 63
	maxName  = 255
)

// Label reports whether s is a DNS-1123 label: 1-63 letters, digits and
// "-", starting and ending with a letter or digit.
func Label(s string) bool {
	if len(s) == 0 || len(s) > maxLabel || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// wildcardLabel reports whether s is a label that may start a wildcard
// name: "*", a label, or a label with a leading "*" or "*-".
func wildcardLabel(s string) bool {
	if len(s) > maxLabel {
		return false
	}
	switch {
	case s == "*":
		return true
	case strings.HasPrefix(s, "*-"):
		return Label(s[2:])
	case strings.HasPrefix(s, "*"):
		return Label(s[1:])
	}
	return Label(s)
}

func preconditions(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a host name is required")
	case len(name) > maxName:
		return fmt.Errorf("a host name of %d bytes is longer than %d", len(name), maxName)
	}
	return nil
}

// labels checks the dot-separated labels of name (a last empty label, a
// trailing dot, is allowed).
func labels(name, rest string) error {
	tld := rest[strings.LastIndexByte(rest, '.')+1:]
	if tld != "" && (tld[0] >= '0' && tld[0] <= '9' || tld[0] == '+' || tld[0] == '-') { // else Atoi fails
		if _, err := strconv.Atoi(tld); err == nil {
			return fmt.Errorf("%q: the top-level domain %q is all digits", name, tld)
		}
	}
	for i := 0; ; i++ {
		l, after, more := strings.Cut(rest, ".")
		if !more && l == "" && i > 0 {
			return nil // a final dot
		}
		if !Label(l) {
			return badLabel(name, l)
		}
		if !more {
			return nil
		}
		rest = after
	}
}

func badLabel(name, label string) error {
	const rule = `a DNS label: 1-63 letters, digits and "-", not starting or ending with "-"`
	if label == name {
		return fmt.Errorf("%q is not %s", name, rule)
	}
	return fmt.Errorf("%q: label %q is not %s", name, label, rule)
}

// FQDN checks a name without wildcards, such as a DNS endpoint's address.
func FQDN(name string) error {
	if err := preconditions(name); err != nil {
		return err
	}
	return labels(name, name)
}

// Wildcard checks a host that may begin with a wildcard label: "*",
// "*.example.com", "*-api.example.com", or a name without wildcards.
func Wildcard(name string) error {
	if err := preconditions(name); err != nil {
		return err
	}
	first, rest, more := strings.Cut(name, ".")
	if !wildcardLabel(first) {
		return badLabel(name, first)
	}
	if !more || rest == "" { // "name." is absolute, as in Istio
		return nil
	}
	return labels(name, rest)
}

// Partial reports whether name has a wildcard other than "*" alone or a
// leading "*.": a partial wildcard such as "*api.example.com", which only
// DYNAMIC_DNS ServiceEntries and sidecars' exact matching treat as a name.
func Partial(name string) bool {
	return strings.Contains(name, "*") && name != "*" && !strings.HasPrefix(name, "*.")
}

// Matches reports whether two hosts overlap as Istio's host.Name.Matches
// does: equal, or one a wildcard whose suffix the other ends with ("*"
// overlaps everything).
func Matches(a, b string) bool {
	aw, bw := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
	switch {
	case aw && bw:
		if len(a) < len(b) {
			return strings.HasSuffix(b[1:], a[1:])
		}
		return strings.HasSuffix(a[1:], b[1:])
	case aw:
		return strings.HasSuffix(b, a[1:])
	case bw:
		return strings.HasSuffix(a, b[1:])
	}
	return a == b
}
