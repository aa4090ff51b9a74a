package match

// StringMatch is Istio's StringMatch: at most one of Exact, Prefix and Regex
// is set. With none set it matches any value that is present (Istio's `{}`).
type StringMatch struct {
	// Exact matches a value equal to this one, case-sensitively.
	Exact *string `json:"exact,omitempty"`
	// Prefix matches a value that starts with this one, case-sensitively.
	// An empty prefix is allowed only for uri.
	Prefix *string `json:"prefix,omitempty"`
	// Regex matches a value that this RE2 expression matches in full.
	Regex *string `json:"regex,omitempty"`
}

// Exact returns a StringMatch for values equal to s.
func Exact(s string) *StringMatch { return &StringMatch{Exact: &s} }

// Prefix returns a StringMatch for values that start with s.
func Prefix(s string) *StringMatch { return &StringMatch{Prefix: &s} }

// Regex returns a StringMatch for values that the RE2 expression re matches
// in full.
func Regex(re string) *StringMatch { return &StringMatch{Regex: &re} }

// Present returns a StringMatch that matches any value of a header or query
// parameter that is present, including an empty one.
func Present() *StringMatch { return &StringMatch{} }

// Request is Istio's HTTPMatchRequest: conditions that must all hold for a
// request to match. A zero Request matches every request.
type Request struct {
	// Name is appended to the route's name in traces and errors.
	Name string `json:"name,omitempty"`
	// URI matches the path without its query string.
	URI *StringMatch `json:"uri,omitempty"`
	// Scheme matches the URL scheme ("http", "https").
	Scheme *StringMatch `json:"scheme,omitempty"`
	// Method matches the HTTP method.
	Method *StringMatch `json:"method,omitempty"`
	// Authority matches the Host header (HTTP/2 :authority).
	Authority *StringMatch `json:"authority,omitempty"`
	// Headers must all match. Keys are lower-case header names; an empty
	// StringMatch tests presence. The keys uri, scheme, method and authority
	// are ignored, as in Istio.
	Headers map[string]*StringMatch `json:"headers,omitempty"`
	// Port, if non-zero, restricts the match to requests sent to this port.
	Port uint32 `json:"port,omitempty"`
	// SourceLabels restricts the match to callers whose labels include all
	// of these (see [Source]).
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// Gateways restricts the match to these gateways: "mesh" for the
	// caller's own outbound traffic, "namespace/name" or "name" (the
	// VirtualService's namespace) for a Gateway. When set, it replaces the
	// VirtualService's gateways for this block.
	Gateways []string `json:"gateways,omitempty"`
	// QueryParams must all match the first value of the named query
	// parameter. An empty StringMatch tests presence; `exact: ""` matches
	// "?key" and "?key=" only.
	QueryParams map[string]*StringMatch `json:"queryParams,omitempty"`
	// IgnoreURICase makes exact and prefix URI matches case-insensitive.
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`
	// WithoutHeaders must all fail to match. An absent header counts as the
	// empty value; an empty StringMatch here means "header absent".
	WithoutHeaders map[string]*StringMatch `json:"withoutHeaders,omitempty"`
	// SourceNamespace restricts the match to callers in this namespace (see
	// [Source]).
	SourceNamespace string `json:"sourceNamespace,omitempty"`
	// StatPrefix is accepted for compatibility; it names Envoy statistics
	// and has no effect here.
	StatPrefix string `json:"statPrefix,omitempty"`
}

// Source describes the calling workload, against which the sourceLabels and
// sourceNamespace selectors are evaluated.
type Source struct {
	// Labels are the caller's own workload labels.
	Labels map[string]string
	// Namespace is the caller's namespace.
	Namespace string
	// Gateway is the gateway the routes serve: "" or "mesh" for the
	// caller's own outbound traffic, "namespace/name" for a Gateway.
	// A block with gateways applies only if they list it.
	Gateway string
}
