package switchyard_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/mtls"
)

// BenchmarkTLSOrigination measures the mesh's own transports to a loopback
// server without TLS, with SIMPLE and with ISTIO_MUTUAL: on a new
// connection per request (maxRequestsPerConnection: 1, so each pays the
// handshake) and over reused connections (the steady state).
func BenchmarkTLSOrigination(b *testing.B) {
	ca := newTestCA(b, "ca")
	caFile := writePEM(b, b.TempDir(), "ca.pem", ca.pem)
	workload := workloadSource(b, ca, ca.issue(b, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller"))
	meshCfg, err := mtls.ServerConfig(workloadSource(b, ca, ca.issue(b, time.Time{}, "spiffe://cluster.local/ns/default/sa/svc")), mtls.ServerOptions{})
	require.NoError(b, err)
	servers := map[string]*tlsBackend{
		"plaintext":    startBenchServer(b, nil),
		"simple":       startBenchServer(b, serverConfig(b, ca.issue(b, time.Time{}, "svc.test"), nil)),
		"istio-mutual": startBenchServer(b, meshCfg),
	}
	modes := map[string]string{
		"plaintext":    `{mode: DISABLE}`,
		"simple":       `{mode: SIMPLE, caCertificates: ` + caFile + `}`,
		"istio-mutual": `{mode: ISTIO_MUTUAL}`,
	}
	for _, conn := range []string{"new-conn", "reused"} {
		for _, mode := range []string{"plaintext", "simple", "istio-mutual"} {
			b.Run(conn+"/"+mode, func(b *testing.B) {
				policy := modes[mode]
				if conn == "new-conn" {
					policy += "\n    connectionPool: {http: {maxRequestsPerConnection: 1}}"
				}
				m := benchTLSMesh(b, servers[mode], policy, switchyard.WithWorkloadCertificates(workload))
				rt := m.Transport(nil)
				req, err := http.NewRequest(http.MethodGet, "http://svc.test/", nil)
				require.NoError(b, err)
				b.ReportAllocs()
				for b.Loop() {
					resp, err := rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatal(resp.Status)
					}
				}
			})
		}
	}
}

// startBenchServer serves "ok" on loopback, over TLS when cfg is set.
func startBenchServer(b *testing.B, cfg *tls.Config) *tlsBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	srv := &http.Server{TLSConfig: cfg, ErrorLog: quietLog(), Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if cfg != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			b.Error(err)
		}
	}()
	b.Cleanup(func() { srv.Close(); <-done })
	return &tlsBackend{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port}
}

func benchTLSMesh(b *testing.B, s *tlsBackend, policy string, opts ...switchyard.Option) *switchyard.Mesh {
	cfg, err := switchyard.Parse([]byte(fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc}
spec:
  hosts: [svc.test]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: %d}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc.test
  trafficPolicy:
    tls: %s
`, s.port, policy)))
	require.NoError(b, err)
	m, err := switchyard.New(cfg, opts...)
	require.NoError(b, err)
	b.Cleanup(func() { m.Close() })
	return m
}
