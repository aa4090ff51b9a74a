package mtls

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// ID is a SPIFFE ID, spiffe://<trust-domain><path>: Istio gives every
// workload spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
// The zero ID, ID{}, is not valid; IDs are comparable with ==.
type ID struct {
	trustDomain string
	path        string
}

const (
	spiffeScheme       = "spiffe://"
	maxIDLength        = 2048
	maxTrustDomainSize = 255
)

// ParseID parses s as a SPIFFE ID under the rules of the SPIFFE ID
// specification: scheme "spiffe", a trust domain of lower-case letters,
// digits, '.', '-' and '_', and a path of non-empty segments of letters,
// digits, '.', '-' and '_' other than "." and "..", with no query, fragment,
// port or user information. The path may be empty (a trust domain's own ID).
func ParseID(s string) (ID, error) {
	fail := func(format string, args ...any) (ID, error) {
		return ID{}, fmt.Errorf("mtls: SPIFFE ID %q: %s", s, fmt.Sprintf(format, args...))
	}
	if len(s) > maxIDLength {
		return fail("longer than %d bytes", maxIDLength)
	}
	rest, ok := strings.CutPrefix(s, spiffeScheme)
	if !ok {
		return fail("does not start with %q", spiffeScheme)
	}
	td, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		td, path = rest[:i], rest[i:]
	}
	if err := checkTrustDomain(td); err != nil {
		return fail("%v", err)
	}
	if err := checkPath(path); err != nil {
		return fail("%v", err)
	}
	return ID{trustDomain: td, path: path}, nil
}

// IstioID returns the ID Istio gives the workloads of a service account:
// spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>.
func IstioID(trustDomain, namespace, serviceAccount string) (ID, error) {
	for _, p := range [...]struct{ what, v string }{{"namespace", namespace}, {"service account", serviceAccount}} {
		if err := checkSegment(p.v); err != nil {
			return ID{}, fmt.Errorf("mtls: %s %q: %v", p.what, p.v, err)
		}
	}
	if err := checkTrustDomain(trustDomain); err != nil {
		return ID{}, fmt.Errorf("mtls: trust domain %q: %v", trustDomain, err)
	}
	return ID{trustDomain: trustDomain, path: "/ns/" + namespace + "/sa/" + serviceAccount}, nil
}

// String returns the ID as a URI, or "" for the zero ID.
func (id ID) String() string {
	if id.trustDomain == "" {
		return ""
	}
	return spiffeScheme + id.trustDomain + id.path
}

// TrustDomain returns the ID's trust domain, such as "cluster.local".
func (id ID) TrustDomain() string { return id.trustDomain }

// Path returns the ID's path, such as "/ns/default/sa/reviews", or "".
func (id ID) Path() string { return id.path }

// Workload returns the namespace and service account of an Istio workload
// ID (path /ns/<namespace>/sa/<service-account>); ok is false for an ID of
// any other shape.
func (id ID) Workload() (namespace, serviceAccount string, ok bool) {
	seg := strings.Split(id.path, "/")
	if len(seg) != 5 || seg[0] != "" || seg[1] != "ns" || seg[3] != "sa" {
		return "", "", false
	}
	return seg[2], seg[4], true
}

// IDFromCert returns the SPIFFE ID of a certificate: its one URI SAN, as
// the X509-SVID specification requires. A certificate with no URI SAN,
// several, or one that is not a SPIFFE ID with a path is an error.
func IDFromCert(cert *x509.Certificate) (ID, error) {
	if cert == nil {
		return ID{}, fmt.Errorf("mtls: no certificate")
	}
	switch n := len(cert.URIs); {
	case n == 0:
		return ID{}, fmt.Errorf("mtls: certificate %s has no URI SAN, so no SPIFFE ID", certName(cert))
	case n > 1:
		return ID{}, fmt.Errorf("mtls: certificate %s has %d URI SANs %v; a SPIFFE certificate has exactly one", certName(cert), n, cert.URIs)
	}
	id, err := ParseID(cert.URIs[0].String())
	if err != nil {
		return ID{}, err
	}
	if id.path == "" {
		return ID{}, fmt.Errorf("mtls: certificate %s names trust domain %s, not a workload: a SPIFFE certificate's ID has a path", certName(cert), id)
	}
	return id, nil
}

func checkTrustDomain(td string) error {
	switch {
	case td == "":
		return fmt.Errorf("trust domain is empty")
	case len(td) > maxTrustDomainSize:
		return fmt.Errorf("trust domain is longer than %d bytes", maxTrustDomainSize)
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("trust domain %q has %q at byte %d; only lower-case letters, digits, '.', '-' and '_' are allowed", td, c, i)
		}
	}
	return nil
}

func checkPath(path string) error {
	if path == "" {
		return nil
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("path %q: %v", path, err)
		}
	}
	return nil
}

func checkSegment(seg string) error {
	switch seg {
	case "":
		return fmt.Errorf("empty segment")
	case ".", "..":
		return fmt.Errorf("segment %q is not allowed", seg)
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("segment %q has %q; only letters, digits, '.', '-' and '_' are allowed", seg, c)
		}
	}
	return nil
}

// certName names a certificate in messages: by its SPIFFE ID when it has
// one, else by its subject, DNS names or serial number.
func certName(c *x509.Certificate) string {
	if len(c.URIs) == 1 && strings.HasPrefix(c.URIs[0].String(), spiffeScheme) {
		return fmt.Sprintf("%q", c.URIs[0].String())
	}
	if s := c.Subject.String(); s != "" {
		return fmt.Sprintf("%q", s)
	}
	if len(c.DNSNames) > 0 {
		return fmt.Sprintf("for %q", c.DNSNames)
	}
	return fmt.Sprintf("with serial %x", c.SerialNumber)
}
