package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
)

// Mode is a DestinationRule's TLS mode for TLS origination; DISABLE needs
// no tls.Config.
type Mode string

// The modes of [ClientOptions], spelt as in Istio's ClientTLSSettings.
const (
	// Simple verifies the server: against the source's roots (the system's
	// when there are none), subjectAltNames, and — with neither sni nor
	// subjectAltNames set — the host name, as Envoy's auto_san_validation.
	Simple Mode = "SIMPLE"
	// Mutual is Simple, and presents the source's certificate.
	Mutual Mode = "MUTUAL"
	// IstioMutual presents the workload's certificate and verifies the
	// server as a mesh workload: a SPIFFE certificate chaining to the
	// source's roots and, if subjectAltNames are set, carrying one of them.
	// The server name is not verified.
	IstioMutual Mode = "ISTIO_MUTUAL"
)

// ClientOptions describe TLS origination to one upstream, as a
// DestinationRule's tls settings do.
type ClientOptions struct {
	// Mode is required.
	Mode Mode
	// Source supplies the certificate presented (required for Mutual and
	// IstioMutual) and the roots and CRLs the server is verified against
	// (required for IstioMutual; for Simple and Mutual, a nil Source or one
	// without roots means the system's roots).
	Source *Source
	// SNI is the DestinationRule's sni: the server name sent. For
	// IstioMutual, Istio's default is [IstioSNI] of the destination.
	SNI string
	// Host is the upstream's host name (or IP address), without port: the
	// server name sent when SNI is empty and, for Simple and Mutual with
	// neither SNI nor SubjectAltNames, the name the server's certificate
	// must be valid for. When Host is empty too, that is the server name
	// the caller's transport sets (net/http and gRPC set the dialled host).
	Host string
	// SubjectAltNames are the identities the server may present (exact
	// SPIFFE URIs, DNS names — a certificate's wildcard DNS SAN matches one
	// label —, IP addresses or e-mail addresses); one must match. Istio
	// fills them for ISTIO_MUTUAL with the service's accounts when a
	// DestinationRule sets none.
	SubjectAltNames []string
	// InsecureSkipVerify turns off all verification of the server in Simple
	// and Mutual modes, as Istio's insecureSkipVerify does. IstioMutual
	// always verifies, as Istio does.
	InsecureSkipVerify bool
	// NextProtos are the ALPN protocols offered, such as "h2" and
	// "http/1.1". An Envoy sidecar's inbound listener also recognises
	// Istio's mesh protocols ("istio-peer-exchange", "istio", or
	// "istio-h2" and "istio-http/1.1" as its istio.alpn filter sets them)
	// ahead of them.
	NextProtos []string
}

// ClientConfig returns the tls.Config for connections to one upstream. It
// verifies the server in VerifyConnection (so on resumed sessions too) with
// the source's material current at each handshake, and presents the
// source's current certificate through GetClientCertificate, so a rotation
// applies to the next handshake without rebuilding the config. A failed
// verification is a [*HandshakeError].
func ClientConfig(o ClientOptions) (*tls.Config, error) {
	var m *material
	if o.Source != nil {
		m = o.Source.material()
	}
	switch o.Mode {
	case Simple:
	case Mutual, IstioMutual:
		if m == nil || m.cert == nil {
			return nil, fmt.Errorf("mtls: %s needs a source with a certificate and key", o.Mode)
		}
	case "":
		return nil, errors.New("mtls: mode is required")
	default:
		return nil, fmt.Errorf("mtls: unknown mode %q; want SIMPLE, MUTUAL or ISTIO_MUTUAL", string(o.Mode))
	}
	if o.Mode == IstioMutual && (m == nil || m.pool == nil) {
		return nil, errors.New("mtls: ISTIO_MUTUAL needs a source with roots (root-cert.pem)")
	}
	cfg := &tls.Config{
		ServerName: o.SNI,
		MinVersion: tls.VersionTLS12,
		NextProtos: append([]string(nil), o.NextProtos...),
		// Verification is VerifyConnection's, against the roots current at
		// each handshake; tls.Config.RootCAs would be fixed.
		InsecureSkipVerify: true,
	}
	if cfg.ServerName == "" {
		cfg.ServerName = o.Host
	}
	if o.Mode != Simple {
		src := o.Source
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return src.material().cert, nil
		}
	}
	if o.InsecureSkipVerify && o.Mode != IstioMutual {
		return cfg, nil
	}
	v := &verifier{src: o.Source, sans: append([]string(nil), o.SubjectAltNames...), usage: x509.ExtKeyUsageServerAuth}
	if o.Mode == IstioMutual {
		v.spiffe, v.usage = true, x509.ExtKeyUsageAny
	} else {
		v.autoName = o.SNI == "" && len(o.SubjectAltNames) == 0
		v.serverName = o.Host
	}
	cfg.VerifyConnection = v.verifyConnection
	return cfg, nil
}

// IstioSNI returns the server name Istio sends for ISTIO_MUTUAL when a
// DestinationRule sets no sni: outbound_.<port>_.<subset>_.<host>, with an
// empty subset for the whole service ("outbound_.9080_._.reviews.default.svc.cluster.local").
func IstioSNI(port int, subset, host string) string {
	return "outbound_." + strconv.Itoa(port) + "_." + subset + "_." + host
}
