package switchyard_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

func TestChainSkipsNilMiddleware(t *testing.T) {
	// A nil Middleware in the list panicked when the chain was built.
	var seen []string
	mark := func(name string) switchyard.Middleware {
		return func(next http.RoundTripper) http.RoundTripper {
			return switchyard.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				seen = append(seen, name)
				return next.RoundTrip(req)
			})
		}
	}
	end := switchyard.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: req}, nil
	})
	rt := switchyard.Chain(end, mark("a"), nil, mark("b"))
	req, _ := http.NewRequest("GET", "http://x/", nil)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, []string{"a", "b"}, seen)
}
