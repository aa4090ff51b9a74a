package router

import (
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// Explain traces the routing of in within vh.
func (vh *VirtualHost) Explain(in *match.Input) route.Explanation {
	e := route.Explanation{VirtualHost: vh.Name, Action: "no route (404)"}
	for _, r := range vh.routes {
		_, ok, why := r.matcher.Explain(in)
		e.Routes = append(e.Routes, route.RouteTrace{Name: r.Name, Matched: ok, Why: why})
		if !ok {
			continue
		}
		switch r.kind {
		case actionRedirect:
			e.Action = "redirect"
		case actionDirect:
			e.Action = "direct response"
		default:
			e.Action = "forward"
			for _, d := range r.dests {
				e.Destinations = append(e.Destinations, explainDestination(r, d, in.Port))
			}
		}
		break
	}
	return e
}

func explainDestination(r *Route, d destination, port uint32) route.DestinationTrace {
	prev := uint64(0)
	for _, o := range r.dests {
		if o.upTo == d.upTo {
			break
		}
		prev = o.upTo
	}
	t := route.DestinationTrace{Host: d.host, Subset: d.subset, Share: float64(d.upTo-prev) / float64(r.total), Missing: d.target.Missing()}
	c := d.target.Cluster(port)
	if c == nil {
		return t
	}
	t.Cluster = c.Name
	if c.TLS != nil {
		t.TLS = c.TLS.String()
	}
	avail := map[*balancer.State]bool{}
	for _, ep := range c.Available() {
		avail[ep.State] = true
	}
	for _, ep := range c.Endpoints() {
		t.Endpoints = append(t.Endpoints, route.EndpointTrace{Address: ep.Address, Weight: ep.Weight, Locality: ep.Locality, Active: ep.State.Active(), Available: avail[ep.State]})
	}
	if c.Passthrough {
		t.Pick = "(the address the request names)"
	} else if ep, err := c.Pick(); err == nil {
		t.Pick = ep.Address
	}
	return t
}
