package main

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/metadata"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

func newExplain() *cobra.Command {
	var (
		files   []string
		headers []string
		method  string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "explain -f FILES [-H 'name: value']... (METHOD URL | --grpc /pkg.Service/Method TARGET)",
		Short: "Say how a request or gRPC call would be routed, without sending it",
		Long: `explain builds a mesh from the manifests and shows how it would route one
request (switchyard's Mesh.Explain) or gRPC call (Mesh.ExplainGRPC): the
routes tried in order and why each one before the match did not match, the
action, the route's policies (timeout, retries, faults, mirrors, rewrites,
header operations), each destination with its share of traffic, its
cluster, the traffic policy in force there and which DestinationRule (and
subset) it comes from, the cluster's endpoints and the one an attempt
would pick. Nothing is sent.

Headers (-H, repeatable) are matched as the request's headers, or the
call's metadata with --grpc; "-H 'Host: name'" sets the authority. A URL
without a scheme is taken as http://.

Exit status: 0 explained, 1 the manifests are invalid, 2 trouble.

With --output json it prints one object:

  {"request": {"method": "GET", "url": "http://reviews:9080/", "headers": {"end-user": ["jason"]}},
   "host": "reviews", "port": 9080, "virtualHost": "VirtualService \"default/reviews\"",
   "routes": [{"name": "reviews.0", "matched": true, "why": ["..."]}],
   "action": "forward", "policies": {"timeout": "10s", "retries": {...}},
   "destinations": [{"host": "reviews", "subset": "v2", "share": 100, "cluster": "outbound|9080|v2|reviews",
                     "pick": "10.0.0.2:9080",
                     "policy": [{"component": "loadBalancer", "value": {...}, "from": "DestinationRule default/reviews"}],
                     "endpoints": [{"address": "10.0.0.2:9080", "weight": 1, "active": 0, "available": true}]}]}

"share" is in percent; a gRPC call has "request": {"grpc": {"target", "method", "metadata"}}.`,
		Example: `  switchyard explain -f bookinfo/ GET http://reviews:9080/reviews/1 -H 'end-user: jason'
  switchyard explain -f mesh.yaml --grpc /reviews.Reviews/Get reviews:9080 -H 'x-canary: 1' -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if method != "" {
				if len(args) != 1 {
					return fmt.Errorf("with --grpc, give the target (reviews:9080), got %d arguments", len(args))
				}
				return nil
			}
			if len(args) != 2 {
				return fmt.Errorf("give METHOD and URL (GET http://reviews:9080/), or --grpc METHOD TARGET; got %d arguments", len(args))
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 && method == "" {
				return []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if len(files) == 0 {
				return trouble("give the manifests with -f FILES")
			}
			hdr, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			var req *http.Request
			if method == "" {
				if req, err = explainRequest(args[0], args[1], hdr); err != nil {
					return err
				}
			} else if !grpcMethod.MatchString(method) {
				return trouble("--grpc %q: give the full method, /package.Service/Method", method)
			}
			l, errs, err := load(files, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if len(errs) > 0 {
				return invalid(cmd.ErrOrStderr(), errs)
			}
			mesh, err := switchyard.New(l.cfg, switchyard.WithRand(newSeeded()))
			if err != nil { // validated by load already
				return &exitError{code: exitNo, err: err}
			}
			defer mesh.Close()
			var out explainOutput
			if method == "" {
				out = explainOutput{Request: &requestOutput{Method: req.Method, URL: req.URL.String(), Headers: headerMap(hdr, req.Host)},
					Explanation: mesh.Explain(req)}
			} else {
				md := metadata.MD{}
				for k, vs := range hdr {
					md.Append(k, vs...)
				}
				ctx := metadata.NewOutgoingContext(cmd.Context(), md)
				out = explainOutput{Request: &requestOutput{GRPC: &grpcOutput{Target: args[0], Method: method, Metadata: headerMap(hdr, "")}},
					Explanation: mesh.ExplainGRPC(ctx, args[0], method)}
			}
			out.fill(l.cfg)
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), out.json())
			}
			out.text(cmd.OutOrStdout())
			return nil
		},
	}
	fileFlag(cmd, &files, "manifest files or directories (repeatable; - for standard input)")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "a request header or gRPC metadata entry, 'name: value' (repeatable)")
	cmd.Flags().StringVar(&method, "grpc", "", "explain a gRPC call of this method, /package.Service/Method, on the TARGET argument")
	_ = cmd.RegisterFlagCompletionFunc("header", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("grpc", cobra.NoFileCompletions)
	outputFlag(cmd, &output)
	return cmd
}

var grpcMethod = regexp.MustCompile(`^/[^/]+/[^/]+$`)

// invalid prints the configuration's problems and ends with status 1.
func invalid(w io.Writer, errs []finding) error {
	for _, f := range errs {
		fmt.Fprintln(w, f)
	}
	return &exitError{code: exitNo, err: fmt.Errorf("the manifests are invalid (%s); switchyard validate says more", plural(len(errs), "error"))}
}

// parseHeaders reads "name: value" flags.
func parseHeaders(flags []string) (http.Header, error) {
	h := http.Header{}
	for _, f := range flags {
		name, value, ok := strings.Cut(f, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, trouble("-H %q: write a header as 'name: value'", f)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

func explainRequest(method, rawURL string, hdr http.Header) (*http.Request, error) {
	if !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, trouble("%q is not a URL such as http://reviews:9080/reviews/1", rawURL)
	}
	req, err := http.NewRequest(strings.ToUpper(method), u.String(), nil)
	if err != nil {
		return nil, trouble("%v", err)
	}
	for k, vs := range hdr {
		if k == "Host" {
			req.Host = vs[len(vs)-1]
			continue
		}
		req.Header[k] = vs
	}
	return req, nil
}

// headerMap lists headers under lower-case names, as they are matched, with
// the authority when -H Host set one.
func headerMap(h http.Header, host string) map[string][]string {
	out := map[string][]string{}
	for k, vs := range h {
		if k == "Host" {
			continue
		}
		out[strings.ToLower(k)] = vs
	}
	if host != "" && h.Get("Host") != "" {
		out["host"] = []string{host}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// seeded is a deterministic random source, so that explain's "next pick"
// is the same on every run over the same manifests.
type seeded struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newSeeded() *seeded { return &seeded{r: rand.New(rand.NewPCG(1, 2))} }

func (s *seeded) Uint64() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Uint64()
}

type explainOutput struct {
	Request *requestOutput
	switchyard.Explanation
	// from the configuration
	policies     []named        // of the matched route
	destPolicies [][]policyPart // of each destination's cluster
}

type requestOutput struct {
	Method  string              `json:"method,omitempty"`
	URL     string              `json:"url,omitempty"`
	Headers map[string][]string `json:"headers,omitempty"`
	GRPC    *grpcOutput         `json:"grpc,omitempty"`
}

type grpcOutput struct {
	Target   string              `json:"target"`
	Method   string              `json:"method"`
	Metadata map[string][]string `json:"metadata,omitempty"`
}

type named struct {
	name  string
	value any
}

// policyPart is one component of a cluster's traffic policy and the rule
// it comes from.
type policyPart struct {
	Component string `json:"component"`
	Value     any    `json:"value"`
	From      string `json:"from"`
}

// fill finds, in the configuration, the policies of the matched route and
// of each destination's cluster.
func (o *explainOutput) fill(cfg switchyard.Config) {
	if hr := matchedRoute(cfg, o.Explanation); hr != nil {
		o.policies = routePolicies(hr)
	}
	for _, d := range o.Destinations {
		o.destPolicies = append(o.destPolicies, clusterPolicy(cfg, d.Host, d.Subset, clusterPort(d.Cluster)))
	}
}

// matchedRoute finds the route that matched in the configuration, by the
// names the mesh gives VirtualServices and routes.
func matchedRoute(cfg switchyard.Config, e switchyard.Explanation) *route.HTTPRoute {
	if len(e.Routes) == 0 || !e.Routes[len(e.Routes)-1].Matched {
		return nil
	}
	name := e.Routes[len(e.Routes)-1].Name
	for i := range cfg.VirtualServices {
		vs := &cfg.VirtualServices[i]
		if fmt.Sprintf("VirtualService %q", qualified(vs.Namespace, vs.Name)) != e.VirtualHost {
			continue
		}
		for j := range vs.HTTP {
			hr := &vs.HTTP[j]
			if hr.Name == name || (hr.Name == "" && name == vs.Name+"."+strconv.Itoa(j)) {
				return hr
			}
		}
	}
	return nil
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// defaultRetries describes Istio's retry policy for routes without one.
const defaultRetries = "Istio's default: 2 retries on connect-failure,refused-stream,unavailable,cancelled"

// routePolicies lists what a route does besides choosing a destination.
func routePolicies(hr *route.HTTPRoute) []named {
	var out []named
	add := func(name string, v any) {
		if p := plain(v); p != nil {
			out = append(out, named{name, p})
		}
	}
	if hr.Timeout > 0 {
		add("timeout", hr.Timeout)
	}
	if hr.Route != nil || hr.Retries != nil {
		if hr.Retries == nil {
			out = append(out, named{"retries", defaultRetries})
		} else {
			add("retries", hr.Retries)
		}
	}
	add("fault", hr.Fault)
	add("mirror", hr.Mirror)
	add("mirrors", hr.Mirrors)
	add("mirrorPercentage", hr.MirrorPercentage)
	add("mirrorPercent", hr.MirrorPercent)
	add("rewrite", hr.Rewrite)
	add("redirect", hr.Redirect)
	add("directResponse", hr.DirectResponse)
	add("headers", hr.Headers)
	return out
}

// clusterPort reads the port from an Envoy cluster name,
// "outbound|9080|v1|reviews".
func clusterPort(cluster string) uint32 {
	parts := strings.Split(cluster, "|")
	if len(parts) < 2 {
		return 0
	}
	p, _ := strconv.ParseUint(parts[1], 10, 32)
	return uint32(p)
}

// clusterPolicy finds the traffic policy in force for host's subset on
// port, component by component, with Istio's precedence: the subset's
// port-level settings, the subset's policy, the rule's port-level
// settings, the rule's policy.
func clusterPolicy(cfg switchyard.Config, host, subsetName string, port uint32) []policyPart {
	var dr *subset.DestinationRule
	for i := range cfg.DestinationRules {
		if cfg.DestinationRules[i].Host == host {
			dr = &cfg.DestinationRules[i]
			break
		}
	}
	if dr == nil {
		return nil
	}
	rule := "DestinationRule " + qualified(dr.Namespace, dr.Name)
	type level struct {
		tp   *subset.TrafficPolicy
		from string
	}
	levels := []level{{dr.TrafficPolicy, rule}}
	for _, s := range dr.Subsets {
		if s.Name == subsetName && subsetName != "" {
			levels = append(levels, level{s.TrafficPolicy, rule + ", subset " + s.Name})
		}
	}
	// From the most specific down.
	type layer struct {
		lb, pool, outlier, tls any
		budget                 any
		from                   string
	}
	var layers []layer
	for i := len(levels) - 1; i >= 0; i-- {
		tp := levels[i].tp
		if tp == nil {
			continue
		}
		for _, pl := range tp.PortLevelSettings {
			if pl.Port.Number == port && port != 0 {
				layers = append(layers, layer{lb: pl.LoadBalancer, pool: pl.ConnectionPool, outlier: pl.OutlierDetection, tls: pl.TLS,
					from: fmt.Sprintf("%s, port %d", levels[i].from, port)})
			}
		}
		layers = append(layers, layer{lb: tp.LoadBalancer, pool: tp.ConnectionPool, outlier: tp.OutlierDetection, tls: tp.TLS, budget: tp.RetryBudget, from: levels[i].from})
	}
	var out []policyPart
	pick := func(component string, get func(layer) any) {
		for _, l := range layers {
			if v := plain(get(l)); v != nil {
				out = append(out, policyPart{Component: component, Value: v, From: l.from})
				return
			}
		}
	}
	pick("loadBalancer", func(l layer) any { return l.lb })
	pick("connectionPool", func(l layer) any { return l.pool })
	pick("outlierDetection", func(l layer) any { return l.outlier })
	pick("tls", func(l layer) any { return l.tls })
	pick("retryBudget", func(l layer) any { return l.budget })
	return out
}

func (o *explainOutput) text(w io.Writer) {
	if r := o.Request; r != nil {
		if r.GRPC != nil {
			fmt.Fprintf(w, "gRPC %s on %s%s\n", r.GRPC.Method, r.GRPC.Target, headerSuffix(r.GRPC.Metadata))
		} else {
			fmt.Fprintf(w, "%s %s%s\n", r.Method, r.URL, headerSuffix(r.Headers))
		}
	}
	fmt.Fprintf(w, "%s:%d", o.Host, o.Port)
	if o.VirtualHost == "" {
		fmt.Fprintln(w, " is not in the configuration: passthrough, sent as addressed")
		return
	}
	fmt.Fprintf(w, " → %s\n", o.VirtualHost)
	for _, r := range o.Routes {
		if r.Matched {
			fmt.Fprintf(w, "  route %s: matched → %s\n", r.Name, o.Action)
			for _, p := range o.policies {
				fmt.Fprintf(w, "    %s: %s\n", p.name, compact(p.value))
			}
		} else {
			fmt.Fprintf(w, "  route %s: no match\n", r.Name)
		}
		for _, why := range r.Why {
			fmt.Fprintf(w, "      %s\n", why)
		}
	}
	if len(o.Routes) == 0 || !o.Routes[len(o.Routes)-1].Matched {
		fmt.Fprintf(w, "  → %s\n", o.Action)
	}
	for i, d := range o.Destinations {
		name := d.Host
		if d.Subset != "" {
			name += " subset " + d.Subset
		}
		cluster, pick := d.Cluster, d.Pick
		if cluster == "" {
			cluster = "(none on this port)"
		}
		if pick == "" {
			pick = "(none available)"
		}
		fmt.Fprintf(w, "  destination %s: %.1f%% of traffic, cluster %s, next pick %s\n", name, 100*d.Share, cluster, pick)
		for _, p := range o.destPolicies[i] {
			fmt.Fprintf(w, "    %s: %s (%s)\n", p.Component, compact(p.Value), p.From)
		}
		if len(o.destPolicies[i]) == 0 && d.Cluster != "" {
			fmt.Fprintln(w, "    traffic policy: none set (Istio's defaults: LEAST_REQUEST, no outlier detection, no connection limits)")
		}
		for _, ep := range d.Endpoints {
			state := "available"
			if !ep.Available {
				state = "ejected"
			}
			loc := ""
			if ep.Locality != "" {
				loc = " locality " + ep.Locality
			}
			fmt.Fprintf(w, "    endpoint %s weight %d%s active %d %s\n", ep.Address, max(ep.Weight, 1), loc, ep.Active, state)
		}
	}
}

func headerSuffix(h map[string][]string) string {
	if len(h) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(h) {
		for _, v := range h[k] {
			parts = append(parts, k+": "+v)
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// json is explain's JSON form, documented in the command's help.
func (o *explainOutput) json() any {
	type endpoint struct {
		Address   string `json:"address"`
		Weight    uint32 `json:"weight"`
		Locality  string `json:"locality,omitempty"`
		Active    int64  `json:"active"`
		Available bool   `json:"available"`
	}
	type destination struct {
		Host      string       `json:"host"`
		Subset    string       `json:"subset,omitempty"`
		Share     float64      `json:"share"`
		Cluster   string       `json:"cluster,omitempty"`
		Pick      string       `json:"pick,omitempty"`
		Policy    []policyPart `json:"policy,omitempty"`
		Endpoints []endpoint   `json:"endpoints"`
	}
	type routeTrace struct {
		Name    string   `json:"name"`
		Matched bool     `json:"matched"`
		Why     []string `json:"why,omitempty"`
	}
	out := struct {
		Request      *requestOutput `json:"request,omitempty"`
		Host         string         `json:"host"`
		Port         uint32         `json:"port"`
		VirtualHost  string         `json:"virtualHost,omitempty"`
		Routes       []routeTrace   `json:"routes"`
		Action       string         `json:"action"`
		Policies     map[string]any `json:"policies,omitempty"`
		Destinations []destination  `json:"destinations"`
	}{Request: o.Request, Host: o.Host, Port: o.Port, VirtualHost: o.VirtualHost, Action: o.Action,
		Routes: []routeTrace{}, Destinations: []destination{}}
	for _, r := range o.Routes {
		out.Routes = append(out.Routes, routeTrace{Name: r.Name, Matched: r.Matched, Why: r.Why})
	}
	if len(o.policies) > 0 {
		out.Policies = map[string]any{}
		for _, p := range o.policies {
			out.Policies[p.name] = p.value
		}
	}
	for i, d := range o.Destinations {
		od := destination{Host: d.Host, Subset: d.Subset, Share: round(100 * d.Share), Cluster: d.Cluster, Pick: d.Pick,
			Policy: o.destPolicies[i], Endpoints: []endpoint{}}
		for _, ep := range d.Endpoints {
			od.Endpoints = append(od.Endpoints, endpoint{Address: ep.Address, Weight: max(ep.Weight, 1), Locality: ep.Locality, Active: ep.Active, Available: ep.Available})
		}
		out.Destinations = append(out.Destinations, od)
	}
	return out
}

// round rounds a percentage to 0.01.
func round(p float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(p, 'f', 2, 64), 64)
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
