package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/subset"
)

func TestWarmupFactorIsEnvoys(t *testing.T) {
	w := 100 * time.Second
	assert.Equal(t, 0.1, balancer.WarmupFactor(0, w, 10, 1), "floor: minimumPercent")
	assert.Equal(t, 0.5, balancer.WarmupFactor(50*time.Second, w, 10, 1), "linear with aggression 1")
	assert.InDelta(t, 0.7071, balancer.WarmupFactor(50*time.Second, w, 10, 2), 1e-4, "(0.5)^(1/2)")
	assert.Equal(t, 0.01, balancer.WarmupFactor(0, w, 0, 1), "time factor counts at least 1s")
	assert.Equal(t, 1.0, balancer.WarmupFactor(w, w, 10, 1))
}

func TestNewEndpointRampsUp(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	se := func(addrs ...string) []subset.ServiceEntry {
		e := subset.ServiceEntry{Name: "r", Hosts: []string{"r"}, Ports: []subset.Port{{Number: 80, Name: "p80"}}, Resolution: "STATIC"}
		for _, a := range addrs {
			e.Endpoints = append(e.Endpoints, subset.WorkloadEntry{Address: a})
		}
		return []subset.ServiceEntry{e}
	}
	dr := []subset.DestinationRule{{Name: "r", Host: "r", TrafficPolicy: &subset.TrafficPolicy{LoadBalancer: &balancer.Settings{
		Simple: balancer.SimpleRoundRobin, Warmup: &balancer.Warmup{Duration: 100 * time.Second},
	}}}}
	r1, err := Compile(se("10.0.0.1", "10.0.0.2"), dr, Options{Clock: clk})
	require.NoError(t, err)
	r1.Activate(nil)
	clk.Advance(200 * time.Second) // the first two are warm
	r2, err := Compile(se("10.0.0.1", "10.0.0.2", "10.0.0.3"), dr, Options{Clock: clk, Previous: r1})
	require.NoError(t, err)
	r2.Activate(r1)
	defer r2.Stop()
	c := r2.Lookup("r").Cluster("", 80)

	share := func(picks int) float64 {
		n := 0
		for range picks {
			ep, err := c.Pick()
			require.NoError(t, err)
			if ep.Address == "10.0.0.3:80" {
				n++
			}
		}
		return float64(n) / float64(picks)
	}
	assert.InDelta(t, 0.1/2.1, share(2100), 1e-9, "joined now: 10% of its weight")
	clk.Advance(50 * time.Second)
	assert.InDelta(t, 0.5/2.5, share(2500), 1e-9, "half way through the window: half its weight")
	clk.Advance(50 * time.Second)
	assert.InDelta(t, 1.0/3, share(3000), 1e-9, "warm: its full share")
}
