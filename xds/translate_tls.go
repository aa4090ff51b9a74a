package xds

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/switchyard-go/switchyard/subset"
)

// Names istiod gives the workload's own certificate and roots: the SDS
// secrets a sidecar's istio-agent serves, and the certificate names in a
// proxyless client's certificate provider instances.
const (
	sdsWorkloadCert  = "default"
	sdsWorkloadRoots = "ROOTCA"
	// sdsSystemRoots is the secret of the system's roots (Istio's
	// FileRootSystemCACert); "file-root:<path>" and
	// "file-cert:<chain>~<key>" are files the agent reads.
	sdsSystemRoots = "file-root:system"
	sdsFileRoot    = "file-root:"
	sdsFileCert    = "file-cert:"
	// transportSocketMatchKey is the filter metadata that
	// transport_socket_matches match endpoints on.
	transportSocketMatchKey = "envoy.transport_socket_match"
)

// tlsEnv is what a cluster's TLS context may name: the bootstrap's
// certificate provider instances, and the workload's certificates.
type tlsEnv struct {
	// providers are the bootstrap's certificate_providers.
	providers map[string]CertificateProvider
	// workload is the instance whose files are the workload's
	// certificates ("default", or the only one); "" when none is.
	workload string
	// certs: the mesh has the workload's certificates, from that instance
	// or from the caller (switchyard.WithWorkloadCertificates).
	certs bool
	// own: the certificates are the instance's files (not the caller's).
	own bool
}

// workloadProvider returns the certificate provider instance that supplies
// the workload's certificates: Istio's "default", else the only one.
func workloadProvider(ps map[string]CertificateProvider) string {
	if _, ok := ps["default"]; ok {
		return "default"
	}
	if len(ps) == 1 {
		for name := range ps {
			return name
		}
	}
	return ""
}

// socketMatch is one of a cluster's transport_socket_matches.
type socketMatch struct {
	match map[string]string
	tls   *subset.ClientTLS // nil: plain text
}

// tlsSource is where a TLS context's certificate or roots come from.
type tlsSource int

const (
	srcNone     tlsSource = iota
	srcWorkload           // the workload's (ISTIO_MUTUAL)
	srcFile               // files named in the resource
	srcSystem             // the system's roots
)

// tlsRead accumulates what a CommonTlsContext says.
type tlsRead struct {
	p                  string
	env                *tlsEnv
	cert, roots        tlsSource
	certFile, keyFile  string
	rootsFile, crlFile string
	crlPath            string
	sans               []string
}

// translateTransportSocket reads a cluster's transport socket: nil for
// plain text, or the ClientTLSSettings of its UpstreamTlsContext.
func translateTransportSocket(ts *corev3.TransportSocket, p string, env *tlsEnv) (*subset.ClientTLS, error) {
	if ts == nil {
		return nil, nil
	}
	if err := checkFields(ts, p, transportSocketFields); err != nil {
		return nil, err
	}
	tc := ts.GetTypedConfig()
	if tc == nil {
		if ts.GetName() == "envoy.transport_sockets.raw_buffer" || ts.GetName() == "raw_buffer" {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %q without typed_config is not supported", p, ts.GetName())
	}
	switch {
	case tc.MessageIs((*rawbufferv3.RawBuffer)(nil)):
		return nil, nil
	case tc.MessageIs((*tlsv3.UpstreamTlsContext)(nil)):
		u := new(tlsv3.UpstreamTlsContext)
		if err := tc.UnmarshalTo(u); err != nil {
			return nil, fmt.Errorf("%s.typed_config: %v", p, err)
		}
		// Not u.ValidateAll(): istiod's proxyless ISTIO_MUTUAL context
		// lacks the validation secret Envoy requires (gRPC does not
		// validate it either); the translation checks what it reads.
		return translateUpstreamTLS(u, p+".typed_config", env)
	}
	return nil, fmt.Errorf("%s.typed_config: %s is not supported (only UpstreamTlsContext and RawBuffer)", p, tc.GetTypeUrl())
}

// translateUpstreamTLS maps an UpstreamTlsContext onto the mesh's TLS
// modes: the workload's certificate and roots are ISTIO_MUTUAL; a
// certificate from files is MUTUAL; otherwise SIMPLE, verifying against
// files or the system's roots, or not at all when the context has no
// roots (as Envoy, which verifies nothing without a trusted CA).
func translateUpstreamTLS(u *tlsv3.UpstreamTlsContext, p string, env *tlsEnv) (*subset.ClientTLS, error) {
	if err := checkFields(u, p, upstreamTLSFields); err != nil {
		return nil, err
	}
	r := &tlsRead{p: p + ".common_tls_context", env: env}
	if err := r.common(u.GetCommonTlsContext()); err != nil {
		return nil, err
	}
	t := &subset.ClientTLS{SNI: u.GetSni(), SubjectAltNames: r.sans}
	if r.crlFile != "" && r.roots != srcFile && r.roots != srcSystem {
		return nil, fmt.Errorf("%s: a CRL is supported only with roots from a file or the system (not with the workload's, nor without roots)", r.crlPath)
	}
	switch {
	case r.cert == srcWorkload || r.roots == srcWorkload:
		if r.cert != srcWorkload {
			return nil, fmt.Errorf("%s: the workload's roots without its certificate is not supported: the mesh verifies with the workload's roots only in mesh mTLS (ISTIO_MUTUAL), which presents the workload's certificate", r.p)
		}
		if r.roots != srcWorkload {
			return nil, fmt.Errorf("%s: the workload's certificate with roots other than the workload's is not supported: mesh mTLS (ISTIO_MUTUAL) verifies the server against the workload's roots", r.p)
		}
		t.Mode = "ISTIO_MUTUAL"
		return t, nil
	case r.cert == srcFile:
		t.Mode, t.ClientCertificate, t.PrivateKey = "MUTUAL", r.certFile, r.keyFile
	default:
		t.Mode = "SIMPLE"
	}
	switch r.roots {
	case srcFile:
		t.CACertificates = r.rootsFile
	case srcNone:
		if len(t.SubjectAltNames) > 0 {
			// Envoy refuses this too.
			return nil, fmt.Errorf("%s: subject alt names without a trusted CA are not supported", r.p)
		}
		yes := true
		t.InsecureSkipVerify = &yes
	}
	t.CACrl = r.crlFile
	return t, nil
}

// common reads a CommonTlsContext.
func (r *tlsRead) common(c *tlsv3.CommonTlsContext) error {
	if c == nil {
		return nil
	}
	p := r.p
	if err := checkFields(c, p, commonTLSFields); err != nil {
		return err
	}
	if tp := c.GetTlsParams(); tp != nil {
		if err := checkFields(tp, p+".tls_params", tlsParamsFields); err != nil {
			return err
		}
		switch tp.GetTlsMinimumProtocolVersion() {
		case tlsv3.TlsParameters_TLS_AUTO, tlsv3.TlsParameters_TLSv1_2:
		default:
			return fmt.Errorf("%s.tls_params.tls_minimum_protocol_version: %s is not supported: the mesh's minimum is TLSv1_2", p, tp.GetTlsMinimumProtocolVersion())
		}
		switch tp.GetTlsMaximumProtocolVersion() {
		case tlsv3.TlsParameters_TLS_AUTO, tlsv3.TlsParameters_TLSv1_3:
		default:
			return fmt.Errorf("%s.tls_params.tls_maximum_protocol_version: %s is not supported: the mesh's maximum is TLSv1_3", p, tp.GetTlsMaximumProtocolVersion())
		}
	}
	for i, a := range c.GetAlpnProtocols() {
		if !knownALPN[a] {
			return fmt.Errorf("%s.alpn_protocols[%d]: %q is not supported: the mesh offers ALPN by the cluster's protocol (%s)", p, i, a, strings.Join(slices.Sorted(maps.Keys(knownALPN)), ", "))
		}
	}

	// The certificate presented.
	var sources []string
	if pi := c.GetTlsCertificateProviderInstance(); pi != nil {
		sources = append(sources, "tls_certificate_provider_instance")
		if err := r.provider(pi, p+".tls_certificate_provider_instance", false); err != nil {
			return err
		}
	}
	//lint:ignore SA1019 istiod still sends it, beside its replacement
	if pi := c.GetTlsCertificateCertificateProviderInstance(); pi != nil {
		pp := p + ".tls_certificate_certificate_provider_instance"
		if len(sources) > 0 {
			if n := c.GetTlsCertificateProviderInstance().GetInstanceName(); n != pi.GetInstanceName() {
				return fmt.Errorf("%s.instance_name: %q differs from tls_certificate_provider_instance's %q", pp, pi.GetInstanceName(), n)
			}
		} else {
			sources = append(sources, "tls_certificate_certificate_provider_instance")
			if err := r.provider(pi, pp, false); err != nil {
				return err
			}
		}
	}
	if sds := c.GetTlsCertificateSdsSecretConfigs(); len(sds) > 0 {
		sources = append(sources, "tls_certificate_sds_secret_configs")
		if len(sds) > 1 {
			return fmt.Errorf("%s.tls_certificate_sds_secret_configs: %d secrets: only one certificate is supported", p, len(sds))
		}
		if err := r.sdsCert(sds[0], p+".tls_certificate_sds_secret_configs[0]"); err != nil {
			return err
		}
	}
	if certs := c.GetTlsCertificates(); len(certs) > 0 {
		sources = append(sources, "tls_certificates")
		if len(certs) > 1 {
			return fmt.Errorf("%s.tls_certificates: %d certificates: only one is supported", p, len(certs))
		}
		tp := p + ".tls_certificates[0]"
		if err := checkFields(certs[0], tp, tlsCertificateFields); err != nil {
			return err
		}
		chain, err := fileOf(certs[0].GetCertificateChain(), tp+".certificate_chain")
		if err != nil {
			return err
		}
		key, err := fileOf(certs[0].GetPrivateKey(), tp+".private_key")
		if err != nil {
			return err
		}
		if chain == "" || key == "" {
			return fmt.Errorf("%s: certificate_chain and private_key are both required", tp)
		}
		r.cert, r.certFile, r.keyFile = srcFile, chain, key
	}
	if len(sources) > 1 {
		return fmt.Errorf("%s: %s: only one source of the certificate is supported", p, strings.Join(sources, " and "))
	}

	// The roots and names the server is verified against.
	switch v := c.GetValidationContextType().(type) {
	case nil:
	case *tlsv3.CommonTlsContext_ValidationContext:
		return r.validation(v.ValidationContext, p+".validation_context")
	case *tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig:
		return r.sdsRoots(v.ValidationContextSdsSecretConfig, p+".validation_context_sds_secret_config")
	case *tlsv3.CommonTlsContext_CombinedValidationContext:
		cp := p + ".combined_validation_context"
		cv := v.CombinedValidationContext
		if err := checkFields(cv, cp, combinedValidationFields); err != nil {
			return err
		}
		if err := r.validation(cv.GetDefaultValidationContext(), cp+".default_validation_context"); err != nil {
			return err
		}
		dynamic := r.roots
		r.roots = srcNone
		if s := cv.GetValidationContextSdsSecretConfig(); s != nil {
			if err := r.sdsRoots(s, cp+".validation_context_sds_secret_config"); err != nil {
				return err
			}
		}
		//lint:ignore SA1019 istiod still sends it, beside its replacement
		if pi := cv.GetValidationContextCertificateProviderInstance(); pi != nil {
			pp := cp + ".validation_context_certificate_provider_instance"
			if r.roots != srcNone || dynamic != srcNone {
				if dynamic != srcWorkload || r.roots != srcNone {
					return fmt.Errorf("%s: the roots are given twice", pp)
				}
				if err := r.provider(pi, pp, true); err != nil {
					return err
				}
				r.roots = srcNone // the same provider as default_validation_context's
			} else if err := r.provider(pi, pp, true); err != nil {
				return err
			}
		}
		switch {
		case dynamic != srcNone && r.roots != srcNone:
			return fmt.Errorf("%s: roots in both default_validation_context and the secret are not supported", cp)
		case dynamic != srcNone:
			r.roots = dynamic
		}
	case *tlsv3.CommonTlsContext_ValidationContextCertificateProviderInstance:
		//lint:ignore SA1019 a control plane may still send it
		return r.provider(v.ValidationContextCertificateProviderInstance, p+".validation_context_certificate_provider_instance", true)
	default:
		return fmt.Errorf("%s: %T is not supported", p, v)
	}
	return nil
}

// validation reads a CertificateValidationContext.
func (r *tlsRead) validation(v *tlsv3.CertificateValidationContext, p string) error {
	if v == nil {
		return nil
	}
	if err := checkFields(v, p, validationFields); err != nil {
		return err
	}
	if v.GetTrustChainVerification() != tlsv3.CertificateValidationContext_VERIFY_TRUST_CHAIN {
		return fmt.Errorf("%s.trust_chain_verification: %s is not supported", p, v.GetTrustChainVerification())
	}
	var roots []string
	if ca := v.GetTrustedCa(); ca != nil {
		roots = append(roots, "trusted_ca")
		f, err := fileOf(ca, p+".trusted_ca")
		if err != nil {
			return err
		}
		r.roots, r.rootsFile = srcFile, f
	}
	if pi := v.GetCaCertificateProviderInstance(); pi != nil {
		roots = append(roots, "ca_certificate_provider_instance")
		if err := r.provider(pi, p+".ca_certificate_provider_instance", true); err != nil {
			return err
		}
	}
	if v.GetSystemRootCerts() != nil {
		roots = append(roots, "system_root_certs")
		r.roots = srcSystem
	}
	if len(roots) > 1 {
		return fmt.Errorf("%s: %s: only one source of roots is supported", p, strings.Join(roots, " and "))
	}
	if crl := v.GetCrl(); crl != nil {
		f, err := fileOf(crl, p+".crl")
		if err != nil {
			return err
		}
		r.crlFile, r.crlPath = f, p+".crl"
	}
	//lint:ignore SA1019 istiod sends it
	for i, m := range v.GetMatchSubjectAltNames() {
		s, err := exactSAN(m, fmt.Sprintf("%s.match_subject_alt_names[%d]", p, i))
		if err != nil {
			return err
		}
		r.sans = append(r.sans, s)
	}
	for i, m := range v.GetMatchTypedSubjectAltNames() {
		mp := fmt.Sprintf("%s.match_typed_subject_alt_names[%d]", p, i)
		if err := checkFields(m, mp, sanMatcherFields); err != nil {
			return err
		}
		switch m.GetSanType() {
		case tlsv3.SubjectAltNameMatcher_DNS, tlsv3.SubjectAltNameMatcher_URI, tlsv3.SubjectAltNameMatcher_IP_ADDRESS, tlsv3.SubjectAltNameMatcher_EMAIL:
		default:
			return fmt.Errorf("%s.san_type: %s is not supported", mp, m.GetSanType())
		}
		s, err := exactSAN(m.GetMatcher(), mp+".matcher")
		if err != nil {
			return err
		}
		r.sans = append(r.sans, s)
	}
	return nil
}

// exactSAN reads a subject alt name matcher: the mesh matches names
// exactly.
func exactSAN(m *matcherv3.StringMatcher, p string) (string, error) {
	if err := checkFields(m, p, fieldTable{"exact": translated, "prefix": translated, "suffix": translated, "safe_regex": translated, "contains": translated, "custom": translated, "ignore_case": translated}); err != nil {
		return "", err
	}
	if m.GetIgnoreCase() {
		return "", fmt.Errorf("%s.ignore_case: not supported: the mesh matches subject alt names exactly", p)
	}
	e, ok := m.GetMatchPattern().(*matcherv3.StringMatcher_Exact)
	if !ok {
		kind := "no pattern"
		switch m.GetMatchPattern().(type) {
		case *matcherv3.StringMatcher_Prefix:
			kind = "prefix"
		case *matcherv3.StringMatcher_Suffix:
			kind = "suffix"
		case *matcherv3.StringMatcher_SafeRegex:
			kind = "safe_regex"
		case *matcherv3.StringMatcher_Contains:
			kind = "contains"
		case *matcherv3.StringMatcher_Custom:
			kind = "custom"
		}
		return "", fmt.Errorf("%s: %s is not supported: the mesh matches subject alt names exactly (exact)", p, kind)
	}
	if e.Exact == "" {
		return "", fmt.Errorf("%s.exact: empty", p)
	}
	return e.Exact, nil
}

// provider checks a certificate provider instance: one of the
// bootstrap's, and the one that supplies the workload's certificates.
func (r *tlsRead) provider(pi providerInstance, p string, roots bool) error {
	if err := checkFields(pi, p, providerInstanceFields); err != nil {
		return err
	}
	name := pi.GetInstanceName()
	env := r.env
	if env == nil {
		env = &tlsEnv{}
	}
	cp, ok := env.providers[name]
	if !ok {
		known := "it has none"
		if len(env.providers) > 0 {
			known = "it has " + quoteAll(slices.Sorted(maps.Keys(env.providers)))
		}
		return fmt.Errorf("%s.instance_name: certificate provider instance %q is not in the bootstrap's certificate_providers (%s)", p, name, known)
	}
	if name != env.workload {
		return fmt.Errorf("%s.instance_name: certificate provider instance %q is not supported: the mesh has one workload identity, from instance %q", p, name, env.workload)
	}
	if !env.certs {
		return noWorkload(p, fmt.Sprintf("certificate provider instance %q", name))
	}
	if env.own {
		if roots && cp.CACertificateFile == "" {
			return fmt.Errorf("%s.instance_name: certificate provider instance %q has no ca_certificate_file", p, name)
		}
		if !roots && cp.CertificateFile == "" {
			return fmt.Errorf("%s.instance_name: certificate provider instance %q has no certificate_file", p, name)
		}
	}
	if roots {
		r.roots = srcWorkload
	} else {
		r.cert = srcWorkload
	}
	return nil
}

// providerInstance is a certificate provider instance, in its current
// and deprecated forms.
type providerInstance interface {
	proto.Message
	GetInstanceName() string
}

// noWorkload explains a reference to the workload's certificates in a
// mesh without them.
func noWorkload(p, what string) error {
	return fmt.Errorf("%s: %s is the workload's, which this mesh does not have: give the bootstrap a certificate provider (certificate_providers.default, file_watcher) or pass switchyard.WithWorkloadCertificates in xds.WithMeshOptions", p, what)
}

// sdsCert reads the SDS secret of the certificate presented: the
// workload's ("default", which a sidecar's istio-agent serves and which
// in-process are the workload's certificates), or files ("file-cert:").
func (r *tlsRead) sdsCert(s *tlsv3.SdsSecretConfig, p string) error {
	if err := checkFields(s, p, sdsSecretFields); err != nil {
		return err
	}
	switch name := s.GetName(); {
	case name == sdsWorkloadCert:
		if r.env == nil || !r.env.certs {
			return noWorkload(p, "SDS secret \"default\"")
		}
		r.cert = srcWorkload
	case strings.HasPrefix(name, sdsFileCert):
		chain, key, ok := strings.Cut(strings.TrimPrefix(name, sdsFileCert), "~")
		if !ok || chain == "" || key == "" || strings.Contains(key, "~") {
			return fmt.Errorf("%s.name: %q: want file-cert:<certificate chain file>~<private key file>", p, name)
		}
		r.cert, r.certFile, r.keyFile = srcFile, chain, key
	default:
		return fmt.Errorf("%s.name: SDS secret %q is not supported: only the workload's (\"default\") and files (\"file-cert:<chain>~<key>\"); a Kubernetes secret (credentialName) cannot be read in-process", p, name)
	}
	return nil
}

// sdsRoots reads the SDS secret of the roots: the workload's ("ROOTCA"),
// the system's ("file-root:system") or a file ("file-root:<path>").
func (r *tlsRead) sdsRoots(s *tlsv3.SdsSecretConfig, p string) error {
	if err := checkFields(s, p, sdsSecretFields); err != nil {
		return err
	}
	switch name := s.GetName(); {
	case name == sdsWorkloadRoots:
		if r.env == nil || !r.env.certs {
			return noWorkload(p, "SDS secret \"ROOTCA\"")
		}
		r.roots = srcWorkload
	case name == sdsSystemRoots:
		r.roots = srcSystem
	case strings.HasPrefix(name, sdsFileRoot) && len(name) > len(sdsFileRoot) && !strings.Contains(name, "~"):
		r.roots, r.rootsFile = srcFile, strings.TrimPrefix(name, sdsFileRoot)
	default:
		return fmt.Errorf("%s.name: SDS secret %q is not supported: only the workload's roots (\"ROOTCA\"), the system's (\"file-root:system\") and files (\"file-root:<path>\"); a Kubernetes secret (credentialName) cannot be read in-process", p, name)
	}
	return nil
}

// fileOf returns the file a DataSource names; the mesh reads TLS material
// from files only.
func fileOf(d *corev3.DataSource, p string) (string, error) {
	if d == nil {
		return "", nil
	}
	f, ok := d.GetSpecifier().(*corev3.DataSource_Filename)
	if !ok || f.Filename == "" {
		return "", fmt.Errorf("%s: only a filename is supported (the mesh reads TLS material from files)", p)
	}
	if d.GetWatchedDirectory() != nil {
		return "", fmt.Errorf("%s.watched_directory: not supported: the mesh reads the file at each configuration", p)
	}
	return f.Filename, nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// knownALPN are the ALPN protocols a TLS context may list: Istio's mesh
// protocols and HTTP's. The mesh offers its own by the cluster's protocol
// ("istio" and "h2" or "http/1.1" for mesh mTLS; "h2" or "http/1.1"
// otherwise), which an Envoy sidecar and a Go server both accept.
var knownALPN = map[string]bool{
	"istio-peer-exchange": true, "istio": true, "istio-h2": true, "istio-http/1.0": true, "istio-http/1.1": true,
	"h2": true, "http/1.1": true,
}

// translateSocketMatches reads a cluster's transport_socket_matches
// (Istio's auto mTLS).
func translateSocketMatches(ms []*clusterv3.Cluster_TransportSocketMatch, p string, env *tlsEnv) ([]socketMatch, error) {
	var out []socketMatch
	for i, m := range ms {
		mp := fmt.Sprintf("%s.transport_socket_matches[%d]", p, i)
		if err := checkFields(m, mp, transportSocketMatchFields); err != nil {
			return nil, err
		}
		sm := socketMatch{match: map[string]string{}}
		for k, v := range m.GetMatch().GetFields() {
			s, ok := v.GetKind().(*structpb.Value_StringValue)
			if !ok {
				return nil, fmt.Errorf("%s.match[%q]: only string values are supported", mp, k)
			}
			sm.match[k] = s.StringValue
		}
		t, err := translateTransportSocket(m.GetTransportSocket(), mp+".transport_socket", env)
		if err != nil {
			return nil, err
		}
		sm.tls = t
		out = append(out, sm)
	}
	return out, nil
}

// socketMetadata returns an endpoint's envoy.transport_socket_match
// metadata (string values only; others match nothing), or its locality's
// when it has none, as Envoy looks them up. intern shares equal maps.
func socketMetadata(ep, locality *corev3.Metadata, intern map[string]map[string]string) map[string]string {
	s := ep.GetFilterMetadata()[transportSocketMatchKey]
	if s == nil {
		s = locality.GetFilterMetadata()[transportSocketMatchKey]
	}
	if len(s.GetFields()) == 0 {
		return nil
	}
	var key strings.Builder
	keys := slices.Sorted(maps.Keys(s.GetFields()))
	for _, k := range keys {
		if v, ok := s.GetFields()[k].GetKind().(*structpb.Value_StringValue); ok {
			key.WriteString(strconv.Quote(k) + "=" + strconv.Quote(v.StringValue) + ";")
		}
	}
	if m, ok := intern[key.String()]; ok {
		return m
	}
	m := map[string]string{}
	for _, k := range keys {
		if v, ok := s.GetFields()[k].GetKind().(*structpb.Value_StringValue); ok {
			m[k] = v.StringValue
		}
	}
	intern[key.String()] = m
	return m
}

// socketFor returns the index of the first match an endpoint's metadata
// satisfies, or -1 for the cluster's own transport socket.
func socketFor(ms []socketMatch, md map[string]string) int {
	for i, m := range ms {
		ok := true
		for k, v := range m.match {
			if md[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// clusterTLS chooses the TLS of a cluster with transport_socket_matches,
// given the endpoints that take its traffic. The mesh originates one TLS
// setting per cluster, not per endpoint: when the endpoints' matches
// choose one setting, it is that; when they disagree (some endpoints have
// a sidecar, others not, during a migration to the mesh), it is the
// first TLS setting chosen (in match order), so nothing istiod sends as
// mTLS goes in plain text: an endpoint that speaks only plain text then
// fails the handshake (a connect failure, retried and ejected as such)
// instead of receiving plain text meant to be encrypted.
func (c *clusterIR) clusterTLS(eps []endpointIR, take func(endpointIR) bool) *subset.ClientTLS {
	if len(c.sockets) <= 1 {
		return c.ownTLS()
	}
	matches := c.sockets[:len(c.sockets)-1]
	chosen := -1
	for _, e := range eps {
		if !take(e) {
			continue
		}
		i := socketFor(matches, e.socket)
		if i < 0 {
			i = len(matches) // the cluster's own socket ranks after every match
		}
		if c.sockets[i].tls != nil && (chosen < 0 || i < chosen) {
			chosen = i
		}
	}
	if chosen < 0 {
		return nil // every endpoint in plain text, or none
	}
	return c.sockets[chosen].tls
}
