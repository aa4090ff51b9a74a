// Package wire checks configuration strings that the mesh puts on the wire
// — header names and values, authorities, paths, cookie names and
// attributes — with the rules of net/http and golang.org/x/net/http/httpguts,
// which are Istio's where it has them, so that a value that could not be
// sent, or would be sent malformed, is rejected when the configuration is
// compiled instead of failing every request.
package wire

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// tokenChars lists the characters of an HTTP token besides letters and
// digits.
const tokenChars = "!#$%&'*+-.^_`|~"

// Token checks that s is an HTTP token (RFC 9110), as a header name, a
// cookie name or a cookie attribute name must be.
func Token(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if httpguts.ValidHeaderFieldName(s) {
		return nil
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return fmt.Errorf("%s holds %s at byte %d; use letters, digits and %s only", fielderr.Quote(s), char(s[i]), i, tokenChars)
		}
	}
	return fmt.Errorf("%s is not an HTTP token", fielderr.Quote(s))
}

// HeaderValue checks that v can be sent as an HTTP header value: it must
// not hold control characters other than tab (httpguts.ValidHeaderFieldValue,
// the rule of Istio's validation). CR or LF would end the header.
func HeaderValue(v string) error {
	if httpguts.ValidHeaderFieldValue(v) {
		return nil
	}
	return controlError(v)
}

// Authority checks that a is a host, with an optional port, that net/http
// sends as a Host header (httpguts.ValidHostHeader).
func Authority(a string) error {
	if a == "" {
		return fmt.Errorf("must not be empty")
	}
	if httpguts.ValidHostHeader(a) {
		return nil
	}
	for i := 0; i < len(a); i++ {
		if !httpguts.ValidHostHeader(a[i : i+1]) {
			return fmt.Errorf("%s holds %s at byte %d, which a host name cannot hold", fielderr.Quote(a), char(a[i]), i)
		}
	}
	return fmt.Errorf("%s is not a valid authority", fielderr.Quote(a))
}

// Path checks a path, or a path template, that is sent in a request line or
// a Location header: it must not hold control characters (Envoy's rule for
// rewrites and redirects).
func Path(p string) error {
	if httpguts.ValidHeaderFieldValue(p) && !strings.ContainsRune(p, '\t') {
		return nil
	}
	return controlError(p)
}

// CookieName checks the name of a cookie the mesh reads and sets.
func CookieName(name string) error {
	if name == "" {
		return fmt.Errorf("must not be empty")
	}
	if err := (&http.Cookie{Name: name}).Valid(); err != nil {
		return Token(name)
	}
	return nil
}

// CookiePath checks the Path attribute of a cookie the mesh sets: printable
// characters other than ";" (net/http's rule, which otherwise drops the
// bytes it cannot send).
func CookiePath(p string) error {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c >= 0x7f || c == ';' {
			return fmt.Errorf("%s holds %s at byte %d; a cookie path holds printable characters other than \";\"", fielderr.Quote(p), char(c), i)
		}
	}
	return nil
}

// CookieAttributeValue checks the value of an attribute of a cookie the
// mesh sets: printable characters other than ";" (RFC 6265's
// extension-av), so that it cannot end the attribute and start another.
func CookieAttributeValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == ';' {
			return fmt.Errorf("%s holds %s at byte %d; an attribute value holds printable characters other than \";\"", fielderr.Quote(v), char(c), i)
		}
	}
	return nil
}

// GRPCMetadata checks that a header sent on a gRPC call can be carried as
// its metadata by grpc-go, which otherwise fails the call with INTERNAL:
// a key of 0-9, a-z, "-", "_" and "." (key is lower-case already), and,
// unless the key ends in "-bin", a value of printable ASCII.
func GRPCMetadata(key, value string) error {
	for i := 0; i < len(key); i++ {
		if c := key[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("gRPC metadata keys hold only 0-9, a-z, \"-\", \"_\" and \".\", and %s holds %s", fielderr.Quote(key), char(c))
		}
	}
	if strings.HasSuffix(key, "-bin") {
		return nil
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("gRPC metadata values hold only printable ASCII (or use a key ending in -bin), and %s holds %s at byte %d", fielderr.Quote(value), char(c), i)
		}
	}
	return nil
}

func controlError(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s holds the control character %s at byte %d", fielderr.Quote(v), char(c), i)
		}
	}
	return fmt.Errorf("%s holds a control character", fielderr.Quote(v))
}

// controlNames names the control characters most often met.
var controlNames = map[byte]string{0: "NUL", '\t': "TAB", '\n': "LF", '\r': "CR", 0x7f: "DEL"}

// char names a byte for a message.
func char(c byte) string {
	switch {
	case c == ' ':
		return "a space"
	case c > ' ' && c < 0x7f:
		return fmt.Sprintf("%q", c)
	case c >= 0x80:
		return fmt.Sprintf("the non-ASCII byte 0x%02x", c)
	case controlNames[c] != "":
		return fmt.Sprintf("%s (0x%02x)", controlNames[c], c)
	}
	return fmt.Sprintf("0x%02x", c)
}
