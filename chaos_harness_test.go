package switchyard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

// Failure modes of a chaos endpoint.
const (
	modeOK        int32 = iota
	modeFail503         // answers 503
	modeBlackHole       // accepts, never answers
	modeResetBody       // sends headers and half the body, then resets
	modeSlow            // answers after slowDelay, unless the request is cancelled first
)

// slowDelay is how long a slow endpoint takes to answer: long enough next
// to the route timeouts that cut it (tens of ms) that a request the timeout
// failed to cut is told apart on any machine, however loaded.
const slowDelay = 2 * time.Second

// requestHeader carries a load request's index to the servers.
const requestHeader = "X-Chaos-Request"

// chaosServer is a real HTTP server on 127.0.0.1 whose behaviour can change
// under load, and which can be killed and restarted on the same port.
type chaosServer struct {
	t     *testing.T
	name  string
	addr  string
	mode  atomic.Int32
	hits  atomic.Int64
	open  atomic.Int64 // open connections
	mu    sync.Mutex
	srv   *http.Server
	lis   net.Listener
	conns map[net.Conn]bool
	seen  map[string]int // requests received, by requestHeader
}

// received returns how many times the server received each load request.
func (s *chaosServer) received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.seen)
}

func newChaosServer(t *testing.T, name string) *chaosServer {
	s := &chaosServer{t: t, name: name}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = lis.Addr().String()
	s.start(lis)
	t.Cleanup(s.kill)
	return s
}

func (s *chaosServer) port() string { _, p, _ := net.SplitHostPort(s.addr); return p }

func (s *chaosServer) start(lis net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lis = lis
	s.conns = map[net.Conn]bool{}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(s.serve),
		ConnState: func(c net.Conn, st http.ConnState) {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch st {
			case http.StateNew:
				s.conns[c] = true
				s.open.Add(1)
			case http.StateClosed, http.StateHijacked:
				if s.conns[c] {
					delete(s.conns, c)
					s.open.Add(-1)
				}
			}
		},
	}
	go s.srv.Serve(lis)
}

func (s *chaosServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if id := r.Header.Get(requestHeader); id != "" {
		s.mu.Lock()
		if s.seen == nil {
			s.seen = map[string]int{}
		}
		s.seen[id]++
		s.mu.Unlock()
	}
	io.Copy(io.Discard, r.Body)
	switch s.mode.Load() {
	case modeFail503:
		w.WriteHeader(http.StatusServiceUnavailable)
	case modeBlackHole:
		<-r.Context().Done()
	case modeResetBody:
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, strings.Repeat("x", 50))
		w.(http.Flusher).Flush()
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	case modeSlow:
		select {
		case <-time.After(slowDelay):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, s.name)
	default:
		io.WriteString(w, s.name)
	}
}

// kill closes the listener and every connection, as a crashed process.
func (s *chaosServer) kill() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart listens again on the same port.
func (s *chaosServer) restart() {
	var lis net.Listener
	var err error
	for range 50 {
		if lis, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(s.t, err)
	s.start(lis)
}

// chaosMesh builds a mesh over servers behind the ServiceEntry host "api".
func chaosMesh(t *testing.T, servers []*chaosServer, dr, vs string, opts ...switchyard.Option) (*switchyard.Mesh, *http.Client) {
	t.Helper()
	m, err := switchyard.New(chaosConfig(t, servers, dr, vs), opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		// Closing the mesh releases every connection: the servers see
		// them all close (no connection leak).
		m.Close()
		require.Eventually(t, func() bool {
			for _, s := range servers {
				if s.open.Load() != 0 {
					return false
				}
			}
			return true
		}, 5*time.Second, 5*time.Millisecond, "connections left open after Close")
	})
	return m, &http.Client{Transport: m.Transport(nil)}
}

// chaosConfig is the configuration of chaosMesh.
func chaosConfig(t *testing.T, servers []*chaosServer, dr, vs string) switchyard.Config {
	t.Helper()
	var eps strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&eps, "  - {address: 127.0.0.1, ports: {http: %s}}\n", s.port())
	}
	cfg, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints:
` + eps.String() + `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  trafficPolicy:
` + dr + `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api]
  http:
` + vs))
	require.NoError(t, err)
	return cfg
}

// outcome of one request of a load.
type outcome struct {
	at     time.Duration // since the load started
	took   time.Duration
	status int   // 0 when err is set
	err    error // a clear error: transport, context or body
}

// load runs n requests from c workers, each with its own deadline, and
// accounts for every one.
type loadResult struct {
	outcomes []outcome
	elapsed  time.Duration
}

func runLoad(t *testing.T, client *http.Client, n, workers int, deadline time.Duration, body func() io.Reader, during func(i int)) loadResult {
	t.Helper()
	out := make([]outcome, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if during != nil {
					during(i)
				}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				var rb io.Reader
				if body != nil {
					rb = body()
				}
				method := http.MethodGet
				if rb != nil {
					method = http.MethodPost
				}
				req, _ := http.NewRequestWithContext(ctx, method, "http://api/", rb)
				req.Header.Set(requestHeader, strconv.Itoa(i))
				t0 := time.Now()
				o := outcome{at: t0.Sub(start)}
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					o.status = resp.StatusCode
				}
				o.err, o.took = err, time.Since(t0)
				cancel()
				out[i] = o
			}
		})
	}
	wg.Wait()
	return loadResult{outcomes: out, elapsed: time.Since(start)}
}

// summary counts outcomes from a point in the load on.
type summary struct {
	total, ok, status5xx, errs int
	maxTook, p99               time.Duration
}

func (r loadResult) from(at time.Duration) summary {
	var s summary
	var took []time.Duration
	for _, o := range r.outcomes {
		if o.at < at {
			continue
		}
		s.total++
		took = append(took, o.took)
		s.maxTook = max(s.maxTook, o.took)
		switch {
		case o.err != nil:
			s.errs++
		case o.status >= 500:
			s.status5xx++
		case o.status == 200:
			s.ok++
		}
	}
	if len(took) > 0 {
		slices.Sort(took)
		s.p99 = took[(len(took)*99+99)/100-1] // the nearest rank
	}
	return s
}

func (s summary) successRate() float64 { return float64(s.ok) / float64(max(s.total, 1)) }

func (s summary) String() string {
	return fmt.Sprintf("%d requests: %d ok (%.2f%%), %d 5xx, %d errors; p99 %v, max %v",
		s.total, s.ok, 100*s.successRate(), s.status5xx, s.errs, s.p99.Round(time.Millisecond), s.maxTook.Round(time.Millisecond))
}

// clearError reports whether err says what happened: a deadline, a refused
// or reset connection, or an unexpected end of body.
func clearError(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF")
}
