// Command gateway runs an Istio ingress Gateway in-process on loopback,
// with no setup: it makes a throw-away CA and certificate, starts two
// reviews backends (v1, v2), serves the Gateway of its mesh.yaml (TLS on
// one listener, the HTTPS redirect on another) with Mesh.Gateway, and
// sends requests through it as an outside client would: the user jason
// goes to v2, everyone else 80/20, within binomial bounds (alpha = 1e-6).
// It exits non-zero if anything is off.
//
//	go run ./examples/gateway
//	go run ./examples/gateway -n 10000
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/stat"
)

//go:embed mesh.yaml
var meshYAML string

func main() {
	n := flag.Int("n", 2000, "requests from anonymous users")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	dir, err := os.MkdirTemp("", "switchyard-gateway")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	roots, err := makeCertificate(dir, "bookinfo.example.com")
	if err != nil {
		return err
	}
	var ports [2]string
	for i, v := range []string{"v1", "v2"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "reviews %s (X-Forwarded-Proto %s)", v, r.Header.Get("X-Forwarded-Proto"))
		}))
		defer srv.Close()
		_, ports[i], _ = net.SplitHostPort(srv.Listener.Addr().String())
	}
	var manifests bytes.Buffer
	err = template.Must(template.New("mesh").Parse(meshYAML)).Execute(&manifests, map[string]string{
		"V1": ports[0], "V2": ports[1], "Cert": filepath.Join(dir, "cert.pem"), "Key": filepath.Join(dir, "key.pem")})
	if err != nil {
		return err
	}
	cfg, err := switchyard.Parse(manifests.Bytes())
	if err != nil {
		return err
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		return err
	}
	defer mesh.Close()

	httpsAddr, stopHTTPS, err := serve(mesh, 443)
	if err != nil {
		return err
	}
	defer stopHTTPS()
	httpAddr, stopHTTP, err := serve(mesh, 80)
	if err != nil {
		return err
	}
	defer stopHTTP()
	fmt.Printf("Gateway istio-system/bookinfo-gateway: port 443 on https://%s, port 80 on http://%s\n", httpsAddr, httpAddr)

	// An outside client: it resolves bookinfo.example.com to the gateway.
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if strings.HasSuffix(addr, ":80") {
					addr = httpAddr
				} else {
					addr = httpsAddr
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	resp, _, err := get(client, "http://bookinfo.example.com/productpage", "")
	if err != nil {
		return err
	}
	fmt.Printf("http://bookinfo.example.com/productpage -> %d %s\n", resp.StatusCode, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusMovedPermanently {
		return errors.New("want the HTTPS redirect")
	}
	resp, body, err := get(client, "https://bookinfo.example.com/reviews/1", "jason")
	if err != nil {
		return err
	}
	fmt.Printf("jason over %s -> %s\n", resp.Proto, body)
	if !strings.Contains(body, "v2") {
		return errors.New("jason must reach v2")
	}
	v2 := 0
	for range n {
		_, body, err := get(client, "https://bookinfo.example.com/reviews/1", "")
		if err != nil {
			return err
		}
		if strings.Contains(body, "reviews v2") {
			v2++
		}
	}
	lo, hi := stat.BinomialInterval(n, 0.2)
	fmt.Printf("anonymous: %d of %d to v2 (20%% configured; a correct split gives %d..%d)\n", v2, n, lo, hi)
	if v2 < lo || v2 > hi {
		return errors.New("the split is off")
	}
	return nil
}

// serve serves port of the example's Gateway on a loopback listener.
func serve(mesh *switchyard.Mesh, port uint32) (string, func(), error) {
	srv, err := mesh.Gateway("istio-system/bookinfo-gateway", port)
	if err != nil {
		return "", nil, err
	}
	srv.ReadHeaderTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if srv.TLSConfig != nil {
			srv.ServeTLS(ln, "", "")
		} else {
			srv.Serve(ln)
		}
	}()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

func get(c *http.Client, url, user string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if user != "" {
		req.Header.Set("end-user", user)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// makeCertificate writes cert.pem and key.pem for host into dir, signed by
// a throw-away CA, and returns the pool that trusts it.
func makeCertificate(dir, host string) (*x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, nil
}
