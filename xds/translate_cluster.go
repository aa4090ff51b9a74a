package xds

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/retry"
	"github.com/switchyard-go/switchyard/subset"
)

// httpProtocolOptionsKey is the key of the upstream HTTP protocol options
// in Cluster.typed_extension_protocol_options.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// clusterIR is what a Cluster contributes: its endpoints' source and the
// traffic policy of its subset.
type clusterIR struct {
	edsName string       // the ClusterLoadAssignment to watch, or
	inline  *endpointsIR // endpoints in the cluster itself
	dns     bool         // STRICT_DNS / LOGICAL_DNS: addresses are host names
	ignored bool         // ORIGINAL_DST (Istio's PassthroughCluster): not translated
	hashed  bool         // RING_HASH or MAGLEV: the hash key comes from the routes
	http2   bool
	// localityWeighted: common_lb_config.locality_weighted_lb_config, the
	// endpoints' locality weights apply (see localityDistribute).
	localityWeighted bool
	// policy: LoadBalancer is always set; TLS is the assembly's
	// (clusterTLS). Shared with the clusters of the same policy, and
	// with the configuration.
	policy *subset.TrafficPolicy
	// sockets are its transport_socket_matches (Istio's auto mTLS), then
	// its own transport_socket (with no match: see ownTLS); nil when it
	// has neither (plain text).
	sockets []socketMatch
}

// ownTLS is the TLS of the cluster's own transport_socket: nil for plain
// text.
func (c *clusterIR) ownTLS() *subset.ClientTLS {
	if len(c.sockets) == 0 {
		return nil
	}
	return c.sockets[len(c.sockets)-1].tls
}

// endpointsIR is a translated ClusterLoadAssignment: the endpoints that take
// traffic.
type endpointsIR struct {
	eps []endpointIR
}

type endpointIR struct {
	address string
	socket  map[string]string // envoy.transport_socket_match metadata; shared, read only
	*localityIR
	port   uint32
	weight uint32
}

// localityIR is what an endpoint has of its LocalityLbEndpoints, shared
// with the endpoints of the same (sharedLocality).
type localityIR struct {
	locality string
	priority uint32
	// localityWeight is the locality's load_balancing_weight (0: none).
	localityWeight uint32
}

// translateCluster reads a Cluster. proxyless selects gRPC's defaults for
// absent fields instead of Envoy's; env is what its TLS may name (nil:
// no certificate providers, no workload certificates).
func translateCluster(c *clusterv3.Cluster, proxyless bool, env *tlsEnv) (*clusterIR, error) {
	p := "Cluster " + strconv.Quote(c.GetName())
	ir := &clusterIR{}
	if c.GetType() == clusterv3.Cluster_ORIGINAL_DST {
		// Istio's PassthroughCluster and InboundPassthroughCluster: the
		// address the caller asked for, which is what the mesh does for
		// hosts it does not know. Routes to it are left out.
		ir.ignored = true
		// Such requests go through the caller's own transport, which
		// the mesh's TLS origination does not reach: TLS there would
		// be plain text.
		t, err := translateTransportSocket(c.GetTransportSocket(), p+".transport_socket", env)
		if err == nil && t != nil {
			err = fmt.Errorf("%s.transport_socket: TLS origination (%s) on an ORIGINAL_DST cluster (Istio's PASSTHROUGH load balancing) is not supported: its requests go to the address asked for through the caller's own transport", p, t.Mode)
		}
		if err != nil {
			return nil, err
		}
		ms, err := translateSocketMatches(c.GetTransportSocketMatches(), p, env)
		if err != nil {
			return nil, err
		}
		// The hosts of an ORIGINAL_DST cluster carry no metadata: the
		// first match without criteria (Istio's auto mTLS ends with one
		// for plain text) is the one that applies to them all.
		for i, m := range ms {
			if len(m.match) > 0 {
				continue
			}
			if m.tls != nil {
				return nil, fmt.Errorf("%s.transport_socket_matches[%d]: TLS origination (%s) on an ORIGINAL_DST cluster (Istio's PASSTHROUGH load balancing) is not supported: its requests go to the address asked for through the caller's own transport", p, i, m.tls.Mode)
			}
			break
		}
		return ir, nil
	}
	if err := checkFields(c, p, clusterFields); err != nil {
		return nil, err
	}
	switch c.GetType() {
	case clusterv3.Cluster_EDS:
		ir.edsName = c.GetEdsClusterConfig().GetServiceName()
		if ir.edsName == "" {
			ir.edsName = c.GetName()
		}
		if cs := c.GetEdsClusterConfig().GetEdsConfig(); cs != nil && cs.GetAds() == nil && cs.GetSelf() == nil {
			return nil, fmt.Errorf("%s: eds_cluster_config.eds_config: only ads and self are supported", p)
		}
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
		ir.dns = c.GetType() != clusterv3.Cluster_STATIC
		eps, err := translateCLA(c.GetLoadAssignment(), p+": load_assignment", ir.dns)
		if err != nil {
			return nil, err
		}
		ir.inline = eps
	default:
		return nil, fmt.Errorf("%s.type: %s is not supported", p, c.GetType())
	}
	if c.GetClusterType() != nil {
		return nil, fmt.Errorf("%s.cluster_type: custom cluster types are not supported", p)
	}

	pol := &subset.TrafficPolicy{}
	lb := &balancer.Settings{}
	var slow *clusterv3.Cluster_SlowStartConfig
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		lb.Simple = balancer.SimpleRoundRobin
		if rr := c.GetRoundRobinLbConfig(); rr != nil {
			if err := checkFields(rr, p+".round_robin_lb_config", roundRobinFields); err != nil {
				return nil, err
			}
			slow = rr.GetSlowStartConfig()
		}
	case clusterv3.Cluster_LEAST_REQUEST:
		lb.Simple = balancer.SimpleLeastRequest
		if lr := c.GetLeastRequestLbConfig(); lr != nil {
			lp := p + ".least_request_lb_config"
			if err := checkFields(lr, lp, leastRequestFields); err != nil {
				return nil, err
			}
			if n := lr.GetChoiceCount(); n != nil && n.GetValue() != 2 {
				return nil, fmt.Errorf("%s.choice_count: only 2 is supported", lp)
			}
			slow = lr.GetSlowStartConfig()
		}
	case clusterv3.Cluster_RANDOM:
		lb.Simple = balancer.SimpleRandom
	case clusterv3.Cluster_RING_HASH:
		ir.hashed = true
		rh := &balancer.RingHash{MinimumRingSize: 1024}
		if cfg := c.GetRingHashLbConfig(); cfg != nil {
			rp := p + ".ring_hash_lb_config"
			if err := checkFields(cfg, rp, ringHashFields); err != nil {
				return nil, err
			}
			if cfg.GetHashFunction() != clusterv3.Cluster_RingHashLbConfig_XX_HASH {
				return nil, fmt.Errorf("%s.hash_function: only XX_HASH is supported", rp)
			}
			if n := cfg.GetMinimumRingSize(); n != nil {
				rh.MinimumRingSize = n.GetValue()
			}
		}
		lb.ConsistentHash = &balancer.ConsistentHash{RingHash: rh}
	case clusterv3.Cluster_MAGLEV:
		ir.hashed = true
		mg := &balancer.Maglev{TableSize: 65537}
		if cfg := c.GetMaglevLbConfig(); cfg != nil {
			if err := checkFields(cfg, p+".maglev_lb_config", maglevFields); err != nil {
				return nil, err
			}
			if n := cfg.GetTableSize(); n != nil {
				mg.TableSize = n.GetValue()
			}
		}
		lb.ConsistentHash = &balancer.ConsistentHash{Maglev: mg}
	default:
		return nil, fmt.Errorf("%s.lb_policy: %s is not supported", p, c.GetLbPolicy())
	}
	if slow != nil {
		sp := p + ".slow_start_config"
		if err := checkFields(slow, sp, slowStartFields); err != nil {
			return nil, err
		}
		w := &balancer.Warmup{Duration: slow.GetSlowStartWindow().AsDuration()}
		if a := slow.GetAggression(); a != nil {
			v := a.GetDefaultValue()
			w.Aggression = &v
		}
		if m := slow.GetMinWeightPercent(); m != nil {
			v := m.GetValue()
			w.MinimumPercent = &v
		}
		lb.Warmup = w
	}
	pol.LoadBalancer = sharedBalancer(lb)

	// Circuit breakers: Envoy's defaults apply to absent thresholds; gRPC
	// enforces only max_requests (default 1024).
	pl := &pool.Settings{TCP: &pool.TCPSettings{}, HTTP: &pool.HTTPSettings{}}
	var th *clusterv3.CircuitBreakers_Thresholds
	for i, t := range c.GetCircuitBreakers().GetThresholds() {
		tp := fmt.Sprintf("%s.circuit_breakers.thresholds[%d]", p, i)
		if err := checkFields(t, tp, thresholdFields); err != nil {
			return nil, err
		}
		if t.GetPriority() == corev3.RoutingPriority_DEFAULT {
			th = t
		}
	}
	if c.GetCircuitBreakers() != nil {
		if err := checkFields(c.GetCircuitBreakers(), p+".circuit_breakers", fieldTable{"thresholds": translated}); err != nil {
			return nil, err
		}
	}
	get := func(has bool, v uint32, def int32) int32 {
		if !has {
			return def
		}
		if v > math.MaxInt32 {
			return 0 // unlimited
		}
		if v == 0 {
			return -1 // nothing admitted; replaced below
		}
		return int32(v)
	}
	def := int32(1024)
	defRetries := int32(3)
	if proxyless {
		def, defRetries = 0, 0
	}
	pl.HTTP.HTTP2MaxRequests = get(th.GetMaxRequests() != nil, th.GetMaxRequests().GetValue(), 1024)
	if !proxyless {
		pl.TCP.MaxConnections = get(th.GetMaxConnections() != nil, th.GetMaxConnections().GetValue(), def)
		pl.HTTP.HTTP1MaxPendingRequests = get(th.GetMaxPendingRequests() != nil, th.GetMaxPendingRequests().GetValue(), def)
		pl.HTTP.MaxRetries = get(th.GetMaxRetries() != nil, th.GetMaxRetries().GetValue(), defRetries)
	}
	for name, v := range map[string]int32{"max_requests": pl.HTTP.HTTP2MaxRequests, "max_connections": pl.TCP.MaxConnections, "max_pending_requests": pl.HTTP.HTTP1MaxPendingRequests, "max_retries": pl.HTTP.MaxRetries} {
		if v < 0 {
			return nil, fmt.Errorf("%s.circuit_breakers.thresholds.%s: 0 admits nothing and is not supported", p, name)
		}
	}
	if rb := th.GetRetryBudget(); rb != nil && !proxyless {
		b := &retry.Budget{}
		if bp := rb.GetBudgetPercent(); bp != nil {
			v := bp.GetValue()
			b.Percent = &v
		}
		if m := rb.GetMinRetryConcurrency(); m != nil {
			b.MinRetryConcurrency = m.GetValue()
		}
		pol.RetryBudget = b
	}
	if !proxyless {
		pl.TCP.ConnectTimeout = durationOr(c.GetConnectTimeout(), 5*time.Second)
	} else if c.GetConnectTimeout() != nil {
		pl.TCP.ConnectTimeout = c.GetConnectTimeout().AsDuration()
	}
	if ka := c.GetUpstreamConnectionOptions().GetTcpKeepalive(); ka != nil {
		pl.TCP.TCPKeepalive = &pool.TCPKeepalive{
			Probes:   ka.GetKeepaliveProbes().GetValue(),
			Time:     time.Duration(ka.GetKeepaliveTime().GetValue()) * time.Second,
			Interval: time.Duration(ka.GetKeepaliveInterval().GetValue()) * time.Second,
		}
	}
	if uco := c.GetUpstreamConnectionOptions(); uco != nil {
		if err := checkFields(uco, p+".upstream_connection_options", fieldTable{"tcp_keepalive": translated}); err != nil {
			return nil, err
		}
	}
	for key, a := range c.GetTypedExtensionProtocolOptions() {
		kp := fmt.Sprintf("%s.typed_extension_protocol_options[%q]", p, key)
		if key != httpProtocolOptionsKey {
			return nil, fmt.Errorf("%s: not supported by switchyard", kp)
		}
		po := new(upstreamhttpv3.HttpProtocolOptions)
		if err := a.UnmarshalTo(po); err != nil {
			return nil, fmt.Errorf("%s: %v", kp, err)
		}
		if err := checkFields(po, kp, httpProtocolOptionsFields); err != nil {
			return nil, err
		}
		if co := po.GetCommonHttpProtocolOptions(); co != nil {
			if err := checkFields(co, kp+".common_http_protocol_options", commonHTTPOptionsFields); err != nil {
				return nil, err
			}
			if d := co.GetIdleTimeout(); d != nil {
				v := d.AsDuration()
				pl.HTTP.IdleTimeout = &v
			}
			pl.TCP.MaxConnectionDuration = co.GetMaxConnectionDuration().AsDuration()
			if n := co.GetMaxRequestsPerConnection().GetValue(); n > 1 {
				return nil, fmt.Errorf("%s.common_http_protocol_options.max_requests_per_connection: %d is not supported: Go's http.Transport cannot close a connection after n requests (1, no keep-alive, is)", kp, n)
			} else if n == 1 {
				pl.HTTP.MaxRequestsPerConnection = 1
			}
		}
		switch pc := po.GetUpstreamProtocolOptions().(type) {
		case *upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_:
			if h2 := pc.ExplicitHttpConfig.GetHttp2ProtocolOptions(); h2 != nil {
				ir.http2 = true
				pl.HTTP.H2UpgradePolicy = "UPGRADE"
				if h2.GetMaxConcurrentStreams() != nil {
					return nil, fmt.Errorf("%s.explicit_http_config.http2_protocol_options.max_concurrent_streams: not supported: Go's HTTP/2 client takes its stream limit from the server's SETTINGS frame", kp)
				}
			}
		case *upstreamhttpv3.HttpProtocolOptions_UseDownstreamProtocolConfig:
			pl.HTTP.UseClientProtocol = true
		case *upstreamhttpv3.HttpProtocolOptions_AutoConfig:
			return nil, fmt.Errorf("%s.auto_config: not supported by switchyard", kp)
		}
	}
	pol.ConnectionPool = sharedPool(pl)

	panicThreshold := 50.0 // Envoy's default
	if cl := c.GetCommonLbConfig(); cl != nil {
		cp := p + ".common_lb_config"
		if err := checkFields(cl, cp, commonLbFields); err != nil {
			return nil, err
		}
		if pt := cl.GetHealthyPanicThreshold(); pt != nil {
			panicThreshold = pt.GetValue()
		}
		ir.localityWeighted = cl.GetLocalityWeightedLbConfig() != nil
		if cl.GetZoneAwareLbConfig() != nil {
			return nil, fmt.Errorf("%s.zone_aware_lb_config: not supported by switchyard", cp)
		}
	}
	if od := c.GetOutlierDetection(); od != nil {
		oc, err := outlierOf(od, p+".outlier_detection")
		if err != nil {
			return nil, err
		}
		oc.MinHealthPercent = int32(panicThreshold)
		pol.OutlierDetection = sharedOutlier(oc)
	}
	ir.policy = sharedPolicy(pol)

	t, err := translateTransportSocket(c.GetTransportSocket(), p+".transport_socket", env)
	if err != nil {
		return nil, err
	}
	ms, err := translateSocketMatches(c.GetTransportSocketMatches(), p, env)
	if err != nil {
		return nil, err
	}
	if t != nil || len(ms) > 0 {
		ir.sockets = append(make([]socketMatch, 0, len(ms)+1), ms...)
		ir.sockets = append(ir.sockets, socketMatch{tls: t})
	}
	return ir, nil
}

// outlierOf reads outlier detection with Envoy's defaults for absent fields.
func outlierOf(od *clusterv3.OutlierDetection, p string) (*outlier.Config, error) {
	if err := checkFields(od, p, outlierFields); err != nil {
		return nil, err
	}
	u32 := func(v interface{ GetValue() uint32 }, isNil bool, def uint32) uint32 {
		if isNil {
			return def
		}
		return v.GetValue()
	}
	enforced := func(isNil bool, v uint32, def uint32) bool {
		if isNil {
			return def > 0
		}
		return v > 0
	}
	if enforced(od.GetEnforcingSuccessRate() == nil, od.GetEnforcingSuccessRate().GetValue(), 100) {
		return nil, fmt.Errorf("%s.enforcing_success_rate: success-rate ejection is not supported (set it to 0, as Istio does)", p)
	}
	if enforced(od.GetEnforcingFailurePercentage() == nil, od.GetEnforcingFailurePercentage().GetValue(), 0) {
		return nil, fmt.Errorf("%s.enforcing_failure_percentage: failure-percentage ejection is not supported", p)
	}
	if enforced(od.GetEnforcingFailurePercentageLocalOrigin() == nil, od.GetEnforcingFailurePercentageLocalOrigin().GetValue(), 0) {
		return nil, fmt.Errorf("%s.enforcing_failure_percentage_local_origin: failure-percentage ejection is not supported", p)
	}
	oc := &outlier.Config{
		Interval:                       durationOr(od.GetInterval(), 10*time.Second),
		BaseEjectionTime:               durationOr(od.GetBaseEjectionTime(), 30*time.Second),
		MaxEjectionPercent:             int32(min(u32(od.GetMaxEjectionPercent(), od.GetMaxEjectionPercent() == nil, 10), 100)),
		SplitExternalLocalOriginErrors: od.GetSplitExternalLocalOriginErrors(),
	}
	if oc.SplitExternalLocalOriginErrors && enforced(od.GetEnforcingLocalOriginSuccessRate() == nil, od.GetEnforcingLocalOriginSuccessRate().GetValue(), 100) {
		return nil, fmt.Errorf("%s.enforcing_local_origin_success_rate: success-rate ejection is not supported (set it to 0, as Istio does)", p)
	}
	c5 := u32(od.GetConsecutive_5Xx(), od.GetConsecutive_5Xx() == nil, 5)
	if !enforced(od.GetEnforcingConsecutive_5Xx() == nil, od.GetEnforcingConsecutive_5Xx().GetValue(), 100) {
		c5 = 0
	} else if v := od.GetEnforcingConsecutive_5Xx(); v != nil && v.GetValue() != 100 {
		return nil, fmt.Errorf("%s.enforcing_consecutive_5xx: only 0 and 100 are supported", p)
	}
	oc.Consecutive5xxErrors = &c5
	if enforced(od.GetEnforcingConsecutiveGatewayFailure() == nil, od.GetEnforcingConsecutiveGatewayFailure().GetValue(), 0) {
		if v := od.GetEnforcingConsecutiveGatewayFailure().GetValue(); v != 100 {
			return nil, fmt.Errorf("%s.enforcing_consecutive_gateway_failure: only 0 and 100 are supported", p)
		}
		g := u32(od.GetConsecutiveGatewayFailure(), od.GetConsecutiveGatewayFailure() == nil, 5)
		oc.ConsecutiveGatewayErrors = &g
	}
	if oc.SplitExternalLocalOriginErrors {
		if enforced(od.GetEnforcingConsecutiveLocalOriginFailure() == nil, od.GetEnforcingConsecutiveLocalOriginFailure().GetValue(), 100) {
			if v := od.GetEnforcingConsecutiveLocalOriginFailure(); v != nil && v.GetValue() != 100 {
				return nil, fmt.Errorf("%s.enforcing_consecutive_local_origin_failure: only 0 and 100 are supported", p)
			}
			l := u32(od.GetConsecutiveLocalOriginFailure(), od.GetConsecutiveLocalOriginFailure() == nil, 5)
			oc.ConsecutiveLocalOriginFailures = &l
		}
	}
	return oc, nil
}

// translateCLA reads a ClusterLoadAssignment: the endpoints that take
// traffic. Unhealthy, draining, timed-out and degraded endpoints are left
// out (Envoy sends them nothing while healthy ones remain). Priorities are
// kept for the assembly.
func translateCLA(cla *endpointv3.ClusterLoadAssignment, p string, dns bool) (*endpointsIR, error) {
	out := &endpointsIR{}
	if cla == nil {
		return out, nil
	}
	n := 0
	for _, le := range cla.GetEndpoints() {
		n += len(le.GetLbEndpoints())
	}
	out.eps = make([]endpointIR, 0, n)
	intern := map[string]map[string]string{}
	if err := checkFields(cla, p, claFields); err != nil {
		return nil, err
	}
	if pol := cla.GetPolicy(); pol != nil {
		if err := checkFields(pol, p+".policy", claPolicyFields); err != nil {
			return nil, err
		}
		if len(pol.GetDropOverloads()) > 0 {
			return nil, fmt.Errorf("%s.policy.drop_overloads: not supported by switchyard", p)
		}
	}
	for i, le := range cla.GetEndpoints() {
		lp := fmt.Sprintf("%s.endpoints[%d]", p, i)
		if err := checkFields(le, lp, localityEndpointsFields); err != nil {
			return nil, err
		}
		//lint:ignore SA1019 a control plane may still send it; refused by name
		if le.GetLoadBalancerEndpoints() != nil || le.GetLedsClusterLocalityConfig() != nil {
			return nil, fmt.Errorf("%s: LEDS is not supported", lp)
		}
		loc := &localityIR{priority: le.GetPriority(), localityWeight: le.GetLoadBalancingWeight().GetValue()}
		if l := le.GetLocality(); l != nil && l.GetRegion() != "" {
			loc.locality = l.GetRegion()
			if l.GetZone() != "" {
				loc.locality += "/" + l.GetZone()
				if l.GetSubZone() != "" {
					loc.locality += "/" + l.GetSubZone()
				}
			}
		}
		if len(le.GetLbEndpoints()) > 0 {
			loc = sharedLocality(loc)
		}
		for j, lbe := range le.GetLbEndpoints() {
			ep := fmt.Sprintf("%s.lb_endpoints[%d]", lp, j)
			if err := checkFields(lbe, ep, lbEndpointFields); err != nil {
				return nil, err
			}
			e := lbe.GetEndpoint()
			if e == nil {
				return nil, fmt.Errorf("%s: endpoint_name is not supported", ep)
			}
			if err := checkFields(e, ep+".endpoint", endpointFields); err != nil {
				return nil, err
			}
			if len(e.GetAdditionalAddresses()) > 0 {
				return nil, fmt.Errorf("%s.endpoint.additional_addresses: not supported by switchyard", ep)
			}
			sa := e.GetAddress().GetSocketAddress()
			if sa == nil {
				return nil, fmt.Errorf("%s.endpoint.address: only socket_address is supported", ep)
			}
			if sa.GetProtocol() != corev3.SocketAddress_TCP {
				return nil, fmt.Errorf("%s.endpoint.address.socket_address.protocol: only TCP is supported", ep)
			}
			if _, ok := sa.GetPortSpecifier().(*corev3.SocketAddress_PortValue); !ok {
				return nil, fmt.Errorf("%s.endpoint.address.socket_address: a port_value is required", ep)
			}
			if !dns && net.ParseIP(sa.GetAddress()) == nil {
				return nil, fmt.Errorf("%s.endpoint.address.socket_address.address: %q is not an IP address", ep, sa.GetAddress())
			}
			switch lbe.GetHealthStatus() {
			case corev3.HealthStatus_UNKNOWN, corev3.HealthStatus_HEALTHY:
			default:
				continue
			}
			w := uint32(1)
			if lw := lbe.GetLoadBalancingWeight(); lw != nil {
				w = lw.GetValue()
			}
			out.eps = append(out.eps, endpointIR{address: sa.GetAddress(), port: sa.GetPortValue(), weight: w, localityIR: loc,
				socket: socketMetadata(lbe.GetMetadata(), le.GetMetadata(), intern)})
		}
	}
	return out, nil
}
