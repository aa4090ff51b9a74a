package switchyard

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/route"
)

// AdminState is what the admin handler serves at "state": the mesh's
// configuration and live state at one moment.
type AdminState struct {
	// Time is when the state was read.
	Time time.Time `json:"time"`
	// Routes summarises every VirtualService's routes.
	Routes []AdminVirtualService `json:"routes"`
	// Clusters lists every cluster with its endpoints' live state.
	Clusters []AdminCluster `json:"clusters"`
	// Updates are the most recent configuration updates, oldest first.
	Updates []UpdateRecord `json:"updates"`
	// Ejections are the most recent ejections and returns, oldest first.
	Ejections []EjectionRecord `json:"ejections"`
	// DNS lists the host names of ServiceEntries with resolution DNS or
	// DNS_ROUND_ROBIN and where their resolution stands.
	DNS []DNSState `json:"dns,omitempty"`
	// Warnings are the running configuration's warnings (see
	// [Mesh.Warnings]), as text.
	Warnings []string `json:"warnings"`
}

// AdminVirtualService summarises one VirtualService.
type AdminVirtualService struct {
	// Name is "namespace/name", or the name alone.
	Name string `json:"name"`
	// Hosts are the hosts it routes.
	Hosts []string `json:"hosts"`
	// Routes are its HTTP routes in order.
	Routes []AdminRoute `json:"routes"`
}

// AdminRoute summarises one HTTP route.
type AdminRoute struct {
	// Name is the route's name, "<VirtualService>.<index>" without one.
	Name string `json:"name"`
	// Match says which requests it takes: its match blocks (OR'ed), each
	// as "field kind value" conditions (AND'ed); empty for every request.
	Match []string `json:"match,omitempty"`
	// Action is "route", "redirect" or "directResponse".
	Action string `json:"action"`
	// Destinations are the weighted destinations with their share in
	// percent.
	Destinations []AdminDestination `json:"destinations,omitempty"`
	// Timeout is the route timeout, "" for none.
	Timeout string `json:"timeout,omitempty"`
	// Retries is the retry attempts, -1 for Istio's default policy.
	Retries int `json:"retries"`
	// Fault is true when the route injects faults.
	Fault bool `json:"fault,omitempty"`
	// Mirrors are the hosts requests are mirrored to.
	Mirrors []string `json:"mirrors,omitempty"`
}

// AdminDestination is one weighted destination of a route.
type AdminDestination struct {
	// Host is the destination host.
	Host string `json:"host"`
	// Subset is the DestinationRule subset, "" for all endpoints.
	Subset string `json:"subset,omitempty"`
	// Weight is the configured weight.
	Weight int32 `json:"weight"`
	// Share is the weight's share of the route's traffic, in percent.
	Share float64 `json:"share"`
}

// AdminCluster is one cluster (a host's subset on a port) and its
// endpoints.
type AdminCluster struct {
	// Name is Envoy's cluster name, "outbound|9080|v1|reviews".
	Name string `json:"name"`
	// Host is the service host.
	Host string `json:"host"`
	// Subset is the DestinationRule subset, "" for all endpoints.
	Subset string `json:"subset,omitempty"`
	// Port is the service port.
	Port uint32 `json:"port"`
	// LoadBalancer names the algorithm: LEAST_REQUEST, ROUND_ROBIN, RANDOM,
	// RING_HASH, MAGLEV, PEAK_EWMA or PASSTHROUGH.
	LoadBalancer string `json:"loadBalancer"`
	// OutlierDetection is true when endpoints can be ejected.
	OutlierDetection bool `json:"outlierDetection"`
	// Endpoints are the cluster's endpoints.
	Endpoints []AdminEndpoint `json:"endpoints"`
}

// AdminEndpoint is the live state of one endpoint.
type AdminEndpoint struct {
	// Address is the "host:port" requests are sent to.
	Address string `json:"address"`
	// Labels are the endpoint's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Locality is "region/zone/subzone", possibly shorter or empty.
	Locality string `json:"locality,omitempty"`
	// Weight is the load-balancing weight.
	Weight uint32 `json:"weight"`
	// Health is "healthy" or "ejected".
	Health string `json:"health"`
	// Active is the requests in flight.
	Active int64 `json:"active"`
	// Requests counts the attempts sent since the endpoint joined.
	Requests uint64 `json:"requests"`
	// Failures counts those that failed: a 5xx or an error.
	Failures uint64 `json:"failures"`
}

// AdminState reads the mesh's configuration and live state, as the admin
// handler serves it.
func (m *Mesh) AdminState() AdminState {
	s := m.snap.Load()
	st := AdminState{Time: m.opts.clock.Now(), Routes: []AdminVirtualService{}, Clusters: []AdminCluster{}, DNS: m.dnsStates(), Warnings: []string{}}
	for _, w := range s.warnings {
		st.Warnings = append(st.Warnings, w.Error())
	}
	vs := s.virtualServices()
	for i := range vs.Len() {
		st.Routes = append(st.Routes, summarise(vs.At(i)))
	}
	for _, svc := range s.registry.All() {
		for _, c := range svc.Clusters() {
			st.Clusters = append(st.Clusters, clusterState(c))
		}
	}
	slices.SortStableFunc(st.Clusters, func(a, b AdminCluster) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Subset, b.Subset))
	})
	m.history.mu.Lock()
	st.Updates = append([]UpdateRecord{}, m.history.updates...)
	st.Ejections = append([]EjectionRecord{}, m.history.ejections...)
	m.history.mu.Unlock()
	return st
}

func summarise(vs *route.VirtualService) AdminVirtualService {
	name := vs.Name
	if vs.Namespace != "" {
		name = vs.Namespace + "/" + name
	}
	out := AdminVirtualService{Name: name, Hosts: vs.Hosts, Routes: []AdminRoute{}}
	for i := range vs.HTTP {
		hr := &vs.HTTP[i]
		r := AdminRoute{Name: hr.Name, Action: "route", Retries: -1}
		if r.Name == "" {
			r.Name = fmt.Sprintf("%s.%d", vs.Name, i)
		}
		for _, mr := range hr.Match {
			r.Match = append(r.Match, mr.String())
		}
		switch {
		case hr.Redirect != nil:
			r.Action = "redirect"
		case hr.DirectResponse != nil:
			r.Action = "directResponse"
		}
		var total int32
		for _, d := range hr.Route {
			total += d.Weight
		}
		for _, d := range hr.Route {
			ad := AdminDestination{Host: d.Destination.Host, Subset: d.Destination.Subset, Weight: d.Weight, Share: 100}
			if total > 0 {
				ad.Share = float64(d.Weight) * 100 / float64(total)
			} else if len(hr.Route) > 1 {
				ad.Share = 0
			}
			r.Destinations = append(r.Destinations, ad)
		}
		if hr.Timeout > 0 {
			r.Timeout = hr.Timeout.String()
		}
		if hr.Retries != nil {
			r.Retries = int(hr.Retries.Attempts)
		}
		r.Fault = hr.Fault != nil
		if hr.Mirror != nil {
			r.Mirrors = append(r.Mirrors, hr.Mirror.Host)
		}
		for _, mp := range hr.Mirrors {
			r.Mirrors = append(r.Mirrors, mp.Destination.Host)
		}
		out.Routes = append(out.Routes, r)
	}
	return out
}

func clusterState(c *cluster.Cluster) AdminCluster {
	ac := AdminCluster{Name: c.Name, Host: c.Host, Subset: c.Subset, Port: c.Port, LoadBalancer: c.Balancer(),
		OutlierDetection: c.Detector() != nil, Endpoints: []AdminEndpoint{}}
	d := c.Detector()
	for _, ep := range c.Endpoints() {
		ae := AdminEndpoint{Address: ep.Address, Labels: ep.Labels, Locality: ep.Locality, Weight: max(ep.Weight, 1), Health: "healthy",
			Active: ep.State.Active(), Requests: ep.State.Requests(), Failures: ep.State.Failures()}
		if d != nil && d.Ejected(ep) {
			ae.Health = "ejected"
		}
		ac.Endpoints = append(ac.Endpoints, ae)
	}
	return ac
}

//go:embed admin.html
var adminPage []byte

// AdminHandler returns an http.Handler for the mesh's admin page, to mount
// where the service likes (under a prefix, with or without
// http.StripPrefix). It answers GET requests by the last element of the
// path:
//
//   - "" or "/": a page that shows the live state, refreshed every second:
//     routes with their weights, clusters, endpoints coloured by health
//     (self-contained, no external assets);
//   - "state": [AdminState] as JSON (what the page reads);
//   - "config": the configuration in force as Istio resources in JSON
//     (apiVersion, kind, metadata, spec; durations as "10s"), grouped by
//     kind;
//   - "clusters", "updates", "ejections": those parts of the state alone.
//
// It exposes the mesh's configuration and endpoints: mount it where only
// operators can reach it.
func (m *Mesh) AdminHandler() http.Handler { return adminHandler{m} }

type adminHandler struct{ m *Mesh }

func (h adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	name := ""
	if p := strings.TrimSuffix(r.URL.Path, "/"); p != "" && !strings.HasSuffix(r.URL.Path, "/") {
		name = path.Base(p)
	}
	switch name {
	case "":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		_, _ = w.Write(adminPage)
		return
	case "state":
		writeJSON(w, h.m.AdminState())
	case "clusters":
		writeJSON(w, h.m.AdminState().Clusters)
	case "updates":
		writeJSON(w, h.m.AdminState().Updates)
	case "ejections":
		writeJSON(w, h.m.AdminState().Ejections)
	case "config":
		writeJSON(w, configDump(h.m.Config()))
	default:
		// The page itself, at a path without a trailing slash.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		_, _ = w.Write(adminPage)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// configDump renders cfg as Istio resources: apiVersion, kind, metadata
// and spec, grouped by kind.
func configDump(cfg Config) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, k := range kinds {
		out[k.group] = []map[string]any{}
		k.each(&cfg, func(name, namespace string, spec reflect.Value) {
			meta := map[string]any{"name": name}
			if namespace != "" {
				meta["namespace"] = namespace
			}
			out[k.group] = append(out[k.group], map[string]any{"apiVersion": "networking.istio.io/v1", "kind": k.name, "metadata": meta, "spec": plain(spec)})
		})
	}
	return out
}

var (
	marshalerType = reflect.TypeFor[json.Marshaler]()
)

// plain turns a configuration value into maps, slices and scalars for JSON:
// the fields Parse decodes (jsonFields), with durations written as Istio
// writes them.
func plain(v reflect.Value) any {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if v.Type().Implements(marshalerType) && (v.Kind() != reflect.Pointer || !v.IsNil()) {
		if b, err := v.Interface().(json.Marshaler).MarshalJSON(); err == nil {
			return json.RawMessage(b)
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Struct:
		// The fields Parse reads, under the names it reads them by.
		out := map[string]any{}
		for name, i := range jsonFields(v.Type()) {
			fv := v.Field(i)
			_, opts, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			if (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 {
				continue
			}
			out[name] = plain(fv)
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Interface()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plain(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			out[fmt.Sprint(iter.Key().Interface())] = plain(iter.Value())
		}
		return out
	default:
		return v.Interface()
	}
}
