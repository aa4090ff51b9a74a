package mtls_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/mtls"
)

// testServer is a real HTTPS server on loopback.
type testServer struct {
	url  string
	errs chan error // handshakes its VerifyConnection refused
}

// startHTTPS serves, with cfg, a handler that answers the protocol and the
// client's SPIFFE ID.
func startHTTPS(t testing.TB, cfg *tls.Config) *testServer {
	t.Helper()
	return startHTTPSHandler(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := mtls.PeerID(r)
		fmt.Fprintf(w, "%s %s", r.Proto, id)
	}))
}

// startHTTPSHandler serves h with cfg.
func startHTTPSHandler(t testing.TB, cfg *tls.Config, h http.Handler) *testServer {
	t.Helper()
	ts := &testServer{errs: make(chan error, 1024)}
	if inner := cfg.VerifyConnection; inner != nil {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			err := inner(cs)
			if err != nil {
				select {
				case ts.errs <- err:
				default:
				}
			}
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{
		Handler:   h,
		TLSConfig: cfg,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	ts.url = "https://" + ln.Addr().String() + "/"
	return ts
}

// plainTLSServerConfig serves l with no client authentication, as an
// external API does.
func plainTLSServerConfig(t testing.TB, l *testLeaf) *tls.Config {
	t.Helper()
	pair, err := tls.X509KeyPair(l.chainPEM, l.keyPEM)
	require.NoError(t, err)
	return &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}
}

// get makes one request over a new connection with cfg, over HTTP/2 or
// HTTP/1.1 as ALPN agrees, and returns the body.
func get(t testing.TB, url string, cfg *tls.Config, h2 bool) (string, *tls.ConnectionState, error) {
	t.Helper()
	if h2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	} else {
		cfg.NextProtos = []string{"http/1.1"}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.TLS, err
}

// pki is the tests' mesh: a root, a second unrelated root, and workloads.
type pki struct {
	mesh, other, inter *testCA
	reviews            *testLeaf // server: reviews, also valid for its DNS name
	productpage        *testLeaf // client
}

func newPKI(t testing.TB) *pki {
	p := &pki{mesh: newCA(t, "cluster.local"), other: newCA(t, "other-mesh")}
	p.inter = p.mesh.intermediate(t, "istiod-intermediate", time.Time{}, time.Time{})
	p.reviews = p.mesh.leaf(t, leafSpec{id: spiffe("default", "reviews"), dns: []string{"reviews.default.svc.cluster.local"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	p.productpage = p.mesh.leaf(t, leafSpec{id: spiffe("default", "productpage")})
	return p
}

func TestHandshakes(t *testing.T) {
	p := newPKI(t)
	clk := clock.NewFake(t0)
	day := 24 * time.Hour
	meshRoots := p.mesh.pem

	expired := p.mesh.leaf(t, leafSpec{id: spiffe("default", "reviews"), notBefore: t0.Add(-2 * day), notAfter: t0.Add(-day)})
	early := p.mesh.leaf(t, leafSpec{id: spiffe("default", "reviews"), notBefore: t0.Add(time.Hour), notAfter: t0.Add(day)})
	foreign := p.other.leaf(t, leafSpec{id: spiffe("default", "reviews")})
	noID := p.mesh.leaf(t, leafSpec{dns: []string{"reviews.default.svc.cluster.local"}})
	twoIDs := p.mesh.leaf(t, leafSpec{id: spiffe("default", "reviews"), uris: []string{spiffe("default", "ratings")}})
	viaInter := p.inter.leaf(t, leafSpec{id: spiffe("default", "reviews")})
	shortInter := p.mesh.intermediate(t, "expired-intermediate", t0.Add(-2*day), t0.Add(-day))
	viaExpiredInter := shortInter.leaf(t, leafSpec{id: spiffe("default", "reviews")})
	revoked := p.mesh.leaf(t, leafSpec{id: spiffe("default", "reviews")})
	wildcard := p.other.leaf(t, leafSpec{dns: []string{"*.example.com"}})
	clientExpired := p.mesh.leaf(t, leafSpec{id: spiffe("default", "productpage"), notBefore: t0.Add(-2 * day), notAfter: t0.Add(-day)})
	clientForeign := p.other.leaf(t, leafSpec{id: spiffe("default", "productpage")})
	clientRevoked := p.mesh.leaf(t, leafSpec{id: spiffe("default", "productpage")})

	crl := p.mesh.crl(t, t0.Add(-time.Hour), t0.Add(time.Hour), revoked.cert, clientRevoked.cert)
	staleCRL := p.mesh.crl(t, t0.Add(-2*time.Hour), t0.Add(-time.Hour))
	src := func(l *testLeaf, roots, crl []byte) *mtls.Source {
		return source(t, l, roots, crl, mtls.WithClock(clk))
	}
	strict := func(l *testLeaf, roots, crl []byte, opts mtls.ServerOptions) func() *tls.Config {
		return func() *tls.Config {
			cfg, err := mtls.ServerConfig(src(l, roots, crl), opts)
			require.NoError(t, err)
			return cfg
		}
	}
	plain := func(l *testLeaf) func() *tls.Config { return func() *tls.Config { return plainTLSServerConfig(t, l) } }
	istio := func(client *testLeaf, roots, crl []byte, sans ...string) mtls.ClientOptions {
		return mtls.ClientOptions{Mode: mtls.IstioMutual, Source: src(client, roots, crl), SNI: mtls.IstioSNI(9080, "", "reviews.default.svc.cluster.local"), SubjectAltNames: sans}
	}
	reviewsID, productpageID := spiffe("default", "reviews"), spiffe("default", "productpage")

	const (
		none   = ""
		client = "client"
		server = "server"
	)
	for _, tc := range []struct {
		name    string
		server  func() *tls.Config
		client  mtls.ClientOptions
		refused string // which side refuses the handshake
		cause   mtls.Cause
		msg     []string // in the refusing side's error
		peer    string   // the client ID the server's handler sees
	}{
		{name: "istio mutual", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), peer: productpageID},
		{name: "istio mutual, any mesh workload", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil), peer: productpageID},
		{name: "istio mutual, server through an intermediate", server: strict(viaInter, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), peer: productpageID},
		{name: "istio mutual, server allows the client", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{SubjectAltNames: []string{spiffe("default", "ratings"), productpageID}}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), peer: productpageID},
		{name: "istio mutual, CRL lists others", server: strict(p.reviews, meshRoots, crl, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, crl, reviewsID), peer: productpageID},

		{name: "wrong SAN", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil, spiffe("default", "ratings")), refused: client, cause: mtls.SANMismatch,
			msg: []string{`presents SANs ["` + reviewsID + `" "reviews.default.svc.cluster.local" "127.0.0.1"]`, `want one of ["` + spiffe("default", "ratings") + `"]`}},
		{name: "wrong CA", server: strict(foreign, p.other.pem, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), refused: client, cause: mtls.UnknownAuthority,
			msg: []string{`issued by "CN=other-mesh,O=other-mesh"`, `does not chain to the trusted roots "CN=cluster.local,O=cluster.local"`}},
		{name: "expired server", server: strict(expired, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), refused: client, cause: mtls.Expired,
			msg: []string{`"` + reviewsID + `" expired at 2030-05-31T12:00:00Z; the time is 2030-06-01T12:00:00Z`}},
		{name: "server not yet valid", server: strict(early, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), refused: client, cause: mtls.Expired,
			msg: []string{"is not valid before 2030-06-01T13:00:00Z; the time is 2030-06-01T12:00:00Z"}},
		{name: "expired intermediate", server: strict(viaExpiredInter, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), refused: client, cause: mtls.Expired,
			msg: []string{`certificate "CN=expired-intermediate" expired at 2030-05-31T12:00:00Z`}},
		{name: "revoked server", server: strict(revoked, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, crl, reviewsID), refused: client, cause: mtls.Revoked,
			msg: []string{fmt.Sprintf(`"%s" (serial %x) was revoked by "CN=cluster.local,O=cluster.local" at 2030-06-01T11:00:00Z`, reviewsID, revoked.cert.SerialNumber)}},
		{name: "stale CRL", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, staleCRL, reviewsID), refused: client, cause: mtls.Other,
			msg: []string{`the CRL from "CN=cluster.local,O=cluster.local" expired at 2030-06-01T11:00:00Z`}},
		{name: "CRL missing for an intermediate", server: strict(viaInter, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, crl, reviewsID), refused: client, cause: mtls.Other,
			msg: []string{`no CRL from "CN=istiod-intermediate", the issuer of "` + reviewsID + `"`}},
		{name: "server without SPIFFE ID", server: strict(noID, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil), refused: client, cause: mtls.Other,
			msg: []string{"peer is not a SPIFFE workload", "has no URI SAN"}},
		{name: "server with two URI SANs", server: strict(twoIDs, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(p.productpage, meshRoots, nil), refused: client, cause: mtls.Other,
			msg: []string{"has 2 URI SANs"}},

		{name: "no client certificate", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client:  mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil), SubjectAltNames: []string{reviewsID}},
			refused: server, cause: mtls.NoClientCert, msg: []string{"the client presented none"}},
		{name: "client from another CA", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(clientForeign, meshRoots, nil, reviewsID), refused: server, cause: mtls.UnknownAuthority,
			msg: []string{`"` + productpageID + `", issued by "CN=other-mesh,O=other-mesh"`}},
		{name: "client not allowed", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{SubjectAltNames: []string{spiffe("default", "ratings")}}),
			client: istio(p.productpage, meshRoots, nil, reviewsID), refused: server, cause: mtls.SANMismatch,
			msg: []string{`presents SANs ["` + productpageID + `"]; want one of ["` + spiffe("default", "ratings") + `"]`}},
		{name: "expired client", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client: istio(clientExpired, meshRoots, nil, reviewsID), refused: server, cause: mtls.Expired,
			msg: []string{`"` + productpageID + `" expired at 2030-05-31T12:00:00Z`}},
		{name: "revoked client", server: strict(p.reviews, meshRoots, crl, mtls.ServerOptions{}),
			client: istio(clientRevoked, meshRoots, nil, reviewsID), refused: server, cause: mtls.Revoked},

		{name: "simple, host verified", server: plain(p.reviews),
			client: mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil), Host: "reviews.default.svc.cluster.local"}},
		{name: "simple, IP host verified", server: plain(p.reviews),
			client: mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil), Host: "127.0.0.1"}},
		{name: "simple, wrong host", server: plain(p.reviews),
			client:  mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil), Host: "ratings.default.svc.cluster.local"},
			refused: client, cause: mtls.SANMismatch, msg: []string{`want "ratings.default.svc.cluster.local"`}},
		{name: "simple, no name to verify", server: plain(p.reviews),
			client:  mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil)},
			refused: client, cause: mtls.SANMismatch, msg: []string{"no server name to verify"}},
		{name: "simple, explicit sni checks the chain only, as Istio", server: plain(p.reviews),
			client: mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil), SNI: "ratings.default.svc.cluster.local", Host: "ratings.default.svc.cluster.local"}},
		{name: "simple, wildcard SAN", server: plain(wildcard),
			client: mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, p.other.pem, nil), SubjectAltNames: []string{"api.example.com"}}},
		{name: "simple, wildcard covers one label only", server: plain(wildcard),
			client:  mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, p.other.pem, nil), SubjectAltNames: []string{"a.b.example.com"}},
			refused: client, cause: mtls.SANMismatch},
		{name: "simple, wrong CA", server: plain(foreign),
			client:  mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil), SubjectAltNames: []string{reviewsID}},
			refused: client, cause: mtls.UnknownAuthority},
		{name: "simple, system roots do not know a test CA", server: plain(p.reviews),
			client:  mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, nil, nil), Host: "reviews.default.svc.cluster.local"},
			refused: client, cause: mtls.UnknownAuthority, msg: []string{"does not chain to the system roots"}},
		{name: "simple, insecureSkipVerify", server: plain(foreign),
			client: mtls.ClientOptions{Mode: mtls.Simple, Source: src(nil, meshRoots, nil), SubjectAltNames: []string{"nobody"}, InsecureSkipVerify: true}},
		{name: "istio mutual ignores insecureSkipVerify, as Istio", server: strict(foreign, p.other.pem, nil, mtls.ServerOptions{}),
			client: func() mtls.ClientOptions {
				o := istio(p.productpage, meshRoots, nil, reviewsID)
				o.InsecureSkipVerify = true
				return o
			}(), refused: client, cause: mtls.UnknownAuthority},
		{name: "mutual to a strict server", server: strict(p.reviews, meshRoots, nil, mtls.ServerOptions{}),
			client: mtls.ClientOptions{Mode: mtls.Mutual, Source: src(p.productpage, meshRoots, nil), Host: "reviews.default.svc.cluster.local"}, peer: productpageID},
	} {
		for _, h2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/h2=%v", tc.name, h2), func(t *testing.T) {
				ts := startHTTPS(t, tc.server())
				cfg, err := mtls.ClientConfig(tc.client)
				require.NoError(t, err)
				body, state, err := get(t, ts.url, cfg, h2)
				if tc.refused == none {
					require.NoError(t, err)
					proto := "HTTP/1.1"
					if h2 {
						proto = "HTTP/2.0"
					}
					assert.Equal(t, strings.TrimSpace(proto+" "+tc.peer), strings.TrimSpace(body))
					wantALPN := "http/1.1"
					if h2 {
						wantALPN = "h2"
					}
					assert.Equal(t, wantALPN, state.NegotiatedProtocol)
					return
				}
				require.Error(t, err, "body %q", body)
				var he *mtls.HandshakeError
				switch tc.refused {
				case client:
					require.True(t, errors.As(err, &he), "not a HandshakeError: %v", err)
				case server:
					select {
					case serr := <-ts.errs:
						require.True(t, errors.As(serr, &he), "not a HandshakeError: %v", serr)
					default:
						t.Fatalf("the server refused nothing; the client got %v", err)
					}
				}
				assert.Equal(t, tc.cause, he.Cause, "%v", he)
				assert.True(t, strings.HasPrefix(he.Error(), "mtls: "+tc.cause.String()+": "), he.Error())
				for _, m := range tc.msg {
					assert.Contains(t, he.Error(), m)
				}
			})
		}
	}
}

func TestClientConfigRejectsIncompleteOptions(t *testing.T) {
	p := newPKI(t)
	rootsOnly := source(t, nil, p.mesh.pem, nil)
	certOnly := source(t, p.productpage, nil, nil)
	for _, tc := range []struct {
		o    mtls.ClientOptions
		want string
	}{
		{mtls.ClientOptions{}, "mode is required"},
		{mtls.ClientOptions{Mode: "DISABLE"}, `unknown mode "DISABLE"; want SIMPLE, MUTUAL or ISTIO_MUTUAL`},
		{mtls.ClientOptions{Mode: mtls.Mutual, Source: rootsOnly}, "MUTUAL needs a source with a certificate and key"},
		{mtls.ClientOptions{Mode: mtls.IstioMutual}, "ISTIO_MUTUAL needs a source with a certificate and key"},
		{mtls.ClientOptions{Mode: mtls.IstioMutual, Source: certOnly}, "ISTIO_MUTUAL needs a source with roots"},
	} {
		_, err := mtls.ClientConfig(tc.o)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err := mtls.ServerConfig(nil, mtls.ServerOptions{})
	assert.ErrorContains(t, err, "needs a source")
	_, err = mtls.ServerConfig(rootsOnly, mtls.ServerOptions{})
	assert.ErrorContains(t, err, "needs a source with a certificate and key")
	_, err = mtls.ServerConfig(certOnly, mtls.ServerOptions{})
	assert.ErrorContains(t, err, "needs a source with roots")
}

func TestServerServesSidecarALPNAsHTTP11(t *testing.T) {
	p := newPKI(t)
	clk := clock.NewFake(t0)
	cfg, err := mtls.ServerConfig(source(t, p.reviews, p.mesh.pem, nil, mtls.WithClock(clk)), mtls.ServerOptions{})
	require.NoError(t, err)
	ts := startHTTPS(t, cfg)
	ccfg, err := mtls.ClientConfig(mtls.ClientOptions{Mode: mtls.IstioMutual, Source: source(t, p.productpage, p.mesh.pem, nil, mtls.WithClock(clk))})
	require.NoError(t, err)

	// An Envoy sidecar's HTTP/1.1 cluster offers only Istio's protocols.
	ccfg.NextProtos = []string{"istio-peer-exchange", "istio"}
	conn, err := tls.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(ts.url, "https://"), "/"), ccfg)
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, "", conn.ConnectionState().NegotiatedProtocol)
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	b, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Contains(t, string(b), "HTTP/1.1 "+spiffe("default", "productpage"))

	// Anything else without a common protocol is refused, as crypto/tls does.
	ccfg.NextProtos = []string{"spdy/3"}
	_, err = tls.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(ts.url, "https://"), "/"), ccfg)
	assert.ErrorContains(t, err, "no application protocol")
}
