package xdsclient

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestDeltaEveryResponseAnswered: over Delta each response is ACKed or
// NACKed by its own nonce, in order, even when a second response is handled
// before the sender has answered the first: a NACK is not lost under the
// ACK of the next response (whose resources are others).
func TestDeltaEveryResponseAnswered(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	for _, name := range []string{"a", "b"} {
		if _, err := b.Watch(ClusterTypeURL, name, doneWatcher{}); err != nil {
			t.Fatal(err)
		}
	}
	b.flush(true)
	res := func(c *clusterv3.Cluster) []*discoveryv3.Resource {
		a, err := anypb.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return []*discoveryv3.Resource{{Name: c.GetName(), Version: "1", Resource: a}}
	}
	bad := &clusterv3.Cluster{Name: "a", LbPolicy: clusterv3.Cluster_LbPolicy(99)}
	b.wait(t, b.handleDeltaResponse(b.st, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: "n1", Resources: res(bad)}))
	b.wait(t, b.handleDeltaResponse(b.st, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: "n2", Resources: res(&clusterv3.Cluster{Name: "b"})}))
	reqs := b.deltaRequests(b.st)
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the NACK of n1 and the ACK of n2: %v", len(reqs), reqs)
	}
	if r := reqs[0]; r.GetResponseNonce() != "n1" || r.GetErrorDetail() == nil || len(r.GetResourceNamesSubscribe())+len(r.GetResourceNamesUnsubscribe()) > 0 {
		t.Fatalf("first answer %v", r)
	}
	if r := reqs[1]; r.GetResponseNonce() != "n2" || r.GetErrorDetail() != nil || len(r.GetResourceNamesSubscribe())+len(r.GetResourceNamesUnsubscribe()) > 0 {
		t.Fatalf("second answer %v", r)
	}
	if reqs := b.deltaRequests(b.st); len(reqs) != 0 {
		t.Fatalf("answered again: %v", reqs)
	}
}
