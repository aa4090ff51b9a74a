package switchyard_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

// The policy the chaos tests run under unless they say otherwise: retries on
// every failure, outlier detection that ejects after 3 consecutive errors.
const (
	chaosDR = `    outlierDetection: {consecutive5xxErrors: 3, interval: 100ms, baseEjectionTime: 1s, maxEjectionPercent: 50}`
	chaosVS = `  - retries: {attempts: 2, perTryTimeout: 300ms, retryOn: "5xx,reset,connect-failure"}
    route: [{destination: {host: api}}]`
)

// accountEveryRequest checks that every request ended in a response or a
// clear error, and none far past its deadline. The margin is the deadline
// again: past a deadline, a request waits only for the scheduler, which a
// loaded machine under -race stretches to hundreds of milliseconds; one that
// ignored its deadline would not end at all.
func accountEveryRequest(t *testing.T, r loadResult, deadline time.Duration) {
	t.Helper()
	for i, o := range r.outcomes {
		if o.err != nil {
			require.True(t, clearError(o.err), "request %d ended in an unclear error: %v", i, o.err)
		} else {
			require.NotZero(t, o.status, "request %d has neither a response nor an error", i)
		}
		require.Less(t, o.took, 2*deadline, "request %d outlasted its deadline", i)
	}
}

// An endpoint killed mid-load and restarted: retries and outlier detection
// keep success at 99.9% or more after the first ejection.
func TestChaosEndpointKilledAndRestarted(t *testing.T) {
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b"), newChaosServer(t, "c")}
	_, client := chaosMesh(t, servers, chaosDR, chaosVS)
	const n = 3000
	r := runLoad(t, client, n, 16, 3*time.Second, nil, func(i int) {
		switch i {
		case n / 3:
			servers[1].kill()
		case 2 * n / 3:
			servers[1].restart()
		}
	})
	accountEveryRequest(t, r, 3*time.Second)
	var killedAt time.Duration
	for _, o := range r.outcomes[n/3:] {
		killedAt = o.at
		break
	}
	s := r.from(killedAt)
	t.Logf("after the kill: %v", s)
	assert.GreaterOrEqual(t, s.successRate(), 0.999, "retries + ejection keep success ≥ 99.9%%")
}

// A black-holed endpoint (accepts, never answers) never holds a request
// past its per-try timeout: the retry goes elsewhere and rescues it. No
// wall-clock bound: a request left waiting on the black hole would reach its
// 3 s deadline and fail, and one sent there twice would show in the black
// hole's log; what time says is only that no per-try timeout fires early.
// The per-try timeout is chaosVS's policy with 1 s rather than 300 ms: a
// healthy endpoint's answer must never reach it, and under -race on one
// loaded core it came close to 300 ms.
func TestChaosBlackHoledEndpoint(t *testing.T) {
	const perTry = time.Second
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b"), newChaosServer(t, "c")}
	servers[2].mode.Store(modeBlackHole)
	_, client := chaosMesh(t, servers, chaosDR, `  - retries: {attempts: 2, perTryTimeout: 1s, retryOn: "5xx,reset,connect-failure"}
    route: [{destination: {host: api}}]`)
	r := runLoad(t, client, 600, 16, 3*time.Second, nil, nil)
	accountEveryRequest(t, r, 3*time.Second)
	s := r.from(0)
	t.Logf("black hole: %v", s)
	assert.Equal(t, s.total, s.ok, "every request is rescued by a retry")
	held := servers[2].received()
	assert.NotEmpty(t, held, "the black hole took some requests")
	for id, n := range held {
		assert.Equal(t, 1, n, "request %s reached the black hole more than once", id)
		i, _ := strconv.Atoi(id)
		assert.GreaterOrEqual(t, r.outcomes[i].took, perTry, "request %s was rescued only once its per-try timeout fired", id)
	}
}

// Connections reset mid-body end in a clear error for the caller, never a
// hang: the response headers had arrived, so the body read fails.
func TestChaosResetMidBody(t *testing.T) {
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b")}
	servers[1].mode.Store(modeResetBody)
	_, client := chaosMesh(t, servers, `    loadBalancer: {simple: ROUND_ROBIN}`, `  - route: [{destination: {host: api}}]`)
	r := runLoad(t, client, 400, 8, 3*time.Second, nil, nil)
	accountEveryRequest(t, r, 3*time.Second)
	s := r.from(0)
	t.Logf("reset mid-body: %v", s)
	assert.Equal(t, 200, s.ok, "the healthy endpoint's half")
	assert.Equal(t, 200, s.errs, "the other half end in a body error")
}

// A 5xx storm on one endpoint: no retry storm — every request makes at most
// 1+attempts upstream requests, and ejection stops the storm's traffic.
func TestChaos5xxStorm(t *testing.T) {
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b"), newChaosServer(t, "c")}
	servers[0].mode.Store(modeFail503)
	_, client := chaosMesh(t, servers, chaosDR, chaosVS)
	const n = 1500
	r := runLoad(t, client, n, 16, 3*time.Second, nil, nil)
	accountEveryRequest(t, r, 3*time.Second)
	upstream := servers[0].hits.Load() + servers[1].hits.Load() + servers[2].hits.Load()
	s := r.from(0)
	t.Logf("5xx storm: %v; %d upstream requests (%.3f per request), %d to the failing endpoint", s, upstream, float64(upstream)/n, servers[0].hits.Load())
	assert.LessOrEqual(t, upstream, int64(3*n), "attempts per request are bounded by the policy")
	assert.Less(t, servers[0].hits.Load(), int64(n/10), "ejection keeps the storm away")
	assert.Equal(t, n, s.ok)
}

// Flapping health: an endpoint alternates every 50ms between failing and
// healthy; every request is accounted for and nearly all succeed.
func TestChaosFlappingEndpoint(t *testing.T) {
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b"), newChaosServer(t, "c")}
	_, client := chaosMesh(t, servers, chaosDR, chaosVS)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				servers[1].mode.Store(int32(i%2) * modeFail503)
			}
		}
	}()
	r := runLoad(t, client, 2000, 16, 3*time.Second, nil, nil)
	close(stop)
	<-done
	accountEveryRequest(t, r, 3*time.Second)
	s := r.from(0)
	t.Logf("flapping: %v", s)
	assert.GreaterOrEqual(t, s.successRate(), 0.999)
}

// Slow endpoints: a route timeout cuts every request with a 504, never
// before the timeout and without waiting for the endpoint. The bounds come
// from the configuration, not from the machine's speed: the timeout (50 ms)
// below, the endpoint's answer (slowDelay, 2 s) above, a request that was not
// cut would be answered 200 by the endpoint at slowDelay.
func TestChaosSlowEndpoints(t *testing.T) {
	const timeout = 50 * time.Millisecond
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b")}
	servers[0].mode.Store(modeSlow)
	servers[1].mode.Store(modeSlow)
	_, client := chaosMesh(t, servers, `    loadBalancer: {simple: ROUND_ROBIN}`, `  - timeout: 50ms
    route: [{destination: {host: api}}]`)
	r := runLoad(t, client, 200, 16, 3*time.Second, nil, nil)
	accountEveryRequest(t, r, 3*time.Second)
	s := r.from(0)
	t.Logf("slow: %v", s)
	for i, o := range r.outcomes {
		require.Equal(t, http.StatusGatewayTimeout, o.status, "request %d is cut with 504", i)
		require.GreaterOrEqual(t, o.took, timeout, "request %d: never before the route timeout", i)
		require.Less(t, o.took, slowDelay, "request %d: never waiting for the endpoint", i)
	}
}

// A configuration Update every few milliseconds under load loses nothing.
func TestChaosUpdateUnderLoad(t *testing.T) {
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b"), newChaosServer(t, "c")}
	m, client := chaosMesh(t, servers, chaosDR, chaosVS)
	cfgs := []switchyard.Config{
		chaosConfig(t, servers, chaosDR, chaosVS),
		chaosConfig(t, servers, `    loadBalancer: {simple: ROUND_ROBIN}`, chaosVS),
	}
	// Exactly 30 updates, 3 ms apart, while the load runs in rounds until
	// they are done: the assertion does not depend on the machine's speed.
	const wantUpdates = 30
	var updates atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range wantUpdates {
			time.Sleep(3 * time.Millisecond)
			if err := m.Update(cfgs[i%2]); err != nil {
				t.Errorf("update %d: %v", i, err)
				return
			}
			updates.Add(1)
		}
	}()
	total, ok := 0, 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		r := runLoad(t, client, 300, 16, 3*time.Second, nil, nil)
		accountEveryRequest(t, r, 3*time.Second)
		s := r.from(0)
		total, ok = total+s.total, ok+s.ok
	}
	t.Logf("%d updates under load: %d requests, %d ok", updates.Load(), total, ok)
	assert.Equal(t, total, ok, "no request lost or failed across updates")
	assert.Equal(t, int64(wantUpdates), updates.Load())
}

// 10 MiB request bodies: the mesh buffers at most its body limit for retries
// and mirrors; larger bodies stream through once, so memory stays bounded.
// Retries are armed without chaosVS's 300 ms per-try timeout: uploading
// 10 MiB under the race detector on a busy machine can take longer, and
// this test is about memory, not deadlines.
func TestChaosLargeBodiesStayBounded(t *testing.T) {
	servers := []*chaosServer{newChaosServer(t, "a"), newChaosServer(t, "b")}
	_, client := chaosMesh(t, servers, `    loadBalancer: {simple: ROUND_ROBIN}`, `  - retries: {attempts: 2, retryOn: "5xx,reset,connect-failure"}
    route: [{destination: {host: api}}]
    mirror: {host: api}`)
	const size, n = 10 << 20, 24
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	payload := bytes.Repeat([]byte("x"), size)
	r := runLoad(t, client, n, 4, 10*time.Second, func() io.Reader { return bytes.NewReader(payload) }, nil)
	runtime.ReadMemStats(&after)
	accountEveryRequest(t, r, 10*time.Second)
	s := r.from(0)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d × 10 MiB bodies: %v; %d MiB allocated in all", n, s, allocated>>20)
	assert.Equal(t, n, s.ok)
	assert.Less(t, allocated, uint64(n*size/4), "far less than the bodies' size: nothing buffers a whole body")
}
