package xdsclient

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
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

// TestWatchCancelRacingResponses: watches start and end, and names join
// and leave a NamesWatch, while Delta and State-of-the-World responses
// add, change and remove the resources, and the sender builds requests;
// under -race nothing is read unguarded, and the memo stays consistent.
// Bounded in count: 4 watching goroutines × 300 watches or names (one also
// ending and starting the wildcard watch), 300 responses.
func TestWatchCancelRacingResponses(t *testing.T) {
	for _, delta := range []bool{true, false} {
		b := newBareClient(t, DefaultResourceTypes())
		cancelWild, err := b.WatchWildcard(ClusterTypeURL, doneWildcard{})
		if err != nil {
			t.Fatal(err)
		}
		b.flush(delta)
		names := []string{"a", "b", "c", "d"}
		anys := map[string][]*anypb.Any{}
		for _, n := range names {
			for i := range 2 {
				a, err := anypb.New(&clusterv3.Cluster{Name: n, ConnectTimeout: durationpb.New(time.Duration(i+1) * time.Second)})
				if err != nil {
					t.Fatal(err)
				}
				anys[n] = append(anys[n], a)
			}
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // also toggles the wildcard watch
			defer wg.Done()
			for i := range 300 {
				cancel, err := b.Watch(ClusterTypeURL, names[(i+1)%len(names)], doneWatcher{})
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					cancelWild()
					if cancelWild, err = b.WatchWildcard(ClusterTypeURL, doneWildcard{}); err != nil {
						t.Error(err)
						return
					}
				}
				cancel()
			}
		}()
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 300 {
					cancel, err := b.Watch(ClusterTypeURL, names[i%len(names)], doneWatcher{})
					if err != nil {
						t.Error(err)
						return
					}
					cancel()
				}
			}()
		}
		set, err := b.WatchNames(ClusterTypeURL, doneNames{})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { // names joining and leaving a NamesWatch
			defer wg.Done()
			for i := range 300 {
				if err := set.Add(names[(i+2)%len(names)]); err != nil {
					t.Error(err)
					return
				}
				set.Remove(names[(i+1)%len(names)])
			}
			set.Cancel()
		}()
		go func() {
			defer close(done)
			for i := range 300 {
				n, v := names[i%len(names)], (i/len(names))%2
				if delta {
					resp := &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: fmt.Sprint(i),
						Resources: []*discoveryv3.Resource{{Name: n, Version: fmt.Sprint(v), Resource: anys[n][v]}}}
					if i%5 == 0 {
						resp.RemovedResources = []string{names[(i+1)%len(names)]}
					}
					b.wait(t, b.handleDeltaResponse(b.st, resp))
				} else {
					var res []*anypb.Any
					for j, m := range names {
						if (i+j)%5 != 0 {
							res = append(res, anys[m][(v+j)%2])
						}
					}
					b.wait(t, b.handleResponse(b.st, &discoveryv3.DiscoveryResponse{TypeUrl: ClusterTypeURL, VersionInfo: fmt.Sprint(i), Nonce: fmt.Sprint(i), Resources: res}))
				}
				b.flush(delta)
			}
		}()
		wg.Wait()
		<-done
		if err := b.checkMemo(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeltaNACKNamesResponseAndVersion: a Delta response need not carry a
// system_version_info (it is for debugging); the NACK then names the
// response by its nonce, and the rejected resource's error carries the
// resource's own version.
func TestDeltaNACKNamesResponseAndVersion(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	if _, err := b.Watch(ClusterTypeURL, "a", doneWatcher{}); err != nil {
		t.Fatal(err)
	}
	b.flush(true)
	a, err := anypb.New(&clusterv3.Cluster{Name: "a", LbPolicy: clusterv3.Cluster_LbPolicy(99)})
	if err != nil {
		t.Fatal(err)
	}
	b.wait(t, b.handleDeltaResponse(b.st, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: "n7",
		Resources: []*discoveryv3.Resource{{Name: "a", Version: "v7", Resource: a}}}))
	reqs := b.deltaRequests(b.st)
	if len(reqs) != 1 || !strings.Contains(reqs[0].GetErrorDetail().GetMessage(), `Cluster response nonce "n7" rejected`) {
		t.Fatalf("NACK %v", reqs)
	}
	var ire *InvalidResourceError
	if d := b.Dump(); len(d) != 1 || !errors.As(d[0].Err, &ire) || ire.Version != "v7" {
		t.Fatalf("dump %+v", d)
	}
}

// TestDeltaAnswersBounded: answers waiting for the sender (blocked on a
// server that does not read) are bounded: the oldest ACKs go first, a NACK
// and the answer of the last response stay.
func TestDeltaAnswersBounded(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	if _, err := b.Watch(ClusterTypeURL, "a", doneWatcher{}); err != nil {
		t.Fatal(err)
	}
	b.flush(true)
	bad, err := anypb.New(&clusterv3.Cluster{Name: "a", LbPolicy: clusterv3.Cluster_LbPolicy(99)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		resp := &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: fmt.Sprint(i)}
		if i == 1 {
			resp.Resources = []*discoveryv3.Resource{{Name: "a", Version: "1", Resource: bad}}
		}
		b.wait(t, b.handleDeltaResponse(b.st, resp))
	}
	reqs := b.deltaRequests(b.st)
	if len(reqs) > maxDeltaAnswers {
		t.Fatalf("%d answers pending", len(reqs))
	}
	if reqs[0].GetResponseNonce() != "1" || reqs[0].GetErrorDetail() == nil {
		t.Fatalf("the NACK is lost: first answer %v", reqs[0])
	}
	if last := reqs[len(reqs)-1]; last.GetResponseNonce() != "999" {
		t.Fatalf("last answer %v", last)
	}
}

// TestDeltaVersionOfItsDigest: a Delta resource whose version is the
// hexadecimal SHA-256 of its bytes (go-control-plane versions every
// resource so) keeps no copy of that version, which the digest already
// holds: one string less per resource. Dump and the resubscription of a new
// stream still give every version as the server sent it, that one and any
// other (here one of the same length that is not the digest, and one
// that is the digest in capitals).
func TestDeltaVersionOfItsDigest(t *testing.T) {
	b := newBareClient(t, DefaultResourceTypes())
	for _, name := range []string{"a", "b", "c"} {
		if _, err := b.Watch(ClusterTypeURL, name, doneWatcher{}); err != nil {
			t.Fatal(err)
		}
	}
	b.flush(true)
	versions := map[string]string{}
	var res []*discoveryv3.Resource
	for i, name := range []string{"a", "b", "c"} {
		a, err := anypb.New(&clusterv3.Cluster{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(a.GetValue())
		v := hex.EncodeToString(sum[:])
		switch i {
		case 1:
			v = strings.Repeat("0", len(v))
		case 2:
			v = strings.ToUpper(v)
		}
		versions[name] = v
		res = append(res, &discoveryv3.Resource{Name: name, Version: v, Resource: a})
	}
	b.wait(t, b.handleDeltaResponse(b.st, &discoveryv3.DeltaDiscoveryResponse{TypeUrl: ClusterTypeURL, Nonce: "n1", Resources: res}))
	b.mu.Lock()
	for name, want := range map[string]bool{"a": true, "b": false, "c": false} {
		rs := b.state[ClusterTypeURL].resources[name]
		if got := rs.version == digestVersion; got != want {
			t.Errorf("%s: version %q, of its digest %v; want of its digest %v", name, rs.version, got, want)
		}
	}
	b.mu.Unlock()
	for _, s := range b.Dump() {
		if s.Version != versions[s.Name] {
			t.Errorf("dump of %s: version %q, want %q", s.Name, s.Version, versions[s.Name])
		}
	}
	b.streamEnded(b.st, errors.New("gone"), true)
	b.st = b.beginStream()
	var got map[string]string
	for _, r := range b.deltaRequests(b.st) {
		if r.GetTypeUrl() == ClusterTypeURL {
			got = r.GetInitialResourceVersions()
		}
	}
	if !maps.Equal(got, versions) {
		t.Fatalf("initial_resource_versions %v, want %v", got, versions)
	}
}
