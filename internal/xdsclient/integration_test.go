package xdsclient_test

// Integration tests against go-control-plane's own ADS server and snapshot
// cache on loopback TCP.

import (
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// watch starts a watch that must succeed.
func watch(t testing.TB, c *xdsclient.Client, typeURL, name string, w xdsclient.ResourceWatcher) func() {
	t.Helper()
	cancel, err := c.Watch(typeURL, name, w)
	if err != nil {
		t.Fatal(err)
	}
	return cancel
}

// drain waits until every callback queued so far has run: callbacks run in
// order, so once a fresh watch of a cached resource has heard of it, those
// queued before have been delivered.
func drain(t *testing.T, c *xdsclient.Client, typeURL, cachedName string) {
	t.Helper()
	r := newRecorder(t)
	cancel := watch(t, c, typeURL, cachedName, r)
	r.skipUntil("changed", "ambient")
	cancel()
}

func port(t testing.TB, d xdsclient.ResourceData) uint32 {
	t.Helper()
	cla := msg[*endpointv3.ClusterLoadAssignment](t, d)
	return cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
}

func isACK(typeURL, version string) func(*discoveryv3.DiscoveryRequest) bool {
	return func(r *discoveryv3.DiscoveryRequest) bool {
		return r.GetTypeUrl() == typeURL && r.GetVersionInfo() == version && r.GetResponseNonce() != "" && r.GetErrorDetail() == nil
	}
}

// TestInitialSync walks LDS → RDS → CDS → EDS by name, as the proxyless
// persona does, and checks what went on the wire: the node identity on the
// first request only, named subscriptions, ACKs with the version.
func TestInitialSync(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)

		lw := newRecorder(t)
		watch(t, c, xdsclient.ListenerTypeURL, "reviews:9080", lw)
		l := msg[*listenerv3.Listener](t, lw.nextKind("changed").data)
		var hcm hcmv3.HttpConnectionManager
		if err := l.GetApiListener().GetApiListener().UnmarshalTo(&hcm); err != nil {
			t.Fatal(err)
		}
		rw := newRecorder(t)
		watch(t, c, xdsclient.RouteTypeURL, hcm.GetRds().GetRouteConfigName(), rw)
		rc := msg[*routev3.RouteConfiguration](t, rw.nextKind("changed").data)
		var clusters []string
		for _, wc := range rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters() {
			clusters = append(clusters, wc.GetName())
		}
		if want := []string{"reviews-v1", "reviews-v2"}; !slices.Equal(clusters, want) {
			t.Fatalf("clusters %v, want %v", clusters, want)
		}
		wantEndpoints := map[string]int{"reviews-v1": 2, "reviews-v2": 3}
		for _, name := range clusters {
			cw := newRecorder(t)
			watch(t, c, xdsclient.ClusterTypeURL, name, cw)
			cl := msg[*clusterv3.Cluster](t, cw.nextKind("changed").data)
			if cl.GetType() != clusterv3.Cluster_EDS {
				t.Fatalf("cluster %s: type %v", name, cl.GetType())
			}
			ew := newRecorder(t)
			watch(t, c, xdsclient.EndpointTypeURL, name, ew)
			cla := msg[*endpointv3.ClusterLoadAssignment](t, ew.nextKind("changed").data)
			if n := len(cla.GetEndpoints()[0].GetLbEndpoints()); n != wantEndpoints[name] {
				t.Fatalf("%s: %d endpoints, want %d", name, n, wantEndpoints[name])
			}
		}
		for _, url := range []string{xdsclient.ListenerTypeURL, xdsclient.RouteTypeURL, xdsclient.ClusterTypeURL, xdsclient.EndpointTypeURL} {
			cp.waitRequest(isACK(url, "1"))
		}
		eds := cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return isACK(xdsclient.EndpointTypeURL, "1")(r) && len(r.GetResourceNames()) == 2
		})
		if want := []string{"reviews-v1", "reviews-v2"}; !slices.Equal(eds.GetResourceNames(), want) {
			t.Fatalf("EDS subscription %v, want %v", eds.GetResourceNames(), want)
		}

		reqs := cp.requests()
		n := reqs[0].GetNode()
		if n == nil {
			t.Fatal("first request carries no node")
		}
		if n.GetId() != nodeID || n.GetCluster() != "client" || n.GetLocality().GetSubZone() != "rack-7" ||
			n.GetMetadata().GetFields()["GENERATOR"].GetStringValue() != "grpc" {
			t.Fatalf("node %v", n)
		}
		if n.GetUserAgentName() != "switchyard" || n.GetUserAgentVersion() == "" {
			t.Fatalf("user agent %q %q", n.GetUserAgentName(), n.GetUserAgentVersion())
		}
		if !slices.Contains(n.GetClientFeatures(), xdsclient.FeatureResourceInSotW) {
			t.Fatalf("client features %v", n.GetClientFeatures())
		}
		for i, r := range reqs[1:] {
			if r.GetNode() != nil {
				t.Fatalf("request %d of the stream carries the node again", i+1)
			}
		}
	})
}

// TestPush: a new snapshot reaches the watcher of what changed, and only it.
func TestPush(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		ew, cw := newRecorder(t), newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", ew)
		watch(t, c, xdsclient.ClusterTypeURL, "reviews-v1", cw)
		if p := port(t, ew.nextKind("changed").data); p != 9080 {
			t.Fatalf("port %d", p)
		}
		cw.nextKind("changed")

		for v, p := range []uint32{9081, 9082, 9083} {
			version := string(rune('2' + v))
			cp.set(version, mesh(p))
			if got := port(t, ew.nextKind("changed").data); got != p {
				t.Fatalf("version %s: port %d, want %d", version, got, p)
			}
			cp.waitRequest(isACK(xdsclient.EndpointTypeURL, version))
			if sotw(t) { // Delta does not re-send the unchanged cluster
				cp.waitRequest(isACK(xdsclient.ClusterTypeURL, version))
			}
		}
		drain(t, c, xdsclient.ClusterTypeURL, "reviews-v1")
		cw.quiet() // the cluster was re-sent unchanged: no notification
	})
}

// TestNACK: an invalid resource is NACKed with the previous good version and
// a detail naming it and why; its watcher keeps the last good version (an
// ambient error), while a valid resource of the same response is applied.
func TestNACK(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		bad, good := newRecorder(t), newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", bad)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v2", good)
		bad.nextKind("changed")
		good.nextKind("changed")

		res := mesh(9081)
		res[resourcev3.EndpointType][0] = endpoints("reviews-v1", 2, 9081, 0) // weight 0: invalid
		cp.set("2", res)

		if p := port(t, good.nextKind("changed").data); p != 9081 {
			t.Fatalf("valid resource of the NACKed response: port %d, want 9081", p)
		}
		e := bad.nextKind("ambient")
		if !isErr(e.err, xdsclient.ErrInvalidResource) || !strings.Contains(e.err.Error(), "LoadBalancingWeight") {
			t.Fatalf("ambient error %v", e.err)
		}
		nack := cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return r.GetTypeUrl() == xdsclient.EndpointTypeURL && r.GetErrorDetail() != nil
		})
		if nack.GetVersionInfo() != "1" {
			t.Fatalf("NACK version %q, want the previous good one, 1", nack.GetVersionInfo())
		}
		detail := nack.GetErrorDetail().GetMessage()
		for _, want := range []string{`ClusterLoadAssignment "reviews-v1"`, "LoadBalancingWeight", `version "2"`} {
			if !strings.Contains(detail, want) {
				t.Fatalf("NACK detail %q lacks %q", detail, want)
			}
		}
		if strings.Contains(detail, "reviews-v2") {
			t.Fatalf("NACK detail %q names the valid resource", detail)
		}
		for _, s := range c.Dump() {
			if s.TypeURL == xdsclient.EndpointTypeURL && s.Name == "reviews-v1" {
				// The version of the last good one: the response's in
				// SotW, the resource's own in Delta.
				if s.Status != xdsclient.StatusNACKed || (sotw(t) && s.Version != "1") || s.Version == "" || port(t, s.Resource) != 9080 {
					t.Fatalf("dump of the NACKed resource: %s version %q", s.Status, s.Version)
				}
			}
		}

		cp.set("3", mesh(9082))
		if p := port(t, bad.nextKind("changed").data); p != 9082 {
			t.Fatalf("after the fix: port %d", p)
		}
		cp.waitRequest(isACK(xdsclient.EndpointTypeURL, "3"))
	})
}

// TestNACKValidator: the type's own validator rejects a resource; with no
// good version cached, the watcher hears a resource error.
func TestNACKValidator(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		res := mesh(9080)
		ring := cluster("reviews-v2")
		ring.LbPolicy = clusterv3.Cluster_RING_HASH
		res[resourcev3.ClusterType][1] = ring
		cp.set("1", res)
		c := newClient(t, cp, func(cfg *xdsclient.Config) {
			cfg.ResourceTypes[2] = xdsclient.ClusterType(func(c *clusterv3.Cluster) error {
				if c.GetLbPolicy() == clusterv3.Cluster_RING_HASH {
					return errLbPolicy
				}
				return nil
			})
		})
		w2 := newRecorder(t)
		watch(t, c, xdsclient.ClusterTypeURL, "reviews-v2", w2)
		e := w2.nextKind("error")
		if !isErr(e.err, xdsclient.ErrInvalidResource) || !strings.Contains(e.err.Error(), errLbPolicy.Error()) {
			t.Fatalf("resource error %v", e.err)
		}
		nack := cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return r.GetTypeUrl() == xdsclient.ClusterTypeURL && r.GetErrorDetail() != nil
		})
		if want := `Cluster "reviews-v2": ` + errLbPolicy.Error(); !strings.Contains(nack.GetErrorDetail().GetMessage(), want) {
			t.Fatalf("NACK detail %q lacks %q", nack.GetErrorDetail().GetMessage(), want)
		}
		if nack.GetVersionInfo() != "" {
			t.Fatalf("NACK of the first response: version %q, want empty (none accepted yet)", nack.GetVersionInfo())
		}
		// The other cluster of the same version is valid and usable.
		w1 := newRecorder(t)
		watch(t, c, xdsclient.ClusterTypeURL, "reviews-v1", w1)
		w1.nextKind("changed")
	})
}

var errLbPolicy = errorString("lb_policy: RING_HASH is not supported")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestRestart: the control plane goes away and comes back on the same port.
// Meanwhile the watchers keep their resources and hear ambient errors; then
// the client resubscribes (node again, last version, no nonce) and nothing
// is deleted; later pushes arrive.
func TestRestart(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		lw, ew := newRecorder(t), newRecorder(t)
		watch(t, c, xdsclient.ListenerTypeURL, "reviews:9080", lw)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", ew)
		lw.nextKind("changed")
		ew.nextKind("changed")
		cp.waitRequest(isACK(xdsclient.EndpointTypeURL, "1"))

		cp.stop()
		if e := ew.nextKind("ambient"); !isErr(e.err, xdsclient.ErrUnreachable) {
			t.Fatalf("ambient error %v", e.err)
		}
		lw.skipUntil("ambient")
		before := len(cp.requests())
		cp.restart()

		first := cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			reqs := cp.requests()
			return len(reqs) > before && r == reqs[before]
		})
		if first.GetNode().GetId() != nodeID {
			t.Fatal("first request of the new stream carries no node")
		}
		resub := cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return slices.Index(cp.requests(), r) >= before && r.GetTypeUrl() == xdsclient.EndpointTypeURL && r.GetResponseNonce() == ""
		})
		if !slices.Equal(resub.GetResourceNames(), []string{"reviews-v1"}) {
			t.Fatalf("resubscription %v", resub.GetResourceNames())
		}
		if d := cp.deltaOf(resub); d != nil {
			// Delta: the version held of each resource, so that the
			// server need not send it again.
			if iv := d.GetInitialResourceVersions(); len(iv) != 1 || iv["reviews-v1"] == "" {
				t.Fatalf("resubscription: initial_resource_versions %v", iv)
			}
		} else if resub.GetVersionInfo() != "1" {
			t.Fatalf("resubscription: version %q", resub.GetVersionInfo())
		}
		cp.set("2", mesh(9081))
		if p := port(t, ew.skipUntil("changed", "ambient").data); p != 9081 {
			t.Fatalf("push after restart: port %d", p)
		}
		// The listener was re-sent unchanged: ambient errors at most, no deletion.
		drain(t, c, xdsclient.ListenerTypeURL, "reviews:9080")
		for {
			select {
			case e := <-lw.ch:
				if e.kind != "ambient" {
					t.Fatalf("listener watcher: %s (%v)", e.kind, e.err)
				}
				continue
			default:
			}
			break
		}
	})
}

// TestDoesNotExist: a resource the server does not send is reported missing
// once the expiry timer, started with the request, runs out; one that
// arrives stops its timer.
func TestDoesNotExist(t *testing.T) {
	protocols(t, func(t *testing.T) {
		clk := fakeClock()
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, func(cfg *xdsclient.Config) { cfg.Clock = clk })
		present := newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", present)
		present.nextKind("changed")
		if n := clk.Pending(); n != 0 {
			t.Fatalf("%d timers pending after the resource arrived", n)
		}

		missing := newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v9", missing)
		cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return slices.Contains(r.GetResourceNames(), "reviews-v9")
		})
		clk.Advance(xdsclient.DefaultWatchExpiryTimeout - time.Millisecond)
		if n := clk.Pending(); n != 1 {
			t.Fatalf("%d timers pending before expiry, want 1", n)
		}
		clk.Advance(time.Millisecond)
		e := missing.nextKind("error")
		if !isErr(e.err, xdsclient.ErrResourceNotFound) || !strings.Contains(e.err.Error(), `"reviews-v9"`) {
			t.Fatalf("error %v", e.err)
		}
		present.quiet()

		// A watcher arriving later hears at once that it does not exist.
		late := newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v9", late)
		if e := late.nextKind("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) {
			t.Fatalf("late watcher: %v", e.err)
		}

		// It appears after all.
		res := mesh(9080)
		res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType], endpoints("reviews-v9", 1, 9090, 1))
		cp.set("2", res)
		if p := port(t, missing.nextKind("changed").data); p != 9090 {
			t.Fatalf("port %d", p)
		}
	})
}

// TestExpiryPausedWhileDisconnected: the expiry timer runs only while a
// stream is up, so an unreachable control plane does not make resources
// "not exist" (gRFC A57).
func TestExpiryPausedWhileDisconnected(t *testing.T) {
	protocols(t, func(t *testing.T) {
		clk := fakeClock()
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, func(cfg *xdsclient.Config) { cfg.Clock = clk })
		missing := newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v9", missing)
		cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return slices.Contains(r.GetResourceNames(), "reviews-v9")
		})
		cp.stop()
		// The stream ends, the next attempt fails: the watcher, with nothing
		// cached, hears that the control plane is unreachable.
		if e := missing.nextKind("error"); !isErr(e.err, xdsclient.ErrUnreachable) {
			t.Fatalf("error %v", e.err)
		}
		// Well past the expiry, through several reconnection attempts.
		for range 20 {
			clk.Advance(time.Second)
		}
		before := len(cp.requests())
		cp.restart()
		for deadline := time.Now().Add(eventually); len(cp.requests()) == before; {
			if time.Now().After(deadline) {
				t.Fatal("the client did not reconnect")
			}
			clk.Advance(5 * time.Millisecond) // the reconnection backoff
			time.Sleep(time.Millisecond)
		}
		for len(missing.ch) > 0 {
			if e := <-missing.ch; e.kind != "error" || !isErr(e.err, xdsclient.ErrUnreachable) {
				t.Fatalf("while the control plane was unreachable: %s (%v)", e.kind, e.err)
			}
		}
		cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return slices.Index(cp.requests(), r) >= before && slices.Contains(r.GetResourceNames(), "reviews-v9")
		})
		clk.Advance(xdsclient.DefaultWatchExpiryTimeout)
		if e := missing.skipUntil("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) {
			t.Fatalf("error %v", e.err)
		}
	})
}

// TestSotWDeletion: a Cluster absent from a CDS response has been deleted;
// a ClusterLoadAssignment absent from an EDS response has not.
func TestSotWDeletion(t *testing.T) {
	t.Run("SotW", func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		kept, gone, eds := newRecorder(t), newRecorder(t), newRecorder(t)
		watch(t, c, xdsclient.ClusterTypeURL, "reviews-v1", kept)
		watch(t, c, xdsclient.ClusterTypeURL, "reviews-v2", gone)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v2", eds)
		kept.nextKind("changed")
		gone.nextKind("changed")
		eds.nextKind("changed")

		res := mesh(9080)
		res[resourcev3.ClusterType] = res[resourcev3.ClusterType][:1]
		res[resourcev3.EndpointType] = res[resourcev3.EndpointType][:1]
		cp.set("2", res)
		e := gone.nextKind("error")
		if !isErr(e.err, xdsclient.ErrResourceNotFound) || !strings.Contains(e.err.Error(), "removed") {
			t.Fatalf("error %v", e.err)
		}
		cp.waitRequest(isACK(xdsclient.EndpointTypeURL, "2"))
		drain(t, c, xdsclient.ClusterTypeURL, "reviews-v1")
		kept.quiet()
		eds.quiet()
		if s := dumpOf(c, xdsclient.ClusterTypeURL, "reviews-v2"); s.Status != xdsclient.StatusDoesNotExist || s.Resource != nil {
			t.Fatalf("removed cluster: %s, cached %v", s.Status, s.Resource)
		}
		late := newRecorder(t)
		watch(t, c, xdsclient.ClusterTypeURL, "reviews-v2", late)
		if e := late.nextKind("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) {
			t.Fatalf("late watcher: %v", e.err)
		}
	})
}

// TestIgnoreResourceDeletion: with the server feature, an absent Cluster is
// kept, and its watcher told so.
func TestIgnoreResourceDeletion(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, func(cfg *xdsclient.Config) { cfg.Server.IgnoreResourceDeletion = true })
		w := newRecorder(t)
		watch(t, c, xdsclient.ClusterTypeURL, "reviews-v2", w)
		w.nextKind("changed")
		res := mesh(9080)
		res[resourcev3.ClusterType] = res[resourcev3.ClusterType][:1]
		cp.set("2", res)
		if e := w.nextKind("ambient"); !strings.Contains(e.err.Error(), "deletion ignored") {
			t.Fatalf("ambient error %v", e.err)
		}
		cp.set("3", mesh(9080)) // back, unchanged: no notification
		cp.waitRequest(isACK(xdsclient.ClusterTypeURL, "3"))
		drain(t, c, xdsclient.ClusterTypeURL, "reviews-v2")
		w.quiet()
		for _, s := range c.Dump() {
			if s.Name == "reviews-v2" && s.TypeURL == xdsclient.ClusterTypeURL && s.Status != xdsclient.StatusACKed {
				t.Fatalf("status %s", s.Status)
			}
		}
	})
}

// TestWildcard: the sidecar persona's wildcard LDS and CDS: an empty
// subscription, the whole set first, then additions and removals.
func TestWildcard(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		lw, cw := newRecorder(t), newRecorder(t)
		if _, err := c.WatchWildcard(xdsclient.ListenerTypeURL, lw); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WatchWildcard(xdsclient.ClusterTypeURL, cw); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WatchWildcard(xdsclient.EndpointTypeURL, cw); err == nil {
			t.Fatal("wildcard EDS accepted")
		}
		l := lw.nextKind("set")
		if len(l.changed) != 1 || l.changed["reviews:9080"] == nil || l.removed != nil {
			t.Fatalf("listeners %v removed %v", l.changed, l.removed)
		}
		if cl := cw.nextKind("set"); len(cl.changed) != 2 {
			t.Fatalf("clusters %v", cl.changed)
		}
		lds := cp.waitRequest(isACK(xdsclient.ListenerTypeURL, "1"))
		// SotW: legacy wildcard (no names); Delta: "*" explicitly.
		if want := map[bool][]string{false: nil, true: {"*"}}[delta(t)]; !slices.Equal(lds.GetResourceNames(), want) {
			t.Fatalf("wildcard LDS names %v, want %v", lds.GetResourceNames(), want)
		}

		named := newRecorder(t)
		watch(t, c, xdsclient.ListenerTypeURL, "reviews:9080", named)
		named.nextKind("changed") // from the wildcard set

		res := mesh(9080)
		res[resourcev3.ListenerType] = []types.Resource{listener("ratings:9080", "route-ratings")}
		res[resourcev3.ClusterType] = res[resourcev3.ClusterType][:1]
		cp.set("2", res)
		l = lw.nextKind("set")
		if len(l.changed) != 1 || l.changed["ratings:9080"] == nil || !slices.Equal(l.removed, []string{"reviews:9080"}) {
			t.Fatalf("listeners %v removed %v", l.changed, l.removed)
		}
		if cl := cw.nextKind("set"); len(cl.changed) != 0 || !slices.Equal(cl.removed, []string{"reviews-v2"}) {
			t.Fatalf("clusters %v removed %v", cl.changed, cl.removed)
		}
		if e := named.nextKind("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) {
			t.Fatalf("named watcher: %v", e.err)
		}
		// A late wildcard watcher gets the current set at once.
		late := newRecorder(t)
		if _, err := c.WatchWildcard(xdsclient.ListenerTypeURL, late); err != nil {
			t.Fatal(err)
		}
		if e := late.nextKind("set"); len(e.changed) != 1 || e.changed["ratings:9080"] == nil {
			t.Fatalf("late wildcard watcher: %v", e.changed)
		}
	})
}

// TestCancel: a cancelled watcher hears nothing more; the last watcher of a
// resource going away unsubscribes it on the wire; a cancel from inside a
// callback does not deadlock.
func TestCancel(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		a, b := newRecorder(t), newRecorder(t)
		cancelA := watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", a)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", b)
		a.nextKind("changed")
		b.nextKind("changed")
		cancelA()
		cancelA() // idempotent
		cp.set("2", mesh(9081))
		b.nextKind("changed")
		drain(t, c, xdsclient.EndpointTypeURL, "reviews-v1")
		a.quiet()

		// A callback already queued when its watch is cancelled never runs: a
		// blocked callback holds the queue while a cached delivery to a2 waits
		// behind it.
		blocker := &blocking{release: make(chan struct{}), entered: make(chan struct{})}
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", blocker)
		wait(t, blocker.entered)
		a2 := newRecorder(t)
		cancelA2 := watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", a2)
		cancelA2()
		close(blocker.release)
		drain(t, c, xdsclient.EndpointTypeURL, "reviews-v1")
		a2.quiet()

		// Cancelling from inside the callback.
		self := &cancelling{cancel: make(chan func(), 1), got: make(chan struct{})}
		self.cancel <- watch(t, c, xdsclient.EndpointTypeURL, "reviews-v2", self)
		wait(t, self.got)
		cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
			return r.GetTypeUrl() == xdsclient.EndpointTypeURL && slices.Equal(r.GetResourceNames(), []string{"reviews-v1"}) &&
				hasEarlier(cp.requests(), r, "reviews-v2")
		})
	})
}

// hasEarlier reports whether a request before r subscribed to name.
func hasEarlier(reqs []*discoveryv3.DiscoveryRequest, r *discoveryv3.DiscoveryRequest, name string) bool {
	for _, q := range reqs[:slices.Index(reqs, r)] {
		if slices.Contains(q.GetResourceNames(), name) {
			return true
		}
	}
	return false
}

type blocking struct {
	release, entered chan struct{}
	once             bool
}

func (w *blocking) ResourceChanged(_ xdsclient.ResourceData, done func()) {
	if !w.once {
		w.once = true
		close(w.entered)
		<-w.release
	}
	done()
}
func (w *blocking) ResourceError(_ error, done func()) { done() }
func (w *blocking) AmbientError(_ error, done func())  { done() }

type cancelling struct {
	cancel chan func()
	got    chan struct{}
}

func (w *cancelling) ResourceChanged(_ xdsclient.ResourceData, done func()) {
	(<-w.cancel)() // a second call would block here: the test would hang
	close(w.got)
	done()
}
func (w *cancelling) ResourceError(_ error, done func()) { done() }
func (w *cancelling) AmbientError(_ error, done func())  { done() }

// TestFlowControl: the client reads the next response only when the
// watchers are done with the current one.
func TestFlowControl(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		w := newRecorder(t)
		w.hold = make(chan func(), 10)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", w)
		w.nextKind("changed")
		done := take(t, w.hold)
		cp.waitRequest(isACK(xdsclient.EndpointTypeURL, "1")) // ACKs do not wait
		cp.set("2", mesh(9081))
		time.Sleep(50 * time.Millisecond) // room for a bug to show
		for _, r := range cp.requests() {
			if isACK(xdsclient.EndpointTypeURL, "2")(r) {
				t.Fatal("version 2 read before the watcher was done with version 1")
			}
		}
		done()
		if p := port(t, w.nextKind("changed").data); p != 9081 {
			t.Fatalf("port %d", p)
		}
		take(t, w.hold)()
		cp.waitRequest(isACK(xdsclient.EndpointTypeURL, "2"))
	})
}

// TestClose: Close ends every goroutine, is idempotent, and no watcher is
// called afterwards.
func TestClose(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		ignore := goleak.IgnoreCurrent()
		c := newClient(t, cp, nil)
		w := newRecorder(t)
		w.hold = make(chan func(), 10)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", w)
		w.nextKind("changed")
		take(t, w.hold)()
		cp.set("2", mesh(9081))
		w.nextKind("changed") // its done is never called: Close must not wait for it
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		cp.set("3", mesh(9082))
		if _, err := c.Watch(xdsclient.EndpointTypeURL, "reviews-v1", w); !isErr(err, xdsclient.ErrClosed) {
			t.Fatalf("watch after close: %v", err)
		}
		cp.stop() // the server's stream goroutines end too
		goleak.VerifyNone(t, ignore)
		w.quiet()
	})
}

// TestFlapping: the control plane stops and starts repeatedly, with pushes
// (one of them invalid) in between; the watchers' view is always the last
// good version, and nothing is ever deleted.
func TestFlapping(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		names := map[string]string{
			xdsclient.ListenerTypeURL: "reviews:9080",
			xdsclient.RouteTypeURL:    "route-reviews",
			xdsclient.ClusterTypeURL:  "reviews-v1",
			xdsclient.EndpointTypeURL: "reviews-v1",
		}
		recs := map[string]*recorder{}
		for url, name := range names {
			recs[url] = newRecorder(t)
			watch(t, c, url, name, recs[url])
			recs[url].nextKind("changed")
		}
		ew := recs[xdsclient.EndpointTypeURL]
		cur := uint32(9080)
		// waitPort applies EDS events until the watcher's view is port p.
		waitPort := func(p uint32) {
			t.Helper()
			for cur != p {
				e := ew.next()
				switch e.kind {
				case "changed":
					cur = port(t, e.data)
				case "ambient":
				default:
					t.Fatalf("EDS watcher: %s (%v)", e.kind, e.err)
				}
			}
		}
		good := uint32(9080)
		for round := range 6 {
			cp.stop()
			cp.restart()
			version := string(rune('a' + round))
			switch round % 3 {
			case 0: // a valid push
				good++
				cp.set(version, mesh(good))
			case 1: // an invalid push: NACKed, the view stays
				res := mesh(good + 100)
				res[resourcev3.EndpointType][0] = endpoints("reviews-v1", 2, good+100, 0)
				cp.set(version, res)
				cp.waitRequest(func(r *discoveryv3.DiscoveryRequest) bool {
					return r.GetTypeUrl() == xdsclient.EndpointTypeURL && r.GetErrorDetail() != nil &&
						strings.Contains(r.GetErrorDetail().GetMessage(), `"`+version+`"`)
				})
			case 2: // no push
			}
			waitPort(good)
			if s := dumpOf(c, xdsclient.EndpointTypeURL, "reviews-v1"); s.Resource == nil || port(t, s.Resource) != good {
				t.Fatalf("round %d: cached view is not the last good version", round)
			}
		}
		// Nothing was ever deleted or declared invalid without a fallback.
		drain(t, c, xdsclient.ListenerTypeURL, "reviews:9080")
		for url, r := range recs {
			for len(r.ch) > 0 {
				if e := <-r.ch; e.kind == "error" {
					t.Fatalf("%s watcher: resource error %v", url, e.err)
				}
			}
		}
	})
}

func dumpOf(c *xdsclient.Client, typeURL, name string) xdsclient.ResourceStatus {
	for _, s := range c.Dump() {
		if s.TypeURL == typeURL && s.Name == name {
			return s
		}
	}
	return xdsclient.ResourceStatus{}
}
