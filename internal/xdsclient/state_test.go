package xdsclient_test

import (
	"testing"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// TestConnectionState: the client says whether the server answers, since
// when, and why not: not connected before the first answer, connected once
// a response arrives, and not connected with the stream's error once the
// server is gone (the cached resources staying in force), then connected
// again after it returns.
func TestConnectionState(t *testing.T) {
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
