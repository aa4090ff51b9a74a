package switchyard_test

// Regression tests for the HTTP defects of issue 13: streamed bodies,
// draining, the caller's own errors, header case, mirrors and Close. Each
// runs over real servers on 127.0.0.1 (HTTP/1.1 and, where it matters,
// HTTP/2) and, where the behaviour does not depend on the network, in
// memory.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/meshtest"
)

// watchdog bounds a wait that only a defect makes long: far beyond what
// the wait takes on any machine, so that it never fails a correct run.
const watchdog = 20 * time.Second

// loopServer is a real HTTP server on 127.0.0.1 that counts its
// connections; with h2c it speaks HTTP/2 without TLS as well as HTTP/1.1.
type loopServer struct {
	port        string
	conns, open atomic.Int64
	hits        atomic.Int64
}

func newLoopServer(t *testing.T, h2c bool, h http.HandlerFunc) *loopServer {
	t.Helper()
	s := &loopServer{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.conns.Add(1)
			s.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.open.Add(-1)
		}
	}
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, s.port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return s
}

// loopMesh is a mesh whose host "svc" (port 80) has one endpoint per
// server, labelled v1, v2, …, with subsets of those names; h2 makes the
// mesh speak HTTP/2 to them (h2UpgradePolicy UPGRADE). trafficPolicy and
// vs (a VirtualService's http list) may be empty.
func loopMesh(t *testing.T, h2 bool, trafficPolicy, vs string, servers []*loopServer, opts ...switchyard.Option) *switchyard.Mesh {
	t.Helper()
	var eps, subsets strings.Builder
	for i, s := range servers {
		fmt.Fprintf(&eps, "  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v%d}}\n", s.port, i+1)
		fmt.Fprintf(&subsets, "  - {name: v%d, labels: {version: v%d}}\n", i+1, i+1)
	}
	policy := trafficPolicy
	if h2 {
		policy = "connectionPool: {http: {h2UpgradePolicy: UPGRADE}}, " + trafficPolicy
	}
	if policy == "" {
		policy = "loadBalancer: {simple: ROUND_ROBIN}"
	}
	doc := fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints:
%s---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy: {%s}
  subsets:
%s`, eps.String(), strings.TrimSuffix(policy, ", "), subsets.String())
	if vs != "" {
		doc += `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
` + vs
	}
	cfg, err := switchyard.Parse([]byte(doc))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// echo answers at once and then streams the request body back as it
// arrives: a full-duplex exchange.
func echo(w http.ResponseWriter, r *http.Request) {
	http.NewResponseController(w).EnableFullDuplex()
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	buf := make([]byte, 1024)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			return
		}
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// inMemoryEcho answers every request at once with its own body, read as
// the caller writes it: a full-duplex exchange without a network.
var inMemoryEcho = roundTripFunc(func(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: r.Body, Request: r}, nil
})

// duplex sends a streamed request through rt and checks that each chunk
// written comes back before the next is written: the request went out
// before its body was complete.
func duplex(t *testing.T, rt http.RoundTripper, url string) {
	t.Helper()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequest(http.MethodPost, url, pr)
	require.NoError(t, err)
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := rt.RoundTrip(req)
		done <- result{resp, err}
	}()
	wrote := make(chan error, 1)
	go func() {
		_, err := pw.Write([]byte("ping"))
		wrote <- err
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(watchdog):
		t.Fatal("no response: the request is held until its body is read")
	}
	require.NoError(t, r.err)
	defer r.resp.Body.Close()
	for i, chunk := range []string{"ping", "pong", "done"} {
		if i > 0 {
			go func() { _, err := pw.Write([]byte(chunk)); wrote <- err }()
		}
		b := make([]byte, len(chunk))
		_, err := io.ReadFull(r.resp.Body, b)
		require.NoError(t, err)
		assert.Equal(t, chunk, string(b), "each chunk comes back before the next is written")
		require.NoError(t, <-wrote)
	}
	pw.Close()
	rest, err := io.ReadAll(r.resp.Body)
	require.NoError(t, err)
	assert.Empty(t, rest)
}

// A request whose body is a stream goes out at once, with only a
// ServiceEntry (whose default retry policy used to read 64 KiB + 1 of the
// body before sending anything), and with a mirror.
func TestStreamedRequestBodyIsSentAsItIsWritten(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("loopback/h2=%v", h2), func(t *testing.T) {
			s := newLoopServer(t, h2, echo)
			m := loopMesh(t, h2, "", "", []*loopServer{s})
			duplex(t, m.Transport(nil), "http://svc/echo")
		})
	}
	t.Run("loopback/mirror", func(t *testing.T) {
		s := newLoopServer(t, false, echo)
		shadow := newLoopServer(t, false, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
		m := loopMesh(t, false, "", `
  - route: [{destination: {host: svc, subset: v1}}]
    mirror: {host: svc, subset: v2}
`, []*loopServer{s, shadow})
		duplex(t, m.Transport(nil), "http://svc/echo")
	})
	t.Run("in-memory", func(t *testing.T) {
		m := loopMesh(t, false, "", "", []*loopServer{{port: "8080"}})
		duplex(t, m.Transport(inMemoryEcho), "http://svc/echo")
	})
	t.Run("in-memory/mirror", func(t *testing.T) {
		m := loopMesh(t, false, "", `
  - route: [{destination: {host: svc, subset: v1}}]
    mirror: {host: svc, subset: v2}
`, []*loopServer{{port: "8080"}, {port: "8081"}})
		duplex(t, m.Transport(inMemoryEcho), "http://svc/echo")
	})
}

// The caller's deadline ends a request whose body never comes.
func TestStreamedRequestBodyHonoursTheCallersDeadline(t *testing.T) {
	run := func(t *testing.T, rt http.RoundTripper) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://svc/upload", pr)
		done := make(chan error, 1)
		go func() {
			resp, err := rt.RoundTrip(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		case <-time.After(watchdog):
			t.Fatal("the caller's deadline did not end the request")
		}
	}
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("loopback/h2=%v", h2), func(t *testing.T) {
			s := newLoopServer(t, h2, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
			run(t, loopMesh(t, h2, "", "", []*loopServer{s}).Transport(nil))
		})
	}
	t.Run("in-memory", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := loopMesh(t, false, "", "", []*loopServer{{port: "8080"}})
			run(t, m.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
				_, err := io.ReadAll(r.Body) // ends when the request's context does
				return nil, err
			})))
		})
	})
}

// A mirror never changes what the primary request does: a large body with
// GetBody is still retried (and copied), a streamed one still streams.
func TestMirrorDoesNotChangeThePrimaryRequest(t *testing.T) {
	t.Run("large replayable body is retried and mirrored", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, vs(`
  - retries: {attempts: 1, retryOn: 5xx}
    route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
`), switchyard.WithRand(rng.NewSequence(0)))
			f.backend["v1"].FailFirst(1, 503)
			payload := bytes.Repeat([]byte("x"), 100<<10) // past the 64 KiB body limit
			req, _ := http.NewRequest(http.MethodPost, "http://reviews:9080/", bytes.NewReader(payload))
			resp, _ := f.do(req)
			assert.Equal(t, 200, resp.StatusCode, "retried through GetBody as without a mirror")
			synctest.Wait()
			v1 := f.backend["v1"].Requests()
			require.Len(t, v1, 2)
			assert.Equal(t, payload, v1[1].Body)
			copies := f.backend["v2"].Requests()
			require.Len(t, copies, 1, "the copy is made from GetBody, with nothing kept")
			assert.Equal(t, payload, copies[0].Body)
		})
	})
	t.Run("streamed body is copied as it is sent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, vs(`
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
`))
			req, _ := http.NewRequest(http.MethodPost, "http://reviews:9080/", io.NopCloser(strings.NewReader("streamed body")))
			resp, _ := f.do(req)
			assert.Equal(t, 200, resp.StatusCode)
			synctest.Wait()
			assert.Equal(t, "streamed body", string(f.backend["v1"].Requests()[0].Body))
			require.Len(t, f.backend["v2"].Requests(), 1)
			assert.Equal(t, "streamed body", string(f.backend["v2"].Requests()[0].Body))
		})
	})
}

// The caller's malformed request is returned with net/http's own error,
// as a request sent without the mesh would be: not retried, not sent, and
// never counted against an endpoint.
func TestMalformedRequestIsTheCallersOwnError(t *testing.T) {
	malformed := []struct {
		name string
		make func() *http.Request
		// what net/http's own error says, over HTTP/1.1 and HTTP/2 ("":
		// that protocol sends the request)
		h1, h2 string
		// h1Racy: over HTTP/1.1, net/http itself may read the server's
		// answer before it notices the extra bytes (it checks after
		// writing ContentLength of them), so the request may also succeed,
		// with or without the mesh.
		h1Racy bool
	}{
		{"CR/LF in a header value", func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
			req.Header["X-Note"] = []string{"a\r\nX-Injected: 1"}
			return req
		}, `net/http: invalid header field value for "X-Note"`, `net/http: invalid header field value for "X-Note"`, false},
		{"invalid header name", func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
			req.Header["Bad Name"] = []string{"1"}
			return req
		}, `net/http: invalid header field name "Bad Name"`, `net/http: invalid header field name "Bad Name"`, false},
		{"invalid trailer", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://svc/", strings.NewReader("x"))
			req.Trailer = http.Header{"X-T": {"a\nb"}}
			return req
		}, `net/http: invalid trailer field value for "X-T"`, `net/http: invalid trailer field value for "X-T"`, false},
		{"ContentLength without a body", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://svc/", nil)
			req.ContentLength = 5
			return req
		}, "http: Request.ContentLength=5 with nil Body", "", false},
		{"body shorter than its ContentLength", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://svc/", io.NopCloser(strings.NewReader("abc")))
			req.ContentLength = 10
			return req
		}, "http: ContentLength=10 with Body length 3", "", false},
		{"body longer than its ContentLength", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, "http://svc/", io.NopCloser(strings.NewReader("0123456789abc")))
			req.ContentLength = 10
			return req
		}, "http: ContentLength=10 with Body length 13", "http2: request body larger than specified content length", true},
		{"failing body", func() *http.Request {
			pr, pw := io.Pipe()
			pw.CloseWithError(errors.New("client gave up writing"))
			req, _ := http.NewRequest(http.MethodPost, "http://svc/", pr)
			return req
		}, "client gave up writing", "client gave up writing", false},
	}
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("loopback/h2=%v", h2), func(t *testing.T) {
			ok := func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }
			servers := []*loopServer{newLoopServer(t, h2, ok), newLoopServer(t, h2, ok)}
			m := loopMesh(t, h2, `outlierDetection: {consecutive5xxErrors: 1, interval: 1m, baseEjectionTime: 1m, maxEjectionPercent: 100}`,
				"", servers, switchyard.WithRand(rng.NewSequence(0)))
			client := &http.Client{Transport: m.Transport(nil)}
			for _, tc := range malformed {
				want := tc.h1
				if h2 {
					want = tc.h2
				}
				resp, err := client.Do(tc.make())
				if resp != nil {
					resp.Body.Close()
				}
				if want == "" {
					assert.NoError(t, err, "%s: sent, as without the mesh", tc.name)
					continue
				}
				if tc.h1Racy && !h2 && err == nil {
					continue // net/http saw the answer first
				}
				var ue *url.Error
				require.ErrorAs(t, err, &ue, tc.name)
				// (HTTP/1.1 may report a body's failure as "transport
				// connection broken: …", with or without the mesh.)
				assert.Contains(t, ue.Err.Error(), want, "%s: net/http's own error for the request itself", tc.name)
			}
			// No endpoint was ejected: every good request is answered,
			// by both endpoints in turn.
			for range 4 {
				resp, err := client.Get("http://svc/")
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode)
			}
		})
	}
	t.Run("in-memory", func(t *testing.T) {
		var dials atomic.Int32
		base := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			dials.Add(1)
			return nil, errors.New("no network in this test")
		}}
		m := loopMesh(t, false, `outlierDetection: {consecutiveGatewayErrors: 1, interval: 1m, baseEjectionTime: 1m, maxEjectionPercent: 100}`,
			"", []*loopServer{{port: "8080"}})
		client := &http.Client{Transport: m.Transport(base)}
		direct := &http.Transport{}
		for _, tc := range malformed[:3] { // those refused before a connection
			_, err := client.Do(tc.make())
			require.Error(t, err)
			_, directErr := direct.RoundTrip(tc.make())
			var ue *url.Error
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, directErr.Error(), ue.Err.Error(), "%s: the error net/http gives without the mesh", tc.name)
		}
		assert.Zero(t, dials.Load(), "nothing was sent, nor retried")
		assert.NotContains(t, m.Explain(httptest.NewRequest(http.MethodGet, "http://svc/", nil)).String(), "ejected")
	})
}

// Header names are case-insensitive, as in Envoy: a key in another
// spelling than the canonical one (which net/http sends as written) is
// matched, removed, replaced and hashed like the canonical key.
func TestHeaderNamesAreCaseInsensitive(t *testing.T) {
	const routes = `
  - match: [{headers: {end-user: {exact: jason}}}]
    headers: {request: {remove: [authorization], set: {x-env: prod}}}
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{withoutHeaders: {x-debug: {}}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: reviews, subset: v3}}]
`
	t.Run("in-memory", func(t *testing.T) {
		f := newFixture(t, vs(routes))
		req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/", nil)
		req.Header["end-user"] = []string{"jason"}
		req.Header["authorization"] = []string{"Bearer secret"}
		req.Header["x-ENV"] = []string{"dev"}
		assert.Contains(t, f.mesh.Explain(req).String(), "route reviews.0: matched")
		_, body := f.do(req)
		assert.Equal(t, "v2", body, "end-user matched in lower case")
		got := f.backend["v2"].Requests()[0].Header
		for k := range got {
			assert.NotEqual(t, "authorization", strings.ToLower(k), "removed in every spelling")
		}
		assert.Equal(t, []string{"prod"}, got["X-Env"], "a set replaces every spelling")
		assert.Len(t, got, 2, "X-Env and End-User, each once: %v", got)
		//lint:ignore SA1008 the key is deliberately not canonical
		assert.Equal(t, []string{"jason"}, req.Header["end-user"], "the caller's request is left as it was")

		req, _ = http.NewRequest(http.MethodGet, "http://reviews:9080/", nil)
		req.Header["x-debug"] = []string{"1"}
		_, body = f.do(req)
		assert.Equal(t, "v3", body, "withoutHeaders sees the lower-case key")
	})
	t.Run("loopback", func(t *testing.T) {
		seen := make(chan http.Header, 1)
		s := newLoopServer(t, false, func(w http.ResponseWriter, r *http.Request) { seen <- r.Header })
		m := loopMesh(t, false, "", `
  - match: [{headers: {end-user: {exact: jason}}}]
    headers: {request: {remove: [authorization]}}
    route: [{destination: {host: svc, subset: v1}}]
  - directResponse: {status: 404}
`, []*loopServer{s})
		req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
		req.Header["end-user"] = []string{"jason"}
		req.Header["authorization"] = []string{"Bearer secret"}
		resp, err := m.Transport(nil).RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		h := <-seen
		assert.Empty(t, h.Get("Authorization"), "not on the wire")
		assert.Equal(t, "jason", h.Get("End-User"))
	})
	t.Run("consistent hash", func(t *testing.T) {
		f := newFixture(t, `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}, {address: 10.0.0.3}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
`, switchyard.WithRand(rng.NewSeeded(1)))
		endpoint := func(set func(h http.Header)) string {
			req, _ := http.NewRequest(http.MethodGet, "http://ratings:9080/", nil)
			set(req.Header)
			_, body := f.do(req)
			return body
		}
		want := endpoint(func(h http.Header) { h.Set("X-User", "u1") })
		for range 20 {
			assert.Equal(t, want, endpoint(func(h http.Header) { h["x-user"] = []string{"u1"} }), "the lower-case key hashes as the canonical one")
		}
	})
}

// A mirrored copy times out with its route, or after a default when the
// route sets no timeout, freeing its slot for later copies.
func TestMirrorCopiesTimeOut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout string
		after   time.Duration
	}{
		{"route timeout", "    timeout: 2s\n", 2 * time.Second},
		{"default", "", 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t, vs(`
  - route: [{destination: {host: reviews, subset: v1}}]
`+tc.timeout+`    mirror: {host: reviews, subset: v2}
`), switchyard.WithMirrorConcurrency(1))
				f.backend["v2"].Hang()
				f.get("http://reviews:9080/")
				synctest.Wait()
				time.Sleep(tc.after - time.Millisecond)
				f.get("http://reviews:9080/")
				synctest.Wait()
				assert.Equal(t, 1, f.backend["v2"].Count(), "the hung copy still holds the only slot")
				time.Sleep(time.Millisecond)
				synctest.Wait()
				f.get("http://reviews:9080/")
				synctest.Wait()
				assert.Equal(t, 2, f.backend["v2"].Count(), "the hung copy timed out; the next copy went")
			})
		})
	}
}

// One slow shadow cannot take every mirror slot from other routes'
// mirrors.
func TestSlowShadowCannotStarveOtherMirrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(`
  - match: [{uri: {prefix: /slow}}]
    route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
  - route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v3}
`), switchyard.WithMirrorConcurrency(8))
		f.backend["v2"].Hang()
		for range 20 {
			f.get("http://reviews:9080/slow")
		}
		synctest.Wait()
		assert.Equal(t, 4, f.backend["v2"].Count(), "the slow shadow holds half of the slots")
		for range 5 {
			f.get("http://reviews:9080/other")
			synctest.Wait()
		}
		assert.Equal(t, 5, f.backend["v3"].Count(), "the other mirror's copies all went")
	})
}

// Close during a retry's back-off: the retry does not dial, it fails with
// ErrClosed, and every connection the mesh opened closes.
func TestCloseDuringRetryBackoffDialsNothing(t *testing.T) {
	s := newLoopServer(t, false, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	clk := meshtest.NewClock(time.Unix(0, 0))
	m := loopMesh(t, false, "", `
  - retries: {attempts: 1, retryOn: 5xx}
    route: [{destination: {host: svc}}]
`, []*loopServer{s}, switchyard.WithClock(clk), switchyard.WithRand(rng.NewSequence(^uint64(0))))
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
		resp, err := m.Transport(nil).RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return s.hits.Load() == 1 && clk.Pending() == 1 }, watchdog, time.Millisecond,
		"the first attempt answered 503 and the retry waits out its back-off")
	require.NoError(t, m.Close())
	clk.Advance(time.Second)
	select {
	case err := <-done:
		assert.ErrorIs(t, err, switchyard.ErrClosed)
	case <-time.After(watchdog):
		t.Fatal("the retry did not end")
	}
	assert.EqualValues(t, 1, s.hits.Load(), "the retry was not sent")
	assert.EqualValues(t, 1, s.conns.Load(), "nothing dialled after Close")
	require.Eventually(t, func() bool { return s.open.Load() == 0 }, watchdog, time.Millisecond, "every connection closes")
}

// A request in flight when Close is called finishes, and its connection
// then closes, over HTTP/1.1 and HTTP/2.
func TestConnectionsBusyAtCloseCloseWhenIdle(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			release := make(chan struct{})
			s := newLoopServer(t, h2, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				<-release
				io.WriteString(w, "done")
			})
			m := loopMesh(t, h2, "", "", []*loopServer{s})
			req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
			resp, err := m.Transport(nil).RoundTrip(req)
			require.NoError(t, err)
			require.NoError(t, m.Close())
			close(release)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, "done", string(b), "the request in flight finished")
			require.Eventually(t, func() bool { return s.open.Load() == 0 }, watchdog, time.Millisecond, "its connection closed once idle")
		})
	}
}

// stalled is a response body whose data never comes: Read blocks until
// Close, whatever the request's context, as a transport that ignores it.
type stalled struct{ closed chan struct{} }

func (b stalled) Read([]byte) (int, error) { <-b.closed; return 0, io.ErrUnexpectedEOF }
func (b stalled) Close() error {
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
	return nil
}

// A copy ends at its timeout whatever it waits for: the part of the body
// the primary has not sent yet, or a response body that never comes.
func TestMirrorCopyEndsAtItsTimeoutWhateverItWaitsFor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shadow func(r *http.Request) (*http.Response, error)
	}{
		{"the rest of a streamed body", func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				if _, err := io.ReadAll(r.Body); err != nil { // as HTTP/1.1's body writer, deaf to the context
					return nil, err
				}
			}
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
		}},
		{"a response body", func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: stalled{make(chan struct{})}}, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var copies atomic.Int32
				base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if strings.HasSuffix(r.URL.Host, ":8081") {
						copies.Add(1)
						return tc.shadow(r)
					}
					if r.Body != nil {
						go io.Copy(io.Discard, r.Body) // the primary streams the body up as it comes
					}
					return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
				})
				m := loopMesh(t, false, "", `
  - route: [{destination: {host: svc, subset: v1}}]
    mirror: {host: svc, subset: v2}
`, []*loopServer{{port: "8080"}, {port: "8081"}}, switchyard.WithMirrorConcurrency(1))
				rt := m.Transport(base)
				pr, pw := io.Pipe() // the caller sends one chunk and then stalls
				go pw.Write([]byte("first chunk"))
				req, _ := http.NewRequest(http.MethodPost, "http://svc/", pr)
				resp, err := rt.RoundTrip(req)
				require.NoError(t, err)
				resp.Body.Close()
				synctest.Wait()
				require.EqualValues(t, 1, copies.Load())
				time.Sleep(15 * time.Second) // the default copy timeout
				synctest.Wait()
				req, _ = http.NewRequest(http.MethodGet, "http://svc/", nil)
				resp, err = rt.RoundTrip(req)
				require.NoError(t, err)
				resp.Body.Close()
				synctest.Wait()
				assert.EqualValues(t, 2, copies.Load(), "the first copy ended at its timeout and gave its slot back")
				pw.Close()
				require.NoError(t, m.Close())
			})
		})
	}
}

// A request without a URL is an error, as net/http's, never a panic.
func TestRequestWithoutURLIsAnError(t *testing.T) {
	m := loopMesh(t, false, "", "", []*loopServer{{port: "8080"}})
	_, err := m.Transport(nil).RoundTrip(&http.Request{Method: http.MethodGet, Header: http.Header{}})
	assert.EqualError(t, err, "http: nil Request.URL")
	assert.Equal(t, "invalid request (no URL)", m.Explain(&http.Request{Method: http.MethodGet}).Action)
}

// A retried 5xx whose body stalls does not delay the retry, and its
// connection is closed once the drain's bound has passed; a 5xx whose body
// has arrived leaves its connection to be reused.
func TestRetriedResponseIsDrainedWithoutDelayingTheRetry(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("stalled body/h2=%v", h2), func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			var n atomic.Int32
			s := newLoopServer(t, h2, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.WriteHeader(http.StatusServiceUnavailable)
					w.(http.Flusher).Flush()
					select { // the body never comes
					case <-release:
					case <-r.Context().Done():
					}
					return
				}
				io.WriteString(w, "ok")
			})
			m := loopMesh(t, h2, "", `
  - retries: {attempts: 1, retryOn: 5xx}
    route: [{destination: {host: svc}}]
`, []*loopServer{s}, switchyard.WithRand(rng.NewSequence(0)))
			done := make(chan *http.Response, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
				resp, _ := m.Transport(nil).RoundTrip(req)
				done <- resp
			}()
			select {
			case resp := <-done:
				require.NotNil(t, resp, "a response")
				resp.Body.Close()
				assert.Equal(t, 200, resp.StatusCode, "retried without waiting for the stalled body")
			case <-time.After(watchdog):
				t.Fatal("the retry waited for the discarded body")
			}
			if !h2 {
				require.Eventually(t, func() bool { return s.open.Load() == 1 }, watchdog, time.Millisecond,
					"the stalled connection was closed; the retry's remains for reuse")
			}
		})
	}
	t.Run("body arrived", func(t *testing.T) {
		var n atomic.Int32
		s := newLoopServer(t, false, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1)%2 == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "upstream unavailable")
				return
			}
			io.WriteString(w, "ok")
		})
		m := loopMesh(t, false, "", `
  - retries: {attempts: 1, retryOn: 5xx}
    route: [{destination: {host: svc}}]
`, []*loopServer{s}, switchyard.WithRand(rng.NewSequence(0)))
		client := &http.Client{Transport: m.Transport(nil)}
		for range 10 {
			resp, err := client.Get("http://svc/")
			require.NoError(t, err)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode)
		}
		// Closing each discarded 5xx would take a new connection per
		// request; draining returns it to the pool (a retry may still
		// dial while a drain is under way).
		assert.Less(t, s.conns.Load(), int64(10), "drained 5xx connections are reused")
	})
}

// WithBodyLimit(n < 0) turns buffering off: nothing of a body is kept, so a
// request whose body was read is not retried and a body without GetBody is
// not mirrored; one that failed before its body was read is still retried
// whole. WithBodyLimit(0) keeps the default.
func TestBodyBufferingCanBeTurnedOff(t *testing.T) {
	const routes = `
  - retries: {attempts: 1, retryOn: "5xx,connect-failure"}
    route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: reviews, subset: v2}
`
	post := func(f *fixture) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://reviews:9080/", io.NopCloser(strings.NewReader("payload")))
		return f.do(req)
	}
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(routes), switchyard.WithBodyLimit(-1), switchyard.WithRand(rng.NewSequence(0)))
		f.backend["v1"].FailFirst(1, 503)
		resp, _ := post(f)
		assert.Equal(t, 503, resp.StatusCode, "the body was sent and not kept: no retry")
		synctest.Wait()
		assert.Zero(t, f.backend["v2"].Count(), "nothing kept to copy")

	})
	t.Run("refused before the body was read", func(t *testing.T) {
		var bodies []string
		base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if bodies = append(bodies, ""); len(bodies) == 1 {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
			}
			b, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			bodies[len(bodies)-1] = string(b)
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
		})
		m := loopMesh(t, false, "", "", []*loopServer{{port: "8080"}, {port: "8081"}}, switchyard.WithBodyLimit(-1))
		req, _ := http.NewRequest(http.MethodPost, "http://svc/", io.NopCloser(strings.NewReader("payload")))
		resp, err := m.Transport(base).RoundTrip(req)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode, "retried with all of the body")
		assert.Equal(t, []string{"", "payload"}, bodies)
	})
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, vs(routes), switchyard.WithBodyLimit(0), switchyard.WithRand(rng.NewSequence(0)))
		f.backend["v1"].FailFirst(1, 503)
		resp, _ := post(f)
		assert.Equal(t, 200, resp.StatusCode, "0 is the default limit: kept and retried")
		synctest.Wait()
		assert.Equal(t, 1, f.backend["v2"].Count())
	})
}
