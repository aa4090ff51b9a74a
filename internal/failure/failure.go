// Package failure names, once for the whole mesh, the ways a request or an
// attempt fails without a response of its own: retry conditions, Envoy's
// local replies, telemetry's error.type and retry reasons all speak in
// these kinds.
package failure

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
)

// Kind is a way a request or an attempt fails.
type Kind uint8

// The kinds, as Envoy tells them apart. The first three are transport
// failures (see Transport); the rest are the mesh's own decisions.
const (
	// Reset is a connection reset or disconnect after the request started.
	Reset Kind = iota
	// Connect is a failure to connect: refused, unreachable, a connect
	// timeout, name resolution.
	Connect
	// RefusedStream is an HTTP/2 REFUSED_STREAM.
	RefusedStream
	// PerTryTimeout is an attempt cut by its per-try timeout, which Envoy
	// treats as a local reset.
	PerTryTimeout
	// Timeout is the route timeout: the whole request took too long.
	Timeout
	// Overflow is a request refused by a connection-pool limit.
	Overflow
	// NoHealthyUpstream is a cluster with no endpoint to pick.
	NoHealthyUpstream
	// InvalidRequest is the request's own fault (a header net/http
	// refuses, a failing body): it is returned as it is.
	InvalidRequest
	// Canceled is the caller giving up: its own context ended.
	Canceled
)

var names = [...]string{"reset", "connect-failure", "refused-stream", "per-try-timeout", "timeout", "overflow",
	"no-healthy-upstream", "invalid-request", "canceled"}

// String returns the kind's name: Envoy's retry_on name for the transport
// failures, and the name telemetry's error.type uses for the others.
func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Transport tells which transport failure err is: Connect, RefusedStream,
// or Reset for anything else.
func Transport(err error) Kind {
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &dns), errors.As(err, &op) && (op.Op == "dial" || op.Op == "remote error"):
		// A TLS alert from the server ("remote error") ends a handshake
		// it refused, even one the client thought complete (TLS 1.3
		// tells a refused client certificate only on the first read).
		return Connect
	case strings.Contains(err.Error(), "REFUSED_STREAM"):
		return RefusedStream
	default:
		return Reset
	}
}
