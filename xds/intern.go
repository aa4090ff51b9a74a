package xds

import (
	"encoding/binary"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"
	"weak"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/retry"
	"github.com/switchyard-go/switchyard/subset"
)

// canonical maps a value's key to the one copy of it that decoded
// resources share, for as long as any of them holds it. Shared values are
// never modified (decoded resources and the configuration built from them
// are immutable), so a thousand clusters of the same policy can point to
// one.
type canonical[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]weak.Pointer[V]
}

// get returns the canonical value of key k: the one in use, else v, which
// becomes it.
func (c *canonical[K, V]) get(k K, v *V) *V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.m[k].Value(); p != nil {
		return p
	}
	if c.m == nil {
		c.m = map[K]weak.Pointer[V]{}
	}
	wp := weak.Make(v)
	c.m[k] = wp
	runtime.AddCleanup(v, func(k K) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.m[k] == wp {
			delete(c.m, k)
		}
	}, k)
	return v
}

// poolKey is a connection pool's settings by value, for those without
// pointers of their own.
type poolKey struct {
	tcp  pool.TCPSettings
	http pool.HTTPSettings
}

// retryKey is a retry policy by value.
type retryKey struct {
	attempts          int32
	perTry, backoff   time.Duration
	on                string
	remote, ignorePrv int8 // 0 unset, 1 false, 2 true
}

// outlierKey is an outlier detection by value.
type outlierKey struct {
	c5xx, gateway, localOrigin int64 // -1 unset
	cfg                        outlier.Config
}

var (
	outlierDetections canonical[outlierKey, outlier.Config]
	poolSettings      canonical[poolKey, pool.Settings]
	balancerSettings  canonical[balancer.Settings, balancer.Settings]
	retryPolicies     canonical[retryKey, retry.Config]
)

// policyKey is a traffic policy without TLS, port-level settings or retry
// budget, by its parts (each shared, when it can be, by the clusters of
// the same settings).
type policyKey struct {
	lb *balancer.Settings
	cp *pool.Settings
	od *outlier.Config
}

var trafficPolicies canonical[policyKey, subset.TrafficPolicy]

// sharedPolicy returns a traffic policy equal to p, shared with the decoded
// clusters of the same one when it can be (its parts shared).
func sharedPolicy(p *subset.TrafficPolicy) *subset.TrafficPolicy {
	if p.TLS != nil || p.PortLevelSettings != nil || p.RetryBudget != nil ||
		(p.LoadBalancer != nil && !balancerShareable(p.LoadBalancer)) || (p.ConnectionPool != nil && !poolShareable(p.ConnectionPool)) {
		return p
	}
	return trafficPolicies.get(policyKey{p.LoadBalancer, p.ConnectionPool, p.OutlierDetection}, p)
}

// poolShareable reports whether sharedPool shares p.
func poolShareable(p *pool.Settings) bool {
	return p.TCP != nil && p.HTTP != nil && p.TCP.TCPKeepalive == nil && p.TCP.IdleTimeout == nil &&
		p.HTTP.IdleTimeout == nil && p.HTTP.HTTP2KeepAlive == nil
}

// balancerShareable reports whether sharedBalancer shares lb.
func balancerShareable(lb *balancer.Settings) bool {
	return lb.ConsistentHash == nil && lb.LocalityLbSetting == nil && lb.ZoneAwareLbSetting == nil &&
		lb.Warmup == nil && lb.PeakEWMA == nil
}

var localities canonical[localityIR, localityIR]

// sharedLocality returns a locality equal to l, shared with the decoded
// endpoints of the same one.
func sharedLocality(l *localityIR) *localityIR { return localities.get(*l, l) }

// sharedPool returns a connection pool's settings equal to p, shared with
// the decoded clusters of the same settings when it can be.
func sharedPool(p *pool.Settings) *pool.Settings {
	if !poolShareable(p) {
		return p
	}
	return poolSettings.get(poolKey{*p.TCP, *p.HTTP}, p)
}

// sharedBalancer returns load-balancer settings equal to lb, shared with
// the decoded clusters of the same settings when it can be.
func sharedBalancer(lb *balancer.Settings) *balancer.Settings {
	if !balancerShareable(lb) {
		return lb
	}
	return balancerSettings.get(*lb, lb)
}

// sharedRetry returns a retry policy equal to rc, shared with the decoded
// routes of the same policy (istiod writes the same one on every route).
func sharedRetry(rc *retry.Config) *retry.Config {
	tri := func(b *bool) int8 {
		switch {
		case b == nil:
			return 0
		case *b:
			return 2
		}
		return 1
	}
	k := retryKey{attempts: rc.Attempts, perTry: rc.PerTryTimeout, backoff: rc.Backoff, on: rc.RetryOn,
		remote: tri(rc.RetryRemoteLocalities), ignorePrv: tri(rc.RetryIgnorePreviousHosts)}
	return retryPolicies.get(k, rc)
}

// sharedOutlier returns an outlier detection equal to oc, shared with the
// decoded clusters of the same one.
func sharedOutlier(oc *outlier.Config) *outlier.Config {
	val := func(p *uint32) int64 {
		if p == nil {
			return -1
		}
		return int64(*p)
	}
	k := outlierKey{c5xx: val(oc.Consecutive5xxErrors), gateway: val(oc.ConsecutiveGatewayErrors), localOrigin: val(oc.ConsecutiveLocalOriginFailures), cfg: *oc}
	k.cfg.Consecutive5xxErrors, k.cfg.ConsecutiveGatewayErrors, k.cfg.ConsecutiveLocalOriginFailures = nil, nil, nil
	return outlierDetections.get(k, oc)
}

// maxSharedMaps bounds a mapTable: past it, the table starts again (the
// maps in use stay valid; later ones are shared anew).
const maxSharedMaps = 4096

// A mapTable holds one copy of each of the small maps the translation
// gives its entries (an endpoint's ports and labels, a subset's labels),
// by their entries, so that the thousand endpoints and subsets with the
// same ones share it. The maps are never modified once shared (the
// configuration built from them is immutable). Their number is what
// distinct ports and subset names the meshes of the process have, bounded
// by maxSharedMaps.
type mapTable[V string | uint32] struct {
	mu sync.Mutex
	m  map[string]map[string]V
}

var (
	sharedLabelMaps mapTable[string]
	sharedPortMaps  mapTable[uint32]
)

// shared returns a map of the entries of m, which is not modified after:
// the table's copy, or m, which becomes it.
func (t *mapTable[V]) shared(m map[string]V) map[string]V {
	var buf [128]byte
	key := buf[:0]
	add := func(k string, v V) { // unambiguous: strings prefixed by their length
		key = binary.AppendUvarint(key, uint64(len(k)))
		key = append(key, k...)
		switch v := any(v).(type) {
		case string:
			key = binary.AppendUvarint(key, uint64(len(v)))
			key = append(key, v...)
		case uint32:
			key = binary.AppendUvarint(key, uint64(v))
		}
	}
	if len(m) == 1 {
		for k, v := range m {
			add(k, v)
		}
	} else {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			add(k, m[k])
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.m[string(key)]; ok {
		return s
	}
	if t.m == nil || len(t.m) >= maxSharedMaps {
		t.m = map[string]map[string]V{}
	}
	t.m[string(key)] = m
	return m
}

// A sliceTable holds one copy of each of the small slices the translation
// gives hosts (a ServiceEntry's ports, a DestinationRule's subsets), by a
// key of their entries, shared like a mapTable's maps: the slices are
// clipped, and never modified once shared.
type sliceTable[T any] struct {
	mu sync.Mutex
	m  map[string][]T
}

var (
	sharedPortLists   sliceTable[subset.Port]
	sharedSubsetLists sliceTable[subset.Subset]
)

// shared returns a slice of the entries of s, which is not modified
// after: the table's copy, or s clipped, which becomes it. Its key is
// what entry appends of each element.
func (t *sliceTable[T]) shared(s []T, entry func([]byte, T) []byte) []T {
	if len(s) == 0 {
		return s
	}
	var buf [128]byte
	key := buf[:0]
	for _, e := range s {
		key = entry(key, e)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.m[string(key)]; ok {
		return c
	}
	if t.m == nil || len(t.m) >= maxSharedMaps {
		t.m = map[string][]T{}
	}
	s = slices.Clip(s)
	t.m[string(key)] = s
	return s
}

// sharedPorts returns ports equal to ps, shared with the hosts of the same
// ones.
func sharedPorts(ps []subset.Port) []subset.Port {
	return sharedPortLists.shared(ps, func(key []byte, p subset.Port) []byte {
		return fmt.Appendf(key, "%d %q %q %d;", p.Number, p.Protocol, p.Name, p.TargetPort)
	})
}

// sharedSubsets returns subsets equal to ss, shared with the hosts of the
// same ones: of the same names, labels and traffic policies, by identity
// (the translation shares them, see mapTable and sharedPolicy; the table
// holds them, so an identity is not reused while it is a key).
func sharedSubsets(ss []subset.Subset) []subset.Subset {
	return sharedSubsetLists.shared(ss, func(key []byte, s subset.Subset) []byte {
		return fmt.Appendf(key, "%q %p %p;", s.Name, s.Labels, s.TrafficPolicy)
	})
}
