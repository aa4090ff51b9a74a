// Package fault implements Istio's HTTPFaultInjection: a delay and an abort,
// each drawn independently per request, as Envoy's fault filter does before
// the router.
//
// The delay is decided first; if drawn, the request waits fixedDelay (or
// until its context ends). Then the abort is drawn, and an aborted request is
// answered locally — httpStatus with body "fault filter abort", or for a
// gRPC request HTTP 200 with grpc-status — without reaching any upstream. A
// percentage that is absent means never, as in Istio.
//
//	inj, err := fault.New(&fault.Config{Abort: &fault.Abort{HTTPStatus: 503, Percentage: &fault.Percent{Value: 10}}})
//	client := &http.Client{Transport: inj.RoundTripper(http.DefaultTransport)}
//
// For gRPC, [Injector.ApplyGRPC] answers an abort as a status, and
// [Injector.UnaryClientInterceptor] and [Injector.StreamClientInterceptor]
// wrap a plain grpc.ClientConn.
package fault
