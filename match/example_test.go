package match_test

import (
	"fmt"
	"net/http"

	"github.com/switchyard-go/switchyard/match"
)

// Compiling a route's match blocks once and evaluating requests against
// them: blocks are OR'ed, the conditions inside one AND'ed.
func ExampleCompile() {
	m, err := match.Compile([]match.Request{
		{URI: match.Prefix("/reviews"), Headers: map[string]*match.StringMatch{"end-user": match.Exact("jason")}},
		{URI: match.Regex(`/ratings/[0-9]+`)},
	}, match.Source{})
	if err != nil {
		panic(err)
	}
	for _, tc := range []struct{ path, user string }{{"/reviews/1", "jason"}, {"/reviews/1", "alice"}, {"/ratings/7", ""}} {
		h := http.Header{}
		if tc.user != "" {
			h.Set("End-User", tc.user)
		}
		block, ok := m.Match(&match.Input{Path: tc.path, Header: match.HTTPHeader(h)})
		fmt.Println(tc.path, tc.user, ok, block)
	}
	// Output:
	// /reviews/1 jason true 0
	// /reviews/1 alice false 0
	// /ratings/7  true 1
}
