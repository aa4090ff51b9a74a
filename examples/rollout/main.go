// Command rollout shows in-process progressive delivery on in-memory
// backends under generated load: reviews v2 is promoted step by step to
// 100%, then v3 — which fails one request in four — is rolled back at its
// first step, each decision printed with the figures the mesh observed.
// Intervals are 300ms so that it runs in a few seconds.
//
//	go run ./examples/rollout
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/rollout"
)

const manifests = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
  - {address: 10.0.0.3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: split
    retries: {attempts: 0}
    route: [{destination: {host: reviews, subset: v1}}]
`

var start = time.Now()

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rollout:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := switchyard.Parse([]byte(manifests))
	if err != nil {
		return err
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		return err
	}
	defer mesh.Close()
	net := meshtest.NewNetwork()
	net.Add("10.0.0.1:9080", "v1", nil).Delay(time.Millisecond)
	net.Add("10.0.0.2:9080", "v2", nil).Delay(time.Millisecond)
	var n3 atomic.Int64
	net.Add("10.0.0.3:9080", "v3", nil).Delay(time.Millisecond).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n3.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	client := &http.Client{Transport: mesh.Transport(net.Transport())}

	// Steady load from 4 clients until the rollouts are done.
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if resp, err := client.Get("http://reviews:9080/reviews/1"); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	defer func() { stopLoad(); wg.Wait() }()

	for _, rc := range []struct{ stable, canary string }{{"v1", "v2"}, {"v2", "v3"}} {
		fmt.Printf("\n== rollout of %s over %s: steps 10%% → 25%% → 50%% → promote, 300ms each\n", rc.canary, rc.stable)
		done := make(chan struct{})
		c, err := rollout.New(mesh, rollout.Config{
			VirtualService: "reviews", Route: "split", Stable: rc.stable, Canary: rc.canary,
			StepWeights: []int32{10, 25, 50}, Interval: 300 * time.Millisecond,
			Analysis: rollout.Analysis{MinRequests: 20, MaxErrorRate: 2, MaxLatencyRatio: 5},
		}, rollout.OnEvent(func(e rollout.Event) {
			fmt.Printf("[%6.3fs] %s\n", time.Since(start).Seconds(), e)
			if e.Kind == rollout.EventPromoted || e.Kind == rollout.EventRolledBack {
				close(done)
			}
		}))
		if err != nil {
			return err
		}
		if err := c.Start(); err != nil {
			return err
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.Stop()
			return fmt.Errorf("the rollout of %s did not finish", rc.canary)
		}
		c.Stop()
	}
	final := mesh.Config().VirtualServices[0].HTTP[0].Route
	fmt.Printf("\nfinal route: %s %d%%, %s %d%%\n", final[0].Destination.Subset, final[0].Weight, final[1].Destination.Subset, final[1].Weight)
	return nil
}
