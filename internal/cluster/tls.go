package cluster

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/mtls"
	"github.com/switchyard-go/switchyard/subset"
)

// TLS is a cluster's TLS origination, compiled from its DestinationRule's
// tls settings (Istio's ClientTLSSettings) as Istio's cluster builder
// resolves them: ISTIO_MUTUAL sends Istio's SNI unless sni is set and
// verifies the ServiceEntry's subjectAltNames unless the rule sets its own;
// SIMPLE and MUTUAL take the ServiceEntry's subjectAltNames when the rule
// sets none, as for any MESH_EXTERNAL service. It is immutable; a cluster
// whose TLS did not change across an update keeps the same *TLS, so
// connections made under it stay in use.
type TLS struct {
	// Mode is SIMPLE, MUTUAL or ISTIO_MUTUAL.
	Mode mtls.Mode
	// SNI is the server name sent; "" means the request's host, as
	// Envoy's auto_sni.
	SNI string
	// SubjectAltNames are the identities the server may present.
	SubjectAltNames []string
	// InsecureSkipVerify turns verification off (SIMPLE and MUTUAL).
	InsecureSkipVerify bool

	source *mtls.Source // nil: system roots, no certificate (SIMPLE)
	key    string       // equal keys: equal settings and material
}

// Config returns the tls.Config of one connection to the cluster: host is
// the request's host, the server name sent (and, for SIMPLE and MUTUAL with
// neither sni nor subjectAltNames, verified) when the rule sets no sni.
func (t *TLS) Config(host string, nextProtos []string) (*tls.Config, error) {
	return mtls.ClientConfig(mtls.ClientOptions{Mode: t.Mode, Source: t.source, SNI: t.SNI, Host: host,
		SubjectAltNames: t.SubjectAltNames, InsecureSkipVerify: t.InsecureSkipVerify, NextProtos: nextProtos})
}

// String describes the settings for a person: "ISTIO_MUTUAL sni=… san=[…]".
func (t *TLS) String() string {
	var b strings.Builder
	b.WriteString(string(t.Mode))
	if t.SNI != "" {
		b.WriteString(" sni=" + t.SNI)
	}
	if len(t.SubjectAltNames) > 0 {
		b.WriteString(" san=[" + strings.Join(t.SubjectAltNames, ",") + "]")
	}
	if t.InsecureSkipVerify {
		b.WriteString(" insecureSkipVerify")
	}
	return b.String()
}

// tlsReader validates the tls blocks of DestinationRules and reads their
// files, once per block, at New and Update.
type tlsReader struct {
	workload *mtls.Source
	read     map[*subset.ClientTLS]*tlsFiles
}

// tlsFiles is what a tls block's files hold.
type tlsFiles struct {
	source *mtls.Source // nil when the block names no file
	digest string
}

// validateTLS checks a tls block as Istio's validation does (ValidateTLS in
// pkg/config/validation/agent) and reads the files it names; errors name the
// field and the file.
func (r *tlsReader) validateTLS(t *subset.ClientTLS, path string, svc *Service, errs *fielderr.List) {
	p := func(f string) string { return fielderr.Join(path, f) }
	switch t.Mode {
	case "", "DISABLE":
		return
	case "SIMPLE", "MUTUAL", "ISTIO_MUTUAL":
	default:
		errs.Add(p("mode"), "unknown mode %s; use DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL", fielderr.Quote(t.Mode))
		return
	}
	if svc != nil && svc.Passthrough {
		errs.Add(p("mode"), "host %s has resolution NONE, whose requests go to the address asked for through the caller's own transport; TLS origination needs endpoints: use resolution DNS or STATIC", fielderr.Quote(svc.Host))
		return
	}
	n := errs.Len()
	insecure := t.InsecureSkipVerify != nil && *t.InsecureSkipVerify
	if insecure {
		switch t.Mode {
		case "SIMPLE":
			if t.CACertificates != "" || t.CredentialName != "" || t.SubjectAltNames != nil {
				errs.Add(p("insecureSkipVerify"), "cannot specify caCertificates, credentialName or subjectAltNames when insecureSkipVerify is true")
			}
		case "MUTUAL":
			if t.CACertificates != "" || t.SubjectAltNames != nil {
				errs.Add(p("insecureSkipVerify"), "cannot specify caCertificates or subjectAltNames when insecureSkipVerify is true")
			}
		}
	}
	if t.CredentialName != "" {
		if t.Mode != "ISTIO_MUTUAL" && (t.ClientCertificate != "" || t.CACertificates != "" || t.PrivateKey != "" || t.CACrl != "") {
			errs.Add(p("credentialName"), "cannot specify clientCertificate, caCertificates, privateKey or caCrl when credentialName is set")
		}
		errs.Add(p("credentialName"), "not supported: it names a Kubernetes secret, which an in-process mesh cannot read; give the files instead: clientCertificate and privateKey (MUTUAL) and caCertificates")
	} else if t.Mode == "MUTUAL" {
		if t.ClientCertificate == "" {
			errs.Add(p("clientCertificate"), "required for mode MUTUAL (the file of the client's certificate chain)")
		}
		if t.PrivateKey == "" {
			errs.Add(p("privateKey"), "required for mode MUTUAL (the file of the client's private key)")
		}
	}
	if t.Mode == "ISTIO_MUTUAL" {
		// Istio's validation accepts the file fields with ISTIO_MUTUAL and
		// its cluster builder ignores them: the workload's own certificates
		// are used.
		if r.workload == nil {
			errs.Add(p("mode"), "ISTIO_MUTUAL needs the workload's certificates, which this mesh was not given: pass switchyard.WithWorkloadCertificates(src) to New, with src from mtls.NewFileSource(mtls.IstioFiles(mtls.DefaultDir))")
		}
		return
	}
	if errs.Len() > n {
		return
	}
	if _, done := r.read[t]; done {
		return
	}
	files := &tlsFiles{}
	var m mtls.Material
	h := sha256.New()
	read := func(field, file string) []byte {
		if file == "" {
			return nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			errs.Add(p(field), "cannot read %s: %v", fielderr.Quote(file), unwrapPath(err))
			return nil
		}
		fmt.Fprintf(h, "%s:%d:", field, len(b))
		h.Write(b)
		return b
	}
	n = errs.Len()
	cert, key := read("clientCertificate", t.ClientCertificate), read("privateKey", t.PrivateKey)
	roots, crl := read("caCertificates", t.CACertificates), read("caCrl", t.CACrl)
	if errs.Len() > n {
		return
	}
	if t.Mode == "MUTUAL" {
		pm, err := mtls.ParsePEM(cert, key, nil, nil)
		if err != nil {
			errs.Add(p("clientCertificate"), "%s and %s: %v", fielderr.Quote(t.ClientCertificate), fielderr.Quote(t.PrivateKey), err)
		}
		m.Certificate = pm.Certificate
	}
	if roots != nil {
		pm, err := mtls.ParsePEM(nil, nil, roots, nil)
		if err != nil {
			errs.Add(p("caCertificates"), "%s: %v", fielderr.Quote(t.CACertificates), err)
		}
		m.Roots = pm.Roots
	}
	if crl != nil {
		pm, err := mtls.ParsePEM(nil, nil, nil, crl)
		if err != nil {
			errs.Add(p("caCrl"), "%s: %v", fielderr.Quote(t.CACrl), err)
		}
		m.CRLs = pm.CRLs
	}
	if errs.Len() > n {
		return
	}
	if m.Certificate != nil || m.Roots != nil || m.CRLs != nil {
		src, err := mtls.NewSource(m)
		if err != nil {
			errs.Add(path, "%v", err)
			return
		}
		files.source = src
	}
	files.digest = hex.EncodeToString(h.Sum(nil))
	r.read[t] = files
}

// tlsModeLabel is the label Istio's sidecar injector puts on every pod it
// injects, and autoMTLSMode its value for a sidecar that accepts mTLS.
const (
	tlsModeLabel = "security.istio.io/tlsMode"
	autoMTLSMode = "istio"
)

// sidecarsSelected reports whether a workload the selector selects is
// fronted by a sidecar that accepts mTLS.
func sidecarsSelected(ws []subset.WorkloadEntry, selector map[string]string) bool {
	for _, w := range ws {
		if w.Labels[tlsModeLabel] == autoMTLSMode && selects(selector, w.Labels) {
			return true
		}
	}
	return false
}

// unwrapPath drops the file name from an *os.PathError, which the error
// already quotes.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// compileTLS returns the TLS origination of cluster c, or nil for
// plaintext, reusing prev's when nothing changed.
//
// A rule that sets no TLS mode gets Istio's auto mTLS (meshConfig
// enableAutoMtls, on by default): ISTIO_MUTUAL when the process has the
// workload's certificates (it is in the mesh) and an endpoint of the
// cluster carries the sidecar injector's label
// security.istio.io/tlsMode=istio, which says a sidecar that accepts
// mTLS fronts it; plain text otherwise. Envoy decides per endpoint; the
// mesh decides per cluster, so a cluster that mixes the two originates TLS
// to all (an endpoint without a sidecar then fails its handshake, a
// connect failure that retries and outlier detection handle). The choice
// follows the endpoints of the configuration; endpoints set through the
// fast path (SetEndpoints) keep the cluster's choice until the next
// Update.
func compileTLS(c *Cluster, svc *Service, workloads []subset.WorkloadEntry, selector map[string]string, prev *Cluster, opts Options) *TLS {
	s := c.Policy.TLS
	if (s == nil || s.Mode == "") && !c.Passthrough && opts.Workload != nil && sidecarsSelected(workloads, selector) {
		s = &subset.ClientTLS{Mode: string(mtls.IstioMutual)}
	}
	if s == nil || s.Mode == "" || s.Mode == "DISABLE" || c.Passthrough {
		return nil
	}
	t := &TLS{Mode: mtls.Mode(s.Mode), SNI: s.SNI, SubjectAltNames: s.SubjectAltNames,
		InsecureSkipVerify: s.InsecureSkipVerify != nil && *s.InsecureSkipVerify}
	if len(t.SubjectAltNames) == 0 && svc.entry != nil {
		// Istio takes the service's accounts (a ServiceEntry's
		// subjectAltNames) when the rule names none.
		t.SubjectAltNames = svc.entry.SubjectAltNames
	}
	var b strings.Builder
	b.WriteString(string(t.Mode) + "|" + t.SNI + "|" + strings.Join(t.SubjectAltNames, ",") + "|" + strconv.FormatBool(t.InsecureSkipVerify))
	if t.Mode == mtls.IstioMutual {
		t.InsecureSkipVerify = false // Istio's ISTIO_MUTUAL always verifies
		if t.SNI == "" {
			t.SNI = mtls.IstioSNI(int(c.Port), c.Subset, c.Host)
		}
		t.source = opts.Workload
		fmt.Fprintf(&b, "|%p|%s", t.source, t.SNI)
	} else if f := opts.tls.read[s]; f != nil {
		t.source = f.source
		b.WriteString("|" + f.digest)
	}
	t.key = b.String()
	if prev != nil && prev.TLS != nil && prev.TLS.key == t.key {
		return prev.TLS
	}
	return t
}
