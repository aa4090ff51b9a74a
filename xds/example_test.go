package xds_test

import (
	"fmt"
	"log"

	"github.com/switchyard-go/switchyard/xds"
)

// The bootstrap Istio's grpc-agent writes for a proxyless workload: xDS from
// the agent's local socket, certificates from files it keeps fresh.
func ExampleParseBootstrap() {
	b, err := xds.ParseBootstrap([]byte(`{
	  "xds_servers": [{
	    "server_uri": "unix:///etc/istio/proxy/XDS",
	    "channel_creds": [{"type": "insecure"}],
	    "server_features": ["xds_v3"]
	  }],
	  "node": {
	    "id": "sidecar~10.1.2.3~reviews-v1-7f9d.default~default.svc.cluster.local",
	    "metadata": {"GENERATOR": "grpc", "NAMESPACE": "default"},
	    "locality": {"region": "us-central1", "zone": "us-central1-a"}
	  },
	  "certificate_providers": {
	    "default": {
	      "plugin_name": "file_watcher",
	      "config": {
	        "certificate_file": "/var/lib/istio/data/cert-chain.pem",
	        "private_key_file": "/var/lib/istio/data/key.pem",
	        "ca_certificate_file": "/var/lib/istio/data/root-cert.pem",
	        "refresh_interval": "900s"
	      }
	    }
	  },
	  "server_listener_resource_name_template": "xds.istio.io/grpc/lds/inbound/%s"
	}`))
	if err != nil {
		log.Fatal(err)
	}
	s := b.Servers[0]
	fmt.Println("control plane:", s.URI, "over", s.Credentials.Type)
	fmt.Println("node:", b.Node.ID, "in", b.Node.Locality.Zone, "namespace", b.Node.Metadata["NAMESPACE"])
	cp := b.CertificateProviders["default"]
	fmt.Println("certificates:", cp.CertificateFile, "every", cp.RefreshInterval)

	_, err = xds.ParseBootstrap([]byte(`{"xds_servers": [{"server_uri": "trafficdirector.googleapis.com:443", "channel_creds": [{"type": "google_default"}]}]}`))
	fmt.Println(err)
	// Output:
	// control plane: unix:///etc/istio/proxy/XDS over insecure
	// node: sidecar~10.1.2.3~reviews-v1-7f9d.default~default.svc.cluster.local in us-central1-a namespace default
	// certificates: /var/lib/istio/data/cert-chain.pem every 15m0s
	// xds: bootstrap: xds_servers[0].channel_creds[0].type: google_default credentials are not supported (use insecure or tls)
}
