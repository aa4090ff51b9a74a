package rollout_test

import (
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/meshtest"
	"github.com/switchyard-go/switchyard/rollout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
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

type fixture struct {
	t      *testing.T
	mesh   *switchyard.Mesh
	net    *meshtest.Network
	v1, v2 *meshtest.Backend
	client *http.Client
}

func newFixture(t *testing.T, opts ...switchyard.Option) *fixture {
	cfg, err := switchyard.Parse([]byte(manifests))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, append([]switchyard.Option{switchyard.WithRand(meshtest.NewRand(1))}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	f := &fixture{t: t, mesh: m, net: meshtest.NewNetwork()}
	f.v1 = f.net.Add("10.0.0.1:9080", "v1", nil)
	f.v2 = f.net.Add("10.0.0.2:9080", "v2", nil)
	f.client = &http.Client{Transport: m.Transport(f.net.Transport())}
	return f
}

// drive sends n requests (with the header when set) and returns how many
// reached each version.
func (f *fixture) drive(n int, header ...string) map[string]int {
	out := map[string]int{}
	for range n {
		req, _ := http.NewRequest(http.MethodGet, "http://reviews:9080/", nil)
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := f.client.Do(req)
		require.NoError(f.t, err)
		resp.Body.Close()
		out[resp.Header.Get("X-Backend")]++
	}
	return out
}

func cfg() rollout.Config {
	return rollout.Config{
		VirtualService: "reviews", Route: "split", Stable: "v1", Canary: "v2",
		StepWeights: []int32{10, 50}, Interval: time.Minute,
		Analysis: rollout.Analysis{MinRequests: 20, MaxErrorRate: 5, MaxLatencyRatio: 2},
	}
}

func kinds(evs []rollout.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Kind))
	}
	return out
}

func TestPromotionThroughEveryStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		c, err := rollout.New(f.mesh, cfg())
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		for _, want := range []int32{10, 50} {
			phase, w := c.Status()
			assert.Equal(t, rollout.PhaseProgressing, phase)
			assert.Equal(t, want, w)
			got := f.drive(400)
			assert.InDelta(t, float64(want)/100, float64(got["v2"])/400, 0.1, "about %d%% reaches the canary", want)
			time.Sleep(time.Minute)
			synctest.Wait()
		}
		phase, w := c.Status()
		assert.Equal(t, rollout.PhasePromoted, phase)
		assert.EqualValues(t, 100, w)
		assert.Equal(t, map[string]int{"v2": 50}, f.drive(50), "promoted: the canary takes everything")
		assert.Equal(t, []string{"step", "analysis", "step", "analysis", "promoted"}, kinds(c.Events()))
		assert.NoError(t, c.Err())
	})
}

func TestRollbackOnErrorRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		f.v2.Respond(500)
		var got []rollout.Event
		c, err := rollout.New(f.mesh, cfg(), rollout.OnEvent(func(e rollout.Event) { got = append(got, e) }))
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		f.drive(400)
		time.Sleep(time.Minute)
		synctest.Wait()
		phase, w := c.Status()
		assert.Equal(t, rollout.PhaseRolledBack, phase)
		assert.Zero(t, w)
		last := got[len(got)-1]
		assert.Equal(t, rollout.EventRolledBack, last.Kind)
		assert.Contains(t, last.Reason, "error rate 100.00% > 5.00%")
		assert.Equal(t, 100.0, last.Canary.ErrorRate)
		assert.Equal(t, map[string]int{"v1": 40}, f.drive(40), "rolled back: 0% canary")
	})
}

func TestRollbackOnLatencyRelativeToStable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		f.v1.Delay(10 * time.Millisecond)
		f.v2.Delay(30 * time.Millisecond)
		c, err := rollout.New(f.mesh, cfg())
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		f.drive(300)
		time.Sleep(time.Minute)
		synctest.Wait()
		phase, _ := c.Status()
		assert.Equal(t, rollout.PhaseRolledBack, phase)
		evs := c.Events()
		assert.Contains(t, evs[len(evs)-1].Reason, "p99 30ms is 3.00x stable's 10ms")
	})
}

func TestTooFewRequestsWaitsThenFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		config := cfg()
		config.Analysis.MinRequests = 50
		c, err := rollout.New(f.mesh, config)
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		// Too few, then enough: the step waits one interval and goes on.
		f.drive(30)
		time.Sleep(time.Minute)
		synctest.Wait()
		phase, w := c.Status()
		assert.Equal(t, rollout.PhaseProgressing, phase)
		assert.EqualValues(t, 10, w, "still waiting at the first step")
		f.drive(1000)
		time.Sleep(time.Minute)
		synctest.Wait()
		_, w = c.Status()
		assert.EqualValues(t, 50, w)
		// Then too few for longer than MaxWaits (2): rolled back.
		for range 3 {
			time.Sleep(time.Minute)
			synctest.Wait()
		}
		phase, _ = c.Status()
		assert.Equal(t, rollout.PhaseRolledBack, phase)
		evs := c.Events()
		assert.Equal(t, []string{"step", "waiting", "analysis", "step", "waiting", "waiting", "rolled-back"}, kinds(evs))
		assert.Contains(t, evs[len(evs)-1].Reason, "too few requests")
	})
}

func TestManualGates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		c, err := rollout.New(f.mesh, cfg())
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		c.Pause()
		f.drive(200)
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		_, w := c.Status()
		assert.EqualValues(t, 10, w, "paused: no step moves")
		c.Resume()
		f.drive(400)
		time.Sleep(time.Minute)
		synctest.Wait()
		_, w = c.Status()
		assert.EqualValues(t, 50, w, "resumed")
		require.NoError(t, c.Abort())
		phase, w := c.Status()
		assert.Equal(t, rollout.PhaseRolledBack, phase)
		assert.Zero(t, w)
		assert.Error(t, c.Abort(), "nothing left to abort")
		assert.Equal(t, map[string]int{"v1": 20}, f.drive(20))
	})
}

func TestDarkLaunchBeforeAnyWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		config := cfg()
		config.DarkLaunch = &rollout.DarkLaunch{Match: []match.Request{{Headers: map[string]*match.StringMatch{"x-canary": match.Exact("insider")}}}}
		c, err := rollout.New(f.mesh, config)
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		assert.Equal(t, map[string]int{"v2": 30}, f.drive(30, "x-canary", "insider"), "insiders see the canary")
		assert.Equal(t, map[string]int{"v1": 30}, f.drive(30), "everyone else does not")
		time.Sleep(time.Minute)
		synctest.Wait()
		phase, w := c.Status()
		assert.Equal(t, rollout.PhaseProgressing, phase)
		assert.EqualValues(t, 10, w)
		insiders := f.drive(100, "x-canary", "insider")
		assert.Less(t, insiders["v2"], 100, "the dark-launch route is gone once weights move")
	})
}

func TestRollbackRacingAConfigUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		f.v2.Respond(500)
		c, err := rollout.New(f.mesh, cfg())
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		f.drive(300)
		// A user's update (a response header) lands while the rollback does.
		var wg sync.WaitGroup
		wg.Go(func() {
			require.NoError(t, f.mesh.Modify(func(cfg switchyard.Config) (switchyard.Config, error) {
				cfg = cfg.Clone()
				r := &cfg.VirtualServices[0].HTTP[0]
				r.Headers = nil
				r.Timeout = 5 * time.Second
				return cfg, nil
			}))
		})
		time.Sleep(time.Minute)
		wg.Wait()
		synctest.Wait()
		phase, _ := c.Status()
		assert.Equal(t, rollout.PhaseRolledBack, phase)
		r := f.mesh.Config().VirtualServices[0].HTTP[0]
		assert.Equal(t, 5*time.Second, r.Timeout, "the user's change survives the rollback")
		assert.Equal(t, map[string]int{"v1": 20}, f.drive(20), "and the rollback survives the user's change")
	})
}

func TestStopEndsTheController(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		c, err := rollout.New(f.mesh, cfg())
		require.NoError(t, err)
		require.NoError(t, c.Start())
		c.Stop()
		f.drive(100)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		_, w := c.Status()
		assert.EqualValues(t, 10, w, "stopped: nothing more happens")
	})
}

func TestWithFakeClock(t *testing.T) {
	// The mesh and the controller share the fake clock, so latencies, like
	// intervals, are what the clock says.
	clk := meshtest.NewClock(time.Unix(0, 0))
	f := newFixture(t, switchyard.WithClock(clk))
	c, err := rollout.New(f.mesh, cfg(), rollout.WithClock(clk))
	require.NoError(t, err)
	require.NoError(t, c.Start())
	defer c.Stop()
	f.drive(300)
	clk.Advance(time.Minute)
	_, w := c.Status()
	assert.EqualValues(t, 50, w)
	f.drive(300)
	clk.Advance(time.Minute)
	phase, _ := c.Status()
	assert.Equal(t, rollout.PhasePromoted, phase)
}

// Every request to the host reports to the controller. A step holds a
// configuration change in flight for as long as the mesh takes to compile
// it; a request that completes meanwhile must not wait for it.
func TestObservationNeverWaitsForAStepInFlight(t *testing.T) {
	clk := meshtest.NewClock(time.Unix(0, 0))
	f := newFixture(t, switchyard.WithClock(clk))
	c, err := rollout.New(f.mesh, cfg(), rollout.WithClock(clk))
	require.NoError(t, err)
	require.NoError(t, c.Start())
	defer c.Stop()
	type modifyFunc = func(func(switchyard.Config) (switchyard.Config, error)) error
	inFlight, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	rollout.WrapModify(c, func(next modifyFunc) modifyFunc {
		return func(change func(switchyard.Config) (switchyard.Config, error)) error {
			close(inFlight)
			<-release
			return next(change)
		}
	})
	f.drive(300)
	var step sync.WaitGroup
	step.Go(func() { clk.Advance(time.Minute) }) // the analysis passes: a step to 50%
	<-inFlight

	served := make(chan map[string]int, 1)
	go func() { served <- f.drive(20) }()
	// The timer only bounds how long a failure takes to show: the requests
	// complete at once, or never while the step is held.
	select {
	case got := <-served:
		assert.Equal(t, 20, got["v1"]+got["v2"])
	case <-time.After(10 * time.Second):
		t.Error("requests waited for the step's configuration change")
		unblock()
		<-served
	}
	unblock()
	step.Wait()
	_, w := c.Status()
	assert.EqualValues(t, 50, w, "the step completes once the change is applied")
}

func TestValidation(t *testing.T) {
	f := newFixture(t)
	bad := rollout.Config{VirtualService: "reviews", Route: "split", Stable: "v1", Canary: "v1", StepWeights: []int32{50, 20, 100}}
	_, err := rollout.New(f.mesh, bad)
	require.Error(t, err)
	assert.Equal(t, `canary: must differ from stable
stepWeights[1]: 20: steps must rise, from 1 to 99 (promotion makes 100)
stepWeights[2]: 100: steps must rise, from 1 to 99 (promotion makes 100)
interval: required, above 0`, err.Error())
	c := cfg()
	c.Route = "nope"
	_, err = rollout.New(f.mesh, c)
	assert.EqualError(t, err, `rollout: VirtualService "reviews" has no route named "nope"`)

}

// TestNewNeedsAMeshAndTakesNilOptions: a nil mesh panicked, and a nil
// clock or option left the controller unusable.
func TestNewNeedsAMeshAndTakesNilOptions(t *testing.T) {
	_, err := rollout.New(nil, cfg())
	assert.EqualError(t, err, "rollout: no mesh to drive")

	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		c, err := rollout.New(f.mesh, cfg(), rollout.WithClock(nil), nil)
		require.NoError(t, err)
		require.NoError(t, c.Start())
		defer c.Stop()
		_, w := c.Status()
		assert.EqualValues(t, 10, w)
		f.drive(400)
		time.Sleep(time.Minute) // the real clock, which synctest runs
		synctest.Wait()
		_, w = c.Status()
		assert.EqualValues(t, 50, w)
	})
}
