package router_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/switchyard-go/switchyard/meshtest"
)

func TestRedirect(t *testing.T) {
	f := newFixture(t, vs(`
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new}
  - match: [{uri: {prefix: /v1/}}]
    redirect: {prefixRewrite: /v2/, redirectCode: 308}
  - match: [{uri: {prefix: /secure}}]
    redirect: {scheme: https, authority: www.example.com}
  - match: [{uri: {prefix: /port}}]
    redirect: {port: 8443, scheme: https}
  - match: [{uri: {prefix: /derive}}]
    redirect: {derivePort: FROM_REQUEST_PORT, authority: other}
  - match: [{uri: {prefix: /query}}]
    redirect: {uri: "/q?b=2"}
    headers: {response: {set: {x-redirected: "yes"}}}
`))
	for _, tc := range []struct {
		url, location string
		code          int
	}{
		{"http://reviews:9080/old?a=1", "http://reviews:9080/new?a=1", 301},
		{"http://reviews:9080/v1/items/3", "http://reviews:9080/v2/items/3", 308},
		{"http://reviews:80/secure/x", "https://www.example.com/secure/x", 301},
		{"http://reviews:9080/port", "https://reviews:8443/port", 301},
		{"http://reviews:9080/derive", "http://other:9080/derive", 301},
		{"http://reviews:9080/query?a=1", "http://reviews:9080/q?b=2", 301},
	} {
		resp, body := f.get(tc.url)
		assert.Equal(t, tc.code, resp.StatusCode, tc.url)
		assert.Equal(t, tc.location, resp.Header.Get("Location"), tc.url)
		assert.Empty(t, body)
	}
	resp, _ := f.get("http://reviews:9080/query")
	assert.Equal(t, "yes", resp.Header.Get("X-Redirected"), "route response headers apply to redirects")
	for _, b := range f.backend {
		assert.Zero(t, b.Count(), "a redirect never reaches upstream")
	}
}

func TestDirectResponse(t *testing.T) {
	f := newFixture(t, vs(`
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
    headers: {response: {set: {x-kind: tea}}}
  - match: [{uri: {exact: /bytes}}]
    directResponse: {status: 200, body: {bytes: aGVsbG8=}}
  - directResponse: {status: 503}
`))
	resp, body := f.get("http://reviews:9080/teapot")
	assert.Equal(t, 418, resp.StatusCode)
	assert.Equal(t, "short and stout", body)
	assert.Equal(t, "tea", resp.Header.Get("X-Kind"))
	_, body = f.get("http://reviews:9080/bytes")
	assert.Equal(t, "hello", body)
	resp, body = f.get("http://reviews:9080/")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Empty(t, body)
}

func TestRewrite(t *testing.T) {
	f := newFixture(t, vs(`
  - match: [{uri: {prefix: /api/v1/}}]
    rewrite: {uri: /}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {exact: /exact}}]
    rewrite: {uri: /replaced, authority: reviews.internal}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /API/Case, }, ignoreUriCase: true}]
    rewrite: {uri: /case}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /regex/}}]
    rewrite: {uriRegexRewrite: {match: '^/regex/([^/]+)/(.*)$', rewrite: '/\2/\1'}}
    route: [{destination: {host: reviews, subset: v1}}]
  - rewrite: {uri: /root/}
    route: [{destination: {host: reviews, subset: v1}}]
`))
	for _, tc := range []struct{ in, out, host string }{
		{"/api/v1/items?x=1", "/items?x=1", "reviews:9080"},
		{"/exact", "/replaced", "reviews.internal"},
		{"/api/case/1", "/case/1", "reviews:9080"},
		{"/regex/a/b/c", "/b/c/a", "reviews:9080"},
		{"/other", "/root/other", "reviews:9080"},
	} {
		f.backend["v1"].Reset()
		f.get("http://reviews:9080" + tc.in)
		reqs := f.backend["v1"].Requests()
		require.Len(t, reqs, 1, tc.in)
		assert.Equal(t, "http://10.0.0.1:9080"+tc.out, reqs[0].URL, tc.in)
		assert.Equal(t, tc.host, reqs[0].Host, tc.in)
		path := tc.in
		if i := len(path); i > 0 {
			if j := indexByte(path, '?'); j >= 0 {
				path = path[:j]
			}
		}
		assert.Equal(t, path, reqs[0].Header.Get("X-Envoy-Original-Path"), tc.in)
	}
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func TestHeaderOperationsSingleDestination(t *testing.T) {
	// With one destination its operations are appended to the route's:
	// removes first, then route set/add, then destination set/add, so the
	// destination's set wins.
	f := newFixture(t, vs(`
  - headers:
      request:
        set: {x-level: route, x-route: r, host: rewritten.example}
        add: {x-multi: route}
        remove: [x-drop, x-level]
      response:
        set: {x-resp: route}
        remove: [content-type]
    route:
    - destination: {host: reviews, subset: v1}
      headers:
        request: {set: {x-level: destination}, add: {x-multi: destination}}
        response: {set: {x-resp: destination}}
`))
	resp, _ := f.get("http://reviews:9080/", "x-drop", "1", "x-multi", "caller")
	reqs := f.backend["v1"].Requests()
	require.Len(t, reqs, 1)
	h := reqs[0].Header
	assert.Empty(t, h.Values("X-Drop"))
	assert.Equal(t, "destination", h.Get("X-Level"), "destination set is applied after the route's")
	assert.Equal(t, "r", h.Get("X-Route"))
	assert.Equal(t, []string{"caller", "route", "destination"}, h.Values("X-Multi"))
	assert.Equal(t, "rewritten.example", reqs[0].Host, "a set of host is a host rewrite")
	assert.Equal(t, "destination", resp.Header.Get("X-Resp"))
	assert.Empty(t, resp.Header.Get("Content-Type"))
	assert.Equal(t, "v1", resp.Header.Get("X-Backend"))
}

func TestHeaderOperationsWeightedDestinations(t *testing.T) {
	// With several destinations the destination level is evaluated first,
	// so the route's set wins for the same key.
	f := newFixture(t, vs(`
  - headers: {request: {set: {x-level: route}}}
    route:
    - destination: {host: reviews, subset: v1}
      weight: 1
      headers: {request: {set: {x-level: destination, x-only-dest: d}}}
    - destination: {host: reviews, subset: v2}
      weight: 0
`))
	f.get("http://reviews:9080/")
	reqs := f.backend["v1"].Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "route", reqs[0].Header.Get("X-Level"))
	assert.Equal(t, "d", reqs[0].Header.Get("X-Only-Dest"))
}

func TestCallerRequestIsNotModified(t *testing.T) {
	f := newFixture(t, vs(`
  - headers: {request: {set: {x-added: "1"}, remove: [x-keep]}}
    rewrite: {uri: /rewritten, authority: other}
    route: [{destination: {host: reviews, subset: v1}}]
`))
	req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/orig", nil)
	req.Header.Set("X-Keep", "1")
	f.do(req)
	assert.Equal(t, "1", req.Header.Get("X-Keep"))
	assert.Empty(t, req.Header.Get("X-Added"))
	assert.Equal(t, "/orig", req.URL.Path)
	assert.Equal(t, "reviews:9080", req.URL.Host)
	assert.Equal(t, "reviews:9080", req.Host)
}

const slowRoute = `
  - timeout: 2s
    route: [{destination: {host: reviews, subset: v1}}]
`

func TestRouteTimeoutAnswers504(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(slowRoute))
		f.backend["v1"].Delay(3 * time.Second)
		start := time.Now()
		resp, body := f.get("http://reviews:9080/")
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		assert.Equal(t, "upstream request timeout", body)
		assert.Equal(t, 2*time.Second, time.Since(start), "the timeout fires at exactly 2s")

		f.backend["v1"].Delay(1500 * time.Millisecond)
		resp, body = f.get("http://reviews:9080/")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "v1", body)
	})
}

func TestRouteTimeoutOnAHungBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(slowRoute))
		f.backend["v1"].Hang()
		resp, _ := f.get("http://reviews:9080/")
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode, "a hung backend ends in a 504, never hangs the caller")
	})
}

func TestRouteTimeoutWithFakeClock(t *testing.T) {
	clk := meshtest.NewClock(time.Unix(0, 0))
	f := newFixture(t, vs(slowRoute), withClock(clk))
	f.backend["v1"].Hang()
	var resp *http.Response
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		resp, err = f.client.Get("http://reviews:9080/")
		assert.NoError(t, err)
	})
	for clk.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	clk.Advance(1999 * time.Millisecond)
	assert.Equal(t, 1, clk.Pending(), "not yet")
	clk.Advance(time.Millisecond)
	wg.Wait()
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	resp.Body.Close()
}

func TestCallerCancellationIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(slowRoute))
		f.backend["v1"].Hang()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://reviews:9080/", nil)
		_, err := f.client.Do(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the caller's own deadline is the caller's error, not a 504")
	})
}

// A caller's deadline later than the route timeout leaves the route
// timeout in charge: a 504 at exactly the route's 2s.
func TestRouteTimeoutUnderALaterCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(slowRoute))
		f.backend["v1"].Hang()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://reviews:9080/", nil)
		start := time.Now()
		resp, err := f.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
		assert.Equal(t, 2*time.Second, time.Since(start))
	})
}

func TestTimeoutReleasedWhenBodyClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(slowRoute))
		resp, err := f.client.Get("http://reviews:9080/")
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "v1", string(b))
		require.NoError(t, resp.Body.Close())
		synctest.Wait() // no timer goroutine is left behind
	})
}

func TestUnreachableEndpointAnswers503(t *testing.T) {
	f := newFixture(t, vs(`
  - route: [{destination: {host: reviews, subset: v1}}]
`))
	f.net.Remove("10.0.0.1:9080")
	resp, body := f.get("http://reviews:9080/")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, body, "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
}

// Envoy's formatters with an in-process meaning are evaluated per request:
// a request header copied with %REQ%, the caller's address, the endpoint
// that answered in a response header; one that comes out empty adds
// nothing, as Envoy's keep_empty_value false.
func TestHeaderFormatters(t *testing.T) {
	f := newFixture(t, vs(`
  - headers:
      request:
        set: {x-user-copy: "%REQ(x-user)%", x-caller: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", x-missing: "%REQ(x-none)%", x-pct: "100%%"}
      response:
        add: {x-upstream: "%UPSTREAM_HOST%"}
    route:
    - destination: {host: reviews, subset: v1}
`), withSourceIP("10.9.8.7"))
	resp, _ := f.get("http://reviews:9080/", "x-user", "jason")
	reqs := f.backend["v1"].Requests()
	require.Len(t, reqs, 1)
	h := reqs[0].Header
	assert.Equal(t, "jason", h.Get("X-User-Copy"))
	assert.Equal(t, "10.9.8.7", h.Get("X-Caller"))
	assert.Equal(t, "100%", h.Get("X-Pct"))
	assert.Empty(t, h.Values("X-Missing"), "an empty formatter adds no header")
	assert.Equal(t, "10.0.0.1:9080", resp.Header.Get("X-Upstream"))
}
