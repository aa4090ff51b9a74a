package retrypolicy_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/internal/failure"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func policy(t *testing.T, cfg *retrypolicy.Config, opts ...retrypolicy.Option) *retrypolicy.Policy {
	t.Helper()
	p, err := retrypolicy.New(cfg, opts...)
	require.NoError(t, err)
	return p
}

func resp(status int, hdr ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: http.NoBody}
}

func TestDefaultPolicyIsIstios(t *testing.T) {
	p := policy(t, nil)
	assert.Equal(t, 2, p.Retries())
	assert.True(t, p.AvoidPreviousHosts())
	req, _ := http.NewRequest("GET", "http://x/", nil)
	assert.False(t, p.RetryResponse(req, resp(503)), "no status codes by default since Istio 1.24")
	assert.True(t, p.RetryResponse(req, resp(200, "grpc-status", "14")), "unavailable")
	assert.True(t, p.RetryResponse(req, resp(200, "grpc-status", "1")), "cancelled")
	assert.False(t, p.RetryResponse(req, resp(200, "grpc-status", "13")))
	assert.True(t, p.RetryFailure(failure.Connect))
	assert.True(t, p.RetryFailure(failure.RefusedStream))
	assert.False(t, p.RetryFailure(failure.Reset))
	assert.False(t, p.RetryFailure(failure.PerTryTimeout), "a per-try timeout needs 5xx, gateway-error or reset")
}

func TestConditions(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.Header.Set("X-Envoy-Retriable-Status-Codes", "418, 429")
	req.Header.Set("X-Envoy-Retriable-Header-Names", "x-retry-me")
	for _, tc := range []struct {
		on   string
		resp *http.Response
		want bool
	}{
		{"5xx", resp(500), true},
		{"5xx", resp(599), true},
		{"5xx", resp(499), false},
		{"gateway-error", resp(502), true},
		{"gateway-error", resp(504), true},
		{"gateway-error", resp(500), false},
		{"retriable-4xx", resp(409), true},
		{"retriable-4xx", resp(404), false},
		{"503", resp(503), true},
		{"503", resp(502), false},
		{"retriable-status-codes", resp(418), true},
		{"retriable-status-codes", resp(400), false},
		{"retriable-headers", resp(200, "x-retry-me", "1"), true},
		{"retriable-headers", resp(200), false},
		{"envoy-ratelimited", resp(429, "x-envoy-ratelimited", "true"), true},
		{"5xx", resp(503, "x-envoy-ratelimited", "true"), false},
		{"deadline-exceeded", resp(200, "grpc-status", "4"), true},
		{"internal", resp(200, "grpc-status", "13"), true},
		{"resource-exhausted", resp(200, "grpc-status", "8"), true},
		{"unavailable", resp(200, "grpc-status", "4"), false},
	} {
		p := policy(t, &retrypolicy.Config{Attempts: 1, RetryOn: tc.on})
		assert.Equal(t, tc.want, p.RetryResponse(req, tc.resp), "%s on %d %v", tc.on, tc.resp.StatusCode, tc.resp.Header)
	}
	for _, tc := range []struct {
		on   string
		f    failure.Kind
		want bool
	}{
		{"connect-failure", failure.Connect, true},
		{"connect-failure", failure.Reset, false},
		{"reset-before-request", failure.Connect, true},
		{"reset-before-request", failure.Reset, false},
		{"reset", failure.Reset, true},
		{"reset", failure.PerTryTimeout, true},
		{"5xx", failure.PerTryTimeout, true},
		{"gateway-error", failure.Reset, true},
		{"refused-stream", failure.RefusedStream, true},
		{"refused-stream", failure.Connect, false},
		{"unavailable", failure.Connect, false},
	} {
		p := policy(t, &retrypolicy.Config{Attempts: 1, RetryOn: tc.on})
		assert.Equal(t, tc.want, p.RetryFailure(tc.f), "%s on %v", tc.on, tc.f)
	}
}

func TestClassify(t *testing.T) {
	assert.Equal(t, failure.Connect, retrypolicy.Classify(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}))
	assert.Equal(t, failure.Connect, retrypolicy.Classify(fmt.Errorf("x: %w", &net.DNSError{Err: "no such host"})))
	assert.Equal(t, failure.PerTryTimeout, retrypolicy.Classify(retrypolicy.ErrPerTryTimeout))
	assert.Equal(t, failure.RefusedStream, retrypolicy.Classify(errors.New("http2: stream error: REFUSED_STREAM")))
	assert.Equal(t, failure.Reset, retrypolicy.Classify(io.ErrUnexpectedEOF))
}
