package xdsclient_test

import (
	"fmt"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// TestResentUnchangedByDigest: the cache keeps a digest of each resource's
// bytes, not the bytes; a resource re-sent as cached, in a discovery
// Resource envelope or not, notifies no watcher, and a changed one does.
func TestResentUnchangedByDigest(t *testing.T) {
	ss := startScripted(t)
	c := scriptedClient(t, ss, nil)
	w := newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "a", w)
	st := ss.stream()
	for req := st.recv(); len(req.GetResourceNames()) < 1; req = st.recv() {
	}
	wrapped := func(m proto.Message) *anypb.Any {
		return mustAny(t, &discoveryv3.Resource{Name: "a", Resource: mustAny(t, m)})
	}
	a := cluster("a")
	st.send(xdsclient.ClusterTypeURL, "1", "n1", wrapped(a))
	w.nextKind("changed")
	st.recv() // the ACK
	// The same, in its envelope, then the same bytes bare.
	st.send(xdsclient.ClusterTypeURL, "2", "n2", wrapped(a))
	st.recv()
	st.send(xdsclient.ClusterTypeURL, "3", "n3", mustAny(t, a))
	st.recv()
	a2 := proto.Clone(a).(*clusterv3.Cluster)
	a2.ConnectTimeout = durationpb.New(3 * time.Second)
	st.send(xdsclient.ClusterTypeURL, "4", "n4", wrapped(a2))
	// The client reads a response only when the watchers are done with the
	// previous one: the next event is the change, or 2 or 3 notified.
	if got := msg[*clusterv3.Cluster](t, w.nextKind("changed").data).GetConnectTimeout().AsDuration(); got != 3*time.Second {
		t.Fatalf("a re-sent unchanged was notified (connect timeout %v)", got)
	}
	st.recv()
	w.quiet()
}

// namelessDecoder decodes as inner but leaves the naming to the envelope
// (a Delta Resource's name), as a Decoder may.
type namelessDecoder struct{ inner xdsclient.Decoder }

func (d namelessDecoder) Decode(a *anypb.Any, opts xdsclient.DecodeOptions) (*xdsclient.DecodeResult, error) {
	res, err := d.inner.Decode(a, opts)
	if res != nil {
		res.Name = ""
	}
	return res, err
}

// TestDeltaSameBytesOtherName: over Delta, a resource whose bytes are those
// of another one cached under another name (a decoder that leaves naming to
// the Resource) is that other resource, not a misnamed copy of the first:
// it is accepted and delivered, and the first stays cached.
func TestDeltaSameBytesOtherName(t *testing.T) {
	ss := startScriptedDelta(t)
	c := scriptedClient(t, &scripted{t: t, addr: ss.addr}, func(cfg *xdsclient.Config) {
		cfg.ResourceTypes = []xdsclient.ResourceType{{
			TypeURL: xdsclient.ClusterTypeURL, TypeName: "Cluster", AllResourcesRequiredInSotW: true,
			Decoder: namelessDecoder{xdsclient.DefaultResourceTypes()[2].Decoder},
		}}
	})
	wa, wb := newRecorder(t), newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "a", wa)
	watch(t, c, xdsclient.ClusterTypeURL, "b", wb)
	st := take(t, ss.streams)
	st.subscription(map[string]bool{}, has("a", "b"))
	shared := mustAny(t, cluster("shared"))
	for i, name := range []string{"a", "b"} {
		nonce := fmt.Sprint("n", i)
		st.send(&discoveryv3.DeltaDiscoveryResponse{
			TypeUrl: xdsclient.ClusterTypeURL, Nonce: nonce,
			Resources: []*discoveryv3.Resource{{Name: name, Version: "1", Resource: shared}},
		})
		if ack := st.recv(); ack.GetResponseNonce() != nonce || ack.GetErrorDetail() != nil {
			t.Fatalf("%s: answered with %v", name, ack)
		}
	}
	wa.nextKind("changed")
	wb.nextKind("changed")
	for _, name := range []string{"a", "b"} {
		if s := dumpOf(c, xdsclient.ClusterTypeURL, name); s.Status != xdsclient.StatusACKed || s.Resource == nil {
			t.Fatalf("%s: %s %v", name, s.Status, s.Err)
		}
	}
}
