package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/mtls"
	"github.com/switchyard-go/switchyard/subset"
)

// selfSigned returns a CA certificate and its PKCS #8 key, in PEM.
func selfSigned(t *testing.T) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func yes() *bool { b := true; return &b }

// TestTLSValidation holds the tls blocks to Istio's ValidateTLS and to what
// an in-process mesh can do, each error naming its field and file.
func TestTLSValidation(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, cert, 0o600))
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	missing := filepath.Join(dir, "missing.pem")
	src, err := mtls.NewSource(mtls.Material{})
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		tls      subset.ClientTLS
		workload *mtls.Source
		want     string // "" for valid
	}{
		{"disable with files", subset.ClientTLS{Mode: "DISABLE", CACertificates: missing}, nil, ""},
		{"unknown mode", subset.ClientTLS{Mode: "STRICT"}, nil, `spec.trafficPolicy.tls.mode: unknown mode "STRICT"; use DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL`},
		{"simple, system roots", subset.ClientTLS{Mode: "SIMPLE"}, nil, ""},
		{"simple with a CA", subset.ClientTLS{Mode: "SIMPLE", CACertificates: certFile}, nil, ""},
		{"missing file", subset.ClientTLS{Mode: "SIMPLE", CACertificates: missing}, nil,
			`spec.trafficPolicy.tls.caCertificates: cannot read "` + missing + `": no such file or directory`},
		{"not PEM", subset.ClientTLS{Mode: "SIMPLE", CACrl: keyFile}, nil, `spec.trafficPolicy.tls.caCrl: "` + keyFile + `": `},
		{"mutual without files", subset.ClientTLS{Mode: "MUTUAL"}, nil,
			"spec.trafficPolicy.tls.clientCertificate: required for mode MUTUAL (the file of the client's certificate chain)\n" +
				`DestinationRule "r": spec.trafficPolicy.tls.privateKey: required for mode MUTUAL`},
		{"mutual", subset.ClientTLS{Mode: "MUTUAL", ClientCertificate: certFile, PrivateKey: keyFile}, nil, ""},
		{"mutual, key for the chain", subset.ClientTLS{Mode: "MUTUAL", ClientCertificate: keyFile, PrivateKey: keyFile}, nil,
			`spec.trafficPolicy.tls.clientCertificate: "` + keyFile + `" and "` + keyFile + `": `},
		{"insecure simple with CA", subset.ClientTLS{Mode: "SIMPLE", CACertificates: certFile, InsecureSkipVerify: yes()}, nil,
			"spec.trafficPolicy.tls.insecureSkipVerify: cannot specify caCertificates, credentialName or subjectAltNames when insecureSkipVerify is true"},
		{"insecure mutual with SANs", subset.ClientTLS{Mode: "MUTUAL", ClientCertificate: certFile, PrivateKey: keyFile, SubjectAltNames: []string{"a"}, InsecureSkipVerify: yes()}, nil,
			"spec.trafficPolicy.tls.insecureSkipVerify: cannot specify caCertificates or subjectAltNames when insecureSkipVerify is true"},
		{"credentialName", subset.ClientTLS{Mode: "SIMPLE", CredentialName: "secret"}, nil,
			"spec.trafficPolicy.tls.credentialName: not supported: it names a Kubernetes secret, which an in-process mesh cannot read; give the files instead: clientCertificate and privateKey (MUTUAL) and caCertificates"},
		{"credentialName with files", subset.ClientTLS{Mode: "MUTUAL", CredentialName: "secret", CACertificates: certFile}, nil,
			"spec.trafficPolicy.tls.credentialName: cannot specify clientCertificate, caCertificates, privateKey or caCrl when credentialName is set"},
		{"istio mutual without workload", subset.ClientTLS{Mode: "ISTIO_MUTUAL"}, nil,
			"spec.trafficPolicy.tls.mode: ISTIO_MUTUAL needs the workload's certificates, which this mesh was not given"},
		{"istio mutual", subset.ClientTLS{Mode: "ISTIO_MUTUAL", SNI: "x"}, src, ""},
		{"istio mutual ignores files, as Istio", subset.ClientTLS{Mode: "ISTIO_MUTUAL", CACertificates: missing}, src, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tls := tc.tls
			_, err := Compile([]subset.ServiceEntry{reviews()}, []subset.DestinationRule{{Name: "r", Host: "reviews",
				TrafficPolicy: &subset.TrafficPolicy{TLS: &tls}}}, Options{Workload: tc.workload})
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, `DestinationRule "r": `+tc.want)
		})
	}

	_, err = Compile([]subset.ServiceEntry{{Name: "ext", Hosts: []string{"*.example.com"}, Ports: []subset.Port{{Number: 443}}}},
		[]subset.DestinationRule{{Name: "r", Host: "*.example.com", TrafficPolicy: &subset.TrafficPolicy{TLS: &subset.ClientTLS{Mode: "SIMPLE"}}}}, Options{})
	require.ErrorContains(t, err, `spec.trafficPolicy.tls.mode: host "*.example.com" has resolution NONE`)
}

// TestTLSPrecedence: Istio's precedence for tls, and its defaults for
// ISTIO_MUTUAL's SNI and SANs and SIMPLE's SANs (the ServiceEntry's
// subjectAltNames when the rule has none); an unchanged rule keeps the
// cluster's *TLS across a recompile.
func TestTLSPrecedence(t *testing.T) {
	src, err := mtls.NewSource(mtls.Material{})
	require.NoError(t, err)
	se := reviews()
	se.SubjectAltNames = []string{"spiffe://cluster.local/ns/default/sa/reviews"}
	rules := []subset.DestinationRule{{Name: "r", Host: "reviews",
		TrafficPolicy: &subset.TrafficPolicy{
			TLS:               &subset.ClientTLS{Mode: "ISTIO_MUTUAL"},
			PortLevelSettings: []subset.PortTrafficPolicy{{Port: subset.PortSelector{Number: 9090}, TLS: &subset.ClientTLS{Mode: "SIMPLE", SNI: "admin"}}},
		},
		Subsets: []subset.Subset{
			{Name: "v1", Labels: map[string]string{"version": "v1"}, TrafficPolicy: &subset.TrafficPolicy{TLS: &subset.ClientTLS{Mode: "DISABLE"}}},
			{Name: "v2", Labels: map[string]string{"version": "v2"}, TrafficPolicy: &subset.TrafficPolicy{
				PortLevelSettings: []subset.PortTrafficPolicy{{Port: subset.PortSelector{Number: 9080}, TLS: &subset.ClientTLS{Mode: "SIMPLE", SubjectAltNames: []string{"v2.reviews"}}}}}},
		},
	}}
	r, err := Compile([]subset.ServiceEntry{se}, rules, Options{Workload: src})
	require.NoError(t, err)
	svc := r.Lookup("reviews")
	str := func(c *Cluster) string {
		if c.TLS == nil {
			return ""
		}
		return c.TLS.String()
	}
	assert.Equal(t, "ISTIO_MUTUAL sni=outbound_.9080_._.reviews san=[spiffe://cluster.local/ns/default/sa/reviews]", str(svc.Cluster("", 9080)))
	assert.Equal(t, "SIMPLE sni=admin san=[spiffe://cluster.local/ns/default/sa/reviews]", str(svc.Cluster("", 9090)), "rule port level")
	assert.Equal(t, "", str(svc.Cluster("v1", 9080)), "the subset's DISABLE overrides the rule")
	assert.Equal(t, "SIMPLE san=[v2.reviews]", str(svc.Cluster("v2", 9080)), "subset port level")
	assert.Equal(t, "SIMPLE sni=admin san=[spiffe://cluster.local/ns/default/sa/reviews]", str(svc.Cluster("v2", 9090)),
		"a subset's port-level settings apply to their port only: the rule's port-level settings hold on the others")

	r2, err := Compile([]subset.ServiceEntry{se}, rules, Options{Workload: src, Previous: r})
	require.NoError(t, err)
	assert.Same(t, svc.Cluster("", 9080).TLS, r2.Lookup("reviews").Cluster("", 9080).TLS)
}

func TestTLSWithPassthroughBalancerIsRefused(t *testing.T) {
	_, err := Compile([]subset.ServiceEntry{reviews()}, []subset.DestinationRule{{Name: "r", Host: "reviews",
		TrafficPolicy: &subset.TrafficPolicy{LoadBalancer: &balancer.Settings{Simple: balancer.SimplePassthrough}, TLS: &subset.ClientTLS{Mode: "SIMPLE"}}}}, Options{})
	require.ErrorContains(t, err, "cluster outbound|9080||reviews: tls mode SIMPLE with loadBalancer PASSTHROUGH is not supported")
}
