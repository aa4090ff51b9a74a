// Package fault holds Istio's fault injection configuration
// (HTTPFaultInjection): delays and aborts drawn per request.
package fault
