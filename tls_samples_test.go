package switchyard_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/mtls"
)

// bookinfoEntries are ServiceEntries for Bookinfo's four services with
// endpoints carrying every version label destination-rule-all-mtls.yaml
// names; productpage v1 is the loopback server at port.
func bookinfoEntries(port int) string {
	se := func(host string, port int, addr string, versions ...string) string {
		s := fmt.Sprintf(`
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s}
spec:
  hosts: [%s]
  ports: [{number: 9080, name: http, protocol: HTTP, targetPort: %d}]
  resolution: STATIC
  endpoints:`, host, host, port)
		for i, v := range versions {
			s += fmt.Sprintf("\n  - {address: %s%d, labels: {version: %s}}", addr, i+1, v)
		}
		return s
	}
	return se("productpage", port, "127.0.0.", "v1") +
		se("reviews", 9080, "10.0.1.", "v1", "v2", "v3") +
		se("ratings", 9080, "10.0.2.", "v1", "v2", "v2-mysql", "v2-mysql-vm") +
		se("details", 9080, "10.0.3.", "v1", "v2")
}

// TestIstioTLSSamplesLoadUnchanged loads Istio's own samples, copied
// unchanged into testdata/istio: Bookinfo's destination-rule-all-mtls.yaml
// (ISTIO_MUTUAL for every service, which then talks mTLS to a server
// accepting mesh mTLS only) and egress-rule-google-apis.yaml (TLS
// origination to port 443 after a port rewrite).
func TestIstioTLSSamplesLoadUnchanged(t *testing.T) {
	ca := newTestCA(t, "ca")
	workload := workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/caller"))
	server, err := mtls.ServerConfig(workloadSource(t, ca, ca.issue(t, time.Time{}, "spiffe://cluster.local/ns/default/sa/bookinfo-productpage")), mtls.ServerOptions{})
	require.NoError(t, err)
	b := startTLSBackend(t, server)

	sample, err := os.ReadFile("testdata/istio/destination-rule-all-mtls.yaml")
	require.NoError(t, err)
	cfg, err := switchyard.Parse(append(sample, bookinfoEntries(b.port)...))
	require.NoError(t, err)
	_, err = switchyard.New(cfg)
	require.ErrorContains(t, err, "ISTIO_MUTUAL needs the workload's certificates")
	m, err := switchyard.New(cfg, switchyard.WithWorkloadCertificates(workload))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	status, body := tlsGet(t, m.Transport(nil), "http://productpage:9080/")
	require.Equal(t, 200, status, body)
	require.Equal(t, "HTTP/1.1 sni=outbound_.9080_._.productpage peer=spiffe://cluster.local/ns/default/sa/caller", body)
	req, err := http.NewRequest(http.MethodGet, "http://reviews:9080/", nil)
	require.NoError(t, err)
	require.Contains(t, m.Explain(req).String(), "cluster outbound|9080||reviews, tls ISTIO_MUTUAL sni=outbound_.9080_._.reviews")

	sample, err = os.ReadFile("testdata/istio/egress-rule-google-apis.yaml")
	require.NoError(t, err)
	cfg, err = switchyard.Parse(sample)
	require.NoError(t, err)
	m, err = switchyard.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	req, err = http.NewRequest(http.MethodGet, "http://www.googleapis.com/", nil)
	require.NoError(t, err)
	require.Contains(t, m.Explain(req).String(), "cluster outbound|443||www.googleapis.com, tls SIMPLE,")
}
