package cluster

import (
	"math"
	"sort"
	"strings"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/rng"
)

// Client describes the calling workload for locality load balancing.
type Client struct {
	// Locality is "region/zone/subzone", possibly shorter.
	Locality string
	// Labels are the caller's labels, for failoverPriority.
	Labels map[string]string
	// Namespace is the caller's namespace: its DestinationRules for a host
	// win over those of other namespaces, as a sidecar's do.
	Namespace string
	// Domain is the cluster's DNS suffix ("" is DefaultDomain).
	Domain string
}

// overprovisioning is Envoy's default overprovisioning factor: a priority
// counts as fully healthy while 1/1.4 of its endpoints are.
const overprovisioning = 1.4

type locality struct{ region, zone, subzone string }

func parseLocality(s string) locality {
	parts := strings.SplitN(s, "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return locality{parts[0], parts[1], parts[2]}
}

// localityPriority is the failover tier of an endpoint in ep for a client
// in cl: 0 same region, zone and subzone; 1 same zone; 2 same region; 3 the
// failover region of the client's region, if any; 4 other regions.
func localityPriority(cl, ep locality, failover map[string]string) int {
	switch {
	case ep.region == cl.region && ep.zone == cl.zone && ep.subzone == cl.subzone:
		return 0
	case ep.region == cl.region && ep.zone == cl.zone:
		return 1
	case ep.region == cl.region:
		return 2
	case failover[cl.region] != "" && failover[cl.region] == ep.region:
		return 3
	default:
		return 4
	}
}

// labelTier counts how many of the failoverPriority labels an endpoint
// shares with the client, stopping at the first that differs: the nth label
// counts only if the first n-1 match. "key=value" compares the endpoint's
// label with value.
func labelTier(priority []string, client, ep map[string]string) int {
	n := 0
	for _, p := range priority {
		key, want, explicit := strings.Cut(p, "=")
		if !explicit {
			var ok bool
			if want, ok = client[key]; !ok {
				break
			}
		}
		if got, ok := ep[key]; !ok || got != want {
			break
		}
		n++
	}
	return n
}

// levels groups endpoints into failover priorities, most preferred first.
func levels(eps []*balancer.Endpoint, lb *balancer.LocalitySettings, client Client) [][]*balancer.Endpoint {
	cl := parseLocality(client.Locality)
	failover := map[string]string{}
	for _, f := range lb.Failover {
		failover[f.From] = f.To
	}
	byPriority := map[int][]*balancer.Endpoint{}
	for _, e := range eps {
		p := localityPriority(cl, parseLocality(e.Locality), failover)
		if len(lb.FailoverPriority) > 0 {
			p += 5 * (len(lb.FailoverPriority) - labelTier(lb.FailoverPriority, client.Labels, e.Labels))
		}
		byPriority[p] = append(byPriority[p], e)
	}
	keys := make([]int, 0, len(byPriority))
	for p := range byPriority {
		keys = append(keys, p)
	}
	sort.Ints(keys)
	out := make([][]*balancer.Endpoint, len(keys))
	for i, p := range keys {
		out[i] = byPriority[p]
	}
	return out
}

// priorityLoads is Envoy's split of traffic across priorities: each level's
// health is min(100, 1.4 × its healthy share × 100); healths are scaled up
// when they sum under 100, and each level takes what its health allows of
// what the levels before it left.
func priorityLoads(healthy, total []int) []float64 {
	health := make([]float64, len(total))
	sum := 0.0
	for i := range total {
		if total[i] > 0 {
			health[i] = min(100, overprovisioning*100*float64(healthy[i])/float64(total[i]))
		}
		sum += health[i]
	}
	loads := make([]float64, len(total))
	if sum == 0 {
		return loads
	}
	norm := min(sum, 100)
	remaining := 100.0
	for i := range health {
		loads[i] = min(remaining, health[i]*100/norm)
		remaining -= loads[i]
	}
	return loads
}

// distributeWeights applies distribute: the first rule whose from matches
// the client's locality gives each listed locality its share, divided among
// its endpoints; endpoints in unlisted localities get none. It returns eps
// unchanged when no rule applies.
func distributeWeights(eps []*balancer.Endpoint, rules []balancer.Distribute, client Client) []*balancer.Endpoint {
	for _, r := range rules {
		if !LocalityMatches(r.From, client.Locality) {
			continue
		}
		counts := map[string]int{}
		share := map[*balancer.Endpoint]float64{}
		for _, e := range eps {
			for pattern := range r.To {
				if LocalityMatches(pattern, e.Locality) {
					counts[pattern]++
					break
				}
			}
		}
		var out []*balancer.Endpoint
		for _, e := range eps {
			for pattern, w := range r.To {
				if LocalityMatches(pattern, e.Locality) && w > 0 {
					share[e] = float64(w) / float64(counts[pattern])
					cp := *e
					cp.Weight = uint32(max(1, math.Round(share[e]*1000)))
					out = append(out, &cp)
					break
				}
			}
		}
		return out
	}
	return eps
}

// LocalityMatches reports whether locality l matches pattern, whose parts
// may be "*" and which may be shorter than l (Istio's locality patterns:
// "region/zone/*", "region/*", "*").
func LocalityMatches(pattern, l string) bool {
	pp, lp := strings.Split(pattern, "/"), strings.Split(l, "/")
	for i, p := range pp {
		if p == "*" {
			return true
		}
		if i >= len(lp) || lp[i] != p {
			return false
		}
	}
	return true
}

func validateLocality(ls *balancer.LocalitySettings, path string, errs *fielderr.List) {
	if len(ls.Distribute) > 0 && len(ls.Failover) > 0 {
		errs.Add(path, "distribute and failover are mutually exclusive")
	}
	for i, d := range ls.Distribute {
		dp := fielderr.Index(fielderr.Join(path, "distribute"), i)
		var sum uint32
		for _, w := range d.To {
			sum += w
		}
		if sum != 100 {
			errs.Add(fielderr.Join(dp, "to"), "weights sum to %d; they must sum to 100", sum)
		}
		if d.From == "" {
			errs.Add(fielderr.Join(dp, "from"), "required")
		}
	}
	if len(ls.Failover) > 0 {
		for i, l := range ls.FailoverPriority {
			switch strings.TrimPrefix(l, "!") {
			case "topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone":
				errs.Add(fielderr.Index(fielderr.Join(path, "failoverPriority"), i), "topology label %s cannot be combined with failover, which orders regions itself", fielderr.Quote(l))
			}
		}
	}
	for i, f := range ls.Failover {
		fp := fielderr.Index(fielderr.Join(path, "failover"), i)
		if f.From == "" || f.To == "" {
			errs.Add(fp, "from and to are both required regions")
		} else if f.From == f.To {
			errs.Add(fp, "from and to must differ")
		}
	}
}

// priorityPicker draws a failover priority by Envoy's priority loads, then
// picks within it with the cluster's balancer.
type priorityPicker struct {
	levels []balancer.Picker
	upTo   []uint64 // cumulative load per level, in millionths
	all    []*balancer.Endpoint
	r      balancer.Rand
}

func (p *priorityPicker) Pick() (*balancer.Endpoint, error) {
	if len(p.levels) == 0 {
		return nil, balancer.ErrNoEndpoint
	}
	v := rng.N(p.r.Uint64(), 1_000_000)
	for i, up := range p.upTo {
		if v < up {
			return p.levels[i].Pick()
		}
	}
	return p.levels[len(p.levels)-1].Pick()
}

func (p *priorityPicker) Endpoints() []*balancer.Endpoint { return p.all }

// localityPicker builds the picker of a cluster with locality load
// balancing over its available endpoints.
func (c *Cluster) localityPicker(set *endpointSet, available []*balancer.Endpoint) (balancer.Picker, error) {
	ls := c.locality
	eps := available
	tiers := [][]*balancer.Endpoint{set.all}
	if set.detector != nil && len(ls.Distribute) == 0 {
		// Failover needs outlier detection, as in Istio.
		tiers = levels(set.all, ls, *c.client)
	}
	up := map[*balancer.State]bool{}
	for _, e := range eps {
		up[e.State] = true
	}
	healthy := make([]int, len(tiers))
	total := make([]int, len(tiers))
	levelEps := make([][]*balancer.Endpoint, len(tiers))
	for i, tier := range tiers {
		total[i] = len(tier)
		for _, e := range tier {
			if up[e.State] {
				healthy[i]++
				levelEps[i] = append(levelEps[i], e)
			}
		}
	}
	loads := priorityLoads(healthy, total)
	pp := &priorityPicker{all: eps, r: c.rand}
	var cum float64
	for i := range tiers {
		if loads[i] <= 0 {
			continue
		}
		lp, err := c.newPicker(distributeWeights(levelEps[i], ls.Distribute, *c.client))
		if err != nil {
			return nil, err
		}
		cum += loads[i]
		pp.levels = append(pp.levels, lp)
		pp.upTo = append(pp.upTo, uint64(math.Round(cum*10_000)))
	}
	return pp, nil
}
