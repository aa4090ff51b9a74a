package hostname

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWildcard(t *testing.T) {
	for _, ok := range []string{"reviews", "reviews.default.svc.cluster.local", "*", "*.example.com", "*-api.example.com",
		"*api.example.com", "istio.io.", "UPPER.example.com", "a1.b2", "x." + strings.Repeat("a", 63)} {
		assert.NoError(t, Wildcard(ok), ok)
	}
	for _, tt := range []struct{ name, err string }{
		{"", "a host name is required"},
		{"foo.*.com", `"foo.*.com": label "*" is not a DNS label`},
		{"foo_bar.com", `"foo_bar.com": label "foo_bar" is not a DNS label`},
		{"foo bar", `"foo bar" is not a DNS label`},
		{"-foo.com", `label "-foo" is not a DNS label`},
		{"foo..com", `label "" is not a DNS label`},
		{"10.0.0.1", `the top-level domain "1" is all digits`},
		{"*.com:80", `label "com:80" is not a DNS label`},
		{strings.Repeat("a", 64) + ".com", "is not a DNS label"},
		{strings.Repeat("a.", 128), "longer than 255"},
	} {
		err := Wildcard(tt.name)
		if assert.Error(t, err, tt.name) {
			assert.Contains(t, err.Error(), tt.err, tt.name)
		}
	}
}

func TestFQDN(t *testing.T) {
	assert.NoError(t, FQDN("api.example.com"))
	assert.Error(t, FQDN("*.example.com"))
	assert.Error(t, FQDN("."))
}

func TestPartialAndMatches(t *testing.T) {
	assert.True(t, Partial("*api.example.com"))
	assert.False(t, Partial("*.example.com"))
	assert.False(t, Partial("*"))
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"a.com", "a.com", true}, {"a.com", "b.com", false},
		{"*.foo.bar", "*.bar", true}, {"*.bar", "*.foo.bar", true},
		{"*.example.com", "*.api.example.com", true},
		{"*.example.com", "example.com", false}, {"*", "anything", true},
		{"*.a.com", "x.a.com", true}, {"*.a.com", "*.b.com", false},
	} {
		assert.Equal(t, tt.want, Matches(tt.a, tt.b), "%s %s", tt.a, tt.b)
		assert.Equal(t, tt.want, Matches(tt.b, tt.a), "%s %s", tt.b, tt.a)
	}
}

func FuzzWildcard(f *testing.F) {
	for _, s := range []string{"*.example.com", "a..b", "*", "x.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := Wildcard(s)
		if FQDN(s) == nil && err != nil {
			t.Fatalf("%q is an FQDN but not a valid host: %v", s, err)
		}
	})
}
