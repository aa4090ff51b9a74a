package balancer_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/balancer"
)

// Every way Settings select an algorithm, and what the mesh reads of it.
func TestSettingsSelectAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		s                 *balancer.Settings
		name              string
		hashed, slowStart bool
		feedback          bool
	}{
		{nil, "LEAST_REQUEST", false, true, false},
		{&balancer.Settings{}, "LEAST_REQUEST", false, true, false},
		{&balancer.Settings{Simple: balancer.SimpleUnspecified}, "LEAST_REQUEST", false, true, false},
		{&balancer.Settings{Simple: balancer.SimpleLeastConn}, "LEAST_REQUEST", false, true, false},
		{&balancer.Settings{Simple: balancer.SimpleRoundRobin}, "ROUND_ROBIN", false, true, false},
		{&balancer.Settings{Simple: balancer.SimpleRandom}, "RANDOM", false, false, false},
		{&balancer.Settings{ConsistentHash: &balancer.ConsistentHash{HTTPHeaderName: "x"}}, "RING_HASH", true, false, false},
		{&balancer.Settings{ConsistentHash: &balancer.ConsistentHash{HTTPHeaderName: "x", Maglev: &balancer.Maglev{TableSize: 65537}}}, "MAGLEV", true, false, false},
		{&balancer.Settings{PeakEWMA: &balancer.PeakEWMA{}}, "PEAK_EWMA", false, false, true},
	} {
		a, err := tc.s.Algorithm()
		require.NoError(t, err)
		assert.Equal(t, tc.name, a.Name())
		assert.Equal(t, tc.hashed, a.Hashed(), tc.name)
		assert.Equal(t, tc.slowStart, a.SlowStart(), tc.name)
		assert.Equal(t, tc.feedback, a.Feedback() != nil, tc.name)
		p, err := a.New([]*balancer.Endpoint{ep("a"), ep("b"), ep("c")}, nil)
		require.NoError(t, err, tc.name)
		_, isHash := p.(balancer.HashPicker)
		assert.Equal(t, tc.hashed, isHash, tc.name)
		_, err = p.Pick()
		assert.NoError(t, err, tc.name)
	}
	_, err := (&balancer.Settings{Simple: "FASTEST"}).Algorithm()
	assert.EqualError(t, err, `unknown algorithm "FASTEST"; use LEAST_REQUEST, ROUND_ROBIN, RANDOM or PASSTHROUGH`)
	_, err = (&balancer.Settings{Simple: balancer.SimplePassthrough}).Algorithm()
	assert.Error(t, err, "PASSTHROUGH picks no endpoint")
}

func ep(addr string) *balancer.Endpoint {
	return &balancer.Endpoint{Address: addr, State: balancer.NewState(time.Time{})}
}
