package router

import (
	"sync"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/internal/rng"
	"github.com/switchyard-go/switchyard/internal/telemetry"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// VirtualHost is the set of routes for one host.
type VirtualHost struct {
	// Name names the VirtualService the routes come from, or the
	// ServiceEntry host for the default route of a host without one.
	Name   string
	routes []*Route
	index  *routeIndex // nil: scan

	spec *route.VirtualService // compiled from; nil for a default route
	deps []dependency          // the services its destinations resolved to
	// warns are the warnings its compilation made, repeated when a later
	// compilation reuses it.
	warns []*fielderr.Error
}

// Routes returns the virtual host's routes in order. The slice must not be
// modified.
func (vh *VirtualHost) Routes() []*Route { return vh.routes }

type actionKind uint8

// Route is one compiled HTTP route.
type Route struct {
	// Name is the route's name, or "<VirtualService>.<index>" when it has
	// none.
	Name string
	// Timeout bounds the whole request; zero means none.
	Timeout time.Duration

	matcher  *match.Matcher
	kind     actionKind
	dests    []destination
	total    uint64 // sum of weights
	redirect *redirectAction
	direct   *directAction
	rewrite  *rewriteAction
	// respOps are the response operations of a redirect or direct response.
	respOps   headerOps
	labels    *telemetry.Labels // metric attributes: the route alone
	spanName  string            // "route <Name>"; with the labels, set by label
	labelOnce sync.Once
	retry     *retrypolicy.Policy // with the per-try timeout capped by Timeout
	rules     engine.Rules        // how its attempts choose endpoints: retry's host selection
	fault     *fault.Injector     // nil without a fault
	mirrors   []mirror
}

// destination is one weighted destination with everything the request
// path needs, precomputed.
type destination struct {
	host, subset string
	target       *cluster.Target
	upTo         uint64 // cumulative weight bound: chosen when draw < upTo
	reqOps       headerOps
	respOps      headerOps
	authority    string // host rewrite, "" for none
	// metric attribute sets: route, host, subset
	labels, attemptLabels *telemetry.Labels
}

// Match returns the first route that matches in and the index of the match
// block that matched (-1 for a route without match blocks), or nil.
func (vh *VirtualHost) Match(in *match.Input) (*Route, int) {
	if vh.index != nil {
		return vh.index.match(vh.routes, in)
	}
	for _, r := range vh.routes {
		if i, ok := r.matcher.Match(in); ok {
			return r, i
		}
	}
	return nil, 0
}

// pick draws a destination by weight: with cumulative bounds w1, w1+w2, …
// the first bound above a uniform draw in [0, Σw) wins, as Envoy's
// weighted_clusters.
func (r *Route) pick(rand balancer.Rand) *destination {
	if len(r.dests) == 1 {
		return &r.dests[0]
	}
	v := rng.N(rand.Uint64(), r.total)
	for i := range r.dests {
		if v < r.dests[i].upTo {
			return &r.dests[i]
		}
	}
	return &r.dests[len(r.dests)-1]
}
