package match

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Input is the neutral view of a request that a Matcher evaluates. HTTP
// requests and gRPC calls are both described by it.
type Input struct {
	// Method is the HTTP method; "POST" for gRPC.
	Method string
	// Scheme is "http" or "https".
	Scheme string
	// Authority is the Host header or the gRPC target's authority.
	Authority string
	// Path is the escaped path without its query string; for gRPC,
	// "/package.Service/Method".
	Path string
	// Query is the raw query string, without the "?".
	Query string
	// Port is the port the request was addressed to.
	Port uint32
	// Header gives access to the request headers or gRPC metadata; nil
	// means no headers.
	Header Header
}

// HeaderName is a header name in the two spellings that header maps use.
type HeaderName struct {
	// Lower is the lower-case spelling, as in HTTP/2 and gRPC metadata.
	Lower string
	// Canonical is the MIME-canonical spelling, as in net/http.Header.
	Canonical string
}

// NewHeaderName returns name in both spellings.
func NewHeaderName(name string) HeaderName {
	return HeaderName{Lower: strings.ToLower(name), Canonical: textproto.CanonicalMIMEHeaderKey(name)}
}

// Header looks up request headers.
type Header interface {
	// Lookup returns the value of the named header and whether it is
	// present. Several values are joined with ",", as Envoy does.
	Lookup(name HeaderName) (string, bool)
}

// HTTPHeader adapts an http.Header. Names are case-insensitive, as in
// Envoy: a key in another spelling than the canonical one
// (h["authorization"], which net/http sends as written) is found too, and
// the values of every spelling of a name are joined, canonical first, then
// the others in key order.
type HTTPHeader http.Header

// Lookup implements Header.
func (h HTTPHeader) Lookup(name HeaderName) (string, bool) {
	vs, ok := h[name.Canonical]
	if ok && len(h) == 1 {
		return joined(vs, ok)
	}
	var others []string
	for k := range h {
		if len(k) == len(name.Lower) && k != name.Canonical && strings.EqualFold(k, name.Lower) {
			others = append(others, k)
		}
	}
	if len(others) == 0 {
		return joined(vs, ok)
	}
	slices.Sort(others)
	all := slices.Clone(vs)
	for _, k := range others {
		all = append(all, h[k]...)
	}
	return joined(all, true)
}

// joined returns a header's values as one, joined with "," as Envoy does;
// a single value is returned as is, without allocating.
func joined(vs []string, present bool) (string, bool) {
	switch {
	case !present:
		return "", false
	case len(vs) == 1:
		return vs[0], true
	default:
		return strings.Join(vs, ","), true
	}
}
