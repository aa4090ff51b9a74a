package balancer

import "time"

// SimpleLB is Istio's LoadBalancerSettings.SimpleLB.
type SimpleLB string

// The values of SimpleLB.
const (
	SimpleUnspecified  SimpleLB = "UNSPECIFIED"   // LEAST_REQUEST
	SimpleLeastRequest SimpleLB = "LEAST_REQUEST" // power of two choices
	SimpleLeastConn    SimpleLB = "LEAST_CONN"    // deprecated alias of LEAST_REQUEST
	SimpleRoundRobin   SimpleLB = "ROUND_ROBIN"   // weighted round robin
	SimpleRandom       SimpleLB = "RANDOM"        // random
	SimplePassthrough  SimpleLB = "PASSTHROUGH"   // send to the address the caller asked for
)

// Settings is Istio's LoadBalancerSettings.
type Settings struct {
	// Simple is the algorithm; LEAST_REQUEST when empty.
	Simple SimpleLB `json:"simple,omitempty"`
	// ConsistentHash selects endpoints by a hash of the request.
	ConsistentHash *ConsistentHash `json:"consistentHash,omitempty"`
	// LocalityLbSetting weighs and fails over by locality.
	LocalityLbSetting *LocalitySettings `json:"localityLbSetting,omitempty"`
	// ZoneAwareLbSetting is Envoy's zone-aware routing. It is not
	// supported: it shares traffic by the sizes of the caller's own cluster
	// in each zone, which an in-process client does not know; New refuses
	// it by name.
	ZoneAwareLbSetting *ZoneAwareSettings `json:"zoneAwareLbSetting,omitempty"`
	// DeprecatedWarmupDuration is Istio's deprecated warmupDurationSecs,
	// the older form of Warmup.Duration.
	DeprecatedWarmupDuration time.Duration `json:"warmupDurationSecs,omitempty"`
	// Warmup ramps new endpoints up slowly.
	Warmup *Warmup `json:"warmup,omitempty"`
	// PeakEWMA, set from Go only, balances by latency × active requests
	// instead of Simple; see PeakEWMA.
	PeakEWMA *PeakEWMA `json:"-"`
}

// ConsistentHash is Istio's LoadBalancerSettings.ConsistentHashLB.
type ConsistentHash struct {
	// HTTPHeaderName hashes on a request header.
	HTTPHeaderName string `json:"httpHeaderName,omitempty"`
	// HTTPCookie hashes on a cookie, generating it when it has a TTL.
	HTTPCookie *HTTPCookie `json:"httpCookie,omitempty"`
	// UseSourceIP hashes on the caller's own address.
	UseSourceIP bool `json:"useSourceIp,omitempty"`
	// HTTPQueryParameterName hashes on a query parameter.
	HTTPQueryParameterName string `json:"httpQueryParameterName,omitempty"`
	// RingHash selects the ring-hash algorithm (the default).
	RingHash *RingHash `json:"ringHash,omitempty"`
	// Maglev selects the Maglev algorithm.
	Maglev *Maglev `json:"maglev,omitempty"`
	// MinimumRingSize is the deprecated form of RingHash.MinimumRingSize.
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// HTTPCookie is Istio's ConsistentHashLB.HTTPCookie.
type HTTPCookie struct {
	// Name of the cookie; required.
	Name string `json:"name"`
	// Path of a generated cookie.
	Path string `json:"path,omitempty"`
	// TTL of a generated cookie; nil means none is generated, 0 a session
	// cookie.
	TTL *time.Duration `json:"ttl,omitempty"`
	// Attributes of a generated cookie.
	Attributes []CookieAttribute `json:"attributes,omitempty"`
}

// CookieAttribute is one attribute of a generated cookie.
type CookieAttribute struct {
	// Name of the attribute.
	Name string `json:"name"`
	// Value of the attribute.
	Value string `json:"value,omitempty"`
}

// RingHash is Istio's ConsistentHashLB.RingHash.
type RingHash struct {
	// MinimumRingSize is the minimum number of virtual nodes; 1024 when
	// zero.
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
}

// Maglev is Istio's ConsistentHashLB.MagLev.
type Maglev struct {
	// TableSize is the lookup table size, a prime below 5000011.
	TableSize uint64 `json:"tableSize,omitempty"`
}

// ZoneAwareSettings is Istio's ZoneAwareLoadBalancerSetting, parsed so
// that it is refused by name rather than as an unknown field.
type ZoneAwareSettings struct {
	// Enabled turns zone-aware routing on or off.
	Enabled *bool `json:"enabled,omitempty"`
	// Failover orders regions for failover.
	Failover []Failover `json:"failover,omitempty"`
	// FailoverPriority lists labels that order failover tiers.
	FailoverPriority []string `json:"failoverPriority,omitempty"`
	// MinClusterSize is the smallest local cluster zone-aware routing
	// applies to.
	MinClusterSize *uint32 `json:"minClusterSize,omitempty"`
}

// LocalitySettings is Istio's LocalityLoadBalancerSetting.
type LocalitySettings struct {
	// Distribute sets locality weights for callers in a locality.
	Distribute []Distribute `json:"distribute,omitempty"`
	// Failover sets the region traffic fails over to.
	Failover []Failover `json:"failover,omitempty"`
	// FailoverPriority lists labels that order failover tiers.
	FailoverPriority []string `json:"failoverPriority,omitempty"`
	// Enabled turns locality load balancing on or off.
	Enabled *bool `json:"enabled,omitempty"`
}

// Distribute is Istio's LocalityLoadBalancerSetting.Distribute.
type Distribute struct {
	// From is the callers' locality, which may end in "*".
	From string `json:"from,omitempty"`
	// To maps localities to weights summing to 100.
	To map[string]uint32 `json:"to,omitempty"`
}

// Failover is Istio's LocalityLoadBalancerSetting.Failover.
type Failover struct {
	// From is the region traffic fails over from.
	From string `json:"from,omitempty"`
	// To is the region it fails over to.
	To string `json:"to,omitempty"`
}

// Warmup is Istio's WarmupConfiguration (slow start).
type Warmup struct {
	// Duration of the ramp; required.
	Duration time.Duration `json:"duration"`
	// MinimumPercent is the starting share of traffic; 10 when nil.
	MinimumPercent *float64 `json:"minimumPercent,omitempty"`
	// Aggression shapes the ramp; 1.0 (linear) when nil.
	Aggression *float64 `json:"aggression,omitempty"`
}
