//lint:file-ignore SA1019 istiod sends the deprecated fields; the tests build what it sends

package xds

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/switchyard-go/switchyard/subset"
)

// istioEnv is a bootstrap as Istio's grpc-agent writes it: provider
// "default" supplies the workload's certificates.
var istioEnv = &tlsEnv{
	providers: map[string]CertificateProvider{"default": {PluginName: "file_watcher", CertificateFile: "/var/lib/istio/data/cert-chain.pem",
		PrivateKeyFile: "/var/lib/istio/data/key.pem", CACertificateFile: "/var/lib/istio/data/root-cert.pem"}},
	workload: "default", certs: true, own: true,
}

func tlsSocket(u *tlsv3.UpstreamTlsContext) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(u)}}
}

func sds(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
		ApiType: corev3.ApiConfigSource_GRPC, TransportApiVersion: corev3.ApiVersion_V3,
		GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "sds-grpc"}}}},
	}}}}
}

func exact(s ...string) []*matcherv3.StringMatcher {
	var out []*matcherv3.StringMatcher
	for _, v := range s {
		out = append(out, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}})
	}
	return out
}

var istioParams = &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3}

// proxylessMutual is what istiod sends a proxyless client for
// ISTIO_MUTUAL (mtls.proxyless.json): provider instances, in their current
// and deprecated fields.
func proxylessMutual(instance string, sans ...string) *tlsv3.UpstreamTlsContext {
	return &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance:            &tlsv3.CertificateProviderPluginInstance{InstanceName: instance, CertificateName: "default"},
		TlsCertificateCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{InstanceName: instance, CertificateName: "default"},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{
				CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: instance, CertificateName: "ROOTCA"},
				MatchSubjectAltNames:          exact(sans...),
			},
			ValidationContextCertificateProviderInstance: &tlsv3.CommonTlsContext_CertificateProviderInstance{InstanceName: instance, CertificateName: "ROOTCA"},
		}},
	}}
}

// sidecarMutual is what istiod sends a sidecar for ISTIO_MUTUAL
// (mtls.sidecar.json): the istio-agent's SDS secrets.
func sidecarMutual(sni string, sans ...string) *tlsv3.UpstreamTlsContext {
	return &tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsParams:                      istioParams,
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sds("default")},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchSubjectAltNames: exact(sans...)},
			ValidationContextSdsSecretConfig: sds("ROOTCA"),
		}},
		AlpnProtocols: []string{"istio-peer-exchange", "istio"},
	}}
}

// fileTLS is what istiod sends a sidecar for SIMPLE or MUTUAL with files.
func fileTLS(sni, cert, roots string, crl string, sans ...string) *tlsv3.UpstreamTlsContext {
	c := &tlsv3.CommonTlsContext{TlsParams: istioParams}
	if cert != "" {
		c.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sds(cert)}
	}
	if roots == "" {
		c.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{}}
	} else {
		dv := &tlsv3.CertificateValidationContext{MatchSubjectAltNames: exact(sans...)}
		if crl != "" {
			dv.Crl = &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: crl}}
		}
		c.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: dv, ValidationContextSdsSecretConfig: sds(roots),
		}}
	}
	return &tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: c}
}

// TestTranslateUpstreamTLS: istiod's shapes map onto the DestinationRule
// tls settings that mean the same.
func TestTranslateUpstreamTLS(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name string
		u    *tlsv3.UpstreamTlsContext
		want *subset.ClientTLS
	}{
		{"proxyless ISTIO_MUTUAL", proxylessMutual("default"), &subset.ClientTLS{Mode: "ISTIO_MUTUAL"}},
		{"proxyless ISTIO_MUTUAL with SANs", proxylessMutual("default", "spiffe://cluster.local/ns/default/sa/reviews"),
			&subset.ClientTLS{Mode: "ISTIO_MUTUAL", SubjectAltNames: []string{"spiffe://cluster.local/ns/default/sa/reviews"}}},
		{"sidecar ISTIO_MUTUAL", sidecarMutual("outbound_.9080_.v1_.reviews.default.svc.cluster.local"),
			&subset.ClientTLS{Mode: "ISTIO_MUTUAL", SNI: "outbound_.9080_.v1_.reviews.default.svc.cluster.local"}},
		{"sidecar ISTIO_MUTUAL sni and SANs", sidecarMutual("details.default.svc.cluster.local", "spiffe://cluster.local/ns/default/sa/bookinfo-details"),
			&subset.ClientTLS{Mode: "ISTIO_MUTUAL", SNI: "details.default.svc.cluster.local", SubjectAltNames: []string{"spiffe://cluster.local/ns/default/sa/bookinfo-details"}}},
		{"SIMPLE system roots", fileTLS("api.example.com", "", "file-root:system", ""),
			&subset.ClientTLS{Mode: "SIMPLE", SNI: "api.example.com"}},
		{"SIMPLE caCertificates", fileTLS("", "", "file-root:/etc/certs/root.pem", "/etc/certs/crl.pem", "api.example.com"),
			&subset.ClientTLS{Mode: "SIMPLE", CACertificates: "/etc/certs/root.pem", CACrl: "/etc/certs/crl.pem", SubjectAltNames: []string{"api.example.com"}}},
		{"SIMPLE insecureSkipVerify", fileTLS("", "", "", ""),
			&subset.ClientTLS{Mode: "SIMPLE", InsecureSkipVerify: &yes}},
		{"MUTUAL files", fileTLS("db", "file-cert:/etc/certs/c.pem~/etc/certs/k.pem", "file-root:/etc/certs/root.pem", ""),
			&subset.ClientTLS{Mode: "MUTUAL", SNI: "db", ClientCertificate: "/etc/certs/c.pem", PrivateKey: "/etc/certs/k.pem", CACertificates: "/etc/certs/root.pem"}},
		{"inline filenames", &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsCertificates: []*tlsv3.TlsCertificate{{
				CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/c.pem"}},
				PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/k.pem"}},
			}},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/ca.pem"}},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "db.example.com"}}}},
			}},
		}}, &subset.ClientTLS{Mode: "MUTUAL", ClientCertificate: "/c.pem", PrivateKey: "/k.pem", CACertificates: "/ca.pem", SubjectAltNames: []string{"db.example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := edsCluster("c")
			c.TransportSocket = tlsSocket(tc.u)
			ir, err := translateCluster(c, false, istioEnv)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ir.ownTLS(), tc.want) {
				t.Errorf("got %+v, want %+v", ir.ownTLS(), tc.want)
			}
		})
	}

	c := edsCluster("c")
	c.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.raw_buffer", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbufferv3.RawBuffer{})}}
	if ir, err := translateCluster(c, false, nil); err != nil || ir.ownTLS() != nil {
		t.Errorf("raw buffer: %+v, %v; want plain text", ir, err)
	}
}

// TestUpstreamTLSRefusedByName: what the mesh cannot express is refused,
// naming the field and why.
func TestUpstreamTLSRefusedByName(t *testing.T) {
	twoProviders := &tlsEnv{providers: map[string]CertificateProvider{"default": {}, "other": {}}, workload: "default", certs: true}
	for _, tc := range []struct {
		name string
		u    func() *tlsv3.UpstreamTlsContext
		env  *tlsEnv
		want string
	}{
		{"unknown provider instance", func() *tlsv3.UpstreamTlsContext { return proxylessMutual("spire") }, istioEnv,
			`tls_certificate_provider_instance.instance_name: certificate provider instance "spire" is not in the bootstrap's certificate_providers (it has "default")`},
		{"no providers", func() *tlsv3.UpstreamTlsContext { return proxylessMutual("default") }, nil,
			`certificate provider instance "default" is not in the bootstrap's certificate_providers (it has none)`},
		{"second provider", func() *tlsv3.UpstreamTlsContext { return proxylessMutual("other") }, twoProviders,
			`certificate provider instance "other" is not supported: the mesh has one workload identity, from instance "default"`},
		{"provider without certificate", func() *tlsv3.UpstreamTlsContext { return proxylessMutual("default") },
			&tlsEnv{providers: map[string]CertificateProvider{"default": {CACertificateFile: "/ca"}}, workload: "default", certs: true, own: true},
			`certificate provider instance "default" has no certificate_file`},
		{"SDS without workload certificates", func() *tlsv3.UpstreamTlsContext { return sidecarMutual("x") }, nil,
			`tls_certificate_sds_secret_configs[0]: SDS secret "default" is the workload's, which this mesh does not have`},
		{"kubernetes secret", func() *tlsv3.UpstreamTlsContext { return fileTLS("", "kubernetes://db-cred", "file-root:system", "") }, istioEnv,
			`SDS secret "kubernetes://db-cred" is not supported`},
		{"prefix SAN", func() *tlsv3.UpstreamTlsContext {
			u := sidecarMutual("x")
			u.CommonTlsContext.GetCombinedValidationContext().DefaultValidationContext.MatchSubjectAltNames = []*matcherv3.StringMatcher{
				{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://cluster.local/ns/default/"}}}
			return u
		}, istioEnv, "match_subject_alt_names[0]: prefix is not supported: the mesh matches subject alt names exactly"},
		{"regex typed SAN", func() *tlsv3.UpstreamTlsContext {
			u := sidecarMutual("x")
			u.CommonTlsContext.GetCombinedValidationContext().DefaultValidationContext.MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{
				SanType: tlsv3.SubjectAltNameMatcher_URI, Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}}}}
			return u
		}, istioEnv, "match_typed_subject_alt_names[0].matcher: safe_regex is not supported"},
		{"ignore case SAN", func() *tlsv3.UpstreamTlsContext {
			u := sidecarMutual("x", "a")
			u.CommonTlsContext.GetCombinedValidationContext().DefaultValidationContext.MatchSubjectAltNames[0].IgnoreCase = true
			return u
		}, istioEnv, "match_subject_alt_names[0].ignore_case: not supported"},
		{"cipher suites", func() *tlsv3.UpstreamTlsContext {
			u := sidecarMutual("x")
			u.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{CipherSuites: []string{"ECDHE-RSA-AES128-GCM-SHA256"}}
			return u
		}, istioEnv, "tls_params.cipher_suites: not supported by switchyard"},
		{"TLS 1.1", func() *tlsv3.UpstreamTlsContext {
			u := sidecarMutual("x")
			u.CommonTlsContext.TlsParams = &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_1}
			return u
		}, istioEnv, "tls_minimum_protocol_version: TLSv1_1 is not supported"},
		{"ALPN", func() *tlsv3.UpstreamTlsContext {
			u := sidecarMutual("x")
			u.CommonTlsContext.AlpnProtocols = []string{"spdy/3"}
			return u
		}, istioEnv, `alpn_protocols[0]: "spdy/3" is not supported`},
		{"workload roots alone", func() *tlsv3.UpstreamTlsContext { return fileTLS("", "", "ROOTCA", "") }, istioEnv,
			"the workload's roots without its certificate is not supported"},
		{"workload certificate with file roots", func() *tlsv3.UpstreamTlsContext { return fileTLS("", "default", "file-root:/ca.pem", "") }, istioEnv,
			"the workload's certificate with roots other than the workload's is not supported"},
		{"inline certificate", func() *tlsv3.UpstreamTlsContext {
			return &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "-----BEGIN CERTIFICATE-----"}}}}}}
		}, istioEnv, "validation_context.trusted_ca: only a filename is supported"},
		{"renegotiation", func() *tlsv3.UpstreamTlsContext {
			u := sidecarMutual("x")
			u.AllowRenegotiation = true
			return u
		}, istioEnv, "typed_config.allow_renegotiation: not supported by switchyard"},
		{"SANs without roots", func() *tlsv3.UpstreamTlsContext {
			return &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{MatchSubjectAltNames: exact("a")}}}}
		}, istioEnv, "subject alt names without a trusted CA are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := edsCluster("c")
			c.TransportSocket = tlsSocket(tc.u())
			_, err := translateCluster(c, false, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `Cluster "c".transport_socket`) {
				t.Fatalf("err = %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}

// autoMTLS is a sidecar cluster as istiod sends it without a TLS rule:
// TLS to the endpoints labelled tlsMode: istio, plain text to the others.
func autoMTLS(name string) *clusterv3.Cluster {
	c := edsCluster(name)
	m, _ := structpb.NewStruct(map[string]any{"tlsMode": "istio"})
	c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{
		{Name: "tlsMode-istio", Match: m, TransportSocket: tlsSocket(sidecarMutual("outbound_.8080_._.reviews.test"))},
		{Name: "tlsMode-disabled", Match: &structpb.Struct{}, TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.raw_buffer",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbufferv3.RawBuffer{})}}},
	}
	return c
}

// tlsModeCLA is cla with, for each address, whether istiod marks it
// tlsMode: istio.
func tlsModeCLA(name string, addrs map[string]bool) *endpointv3.ClusterLoadAssignment {
	out := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{}}}
	for addr, istio := range addrs {
		e := cla(name, addr).Endpoints[0].LbEndpoints[0]
		if istio {
			md, _ := structpb.NewStruct(map[string]any{"tlsMode": "istio"})
			e.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{transportSocketMatchKey: md}}
		}
		out.Endpoints[0].LbEndpoints = append(out.Endpoints[0].LbEndpoints, e)
	}
	return out
}

// TestAutoMTLS: the endpoints' tlsMode chooses the cluster's TLS; when
// they disagree, TLS wins (nothing meant to be encrypted goes in plain
// text).
func TestAutoMTLS(t *testing.T) {
	ir, err := translateCluster(autoMTLS(clusterV1), false, istioEnv)
	if err != nil {
		t.Fatal(err)
	}
	mutual := &subset.ClientTLS{Mode: "ISTIO_MUTUAL", SNI: "outbound_.8080_._.reviews.test"}
	for _, tc := range []struct {
		name string
		eps  map[string]bool
		want *subset.ClientTLS
	}{
		{"all in the mesh", map[string]bool{"10.0.0.1:80": true, "10.0.0.2:80": true}, mutual},
		{"none in the mesh", map[string]bool{"10.0.0.1:80": false, "10.0.0.2:80": false}, nil},
		{"mixed", map[string]bool{"10.0.0.1:80": true, "10.0.0.2:80": false}, mutual},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := translateCLA(tlsModeCLA(clusterV1, tc.eps), "cla", false)
			if err != nil {
				t.Fatal(err)
			}
			rs := newResources()
			rs.clusters[clusterV1], rs.endpoints[clusterV1] = ir, eps
			hs := buildHost(rs, "reviews.test", []string{clusterV1}, nil)
			got := hs.dr.Subsets[0].TrafficPolicy.TLS
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("TLS %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGoldenTLS: the TLS each cluster of istiod's mtls scenario gets
// (conformance/testdata/xds/mtls.yaml): ISTIO_MUTUAL for reviews (with
// Istio's SNI per subset) and details (with the rule's sni and SANs, which
// the proxyless persona loses), DISABLE for ratings, SIMPLE to
// api.example.com (sidecar only), and auto mTLS for productpage, whose
// endpoints are labelled tlsMode: istio.
func TestGoldenTLS(t *testing.T) {
	const rev, det = "reviews.default.svc.cluster.local", "details.default.svc.cluster.local"
	mutual := func(sni string, sans ...string) string {
		return tlsString(&subset.ClientTLS{Mode: "ISTIO_MUTUAL", SNI: sni, SubjectAltNames: sans})
	}
	for persona, want := range map[string]map[string]string{
		"sidecar": {
			"outbound|9080||" + rev:                                mutual("outbound_.9080_._." + rev),
			"outbound|9080|v1|" + rev:                              mutual("outbound_.9080_.v1_." + rev),
			"outbound|9080||" + det:                                mutual(det, "spiffe://cluster.local/ns/default/sa/bookinfo-details"),
			"outbound|9080||ratings.default.svc.cluster.local":     "plain",
			"outbound|9080||productpage.default.svc.cluster.local": mutual("outbound_.9080_._.productpage.default.svc.cluster.local"),
			"outbound|80||api.example.com":                         tlsString(&subset.ClientTLS{Mode: "SIMPLE", SNI: "api.example.com"}),
		},
		"proxyless": {
			"outbound|9080||" + rev:                                "ISTIO_MUTUAL",
			"outbound|9080||" + det:                                "ISTIO_MUTUAL",
			"outbound|9080||ratings.default.svc.cluster.local":     "plain",
			"outbound|9080||productpage.default.svc.cluster.local": "plain",
			"outbound|80||api.example.com":                         "plain",
		},
	} {
		t.Run(persona, func(t *testing.T) {
			rs, err := loadDump(goldenDir+"/mtls."+persona+".json", persona == "proxyless")
			if err != nil {
				t.Fatal(err)
			}
			for cn, w := range want {
				c := rs.clusters[cn]
				if c == nil {
					t.Errorf("%s: missing", cn)
					continue
				}
				var eps []endpointIR
				if e := rs.endpoints[c.edsName]; e != nil {
					eps = e.eps
				} else if c.inline != nil {
					eps = c.inline.eps
				}
				got := "plain"
				if tls := c.clusterTLS(eps, func(endpointIR) bool { return true }); tls != nil {
					got = tlsString(tls)
				}
				if got != w {
					t.Errorf("%s: TLS %s, want %s", cn, got, w)
				}
			}
		})
	}
}

func tlsString(t *subset.ClientTLS) string {
	if t.SNI == "" && len(t.SubjectAltNames) == 0 && t.CACertificates == "" && t.ClientCertificate == "" {
		return t.Mode
	}
	return fmt.Sprintf("%s sni=%s san=%v ca=%s cert=%s", t.Mode, t.SNI, t.SubjectAltNames, t.CACertificates, t.ClientCertificate)
}

// TestPassthroughTLSRefused: TLS on an ORIGINAL_DST cluster would be sent
// in plain text through the caller's transport: refused.
func TestPassthroughTLSRefused(t *testing.T) {
	c := &clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy: clusterv3.Cluster_CLUSTER_PROVIDED, TransportSocket: tlsSocket(sidecarMutual("x"))}
	if _, err := translateCluster(c, false, istioEnv); err == nil || !strings.Contains(err.Error(), "TLS origination (ISTIO_MUTUAL) on an ORIGINAL_DST cluster") {
		t.Errorf("err = %v", err)
	}
	c.TransportSocket = nil
	if ir, err := translateCluster(c, false, istioEnv); err != nil || !ir.ignored {
		t.Errorf("plain ORIGINAL_DST: %+v, %v", ir, err)
	}
	// Auto mTLS, as istiod sends it for a PASSTHROUGH rule: the original
	// destinations carry no metadata, so its last match (plain text)
	// applies to all of them.
	c.TransportSocketMatches = autoMTLS("c").TransportSocketMatches
	if ir, err := translateCluster(c, false, istioEnv); err != nil || !ir.ignored {
		t.Errorf("ORIGINAL_DST with auto mTLS: %+v, %v", ir, err)
	}
	c.TransportSocketMatches = c.TransportSocketMatches[:1:1]
	c.TransportSocketMatches = append(c.TransportSocketMatches, &clusterv3.Cluster_TransportSocketMatch{Name: "all", Match: &structpb.Struct{}, TransportSocket: tlsSocket(sidecarMutual("x"))})
	if _, err := translateCluster(c, false, istioEnv); err == nil || !strings.Contains(err.Error(), "transport_socket_matches[1]: TLS origination (ISTIO_MUTUAL) on an ORIGINAL_DST cluster") {
		t.Errorf("ORIGINAL_DST with TLS for every host: %v", err)
	}
}
