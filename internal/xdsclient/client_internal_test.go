package xdsclient

import (
	"testing"
	"time"
	"unsafe"
)

// TestDefaultBackoff: gRPC's connection backoff — 1 s, ×1.6 per failure,
// ±20 % jitter, capped at 120 s, never giving up.
func TestDefaultBackoff(t *testing.T) {
	bo := defaultBackoff()
	bo.Reset()
	want := float64(time.Second)
	for i := range 40 {
		d := float64(bo.NextBackOff())
		if d < 0.8*want || d > 1.2*want {
			t.Fatalf("attempt %d: %v, want %v ±20%%", i, time.Duration(d), time.Duration(want))
		}
		want = min(want*1.6, float64(120*time.Second))
	}
	bo.Reset()
	if d := bo.NextBackOff(); d < 800*time.Millisecond || d > 1200*time.Millisecond {
		t.Fatalf("after Reset: %v", d)
	}
}

// TestResourceStateSize: one resourceState exists per resource of a mesh
// (issue 18): what only some resources need, or need for a while (the
// expiry timer, a rejection, Watches, a memo chain), lives in resourceAux,
// so that the rest fits the 96 B size class.
func TestResourceStateSize(t *testing.T) {
	if n := unsafe.Sizeof(resourceState{}); n > 96 {
		t.Fatalf("resourceState is %d B, want at most 96", n)
	}
}

// TestNamedWatchSize: one namedWatch exists per Watch (issue 18); it
// reaches its Client through its typeState, to fit the 48 B size class.
func TestNamedWatchSize(t *testing.T) {
	if n := unsafe.Sizeof(namedWatch{}); n > 48 {
		t.Fatalf("namedWatch is %d B, want at most 48", n)
	}
}
