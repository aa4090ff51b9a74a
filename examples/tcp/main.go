// Command tcp routes TCP and TLS connections through a switchyard mesh on
// loopback, with no setup: it starts two echo servers (v1 and v2 of
// Istio's tcp-echo sample) and an HTTPS server, then
//
//   - makes n connections to tcp-echo:9000 with Mesh.DialContext, which an
//     80/20 tcp route splits between v1 and v2, and checks the split
//     against the binomial bounds a correct one stays within (alpha = 1e-6);
//   - fetches https://secure.example.com/ with net/http over the mesh's
//     dialer: a tls route picks the server from the ClientHello's server
//     name, and TLS runs end to end between the client and the server.
//
// It exits non-zero if anything went wrong.
//
//	go run ./examples/tcp
//	go run ./examples/tcp -n 20000
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/stat"
)

//go:embed mesh.yaml
var meshYAML string

func main() {
	n := flag.Int("n", 2_000, "connections to tcp-echo")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *n); err != nil {
		fmt.Fprintln(os.Stderr, "tcp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int) error {
	v1, err := startEcho("one")
	if err != nil {
		return err
	}
	defer v1.Close()
	v2, err := startEcho("two")
	if err != nil {
		return err
	}
	defer v2.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over TLS to %s", r.TLS.ServerName)
	}))
	defer secure.Close()

	yaml := strings.NewReplacer("V1_PORT", port(v1.Addr()), "V2_PORT", port(v2.Addr()), "TLS_PORT", port(secure.Listener.Addr())).Replace(meshYAML)
	cfg, err := switchyard.Parse([]byte(yaml))
	if err != nil {
		return err
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		return err
	}
	defer mesh.Close()

	// TCP: an 80/20 split, one routing decision per connection.
	counts := map[string]int{}
	for range n {
		who, err := echoOnce(ctx, mesh)
		if err != nil {
			return err
		}
		counts[who]++
	}
	lo, hi := stat.BinomialInterval(n, 0.2)
	fmt.Printf("tcp-echo:9000, %d connections: v1 %d, v2 %d (v2 expected in [%d, %d])\n", n, counts["one"], counts["two"], lo, hi)
	if counts["one"]+counts["two"] != n || counts["two"] < lo || counts["two"] > hi {
		return errors.New("the split is off")
	}

	// TLS: routed by SNI, not terminated.
	// httptest's certificate does not name secure.example.com; what this
	// shows is the routing, so the client skips verifying it.
	tr := &http.Transport{DialContext: mesh.DialContext, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://secure.example.com/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	fmt.Printf("https://secure.example.com/: %s\n", body)
	if string(body) != "hello over TLS to secure.example.com" {
		return errors.New("the TLS route is off")
	}
	return nil
}

// echoOnce makes one connection through the mesh, sends a line and
// returns the name of the server that echoed it.
func echoOnce(ctx context.Context, mesh *switchyard.Mesh) (string, error) {
	c, err := mesh.DialContext(ctx, "tcp", "tcp-echo:9000")
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.Fields(line)[0], nil
}

// echoServer answers each line with its name and the line, as Istio's
// tcp-echo server.
type echoServer struct {
	net.Listener
	wg sync.WaitGroup
}

func startEcho(name string) (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &echoServer{Listener: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, name+" "+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return s, nil
}

// Close stops accepting and waits for the connections being served.
func (s *echoServer) Close() error {
	err := s.Listener.Close()
	s.wg.Wait()
	return err
}

func port(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }
