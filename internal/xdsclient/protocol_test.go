package xdsclient_test

// Protocol tests against a scripted ADS server on loopback: the test reads
// each request and writes each response itself.

import (
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/switchyard-go/switchyard/internal/clock"
	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// scripted is an ADS server that hands each stream to the test.
type scripted struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	t       *testing.T
	addr    string
	streams chan *scriptedStream
}

type scriptedStream struct {
	t   *testing.T
	s   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	end chan error
}

func startScripted(t *testing.T) *scripted {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss := &scripted{t: t, addr: lis.Addr().String(), streams: make(chan *scriptedStream, 10)}
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, ss)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return ss
}

func (ss *scripted) StreamAggregatedResources(s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	st := &scriptedStream{t: ss.t, s: s, end: make(chan error, 1)}
	ss.streams <- st
	select {
	case err := <-st.end:
		return err
	case <-s.Context().Done():
		return s.Context().Err()
	}
}

// stream waits for the client's next stream.
func (ss *scripted) stream() *scriptedStream {
	ss.t.Helper()
	return take(ss.t, ss.streams)
}

// recv reads the client's next request.
func (st *scriptedStream) recv() *discoveryv3.DiscoveryRequest {
	st.t.Helper()
	type result struct {
		r   *discoveryv3.DiscoveryRequest
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := st.s.Recv()
		ch <- result{r, err}
	}()
	res := take(st.t, ch)
	if res.err != nil {
		st.t.Fatalf("recv: %v", res.err)
	}
	return res.r
}

func (st *scriptedStream) send(typeURL, version, nonce string, resources ...*anypb.Any) {
	st.t.Helper()
	if err := st.s.Send(&discoveryv3.DiscoveryResponse{TypeUrl: typeURL, VersionInfo: version, Nonce: nonce, Resources: resources}); err != nil {
		st.t.Fatalf("send: %v", err)
	}
}

// close ends the stream with err.
func (st *scriptedStream) close(err error) { st.end <- err }

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func scriptedClient(t *testing.T, ss *scripted, mod func(*xdsclient.Config)) *xdsclient.Client {
	t.Helper()
	cfg := xdsclient.Config{
		Server:        xdsclient.ServerConfig{URI: ss.addr, DialOptions: fastDial()},
		Node:          &corev3.Node{Id: nodeID},
		ResourceTypes: xdsclient.DefaultResourceTypes(),
		Backoff:       func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) },
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := xdsclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestNACKDetail: one response with a valid resource, an invalid one, bytes
// that cannot be decoded, a resource of the wrong type and a duplicate. The
// NACK names each problem; the valid resource is applied.
func TestNACKDetail(t *testing.T) {
	ss := startScripted(t)
	c := scriptedClient(t, ss, nil)
	names := []string{"a", "b", "c"}
	recs := map[string]*recorder{}
	for _, n := range names {
		recs[n] = newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, n, recs[n])
	}
	st := ss.stream()
	req := st.recv()
	for len(req.GetResourceNames()) < 3 {
		req = st.recv()
	}
	garbage := &anypb.Any{TypeUrl: xdsclient.EndpointTypeURL, Value: []byte{0xff, 0xff, 0xff}}
	st.send(xdsclient.EndpointTypeURL, "7", "n1",
		mustAny(t, endpoints("a", 1, 80, 1)),
		mustAny(t, endpoints("b", 1, 80, 0)), // weight 0
		garbage,
		mustAny(t, cluster("x")),
		mustAny(t, endpoints("c", 1, 80, 1)),
		mustAny(t, endpoints("c", 1, 81, 1)),
	)
	nack := st.recv()
	if nack.GetResponseNonce() != "n1" || nack.GetVersionInfo() != "" || nack.GetErrorDetail() == nil {
		t.Fatalf("NACK nonce %q version %q detail %v", nack.GetResponseNonce(), nack.GetVersionInfo(), nack.GetErrorDetail())
	}
	if got := nack.GetErrorDetail().GetCode(); got != int32(codes.InvalidArgument) {
		t.Fatalf("NACK code %d", got)
	}
	detail := nack.GetErrorDetail().GetMessage()
	for _, want := range []string{
		`ClusterLoadAssignment "b": `, "LoadBalancingWeight",
		`ClusterLoadAssignment "c": sent more than once`,
		"resource [2]: cannot deserialise",
		"resource [3]: a type.googleapis.com/envoy.config.cluster.v3.Cluster in a response of type " + xdsclient.EndpointTypeURL,
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("NACK detail lacks %q:\n%s", want, detail)
		}
	}
	if strings.Contains(detail, `"a"`) {
		t.Errorf("NACK detail names the valid resource:\n%s", detail)
	}
	if p := port(t, recs["a"].nextKind("changed").data); p != 80 {
		t.Fatalf("port %d", p)
	}
	recs["b"].nextKind("error")
	recs["c"].nextKind("error")

	// The next good response is ACKed with its version and nonce.
	st.send(xdsclient.EndpointTypeURL, "8", "n2", mustAny(t, endpoints("a", 1, 80, 1)), mustAny(t, endpoints("b", 1, 80, 1)), mustAny(t, endpoints("c", 1, 80, 1)))
	ack := st.recv()
	if ack.GetVersionInfo() != "8" || ack.GetResponseNonce() != "n2" || ack.GetErrorDetail() != nil {
		t.Fatalf("ACK version %q nonce %q detail %v", ack.GetVersionInfo(), ack.GetResponseNonce(), ack.GetErrorDetail())
	}
	recs["b"].nextKind("changed")
	recs["c"].nextKind("changed")
}

// TestResourceEnvelope: resources wrapped in a discovery Resource (client
// feature xds.config.resource-in-sotw) are unwrapped; an empty envelope is a
// named error.
func TestResourceEnvelope(t *testing.T) {
	ss := startScripted(t)
	c := scriptedClient(t, ss, nil)
	a, b := newRecorder(t), newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "a", a)
	watch(t, c, xdsclient.ClusterTypeURL, "b", b)
	st := ss.stream()
	for req := st.recv(); len(req.GetResourceNames()) < 2; req = st.recv() {
	}
	st.send(xdsclient.ClusterTypeURL, "1", "n1",
		mustAny(t, &discoveryv3.Resource{Name: "a", Resource: mustAny(t, cluster("a"))}),
		mustAny(t, &discoveryv3.Resource{Name: "b"}),
	)
	if got := msg[*clusterv3.Cluster](t, a.nextKind("changed").data).GetName(); got != "a" {
		t.Fatalf("name %q", got)
	}
	if e := b.nextKind("error"); !strings.Contains(e.err.Error(), "carries no resource") {
		t.Fatalf("error %v", e.err)
	}
}

// TestReconnectResubscribes: the node goes on the first request of every
// stream and only there; a new stream re-requests every subscription with
// the last accepted version and no nonce; a response for an unknown type is
// neither ACKed nor NACKed.
func TestReconnectResubscribes(t *testing.T) {
	ss := startScripted(t)
	c := scriptedClient(t, ss, nil)
	lw, cw := newRecorder(t), newRecorder(t)
	watch(t, c, xdsclient.ListenerTypeURL, "l", lw)
	watch(t, c, xdsclient.ClusterTypeURL, "c", cw)

	st := ss.stream()
	got := map[string]*discoveryv3.DiscoveryRequest{}
	for i := 0; len(got) < 2 || len(got[xdsclient.ClusterTypeURL].GetResourceNames()) == 0 || len(got[xdsclient.ListenerTypeURL].GetResourceNames()) == 0; i++ {
		r := st.recv()
		if (i == 0) != (r.GetNode() != nil) {
			t.Fatalf("request %d: node %v", i, r.GetNode())
		}
		got[r.GetTypeUrl()] = r
	}
	st.send("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "s1", "ns", &anypb.Any{TypeUrl: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"})
	st.send(xdsclient.ClusterTypeURL, "c1", "n1", mustAny(t, cluster("c")))
	if ack := st.recv(); ack.GetTypeUrl() != xdsclient.ClusterTypeURL || ack.GetVersionInfo() != "c1" || ack.GetResponseNonce() != "n1" || ack.GetNode() != nil {
		t.Fatalf("after an unknown type and a cluster, request %v", ack)
	}
	cw.nextKind("changed")
	st.close(status.Error(codes.Unavailable, "max connection age"))

	st2 := ss.stream()
	got = map[string]*discoveryv3.DiscoveryRequest{}
	for i := 0; len(got) < 2; i++ {
		r := st2.recv()
		if (i == 0) != (r.GetNode() != nil) {
			t.Fatalf("new stream, request %d: node %v", i, r.GetNode())
		}
		if r.GetResponseNonce() != "" {
			t.Fatalf("new stream: nonce %q carried over", r.GetResponseNonce())
		}
		got[r.GetTypeUrl()] = r
	}
	if r := got[xdsclient.ClusterTypeURL]; r.GetVersionInfo() != "c1" || !slices.Equal(r.GetResourceNames(), []string{"c"}) {
		t.Fatalf("CDS resubscription: version %q names %v", r.GetVersionInfo(), r.GetResourceNames())
	}
	if r := got[xdsclient.ListenerTypeURL]; r.GetVersionInfo() != "" || !slices.Equal(r.GetResourceNames(), []string{"l"}) {
		t.Fatalf("LDS resubscription: version %q names %v", r.GetVersionInfo(), r.GetResourceNames())
	}
	// The stream ended after a response: no error reported.
	drainAll(t, c, cw, xdsclient.ClusterTypeURL, "c")
	lw.quiet()
}

// drainAll waits for queued callbacks (see drain) then asserts r is quiet.
func drainAll(t *testing.T, c *xdsclient.Client, r *recorder, typeURL, cached string) {
	t.Helper()
	drain(t, c, typeURL, cached)
	r.quiet()
}

// countingBackoff records its use.
type countingBackoff struct {
	mu          sync.Mutex
	next, reset int
}

func (b *countingBackoff) NextBackOff() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	return time.Second
}

func (b *countingBackoff) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reset++
}

func (b *countingBackoff) counts() (next, reset int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next, b.reset
}

// TestBackoff: a stream that ends before any response is a failed attempt
// (the client waits its backoff, on its clock, and tells the watchers); one
// that ended after a response resets the backoff and reconnects at once,
// silently.
func TestBackoff(t *testing.T) {
	clk := fakeClock()
	bo := &countingBackoff{}
	ss := startScripted(t)
	c := scriptedClient(t, ss, func(cfg *xdsclient.Config) {
		cfg.Clock = clk
		cfg.Backoff = func() backoff.BackOff { return bo }
	})
	w := newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "c", w)

	st := ss.stream()
	st.recv()
	st.close(status.Error(codes.Unavailable, "overloaded"))
	if e := w.nextKind("error"); !isErr(e.err, xdsclient.ErrUnreachable) || !strings.Contains(e.err.Error(), "overloaded") {
		t.Fatalf("error %v", e.err)
	}
	waitPending(t, clk, 1) // the backoff
	if next, _ := bo.counts(); next != 1 {
		t.Fatalf("NextBackOff called %d times", next)
	}
	select {
	case <-ss.streams:
		t.Fatal("reconnected before the backoff elapsed")
	default:
	}
	clk.Advance(time.Second)

	st = ss.stream()
	st.recv()
	st.send(xdsclient.ClusterTypeURL, "1", "n1", mustAny(t, cluster("c")))
	w.nextKind("changed")
	st.recv() // ACK
	_, resets := bo.counts()
	st.close(status.Error(codes.Unavailable, "max connection age"))
	st = ss.stream() // no clock advance needed
	st.recv()
	if next, reset := bo.counts(); next != 1 || reset != resets+1 {
		t.Fatalf("after a stream that answered: NextBackOff %d, Reset %d (was %d)", next, reset, resets)
	}
	drainAll(t, c, w, xdsclient.ClusterTypeURL, "c")
}

// waitPending waits until the fake clock holds n timers.
func waitPending(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	for deadline := time.Now().Add(eventually); clk.Pending() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers pending, want %d", clk.Pending(), n)
		}
	}
}

// TestNoDeletionWhenUnnamed: an LDS response that omits a listener but also
// holds a resource that cannot be named deletes nothing (it might be the
// omitted one).
func TestNoDeletionWhenUnnamed(t *testing.T) {
	ss := startScripted(t)
	c := scriptedClient(t, ss, nil)
	a, b := newRecorder(t), newRecorder(t)
	watch(t, c, xdsclient.ListenerTypeURL, "a", a)
	watch(t, c, xdsclient.ListenerTypeURL, "b", b)
	st := ss.stream()
	for req := st.recv(); len(req.GetResourceNames()) < 2; req = st.recv() {
	}
	st.send(xdsclient.ListenerTypeURL, "1", "n1", mustAny(t, listener("a", "r")), mustAny(t, listener("b", "r")))
	a.nextKind("changed")
	b.nextKind("changed")
	st.recv()
	st.send(xdsclient.ListenerTypeURL, "2", "n2", mustAny(t, listener("a", "r2")), &anypb.Any{TypeUrl: xdsclient.ListenerTypeURL, Value: []byte{0xff}})
	a.nextKind("changed")
	if nack := st.recv(); nack.GetErrorDetail() == nil || nack.GetVersionInfo() != "1" {
		t.Fatalf("request %v", nack)
	}
	drainAll(t, c, b, xdsclient.ListenerTypeURL, "a")
	// Without the unnamed resource, the omission is a deletion.
	st.send(xdsclient.ListenerTypeURL, "3", "n3", mustAny(t, listener("a", "r2")))
	if e := b.nextKind("error"); !isErr(e.err, xdsclient.ErrResourceNotFound) {
		t.Fatalf("error %v", e.err)
	}
}

// TestNewValidates: a bad Config is refused with every problem named.
func TestNewValidates(t *testing.T) {
	_, err := xdsclient.New(xdsclient.Config{
		WatchExpiryTimeout: -time.Second,
		ResourceTypes:      []xdsclient.ResourceType{xdsclient.ClusterType(nil), xdsclient.ClusterType(nil), {TypeURL: "x"}},
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"Server.URI is empty", "WatchExpiryTimeout -1s is negative", "ResourceTypes[1]: type " + xdsclient.ClusterTypeURL + " given twice", "ResourceTypes[2] (x): Decoder is nil"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	c := scriptedClient(t, startScripted(t), nil)
	for _, tc := range []struct {
		typeURL, name string
		want          string
	}{
		{"type.googleapis.com/foo", "a", `unknown resource type "type.googleapis.com/foo"`},
		{xdsclient.ClusterTypeURL, "", "empty name"},
	} {
		if _, err := c.Watch(tc.typeURL, tc.name, newRecorder(t)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Watch(%q, %q): %v, want %q", tc.typeURL, tc.name, err, tc.want)
		}
	}
	if _, err := c.Watch(xdsclient.ClusterTypeURL, "a", nil); err == nil {
		t.Error("nil watcher accepted")
	}
}

// TestDecoderPanic: a decoder that panics NACKs the resource instead of
// crashing the process.
func TestDecoderPanic(t *testing.T) {
	ss := startScripted(t)
	c := scriptedClient(t, ss, func(cfg *xdsclient.Config) {
		cfg.ResourceTypes = []xdsclient.ResourceType{{TypeURL: xdsclient.ClusterTypeURL, TypeName: "Cluster", Decoder: panicky{}}}
	})
	w := newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "c", w)
	st := ss.stream()
	st.recv()
	st.send(xdsclient.ClusterTypeURL, "1", "n1", mustAny(t, cluster("c")))
	if nack := st.recv(); !strings.Contains(nack.GetErrorDetail().GetMessage(), "decoder panicked: boom") {
		t.Fatalf("NACK %v", nack.GetErrorDetail())
	}
}

type panicky struct{}

func (panicky) Decode(*anypb.Any, xdsclient.DecodeOptions) (*xdsclient.DecodeResult, error) {
	panic(errors.New("boom"))
}

// TestUnchangedNotDecodedAgain: a State-of-the-World response re-sends
// every resource; those sent as cached are not decoded again, a changed one
// is, and one removed and sent again is.
func TestUnchangedNotDecodedAgain(t *testing.T) {
	ss := startScripted(t)
	var dec countingDecoder
	dec.inner = xdsclient.DefaultResourceTypes()[2].Decoder // Cluster
	c := scriptedClient(t, ss, func(cfg *xdsclient.Config) {
		cfg.ResourceTypes = []xdsclient.ResourceType{{TypeURL: xdsclient.ClusterTypeURL, TypeName: "Cluster", Decoder: &dec, AllResourcesRequiredInSotW: true}}
	})
	w := newRecorder(t)
	watch(t, c, xdsclient.ClusterTypeURL, "a", w)
	watch(t, c, xdsclient.ClusterTypeURL, "b", w)
	st := ss.stream()
	for r := st.recv(); len(r.GetResourceNames()) < 2; r = st.recv() {
	}
	a, b := cluster("a"), cluster("b")
	st.send(xdsclient.ClusterTypeURL, "1", "n1", mustAny(t, a), mustAny(t, b))
	st.recv() // ACK
	if got := dec.n.Load(); got != 2 {
		t.Fatalf("first response: %d decodes, want 2", got)
	}
	b2 := proto.Clone(b).(*clusterv3.Cluster)
	b2.ConnectTimeout = durationpb.New(3 * time.Second)
	st.send(xdsclient.ClusterTypeURL, "2", "n2", mustAny(t, a), mustAny(t, b2))
	st.recv()
	if got := dec.n.Load(); got != 3 {
		t.Fatalf("a re-sent, b changed: %d decodes in all, want 3", got)
	}
	st.send(xdsclient.ClusterTypeURL, "3", "n3", mustAny(t, b2)) // a removed
	st.recv()
	st.send(xdsclient.ClusterTypeURL, "4", "n4", mustAny(t, a), mustAny(t, b2))
	st.recv()
	if got := dec.n.Load(); got != 4 {
		t.Fatalf("a removed and sent again: %d decodes in all, want 4", got)
	}
}

// countingDecoder counts the resources it decodes.
type countingDecoder struct {
	inner xdsclient.Decoder
	n     atomic.Int64
}

func (d *countingDecoder) Decode(a *anypb.Any, opts xdsclient.DecodeOptions) (*xdsclient.DecodeResult, error) {
	d.n.Add(1)
	return d.inner.Decode(a, opts)
}
