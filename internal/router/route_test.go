package router

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/route"
)

func TestSplitAuthority(t *testing.T) {
	for _, tc := range []struct {
		authority, scheme, host string
		port                    uint32
	}{
		{"reviews:9080", "http", "reviews", 9080},
		{"reviews", "http", "reviews", 80},
		{"reviews", "https", "reviews", 443},
		{"Reviews.Default:80", "http", "reviews.default", 80},
		{"[fd00::1]:8080", "http", "fd00::1", 8080},
		{"[fd00::1]", "https", "fd00::1", 443},
	} {
		host, port := SplitAuthority(tc.authority, tc.scheme)
		assert.Equal(t, tc.host, host, tc.authority)
		assert.Equal(t, tc.port, port, tc.authority)
	}
}

// VirtualService hosts are checked as Istio checks them: DNS names with a
// wildcard only in the first label (a partial one, "*foo.com", is Envoy's
// suffix match), IP addresses, no ports, and "*" only on gateways.
func TestParseHost(t *testing.T) {
	for h, want := range map[string]hostKey{
		"Reviews": {"reviews"}, "*.example.com": {"*.example.com"}, "*foo.com": {"*foo.com"},
		"10.0.0.1": {"10.0.0.1"}, "fd00::1": {"fd00::1"},
	} {
		k, err := parseHost(h, true)
		require.NoError(t, err, h)
		assert.Equal(t, want, k, h)
	}
	for _, bad := range []string{"", "a b", "a.*.com", "reviews:9080", "reviews:http", "*", "a_b.com"} {
		_, err := parseHost(bad, true)
		assert.Error(t, err, bad)
	}
	_, err := parseHost("*", false)
	assert.NoError(t, err, "a gateway may serve every host")
}

func TestEnvoyTemplate(t *testing.T) {
	assert.Equal(t, "/${2}/${1}", envoyTemplate(`/\2/\1`))
	assert.Equal(t, "/$$x", envoyTemplate("/$x"), "a literal $ is escaped for Go")
}

func TestHeaderLevelOrder(t *testing.T) {
	var errs fielderr.List
	rl := compileLevel(&route.HeaderOperations{Set: map[string]string{"b": "1", "a": "2"}, Add: map[string]string{"c": "3"}, Remove: []string{"d"}}, "h", true, &errs)
	dest := compileLevel(&route.HeaderOperations{Set: map[string]string{"a": "dest"}, Remove: []string{"e"}}, "h", true, &errs)
	require.NoError(t, errs.Err())
	var got []string
	for _, op := range ordered(rl, dest) {
		got = append(got, []string{"remove", "set", "add"}[op.kind]+" "+op.name)
	}
	assert.Equal(t, []string{"remove D", "remove E", "set A", "set B", "add C", "set A"}, got,
		"removes first, then each level's sets (sorted) and adds")
}

// FuzzHeaderOperations checks Envoy's order on any operations: removes come
// first, so a header both removed and set ends with the set value; a set
// header has exactly its value (then any added one); invalid names are
// rejected, never applied.
func FuzzHeaderOperations(f *testing.F) {
	f.Add("x-a", "1", "x-a", "2", "x-a", "X-A", "old")
	f.Add("host", "h", "x-b", "v", ":path", "x-c", "")
	f.Add("bad name", "v", "x-d", "", "x-d", "x-d", "keep")
	f.Fuzz(func(t *testing.T, setK, setV, addK, addV, removeK, existingK, existingV string) {
		var errs fielderr.List
		l := compileLevel(&route.HeaderOperations{
			Set: map[string]string{setK: setV}, Add: map[string]string{addK: addV}, Remove: []string{removeK},
		}, "h", true, &errs)
		h := http.Header{}
		if validHeaderName(existingK) {
			h.Set(existingK, existingV)
		}
		ordered(l).apply(h, nil)
		for k := range h {
			if !validHeaderName(k) {
				t.Fatalf("an invalid header name was applied: %q", k)
			}
		}
		if len(l.sets) == 1 {
			// The value is Envoy's header format: "%%" is a literal "%";
			// a value with formatters (%DOWNSTREAM_…%) depends on the
			// request, which this test has none of.
			want, parts, err := parseHeaderValue(setV, false)
			got := h.Values(l.sets[0].name)
			if err == nil && parts == nil && (len(got) == 0 || got[0] != want) {
				t.Fatalf("set %q=%q: header has %q, want %q first", setK, setV, got, want)
			}
		}
		if errs.Len() == 0 && len(l.sets) == 0 && len(l.adds) == 0 && len(l.removes) == 0 && l.authority == "" {
			t.Fatalf("valid operations compiled to nothing: set %q add %q remove %q", setK, addK, removeK)
		}
	})
}
