package router

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/telemetry"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// label gives the route's destinations their metric attribute sets, once
// the route has its name.
//
// It runs once, when the route's first request is recorded: a route nobody
// observes costs no memory for them.
func (r *Route) label() { r.labelOnce.Do(r.makeLabels) }

func (r *Route) makeLabels() {
	r.spanName = "route " + r.Name
	r.labels = telemetry.NewLabels(telemetry.KeyRoute.String(r.Name))
	for i := range r.dests {
		d := &r.dests[i]
		d.labels = telemetry.NewLabels(telemetry.KeyRoute.String(r.Name), telemetry.KeyHost.String(d.host), telemetry.KeySubset.String(d.subset))
		d.attemptLabels = telemetry.NewLabels(telemetry.KeyRoute.String(r.Name), telemetry.KeyServerAddress.String(d.host), telemetry.KeySubset.String(d.subset))
	}
}

// recorder reports one routed request to OpenTelemetry and the mesh's
// observers; a nil *recorder reports nothing. The request path creates one
// only when someone listens.
type recorder struct {
	env     *Env
	route   *Route
	method  string
	start   time.Time
	span    trace.Span // nil without tracing
	tracer  trace.Tracer
	metrics *telemetry.Instruments
	dest    *destination
	cluster *cluster.Cluster
	// the exchange it decorates (HTTP)
	exchange *exchange
	cur      attemptRecord // the current attempt's; attempts are sequential
	// how the last attempt ended, for the next one's retry reason
	lastFailure string
	lastStatus  int
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

// release returns rec to the pool once the request has ended.
func (rec *recorder) release() {
	*rec = recorder{}
	recorders.Put(rec)
}

// newRecorder starts the telemetry of a request routed by r, or returns nil
// when nobody listens. ctx is the request's context; the returned one
// carries the request span.
func newRecorder(ctx context.Context, req *http.Request, r *Route, env *Env) (*recorder, context.Context) {
	tr, ms := env.Telemetry.Tracer(), env.Telemetry.Metrics()
	if tr == nil && ms == nil && !env.Observers.active() {
		return nil, ctx
	}
	r.label()
	rec := recorders.Get().(*recorder)
	*rec = recorder{env: env, route: r, method: telemetry.Method(req.Method), start: env.Clock.Now(), tracer: tr, metrics: ms}
	if tr != nil {
		ctx, rec.span = tr.Start(ctx, r.spanName, trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(telemetry.KeyRoute.String(r.Name), telemetry.KeyMethod.String(rec.method)))
	}
	return rec, ctx
}

// forward decorates x.forward: it reports the request, its fault, its
// destination and its attempts (see attempt), and releases rec.
func (rec *recorder) forward(x *exchange) (*http.Response, error) {
	x.rec = rec
	rec.exchange = x
	resp, err := x.forward()
	if d := x.fault; d.Delay > 0 {
		rec.fault("delay", 0)
	}
	if x.fault.Abort && resp != nil {
		rec.fault("abort", resp.StatusCode)
	}
	rec.end(x.out.Context(), resp, err)
	rec.release()
	return resp, err
}

// fault records an injected delay or abort.
func (rec *recorder) fault(kind string, status int) {
	if rec.span != nil {
		rec.span.AddEvent("fault", trace.WithAttributes(telemetry.KeyFault.String(kind), telemetry.KeyStatus.Int(status)))
		rec.span.SetAttributes(telemetry.KeyFault.String(kind))
	}
	if rec.metrics != nil {
		kv := []attribute.KeyValue{telemetry.KeyRoute.String(rec.route.Name), telemetry.KeyFault.String(kind)}
		if status != 0 {
			kv = append(kv, telemetry.KeyStatus.Int(status))
		}
		rec.metrics.Faults.Add(context.Background(), 1, metric.WithAttributes(kv...))
	}
}

// destination records the destination x drew, once the first attempt
// starts (or the request ends).
func (rec *recorder) destination() {
	x := rec.exchange
	if x == nil || rec.dest != nil || x.dest == nil {
		return
	}
	rec.dest, rec.cluster = x.dest, x.c
	if rec.span != nil {
		rec.span.SetAttributes(telemetry.KeyHost.String(x.dest.host), telemetry.KeySubset.String(x.dest.subset))
		if x.c != nil {
			rec.span.SetAttributes(telemetry.KeyCluster.String(x.c.Name))
		}
	}
}

// end records the request's outcome: the response the caller gets, or the
// error.
func (rec *recorder) end(ctx context.Context, resp *http.Response, err error) {
	rec.destination()
	now := rec.env.Clock.Now()
	latency := now.Sub(rec.start)
	status, errType := 0, ""
	if resp != nil {
		status = resp.StatusCode
		if resp.Header.Get("X-Envoy-Overloaded") != "" {
			errType = "overflow"
		}
	} else if err != nil {
		errType = engine.Classify(ctx, err).String()
	}
	if rec.span != nil {
		if status != 0 {
			rec.span.SetAttributes(telemetry.KeyStatus.Int(status))
		}
		switch {
		case err != nil:
			rec.span.RecordError(err)
			rec.span.SetStatus(codes.Error, err.Error())
		case status >= 500:
			rec.span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		rec.span.End()
	}
	if rec.metrics != nil {
		labels := rec.route.labels // a request answered before a destination was drawn
		if rec.dest != nil {
			labels = rec.dest.labels
		}
		opts := labels.For(telemetry.Outcome{Status: status, Error: errType})
		rec.metrics.Requests.Add(ctx, 1, opts.Add...)
		rec.metrics.RequestDuration.Record(ctx, latency.Seconds(), opts.Record...)
	}
	if rec.env.Observers.active() && rec.dest != nil {
		o := route.Observation{Host: rec.dest.host, Subset: rec.dest.subset, Latency: latency, Failed: err != nil, Status: status}
		if resp != nil {
			o.Failed = status >= 500
		}
		rec.env.Observers.notify(o)
	}
}

// attemptRecord is the telemetry of one attempt.
type attemptRecord struct {
	rec   *recorder
	n     int
	start time.Time
	span  trace.Span
	ep    *balancer.Endpoint
}

// attempt decorates attempt n of a: an attempt span, whose context goes
// upstream, the attempt's metrics and the retry that led to it.
func (rec *recorder) attempt(a *attempter, req *http.Request, n int) (*http.Response, error) {
	rec.destination()
	reason := ""
	if n > 1 {
		reason = rec.lastFailure
		if reason == "" {
			reason = telemetry.StatusText(rec.lastStatus)
		}
	}
	ar, out := rec.beginAttempt(req, n, reason)
	resp, err := a.attempt(out, n)
	if ep := a.last.ep; ep != nil {
		ar.picked(ep)
	}
	if a.last.overflow {
		ar.overflow(out.Context(), a.sel.Cluster())
	}
	if a.last.ejected {
		ar.ejected()
	}
	ar.end(out, resp, err)
	rec.lastFailure, rec.lastStatus = "", 0
	if err != nil {
		rec.lastFailure = engine.Classify(out.Context(), err).String()
	} else {
		rec.lastStatus = resp.StatusCode
	}
	return resp, err
}

// beginAttempt starts the telemetry of attempt n, giving it reason, the
// reason the previous attempt was retried. It returns the request to send,
// which carries the attempt span and its trace context.
func (rec *recorder) beginAttempt(req *http.Request, n int, reason string) (*attemptRecord, *http.Request) {
	ar := &rec.cur
	*ar = attemptRecord{rec: rec, n: n, start: rec.env.Clock.Now()}
	if n > 1 && rec.metrics != nil && rec.dest != nil {
		rec.metrics.Retries.Add(req.Context(), 1, metric.WithAttributes(telemetry.KeyRoute.String(rec.route.Name),
			telemetry.KeyHost.String(rec.dest.host), telemetry.KeySubset.String(rec.dest.subset), telemetry.KeyRetryReason.String(reason)))
	}
	if rec.tracer == nil {
		return ar, req
	}
	attrs := []attribute.KeyValue{telemetry.KeyAttempt.Int(n), telemetry.KeyMethod.String(rec.method)}
	if n > 1 {
		attrs = append(attrs, telemetry.KeyResendCount.Int(n-1), telemetry.KeyRetryReason.String(reason))
	}
	if rec.dest != nil {
		attrs = append(attrs, telemetry.KeyServerAddress.String(rec.dest.host), telemetry.KeySubset.String(rec.dest.subset))
	}
	ctx, span := rec.tracer.Start(req.Context(), rec.method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	ar.span = span
	if n > 1 {
		span.AddEvent("retry", trace.WithAttributes(telemetry.KeyRetryReason.String(reason)))
	}
	out := req.WithContext(ctx)
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	rec.env.Telemetry.Inject(ctx, propagation.HeaderCarrier(out.Header))
	return ar, out
}

// picked records the endpoint the attempt goes to.
func (ar *attemptRecord) picked(ep *balancer.Endpoint) {
	ar.ep = ep
	if ar.span != nil {
		ar.span.SetAttributes(telemetry.KeyEndpoint.String(ep.Address))
	}
}

// overflow records that connection-pool limits shed the attempt.
func (ar *attemptRecord) overflow(ctx context.Context, c *cluster.Cluster) {
	if ar.span != nil {
		ar.span.AddEvent("overflow")
	}
	if ms := ar.rec.metrics; ms != nil {
		ms.Overflows.Add(ctx, 1, metric.WithAttributes(telemetry.KeyHost.String(c.Host), telemetry.KeySubset.String(c.Subset)))
	}
}

// ejected records that the attempt's outcome ejected its endpoint.
func (ar *attemptRecord) ejected() {
	if ar.span != nil {
		ar.span.AddEvent("ejected", trace.WithAttributes(telemetry.KeyEndpoint.String(ar.ep.Address)))
	}
}

// end records the attempt's outcome.
func (ar *attemptRecord) end(req *http.Request, resp *http.Response, err error) {
	status, errType := 0, ""
	if resp != nil {
		status = resp.StatusCode
	} else if err != nil {
		errType = engine.Classify(req.Context(), err).String()
	}
	if ar.span != nil {
		if status != 0 {
			ar.span.SetAttributes(telemetry.KeyStatus.Int(status))
		}
		if errType != "" {
			ar.span.SetAttributes(telemetry.KeyErrorType.String(errType))
			ar.span.SetStatus(codes.Error, err.Error())
		} else if status >= 500 {
			ar.span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		ar.span.End()
	}
	rec := ar.rec
	if rec.metrics != nil && rec.dest != nil && (ar.ep != nil || rec.cluster != nil && rec.cluster.Passthrough) {
		opts := rec.dest.attemptLabels.For(telemetry.Outcome{Status: status, Error: errType, Method: rec.method})
		rec.metrics.AttemptDuration.Record(req.Context(), rec.env.Clock.Now().Sub(ar.start).Seconds(), opts.Record...)
	}
}

// grpcRecorder reports one routed unary gRPC call: a request span and an
// attempt span per attempt (their context goes upstream in the metadata),
// and the requests, retries, faults and overflows metrics with
// rpc.grpc.status_code in place of the HTTP status.
type grpcRecorder struct {
	env     *Env
	method  string
	start   time.Time
	span    trace.Span
	tracer  trace.Tracer
	metrics *telemetry.Instruments
	route   *Route
	dest    *destination
	cluster *cluster.Cluster
	last    atomic.Uint32 // the previous attempt's grpccodes.Code, the retry reason
}

func newGRPCRecorder(in *match.Input, env *Env, tr trace.Tracer, ms *telemetry.Instruments) *grpcRecorder {
	return &grpcRecorder{env: env, method: in.Path, start: env.Clock.Now(), tracer: tr, metrics: ms}
}

// begin starts the request span; the returned context carries it.
func (rec *grpcRecorder) begin(ctx context.Context) context.Context {
	if rec.tracer != nil {
		ctx, rec.span = rec.tracer.Start(ctx, "route", trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(telemetry.KeyRPCMethod.String(rec.method)))
	}
	return ctx
}

func (vh *VirtualHost) invokeObserved(ctx context.Context, in *match.Input, env *Env, invoke func(ctx context.Context) error,
	mirrorCall func() func(ctx context.Context) error, tr trace.Tracer, ms *telemetry.Instruments) error {
	rec := newGRPCRecorder(in, env, tr, ms)
	err := vh.invoke(rec.begin(ctx), in, env, invoke, mirrorCall, rec)
	rec.end(err)
	return err
}

// decided records the routing decision: the route, the destination, or a
// fault's abort.
func (rec *grpcRecorder) decided(dec *grpcDecision, err error) {
	rec.route, rec.dest = dec.route, dec.dest
	if rec.route != nil {
		rec.route.label()
	}
	if dec.call != nil {
		rec.cluster = dec.call.Cluster()
	}
	if rec.span != nil && rec.route != nil {
		rec.span.SetName(rec.route.spanName)
		rec.span.SetAttributes(telemetry.KeyRoute.String(rec.route.Name))
		if c := rec.cluster; c != nil {
			rec.span.SetAttributes(telemetry.KeyHost.String(c.Host), telemetry.KeySubset.String(c.Subset), telemetry.KeyCluster.String(c.Name))
		}
	}
	if err != nil && rec.route != nil && rec.route.fault != nil && dec.call == nil {
		code := grpcstatus.Code(err)
		if code != grpccodes.DeadlineExceeded && code != grpccodes.Canceled {
			if rec.span != nil {
				rec.span.AddEvent("fault", trace.WithAttributes(telemetry.KeyFault.String("abort"), telemetry.KeyGRPCStatus.Int(int(code))))
				rec.span.SetAttributes(telemetry.KeyFault.String("abort"))
			}
			if rec.metrics != nil {
				rec.metrics.Faults.Add(context.Background(), 1, metric.WithAttributes(telemetry.KeyRoute.String(rec.route.Name),
					telemetry.KeyFault.String("abort"), telemetry.KeyGRPCStatus.Int(int(code))))
			}
		}
	}
}

// attempt starts the telemetry of attempt n of call; end records its
// outcome, with the endpoint the picker chose and whether the outcome
// ejected it.
func (rec *grpcRecorder) attempt(ctx context.Context, n int, call *Call) (context.Context, func(error)) {
	c := call.Cluster()
	if n > 1 && rec.metrics != nil {
		rec.metrics.Retries.Add(ctx, 1, metric.WithAttributes(telemetry.KeyRoute.String(rec.route.Name),
			telemetry.KeyHost.String(c.Host), telemetry.KeySubset.String(c.Subset), telemetry.KeyRetryReason.String(rec.lastCode().String())))
	}
	var span trace.Span
	if rec.tracer != nil {
		attrs := []attribute.KeyValue{telemetry.KeyAttempt.Int(n), telemetry.KeyRPCMethod.String(rec.method),
			telemetry.KeyServerAddress.String(c.Host), telemetry.KeySubset.String(c.Subset)}
		if n > 1 {
			attrs = append(attrs, telemetry.KeyRetryReason.String(rec.lastCode().String()))
		}
		ctx, span = rec.tracer.Start(ctx, rec.method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
		if n > 1 {
			span.AddEvent("retry", trace.WithAttributes(telemetry.KeyRetryReason.String(rec.lastCode().String())))
		}
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		if md == nil {
			md = metadata.MD{}
		}
		rec.env.Telemetry.Inject(ctx, metadataCarrier(md))
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	var start time.Time // for rpc.client.call.duration
	if rec.metrics != nil {
		start = rec.env.Clock.Now()
	}
	return ctx, func(err error) {
		code := grpcstatus.Code(err)
		rec.last.Store(uint32(code))
		var overflow overflowStatus
		isOverflow := errors.As(err, &overflow)
		if rec.metrics != nil {
			switch {
			case isOverflow:
				rec.metrics.Overflows.Add(ctx, 1, metric.WithAttributes(telemetry.KeyHost.String(c.Host), telemetry.KeySubset.String(c.Subset)))
			case rec.dest != nil:
				opts := rec.dest.attemptLabels.For(telemetry.Outcome{Status: int(code), GRPC: true, Method: rec.method})
				rec.metrics.RPCAttemptDuration.Record(ctx, rec.env.Clock.Now().Sub(start).Seconds(), opts.Record...)
			}
		}
		if span == nil {
			return
		}
		span.SetAttributes(telemetry.KeyGRPCStatus.Int(int(code)))
		if ep := call.ep.Load(); ep != nil {
			span.SetAttributes(telemetry.KeyEndpoint.String(ep.Address))
			if call.ejected.Load() {
				span.AddEvent("ejected", trace.WithAttributes(telemetry.KeyEndpoint.String(ep.Address)))
			}
		}
		if isOverflow {
			span.AddEvent("overflow")
		}
		if code != grpccodes.OK {
			span.SetStatus(codes.Error, code.String())
		}
		span.End()
	}
}

// lastCode is the status the previous attempt ended with.
func (rec *grpcRecorder) lastCode() grpccodes.Code { return grpccodes.Code(rec.last.Load()) }

func (rec *grpcRecorder) end(err error) {
	code := grpcstatus.Code(err)
	// Metrics first: whoever sees the span end sees the call counted.
	if rec.metrics != nil && rec.route != nil {
		labels := rec.route.labels // a call answered before a destination was drawn
		if rec.dest != nil {
			labels = rec.dest.labels
		}
		opts := labels.For(telemetry.Outcome{Status: int(code), GRPC: true})
		rec.metrics.Requests.Add(context.Background(), 1, opts.Add...)
		rec.metrics.RequestDuration.Record(context.Background(), rec.env.Clock.Now().Sub(rec.start).Seconds(), opts.Record...)
	}
	if rec.span != nil {
		rec.span.SetAttributes(telemetry.KeyGRPCStatus.Int(int(code)))
		if code != grpccodes.OK {
			rec.span.SetStatus(codes.Error, code.String())
		}
		rec.span.End()
	}
}

// metadataCarrier writes trace context into gRPC metadata.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(key string) string {
	if vs := metadata.MD(c).Get(key); len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
