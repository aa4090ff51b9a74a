// Package sidecar is the schema of Istio's Sidecar
// (networking.istio.io/v1) as it applies to an in-process mesh: which
// services the process sees (egress hosts) and what becomes of requests to
// hosts the mesh does not know (outboundTrafficPolicy).
package sidecar

// Sidecar is Istio's Sidecar.
type Sidecar struct {
	// Name is metadata.name.
	Name string `json:"-"`
	// Namespace is metadata.namespace. A Sidecar applies to the process
	// when it is in the process's namespace (WithSourceNamespace), or in
	// the root namespace istio-system as the mesh-wide default.
	Namespace string `json:"-"`
	// WorkloadSelector, when set, applies the Sidecar only if the
	// process's labels (WithSourceLabels) carry all of its labels. A
	// Sidecar with a selector is preferred to one without.
	WorkloadSelector *WorkloadSelector `json:"workloadSelector,omitempty"`
	// Egress limits the hosts the process sees. Only one listener, without
	// port, bind or captureMode, is supported.
	Egress []EgressListener `json:"egress,omitempty"`
	// OutboundTrafficPolicy says what becomes of requests to unknown
	// hosts.
	OutboundTrafficPolicy *OutboundTrafficPolicy `json:"outboundTrafficPolicy,omitempty"`
}

// WorkloadSelector is Istio's WorkloadSelector.
type WorkloadSelector struct {
	// Labels the process must carry, all of them.
	Labels map[string]string `json:"labels,omitempty"`
}

// EgressListener is Istio's IstioEgressListener, without a port: the
// hosts it lists are the ones the process sees.
type EgressListener struct {
	// Hosts are "namespace/host" entries: the namespace is a name, "." for
	// the Sidecar's own, "*" for any, or "~" for none; the host is a name,
	// a "*." wildcard or "*". A namespace after "~" ("~ns/host", "~*/host")
	// excludes the hosts the entry covers there, whatever other entries
	// import.
	Hosts []string `json:"hosts,omitempty"`
}

// OutboundTrafficPolicy is Istio's OutboundTrafficPolicy.
type OutboundTrafficPolicy struct {
	// Mode is ALLOW_ANY (requests to unknown hosts pass through, the
	// default) or REGISTRY_ONLY (they fail with 502, as Envoy's
	// BlackHoleCluster).
	Mode string `json:"mode,omitempty"`
}
