package xds

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/retry"
	"github.com/switchyard-go/switchyard/route"
)

// Names of the HTTP filters and extensions the translation knows.
const (
	faultFilterName  = "envoy.filters.http.fault"
	routerFilterName = "envoy.filters.http.router"
	hcmFilterName    = "envoy.filters.network.http_connection_manager"

	previousHostsPredicate   = "envoy.retry_host_predicates.previous_hosts"
	previousPrioritiesPolicy = "envoy.retry_priorities.previous_priorities"
)

// ignoredHTTPFilters are HTTP filters of Istio's sidecar listeners that act on
// what a proxy does for the workload, not on how the workload's calls are
// routed, and can be left out safely.
var ignoredHTTPFilters = map[string]string{
	"istio.metadata_exchange":       "peer metadata for telemetry",
	"envoy.filters.http.grpc_stats": "statistics",
	"istio.alpn":                    "ALPN override for Istio's mTLS",
	"envoy.filters.http.cors":       "CORS is enforced by browsers on responses; a client has nothing to enforce",
	"istio.stats":                   "statistics",
	"envoy.filters.http.grpc_web":   "gRPC-Web translation of inbound browser calls",
}

// listenerIR is what a Listener contributes: the route configuration its HTTP
// connection manager uses, and its port.
type listenerIR struct {
	rdsName   string   // RouteConfiguration by RDS, or
	inline    *routeIR // inline
	port      uint32
	faultOn   bool // the fault filter is in the chain
	ignoredOK bool // no HTTP connection manager: nothing to route
}

// routeIR is a translated RouteConfiguration.
type routeIR struct {
	vhosts []vhostIR
}

// vhostIR is a translated virtual host.
type vhostIR struct {
	domains []string
	// The VirtualService it comes from, for Explain: from Istio's
	// metadata, else the virtual host's name.
	vsName, vsNS string
	// The routes, their destinations resolved from the clusters they
	// name (so that the assembly can share them), and beside each what
	// the assembly needs of it.
	routes []route.HTTPRoute
	extra  []routeExtra
}

// routeExtra is what the assembly needs of a route besides the route.
type routeExtra struct {
	clusters []string                            // those its destinations name, then those its mirrors name
	hash     map[string]*balancer.ConsistentHash // per destination cluster
}

// routeEntry is one Envoy route as a VirtualService HTTP route, as
// translateRoute reads it: destination hosts hold cluster names
// (translateVirtualHost resolves them).
type routeEntry struct {
	r    route.HTTPRoute
	hash map[string]*balancer.ConsistentHash // per destination cluster
}

// translateListener reads a Listener.
func translateListener(l *listenerv3.Listener) (*listenerIR, error) {
	p := "Listener " + strconv.Quote(l.GetName())
	ir := &listenerIR{port: l.GetAddress().GetSocketAddress().GetPortValue()}
	if l.GetTrafficDirection() == corev3.TrafficDirection_INBOUND || l.GetUseOriginalDst().GetValue() {
		// A sidecar's inbound listener, and the iptables capture listener
		// (Istio's virtualInbound and virtualOutbound): nothing the
		// workload's own calls use.
		ir.ignoredOK = true
		return ir, nil
	}
	if err := checkFields(l, p, listenerFields); err != nil {
		return nil, err
	}
	if ir.port == 0 {
		// A proxyless listener is named host:port.
		if i := strings.LastIndexByte(l.GetName(), ':'); i >= 0 {
			if n, err := strconv.ParseUint(l.GetName()[i+1:], 10, 16); err == nil {
				ir.port = uint32(n)
			}
		}
	}
	var hcm *hcmv3.HttpConnectionManager
	var where string
	if al := l.GetApiListener(); al != nil {
		hcm = new(hcmv3.HttpConnectionManager)
		if err := al.GetApiListener().UnmarshalTo(hcm); err != nil {
			return nil, fmt.Errorf("%s: api_listener.api_listener: want an HttpConnectionManager: %v", p, err)
		}
		where = p + ": api_listener.api_listener"
	} else {
		for i, fc := range l.GetFilterChains() {
			fp := fmt.Sprintf("%s: filter_chains[%d]", p, i)
			if err := checkFields(fc, fp, filterChainFields); err != nil {
				return nil, err
			}
			for j, f := range fc.GetFilters() {
				if f.GetName() != hcmFilterName && f.GetTypedConfig().GetTypeUrl() != "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager" {
					continue
				}
				if hcm != nil {
					return nil, fmt.Errorf("%s: more than one HTTP connection manager (filter chains by destination are not supported)", p)
				}
				hcm = new(hcmv3.HttpConnectionManager)
				if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
					return nil, fmt.Errorf("%s.filters[%d].typed_config: %v", fp, j, err)
				}
				where = fmt.Sprintf("%s.filters[%d]", fp, j)
			}
		}
	}
	if hcm == nil {
		// TCP proxies, Istio's virtualInbound/virtualOutbound: nothing the
		// mesh routes.
		ir.ignoredOK = true
		return ir, nil
	}
	if err := checkFields(hcm, where, hcmFields); err != nil {
		return nil, err
	}
	for i, f := range hcm.GetHttpFilters() {
		fp := fmt.Sprintf("%s.http_filters[%d] (%s)", where, i, f.GetName())
		if err := checkFields(f, fp, httpFilterFields); err != nil {
			return nil, err
		}
		switch {
		case f.GetDisabled():
		case f.GetName() == faultFilterName:
			if tc := f.GetTypedConfig(); tc != nil && len(tc.GetValue()) > 0 {
				// A listener-wide fault applies to every route; Istio
				// never sends one.
				return nil, fmt.Errorf("%s.typed_config: a listener-wide fault is not supported (put it in the route's typed_per_filter_config)", fp)
			}
			ir.faultOn = true
		case f.GetName() == routerFilterName:
		case ignoredHTTPFilters[f.GetName()] != "":
		case f.GetIsOptional():
		default:
			return nil, fmt.Errorf("%s: HTTP filter %q is not supported", fp, f.GetName())
		}
	}
	switch {
	case hcm.GetRds() != nil:
		ir.rdsName = hcm.GetRds().GetRouteConfigName()
		if cs := hcm.GetRds().GetConfigSource(); cs != nil && cs.GetAds() == nil && cs.GetSelf() == nil {
			return nil, fmt.Errorf("%s.rds.config_source: only ads and self are supported", where)
		}
	case hcm.GetRouteConfig() != nil:
		rc, err := translateRouteConfig(hcm.GetRouteConfig())
		if err != nil {
			return nil, fmt.Errorf("%s.route_config: %w", where, err)
		}
		ir.inline = rc
	default:
		return nil, fmt.Errorf("%s: scoped_routes is not supported", where)
	}
	return ir, nil
}

// translateRouteConfig reads a RouteConfiguration.
func translateRouteConfig(rc *routev3.RouteConfiguration) (*routeIR, error) {
	p := "RouteConfiguration " + strconv.Quote(rc.GetName())
	if err := checkFields(rc, p, routeConfigFields); err != nil {
		return nil, err
	}
	ir := &routeIR{vhosts: make([]vhostIR, 0, len(rc.GetVirtualHosts()))}
	port := routePort(rc.GetName())
	for i, vh := range rc.GetVirtualHosts() {
		vp := fmt.Sprintf("%s: virtual_hosts[%d] (%s)", p, i, vh.GetName())
		v, err := translateVirtualHost(vh, vp)
		if err != nil {
			return nil, err
		}
		for _, r := range v.routes {
			for j := range r.Match {
				r.Match[j].Port = port
			}
		}
		ir.vhosts = append(ir.vhosts, v)
	}
	return ir, nil
}

// routePort is the port of the listener a RouteConfiguration's name says
// it serves: istiod names a sidecar's by the port ("9080") and a
// proxyless client's by its cluster ("outbound|9080||reviews.default.svc.cluster.local");
// 0 when the name says none. The routes' matches carry it so that the
// assembly shares them when the listener's port is the same (it binds
// them to the listener's port in any case).
func routePort(name string) uint32 {
	if n, err := strconv.ParseUint(name, 10, 16); err == nil {
		return uint32(n)
	}
	return keyOf(name).port
}

func translateVirtualHost(vh *routev3.VirtualHost, p string) (vhostIR, error) {
	if err := checkFields(vh, p, virtualHostFields); err != nil {
		return vhostIR{}, err
	}
	v := vhostIR{domains: vh.GetDomains(),
		routes: make([]route.HTTPRoute, 0, len(vh.GetRoutes())), extra: make([]routeExtra, 0, len(vh.GetRoutes()))}
	vhFault, err := faultOf(vh.GetTypedPerFilterConfig(), p+".typed_per_filter_config")
	if err != nil {
		return vhostIR{}, err
	}
	for i, r := range vh.GetRoutes() {
		rp := fmt.Sprintf("%s.routes[%d]", p, i)
		if r.GetName() != "" {
			rp += " (" + r.GetName() + ")"
		}
		e, err := translateRoute(r, rp, vh.GetRetryPolicy(), vhFault)
		if err != nil {
			return vhostIR{}, err
		}
		if v.vsName == "" {
			v.vsNS, v.vsName = istioConfigName(r.GetMetadata(), "virtual-service")
		}
		x := routeExtra{hash: e.hash, clusters: make([]string, 0, len(e.r.Route)+len(e.r.Mirrors))}
		for i := range e.r.Route {
			x.clusters = append(x.clusters, e.r.Route[i].Destination.Host)
			e.r.Route[i].Destination = destinationOf(e.r.Route[i].Destination.Host)
		}
		for i := range e.r.Mirrors {
			x.clusters = append(x.clusters, e.r.Mirrors[i].Destination.Host)
			e.r.Mirrors[i].Destination = destinationOf(e.r.Mirrors[i].Destination.Host)
		}
		v.routes = append(v.routes, e.r)
		v.extra = append(v.extra, x)
	}
	if v.vsName == "" {
		v.vsNS, v.vsName = "", vh.GetName()
	}
	return v, nil
}

// istioConfigName reads Istio's origin metadata
// ("/apis/networking.istio.io/v1/namespaces/<ns>/<kind>/<name>").
func istioConfigName(md *corev3.Metadata, kind string) (ns, name string) {
	s := md.GetFilterMetadata()["istio"].GetFields()["config"].GetStringValue()
	parts := strings.Split(s, "/")
	if len(parts) == 8 && parts[4] == "namespaces" && parts[6] == kind {
		return parts[5], parts[7]
	}
	return "", ""
}

func translateRoute(r *routev3.Route, p string, vhRetry *routev3.RetryPolicy, vhFault *fault.Config) (routeEntry, error) {
	if err := checkFields(r, p, routeFields); err != nil {
		return routeEntry{}, err
	}
	e := routeEntry{r: route.HTTPRoute{Name: r.GetName()}}
	m, err := translateMatch(r.GetMatch(), p+".match")
	if err != nil {
		return routeEntry{}, err
	}
	e.r.Match = []match.Request{m}
	hdrs, err := headerOps(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove(), r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove(), p)
	if err != nil {
		return routeEntry{}, err
	}
	e.r.Headers = hdrs
	e.r.Fault, err = faultOf(r.GetTypedPerFilterConfig(), p+".typed_per_filter_config")
	if err != nil {
		return routeEntry{}, err
	}
	if e.r.Fault == nil {
		e.r.Fault = vhFault
	}
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		if err := translateAction(a.Route, p+".route", &e, vhRetry); err != nil {
			return routeEntry{}, err
		}
	case *routev3.Route_Redirect:
		rd, err := translateRedirect(a.Redirect, p+".redirect")
		if err != nil {
			return routeEntry{}, err
		}
		e.r.Redirect = rd
	case *routev3.Route_DirectResponse:
		dr := a.DirectResponse
		dp := p + ".direct_response"
		if err := checkFields(dr, dp, directResponseFields); err != nil {
			return routeEntry{}, err
		}
		e.r.DirectResponse = &route.DirectResponse{Status: dr.GetStatus()}
		if b := dr.GetBody(); b != nil {
			switch s := b.GetSpecifier().(type) {
			case *corev3.DataSource_InlineString:
				str := s.InlineString
				e.r.DirectResponse.Body = &route.Body{String: &str}
			case *corev3.DataSource_InlineBytes:
				e.r.DirectResponse.Body = &route.Body{Bytes: s.InlineBytes}
			default:
				return routeEntry{}, fmt.Errorf("%s.body: only inline_string and inline_bytes are supported", dp)
			}
		}
	default:
		return routeEntry{}, fmt.Errorf("%s: the route has no route, redirect or direct_response action (%T is not supported)", p, a)
	}
	return e, nil
}

func translateMatch(rm *routev3.RouteMatch, p string) (match.Request, error) {
	var m match.Request
	if err := checkFields(rm, p, routeMatchFields); err != nil {
		return m, err
	}
	switch ps := rm.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		// A prefix of "/" matches everything: Istio's catch-all.
		if ps.Prefix != "/" || rm.GetCaseSensitive() != nil {
			m.URI = match.Prefix(ps.Prefix)
		}
	case *routev3.RouteMatch_Path:
		m.URI = match.Exact(ps.Path)
	case *routev3.RouteMatch_SafeRegex:
		re, err := regexOf(ps.SafeRegex, p+".safe_regex")
		if err != nil {
			return m, err
		}
		m.URI = match.Regex(re)
	default:
		return m, fmt.Errorf("%s: path specifier %T is not supported", p, ps)
	}
	if cs := rm.GetCaseSensitive(); cs != nil && !cs.GetValue() {
		m.IgnoreURICase = true
	}
	for i, h := range rm.GetHeaders() {
		hp := fmt.Sprintf("%s.headers[%d] (%s)", p, i, h.GetName())
		if err := checkFields(h, hp, headerMatcherFields); err != nil {
			return m, err
		}
		sm, err := headerStringMatch(h, hp)
		if err != nil {
			return m, err
		}
		name := strings.ToLower(h.GetName())
		if h.GetInvertMatch() {
			// Istio's withoutHeaders.
			if m.WithoutHeaders == nil {
				m.WithoutHeaders = map[string]*match.StringMatch{}
			}
			if _, dup := m.WithoutHeaders[name]; dup {
				return m, fmt.Errorf("%s: a second inverted matcher on one header is not supported", hp)
			}
			m.WithoutHeaders[name] = sm
			continue
		}
		if h.GetTreatMissingHeaderAsEmpty() {
			return m, fmt.Errorf("%s.treat_missing_header_as_empty: supported only with invert_match", hp)
		}
		switch name {
		case ":method":
			m.Method = sm
		case ":authority", "host":
			if m.Authority != nil {
				return m, fmt.Errorf("%s: a second authority matcher is not supported", hp)
			}
			m.Authority = sm
		case ":scheme":
			m.Scheme = sm
		case ":path":
			return m, fmt.Errorf("%s: match the path with prefix, path or safe_regex", hp)
		default:
			if m.Headers == nil {
				m.Headers = map[string]*match.StringMatch{}
			}
			if _, dup := m.Headers[name]; dup {
				return m, fmt.Errorf("%s: a second matcher on one header is not supported", hp)
			}
			m.Headers[name] = sm
		}
	}
	for i, q := range rm.GetQueryParameters() {
		qp := fmt.Sprintf("%s.query_parameters[%d] (%s)", p, i, q.GetName())
		if err := checkFields(q, qp, queryMatcherFields); err != nil {
			return m, err
		}
		var sm *match.StringMatch
		switch {
		case q.GetPresentMatch():
			sm = match.Present()
		case q.GetStringMatch() != nil:
			var err error
			if sm, err = stringMatch(q.GetStringMatch(), qp+".string_match"); err != nil {
				return m, err
			}
		default:
			return m, fmt.Errorf("%s: no string_match or present_match", qp)
		}
		if m.QueryParams == nil {
			m.QueryParams = map[string]*match.StringMatch{}
		}
		if _, dup := m.QueryParams[q.GetName()]; dup {
			return m, fmt.Errorf("%s: a second matcher on one query parameter is not supported", qp)
		}
		m.QueryParams[q.GetName()] = sm
	}
	return m, nil
}

func headerStringMatch(h *routev3.HeaderMatcher, p string) (*match.StringMatch, error) {
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		return stringMatch(s.StringMatch, p+".string_match")
	case *routev3.HeaderMatcher_ExactMatch:
		//lint:ignore SA1019 control planes still send the deprecated form
		return match.Exact(s.ExactMatch), nil
	case *routev3.HeaderMatcher_PrefixMatch:
		//lint:ignore SA1019 control planes still send the deprecated form
		return match.Prefix(s.PrefixMatch), nil
	case *routev3.HeaderMatcher_SafeRegexMatch:
		//lint:ignore SA1019 control planes still send the deprecated form
		re, err := regexOf(s.SafeRegexMatch, p+".safe_regex_match")
		if err != nil {
			return nil, err
		}
		return match.Regex(re), nil
	case *routev3.HeaderMatcher_PresentMatch:
		if !s.PresentMatch {
			return nil, fmt.Errorf("%s.present_match: false is not supported", p)
		}
		return match.Present(), nil
	case nil:
		return match.Present(), nil
	default:
		return nil, fmt.Errorf("%s: %T is not supported", p, s)
	}
}

func stringMatch(s *matcherv3.StringMatcher, p string) (*match.StringMatch, error) {
	if s.GetIgnoreCase() {
		return nil, fmt.Errorf("%s.ignore_case: not supported by switchyard", p)
	}
	if err := checkFields(s, p, stringMatcherFields); err != nil {
		return nil, err
	}
	switch m := s.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return match.Exact(m.Exact), nil
	case *matcherv3.StringMatcher_Prefix:
		return match.Prefix(m.Prefix), nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := regexOf(m.SafeRegex, p+".safe_regex")
		if err != nil {
			return nil, err
		}
		return match.Regex(re), nil
	default:
		return nil, fmt.Errorf("%s: %T is not supported", p, m)
	}
}

func regexOf(r *matcherv3.RegexMatcher, p string) (string, error) {
	if err := checkFields(r, p, regexMatcherFields); err != nil {
		return "", err
	}
	return r.GetRegex(), nil
}

// headerOps turns Envoy's header additions and removals into Istio's
// set/add/remove.
func headerOps(reqAdd []*corev3.HeaderValueOption, reqRm []string, respAdd []*corev3.HeaderValueOption, respRm []string, p string) (*route.Headers, error) {
	req, err := headerOpsOne(reqAdd, reqRm, p+".request_headers_to_add")
	if err != nil {
		return nil, err
	}
	resp, err := headerOpsOne(respAdd, respRm, p+".response_headers_to_add")
	if err != nil {
		return nil, err
	}
	if req == nil && resp == nil {
		return nil, nil
	}
	return &route.Headers{Request: req, Response: resp}, nil
}

func headerOpsOne(add []*corev3.HeaderValueOption, rm []string, p string) (*route.HeaderOperations, error) {
	if len(add) == 0 && len(rm) == 0 {
		return nil, nil
	}
	ops := &route.HeaderOperations{Remove: append([]string(nil), rm...)}
	for i, h := range add {
		hp := fmt.Sprintf("%s[%d]", p, i)
		if err := checkFields(h, hp, headerValueOptionFields); err != nil {
			return nil, err
		}
		k, v := h.GetHeader().GetKey(), h.GetHeader().GetValue()
		if len(h.GetHeader().GetRawValue()) > 0 {
			v = string(h.GetHeader().GetRawValue())
		}
		set := false
		//lint:ignore SA1019 control planes still send the deprecated form
		appendOld := h.GetAppend()
		switch {
		case appendOld != nil:
			set = !appendOld.GetValue()
		case h.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			set = true
		case h.GetAppendAction() == corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		default:
			return nil, fmt.Errorf("%s.append_action: %s is not supported", hp, h.GetAppendAction())
		}
		if set {
			if ops.Set == nil {
				ops.Set = map[string]string{}
			}
			ops.Set[k] = v
			continue
		}
		if ops.Add == nil {
			ops.Add = map[string]string{}
		}
		if _, dup := ops.Add[k]; dup {
			return nil, fmt.Errorf("%s: a second value appended to %q is not supported", hp, k)
		}
		ops.Add[k] = v
	}
	return ops, nil
}

// faultOf reads the fault filter's per-route configuration.
func faultOf(cfgs map[string]*anypb.Any, p string) (*fault.Config, error) {
	var out *fault.Config
	for name, a := range cfgs {
		if name != faultFilterName {
			if ignoredHTTPFilters[name] != "" {
				continue
			}
			return nil, fmt.Errorf("%s[%q]: configuration of that filter is not supported", p, name)
		}
		fp := fmt.Sprintf("%s[%q]", p, name)
		hf := new(faultv3.HTTPFault)
		if err := a.UnmarshalTo(hf); err != nil {
			return nil, fmt.Errorf("%s: want an HTTPFault: %v", fp, err)
		}
		if err := checkFields(hf, fp, httpFaultFields); err != nil {
			return nil, err
		}
		out = &fault.Config{}
		if d := hf.GetDelay(); d != nil {
			dp := fp + ".delay"
			if err := checkFields(d, dp, faultDelayFields); err != nil {
				return nil, err
			}
			fd, ok := d.GetFaultDelaySecifier().(*faultcommonv3.FaultDelay_FixedDelay)
			if !ok {
				return nil, fmt.Errorf("%s: only fixed_delay is supported", dp)
			}
			out.Delay = &fault.Delay{FixedDelay: fd.FixedDelay.AsDuration(), Percentage: percentOf(d.GetPercentage())}
		}
		if a := hf.GetAbort(); a != nil {
			ap := fp + ".abort"
			if err := checkFields(a, ap, faultAbortFields); err != nil {
				return nil, err
			}
			out.Abort = &fault.Abort{Percentage: percentOf(a.GetPercentage())}
			switch s := a.GetErrorType().(type) {
			case *faultv3.FaultAbort_HttpStatus:
				out.Abort.HTTPStatus = int32(s.HttpStatus)
			case *faultv3.FaultAbort_GrpcStatus:
				if s.GrpcStatus > 16 {
					return nil, fmt.Errorf("%s.grpc_status: %d is not a gRPC status code", ap, s.GrpcStatus)
				}
				out.Abort.GRPCStatus = grpcCodeName(codes.Code(s.GrpcStatus))
			default:
				return nil, fmt.Errorf("%s: only http_status and grpc_status are supported", ap)
			}
		}
	}
	return out, nil
}

// grpcCodeName is the status code's name as Istio writes it (UNAVAILABLE).
func grpcCodeName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED"
	}
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// percentOf converts a fractional percentage; absent is 0 % (Envoy's and
// gRPC's reading, which DESIGN.md pins).
func percentOf(f *typev3.FractionalPercent) *fault.Percent {
	if f == nil {
		return &fault.Percent{Value: 0}
	}
	den := 100.0
	switch f.GetDenominator() {
	case typev3.FractionalPercent_TEN_THOUSAND:
		den = 10000
	case typev3.FractionalPercent_MILLION:
		den = 1000000
	}
	v := float64(f.GetNumerator()) * 100 / den
	return &fault.Percent{Value: math.Min(v, 100)}
}

func translateAction(a *routev3.RouteAction, p string, e *routeEntry, vhRetry *routev3.RetryPolicy) error {
	if err := checkFields(a, p, routeActionFields); err != nil {
		return err
	}
	if a.GetAutoHostRewrite().GetValue() {
		return fmt.Errorf("%s.auto_host_rewrite: not supported by switchyard", p)
	}
	if a.GetPriority() != corev3.RoutingPriority_DEFAULT {
		return fmt.Errorf("%s.priority: only DEFAULT is supported", p)
	}
	if a.GetClusterNotFoundResponseCode() != routev3.RouteAction_SERVICE_UNAVAILABLE {
		return fmt.Errorf("%s.cluster_not_found_response_code: only SERVICE_UNAVAILABLE (503) is supported", p)
	}
	r := &e.r
	switch cs := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		r.Route = []route.RouteDestination{{Destination: route.Destination{Host: cs.Cluster}}}
	case *routev3.RouteAction_WeightedClusters:
		wp := p + ".weighted_clusters"
		if err := checkFields(cs.WeightedClusters, wp, weightedClusterFields); err != nil {
			return err
		}
		for i, c := range cs.WeightedClusters.GetClusters() {
			cp := fmt.Sprintf("%s.clusters[%d] (%s)", wp, i, c.GetName())
			if err := checkFields(c, cp, clusterWeightFields); err != nil {
				return err
			}
			if c.GetMetadataMatch() != nil {
				return fmt.Errorf("%s.metadata_match: not supported by switchyard", cp)
			}
			w := c.GetWeight().GetValue()
			if w > math.MaxInt32 {
				return fmt.Errorf("%s.weight: %d is too large", cp, w)
			}
			h, err := headerOps(c.GetRequestHeadersToAdd(), c.GetRequestHeadersToRemove(), c.GetResponseHeadersToAdd(), c.GetResponseHeadersToRemove(), cp)
			if err != nil {
				return err
			}
			if lit := c.GetHostRewriteLiteral(); lit != "" {
				// Istio writes a destination's host header this way.
				if h == nil {
					h = &route.Headers{}
				}
				if h.Request == nil {
					h.Request = &route.HeaderOperations{}
				}
				if h.Request.Set == nil {
					h.Request.Set = map[string]string{}
				}
				h.Request.Set["host"] = lit
			}
			r.Route = append(r.Route, route.RouteDestination{Destination: route.Destination{Host: c.GetName()}, Weight: int32(w), Headers: h})
		}
		if len(r.Route) == 0 {
			return fmt.Errorf("%s.clusters: empty", wp)
		}
	default:
		return fmt.Errorf("%s: cluster specifier %T is not supported (use cluster or weighted_clusters)", p, cs)
	}

	// Envoy's route timeout is 15 s unless set; 0 disables it. gRPC reads
	// max_stream_duration; Istio sets both equal.
	switch {
	case a.GetTimeout() != nil:
		r.Timeout = a.GetTimeout().AsDuration()
	case a.GetMaxStreamDuration().GetMaxStreamDuration() != nil:
		r.Timeout = a.GetMaxStreamDuration().GetMaxStreamDuration().AsDuration()
	default:
		r.Timeout = 15 * time.Second
	}
	if msd := a.GetMaxStreamDuration(); msd != nil {
		mp := p + ".max_stream_duration"
		if err := checkFields(msd, mp, maxStreamDurationFields); err != nil {
			return err
		}
		if d := msd.GetMaxStreamDuration(); d != nil && a.GetTimeout() != nil && d.AsDuration() != r.Timeout {
			return fmt.Errorf("%s.max_stream_duration: %v differs from timeout %v (one route timeout is supported)", mp, d.AsDuration(), r.Timeout)
		}
		if msd.GetGrpcTimeoutHeaderMax() != nil || msd.GetGrpcTimeoutHeaderOffset() != nil {
			return fmt.Errorf("%s: grpc_timeout_header_max/offset are not supported", mp)
		}
	}
	//lint:ignore SA1019 control planes still send the deprecated form
	if d := a.GetMaxGrpcTimeout(); d != nil && d.AsDuration() != r.Timeout {
		return fmt.Errorf("%s.max_grpc_timeout: %v differs from timeout %v (one route timeout is supported)", p, d.AsDuration(), r.Timeout)
	}

	rp := a.GetRetryPolicy()
	if rp == nil {
		rp = vhRetry
	}
	rc, err := retryOf(rp, p+".retry_policy")
	if err != nil {
		return err
	}
	r.Retries = sharedRetry(rc)

	for i, m := range a.GetRequestMirrorPolicies() {
		mp := fmt.Sprintf("%s.request_mirror_policies[%d]", p, i)
		if err := checkFields(m, mp, mirrorFields); err != nil {
			return err
		}
		if m.GetCluster() == "" {
			return fmt.Errorf("%s: only cluster is supported", mp)
		}
		pct := &fault.Percent{Value: 100}
		if rf := m.GetRuntimeFraction(); rf != nil {
			pct = percentOf(rf.GetDefaultValue())
		}
		r.Mirrors = append(r.Mirrors, route.MirrorPolicy{Destination: route.Destination{Host: m.GetCluster()}, Percentage: pct})
	}

	if len(a.GetHashPolicy()) > 0 {
		ch, err := hashOf(a.GetHashPolicy(), p+".hash_policy")
		if err != nil {
			return err
		}
		e.hash = map[string]*balancer.ConsistentHash{}
		for _, d := range r.Route {
			e.hash[d.Destination.Host] = ch
		}
	}

	if a.GetPrefixRewrite() != "" || a.GetRegexRewrite() != nil || a.GetHostRewriteLiteral() != "" {
		rw := &route.Rewrite{URI: a.GetPrefixRewrite(), Authority: a.GetHostRewriteLiteral()}
		if rr := a.GetRegexRewrite(); rr != nil {
			re, err := regexOf(rr.GetPattern(), p+".regex_rewrite.pattern")
			if err != nil {
				return err
			}
			rw.URIRegexRewrite = &route.RegexRewrite{Match: re, Rewrite: rr.GetSubstitution()}
		}
		r.Rewrite = rw
	}
	return nil
}

// hashOf reads a route's hash policies. The mesh hashes on one key per
// destination: only a single policy is accepted.
func hashOf(hs []*routev3.RouteAction_HashPolicy, p string) (*balancer.ConsistentHash, error) {
	// Istio repeats the destination's policy once per destination of a split.
	for i := 1; i < len(hs); i++ {
		if !protoEqual(hs[i], hs[0]) {
			return nil, fmt.Errorf("%s[%d]: several different hash policies on one route are not supported", p, i)
		}
	}
	h := hs[0]
	hp := p + "[0]"
	if err := checkFields(h, hp, hashPolicyFields); err != nil {
		return nil, err
	}
	ch := &balancer.ConsistentHash{}
	switch s := h.GetPolicySpecifier().(type) {
	case *routev3.RouteAction_HashPolicy_Header_:
		if s.Header.GetRegexRewrite() != nil {
			return nil, fmt.Errorf("%s.header.regex_rewrite: not supported by switchyard", hp)
		}
		ch.HTTPHeaderName = s.Header.GetHeaderName()
	case *routev3.RouteAction_HashPolicy_Cookie_:
		c := s.Cookie
		hc := &balancer.HTTPCookie{Name: c.GetName(), Path: c.GetPath()}
		if c.GetTtl() != nil {
			ttl := c.GetTtl().AsDuration()
			hc.TTL = &ttl
		}
		for _, a := range c.GetAttributes() {
			hc.Attributes = append(hc.Attributes, balancer.CookieAttribute{Name: a.GetName(), Value: a.GetValue()})
		}
		ch.HTTPCookie = hc
	case *routev3.RouteAction_HashPolicy_ConnectionProperties_:
		if !s.ConnectionProperties.GetSourceIp() {
			return nil, fmt.Errorf("%s.connection_properties.source_ip: false hashes nothing", hp)
		}
		ch.UseSourceIP = true
	case *routev3.RouteAction_HashPolicy_QueryParameter_:
		ch.HTTPQueryParameterName = s.QueryParameter.GetName()
	default:
		return nil, fmt.Errorf("%s: %T is not supported", hp, s)
	}
	return ch, nil
}

// retryOf reads a retry policy. No policy means no retries (Istio writes its
// default explicitly).
func retryOf(rp *routev3.RetryPolicy, p string) (*retry.Config, error) {
	if rp == nil {
		return &retry.Config{Attempts: 0}, nil
	}
	if err := checkFields(rp, p, retryPolicyFields); err != nil {
		return nil, err
	}
	rc := &retry.Config{Attempts: 1}
	if n := rp.GetNumRetries(); n != nil {
		if n.GetValue() > math.MaxInt32 {
			return nil, fmt.Errorf("%s.num_retries: %d is too large", p, n.GetValue())
		}
		rc.Attempts = int32(n.GetValue())
	}
	if d := rp.GetPerTryTimeout(); d != nil {
		rc.PerTryTimeout = d.AsDuration()
	}
	var on []string
	hasCodes := false
	for _, c := range strings.Split(rp.GetRetryOn(), ",") {
		c = strings.TrimSpace(c)
		switch c {
		case "":
		case "retriable-status-codes":
			hasCodes = true
			on = append(on, c)
		default:
			on = append(on, c)
		}
	}
	for _, code := range rp.GetRetriableStatusCodes() {
		on = append(on, strconv.FormatUint(uint64(code), 10))
	}
	if len(rp.GetRetriableStatusCodes()) > 0 && !hasCodes {
		return nil, fmt.Errorf("%s.retriable_status_codes: listed without retriable-status-codes in retry_on (Envoy would not retry on them)", p)
	}
	rc.RetryOn = strings.Join(on, ",")
	if rc.RetryOn == "" && rc.Attempts > 0 {
		// Envoy retries on nothing without conditions.
		rc.Attempts = 0
	}
	ignorePrev := false
	for i, hp := range rp.GetRetryHostPredicate() {
		if hp.GetName() != previousHostsPredicate && hp.GetTypedConfig().GetTypeUrl() != "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" {
			return nil, fmt.Errorf("%s.retry_host_predicate[%d]: %q is not supported (only %s)", p, i, hp.GetName(), previousHostsPredicate)
		}
		ignorePrev = true
	}
	rc.RetryIgnorePreviousHosts = &ignorePrev
	if pr := rp.GetRetryPriority(); pr != nil {
		if pr.GetName() != previousPrioritiesPolicy {
			return nil, fmt.Errorf("%s.retry_priority: %q is not supported (only %s)", p, pr.GetName(), previousPrioritiesPolicy)
		}
		t := true
		rc.RetryRemoteLocalities = &t
	}
	if bo := rp.GetRetryBackOff(); bo != nil {
		bp := p + ".retry_back_off"
		if err := checkFields(bo, bp, retryBackOffFields); err != nil {
			return nil, err
		}
		base := bo.GetBaseInterval().AsDuration()
		if mx := bo.GetMaxInterval(); mx != nil && mx.AsDuration() != 10*base {
			return nil, fmt.Errorf("%s.max_interval: only the default (10 × base_interval) is supported", bp)
		}
		rc.Backoff = base
	}
	return rc, nil
}

func translateRedirect(rd *routev3.RedirectAction, p string) (*route.Redirect, error) {
	if err := checkFields(rd, p, redirectFields); err != nil {
		return nil, err
	}
	out := &route.Redirect{Authority: rd.GetHostRedirect(), Port: rd.GetPortRedirect()}
	switch s := rd.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		if s.HttpsRedirect {
			out.Scheme = "https"
		}
	case *routev3.RedirectAction_SchemeRedirect:
		out.Scheme = s.SchemeRedirect
	}
	switch s := rd.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PathRedirect:
		out.URI = s.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		out.PrefixRewrite = s.PrefixRewrite
	case nil:
	default:
		return nil, fmt.Errorf("%s: %T is not supported", p, s)
	}
	switch rd.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		out.RedirectCode = 301
	case routev3.RedirectAction_FOUND:
		out.RedirectCode = 302
	case routev3.RedirectAction_SEE_OTHER:
		out.RedirectCode = 303
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		out.RedirectCode = 307
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		out.RedirectCode = 308
	default:
		return nil, fmt.Errorf("%s.response_code: %v is not supported", p, rd.GetResponseCode())
	}
	return out, nil
}

// durationOr returns d, or def when d is absent.
func durationOr(d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.AsDuration()
}
