package route

import (
	"time"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/retry"
)

// VirtualService is Istio's VirtualService: the routing rules for a set of
// hosts.
type VirtualService struct {
	// Name is metadata.name.
	Name string `json:"-"`
	// Namespace is metadata.namespace.
	Namespace string `json:"-"`
	// Hosts the rules apply to: names, "name:port", "*.suffix" wildcards.
	Hosts []string `json:"hosts,omitempty"`
	// Gateways the routes apply to: "mesh" for the process's own outbound
	// traffic (Transport, DialOptions, DialContext), "namespace/name" or
	// "name" (this VirtualService's namespace) for a Gateway served by
	// Mesh.Gateway, or for a Dialer acting as that gateway (TCP and TLS
	// routes). Without gateways, the routes apply to the mesh only.
	Gateways []string `json:"gateways,omitempty"`
	// HTTP routes, in order; the first that matches a request is used.
	HTTP []HTTPRoute `json:"http,omitempty"`
	// TLS routes, in order, for connections made with Mesh.DialContext
	// whose ClientHello names a server.
	TLS []TLSRoute `json:"tls,omitempty"`
	// TCP routes, in order, for connections made with Mesh.DialContext.
	TCP []TCPRoute `json:"tcp,omitempty"`
	// ExportTo names the namespaces that see this resource (Istio's
	// exportTo: "*", ".", a namespace; "~" for none on ServiceEntries). With
	// WithSourceNamespace, a resource not exported to the caller's namespace
	// is ignored, with a warning; without it, every resource is seen.
	ExportTo []string `json:"exportTo,omitempty"`
}

// HTTPRoute is Istio's HTTPRoute.
type HTTPRoute struct {
	// Name identifies the route in errors, traces and metrics.
	Name string `json:"name,omitempty"`
	// Match blocks are OR'ed; a route without any matches every request.
	Match []match.Request `json:"match,omitempty"`
	// Route lists the weighted destinations to forward to.
	Route []RouteDestination `json:"route,omitempty"`
	// Redirect answers with a redirect instead of forwarding.
	Redirect *Redirect `json:"redirect,omitempty"`
	// DirectResponse answers with a fixed response instead of forwarding.
	DirectResponse *DirectResponse `json:"directResponse,omitempty"`
	// Rewrite changes the path or authority before forwarding.
	Rewrite *Rewrite `json:"rewrite,omitempty"`
	// Timeout bounds the whole request, retries included; none when zero.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retries is the retry policy; Istio's default policy when nil.
	Retries *retry.Config `json:"retries,omitempty"`
	// Fault injects delays and aborts.
	Fault *fault.Config `json:"fault,omitempty"`
	// Mirror copies requests to a second destination.
	Mirror *Destination `json:"mirror,omitempty"`
	// Mirrors copies requests to several destinations.
	Mirrors []MirrorPolicy `json:"mirrors,omitempty"`
	// MirrorPercentage of requests mirrored to Mirror; 100 when nil.
	MirrorPercentage *fault.Percent `json:"mirrorPercentage,omitempty"`
	// MirrorPercent is the deprecated integer form of MirrorPercentage.
	MirrorPercent *uint32 `json:"mirrorPercent,omitempty"`
	// Headers manipulates request and response headers.
	Headers *Headers `json:"headers,omitempty"`
}

// RouteDestination is Istio's HTTPRouteDestination.
type RouteDestination struct {
	// Destination is where matching requests go.
	Destination Destination `json:"destination"`
	// Weight is the destination's relative share; with one destination it
	// is ignored, with several a weight of 0 is never chosen.
	Weight int32 `json:"weight,omitempty"`
	// Headers manipulates headers for requests sent to this destination.
	Headers *Headers `json:"headers,omitempty"`
}

// Destination is Istio's Destination.
type Destination struct {
	// Host is a ServiceEntry host.
	Host string `json:"host"`
	// Subset is a subset of the host's DestinationRule.
	Subset string `json:"subset,omitempty"`
	// Port selects the service port; needed when the service has several
	// and the request's port is not one of them.
	Port *PortSelector `json:"port,omitempty"`
}

// PortSelector is Istio's PortSelector.
type PortSelector struct {
	// Number is the port number.
	Number uint32 `json:"number,omitempty"`
}

// MirrorPolicy is Istio's HTTPMirrorPolicy.
type MirrorPolicy struct {
	// Destination receives the copies.
	Destination Destination `json:"destination"`
	// Percentage of requests mirrored; 100 when nil.
	Percentage *fault.Percent `json:"percentage,omitempty"`
}

// Headers is Istio's Headers.
type Headers struct {
	// Request operations apply to the request sent upstream.
	Request *HeaderOperations `json:"request,omitempty"`
	// Response operations apply to the response returned to the caller.
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations is Istio's HeaderOperations.
type HeaderOperations struct {
	// Set overwrites headers, adding them when absent.
	Set map[string]string `json:"set,omitempty"`
	// Add appends values to headers.
	Add map[string]string `json:"add,omitempty"`
	// Remove deletes headers.
	Remove []string `json:"remove,omitempty"`
}

// Rewrite is Istio's HTTPRewrite.
type Rewrite struct {
	// URI replaces the matched prefix, or the whole path after an exact or
	// regex match.
	URI string `json:"uri,omitempty"`
	// Authority replaces the Host header.
	Authority string `json:"authority,omitempty"`
	// URIRegexRewrite replaces every match of a regex in the path.
	URIRegexRewrite *RegexRewrite `json:"uriRegexRewrite,omitempty"`
}

// RegexRewrite is Istio's RegexRewrite.
type RegexRewrite struct {
	// Match is an RE2 expression.
	Match string `json:"match"`
	// Rewrite replaces each match; \1, \2 name capture groups.
	Rewrite string `json:"rewrite"`
}

// Redirect is Istio's HTTPRedirect.
type Redirect struct {
	// URI replaces the whole path.
	URI string `json:"uri,omitempty"`
	// Authority replaces the host.
	Authority string `json:"authority,omitempty"`
	// Port replaces the port.
	Port uint32 `json:"port,omitempty"`
	// DerivePort is FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT.
	DerivePort string `json:"derivePort,omitempty"`
	// Scheme replaces the scheme: "http" or "https".
	Scheme string `json:"scheme,omitempty"`
	// RedirectCode is the status; 301 when zero.
	RedirectCode uint32 `json:"redirectCode,omitempty"`
	// PrefixRewrite replaces the matched prefix.
	PrefixRewrite string `json:"prefixRewrite,omitempty"`
}

// DirectResponse is Istio's HTTPDirectResponse.
type DirectResponse struct {
	// Status of the response, 200–599.
	Status uint32 `json:"status"`
	// Body of the response.
	Body *Body `json:"body,omitempty"`
}

// Body is Istio's HTTPBody: a string or bytes (base64 in YAML).
type Body struct {
	// String is a text body.
	String *string `json:"string,omitempty"`
	// Bytes is a binary body.
	Bytes []byte `json:"bytes,omitempty"`
}
