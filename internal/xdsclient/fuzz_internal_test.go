package xdsclient

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Fuzzing the response handlers: arbitrary DiscoveryResponse and
// DeltaDiscoveryResponse bytes go through the handler of a client without a
// server, which watches one resource of each type by name (and, when the
// mode says so, every Cluster by wildcard). Each response is handled twice
// (the second time its resources are recalled from the memo), then the
// watches end. Nothing may panic, and the memo must stay consistent.
//
//	go test -run '^$' -fuzz '^FuzzDeltaResponse$' -fuzztime 60s ./internal/xdsclient/
//	go test -run '^$' -fuzz '^FuzzResponse$' -fuzztime 60s ./internal/xdsclient/

// fuzzNames are the names the fuzzed client watches, by type.
var fuzzNames = map[string]string{ListenerTypeURL: "l", RouteTypeURL: "r", ClusterTypeURL: "c", EndpointTypeURL: "e"}

// fuzzSeeds are resources of each type, valid and invalid.
func fuzzSeeds(tb testing.TB) []*anypb.Any {
	var out []*anypb.Any
	for _, m := range []proto.Message{
		&listenerv3.Listener{Name: "l"},
		&routev3.RouteConfiguration{Name: "r"},
		&clusterv3.Cluster{Name: "c"},
		&clusterv3.Cluster{Name: "other"},
		&clusterv3.Cluster{Name: "c", LbPolicy: clusterv3.Cluster_LbPolicy(99)}, // invalid
		&endpointv3.ClusterLoadAssignment{ClusterName: "e"},
	} {
		a, err := anypb.New(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func mustMarshal(tb testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fuzzClient is a bare client of the default types watching fuzzNames
// (each by Watch and in a NamesWatch, with "other"), and every Cluster if
// wildcard, with its subscriptions sent.
func fuzzClient(t *testing.T, delta, wildcard bool) (*bareClient, []func()) {
	b := newBareClient(t, DefaultResourceTypes())
	var cancels []func()
	for url, name := range fuzzNames {
		cancel, err := b.Watch(url, name, doneWatcher{})
		if err != nil {
			t.Fatal(err)
		}
		cancels = append(cancels, cancel)
		// The same name, and another, in a names watch of the type.
		s, err := b.WatchNames(url, doneNames{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{name, "other"} {
			if err := s.Add(n); err != nil {
				t.Fatal(err)
			}
		}
		cancels = append(cancels, s.Cancel)
	}
	if wildcard {
		cancel, err := b.WatchWildcard(ClusterTypeURL, doneWildcard{})
		if err != nil {
			t.Fatal(err)
		}
		cancels = append(cancels, cancel)
	}
	b.flush(delta)
	return b, cancels
}

// fuzzType is the type URL a mode byte forces on a response, if any.
func fuzzType(mode uint8) string {
	if mode&0x40 == 0 {
		return ""
	}
	return DefaultResourceTypes()[mode&3].TypeURL
}

func FuzzDeltaResponse(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i, a := range seeds {
		url := a.GetTypeUrl()
		name := fuzzNames[url]
		f.Add(mustMarshal(f, &discoveryv3.DeltaDiscoveryResponse{
			TypeUrl: url, Nonce: "n", SystemVersionInfo: "1",
			Resources:        []*discoveryv3.Resource{{Name: name, Version: "v", Resource: a}, {Name: "x", Resource: a}, {Name: name}},
			RemovedResources: []string{"c", "x", "*", ""},
		}), uint8(i)|0x80)
		f.Add(mustMarshal(f, &discoveryv3.DeltaDiscoveryResponse{
			TypeUrl: url, Nonce: "n", RemovedResources: []string{name},
		}), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		resp := new(discoveryv3.DeltaDiscoveryResponse)
		if proto.Unmarshal(data, resp) != nil {
			return
		}
		if url := fuzzType(mode); url != "" {
			resp.TypeUrl = url
		}
		b, cancels := fuzzClient(t, true, mode&0x80 != 0)
		for range 2 {
			b.wait(t, b.handleDeltaResponse(b.st, resp))
			if err := b.checkMemo(); err != nil {
				t.Fatal(err)
			}
			b.flush(true)
		}
		for _, cancel := range cancels {
			cancel()
		}
		b.flush(true)
		if err := b.checkMemo(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzResponse(f *testing.F) {
	seeds := fuzzSeeds(f)
	for i, a := range seeds {
		env, err := anypb.New(&discoveryv3.Resource{Name: fuzzNames[a.GetTypeUrl()], Resource: a})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mustMarshal(f, &discoveryv3.DiscoveryResponse{
			TypeUrl: a.GetTypeUrl(), VersionInfo: "1", Nonce: "n", Resources: []*anypb.Any{a, env, a},
		}), uint8(i)|0x80)
		f.Add(mustMarshal(f, &discoveryv3.DiscoveryResponse{TypeUrl: a.GetTypeUrl(), VersionInfo: "2", Nonce: "m"}), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		resp := new(discoveryv3.DiscoveryResponse)
		if proto.Unmarshal(data, resp) != nil {
			return
		}
		if url := fuzzType(mode); url != "" {
			resp.TypeUrl = url
		}
		b, cancels := fuzzClient(t, false, mode&0x80 != 0)
		for range 2 {
			b.wait(t, b.handleResponse(b.st, resp))
			if err := b.checkMemo(); err != nil {
				t.Fatal(err)
			}
			b.flush(false)
		}
		for _, cancel := range cancels {
			cancel()
		}
		b.flush(false)
		if err := b.checkMemo(); err != nil {
			t.Fatal(err)
		}
	})
}

type doneNames struct{}

func (doneNames) ResourceChanged(_ string, _ ResourceData, done func()) { done() }
func (doneNames) ResourceError(_ string, _ error, done func())          { done() }
func (doneNames) AmbientError(_ string, _ error, done func())           { done() }
