// Package gateway is the schema of Istio's Gateway
// (networking.istio.io/v1): the servers an ingress listens with, their
// ports, hosts and TLS termination. [switchyard.Mesh.Gateway] serves one
// port of a Gateway as an http.Server that routes with the VirtualServices
// bound to it.
package gateway

// Gateway is Istio's Gateway: a load balancer at the edge of the mesh.
type Gateway struct {
	// Name is metadata.name.
	Name string `json:"-"`
	// Namespace is metadata.namespace.
	Namespace string `json:"-"`
	// Selector picks, in Kubernetes, the gateway workloads that apply the
	// configuration. In-process the caller picks the Gateway by name, so
	// the selector is validated and otherwise plays no part.
	Selector map[string]string `json:"selector,omitempty"`
	// Servers are the ports and hosts the gateway exposes; at least one.
	Servers []Server `json:"servers,omitempty"`
}

// Server is Istio's Server: one port, the hosts exposed on it and their
// TLS settings.
type Server struct {
	// Port is the port to listen with: number, protocol (HTTP, HTTPS,
	// HTTP2 or GRPC) and name.
	Port *Port `json:"port,omitempty"`
	// Hosts exposed by the server, each "host" or "namespace/host": the
	// namespace part limits which namespaces' VirtualServices may bind to
	// the host ("*" any, "." the Gateway's own).
	Hosts []string `json:"hosts,omitempty"`
	// TLS terminates TLS on the port, or redirects plain HTTP to HTTPS.
	TLS *ServerTLSSettings `json:"tls,omitempty"`
	// Name names the server; unique within the Gateway when set.
	Name string `json:"name,omitempty"`
}

// Port is Istio's gateway Port.
type Port struct {
	// Number is the port number (1-65535).
	Number uint32 `json:"number,omitempty"`
	// Protocol is HTTP, HTTPS, HTTP2 or GRPC; TCP, TLS, MONGO and the
	// other TCP protocols are not served by the HTTP handler.
	Protocol string `json:"protocol,omitempty"`
	// Name names the port; required, and unique per number.
	Name string `json:"name,omitempty"`
}

// ServerTLSSettings is Istio's ServerTLSSettings, for termination with
// certificates from files.
type ServerTLSSettings struct {
	// HTTPSRedirect answers every plain HTTP request with a 301 to https.
	HTTPSRedirect bool `json:"httpsRedirect,omitempty"`
	// Mode is SIMPLE (server certificate) or MUTUAL (client certificates
	// verified against CACertificates).
	Mode string `json:"mode,omitempty"`
	// ServerCertificate is the path of the PEM certificate chain.
	ServerCertificate string `json:"serverCertificate,omitempty"`
	// PrivateKey is the path of the PEM private key.
	PrivateKey string `json:"privateKey,omitempty"`
	// CACertificates is the path of the PEM bundle that client
	// certificates are verified against (MUTUAL).
	CACertificates string `json:"caCertificates,omitempty"`
	// CredentialName names a Kubernetes secret, which an in-process
	// gateway cannot read: set ServerCertificate, PrivateKey and
	// CACertificates instead.
	CredentialName string `json:"credentialName,omitempty"`
	// SubjectAltNames, with MUTUAL, are the names one of which a client
	// certificate must carry (DNS, URI, email or IP SANs).
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// MinProtocolVersion is TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3.
	MinProtocolVersion string `json:"minProtocolVersion,omitempty"`
	// MaxProtocolVersion is TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3.
	MaxProtocolVersion string `json:"maxProtocolVersion,omitempty"`
}
