// Package query reads raw URL query strings without allocating: the
// lookups of queryParams matches and of consistent hashing on a query
// parameter.
package query

import "strings"

// Value returns the first value of key in the raw query string q, and
// whether it is present ("?key" and "?key=" are present and empty). Values
// are compared undecoded, as Envoy does.
func Value(q, key string) (string, bool) {
	for q != "" {
		var pair string
		if i := strings.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			pair, q = q, ""
		}
		name, value, _ := strings.Cut(pair, "=")
		if name == key {
			return value, true
		}
	}
	return "", false
}
