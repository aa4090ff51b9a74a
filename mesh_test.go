package switchyard_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

func parse(t *testing.T, extra string) switchyard.Config {
	t.Helper()
	cfg, err := switchyard.Parse(append(bookinfo(t), []byte("\n---\n"+extra)...))
	require.NoError(t, err)
	return cfg
}

func allTo(subset string) string {
	return vs(`
  - route: [{destination: {host: reviews, subset: ` + subset + `}}]
`)
}

func TestUpdateSwapsRoutes(t *testing.T) {
	f := newFixture(t, allTo("v1"))
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v1", body)
	require.NoError(t, f.mesh.Update(parse(t, allTo("v3"))))
	_, body = f.get("http://reviews:9080/")
	assert.Equal(t, "v3", body)
}

func TestInFlightRequestsFinishOnTheirSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, allTo("v1"))
		f.backend["v1"].Delay(time.Second)
		var wg sync.WaitGroup
		var bodies [10]string
		for i := range bodies {
			wg.Go(func() { _, bodies[i] = f.get("http://reviews:9080/") })
		}
		synctest.Wait() // all ten are waiting on v1
		require.NoError(t, f.mesh.Update(parse(t, allTo("v2"))))
		_, body := f.get("http://reviews:9080/")
		assert.Equal(t, "v2", body, "new requests use the new configuration at once")
		wg.Wait()
		for _, b := range bodies {
			assert.Equal(t, "v1", b, "in-flight requests finish where they started, none fails")
		}
	})
}

func TestRejectedUpdateKeepsRunningConfig(t *testing.T) {
	f := newFixture(t, allTo("v1"))
	bad := parse(t, allTo("v2"))
	bad.VirtualServices[0].HTTP[0].Route[0].Weight = -1
	err := f.mesh.Update(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spec.http[0].route[0].weight: must not be negative`)
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v1", body, "the running configuration still serves")
}

func TestUpdateKeepsEndpointState(t *testing.T) {
	// A request in flight during an update still counts as active for
	// least-request balancing afterwards: with one of two endpoints busy,
	// two distinct choices always pick the other.
	synctest.Test(t, func(t *testing.T) {
		const twoEndpoints = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]
`
		f := newFixture(t, twoEndpoints)
		f.backend["v1"].Hang()
		f.backend["v2"].Hang()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://ratings:9080/", nil)
			_, err := f.client.Do(req)
			assert.ErrorIs(t, err, context.Canceled)
		})
		synctest.Wait()
		busy, idle := "v1", "v2"
		if f.backend["v2"].Count() == 1 {
			busy, idle = idle, busy
		}
		require.NoError(t, f.mesh.Update(parse(t, twoEndpoints)))
		f.backend[idle].Heal()
		for range 20 {
			_, body := f.get("http://ratings:9080/")
			require.Equal(t, idle, body)
		}
		assert.Equal(t, 1, f.backend[busy].Count(), "the busy endpoint got nothing more")
		cancel()
		wg.Wait()
	})
}

func TestClose(t *testing.T) {
	f := newFixture(t, allTo("v1"))
	require.NoError(t, f.mesh.Close())
	require.NoError(t, f.mesh.Close(), "Close is idempotent")
	_, err := f.client.Get("http://reviews:9080/")
	assert.ErrorIs(t, err, switchyard.ErrClosed)
	assert.ErrorIs(t, f.mesh.Update(parse(t, allTo("v2"))), switchyard.ErrClosed)
}

func TestNewRejectsInvalidConfigWithEveryProblem(t *testing.T) {
	cfg := parse(t, vs(`
  - route: [{destination: {host: reviews, subset: v1}, weight: -1}]
  - route: [{destination: {}}]
`))
	_, err := switchyard.New(cfg)
	require.Error(t, err)
	assert.Equal(t, lines(
		`VirtualService "reviews": spec.http[0].route[0].weight: must not be negative`,
		`VirtualService "reviews": spec.http[1].route[0].destination.host: required`,
	), err.Error())
	var ce *switchyard.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "spec.http[0].route[0].weight", ce.Path)
}

func TestDeterministicWithInjectedRand(t *testing.T) {
	run := func() []string {
		f := newFixture(t, vs(`
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 1}
    - {destination: {host: reviews, subset: v2}, weight: 1}
    - {destination: {host: reviews, subset: v3}, weight: 1}
`), switchyard.WithRand(meshtest.NewRand(5)))
		var out []string
		for range 20 {
			_, b := f.get("http://reviews:9080/")
			out = append(out, b)
		}
		return out
	}
	assert.Equal(t, run(), run())
}

func TestObserveAndModify(t *testing.T) {
	f := newFixture(t, allTo("v1"))
	var seen []switchyard.Observation
	stop := f.mesh.Observe(func(o switchyard.Observation) { seen = append(seen, o) })
	f.backend["v1"].FailFirst(1, 503)
	f.get("http://reviews:9080/")
	f.get("http://reviews:9080/")
	stop()
	f.get("http://reviews:9080/")
	require.Len(t, seen, 2, "told of every request until stopped")
	assert.Equal(t, "reviews", seen[0].Host)
	assert.Equal(t, "v1", seen[0].Subset)
	assert.Equal(t, 503, seen[0].Status)
	assert.True(t, seen[0].Failed)
	assert.False(t, seen[1].Failed)

	before := f.mesh.Config()
	require.NoError(t, f.mesh.Modify(func(c switchyard.Config) (switchyard.Config, error) {
		c = c.Clone()
		c.VirtualServices[0].HTTP[0].Route[0].Destination.Subset = "v2"
		return c, nil
	}))
	_, body := f.get("http://reviews:9080/")
	assert.Equal(t, "v2", body)
	assert.Equal(t, "v1", before.VirtualServices[0].HTTP[0].Route[0].Destination.Subset, "Clone left the old configuration alone")
	err := f.mesh.Modify(func(c switchyard.Config) (switchyard.Config, error) {
		c = c.Clone()
		c.VirtualServices[0].HTTP[0].Route[0].Destination.Host = ""
		return c, nil
	})
	assert.Error(t, err)
	_, body = f.get("http://reviews:9080/")
	assert.Equal(t, "v2", body, "a rejected Modify changes nothing")
}
