package route

// TCPRoute is Istio's TCPRoute: where opaque TCP connections that match go.
// The mesh applies it to connections made with Mesh.DialContext.
type TCPRoute struct {
	// Match blocks are OR'ed; a route without any matches every connection.
	Match []L4Match `json:"match,omitempty"`
	// Route lists the weighted destinations a matching connection goes to.
	Route []L4RouteDestination `json:"route,omitempty"`
}

// TLSRoute is Istio's TLSRoute: where unterminated TLS connections go, by
// the server name (SNI) of the ClientHello the caller writes.
type TLSRoute struct {
	// Match blocks are OR'ed; at least one is required.
	Match []TLSMatch `json:"match,omitempty"`
	// Route lists the weighted destinations a matching connection goes to.
	Route []L4RouteDestination `json:"route,omitempty"`
}

// L4Match is Istio's L4MatchAttributes; its fields are AND'ed.
type L4Match struct {
	// DestinationSubnets are IP addresses or CIDR blocks the dialled
	// address must fall in; a dialled host name falls in none.
	DestinationSubnets []string `json:"destinationSubnets,omitempty"`
	// Port is the dialled port; any when zero.
	Port uint32 `json:"port,omitempty"`
	// SourceLabels must all be among the calling workload's labels
	// (WithSourceLabels).
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// SourceNamespace must be the calling workload's namespace
	// (WithSourceNamespace).
	SourceNamespace string `json:"sourceNamespace,omitempty"`
	// Gateways replaces the VirtualService's gateways for this match.
	Gateways []string `json:"gateways,omitempty"`
}

// TLSMatch is Istio's TLSMatchAttributes; its fields are AND'ed.
type TLSMatch struct {
	// SNIHosts are the server names to match, "*." wildcards allowed; at
	// least one is required, and each must fall within the
	// VirtualService's hosts.
	SNIHosts []string `json:"sniHosts,omitempty"`
	// DestinationSubnets are IP addresses or CIDR blocks the dialled
	// address must fall in; a dialled host name falls in none.
	DestinationSubnets []string `json:"destinationSubnets,omitempty"`
	// Port is the dialled port; any when zero.
	Port uint32 `json:"port,omitempty"`
	// SourceLabels must all be among the calling workload's labels.
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// SourceNamespace must be the calling workload's namespace.
	SourceNamespace string `json:"sourceNamespace,omitempty"`
	// Gateways replaces the VirtualService's gateways for this match.
	Gateways []string `json:"gateways,omitempty"`
}

// L4RouteDestination is Istio's RouteDestination, the weighted destination
// of a TCP or TLS route.
type L4RouteDestination struct {
	// Destination is where matching connections go.
	Destination Destination `json:"destination"`
	// Weight is the destination's relative share; with one destination it
	// is ignored, with several a weight of 0 is never chosen.
	Weight int32 `json:"weight,omitempty"`
}
