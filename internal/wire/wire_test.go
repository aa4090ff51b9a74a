package wire

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/net/http/httpguts"
)

// TestRulesAreNetHTTPs checks every byte, alone and inside a string,
// against the rules of net/http and httpguts that each check follows.
func TestRulesAreNetHTTPs(t *testing.T) {
	for b := range 256 {
		for _, s := range []string{string([]byte{byte(b)}), "a" + string([]byte{byte(b)}) + "b"} {
			assert.Equal(t, httpguts.ValidHeaderFieldValue(s), HeaderValue(s) == nil, "header value %q", s)
			assert.Equal(t, httpguts.ValidHeaderFieldName(s), Token(s) == nil, "token %q", s)
			assert.Equal(t, httpguts.ValidHostHeader(s), Authority(s) == nil, "authority %q", s)
			assert.Equal(t, (&http.Cookie{Name: s}).Valid() == nil, CookieName(s) == nil, "cookie name %q", s)
			assert.Equal(t, (&http.Cookie{Name: "n", Path: s}).Valid() == nil, CookiePath(s) == nil, "cookie path %q", s)
			assert.Equal(t, HeaderValue(s) == nil && b != '\t', Path(s) == nil, "path %q", s)
			assert.Equal(t, b >= 0x20 && b < 0x7f && b != ';', CookieAttributeValue(s) == nil, "attribute value %q", s)
		}
	}
	for _, f := range []func(string) error{Token, Authority, CookieName} {
		assert.Error(t, f(""))
	}
	assert.NoError(t, HeaderValue(""))
	assert.NoError(t, Path(""))
	assert.NoError(t, CookiePath(""))
}

func TestMessagesNameTheByte(t *testing.T) {
	assert.EqualError(t, HeaderValue("a\r\nb"), `"a\r\nb" holds the control character CR (0x0d) at byte 1`)
	assert.EqualError(t, HeaderValue("a\x01"), `"a\x01" holds the control character 0x01 at byte 1`)
	assert.EqualError(t, Token("a b"), "\"a b\" holds a space at byte 1; use letters, digits and !#$%&'*+-.^_`|~ only")
	assert.EqualError(t, Token("é"), "\"é\" holds the non-ASCII byte 0xc3 at byte 0; use letters, digits and !#$%&'*+-.^_`|~ only")
	assert.EqualError(t, Authority("a/b"), `"a/b" holds '/' at byte 1, which a host name cannot hold`)
}

func TestGRPCMetadataIsGRPCGos(t *testing.T) {
	// grpc-go's rule (internal/metadata.ValidatePair): keys of
	// [0-9a-z-_.], values of printable ASCII unless the key ends in -bin.
	for b := range 256 {
		c := byte(b)
		keyOK := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
		assert.Equal(t, keyOK, GRPCMetadata("x"+string([]byte{c}), "v") == nil, "key byte %#x", b)
		assert.Equal(t, c >= 0x20 && c <= 0x7e, GRPCMetadata("x", "a"+string([]byte{c})) == nil, "value byte %#x", b)
		assert.NoError(t, GRPCMetadata("x-bin", string([]byte{c})), "binary value byte %#x", b)
	}
	assert.EqualError(t, GRPCMetadata("x-user", "café"), `gRPC metadata values hold only printable ASCII (or use a key ending in -bin), and "café" holds the non-ASCII byte 0xc3 at byte 3`)
}
