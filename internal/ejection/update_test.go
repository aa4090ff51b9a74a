package ejection_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/outlier"
)

// replaced is a detector and the one an Update put in its place, as a
// registry's Activate leaves them: the old one stopped but still told of
// the outcomes of requests in flight on the old snapshot.
type replaced struct {
	clk                *meshtest.Clock
	old, next          *ejection.Detector
	oldChange, changes atomic.Int32
	mu                 sync.Mutex
	events             []ejection.Event
}

func replace(t *testing.T, cfg *outlier.Config, n int) (*replaced, []*balancer.Endpoint) {
	r := &replaced{clk: meshtest.NewClock(time.Unix(0, 0))}
	eps := endpoints(n)
	onEvent := func(e ejection.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}
	r.old = ejection.NewDetector(cfg, eps, ejection.DetectorOptions{Clock: r.clk, OnChange: func() { r.oldChange.Add(1) }, OnEvent: onEvent})
	r.old.Start()
	r.next = ejection.NewDetector(cfg, eps, ejection.DetectorOptions{Clock: r.clk, OnChange: func() { r.changes.Add(1) }, OnEvent: onEvent, Previous: r.old})
	r.old.Stop()
	r.next.Start()
	t.Cleanup(r.next.Stop)
	return r, eps
}

func (r *replaced) ejections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Ejected {
			n++
		}
	}
	return n
}

// An endpoint carried across Updates is one endpoint: the failures of
// requests still in flight on old snapshots and of new ones count together,
// under one lock, while the newest detector sweeps. Run under -race: the
// detectors share per-endpoint state, and the race detector reports any
// access that one lock does not order.
func TestCarriedOverEndpointStateIsSharedSafelyAcrossUpdates(t *testing.T) {
	cfg := &outlier.Config{Interval: time.Millisecond, BaseEjectionTime: time.Millisecond, MaxEjectionPercent: 100}
	eps := endpoints(3)
	var ejections atomic.Int32
	opts := ejection.DetectorOptions{OnEvent: func(e ejection.Event) {
		if e.Ejected {
			ejections.Add(1)
		}
	}}
	cur := ejection.NewDetector(cfg, eps, opts)
	cur.Start()
	var live atomic.Pointer[ejection.Detector]
	live.Store(cur)
	var wg sync.WaitGroup
	// Requests: each keeps the detector of the snapshot it loaded for a
	// while, as a request keeps its snapshot across its attempts.
	for w := range 2 {
		wg.Go(func() {
			var d *ejection.Detector
			for i := range 4000 {
				if i%40 == 0 {
					d = live.Load()
				}
				d.Record(eps[(i+w)%len(eps)], ejection.Outcome{Status: 503})
				if i%5 == 0 {
					d.Available()
				}
			}
		})
	}
	// Updates: each new detector carries the endpoints over from the last.
	wg.Go(func() {
		for range 100 {
			opts.Previous = cur
			next := ejection.NewDetector(cfg, eps, opts)
			cur.Stop()
			next.Start()
			live.Store(next)
			cur = next
			time.Sleep(100 * time.Microsecond)
		}
	})
	wg.Wait()
	cur.Stop()
	assert.NotZero(t, ejections.Load())
}

// A request in flight on the old snapshot that ejects a carried-over
// endpoint ejects it for the new snapshot too: the new cluster is told,
// rebuilds its picker without it, and returns it on its own sweep.
func TestEjectionOnTheOldSnapshotReachesTheNewDetector(t *testing.T) {
	r, eps := replace(t, &outlier.Config{Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 100}, 3)
	for range 5 {
		r.old.Record(eps[0], ejection.Outcome{Status: 500})
	}
	require.True(t, r.next.Ejected(eps[0]))
	assert.EqualValues(t, 1, r.changes.Load(), "the new cluster rebuilds its picker")
	assert.Len(t, r.next.Available(), 2)
	assert.Equal(t, 1, r.ejections())

	for range 5 {
		r.next.Record(eps[0], ejection.Outcome{Status: 500})
	}
	assert.Equal(t, 1, r.ejections(), "an ejected endpoint is not ejected again")

	r.clk.Advance(30 * time.Second)
	assert.False(t, r.next.Ejected(eps[0]), "the new detector's sweep returns it")
	assert.EqualValues(t, 2, r.changes.Load())
	assert.Len(t, r.next.Available(), 3)

	for range 5 {
		r.old.Record(eps[0], ejection.Outcome{Status: 500})
	}
	r.mu.Lock()
	last := r.events[len(r.events)-1]
	r.mu.Unlock()
	assert.Equal(t, 60*time.Second, last.Duration, "the ejection multiplier is the endpoint's, whichever detector ejects")
}

// An ejection on the old snapshot after the new detector was built but
// before it started is not lost: Start brings the new cluster up to date.
func TestEjectionBeforeTheNewDetectorStartsIsSeenAtStart(t *testing.T) {
	clk := meshtest.NewClock(time.Unix(0, 0))
	cfg := &outlier.Config{MaxEjectionPercent: 100}
	eps := endpoints(2)
	old := ejection.NewDetector(cfg, eps, ejection.DetectorOptions{Clock: clk})
	old.Start()
	var changes atomic.Int32
	next := ejection.NewDetector(cfg, eps, ejection.DetectorOptions{Clock: clk, OnChange: func() { changes.Add(1) }, Previous: old})
	assert.Len(t, next.Available(), 2, "the new cluster builds its picker")
	for range 5 {
		old.Record(eps[1], ejection.Outcome{Status: 500})
	}
	old.Stop()
	next.Start()
	defer next.Stop()
	assert.EqualValues(t, 1, changes.Load(), "the picker built before the ejection is rebuilt")
	assert.Len(t, next.Available(), 1)
}
