// Command latency simulates one endpoint turning slow and prints the
// client's latency percentiles under each balancer: Istio's ROUND_ROBIN and
// LEAST_REQUEST, and switchyard's Peak-EWMA (latency × in-flight, selected
// from Go). Four in-memory endpoints answer in 2ms; a third of the way in,
// one of them slows to 40ms. Each balancer gets the same load: 3,000
// requests from 16 concurrent clients.
//
//	go run ./examples/latency
package main

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/subset"
)

const (
	requests = 3000
	clients  = 16
	fast     = 2 * time.Millisecond
	slow     = 40 * time.Millisecond
)

func main() {
	fmt.Printf("one of 4 endpoints turns from %v to %v after %d of %d requests; %d concurrent clients\n", fast, slow, requests/3, requests, clients)
	fmt.Printf("client latency of the %d requests after the slowdown:\n\n", requests-requests/3)
	fmt.Printf("%-14s %9s %9s %9s %16s\n", "balancer", "p50", "p99", "max", "to slow endpoint")
	for _, lb := range []struct {
		name     string
		settings *balancer.Settings
	}{
		{"ROUND_ROBIN", &balancer.Settings{Simple: balancer.SimpleRoundRobin}},
		{"LEAST_REQUEST", &balancer.Settings{Simple: balancer.SimpleLeastRequest}},
		{"PEAK_EWMA", &balancer.Settings{PeakEWMA: &balancer.PeakEWMA{Decay: time.Second}}},
	} {
		p50, p99, worst, share, err := run(lb.settings)
		if err != nil {
			fmt.Fprintln(os.Stderr, "latency:", err)
			os.Exit(1)
		}
		fmt.Printf("%-14s %9v %9v %9v %15.1f%%\n", lb.name, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), worst.Round(10*time.Microsecond), 100*share)
	}
}

func run(lb *balancer.Settings) (p50, p99, worst time.Duration, slowShare float64, err error) {
	net := meshtest.NewNetwork()
	var backends []*meshtest.Backend
	for i := range 4 {
		backends = append(backends, net.Add(fmt.Sprintf("10.0.0.%d:80", i+1), fmt.Sprint("e", i), nil).Delay(fast))
	}
	mesh, err := switchyard.New(switchyard.Config{
		ServiceEntries:   []subset.ServiceEntry{meshtest.ServiceEntry("api", 80, backends...)},
		DestinationRules: []subset.DestinationRule{{Name: "api", Host: "api", TrafficPolicy: &subset.TrafficPolicy{LoadBalancer: lb}}},
	})
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer mesh.Close()
	client := &http.Client{Transport: mesh.Transport(net.Transport())}

	latencies := make([]time.Duration, requests)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	var after int64
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= requests {
					return
				}
				if i == requests/3 {
					backends[3].Delay(slow)
					atomic.StoreInt64(&after, int64(backends[3].Count()))
				}
				start := time.Now()
				resp, err := client.Get("http://api/")
				if err != nil {
					failed.Add(1)
					continue
				}
				resp.Body.Close()
				latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		return 0, 0, 0, 0, fmt.Errorf("%d requests failed", failed.Load())
	}
	tail := latencies[requests/3:]
	slices.Sort(tail)
	toSlow := float64(int64(backends[3].Count())-atomic.LoadInt64(&after)) / float64(len(tail))
	return tail[len(tail)/2], tail[len(tail)*99/100], tail[len(tail)-1], toSlow, nil
}
