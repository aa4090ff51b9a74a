package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"sync"
	"time"

	"github.com/switchyard-go/switchyard/mtls"
)

// workload is the certificate source the suite gives every mesh, as a
// workload in a mesh has one: ISTIO_MUTUAL needs it, and Istio's validator
// (which reads no certificates) accepts ISTIO_MUTUAL documents.
var workload = sync.OnceValue(func() *mtls.Source {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id, _ := url.Parse("spiffe://cluster.local/ns/default/sa/conformance")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "conformance"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		URIs: []*url.URL{id}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	src, err := mtls.NewSource(mtls.Material{
		Certificate: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
		Roots:       []*x509.Certificate{cert},
	})
	if err != nil {
		panic(err)
	}
	return src
})
