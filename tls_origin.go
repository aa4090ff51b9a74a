package switchyard

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/meshopt"
	"github.com/switchyard-go/switchyard/internal/router"

	"github.com/switchyard-go/switchyard/mtls"
)

type workloadOption struct{ src *mtls.Source }

func (o workloadOption) apply(opts *options) { opts.workload = o.src }

func init() {
	// The xds package gives the mesh the bootstrap's certificates unless
	// its caller passed their own.
	meshopt.WorkloadCertificates = func(opt any) (*mtls.Source, bool) {
		w, ok := opt.(workloadOption)
		return w.src, ok
	}
}

// WithWorkloadCertificates gives the mesh the workload's own certificates,
// for DestinationRules whose tls mode is ISTIO_MUTUAL: their connections
// present src's certificate and verify the server's SPIFFE identity against
// src's roots, both as current at each handshake, so a rotation of src's
// files applies to new connections without an Update. Istio's agent writes
// a proxyless workload's files into [mtls.DefaultDir]:
//
//	src, err := mtls.NewFileSource(mtls.IstioFiles(mtls.DefaultDir))
//
// With the workload's certificates the mesh also does Istio's auto mTLS: a
// cluster whose rule sets no tls mode originates ISTIO_MUTUAL when its
// endpoints carry the sidecar injector's label
// security.istio.io/tlsMode=istio (tls mode DISABLE turns it off).
//
// The caller keeps src and closes it after the mesh. Without this option, a
// rule with ISTIO_MUTUAL is an error at New and Update, and there is no
// auto mTLS.
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
//
// With host set, that is the request's host instead, for a transport that
// dials the endpoint's address as its URL says (a base transport's clone).
func (s transportSettings) tlsDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), host string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	protos := s.alpn()
	t := s.tls
	var fixed *tls.Config
	var fixedErr error // comes back from each dial
	if t.SNI != "" || host != "" {
		fixed, fixedErr = t.Config(host, protos)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if fixedErr != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: fixedErr}
		}
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

// baseKey names a clone of a base transport for one server name and TLS
// policy.
type baseKey struct {
	base   *http.Transport
	server string
	tls    *cluster.TLS
	h2     bool
}

// baseTLS returns the transport that sends req to an endpoint of cluster c
// for base, when the connection is TLS: req goes out with the endpoint's
// address as URL.Host, so base by itself would send that address as the
// server name and check the certificate against it. When base is an
// *http.Transport, a clone of it per server name (and TLS policy) does
// instead: it sends the original authority's host as the server name (or
// the rule's sni) and, when the cluster has tls settings, originates that
// TLS over base's own dialler. A clone's connections are its own, so
// different server names or policies never share one. Any other base
// cannot originate the cluster's TLS: that is an error rather than
// plaintext.
func (m *Mesh) baseTLS(base http.RoundTripper, c *cluster.Cluster, req *http.Request) (http.RoundTripper, error) {
	ht, ok := base.(*http.Transport)
	if !ok {
		if c.TLS != nil {
			return nil, fmt.Errorf("switchyard: cluster %s originates TLS (%s), which a base transport of type %T cannot do; use Transport(nil) or an *http.Transport", c.Name, c.TLS.Mode, base)
		}
		return base, nil // the server name is the base's business
	}
	host, _ := router.SplitAuthority(router.Authority(req), req.URL.Scheme)
	settings := settingsFor(c)
	key := baseKey{base: ht, server: host, tls: c.TLS, h2: settings.tlsH2}
	if v, ok := m.baseClones.Load(key); ok {
		return v.(*http.Transport), nil
	}
	clone := ht.Clone()
	if c.TLS == nil {
		if clone.TLSClientConfig == nil {
			clone.TLSClientConfig = &tls.Config{}
		}
		clone.TLSClientConfig.ServerName = host
	} else {
		dial := ht.DialContext
		if dial == nil {
			dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
		tlsDial := settings.tlsDialer(dial, host)
		clone.DialContext, clone.DialTLSContext = tlsDial, tlsDial // DialTLSContext takes priority over a DialTLS
		clone.Protocols = new(http.Protocols)
		if settings.tlsH2 {
			clone.Protocols.SetHTTP2(true)
			clone.Protocols.SetUnencryptedHTTP2(true)
		} else {
			clone.Protocols.SetHTTP1(true)
			clone.ForceAttemptHTTP2 = false
		}
	}
	v, _ := m.baseClones.LoadOrStore(key, clone)
	return v.(*http.Transport), nil
}

// closeBaseClones closes the idle connections of the base transports'
// clones and, with all set, or for those of TLS policies not in a non-nil
// inUse, forgets them.
func (m *Mesh) closeBaseClones(all bool, inUse map[*cluster.TLS]bool) {
	m.baseClones.Range(func(k, v any) bool {
		key := k.(baseKey)
		v.(*http.Transport).CloseIdleConnections()
		if all || (inUse != nil && key.tls != nil && !inUse[key.tls]) {
			m.baseClones.Delete(k)
		}
		return true
	})
}
