package mtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Cause classifies why a handshake failed.
type Cause int

// The causes of a [HandshakeError].
const (
	// Other is any cause not listed below: a peer certificate that is not
	// a SPIFFE certificate, a chain a CA may not sign, a missing CRL.
	Other Cause = iota
	// UnknownAuthority: the peer's chain does not lead to a trusted root.
	UnknownAuthority
	// SANMismatch: the peer's certificate names none of the identities
	// allowed (subjectAltNames, or the server name).
	SANMismatch
	// Expired: a certificate of the peer's chain is expired or not yet
	// valid.
	Expired
	// NoClientCert: a client presented no certificate to a server that
	// requires one.
	NoClientCert
	// Revoked: a certificate of the peer's chain is on a revocation list.
	Revoked
)

var causeNames = [...]string{
	Other:            "other",
	UnknownAuthority: "unknown authority",
	SANMismatch:      "SAN mismatch",
	Expired:          "certificate expired",
	NoClientCert:     "no client certificate",
	Revoked:          "certificate revoked",
}

// String returns the cause in words, as error messages give it.
func (c Cause) String() string {
	if c >= 0 && int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("Cause(%d)", int(c))
}

// HandshakeError is a TLS handshake this package's verification refused.
// Find it in a chain with errors.As; the message says what was wrong
// (expected and presented identities, validity periods, issuers).
type HandshakeError struct {
	// Cause is what kind of failure it was.
	Cause Cause
	// Err is the x509 error behind it, if any.
	Err error

	msg string
}

// Error says "mtls: <cause>: <what was wrong>".
func (e *HandshakeError) Error() string { return "mtls: " + e.Cause.String() + ": " + e.msg }

// Unwrap returns Err.
func (e *HandshakeError) Unwrap() error { return e.Err }

func handshakeErr(c Cause, err error, format string, args ...any) *HandshakeError {
	return &HandshakeError{Cause: c, Err: err, msg: fmt.Sprintf(format, args...)}
}

// verifier checks a peer's certificates in VerifyConnection, against the
// source's material current at the time.
type verifier struct {
	src        *Source // nil: system roots, no CRLs
	spiffe     bool    // the peer must present a SPIFFE certificate (ISTIO_MUTUAL, server)
	server     bool    // verifying a client: it must present a certificate
	sans       []string
	autoName   bool   // with no sans: the leaf must be valid for the server name
	serverName string // the name for autoName; "" means the SNI sent
	usage      x509.ExtKeyUsage
}

func (v *verifier) now() time.Time {
	if v.src != nil {
		return v.src.clock.Now()
	}
	return time.Now()
}

func (v *verifier) verifyConnection(cs tls.ConnectionState) error {
	return v.verify(cs.PeerCertificates, cs.ServerName)
}

func (v *verifier) verify(certs []*x509.Certificate, sni string) error {
	if len(certs) == 0 {
		if v.server {
			return handshakeErr(NoClientCert, nil, "the client presented none; mesh mTLS (STRICT) requires one")
		}
		return handshakeErr(Other, nil, "the server presented no certificate")
	}
	now := v.now()
	leaf := certs[0]
	if err := checkValidity(leaf, now); err != nil {
		return err
	}
	if v.spiffe {
		if _, err := IDFromCert(leaf); err != nil {
			return handshakeErr(Other, err, "peer is not a SPIFFE workload: %v", strings.TrimPrefix(err.Error(), "mtls: "))
		}
		switch {
		case leaf.IsCA:
			return handshakeErr(Other, nil, "peer certificate %s is a CA certificate, not a workload's", certName(leaf))
		case leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
			return handshakeErr(Other, nil, "peer certificate %s may sign certificates or CRLs, so it is not a workload's", certName(leaf))
		}
	}
	var m *material
	opts := x509.VerifyOptions{CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{v.usage}}
	if v.src != nil {
		m = v.src.material()
		opts.Roots = m.pool
	}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return chainErr(err, certs, m, now)
	}
	if m != nil && len(m.crls) > 0 {
		if err := checkRevocation(chains, m.crls, now); err != nil {
			return err
		}
	}
	switch {
	case len(v.sans) > 0:
		if !matchSANs(leaf, v.sans) {
			return handshakeErr(SANMismatch, nil, "peer certificate %s presents %s; want one of %q", certName(leaf), presented(leaf), v.sans)
		}
	case v.autoName:
		name := v.serverName
		if name == "" {
			name = sni
		}
		if name == "" {
			return handshakeErr(SANMismatch, nil, "no server name to verify peer certificate %s against; set sni, subjectAltNames or the host", certName(leaf))
		}
		if err := leaf.VerifyHostname(name); err != nil {
			return handshakeErr(SANMismatch, err, "peer certificate %s presents %s; want %q", certName(leaf), presented(leaf), name)
		}
	}
	return nil
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	switch {
	case now.Before(c.NotBefore):
		return handshakeErr(Expired, nil, "certificate %s is not valid before %s; the time is %s",
			certName(c), c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return handshakeErr(Expired, nil, "certificate %s expired at %s; the time is %s",
			certName(c), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// chainErr explains why x509 verification of certs failed.
func chainErr(err error, certs []*x509.Certificate, m *material, now time.Time) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil {
		if e := checkValidity(inv.Cert, now); e != nil {
			e.(*HandshakeError).Err = err
			return e
		}
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		// x509 reports a chain broken by an expired intermediate as an
		// unknown authority: say which certificate it was.
		for _, c := range certs[1:] {
			if e := checkValidity(c, now); e != nil {
				e.(*HandshakeError).Err = err
				return e
			}
		}
		leaf := certs[0]
		return handshakeErr(UnknownAuthority, err, "peer certificate %s, issued by %q, does not chain to %s (%v)",
			certName(leaf), leaf.Issuer.String(), rootNames(m), err)
	}
	return handshakeErr(Other, err, "peer certificate %s: %v", certName(certs[0]), err)
}

func rootNames(m *material) string {
	if m == nil || len(m.roots) == 0 {
		return "the system roots"
	}
	names := make([]string, len(m.roots))
	for i, r := range m.roots {
		names[i] = fmt.Sprintf("%q", r.Subject.String())
	}
	return "the trusted roots " + strings.Join(names, ", ")
}

// checkRevocation applies CRLs as Envoy does (Istio leaves
// only_verify_leaf_cert_crl unset): every certificate of the chain,
// root included, must be covered by a current CRL from its issuer, and
// must not be on it. Of several verified chains, one passing is enough.
func checkRevocation(chains [][]*x509.Certificate, crls []*x509.RevocationList, now time.Time) error {
	var first error
	for _, chain := range chains {
		err := checkChainRevocation(chain, crls, now)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func checkChainRevocation(chain []*x509.Certificate, crls []*x509.RevocationList, now time.Time) error {
	for i, c := range chain {
		issuer := c // a root issues its own CRL
		if i+1 < len(chain) {
			issuer = chain[i+1]
		}
		var list *x509.RevocationList
		for _, l := range crls {
			if bytes.Equal(l.RawIssuer, issuer.RawSubject) && l.CheckSignatureFrom(issuer) == nil {
				list = l
				break
			}
		}
		if list == nil {
			return handshakeErr(Other, nil, "no CRL from %q, the issuer of %s: with caCrl set, every CA of the chain needs one",
				issuer.Subject.String(), certName(c))
		}
		if now.Before(list.ThisUpdate) {
			return handshakeErr(Other, nil, "the CRL from %q is not valid before %s; the time is %s",
				issuer.Subject.String(), list.ThisUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if !list.NextUpdate.IsZero() && now.After(list.NextUpdate) {
			return handshakeErr(Other, nil, "the CRL from %q expired at %s; the time is %s",
				issuer.Subject.String(), list.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		for _, r := range list.RevokedCertificateEntries {
			if r.SerialNumber != nil && r.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return handshakeErr(Revoked, nil, "certificate %s (serial %x) was revoked by %q at %s",
					certName(c), c.SerialNumber, issuer.Subject.String(), r.RevocationTime.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// matchSANs reports whether the leaf carries one of sans, matched exactly
// against its URI, DNS, IP and e-mail SANs as Envoy matches Istio's
// subjectAltNames; a DNS SAN may be a wildcard for one left-most label.
func matchSANs(leaf *x509.Certificate, sans []string) bool {
	for _, want := range sans {
		for _, u := range leaf.URIs {
			if u.String() == want {
				return true
			}
		}
		for _, d := range leaf.DNSNames {
			if dnsMatch(want, d) {
				return true
			}
		}
		if ip := net.ParseIP(want); ip != nil {
			if slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return true
			}
		}
		if slices.Contains(leaf.EmailAddresses, want) {
			return true
		}
	}
	return false
}

// dnsMatch reports whether name matches the certificate's DNS SAN pattern:
// equal ignoring case, or pattern "*.rest" and name one label followed by
// ".rest".
func dnsMatch(name, pattern string) bool {
	if strings.EqualFold(name, pattern) {
		return true
	}
	rest, ok := strings.CutPrefix(pattern, "*.")
	if !ok {
		return false
	}
	i := strings.IndexByte(name, '.')
	return i > 0 && strings.EqualFold(name[i+1:], rest)
}

// presented lists a certificate's SANs for messages.
func presented(c *x509.Certificate) string {
	var sans []string
	for _, u := range c.URIs {
		sans = append(sans, u.String())
	}
	sans = append(sans, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, c.EmailAddresses...)
	if len(sans) == 0 {
		return "no SANs"
	}
	return fmt.Sprintf("SANs %q", sans)
}
