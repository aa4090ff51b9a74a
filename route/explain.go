package route

import (
	"fmt"
	"strings"
)

// Explanation says how the mesh would route a request, without sending it.
type Explanation struct {
	// Host is the host the request is addressed to.
	Host string
	// Port is the port it is addressed to.
	Port uint32
	// VirtualHost names where its routes come from; empty for a host the
	// configuration does not know, which passes through.
	VirtualHost string
	// Routes are the routes tried, in order, up to the one that matched.
	Routes []RouteTrace
	// Action is "forward", "redirect", "direct response", "no route (404)",
	// "passthrough" or, for a request without a URL, "invalid request (no
	// URL)".
	Action string
	// Destinations are the matched route's weighted destinations.
	Destinations []DestinationTrace
	// Source, for a mesh whose configuration a control plane pushes,
	// names the control plane and says whether the configuration in force
	// is current ("xDS from istiod.istio-system.svc:15012: unreachable
	// since … ; the last configuration received stays in force"). Empty
	// for a configuration the caller gives.
	Source string
}

// RouteTrace is one route tried.
type RouteTrace struct {
	// Name is the route's name.
	Name string
	// Matched is true for the route that matched.
	Matched bool
	// Why lists, for each match block that did not match, the first
	// condition that failed.
	Why []string
}

// DestinationTrace is one weighted destination and its cluster now.
type DestinationTrace struct {
	// Host and Subset name the destination.
	Host, Subset string
	// Share is the destination's share of the route's traffic, 0-1.
	Share float64
	// Cluster is the cluster the request's port selects, "" if none.
	Cluster string
	// TLS is the cluster's TLS origination as its DestinationRule resolves:
	// the mode with the server name and subjectAltNames verified
	// ("ISTIO_MUTUAL sni=outbound_.9080_.v1_.reviews san=[spiffe://…]"),
	// or "" for plaintext.
	TLS string
	// Missing says why no cluster serves the destination when Istio
	// accepts it but nothing backs it (an unknown host, an undefined
	// subset): requests routed there get 503 with an empty body, Envoy's
	// cluster_not_found. "" otherwise.
	Missing string
	// Endpoints are the cluster's endpoints and their live state.
	Endpoints []EndpointTrace
	// Pick is the endpoint an attempt would pick now ("" if none). The
	// pick is a real one: it advances a round-robin cursor.
	Pick string
}

// EndpointTrace is one endpoint's live state.
type EndpointTrace struct {
	// Address is the endpoint's "host:port".
	Address string
	// Weight is its load-balancing weight (0 counts as 1).
	Weight uint32
	// Locality is its "region/zone/subzone".
	Locality string
	// Active is the requests in flight to it.
	Active int64
	// Available is false when outlier detection has ejected it (and no
	// panic mode brings it back).
	Available bool
}

// String renders the explanation for a person.
func (e Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", e.Host, e.Port)
	if e.VirtualHost == "" {
		b.WriteString(" is not in the configuration: passthrough\n")
		if e.Source != "" {
			fmt.Fprintf(&b, "  configuration: %s\n", e.Source)
		}
		return b.String()
	}
	fmt.Fprintf(&b, " → %s\n", e.VirtualHost)
	for _, r := range e.Routes {
		if r.Matched {
			fmt.Fprintf(&b, "  route %s: matched → %s\n", r.Name, e.Action)
		} else {
			fmt.Fprintf(&b, "  route %s: no match\n", r.Name)
		}
		for _, w := range r.Why {
			fmt.Fprintf(&b, "      %s\n", w)
		}
	}
	if len(e.Routes) == 0 || !e.Routes[len(e.Routes)-1].Matched {
		fmt.Fprintf(&b, "  → %s\n", e.Action)
	}
	for _, d := range e.Destinations {
		name := d.Host
		if d.Subset != "" {
			name += " subset " + d.Subset
		}
		tls := ""
		if d.TLS != "" {
			tls = ", tls " + d.TLS
		}
		fmt.Fprintf(&b, "  destination %s: %.1f%% of traffic, cluster %s%s, next pick %s\n", name, 100*d.Share, d.Cluster, tls, d.Pick)
		for _, ep := range d.Endpoints {
			state := "available"
			if !ep.Available {
				state = "ejected"
			}
			loc := ""
			if ep.Locality != "" {
				loc = " " + ep.Locality
			}
			fmt.Fprintf(&b, "    %s weight %d%s active %d %s\n", ep.Address, max(ep.Weight, 1), loc, ep.Active, state)
		}
	}
	if e.Source != "" {
		fmt.Fprintf(&b, "  configuration: %s\n", e.Source)
	}
	return b.String()
}
