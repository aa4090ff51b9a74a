package switchyard

import (
	"context"
	"maps"
	"net/http"
	"net/netip"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/dnsresolve"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/internal/telemetry"
	"github.com/switchyard-go/switchyard/mtls"
)

// Clock tells the time and schedules timers for the mesh (route timeouts).
// The default is the real clock, which also runs virtual time inside
// testing/synctest bubbles. Implementations must be safe for concurrent use.
type Clock = clock.Clock

// Timer is a call scheduled by a [Clock].
type Timer = clock.Timer

// Rand is a source of uniformly distributed 64-bit values for weighted
// choices and balancer picks. The default is math/rand/v2's global source.
// Implementations must be safe for concurrent use.
type Rand = balancer.Rand

// Option configures a [Mesh] built by [New]. Options carry dependencies and
// the caller's identity; routing policy belongs in [Config].
type Option interface {
	apply(*options)
}

type options struct {
	clock             Clock
	rand              Rand
	sourceLabels      map[string]string
	sourceNamespace   string
	endpointTransport func(address string) http.RoundTripper
	bodyLimit         int64
	mirrorLimit       int
	sourceIP          string
	locality          string
	telemetry         telemetry.Providers
	resolver          dnsresolve.Resolver
	workload          *mtls.Source
	strict            bool
	domain            string
}

type domainOption struct{ d string }

func (o domainOption) apply(opts *options) { opts.domain = o.d }

// WithClusterDomain sets the cluster's DNS suffix, istiod's --domain
// ("cluster.local" by default): a short host written in a resource of
// namespace ns means <name>.<ns>.svc.<domain>, and a caller may name such a
// service <name>.<ns>, <name>.<ns>.svc or, from its own namespace, <name>.
func WithClusterDomain(domain string) Option { return domainOption{domain} }

type strictOption struct{}

func (strictOption) apply(opts *options) { opts.strict = true }

// WithWarningsAsErrors makes [New] and [Mesh.Update] refuse a configuration
// that has warnings (see [Mesh.Warnings]) as if they were errors: for
// callers who want every route to lead to endpoints the configuration
// lists, rather than Istio's leniency.
func WithWarningsAsErrors() Option { return strictOption{} }

type clockOption struct{ c Clock }

func (o clockOption) apply(opts *options) { opts.clock = o.c }

// WithClock makes the mesh read time and run timers from c, for tests that
// drive time by hand. A nil c means the real clock.
func WithClock(c Clock) Option { return clockOption{c} }

type randOption struct{ r Rand }

func (o randOption) apply(opts *options) { opts.rand = o.r }

// WithRand makes the mesh draw weighted destinations and balancer choices
// from r, for deterministic tests. A nil r means math/rand/v2.
func WithRand(r Rand) Option { return randOption{r} }

type sourceLabelsOption struct{ labels map[string]string }

func (o sourceLabelsOption) apply(opts *options) { opts.sourceLabels = maps.Clone(o.labels) }

// WithSourceLabels declares the calling workload's own labels, against which
// match blocks' sourceLabels are evaluated. Without it, match blocks with
// sourceLabels never apply.
func WithSourceLabels(labels map[string]string) Option { return sourceLabelsOption{labels} }

type sourceNamespaceOption struct{ ns string }

func (o sourceNamespaceOption) apply(opts *options) { opts.sourceNamespace = o.ns }

// WithSourceNamespace declares the calling workload's namespace, against
// which match blocks' sourceNamespace is evaluated.
func WithSourceNamespace(namespace string) Option { return sourceNamespaceOption{namespace} }

type endpointTransportOption struct {
	f func(address string) http.RoundTripper
}

func (o endpointTransportOption) apply(opts *options) { opts.endpointTransport = o.f }

// WithEndpointTransport replaces the transports that [Mesh.Transport](nil)
// builds for each endpoint: f is called once per endpoint address
// ("host:port") and the RoundTripper it returns receives that endpoint's
// requests unchanged, URL and Host as the caller wrote them. By default each
// endpoint gets its own *http.Transport that dials the endpoint's address
// and originates the TLS its DestinationRule sets; f's transports are given
// only the address, so TLS origination is theirs to do.
func WithEndpointTransport(f func(address string) http.RoundTripper) Option {
	return endpointTransportOption{f}
}

type bodyLimitOption struct{ n int64 }

func (o bodyLimitOption) apply(opts *options) { opts.bodyLimit = o.n }

// WithBodyLimit bounds the request body the mesh keeps in memory to replay
// on retries and to copy to mirrors. A body is never read ahead of its
// sending: a stream goes out as the caller writes it, and what is sent is
// kept, up to n bytes, as it passes. Once more than n bytes of a body have
// been sent, the request is no longer retried and its mirrors' copies are
// cut (a body with GetBody is replayed and copied from GetBody, keeping
// nothing). 0 means the default, 64 KiB; a negative n turns buffering off:
// a request is then retried only if the failed attempt read none of its
// body, and a body without GetBody is not mirrored.
func WithBodyLimit(n int64) Option { return bodyLimitOption{n} }

type mirrorLimitOption struct{ n int }

func (o mirrorLimitOption) apply(opts *options) { opts.mirrorLimit = o.n }

// WithMirrorConcurrency bounds the mirrored copies in flight at once;
// copies past it are dropped. The default is 64. One mirror destination
// (cluster) holds at most half of them, so that a slow shadow leaves the
// rest to the others, and every copy times out after its route's timeout,
// or 15 s when the route sets none.
func WithMirrorConcurrency(n int) Option { return mirrorLimitOption{n} }

type sourceIPOption struct{ ip string }

func (o sourceIPOption) apply(opts *options) { opts.sourceIP = o.ip }

// WithSourceIP declares the calling workload's own address, which
// consistentHash.useSourceIp hashes. Without it, useSourceIp has no key and
// picks at random.
func WithSourceIP(ip string) Option { return sourceIPOption{ip} }

type localityOption struct{ l string }

func (o localityOption) apply(opts *options) { opts.locality = o.l }

// WithLocality declares the calling workload's locality,
// "region/zone/subzone", for locality load balancing: with outlier
// detection (Istio's mesh default) traffic fails over from the caller's own
// locality outwards, and localityLbSetting.distribute rules match it.
// Without it, locality load balancing is off.
func WithLocality(locality string) Option { return localityOption{locality} }

type tracerProviderOption struct{ tp trace.TracerProvider }

func (o tracerProviderOption) apply(opts *options) { opts.telemetry.Tracer = o.tp }

// WithTracerProvider makes the mesh trace through tp: a span per routed
// request ("route <name>", with the route, destination host, subset and
// cluster, faults as events, the status) and a client span per attempt
// (the endpoint, attempt number, retry reason, overflow and ejection
// events), whose trace context goes upstream in the request headers.
// Without it the mesh follows otel.GetTracerProvider, and costs nothing
// while that is the default no-op. The README lists every attribute.
func WithTracerProvider(tp trace.TracerProvider) Option { return tracerProviderOption{tp} }

type meterProviderOption struct{ mp metric.MeterProvider }

func (o meterProviderOption) apply(opts *options) { opts.telemetry.Meter = o.mp }

func init() {
	// The xds package reports on its control plane with the caller's
	// meter provider.
	meshopt.MeterProvider = func(opt any) (metric.MeterProvider, bool) {
		o, ok := opt.(meterProviderOption)
		return o.mp, ok
	}
}

// WithMeterProvider makes the mesh record its metrics with mp: requests and
// their duration by route, destination and subset; attempts as OTel's
// http.client.request.duration (gRPC attempts: rpc.client.call.duration);
// retries by reason; injected faults; pool overflows; ejections and the
// endpoints ejected now; configuration updates. Endpoint addresses stay off metrics, so cardinality is bounded by the
// configuration. Without it the mesh follows otel.GetMeterProvider, and
// costs nothing while that is the default no-op.
func WithMeterProvider(mp metric.MeterProvider) Option { return meterProviderOption{mp} }

type propagatorOption struct{ p propagation.TextMapPropagator }

func (o propagatorOption) apply(opts *options) { opts.telemetry.Propagator = o.p }

// WithPropagator sets how trace context is written into upstream requests;
// the default is W3C trace context and baggage.
func WithPropagator(p propagation.TextMapPropagator) Option { return propagatorOption{p} }

type dnsResolverOption struct{ r dnsresolve.Resolver }

func (o dnsResolverOption) apply(opts *options) { opts.resolver = o.r }

// WithDNSResolver makes the mesh resolve the host names of ServiceEntries
// with resolution DNS (every address an endpoint, as Envoy's STRICT_DNS)
// or DNS_ROUND_ROBIN (the first address, LOGICAL_DNS) with lookup, instead
// of the system's resolver (the hosts file, then the nameservers of
// resolv.conf). lookup returns the addresses of host and how long they may
// be cached (0: unknown; the name is then re-resolved every 60 s, Istio's
// dnsRefreshRate); no addresses and no error is an answer that host has
// none. An error keeps the last good addresses, and the name is tried
// again with backoff. lookup must be safe for concurrent use and return
// when ctx is done. Tests use it to script DNS.
func WithDNSResolver(lookup func(ctx context.Context, host string) (addrs []netip.Addr, ttl time.Duration, err error)) Option {
	if lookup == nil {
		return nil
	}
	return dnsResolverOption{dnsresolve.ResolverFunc(func(ctx context.Context, host string) (dnsresolve.Answer, error) {
		addrs, ttl, err := lookup(ctx, host)
		if err != nil {
			return dnsresolve.Answer{}, err
		}
		return dnsresolve.Answer{Addrs: addrs, TTL: ttl}, nil
	})}
}
