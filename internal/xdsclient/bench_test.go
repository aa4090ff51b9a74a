package xdsclient_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// BenchmarkPushToCallback: time from go-control-plane's SetSnapshot to the
// watcher's ResourceChanged, on loopback TCP, for an EDS change of one
// cluster of 10 endpoints. Run with -benchtime=100x for 100 pushes; p50 and
// p99 are reported.
func BenchmarkPushToCallback(b *testing.B) {
	cp := startControlPlane(b)
	version := 0
	push := func() {
		version++
		cp.set(strconv.Itoa(version), map[resourcev3.Type][]types.Resource{
			resourcev3.EndpointType: {endpoints("reviews-v1", 10, uint32(10000+version), 1)},
		})
	}
	push()
	c := newClient(b, cp, nil)
	w := newRecorder(b)
	watch(b, c, xdsclient.EndpointTypeURL, "reviews-v1", w)
	w.nextKind("changed")

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		push()
		e := w.nextKind("changed")
		lat = append(lat, e.at.Sub(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}
