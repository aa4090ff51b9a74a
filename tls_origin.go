package switchyard

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/switchyard-go/switchyard/mtls"
)

type workloadOption struct{ src *mtls.Source }

func (o workloadOption) apply(opts *options) { opts.workload = o.src }

// WithWorkloadCertificates gives the mesh the workload's own certificates,
// for DestinationRules whose tls mode is ISTIO_MUTUAL: their connections
// present src's certificate and verify the server's SPIFFE identity against
// src's roots, both as current at each handshake, so a rotation of src's
// files applies to new connections without an Update. Istio's agent writes
// a proxyless workload's files into [mtls.DefaultDir]:
//
//	src, err := mtls.NewFileSource(mtls.IstioFiles(mtls.DefaultDir))
//
// The caller keeps src and closes it after the mesh. Without this option, a
// rule with ISTIO_MUTUAL is an error at New and Update.
func WithWorkloadCertificates(src *mtls.Source) Option { return workloadOption{src} }

// ALPN protocols offered when originating TLS: Istio's for an in-mesh
// (ISTIO_MUTUAL) cluster, "istio" ahead of the HTTP protocol, which a Go
// server (mtls.ServerConfig) and an Envoy sidecar both accept.
var (
	alpnH2          = []string{"h2"}
	alpnHTTP1       = []string{"http/1.1"}
	alpnInMeshH2    = []string{"istio", "h2"}
	alpnInMeshHTTP1 = []string{"istio", "http/1.1"}
)

// alpn returns the ALPN protocols of these settings' TLS connections.
func (s transportSettings) alpn() []string {
	mesh := s.tls.Mode == mtls.IstioMutual
	switch {
	case s.tlsH2 && mesh:
		return alpnInMeshH2
	case s.tlsH2:
		return alpnH2
	case mesh:
		return alpnInMeshHTTP1
	}
	return alpnHTTP1
}

// tlsDialer returns a dial function that connects with dial and then
// originates TLS as s.tls says. The server name is the rule's sni (Istio's
// SNI for ISTIO_MUTUAL) or else the host of the address the transport
// dials for, which is the request's host: the per-endpoint transport sees
// the caller's URL, so connections for different hosts are never shared,
// as Envoy's auto_sni keys its pools by server name.
func (s transportSettings) tlsDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	protos := s.alpn()
	t := s.tls
	var fixed *tls.Config
	if t.SNI != "" {
		fixed, _ = t.Config("", protos) // an error here comes back on each dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cfg := fixed
		if cfg == nil {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			if cfg, err = t.Config(host, protos); err != nil {
				return nil, &net.OpError{Op: "dial", Net: network, Err: err}
			}
		}
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			// A failed handshake is a failure to connect, as in Envoy:
			// retried as connect-failure, counted as a local-origin
			// failure, its cause (a *mtls.HandshakeError) in the reply.
			return nil, &net.OpError{Op: "dial", Net: network, Addr: conn.RemoteAddr(), Err: handshakeError{err}}
		}
		return tc, nil
	}
}

// handshakeError is a TLS handshake that failed: "tls handshake: <cause>".
type handshakeError struct{ err error }

func (e handshakeError) Error() string { return "tls handshake: " + e.err.Error() }
func (e handshakeError) Unwrap() error { return e.err }
