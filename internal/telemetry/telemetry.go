package telemetry

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the mesh's tracer and meter.
const ScopeName = "github.com/switchyard-go/switchyard"

// Providers are the OpenTelemetry providers a mesh reports to.
type Providers struct {
	// Tracer makes the spans; nil follows otel.GetTracerProvider.
	Tracer trace.TracerProvider
	// Meter makes the instruments; nil follows otel.GetMeterProvider.
	Meter metric.MeterProvider
	// Propagator writes the trace context into upstream requests; nil
	// means W3C trace context and baggage.
	Propagator propagation.TextMapPropagator
}

// EjectedFunc reports, for the ejected-endpoints gauge, the number of
// ejected endpoints of every cluster through observe.
type EjectedFunc func(observe func(host, subset string, ejected int64))

// DNSFunc reports, for the DNS failures gauge, the consecutive failed
// resolutions of every host name resolved through observe.
type DNSFunc func(observe func(host, name string, failures int64))

// T is a mesh's telemetry. A nil *T reports nothing.
type T struct {
	p       Providers
	ejected EjectedFunc
	dns     DNSFunc

	tracer atomic.Pointer[tracerBox]
	meter  atomic.Pointer[Instruments]
	mu     sync.Mutex // serialises resolving
}

type tracerBox struct {
	tp     trace.TracerProvider
	cmp    bool         // tp can be compared with ==
	tracer trace.Tracer // nil: tracing off
}

// New returns the telemetry for providers p; ejected feeds the
// ejected-endpoints gauge and may be nil.
func New(p Providers, ejected EjectedFunc) *T {
	if p.Propagator == nil {
		p.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return &T{p: p, ejected: ejected}
}

// ObserveDNS makes f feed the DNS failures gauge. Call it before the
// telemetry is first used.
func (t *T) ObserveDNS(f DNSFunc) { t.dns = f }

// Propagator returns the propagator that writes trace context upstream.
func (t *T) Propagator() propagation.TextMapPropagator { return t.p.Propagator }

// Tracer returns the tracer to use now, or nil when tracing is off.
func (t *T) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	tp := t.p.Tracer
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if b := t.tracer.Load(); b != nil && b.cmp && b.tp == tp {
		return b.tracer
	}
	return t.resolveTracer(tp)
}

func (t *T) resolveTracer(tp trace.TracerProvider) trace.Tracer {
	b := &tracerBox{tp: tp, cmp: comparable(tp)}
	if !noopProvider(tp) {
		b.tracer = tp.Tracer(ScopeName)
	}
	t.tracer.Store(b)
	return b.tracer
}

// Metrics returns the instruments to record with now, or nil when metrics
// are off.
func (t *T) Metrics() *Instruments {
	if t == nil {
		return nil
	}
	mp := t.p.Meter
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if in := t.meter.Load(); in != nil && in.cmp && in.mp == mp {
		return in.live()
	}
	return t.resolveMeter(mp).live()
}

func (t *T) resolveMeter(mp metric.MeterProvider) *Instruments {
	t.mu.Lock()
	defer t.mu.Unlock()
	if in := t.meter.Load(); in != nil && in.cmp && in.mp == mp {
		return in
	}
	in := &Instruments{mp: mp, cmp: comparable(mp), off: noopProvider(mp)}
	if !in.off {
		in.create(mp.Meter(ScopeName), t.ejected, t.dns)
	}
	if old := t.meter.Swap(in); old != nil && old.reg != nil {
		_ = old.reg.Unregister()
	}
	return in
}

// Close unregisters the gauge callback.
func (t *T) Close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if in := t.meter.Load(); in != nil && in.reg != nil {
		_ = in.reg.Unregister()
		in.reg = nil
	}
}

// noopProvider reports whether p records nothing: a no-op provider, or the
// global default before any provider has been set (it would only hand out
// delegating no-ops).
func noopProvider(p any) bool {
	switch p.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider, metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return true
	}
	rt := reflect.TypeOf(p)
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	return rt.PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

func comparable(p any) bool { return reflect.TypeOf(p).Comparable() }

// Inject writes ctx's trace context into h.
func (t *T) Inject(ctx context.Context, h propagation.TextMapCarrier) {
	t.p.Propagator.Inject(ctx, h)
}
