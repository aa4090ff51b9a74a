package mtls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/switchyard-go/switchyard/mtls"
)

// Two workloads talk ISTIO_MUTUAL mTLS in one process: reviews serves
// HTTP/2 over mesh mTLS and tells its handler who called; productpage calls
// it, verifying that it is reviews.
func Example() {
	root, rootKey := exampleCA()
	reviewsSrc := exampleSource(root, rootKey, "spiffe://cluster.local/ns/default/sa/reviews")
	productpageSrc := exampleSource(root, rootKey, "spiffe://cluster.local/ns/default/sa/productpage")

	// reviews: accept mesh mTLS only.
	serverCfg, err := mtls.ServerConfig(reviewsSrc, mtls.ServerOptions{})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{TLSConfig: serverCfg, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := mtls.PeerID(r)
		ns, sa, _ := id.Workload()
		fmt.Fprintf(w, "hello %s of namespace %s over %s", sa, ns, r.Proto)
	})}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()

	// productpage: ISTIO_MUTUAL to reviews.
	clientCfg, err := mtls.ClientConfig(mtls.ClientOptions{
		Mode:            mtls.IstioMutual,
		Source:          productpageSrc,
		SNI:             mtls.IstioSNI(9080, "", "reviews.default.svc.cluster.local"),
		SubjectAltNames: []string{"spiffe://cluster.local/ns/default/sa/reviews"},
	})
	if err != nil {
		panic(err)
	}
	tr := &http.Transport{TLSClientConfig: clientCfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	server, _ := mtls.IDFromCert(resp.TLS.PeerCertificates[0])
	fmt.Println(string(body))
	fmt.Println("verified server:", server)
	// Output:
	// hello productpage of namespace default over HTTP/2.0
	// verified server: spiffe://cluster.local/ns/default/sa/reviews
}

// exampleCA makes a mesh root, as istiod's CA would be.
func exampleCA() (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	root, _ := x509.ParseCertificate(der)
	return root, key
}

// exampleSource issues a workload certificate for id, as Istio's agent
// would write it, and serves it from memory.
func exampleSource(root *x509.Certificate, rootKey *ecdsa.PrivateKey, id string) *mtls.Source {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse(id)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
	leaf, _ := x509.ParseCertificate(der)
	src, err := mtls.NewSource(mtls.Material{
		Certificate: &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Roots:       []*x509.Certificate{root},
	})
	if err != nil {
		panic(err)
	}
	return src
}
