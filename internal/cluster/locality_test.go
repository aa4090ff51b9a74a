package cluster

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-go/switchyard/balancer"
)

func TestPriorityLoadsAreEnvoys(t *testing.T) {
	// All healthy: everything to the first priority.
	assert.Equal(t, []float64{100, 0}, priorityLoads([]int{4, 4}, []int{4, 4}))
	// Overprovisioning 1.4: 3 of 4 healthy is 105% → still 100.
	assert.Equal(t, []float64{100, 0}, priorityLoads([]int{3, 4}, []int{4, 4}))
	// 2 of 4 healthy: health 70, the rest spills over.
	loads := priorityLoads([]int{2, 4}, []int{4, 4})
	assert.InDelta(t, 70, loads[0], 1e-9)
	assert.InDelta(t, 30, loads[1], 1e-9)
	// Total health under 100 is scaled up: 1 of 4 (35) and 1 of 4 (35).
	loads = priorityLoads([]int{1, 1}, []int{4, 4})
	assert.InDelta(t, 50, loads[0], 1e-9)
	assert.InDelta(t, 50, loads[1], 1e-9)
	assert.Equal(t, []float64{0, 0}, priorityLoads([]int{0, 0}, []int{2, 2}))
}

func ep(addr, locality string, labels map[string]string) *balancer.Endpoint {
	return &balancer.Endpoint{Address: addr, Locality: locality, Labels: labels, State: &balancer.State{}}
}

func TestLevelsOrderByLocality(t *testing.T) {
	eps := []*balancer.Endpoint{
		ep("far", "eu-west/a/1", nil), ep("zone", "us-east/a/2", nil), ep("here", "us-east/a/1", nil),
		ep("region", "us-east/b/1", nil), ep("failover", "us-west/a/1", nil),
	}
	lv := levels(eps, &balancer.LocalitySettings{Failover: []balancer.Failover{{From: "us-east", To: "us-west"}}}, Client{Locality: "us-east/a/1"})
	var got [][]string
	for _, l := range lv {
		var names []string
		for _, e := range l {
			names = append(names, e.Address)
		}
		got = append(got, names)
	}
	assert.Equal(t, [][]string{{"here"}, {"zone"}, {"region"}, {"failover"}, {"far"}}, got)
}

func TestFailoverPriorityLabels(t *testing.T) {
	client := Client{Locality: "r/z/s", Labels: map[string]string{"network": "n1", "cluster": "c1"}}
	prio := []string{"network", "cluster"}
	assert.Equal(t, 2, labelTier(prio, client.Labels, map[string]string{"network": "n1", "cluster": "c1"}))
	assert.Equal(t, 1, labelTier(prio, client.Labels, map[string]string{"network": "n1", "cluster": "c2"}))
	assert.Equal(t, 0, labelTier(prio, client.Labels, map[string]string{"network": "n2", "cluster": "c1"}), "the nth label counts only if the first n-1 match")
	assert.Equal(t, 1, labelTier([]string{"tier=gold"}, nil, map[string]string{"tier": "gold"}))
	eps := []*balancer.Endpoint{
		ep("same-locality-other-network", "r/z/s", map[string]string{"network": "n2"}),
		ep("far-same-network", "x/y/z", map[string]string{"network": "n1", "cluster": "c1"}),
	}
	lv := levels(eps, &balancer.LocalitySettings{FailoverPriority: prio}, client)
	assert.Equal(t, "far-same-network", lv[0][0].Address, "labels make tiers first; locality orders within them")
}

func TestDistributeWeights(t *testing.T) {
	eps := []*balancer.Endpoint{ep("a1", "us-east/a/1", nil), ep("a2", "us-east/a/2", nil), ep("b", "us-east/b/1", nil), ep("w", "us-west/a/1", nil)}
	got := distributeWeights(eps, []balancer.Distribute{{From: "us-east/*", To: map[string]uint32{"us-east/a/*": 80, "us-east/b/*": 20}}}, Client{Locality: "us-east/a/1"})
	w := map[string]uint32{}
	for _, e := range got {
		w[e.Address] = e.Weight
	}
	assert.Equal(t, map[string]uint32{"a1": 40000, "a2": 40000, "b": 20000}, w, "a locality's share is divided among its endpoints; unlisted localities get none")
	assert.Len(t, distributeWeights(eps, []balancer.Distribute{{From: "eu/*", To: map[string]uint32{"us-east/*": 100}}}, Client{Locality: "us-east/a/1"}), 4, "no rule for the caller: unchanged")
	assert.True(t, LocalityMatches("us-east/*", "us-east/a/1"))
	assert.True(t, LocalityMatches("us-east", "us-east/a/1"))
	assert.False(t, LocalityMatches("us-east/b", "us-east/a/1"))
}
