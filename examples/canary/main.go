// Command canary routes thousands of requests through a switchyard mesh on
// in-memory backends: a 90/10 split of reviews v1/v2, plus every request of
// the user jason sent to v2 by a header match (its own mesh.yaml). It
// prints where the traffic went against the configured weights, with the
// binomial bounds a correct split stays within (alpha = 1e-6), and exits
// non-zero if it did not.
//
//	go run ./examples/canary
//	go run ./examples/canary -n 100000
//
// It demonstrates the split on its own configuration; it does not check
// yours. For your manifests, the switchyard command does:
//
//	switchyard validate my-mesh.yaml
//	switchyard explain -f my-mesh.yaml GET http://reviews:9080/ -H 'end-user: jason'
//	switchyard serve -f my-mesh.yaml   # then HTTP_PROXY=http://127.0.0.1:15001 curl ...
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/stat"
	"github.com/switchyard-go/switchyard/meshtest"
)

// meshYAML is the configuration the example exercises; the backends below
// and the expected split are written for it.
//
//go:embed mesh.yaml
var meshYAML []byte

func main() {
	n := flag.Int("n", 20_000, "requests from anonymous users")
	jason := flag.Int("jason", 1_000, "requests from the user jason")
	workers := flag.Int("c", 8, "concurrent clients")
	flag.Parse()
	if err := run(*n, *jason, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "canary:", err)
		os.Exit(1)
	}
}

func run(n, jason, workers int) error {
	cfg, err := switchyard.Parse(meshYAML)
	if err != nil {
		return err
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		return err
	}
	defer mesh.Close()

	// In-memory backends stand in for the endpoints: each answers with
	// its version.
	net := meshtest.NewNetwork()
	net.Add("10.0.0.1:9080", "v1", nil)
	net.Add("10.0.0.2:9080", "v1", nil)
	net.Add("10.0.0.3:9080", "v2", nil)
	client := &http.Client{Transport: mesh.Transport(net.Transport())}

	start := time.Now()
	anon, err := load(client, n, workers, "")
	if err != nil {
		return err
	}
	canary, err := load(client, jason, workers, "jason")
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	fmt.Printf("switchyard canary: reviews split 90%% v1 / 10%% v2, end-user: jason -> v2\n")
	fmt.Printf("%d requests in %v through %d concurrent clients, in-process, no sidecar\n\n", n+jason, elapsed.Round(time.Millisecond), workers)
	fmt.Printf("%-16s %9s %16s %16s %12s  %s\n", "traffic", "requests", "v1", "v2", "configured", "binomial bounds for v2 (alpha 1e-6)")
	ok1 := row("anonymous users", anon, 0.10)
	ok2 := row("end-user: jason", canary, 1.0)
	if !ok1 || !ok2 {
		return fmt.Errorf("traffic fell outside the configured split")
	}
	fmt.Println("\nevery count is within its bounds: the split follows the configured weights")
	return nil
}

type counts struct{ v1, v2, other atomic.Int64 }

// load sends n requests over workers goroutines and counts the versions
// that answered.
func load(client *http.Client, n, workers int, user string) (*counts, error) {
	var c counts
	var next atomic.Int64
	var g errgroup.Group
	for range workers {
		g.Go(func() error {
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/reviews/1", nil)
				if user != "" {
					req.Header.Set("End-User", user)
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return err
				}
				switch strings.TrimSpace(string(body)) {
				case "v1":
					c.v1.Add(1)
				case "v2":
					c.v2.Add(1)
				default:
					c.other.Add(1)
				}
			}
			return nil
		})
	}
	return &c, g.Wait()
}

func row(name string, c *counts, p2 float64) bool {
	v1, v2 := c.v1.Load(), c.v2.Load()
	total := int(v1 + v2 + c.other.Load())
	lo, hi := stat.BinomialInterval(total, p2)
	ok := int(v2) >= lo && int(v2) <= hi && c.other.Load() == 0
	verdict := "ok"
	if !ok {
		verdict = "OUTSIDE"
	}
	fmt.Printf("%-16s %9d %8d %6.2f%% %8d %6.2f%% %5.0f/%-6.0f  %d..%d %s\n",
		name, total, v1, pct(v1, total), v2, pct(v2, total), 100*(1-p2), 100*p2, lo, hi, verdict)
	return ok
}

func pct(k int64, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(k) / float64(n)
}
