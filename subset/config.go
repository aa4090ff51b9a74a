package subset

import (
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/outlier"
	"github.com/switchyard-go/switchyard/pool"
	"github.com/switchyard-go/switchyard/retry"
)

// ServiceEntry is Istio's ServiceEntry: a service's hosts, ports and
// endpoints.
type ServiceEntry struct {
	// Name is metadata.name.
	Name string `json:"-"`
	// Namespace is metadata.namespace.
	Namespace string `json:"-"`
	// Hosts are the names the service is called by.
	Hosts []string `json:"hosts"`
	// Addresses are virtual IPs of the service; accepted, not used.
	Addresses []string `json:"addresses,omitempty"`
	// Ports are the service ports.
	Ports []Port `json:"ports,omitempty"`
	// Location is MESH_EXTERNAL or MESH_INTERNAL; it does not change
	// routing.
	Location string `json:"location,omitempty"`
	// Resolution is NONE, STATIC, DNS or DNS_ROUND_ROBIN.
	Resolution string `json:"resolution,omitempty"`
	// Endpoints are the service's workloads.
	Endpoints []WorkloadEntry `json:"endpoints,omitempty"`
	// ExportTo names the namespaces that see this resource (Istio's
	// exportTo: "*", ".", a namespace; "~" for none on ServiceEntries). With
	// WithSourceNamespace, a resource not exported to the caller's namespace
	// is ignored, with a warning; without it, every resource is seen.
	ExportTo []string `json:"exportTo,omitempty"`
	// SubjectAltNames are the identities the service's servers present:
	// a DestinationRule's tls verifies them when it names none of its own,
	// as Istio does.
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
}

// Port is Istio's ServicePort.
type Port struct {
	// Number is the service port.
	Number uint32 `json:"number"`
	// Protocol is HTTP, HTTP2, GRPC, HTTPS, TCP, …
	Protocol string `json:"protocol,omitempty"`
	// Name is referenced by WorkloadEntry.Ports.
	Name string `json:"name,omitempty"`
	// TargetPort is the endpoints' port when they name none; Number when
	// zero.
	TargetPort uint32 `json:"targetPort,omitempty"`
}

// WorkloadEntry is one endpoint of a ServiceEntry.
type WorkloadEntry struct {
	// Address is an IP address or, with DNS resolution, a host name.
	Address string `json:"address,omitempty"`
	// Ports maps service port names to this endpoint's ports.
	Ports map[string]uint32 `json:"ports,omitempty"`
	// Labels are selected on by DestinationRule subsets.
	Labels map[string]string `json:"labels,omitempty"`
	// Network is accepted and has no effect in-process.
	Network string `json:"network,omitempty"`
	// Locality is "region/zone/subzone".
	Locality string `json:"locality,omitempty"`
	// Weight is the endpoint's load-balancing weight; 1 when zero.
	Weight uint32 `json:"weight,omitempty"`
	// ServiceAccount is accepted and has no effect in-process.
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// DestinationRule is Istio's DestinationRule: traffic policy and subsets for
// a host.
type DestinationRule struct {
	// Name is metadata.name.
	Name string `json:"-"`
	// Namespace is metadata.namespace.
	Namespace string `json:"-"`
	// Host is the service the rule applies to.
	Host string `json:"host"`
	// TrafficPolicy applies to every subset and port unless overridden.
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
	// Subsets are named groups of endpoints selected by labels.
	Subsets []Subset `json:"subsets,omitempty"`
	// ExportTo names the namespaces that see this resource (Istio's
	// exportTo: "*", ".", a namespace; "~" for none on ServiceEntries). With
	// WithSourceNamespace, a resource not exported to the caller's namespace
	// is ignored, with a warning; without it, every resource is seen.
	ExportTo []string `json:"exportTo,omitempty"`
}

// Subset is Istio's Subset.
type Subset struct {
	// Name is referenced by a route's destination.subset.
	Name string `json:"name"`
	// Labels select the endpoints that carry all of them.
	Labels map[string]string `json:"labels,omitempty"`
	// TrafficPolicy overrides the rule's, component by component.
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
}

// TrafficPolicy is Istio's TrafficPolicy.
type TrafficPolicy struct {
	// LoadBalancer chooses the balancing algorithm.
	LoadBalancer *balancer.Settings `json:"loadBalancer,omitempty"`
	// ConnectionPool sets the cluster's limits.
	ConnectionPool *pool.Settings `json:"connectionPool,omitempty"`
	// OutlierDetection ejects failing endpoints.
	OutlierDetection *outlier.Config `json:"outlierDetection,omitempty"`
	// TLS is the upstream TLS mode.
	TLS *ClientTLS `json:"tls,omitempty"`
	// PortLevelSettings replace the policy wholesale for one port.
	PortLevelSettings []PortTrafficPolicy `json:"portLevelSettings,omitempty"`
	// RetryBudget limits retries to a share of active requests.
	RetryBudget *retry.Budget `json:"retryBudget,omitempty"`
}

// PortTrafficPolicy is Istio's TrafficPolicy.PortTrafficPolicy.
type PortTrafficPolicy struct {
	// Port the policy applies to.
	Port PortSelector `json:"port"`
	// LoadBalancer for this port.
	LoadBalancer *balancer.Settings `json:"loadBalancer,omitempty"`
	// ConnectionPool for this port.
	ConnectionPool *pool.Settings `json:"connectionPool,omitempty"`
	// OutlierDetection for this port.
	OutlierDetection *outlier.Config `json:"outlierDetection,omitempty"`
	// TLS for this port.
	TLS *ClientTLS `json:"tls,omitempty"`
}

// PortSelector is Istio's PortSelector.
type PortSelector struct {
	// Number is the port number.
	Number uint32 `json:"number,omitempty"`
}

// ClientTLS is Istio's ClientTLSSettings: the TLS the mesh originates to a
// cluster's endpoints. Files are read when the configuration is compiled
// (New, Update); ISTIO_MUTUAL uses the workload's certificates instead
// (switchyard.WithWorkloadCertificates).
type ClientTLS struct {
	// Mode is DISABLE, SIMPLE (verify the server), MUTUAL (and present a
	// client certificate) or ISTIO_MUTUAL (mesh mTLS with the workload's
	// certificates and SPIFFE identities).
	Mode string `json:"mode,omitempty"`
	// ClientCertificate is the file of the client's certificate chain
	// (MUTUAL).
	ClientCertificate string `json:"clientCertificate,omitempty"`
	// PrivateKey is the file of the client's private key (MUTUAL).
	PrivateKey string `json:"privateKey,omitempty"`
	// CACertificates is the file of the roots the server is verified
	// against; the system's roots when empty.
	CACertificates string `json:"caCertificates,omitempty"`
	// CredentialName names a Kubernetes secret, which an in-process mesh
	// cannot read: an error naming the file fields instead.
	CredentialName string `json:"credentialName,omitempty"`
	// SubjectAltNames are the identities the server may present, matched
	// exactly; for ISTIO_MUTUAL, and for SIMPLE and MUTUAL, the
	// ServiceEntry's subjectAltNames when empty.
	SubjectAltNames []string `json:"subjectAltNames,omitempty"`
	// SNI is the server name sent: for ISTIO_MUTUAL, Istio's
	// "outbound_.<port>_.<subset>_.<host>" when empty; otherwise the
	// request's host.
	SNI string `json:"sni,omitempty"`
	// InsecureSkipVerify turns off verification of the server (SIMPLE,
	// MUTUAL).
	InsecureSkipVerify *bool `json:"insecureSkipVerify,omitempty"`
	// CACrl is the file of revocation lists the server's chain is checked
	// against.
	CACrl string `json:"caCrl,omitempty"`
}
