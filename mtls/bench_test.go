package mtls_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/mtls"
)

// benchConfigs returns ISTIO_MUTUAL configs for both ends, ECDSA P-256.
func benchConfigs(b *testing.B) (server, client *tls.Config) {
	p := newPKI(b)
	clk := clock.NewFake(t0)
	server, err := mtls.ServerConfig(source(b, p.reviews, p.mesh.pem, nil, mtls.WithClock(clk)), mtls.ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	client, err = mtls.ClientConfig(mtls.ClientOptions{
		Mode: mtls.IstioMutual, Source: source(b, p.productpage, p.mesh.pem, nil, mtls.WithClock(clk)),
		SNI: mtls.IstioSNI(9080, "", "reviews.default.svc.cluster.local"), SubjectAltNames: []string{spiffe("default", "reviews")},
	})
	if err != nil {
		b.Fatal(err)
	}
	return server, client
}

// echoOnce accepts connections, wrapped in TLS when cfg is set, and echoes
// one byte on each, so the client knows the server finished its side of
// the handshake (in TLS 1.3 it verifies the client's certificate last).
func echoOnce(b *testing.B, cfg *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		var conns sync.WaitGroup
		defer conns.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				if cfg != nil {
					c = tls.Server(c, cfg)
				}
				var buf [1]byte
				if _, err := io.ReadFull(c, buf[:]); err == nil {
					_, _ = c.Write(buf[:])
				}
			})
		}
	})
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// BenchmarkNewConnection measures a new loopback connection that carries
// one byte each way: plain TCP, against TLS 1.3 with ISTIO_MUTUAL
// verification at both ends (ECDSA P-256 certificates, one full handshake
// each).
func BenchmarkNewConnection(b *testing.B) {
	serverCfg, clientCfg := benchConfigs(b)
	for _, bc := range []struct {
		name string
		srv  *tls.Config
		cli  *tls.Config
	}{{"plain", nil, nil}, {"mtls-ecdsa-p256", serverCfg, clientCfg}} {
		b.Run(bc.name, func(b *testing.B) {
			addr := echoOnce(b, bc.srv)
			b.ReportAllocs()
			for b.Loop() {
				var c net.Conn
				var err error
				if bc.cli != nil {
					c, err = tls.Dial("tcp", addr, bc.cli)
				} else {
					c, err = net.Dial("tcp", addr)
				}
				if err != nil {
					b.Fatal(err)
				}
				var buf [1]byte
				if _, err := c.Write(buf[:]); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf[:]); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkRequest measures an HTTP/1.1 GET over a kept-alive loopback
// connection, plain against mesh mTLS: the steady-state cost of TLS once
// the handshake is paid.
func BenchmarkRequest(b *testing.B) {
	serverCfg, clientCfg := benchConfigs(b)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	for _, bc := range []struct {
		name string
		tls  bool
	}{{"plain", false}, {"mtls-ecdsa-p256", true}} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: ok}
			tr := &http.Transport{}
			url := "http://" + ln.Addr().String() + "/"
			done := make(chan struct{})
			if bc.tls {
				srv.TLSConfig = serverCfg.Clone()
				srv.TLSConfig.NextProtos = []string{"http/1.1"}
				cfg := clientCfg.Clone()
				cfg.NextProtos = []string{"http/1.1"}
				tr.TLSClientConfig = cfg
				url = "https://" + ln.Addr().String() + "/"
				go func() { defer close(done); _ = srv.ServeTLS(ln, "", "") }()
			} else {
				go func() { defer close(done); _ = srv.Serve(ln) }()
			}
			defer func() {
				tr.CloseIdleConnections()
				srv.Close()
				<-done
			}()
			client := &http.Client{Transport: tr}
			get := func() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			get() // the handshake, outside the measurement
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
		})
	}
}
