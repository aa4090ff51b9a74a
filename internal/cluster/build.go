package cluster

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/ejection"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/subset"
)

func localityDisabled(lb *balancer.Settings) bool {
	return lb != nil && lb.LocalityLbSetting != nil && lb.LocalityLbSetting.Enabled != nil && !*lb.LocalityLbSetting.Enabled
}

// buildClusters creates a cluster for every (subset, port) of svc, the
// subset "" being all endpoints.
func buildClusters(svc *Service, opts Options) error {
	svc.clusters = nil
	subsets := []subset.Subset{{}}
	if svc.rule != nil {
		subsets = append(subsets, svc.rule.Subsets...)
	}
	names := &hostPorts{workloads: svc.workloads()}
	for _, ss := range subsets {
		for _, port := range svc.Ports {
			c := &Cluster{
				Name:        "outbound|" + strconv.Itoa(int(port.Number)) + "|" + ss.Name + "|" + svc.Host,
				Host:        svc.Host,
				Subset:      ss.Name,
				Port:        port.Number,
				Protocol:    strings.ToUpper(port.Protocol),
				Policy:      resolvePolicy(svc.rule, ss, port.Number),
				Passthrough: svc.Passthrough,
			}
			if lb := c.Policy.LoadBalancer; lb != nil && lb.Simple == balancer.SimplePassthrough {
				c.Passthrough = true
				if t := c.Policy.TLS; t != nil && t.Mode != "" && t.Mode != "DISABLE" {
					return fmt.Errorf("cluster %s: tls mode %s with loadBalancer PASSTHROUGH is not supported: a passthrough request goes to the address it names through the caller's own transport, which the mesh's TLS origination does not reach", c.Name, t.Mode)
				}
			}
			var prev *Cluster
			if opts.Previous != nil {
				prev = opts.Previous.services[svc.Host].Cluster(ss.Name, port.Number)
			}
			if err := buildCluster(c, svc, ss, port, prev, opts, names); err != nil {
				return err
			}
			svc.clusters = append(svc.clusters, c)
		}
	}
	slices.SortFunc(svc.clusters, func(a, b *Cluster) int {
		return cmp.Or(strings.Compare(a.Subset, b.Subset), cmp.Compare(a.Port, b.Port))
	})
	return nil
}

// buildCluster gives c its endpoints, balancer, outlier detector and
// limiter, carrying state over from prev; names memoises the endpoints'
// addresses for the service's other clusters.
func buildCluster(c *Cluster, svc *Service, ss subset.Subset, port subset.Port, prev *Cluster, opts Options, names *hostPorts) error {
	c.rand = opts.Rand
	if c.rand == nil {
		c.rand = rng.Runtime{}
	}
	algo, err := c.Policy.LoadBalancer.Algorithm()
	if err != nil && !c.Passthrough {
		return fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	c.algo, c.feedback = algo, algo.Feedback()
	if lb := c.Policy.LoadBalancer; lb != nil {
		c.hash = lb.ConsistentHash
		if ls := lb.LocalityLbSetting; ls != nil && (ls.Enabled == nil || *ls.Enabled) {
			c.locality = ls
		}
	}
	// Istio's mesh default enables locality load balancing: with outlier
	// detection, a caller that declares its locality fails over by it.
	if c.locality == nil && c.Policy.OutlierDetection != nil && !localityDisabled(c.Policy.LoadBalancer) {
		c.locality = &balancer.LocalitySettings{}
	}
	c.client = opts.client
	if c.client == nil {
		c.client = &opts.Client
	}
	if c.client.Locality == "" || c.hash != nil {
		c.locality = nil
	}
	c.TLS = compileTLS(c, svc, names.workloads, ss.Labels, prev, opts)
	c.limits = pool.LimitsFrom(c.Policy.ConnectionPool)
	if b := c.Policy.RetryBudget; b != nil {
		c.limits.Budget = &pool.RetryBudget{Percent: 20, MinConcurrency: 3}
		if b.Percent != nil {
			c.limits.Budget.Percent = *b.Percent
		}
		if b.MinRetryConcurrency != 0 {
			c.limits.Budget.MinConcurrency = int(b.MinRetryConcurrency)
		}
	}
	if !c.limits.Unlimited() {
		if prev != nil && prev.limiter != nil {
			c.limiter = prev.limiter // counts carry over; limits apply on Activate
		} else {
			c.limiter = pool.NewLimiter(c.limits)
		}
	}
	if c.Passthrough {
		return nil
	}
	c.clock = opts.Clock
	if c.clock == nil {
		c.clock = clock.Real{}
	}
	c.selector, c.svcPort = ss.Labels, port
	all := endpointsFor(names.workloads, ss.Labels, port, prev.Endpoints(), c.clock.Now(), names)
	if lb := c.Policy.LoadBalancer; lb != nil {
		if w := lb.Warmup; w != nil {
			c.warmup = &warmup{window: w.Duration, minPercent: 10, aggression: 1}
			if w.MinimumPercent != nil {
				c.warmup.minPercent = *w.MinimumPercent
			}
			if w.Aggression != nil {
				c.warmup.aggression = *w.Aggression
			}
		} else if lb.DeprecatedWarmupDuration > 0 {
			c.warmup = &warmup{window: lb.DeprecatedWarmupDuration, minPercent: 10, aggression: 1}
		}
	}
	var prevDetector *ejection.Detector
	if c.Policy.OutlierDetection != nil {
		if prev != nil {
			prevDetector = prev.Detector()
		}
		if on := opts.OnEjection; on != nil {
			// capturing on, not opts, keeps Options off the heap
			c.onEvent = func(e ejection.Event) { on(c, e) }
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replace(all, prevDetector)
}

// replace makes all the cluster's endpoints, under a new detector that
// takes over the ejection state prev has of them. c.mu must be held.
func (c *Cluster) replace(all []*balancer.Endpoint, prev *ejection.Detector) error {
	set := &endpointSet{all: all}
	if od := c.Policy.OutlierDetection; od != nil {
		var d *ejection.Detector
		d = ejection.NewDetector(od, all, ejection.DetectorOptions{
			Clock: c.clock, OnChange: func() { c.rebuildFrom(d) }, OnEvent: c.onEvent, Previous: prev,
		})
		set.detector = d
		c.set.Store(set)
		_ = c.install(set, d.Available()) // as before: a detector's cluster balances over what it can
		return nil
	}
	c.set.Store(set)
	return c.install(set, all)
}

// endpointsFor returns the endpoints among workloads that carry all of
// labels, at their address for port, reusing the live state of the
// endpoints in prev at the same address. Their addresses come from names,
// which the clusters of one service share.
func endpointsFor(workloads []subset.WorkloadEntry, labels map[string]string, port subset.Port, prev []*balancer.Endpoint, now time.Time, names *hostPorts) []*balancer.Endpoint {
	prevState := make(map[string]*balancer.State, len(prev))
	for _, e := range prev {
		prevState[e.Address] = e.State
	}
	var out []*balancer.Endpoint
	for i, w := range workloads {
		if !selects(labels, w.Labels) {
			continue
		}
		n := port.Number
		if port.TargetPort != 0 {
			n = port.TargetPort
		}
		if p, ok := w.Ports[port.Name]; ok && port.Name != "" {
			n = p
		}
		addr := names.of(workloads, i, n)
		st := prevState[addr]
		if st == nil {
			st = balancer.NewState(now)
			prevState[addr] = st // two workloads at one address share state
		}
		out = append(out, &balancer.Endpoint{Address: addr, Labels: w.Labels, Weight: w.Weight, Locality: w.Locality, State: st})
	}
	return out
}

// hostPorts memoises the "host:port" of each of a list of workloads at
// each port, so that the clusters of a service (one per subset) share one
// string per endpoint address rather than each making its own.
type hostPorts struct {
	workloads []subset.WorkloadEntry
	ports     []uint32   // the ports seen
	addrs     [][]string // by port, by workload index; "" until made
}

// of returns the "host:port" of workloads[i] at port n, memoised if
// workloads is h's list.
func (h *hostPorts) of(workloads []subset.WorkloadEntry, i int, n uint32) string {
	if len(workloads) != len(h.workloads) || &workloads[i] != &h.workloads[i] {
		return net.JoinHostPort(workloads[i].Address, strconv.Itoa(int(n)))
	}
	k := slices.Index(h.ports, n)
	if k < 0 {
		k = len(h.ports)
		h.ports = append(h.ports, n)
		h.addrs = append(h.addrs, make([]string, len(workloads)))
	}
	if h.addrs[k][i] == "" {
		h.addrs[k][i] = net.JoinHostPort(workloads[i].Address, strconv.Itoa(int(n)))
	}
	return h.addrs[k][i]
}
