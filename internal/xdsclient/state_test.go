package xdsclient_test

import (
	"context"
	"net"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// TestConnectionState: the client says whether the server answers, since
// when, and why not: not connected before the first answer, connected once
// a response arrives, and not connected with the stream's error once the
// server is gone (the cached resources staying in force), then connected
// again after it returns.
func TestConnectionState(t *testing.T) { protocols(t, testConnectionState) }

func testConnectionState(t *testing.T) {
	cp := startControlPlane(t)
	c := newClient(t, cp, nil)
	if s := c.ConnectionState(); s.Connected || s.Server != cp.addr {
		t.Fatalf("before any watch: %+v", s)
	}
	cp.set("1", mesh(9080))
	ew := newRecorder(t)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", ew)
	ew.nextKind("changed")
	up := c.ConnectionState()
	if !up.Connected || up.Since.IsZero() || up.Err != nil {
		t.Fatalf("after a response: %+v", up)
	}

	cp.stop()
	ew.nextKind("ambient") // the client has failed to reach the server
	down := c.ConnectionState()
	if down.Connected || down.Err == nil || down.Since.Before(up.Since) {
		t.Fatalf("server gone: %+v (was %+v)", down, up)
	}
	if d := c.Dump(); len(d) != 1 || d[0].Resource == nil {
		t.Fatalf("the cached resource is gone: %+v", d)
	}

	cp.restart()
	cp.set("2", mesh(9081))
	ew.skipUntil("changed", "ambient")
	if again := c.ConnectionState(); !again.Connected || again.Err != nil || again.Since.Before(down.Since) {
		t.Fatalf("server back: %+v", again)
	}
}

// TestConnectionStateClose: a closed client is not connected, and says
// why.
func TestConnectionStateClose(t *testing.T) {
	protocols(t, func(t *testing.T) {
		cp := startControlPlane(t)
		cp.set("1", mesh(9080))
		c := newClient(t, cp, nil)
		w := newRecorder(t)
		watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", w)
		w.nextKind("changed")
		up := c.ConnectionState()
		c.Close()
		s := c.ConnectionState()
		if s.Connected || !isErr(s.Err, xdsclient.ErrClosed) || s.Since.Before(up.Since) {
			t.Fatalf("closed: %+v (was %+v)", s, up)
		}
	})
}

// TestConnectionStateFallback: a server refusing Delta is not a failure:
// until the State-of-the-World stream is answered the client is not
// connected, with no error and no time of change.
func TestConnectionStateFallback(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cp := startControlPlane(t) // no snapshot: the server never answers
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, sotwOnly{serverv3.NewServer(context.Background(), cp.cache, nil)})
	go srv.Serve(lis)
	defer srv.Stop()
	c := newClient(t, &controlPlane{addr: lis.Addr().String()}, nil)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", newRecorder(t))
	for deadline := time.Now().Add(eventually); c.Protocol() != xdsclient.ProtocolSotW; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no fallback")
		}
	}
	if s := c.ConnectionState(); s.Connected || s.Err != nil || !s.Since.IsZero() {
		t.Fatalf("after the fallback: %+v", s)
	}
}

// TestConnectionStateQuietDeltaReconnect: over Delta a server may rightly
// say nothing on a new stream (nothing changed since the versions the
// client gave in initial_resource_versions, as go-control-plane does); the
// client is connected all the same once its subscription has gone out on a
// stream to a server that has answered Delta before.
func TestConnectionStateQuietDeltaReconnect(t *testing.T) {
	cp := startControlPlane(t)
	cp.set("1", mesh(9080))
	c := newClient(t, cp, nil)
	w := newRecorder(t)
	watch(t, c, xdsclient.EndpointTypeURL, "reviews-v1", w)
	w.nextKind("changed")
	cp.stop()
	w.nextKind("ambient")
	down := c.ConnectionState()
	cp.restart()
	for deadline := time.Now().Add(eventually); !c.ConnectionState().Connected; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not connected again: %+v", c.ConnectionState())
		}
	}
	if s := c.ConnectionState(); s.Err != nil || s.Since.Before(down.Since) {
		t.Fatalf("reconnected: %+v", s)
	}
	for len(w.ch) > 0 { // the failed attempts while the server was away
		if e := <-w.ch; e.kind != "ambient" {
			t.Fatalf("event %s (%v)", e.kind, e.err)
		}
	}
}
