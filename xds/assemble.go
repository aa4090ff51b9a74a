package xds

import (
	"cmp"
	"iter"
	"slices"
	"strings"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/patchlist"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// A translation is the mesh configuration the resources describe, kept
// with indexes (by listener, RouteConfiguration, cluster, host) so that a
// push is translated in proportion to what it changes: update re-translates
// the listeners and hosts the changed resources touch and replaces their
// entries in a copy of the configuration's lists (a copy of the slice, the
// only part that grows with the mesh) instead of rebuilding them. Its
// result is always the one a fresh translation of the same resources gives
// (TestIncrementalTranslationIsFresh, TestWatchesFollowTheResources).
//
// How the configuration is assembled (a fresh translation does the same):
// the virtual hosts, in the order of their listeners' names and their
// index, become VirtualServices; a virtual host one of whose hosts an
// earlier one named joins that one's VirtualService (the same service on
// another port). The clusters the routes name, by host, become one
// ServiceEntry and DestinationRule per host, in the order of the host's
// first cluster name. A virtual host joins only virtual hosts that share a
// host with it, directly or through others, so update re-assembles only the
// virtual hosts so connected to the changed ones.
type translation struct {
	listeners map[string]*listenerState
	// Sets by key are slices: most hold one element.

	// The listeners by the RouteConfiguration they name (RDS), but those
	// that name it as Istio's conventions do (see istioListener), which
	// are found by name.
	routeUsers sets[string]

	// The virtual hosts by the hosts they name, and by the hosts of the
	// clusters their routes name (most virtual hosts name one host and
	// route to its clusters: one entry, not one per host and cluster).
	byHost   sets[vref]
	member   map[vref]vref                         // the VirtualService (by the virtual host that began it) each virtual host joined
	vsKeys   []vref                                // the virtual host that began each VirtualService, in order
	vs       *patchlist.List[route.VirtualService] // shared with the configurations returned: never changed in place
	blockAll int                                   // "*" virtual hosts that are Istio's block_all
	// How the last update changed vs: some entries replaced (revised,
	// their indexes ascending) or the list replaced (relisted).
	revised  []int
	relisted bool

	hashes map[string]*balancer.ConsistentHash // the clusters' hash policies, from the routes
	// A cluster received reads the ClusterLoadAssignment of its own name
	// (as every cluster istiod sends does) unless these name it: the
	// clusters that read another, by the one they read, and the reverse.
	edsOther map[string][]string
	otherEDS map[string]string
	hosts    map[string]*hostState // the hosts of the clusters the routes use, with those clusters

	// The live hosts' entries, by their first cluster's name (sorted).
	seKeys []string
	se     []subset.ServiceEntry    // shared with the configurations returned: copied on change
	dr     []subset.DestinationRule // likewise
	stale  map[string]bool          // hosts whose entry in se is not hosts[h]'s (the endpoint fast path replaced it)
}

// listenerState is one listener's part of a translation.
type listenerState struct {
	l   *listenerIR
	rc  *routeIR   // its RouteConfiguration (inline or by RDS); nil: none yet
	out []vhostOut // rc's virtual hosts, translated for l
}

// vhost returns virtual host r as translated.
func (t *translation) vhost(r vref) *vhostOut { return &t.listeners[r.l].out[r.i] }

// used reports whether the routes use cluster cn (as the indexes are).
func (t *translation) used(cn string) bool {
	for r := range t.byHost.all(keyOf(cn).host) {
		if t.vhost(r).uses(cn) {
			return true
		}
	}
	return false
}

// istioListener returns the listener that Istio's conventions name after
// RouteConfiguration r, "" for none: a proxyless client's "host:port" for
// "outbound|port||host", a sidecar's "0.0.0.0_port" for "port".
func istioListener(r string) string {
	if host, port, ok := istioRouteParts(r); ok {
		return host + ":" + port
	}
	if isPort(r) {
		return "0.0.0.0_" + r
	}
	return ""
}

// isIstioListener reports whether n is istioListener(r), without
// building it.
func isIstioListener(n, r string) bool {
	if host, port, ok := istioRouteParts(r); ok {
		return len(n) == len(host)+1+len(port) && n[:len(host)] == host && n[len(host)] == ':' && n[len(host)+1:] == port
	}
	if isPort(r) {
		p, ok := strings.CutPrefix(n, "0.0.0.0_")
		return ok && p == r
	}
	return false
}

// istioRouteParts splits "outbound|port||host".
func istioRouteParts(r string) (host, port string, ok bool) {
	rest, ok := strings.CutPrefix(r, "outbound|")
	if !ok {
		return "", "", false
	}
	port, rest, ok = strings.Cut(rest, "|")
	if !ok || !isPort(port) {
		return "", "", false
	}
	host, ok = strings.CutPrefix(rest, "|")
	return host, port, ok && host != "" && !strings.Contains(host, "|")
}

// isPort reports whether s is a decimal number of 1 to 5 digits.
func isPort(s string) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// vref names a virtual host: its listener and its index there. Virtual
// hosts are assembled in this order.
type vref struct {
	l string
	i int
}

func (a vref) compare(b vref) int {
	if c := strings.Compare(a.l, b.l); c != 0 {
		return c
	}
	return cmp.Compare(a.i, b.i)
}

// changes names the resources that may have changed since the last
// update, by kind (a name whose resource is the same is harmless).
type changes struct {
	listeners, routes, clusters, endpoints map[string]bool
}

func (c *changes) note(set *map[string]bool, name string) {
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[name] = true
}

// add notes every change o notes.
func (c *changes) add(o *changes) {
	for _, s := range []struct{ to, from *map[string]bool }{
		{&c.listeners, &o.listeners}, {&c.routes, &o.routes}, {&c.clusters, &o.clusters}, {&c.endpoints, &o.endpoints},
	} {
		for n := range *s.from {
			c.note(s.to, n)
		}
	}
}

func newTranslation() *translation {
	return &translation{
		listeners: map[string]*listenerState{}, member: map[vref]vref{},
		hashes:   map[string]*balancer.ConsistentHash{},
		edsOther: map[string][]string{}, otherEDS: map[string]string{},
		hosts: map[string]*hostState{}, stale: map[string]bool{},
	}
}

// everything names every resource of rs and of the translation as changed.
func (t *translation) everything(rs *resources) *changes {
	ch := &changes{}
	for n := range rs.listeners {
		ch.note(&ch.listeners, n)
	}
	for n := range t.listeners {
		ch.note(&ch.listeners, n)
	}
	for n := range rs.clusters {
		ch.note(&ch.clusters, n)
	}
	for n := range t.otherEDS {
		ch.note(&ch.clusters, n)
	}
	for _, hs := range t.hosts {
		for _, in := range hs.inputs {
			ch.note(&ch.clusters, in.name)
		}
	}
	for n := range rs.endpoints {
		ch.note(&ch.endpoints, n)
	}
	for h := range t.hosts {
		t.stale[h] = true
	}
	return ch
}

// edsName is the ClusterLoadAssignment cluster c (received) reads, "" for
// none.
func edsName(c *clusterIR) string {
	if c.inline != nil {
		return ""
	}
	return c.edsName
}

// edsClusters returns the clusters of rs that read the
// ClusterLoadAssignment name, as the translation last updated knows them.
func (t *translation) edsClusters(rs *resources, name string) []string {
	out := t.edsOther[name]
	if c := rs.clusters[name]; c != nil && edsName(c) == name {
		out = append(slices.Clip(out), name)
	}
	return out
}

// edsHosts returns the hosts whose translation reads the
// ClusterLoadAssignment name.
func (t *translation) edsHosts(rs *resources, name string) []string {
	var out []string
	for _, cn := range t.edsClusters(rs, name) {
		if t.used(cn) {
			out = append(out, keyOf(cn).host)
		}
	}
	return out
}

// clustersOf returns the clusters the routes use of host h, sorted (a
// new slice).
func (t *translation) clustersOf(h string) []string {
	hs := t.hosts[h]
	if hs == nil {
		return nil
	}
	out := make([]string, len(hs.inputs))
	for i, in := range hs.inputs {
		out[i] = in.name
	}
	return out
}

// update brings the translation to the resources rs, of which ch names what
// changed since the last update, and returns the configuration. The slices
// of a configuration returned before are never modified: an unchanged list
// is the same slice (so the mesh's Update recognises it at once), a changed
// one a copy.
// vsRevision is how an update changed the configuration when it changed
// only the routes of some VirtualServices, each where it was: the
// VirtualServices at the indexes at (ascending) are now vals.
type vsRevision struct {
	at   []int
	vals []route.VirtualService
}

// update translates what ch says changed. It returns how the configuration
// changed when that is a vsRevision (one with nothing in it if nothing
// changed), nil otherwise: then config gives the new configuration to
// install.
func (t *translation) update(rs *resources, ch *changes) *vsRevision {
	se, dr, blockAll := t.se, t.dr, t.blockAll > 0
	t.revised, t.relisted = nil, false
	dirtyClusters := map[string]bool{}
	// Clusters: which ClusterLoadAssignment each reads.
	for cn := range ch.clusters {
		dirtyClusters[cn] = true
		eds := cn
		if c := rs.clusters[cn]; c != nil {
			eds = edsName(c)
		}
		if old, ok := t.otherEDS[cn]; ok {
			if old == eds {
				continue
			}
			removeFrom(t.edsOther, old, cn)
			delete(t.otherEDS, cn)
		}
		if eds != cn && eds != "" {
			t.otherEDS[cn] = eds
			addTo(t.edsOther, eds, cn)
		}
	}
	for name := range ch.endpoints {
		for _, cn := range t.edsClusters(rs, name) {
			dirtyClusters[cn] = true
		}
	}

	// Listeners: those changed and those whose RouteConfiguration did.
	lns := map[string]bool{}
	for n := range ch.listeners {
		lns[n] = true
	}
	for r := range ch.routes {
		for n := range t.routeUsers.all(r) {
			lns[n] = true
		}
		if n := istioListener(r); n != "" {
			if st := t.listeners[n]; st != nil && st.l.rdsName == r {
				lns[n] = true
			}
		}
	}
	seeds := map[string]bool{}  // hosts named before or after by the virtual hosts re-translated
	gone := map[vref]bool{}     // VirtualServices to assemble again, by the virtual host that began them
	usedBy := map[string]bool{} // clusters whose users changed
	for n := range lns {
		l := rs.listeners[n]
		var rc *routeIR
		if l != nil {
			rc = l.inline
			if rc == nil && l.rdsName != "" {
				rc = rs.routes[l.rdsName]
			}
		}
		old := t.listeners[n]
		if old != nil && old.l == l && old.rc == rc {
			continue
		}
		if old != nil {
			if old.l.rdsName != "" && !isIstioListener(n, old.l.rdsName) {
				t.routeUsers.remove(old.l.rdsName, n)
			}
			for i := range old.out {
				t.unlinkVHost(vref{n, i}, &old.out[i], seeds, gone, usedBy)
			}
			delete(t.listeners, n)
		}
		if l == nil {
			continue
		}
		st := &listenerState{l: l, rc: rc}
		t.listeners[n] = st
		if l.rdsName != "" && !isIstioListener(n, l.rdsName) {
			t.routeUsers.add(l.rdsName, n)
		}
		if rc == nil {
			continue
		}
		st.out = make([]vhostOut, len(rc.vhosts))
		for i := range rc.vhosts {
			st.out[i] = translateVHost(l, &rc.vhosts[i])
			t.linkVHost(vref{n, i}, &st.out[i], seeds, usedBy)
		}
	}
	if len(seeds) > 0 || len(gone) > 0 {
		t.assemble(seeds, gone)
	}

	// The clusters the routes use, and their hash policies.
	dirtyHosts := map[string]bool{}
	lists := map[string][]string{} // the hosts' clusters that changed
	for cn := range usedBy {
		h := keyOf(cn).host
		cs, ok := lists[h]
		if !ok {
			cs = t.clustersOf(h)
		}
		i, was := slices.BinarySearch(cs, cn)
		if now := t.used(cn); now != was {
			if now {
				cs = slices.Insert(cs, i, cn)
			} else {
				cs = slices.Delete(cs, i, i+1)
			}
			lists[h] = cs
			dirtyHosts[h] = true
		}
		// The first virtual host (in order) with a hash policy for the
		// cluster gives it.
		var hash *balancer.ConsistentHash
		var first vref
		for r := range t.byHost.all(h) {
			if hp := t.vhost(r).hash(cn); hp != nil && (hash == nil || r.compare(first) < 0) {
				hash, first = hp, r
			}
		}
		if hash != t.hashes[cn] {
			if hash == nil {
				delete(t.hashes, cn)
			} else {
				t.hashes[cn] = hash
			}
			dirtyHosts[h] = true
		}
	}
	for cn := range dirtyClusters {
		if t.used(cn) {
			dirtyHosts[keyOf(cn).host] = true
		}
	}
	for h := range t.stale {
		dirtyHosts[h] = true
	}
	t.stale = map[string]bool{} // not cleared: a map does not shrink, and everything marks every host
	t.updateHosts(rs, dirtyHosts, lists)

	if t.relisted || !sameSlice(se, t.se) || !sameSlice(dr, t.dr) || blockAll != (t.blockAll > 0) {
		return nil
	}
	rev := &vsRevision{at: t.revised}
	for _, i := range t.revised {
		rev.vals = append(rev.vals, *t.vs.At(i))
	}
	return rev
}

// config returns the configuration translated.
func (t *translation) config() switchyard.Config {
	cfg := switchyard.Config{VirtualServices: t.vs.Slice(), ServiceEntries: t.se, DestinationRules: t.dr}
	if t.blockAll > 0 {
		cfg.Sidecars = append(cfg.Sidecars, registryOnlySidecar)
	}
	return cfg
}

// unlinkVHost takes the virtual host r, translated as o, out of the
// indexes, noting the hosts it named, the VirtualService it was in and the
// clusters it used.
func (t *translation) unlinkVHost(r vref, o *vhostOut, seeds map[string]bool, gone map[vref]bool, usedBy map[string]bool) {
	if len(o.hosts) == 0 {
		if o.blocksAll {
			t.blockAll--
		}
		return
	}
	for _, h := range o.hosts {
		seeds[h] = true
		t.byHost.remove(h, r)
	}
	if c, ok := t.memberOf(r); ok {
		gone[c] = true
		delete(t.member, r)
	}
	for cn := range o.clusters() {
		usedBy[cn] = true
		t.byHost.remove(keyOf(cn).host, r)
	}
}

// memberOf returns the VirtualService (by the virtual host that began it)
// virtual host r is in, if it is in one: one r joined, or the one it
// began (most virtual hosts, which member does not hold).
func (t *translation) memberOf(r vref) (vref, bool) {
	if c, ok := t.member[r]; ok {
		return c, true
	}
	_, ok := slices.BinarySearchFunc(t.vsKeys, r, vref.compare)
	return r, ok
}

// linkVHost enters the virtual host r, translated as o, in the indexes.
func (t *translation) linkVHost(r vref, o *vhostOut, seeds map[string]bool, usedBy map[string]bool) {
	if len(o.hosts) == 0 {
		if o.blocksAll {
			t.blockAll++
		}
		return
	}
	for _, h := range o.hosts {
		seeds[h] = true
		t.byHost.add(h, r)
	}
	for cn := range o.clusters() {
		usedBy[cn] = true
		t.byHost.add(keyOf(cn).host, r)
	}
}

// assemble builds again the VirtualServices of the virtual hosts connected
// (through the hosts they name) to the hosts seeds, which the virtual hosts
// re-translated named before or name now, and drops those gone began.
func (t *translation) assemble(seeds map[string]bool, gone map[vref]bool) {
	// The virtual hosts so connected: no other's VirtualService depends
	// on them, nor theirs on another's.
	queue := make([]string, 0, len(seeds))
	visited := map[string]bool{}
	for h := range seeds {
		queue = append(queue, h)
		visited[h] = true
	}
	var comp []vref
	inComp := map[vref]bool{}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for r := range t.byHost.all(h) {
			o := t.vhost(r)
			if inComp[r] || !slices.Contains(o.hosts, h) {
				continue
			}
			inComp[r] = true
			comp = append(comp, r)
			for _, h2 := range o.hosts {
				if !visited[h2] {
					visited[h2] = true
					queue = append(queue, h2)
				}
			}
		}
	}
	for _, r := range comp {
		if c, ok := t.memberOf(r); ok {
			gone[c] = true
			delete(t.member, r)
		}
	}
	slices.SortFunc(comp, vref.compare)

	// The same assembly as a fresh translation's, over these alone.
	var keys []vref
	var made []route.VirtualService
	index := map[string]int{}
	for _, r := range comp {
		out := t.vhost(r)
		idx := -1
		for _, h := range out.hosts {
			if i, ok := index[h]; ok {
				idx = i
				break
			}
		}
		if idx < 0 {
			// A virtual host of its own: its slices as translated, so
			// that an unchanged one is the same VirtualService to the
			// mesh's Update.
			for _, h := range out.hosts {
				index[h] = len(made)
			}
			keys = append(keys, r)
			name, ns := out.vsName()
			made = append(made, route.VirtualService{
				Name: name, Namespace: ns, Hosts: out.hosts, HTTP: out.httpRoutes(),
			})
			continue
		}
		// The same service on another port: merged (the slices are
		// clipped, so appending copies them).
		t.member[r] = keys[idx]
		vs := &made[idx]
		for _, h := range out.hosts {
			if _, ok := index[h]; !ok {
				index[h] = idx
				vs.Hosts = append(vs.Hosts, h)
			}
		}
		vs.HTTP = append(vs.HTTP, out.httpRoutes()...)
	}

	// Into the list: copied, the old entries out, the new ones in.
	gk := make([]vref, 0, len(gone))
	for k := range gone {
		gk = append(gk, k)
	}
	slices.SortFunc(gk, vref.compare)
	if at, ok := sameEntries(t.vsKeys, gk, keys, vref.compare); ok {
		// The same VirtualServices, new routes (a push that changes one
		// service's routes): replaced in the list, which is not copied.
		t.vs = t.vs.With(at, made)
		t.revised = mergeIndexes(t.revised, at)
		return
	}
	var vs []route.VirtualService
	t.vsKeys, vs = mergeSorted(t.vsKeys, t.vs.Slice(), gk, keys, made, vref.compare)
	t.vs, t.relisted = patchlist.Of(vs), true
}

// sameEntries reports whether the entries gone are those new (both
// sorted by compare), all among keys (sorted likewise), and returns their
// indexes in keys.
func sameEntries[K any](keys, gone, newKeys []K, compare func(K, K) int) ([]int, bool) {
	if !slices.EqualFunc(gone, newKeys, func(a, b K) bool { return compare(a, b) == 0 }) {
		return nil, false
	}
	at := make([]int, len(newKeys))
	for i, k := range newKeys {
		j, found := slices.BinarySearchFunc(keys, k, compare)
		if !found {
			return nil, false
		}
		at[i] = j
	}
	return at, true
}

// mergeIndexes returns the union of the ascending indexes a and b,
// ascending.
func mergeIndexes(a, b []int) []int {
	if len(a) == 0 {
		return b
	}
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// mergeSorted returns copies of keys and vals (sorted by keys) without the
// entries of the keys gone and with the entries newKeys, newVals (sorted),
// nil when empty.
func mergeSorted[K, V any](keys []K, vals []V, gone, newKeys []K, newVals []V, compare func(K, K) int) ([]K, []V) {
	if len(gone) == 0 && len(newKeys) == 0 {
		return keys, vals
	}
	if at, ok := sameEntries(keys, gone, newKeys, compare); ok {
		// The same entries, new values: the keys stay, the values are
		// copied and replaced.
		ov := slices.Clone(vals)
		for i, j := range at {
			ov[j] = newVals[i]
		}
		return keys, ov
	}
	n := len(keys) - len(gone) + len(newKeys)
	if n <= 0 {
		return nil, nil
	}
	ok, ov := make([]K, 0, n), make([]V, 0, n)
	i := 0
	// Copy runs of kept entries between the keys gone and new, found by
	// binary search: a push that changes little costs copies, not
	// comparisons.
	next := func(k K) int {
		j, _ := slices.BinarySearchFunc(keys[i:], k, compare)
		return i + j
	}
	g, a := 0, 0
	for g < len(gone) || a < len(newKeys) {
		var k K
		isGone := a >= len(newKeys) || (g < len(gone) && compare(gone[g], newKeys[a]) <= 0)
		if isGone {
			k = gone[g]
		} else {
			k = newKeys[a]
		}
		j := next(k)
		ok, ov = append(ok, keys[i:j]...), append(ov, vals[i:j]...)
		i = j
		if isGone {
			if i < len(keys) && compare(keys[i], k) == 0 {
				i++ // dropped
			}
			g++
		} else {
			ok, ov = append(ok, newKeys[a]), append(ov, newVals[a])
			a++
		}
	}
	ok, ov = append(ok, keys[i:]...), append(ov, vals[i:]...)
	if len(ok) == 0 {
		return nil, nil
	}
	return ok, ov
}

// updateHosts translates again the hosts dirty (whose clusters, their
// resources or hash policies may have changed, or whose entries are
// stale) and updates their entries in se and dr. lists holds the hosts'
// clusters that changed, the others' are those of their hostState.
func (t *translation) updateHosts(rs *resources, dirty map[string]bool, lists map[string][]string) {
	var gone, keys []string
	var ses []subset.ServiceEntry
	var drs []subset.DestinationRule
	type entry struct {
		key string
		hs  *hostState
		se  subset.ServiceEntry
		dr  subset.DestinationRule
	}
	var add []entry
	for h := range dirty {
		cs, ok := lists[h]
		if !ok {
			cs = t.clustersOf(h)
		}
		p := t.hosts[h]
		var pse *subset.ServiceEntry
		var pdr *subset.DestinationRule
		if p != nil && p.live {
			// Its entries, before they leave the lists.
			pse, pdr = t.entry(h)
			gone = append(gone, p.inputs[0].name)
		}
		var hs *hostState
		if len(cs) > 0 {
			in := hostInputs(rs, cs, t.hashes)
			if p != nil && slices.Equal(p.inputs, in) {
				hs = p // the same resources: the same result
			} else {
				hs = buildHost(rs, h, cs, t.hashes)
				hs.inputs = in
				pse, pdr = hs.se, hs.dr
			}
			t.hosts[h] = hs
		} else {
			delete(t.hosts, h)
		}
		if hs != nil && hs.live {
			add = append(add, entry{cs[0], hs, *pse, *pdr})
		} else if hs != nil {
			hs.se, hs.dr = nil, nil
		}
	}
	if len(gone) == 0 && len(add) == 0 {
		return
	}
	slices.Sort(gone)
	slices.SortFunc(add, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range add {
		keys = append(keys, e.key)
		ses = append(ses, e.se)
		drs = append(drs, e.dr)
		// Its entries are in the lists now: entry finds them there.
		e.hs.se, e.hs.dr = nil, nil
	}
	oldKeys := t.seKeys
	t.seKeys, t.se = mergeSorted(oldKeys, t.se, gone, keys, ses, strings.Compare)
	_, t.dr = mergeSorted(oldKeys, t.dr, gone, keys, drs, strings.Compare)
}

// entry returns the ServiceEntry and DestinationRule of host h in force:
// nil for a host not in the configuration. They are shared: not to be
// modified.
func (t *translation) entry(h string) (*subset.ServiceEntry, *subset.DestinationRule) {
	hs := t.hosts[h]
	if hs == nil || !hs.live {
		return nil, nil
	}
	se, dr := hs.se, hs.dr
	if se == nil || dr == nil {
		i, _ := slices.BinarySearch(t.seKeys, hs.inputs[0].name)
		if se == nil {
			se = &t.se[i]
		}
		if dr == nil {
			dr = &t.dr[i]
		}
	}
	return se, dr
}

// addTo adds v to the set m[k].
func addTo[K, V comparable](m map[K][]V, k K, v V) {
	if !slices.Contains(m[k], v) {
		m[k] = append(m[k], v)
	}
}

// removeFrom removes v from the set m[k], and k when its set is empty.
func removeFrom[K, V comparable](m map[K][]V, k K, v V) {
	s := m[k]
	if i := slices.Index(s, v); i >= 0 {
		s[i] = s[len(s)-1]
		s = s[:len(s)-1]
	}
	if len(s) == 0 {
		delete(m, k)
	} else {
		m[k] = s
	}
}

// sets is a set of values by key, most of which hold one value: those are
// values of one, the others slices of more (a slice of one would cost an
// allocation per key).
type sets[V comparable] struct {
	one  map[string]V
	more map[string][]V
}

// add adds v to the set of k.
func (s *sets[V]) add(k string, v V) {
	if vs, ok := s.more[k]; ok {
		if !slices.Contains(vs, v) {
			s.more[k] = append(vs, v)
		}
		return
	}
	if s.one == nil {
		s.one = map[string]V{}
	}
	o, ok := s.one[k]
	if !ok {
		s.one[k] = v
		return
	}
	if o != v {
		if s.more == nil {
			s.more = map[string][]V{}
		}
		delete(s.one, k)
		s.more[k] = []V{o, v}
	}
}

// remove removes v from the set of k.
func (s *sets[V]) remove(k string, v V) {
	if vs, ok := s.more[k]; ok {
		if i := slices.Index(vs, v); i >= 0 {
			vs[i] = vs[len(vs)-1]
			vs = vs[:len(vs)-1]
		}
		if len(vs) == 1 {
			delete(s.more, k)
			s.one[k] = vs[0]
		} else {
			s.more[k] = vs
		}
		return
	}
	if o, ok := s.one[k]; ok && o == v {
		delete(s.one, k)
	}
}

// all returns the values of the set of k.
func (s *sets[V]) all(k string) iter.Seq[V] {
	return func(yield func(V) bool) {
		if vs, ok := s.more[k]; ok {
			for _, v := range vs {
				if !yield(v) {
					return
				}
			}
			return
		}
		if v, ok := s.one[k]; ok {
			yield(v)
		}
	}
}
