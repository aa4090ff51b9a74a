// Command mtls runs two services in one process that talk Istio mutual
// TLS (ISTIO_MUTUAL) with no sidecar: reviews serves mesh mTLS only, as
// under a STRICT PeerAuthentication, and productpage calls it through a
// switchyard mesh whose DestinationRule says ISTIO_MUTUAL. Each workload
// has a SPIFFE certificate from a CA generated here, as Istio's agent
// would write them; each side prints the identity it verified. A last
// call expects the wrong identity and is refused, with the cause.
//
//	go run ./examples/mtls
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/mtls"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mtls:", err)
		os.Exit(1)
	}
}

const trustDomain = "spiffe://cluster.local/ns/default/sa/"

func run() error {
	ca, err := newCA()
	if err != nil {
		return err
	}
	reviewsID, productpageID := trustDomain+"bookinfo-reviews", trustDomain+"bookinfo-productpage"

	// reviews: accepts mesh mTLS only and answers with the caller's
	// verified identity.
	reviewsCerts, err := ca.workload(reviewsID)
	if err != nil {
		return err
	}
	serverTLS, err := mtls.ServerConfig(reviewsCerts, mtls.ServerOptions{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{TLSConfig: serverTLS, ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := mtls.PeerID(r)
			fmt.Fprintf(w, "reviews (%s) verified its caller as %s", r.Proto, id)
		})}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	defer func() { srv.Close(); <-done }()
	port := ln.Addr().(*net.TCPAddr).Port

	// productpage: a mesh with its own workload certificate.
	productpageCerts, err := ca.workload(productpageID)
	if err != nil {
		return err
	}
	call := func(san string) (int, string, error) {
		cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP2, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL, subjectAltNames: [%q]}
`, port, san)))
		if err != nil {
			return 0, "", err
		}
		mesh, err := switchyard.New(cfg, switchyard.WithWorkloadCertificates(productpageCerts))
		if err != nil {
			return 0, "", err
		}
		defer mesh.Close()
		client := &http.Client{Transport: mesh.Transport(nil), Timeout: 10 * time.Second}
		resp, err := client.Get("http://reviews.default.svc.cluster.local:9080/")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	status, body, err := call(reviewsID)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("productpage → reviews: %d %s", status, body)
	}
	fmt.Printf("productpage (%s) verified reviews as %s\n", productpageID, reviewsID)
	fmt.Println(body)

	status, body, err = call(trustDomain + "bookinfo-ratings")
	if err != nil {
		return err
	}
	if status != http.StatusServiceUnavailable {
		return fmt.Errorf("expecting ratings at reviews: want 503, got %d %s", status, body)
	}
	fmt.Printf("expecting %sbookinfo-ratings instead: %d %s\n", trustDomain, status, body)
	return nil
}

// ca is the mesh's certificate authority, as istiod would be.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA() (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"cluster.local"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key}, err
}

var serial int64 = 1

// workload issues a workload certificate for the SPIFFE ID id and returns
// a source serving it with the CA's root, as cert-chain.pem, key.pem and
// root-cert.pem would (mtls.NewFileSource reads those files).
func (c *ca) workload(id string) (*mtls.Source, error) {
	u, err := url.Parse(id)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	m, err := mtls.ParsePEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), nil)
	if err != nil {
		return nil, errors.Join(errors.New("workload "+id), err)
	}
	return mtls.NewSource(m)
}
