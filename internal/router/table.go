package router

import (
	"strings"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/fielderr"
)

// Table is the compiled routing configuration: virtual hosts by host and
// port, each with its ordered routes. It is immutable and safe for
// concurrent use.
type Table struct {
	hosts    map[string]*hostEntry // exact hosts: one string-keyed lookup per request
	wildcard []wildcardHost        // longest suffix first
	// vhs holds the virtual host of each VirtualService by slot (its
	// index + 1; slot 0 is none), bound or not. The host entries name
	// slots, not virtual hosts, so that Revise can replace the virtual
	// host of a VirtualService by copying this slice alone and share the
	// maps, which no table changes once built.
	vhs []*VirtualHost
	// vsWarns holds the warnings of each VirtualService that has some,
	// by index, located: its compilation's, then its placement's.
	vsWarns  map[int][]*fielderr.Error
	defaults map[*cluster.Service]*VirtualHost
	registry *cluster.Registry
	warnings []*fielderr.Error
}

// Warnings returns what Compile found valid but probably not meant, such
// as routes to subsets no DestinationRule defines.
func (t *Table) Warnings() []*fielderr.Error { return t.warnings }

// hostEntry holds what routes requests to one exact host: the
// VirtualService host (VirtualService hosts carry no port: Istio routes a
// host the same on every port) and the default route of its ServiceEntry.
type hostEntry struct {
	any slot
	def *VirtualHost
}

// slot is the index of a VirtualService's virtual host in Table.vhs.
type slot int32

// entry returns the entry for host, creating it.
func (t *Table) entry(host string) *hostEntry {
	e := t.hosts[host]
	if e == nil {
		e = &hostEntry{}
		t.hosts[host] = e
	}
	return e
}

type hostKey struct {
	host string
}

type wildcardHost struct {
	suffix string // ".example.com", or "" for "*"
	vh     slot
}

const (
	actionForward actionKind = iota
	actionRedirect
	actionDirect
)

// Lookup returns the virtual host for a request to host (lower-case, without
// port): a VirtualService host, then "*." wildcards (longest first), then
// the default route of a ServiceEntry host. (VirtualService hosts carry no
// port; routes match the request's port.) It returns nil for a host the
// configuration does not know.
func (t *Table) Lookup(host string) *VirtualHost {
	e := t.hosts[host]
	if e != nil && e.any != 0 {
		return t.vhs[e.any]
	}
	for i := range t.wildcard {
		w := &t.wildcard[i]
		if strings.HasSuffix(host, w.suffix) {
			return t.vhs[w.vh]
		}
	}
	if e != nil && e.def != nil {
		return e.def
	}
	if svc := t.registry.Lookup(host); svc != nil {
		return t.defaults[svc]
	}
	return nil
}
