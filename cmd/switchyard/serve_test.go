package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lines is a writer that hands each complete line to whoever waits for
// one.
type lines struct {
	mu      sync.Mutex
	cond    *sync.Cond
	partial string
	all     []string
}

func newLines() *lines {
	l := &lines{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial += string(p)
	for {
		i := strings.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.all = append(l.all, l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	l.cond.Broadcast()
	return len(p), nil
}

// await waits for the next line, after the first `from`, that matches re,
// and returns its index and submatches; it fails if done closes first.
func (l *lines) await(t *testing.T, from int, re *regexp.Regexp, done <-chan struct{}) (int, []string) {
	t.Helper()
	stop := context.AfterFunc(contextOf(done), func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from; ; i++ {
		for i >= len(l.all) {
			select {
			case <-done:
				require.FailNow(t, "the command ended before printing a line that matches "+re.String(), strings.Join(l.all, "\n"))
			default:
			}
			l.cond.Wait()
		}
		if m := re.FindStringSubmatch(l.all[i]); m != nil {
			return i + 1, m
		}
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n") + "\n" + l.partial
}

// contextOf is a context that ends when done closes.
func contextOf(done <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-done
		cancel()
	}()
	return ctx
}

// backend is a loopback HTTP server that answers with its name.
func backend(t *testing.T, name string) (port string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s %s", name, r.Host, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	return port
}

func serveMesh(v1, v2, subset, extra string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: %s}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: %s}}]
%s`, v1, v2, subset, extra)
}

func TestServeProxiesThroughTheMeshAndReloads(t *testing.T) {
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	save := func(data string) {
		require.NoError(t, os.WriteFile(file+".tmp", []byte(data), 0o644))
		require.NoError(t, os.Rename(file+".tmp", file))
	}
	save(serveMesh(v1, v2, "v1", ""))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := newLines()
	done := make(chan struct{})
	var code int
	var stdout strings.Builder
	go func() {
		defer close(done)
		code = run(ctx, []string{"serve", "-f", file, "--admin", "127.0.0.1:0", "--proxy", "127.0.0.1:0", "--debounce", "1ms"}, nil, &stdout, stderr)
	}()
	at, m := stderr.await(t, 0, regexp.MustCompile(`admin page at http://(\S+)/`), done)
	admin := m[1]
	at, m = stderr.await(t, at, regexp.MustCompile(`forward proxy at (\S+):`), done)
	proxy := m[1]

	proxyURL, err := url.Parse("http://" + proxy)
	require.NoError(t, err)
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(c *http.Client, u string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	// A request through the proxy is routed by the mesh, Host kept.
	status, body := get(client, "http://reviews:9080/reviews/1")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "v1 reviews:9080 /reviews/1", body)

	// The admin page.
	direct := &http.Client{}
	status, body = get(direct, "http://"+admin+"/state")
	require.Equal(t, http.StatusOK, status)
	var state struct {
		Routes []struct{ Name string } `json:"routes"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &state))
	require.Len(t, state.Routes, 1)
	assert.Equal(t, "reviews", state.Routes[0].Name)

	// An edit is applied; a broken one is rejected and the last good
	// configuration keeps serving; the fix is applied.
	save(serveMesh(v1, v2, "v2", ""))
	at, _ = stderr.await(t, at, regexp.MustCompile(`reloaded: 1 ServiceEntry`), done)
	_, body = get(client, "http://reviews:9080/")
	assert.Equal(t, "v2 reviews:9080 /", body)

	save(serveMesh(v1, v2, "v1", "    timout: 1s\n"))
	at, _ = stderr.await(t, at, regexp.MustCompile(`reload rejected; the running configuration stays`), done)
	_, body = get(client, "http://reviews:9080/")
	assert.Equal(t, "v2 reviews:9080 /", body)
	status, body = get(direct, "http://"+admin+"/updates")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"applied": false`)
	assert.Contains(t, body, `timout: unknown field`)

	save(serveMesh(v1, v2, "v1", ""))
	stderr.await(t, at, regexp.MustCompile(`reloaded: `), done)
	_, body = get(client, "http://reviews:9080/")
	assert.Equal(t, "v1 reviews:9080 /", body)

	// A host the configuration does not know passes through.
	_, body = get(client, "http://127.0.0.1:"+v2+"/direct")
	assert.Equal(t, "v2 127.0.0.1:"+v2+" /direct", body)

	// What the proxy refuses, and why.
	status, body = get(direct, "http://"+proxy+"/reviews/1")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "send requests in absolute form")
	status, body = get(client, "http://reviews:9080/", "Via", "1.1 switchyard")
	assert.Equal(t, http.StatusLoopDetected, status)
	assert.Contains(t, body, "came back to this proxy")
	conn, err := net.Dial("tcp", proxy)
	require.NoError(t, err)
	fmt.Fprintf(conn, "CONNECT reviews:9080 HTTP/1.1\r\nHost: reviews:9080\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Contains(t, string(b), "CONNECT is not supported")

	tr.CloseIdleConnections()
	cancel()
	<-done
	assert.Equal(t, 0, code)
	assert.Empty(t, stdout.String())

	log := stderr.String()
	log = strings.ReplaceAll(log, admin, "ADMIN")
	log = strings.ReplaceAll(log, proxy, "PROXY")
	log = strings.ReplaceAll(log, dir, "DIR")
	checkGolden(t, "serve-session", log)
}

func TestServeRefusesWhatItCannotServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := ln.Addr().String()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no files", []string{"serve"}, 2, "give the manifests with -f FILES"},
		{"stdin", []string{"serve", "-f", "-"}, 2, "cannot read standard input"},
		{"invalid", []string{"serve", "-f", "testdata/invalid/routes.yaml", "--admin", "127.0.0.1:0", "--proxy", "127.0.0.1:0"}, 1, "the manifests are invalid (3 errors)"},
		{"address in use", []string{"serve", "-f", "testdata/bookinfo", "--admin", busy, "--proxy", "127.0.0.1:0"}, 2, "--admin " + busy + ": listen tcp " + busy},
		{"arguments", []string{"serve", "-f", "testdata/bookinfo", "extra"}, 2, `unknown command "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCommand(t, tc.args, "")
			assert.Equal(t, tc.code, code, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}
