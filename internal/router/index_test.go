package router

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/israce"
	"github.com/switchyard-go/switchyard/match"
)

// TestIndexAgreesWithScan checks that the route index picks exactly the
// route a scan in order would, on mixed routes and random paths.
func TestIndexAgreesWithScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "ab", "abc", "api", "v1", "v2", "x"}
	randPath := func() string {
		p := ""
		for range 1 + r.IntN(3) {
			p += "/" + segs[r.IntN(len(segs))]
		}
		if r.IntN(4) == 0 {
			p += "/"
		}
		return p
	}
	var routes []*Route
	for i := range 200 {
		var req match.Request
		switch r.IntN(6) {
		case 0:
			req.URI = match.Exact(randPath())
		case 1, 2:
			req.URI = match.Prefix(randPath())
		case 3:
			req.URI = match.Regex(fmt.Sprintf("/%s.*", segs[r.IntN(len(segs))]))
		case 4:
			req.URI = match.Prefix(randPath())
			req.IgnoreURICase = true
		case 5:
			req.Headers = map[string]*match.StringMatch{"x-h": match.Exact(fmt.Sprint(r.IntN(3)))}
		}
		reqs := []match.Request{req}
		if r.IntN(5) == 0 {
			reqs = append(reqs, match.Request{URI: match.Exact(randPath())})
		}
		m, err := match.Compile(reqs, match.Source{})
		require.NoError(t, err)
		routes = append(routes, &Route{Name: fmt.Sprint(i), matcher: m})
	}
	ix := buildIndex(routes)
	require.NotNil(t, ix)
	for range 5000 {
		path := randPath()
		if r.IntN(3) == 0 {
			path = "/API" + path
		}
		h := http.Header{"X-H": {fmt.Sprint(r.IntN(3))}}
		in := &match.Input{Path: path, Header: match.HTTPHeader(h)}
		var want *Route
		wantBlock := 0
		for _, rt := range routes {
			if b, ok := rt.matcher.Match(in); ok {
				want, wantBlock = rt, b
				break
			}
		}
		got, gotBlock := ix.match(routes, in)
		require.Equal(t, want, got, "path %q", path)
		require.Equal(t, wantBlock, gotBlock, "path %q", path)
	}
}

func TestIndexedMatchAllocatesNothing(t *testing.T) {
	if israce.Enabled {
		t.Skip("allocation budgets are measured without the race detector")
	}
	var routes []*Route
	for i := range 1000 {
		m, err := match.Compile([]match.Request{{URI: match.Prefix(fmt.Sprintf("/r%d/", i))}}, match.Source{})
		require.NoError(t, err)
		routes = append(routes, &Route{matcher: m})
	}
	ix := buildIndex(routes)
	in := &match.Input{Path: "/r999/x"}
	require.Zero(t, testing.AllocsPerRun(1000, func() {
		if r, _ := ix.match(routes, in); r != routes[999] {
			t.Fatal("wrong route")
		}
	}))
}
