package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// ServerOptions configure [ServerConfig].
type ServerOptions struct {
	// SubjectAltNames, if any, restrict clients to those whose certificate
	// carries one of them (exact SPIFFE URIs, or DNS, IP or e-mail SANs,
	// matched as ClientOptions.SubjectAltNames are). Empty: any workload
	// the source's roots vouch for.
	SubjectAltNames []string
	// NextProtos are the ALPN protocols served, most preferred first. Nil
	// means "h2" and "http/1.1".
	NextProtos []string
}

// ServerConfig returns the tls.Config of a server that accepts mesh mTLS
// only, as a workload under a STRICT PeerAuthentication: it presents the
// source's current certificate and requires of every client a SPIFFE
// certificate that chains to the source's current roots, passes its CRLs
// and, if opts name any, carries one of opts.SubjectAltNames. A refused
// client's handshake fails with a [*HandshakeError] (the server's
// http.Server logs it). [PeerID] and [PeerIDFromContext] give handlers the
// client's identity.
//
// A client offering only Istio's mesh ALPN protocols (an Envoy sidecar:
// "istio-peer-exchange", "istio", "istio-http/1.1", …) is served without
// ALPN, as HTTP/1.1, rather than refused for want of a common protocol.
func ServerConfig(src *Source, opts ServerOptions) (*tls.Config, error) {
	if src == nil {
		return nil, errors.New("mtls: ServerConfig needs a source")
	}
	m := src.material()
	if m.cert == nil {
		return nil, errors.New("mtls: ServerConfig needs a source with a certificate and key")
	}
	if m.pool == nil {
		return nil, errors.New("mtls: ServerConfig needs a source with roots to verify clients against")
	}
	v := &verifier{src: src, spiffe: true, server: true, sans: slices.Clone(opts.SubjectAltNames), usage: x509.ExtKeyUsageAny}
	protos := slices.Clone(opts.NextProtos)
	if protos == nil {
		protos = []string{"h2", "http/1.1"}
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: protos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return src.material().cert, nil
		},
		// The client's chain is verified in VerifyConnection against the
		// roots current at each handshake, which also gives a typed error
		// for a missing certificate.
		ClientAuth:       tls.RequestClientCert,
		VerifyConnection: v.verifyConnection,
	}
	noALPN := cfg.Clone()
	noALPN.NextProtos = nil
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(hello.SupportedProtos) == 0 || slices.ContainsFunc(hello.SupportedProtos, func(p string) bool {
			return !strings.HasPrefix(p, "istio")
		}) {
			return nil, nil
		}
		return noALPN, nil
	}
	return cfg, nil
}

// ServerCredentials returns gRPC server credentials that accept mesh mTLS
// only, as [ServerConfig] describes; pass them to grpc.NewServer with
// grpc.Creds. Handlers find the client's identity with [PeerIDFromContext].
func ServerCredentials(src *Source, opts ServerOptions) (credentials.TransportCredentials, error) {
	cfg, err := ServerConfig(src, opts)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// PeerID returns the SPIFFE ID of the client of r, read from the leaf
// certificate it presented; ok is false if there was none or it had no
// single SPIFFE ID. The identity is authenticated only when the server's
// tls.Config verified the certificate, as [ServerConfig]'s does.
func PeerID(r *http.Request) (id ID, ok bool) {
	if r == nil || r.TLS == nil {
		return ID{}, false
	}
	return leafID(r.TLS.PeerCertificates)
}

// PeerIDFromContext returns the SPIFFE ID of the peer of a gRPC call, from
// the leaf certificate it presented in the TLS handshake; ok is false if
// the call came over no TLS or the certificate had no single SPIFFE ID.
// The identity is authenticated only when the server's credentials
// verified the certificate, as [ServerCredentials] do.
func PeerIDFromContext(ctx context.Context) (id ID, ok bool) {
	p, found := peer.FromContext(ctx)
	if !found {
		return ID{}, false
	}
	info, isTLS := p.AuthInfo.(credentials.TLSInfo)
	if !isTLS {
		return ID{}, false
	}
	return leafID(info.State.PeerCertificates)
}

func leafID(certs []*x509.Certificate) (ID, bool) {
	if len(certs) == 0 {
		return ID{}, false
	}
	id, err := IDFromCert(certs[0])
	return id, err == nil
}
