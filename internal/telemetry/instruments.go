package telemetry

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The attribute keys of the mesh's spans and metrics. Those OTel's
// semantic conventions define keep their names.
const (
	KeyRoute         = attribute.Key("switchyard.route")
	KeyHost          = attribute.Key("switchyard.destination.host")
	KeySubset        = attribute.Key("switchyard.destination.subset")
	KeyCluster       = attribute.Key("switchyard.cluster")
	KeyEndpoint      = attribute.Key("switchyard.endpoint")
	KeyAttempt       = attribute.Key("switchyard.attempt")
	KeyRetryReason   = attribute.Key("switchyard.retry.reason")
	KeyFault         = attribute.Key("switchyard.fault")
	KeyEjectReason   = attribute.Key("switchyard.ejection.reason")
	KeyDNSName       = attribute.Key("switchyard.dns.name")
	KeyUpdateResult  = attribute.Key("switchyard.update.result")
	KeyStatus        = attribute.Key("http.response.status_code")
	KeyGRPCStatus    = attribute.Key("rpc.grpc.status_code")
	KeyMethod        = attribute.Key("http.request.method")
	KeyErrorType     = attribute.Key("error.type")
	KeyServerAddress = attribute.Key("server.address")
	KeyServerPort    = attribute.Key("server.port")
	KeyResendCount   = attribute.Key("http.request.resend_count")
	KeyRPCMethod     = attribute.Key("rpc.method")
)

// The instrument names.
const (
	NameRequests        = "switchyard.requests"
	NameRequestDuration = "switchyard.request.duration"
	NameAttemptDuration = "http.client.request.duration"
	NameRPCAttempt      = "rpc.client.call.duration"
	NameRetries         = "switchyard.retries"
	NameFaults          = "switchyard.faults"
	NameOverflows       = "switchyard.overflows"
	NameEjections       = "switchyard.ejections"
	NameEjected         = "switchyard.endpoints.ejected"
	NameUpdates         = "switchyard.config.updates"
	NameDNSFailures     = "switchyard.dns.failures"
)

// durationBounds are the histogram buckets in seconds, from OTel's HTTP
// semantic conventions.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Instruments are a mesh's metric instruments for one meter provider.
type Instruments struct {
	mp  metric.MeterProvider
	cmp bool
	off bool
	reg metric.Registration

	// Requests counts requests by route, destination, subset and status.
	Requests metric.Int64Counter
	// RequestDuration is the time from the request to its response
	// headers, retries and back-off included.
	RequestDuration metric.Float64Histogram
	// AttemptDuration is OTel's http.client.request.duration: one
	// measurement per attempt sent upstream.
	AttemptDuration metric.Float64Histogram
	// RPCAttemptDuration is OTel's rpc.client.call.duration: one
	// measurement per gRPC attempt (for a stream, until it ends).
	RPCAttemptDuration metric.Float64Histogram
	// Retries counts retries by reason.
	Retries metric.Int64Counter
	// Faults counts injected delays and aborts.
	Faults metric.Int64Counter
	// Overflows counts requests shed by connection-pool limits.
	Overflows metric.Int64Counter
	// Ejections counts outlier-detection ejections.
	Ejections metric.Int64Counter
	// Updates counts configuration updates, applied or rejected.
	Updates metric.Int64Counter
}

func (in *Instruments) live() *Instruments {
	if in.off {
		return nil
	}
	return in
}

func (in *Instruments) create(m metric.Meter, ejected EjectedFunc, dns DNSFunc) {
	// The SDK returns a working instrument alongside an error for a bad
	// name or unit; ours are fixed and valid, so the errors are ignored.
	in.Requests, _ = m.Int64Counter(NameRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests routed by the mesh, by route, destination, subset and the status the caller got."))
	in.RequestDuration, _ = m.Float64Histogram(NameRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Time from a routed request to its response headers, retries included."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	in.AttemptDuration, _ = m.Float64Histogram(NameAttemptDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of each attempt sent upstream (OTel HTTP client semantic conventions)."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	in.RPCAttemptDuration, _ = m.Float64Histogram(NameRPCAttempt, metric.WithUnit("s"),
		metric.WithDescription("Duration of each gRPC attempt sent upstream (OTel RPC client semantic conventions)."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	in.Retries, _ = m.Int64Counter(NameRetries, metric.WithUnit("{retry}"),
		metric.WithDescription("Retries, by the reason the previous attempt was retried."))
	in.Faults, _ = m.Int64Counter(NameFaults, metric.WithUnit("{fault}"),
		metric.WithDescription("Injected faults, by kind (delay or abort)."))
	in.Overflows, _ = m.Int64Counter(NameOverflows, metric.WithUnit("{request}"),
		metric.WithDescription("Requests shed by connection-pool limits (503 with x-envoy-overloaded)."))
	in.Ejections, _ = m.Int64Counter(NameEjections, metric.WithUnit("{ejection}"),
		metric.WithDescription("Endpoints ejected by outlier detection, by reason."))
	in.Updates, _ = m.Int64Counter(NameUpdates, metric.WithUnit("{update}"),
		metric.WithDescription("Configuration updates, applied or rejected."))
	var observables []metric.Observable
	var ejGauge, dnsGauge metric.Int64ObservableGauge
	if ejected != nil {
		g, err := m.Int64ObservableGauge(NameEjected, metric.WithUnit("{endpoint}"),
			metric.WithDescription("Endpoints ejected by outlier detection now, by destination and subset."))
		if err == nil {
			ejGauge, observables = g, append(observables, g)
		}
	}
	if dns != nil {
		g, err := m.Int64ObservableGauge(NameDNSFailures, metric.WithUnit("{failure}"),
			metric.WithDescription("Consecutive failed resolutions of a host name of a DNS ServiceEntry (its last good addresses are in use), by host and name."))
		if err == nil {
			dnsGauge, observables = g, append(observables, g)
		}
	}
	if len(observables) == 0 {
		return
	}
	in.reg, _ = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if ejGauge != nil {
			ejected(func(host, subset string, n int64) {
				o.ObserveInt64(ejGauge, n, metric.WithAttributes(KeyHost.String(host), KeySubset.String(subset)))
			})
		}
		if dnsGauge != nil {
			dns(func(host, name string, n int64) {
				o.ObserveInt64(dnsGauge, n, metric.WithAttributes(KeyHost.String(host), KeyDNSName.String(name)))
			})
		}
		return nil
	}, observables...)
}

// Labels caches the measurement options of one fixed attribute set (a
// route's destination, say) completed by an outcome: a status code, an
// error type and a method. The first measurement of an outcome builds its
// options; later ones allocate nothing.
type Labels struct {
	base   []attribute.KeyValue
	mu     sync.Mutex
	byName atomic.Pointer[map[Outcome]*Options]
}

// Outcome completes a Labels' attribute set.
type Outcome struct {
	// Status is the HTTP status code, 0 for none.
	Status int
	// Error is error.type, "" for none.
	Error string
	// Method is the HTTP method (the gRPC method, rpc.method, with GRPC),
	// "" to leave it out.
	Method string
	// GRPC makes Status a gRPC status code, rpc.grpc.status_code, which
	// is always present (0 is OK).
	GRPC bool
}

// Options are ready-made measurement options for Add and Record.
type Options struct {
	// Add is for counters' Add.
	Add []metric.AddOption
	// Record is for histograms' Record.
	Record []metric.RecordOption
}

// NewLabels returns the cache for the attribute set base.
func NewLabels(base ...attribute.KeyValue) *Labels { return &Labels{base: base} }

// For returns the options of the base set completed by o.
func (l *Labels) For(o Outcome) *Options {
	if m := l.byName.Load(); m != nil {
		if opts, ok := (*m)[o]; ok {
			return opts
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.byName.Load()
	if cur != nil {
		if opts, ok := (*cur)[o]; ok {
			return opts
		}
	}
	kv := append([]attribute.KeyValue(nil), l.base...)
	switch {
	case o.GRPC:
		kv = append(kv, KeyGRPCStatus.Int(o.Status))
	case o.Status != 0:
		kv = append(kv, KeyStatus.Int(o.Status))
	}
	if o.Error != "" {
		kv = append(kv, KeyErrorType.String(o.Error))
	}
	switch {
	case o.Method == "":
	case o.GRPC:
		kv = append(kv, KeyRPCMethod.String(o.Method))
	default:
		kv = append(kv, KeyMethod.String(o.Method))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	opts := &Options{Add: []metric.AddOption{set}, Record: []metric.RecordOption{set}}
	next := make(map[Outcome]*Options, 1)
	if cur != nil {
		if len(*cur) >= maxOutcomes {
			return opts // bounded: do not cache past the limit
		}
		for k, v := range *cur {
			next[k] = v
		}
	}
	next[o] = opts
	l.byName.Store(&next)
	return opts
}

// maxOutcomes bounds the outcomes a Labels caches.
const maxOutcomes = 256

// Method returns m if it is one of the methods OTel's conventions name,
// else "_OTHER", so that metrics stay bounded whatever callers send.
func Method(m string) string {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE":
		return m
	case "":
		return "GET"
	}
	return "_OTHER"
}

// StatusText renders a status code for an attribute, as a retry reason.
func StatusText(code int) string { return strconv.Itoa(code) }
