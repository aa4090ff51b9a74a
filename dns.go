package switchyard

import (
	"context"
	"net/netip"
	"reflect"
	"sort"
	"time"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/dnsresolve"
	"github.com/switchyard-go/switchyard/subset"
)

// A ServiceEntry with resolution DNS is Envoy's STRICT_DNS cluster: every
// address a host name of it resolves to is an endpoint of its own
// (balanced, ejected, counted separately), re-resolved when the answer's
// TTL runs out or, without one, every 60 s (Istio's dnsRefreshRate).
// DNS_ROUND_ROBIN is LOGICAL_DNS: one endpoint, the first address. The
// addresses join and leave through the endpoint fast path. Until a name
// first resolves, it is its own endpoint, dialled by name; a failed
// resolution keeps the last good addresses (the admin state says so).

// dnsWatch keeps the endpoints of one ServiceEntry host current: one
// Refresher per host name among its workloads.
type dnsWatch struct {
	host  string // the service host
	entry *subset.ServiceEntry
	names map[string]*dnsName
	// closed is set, under Mesh.mu, when the watch is replaced or the
	// mesh closes: its late answers are then ignored.
	closed bool
}

type dnsName struct {
	r        *dnsresolve.Refresher
	addrs    []netip.Addr // guarded by Mesh.mu
	resolved bool         // guarded by Mesh.mu
}

// dnsModes are the resolutions the mesh resolves, with their mode.
var dnsModes = map[string]dnsresolve.Mode{"DNS": dnsresolve.Strict, "DNS_ROUND_ROBIN": dnsresolve.Logical}

// watchDNS brings the DNS watches in line with a registry being installed:
// the services it built with DNS resolution get a watch unless theirs
// resolves the same names, and those it replaced lose theirs. Mesh.mu is
// held; the refreshers stopped are closed in the background (an answer
// arriving meanwhile waits for Mesh.mu, then sees the watch closed).
func (m *Mesh) watchDNS(reg *cluster.Registry, replaced []*cluster.Service) {
	for _, svc := range replaced {
		if w := m.dns[svc.Host]; w != nil {
			if next := reg.Lookup(svc.Host); next == nil || next.Host != svc.Host || !dnsResolved(next) {
				m.stopWatch(w)
			}
		}
	}
	for _, svc := range reg.Fresh() {
		if !dnsResolved(svc) {
			continue
		}
		entry := svc.Entry()
		if w := m.dns[svc.Host]; w != nil {
			if sameDNSSource(w.entry, entry) {
				w.entry = entry
				continue
			}
			m.stopWatch(w)
		}
		m.startWatch(svc.Host, entry)
	}
}

func dnsResolved(svc *cluster.Service) bool {
	_, ok := dnsModes[svc.Entry().Resolution]
	return ok && !svc.Passthrough
}

func sameDNSSource(a, b *subset.ServiceEntry) bool {
	return a.Resolution == b.Resolution && reflect.DeepEqual(a.Endpoints, b.Endpoints) && reflect.DeepEqual(a.Hosts, b.Hosts)
}

// baseWorkloads are the workloads of entry before resolution: its
// endpoints or, with none, its hosts.
func baseWorkloads(entry *subset.ServiceEntry) []subset.WorkloadEntry {
	if len(entry.Endpoints) > 0 {
		return entry.Endpoints
	}
	out := make([]subset.WorkloadEntry, 0, len(entry.Hosts))
	for _, h := range entry.Hosts {
		out = append(out, subset.WorkloadEntry{Address: h})
	}
	return out
}

func (m *Mesh) startWatch(host string, entry *subset.ServiceEntry) {
	if m.dns == nil {
		m.dns = map[string]*dnsWatch{}
	}
	w := &dnsWatch{host: host, entry: entry, names: map[string]*dnsName{}}
	m.dns[host] = w
	resolver := m.dnsResolver()
	for _, base := range baseWorkloads(entry) {
		name := base.Address
		if _, err := netip.ParseAddr(name); err == nil || w.names[name] != nil {
			continue
		}
		n := &dnsName{}
		w.names[name] = n
		r, err := dnsresolve.NewRefresher(dnsresolve.RefresherConfig{
			Host: name, Resolver: resolver, Mode: dnsModes[entry.Resolution], Clock: m.opts.clock, Rand: m.opts.rand,
			OnUpdate: func(addrs []netip.Addr) { m.dnsAnswer(w, n, addrs) },
		})
		if err != nil {
			// Only a bad configuration of ours fails: the name stays its
			// own endpoint, dialled by name.
			delete(w.names, name)
			continue
		}
		n.r = r
	}
}

// stopWatch closes w's refreshers in the background; Close waits for them.
func (m *Mesh) stopWatch(w *dnsWatch) {
	w.closed = true
	if m.dns[w.host] == w {
		delete(m.dns, w.host)
	}
	for _, n := range w.names {
		if n.r == nil {
			continue
		}
		m.dnsStops.Add(1)
		go func() {
			defer m.dnsStops.Done()
			n.r.Close()
		}()
	}
}

// dnsAnswer applies a name's new addresses to its service's endpoints.
func (m *Mesh) dnsAnswer(w *dnsWatch, n *dnsName, addrs []netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.closed || m.closed.Load() {
		return
	}
	n.addrs, n.resolved = addrs, true
	var ws []subset.WorkloadEntry
	for _, base := range baseWorkloads(w.entry) {
		nn := w.names[base.Address]
		if nn == nil || !nn.resolved {
			ws = append(ws, base)
			continue
		}
		for _, a := range nn.addrs {
			e := base
			e.Address = a.String()
			ws = append(ws, e)
		}
	}
	_ = m.setEndpointsLocked(w.host, ws) // valid by construction
}

// dnsResolver returns the resolver of WithDNSResolver, else the system's.
func (m *Mesh) dnsResolver() dnsresolve.Resolver {
	if m.opts.resolver != nil {
		return m.opts.resolver
	}
	if m.system == nil {
		sys, err := dnsresolve.NewSystem(dnsresolve.SystemConfig{Clock: m.opts.clock})
		if err != nil {
			return dnsresolve.ResolverFunc(func(context.Context, string) (dnsresolve.Answer, error) { return dnsresolve.Answer{}, err })
		}
		m.system = sys
	}
	return m.system
}

// closeDNS stops every watch; Mesh.mu is held. waitDNS, without it, waits
// for their refreshers to stop.
func (m *Mesh) closeDNS() {
	for _, w := range m.dns {
		m.stopWatch(w)
	}
}

func (m *Mesh) waitDNS() { m.dnsStops.Wait() }

// DNSState is where the resolution of one host name of a ServiceEntry with
// resolution DNS or DNS_ROUND_ROBIN stands, as the admin handler shows it.
type DNSState struct {
	// Host is the ServiceEntry host; Name the name resolved.
	Host string `json:"host"`
	Name string `json:"name"`
	// Mode is STRICT_DNS (DNS) or LOGICAL_DNS (DNS_ROUND_ROBIN).
	Mode string `json:"mode"`
	// Addresses are the addresses in force: the last good answer.
	Addresses []string `json:"addresses"`
	// Resolved is false until a resolution succeeds: the name is then its
	// own endpoint, dialled by name.
	Resolved bool `json:"resolved"`
	// LastError is why the last resolution failed (the last good
	// addresses are kept), or "" after a success.
	LastError string `json:"lastError,omitempty"`
	// ConsecutiveFailures counts the failures since the last success.
	ConsecutiveFailures int `json:"consecutiveFailures,omitempty"`
	// LastSuccess is when a resolution last succeeded.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// NextRefresh is when the next resolution is due.
	NextRefresh time.Time `json:"nextRefresh,omitzero"`
}

// dnsStates returns the state of every name resolved, by host and name.
func (m *Mesh) dnsStates() []DNSState {
	m.mu.Lock()
	var rs []*dnsresolve.Refresher
	var hosts []string
	for _, w := range m.dns {
		for _, n := range w.names {
			if n.r != nil {
				rs = append(rs, n.r)
				hosts = append(hosts, w.host)
			}
		}
	}
	m.mu.Unlock()
	out := make([]DNSState, 0, len(rs))
	for i, r := range rs {
		st := r.State()
		d := DNSState{Host: hosts[i], Name: st.Host, Mode: st.Mode.String(), Resolved: st.Resolved,
			ConsecutiveFailures: st.ConsecutiveFailures, LastSuccess: st.LastSuccess, NextRefresh: st.NextRefresh}
		for _, a := range st.Addrs {
			d.Addresses = append(d.Addresses, a.String())
		}
		if st.LastError != nil {
			d.LastError = st.LastError.Error()
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// observeDNS feeds the DNS failures gauge: every name resolved and its
// consecutive failures (0 once it resolves again).
func (m *Mesh) observeDNS(observe func(host, name string, failures int64)) {
	for _, d := range m.dnsStates() {
		observe(d.Host, d.Name, int64(d.ConsecutiveFailures))
	}
}
