package meshtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/meshtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, rt http.RoundTripper, url string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), nil
}

func TestBackendAnswersWithItsNameAndLogs(t *testing.T) {
	n := meshtest.NewNetwork()
	b := n.Add("10.0.0.1:80", "one", nil)
	req, _ := http.NewRequest(http.MethodPost, "http://10.0.0.1/x?q=1", strings.NewReader("payload"))
	req.Host = "svc"
	req.Header.Set("X-A", "1")
	resp, err := n.Transport().RoundTrip(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "one", string(body))
	assert.Equal(t, "one", resp.Header.Get("X-Backend"))
	got := b.Requests()
	require.Len(t, got, 1)
	assert.Equal(t, meshtest.Request{Attempt: 1, Method: "POST", Host: "svc", URL: "http://10.0.0.1/x?q=1",
		Header: http.Header{"X-A": {"1"}}, Body: []byte("payload")}, got[0])
}

func TestScriptedBehaviour(t *testing.T) {
	n := meshtest.NewNetwork()
	b := n.Add("a:80", "a", nil).FailFirst(2, 503).Respond(201)
	rt := n.Transport()
	var codes []int
	for range 3 {
		resp, _, err := get(t, rt, "http://a/")
		require.NoError(t, err)
		codes = append(codes, resp.StatusCode)
	}
	assert.Equal(t, []int{503, 503, 201}, codes)

	b.RefuseFirst(1)
	_, _, err := get(t, rt, "http://a/")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "refused like a closed port: %v", err)
	_, _, err = get(t, rt, "http://a/")
	assert.NoError(t, err)
	assert.Equal(t, 5, b.Count())

	_, _, err = get(t, rt, "http://unknown:80/")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED))
	n.Remove("a:80")
	_, _, err = get(t, rt, "http://a/")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED))
}

func TestDelayAndHangFollowTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := meshtest.NewNetwork()
		b := n.Add("a:80", "a", nil).Delay(time.Second)
		start := time.Now()
		_, body, err := get(t, n.Transport(), "http://a/")
		require.NoError(t, err)
		assert.Equal(t, "a", body)
		assert.Equal(t, time.Second, time.Since(start))

		b.Hang()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://a/", nil)
		_, err = n.Transport().RoundTrip(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)

		b.Heal()
		_, _, err = get(t, n.Transport(), "http://a/")
		assert.NoError(t, err)
	})
}

func TestHandlerAndEndpointTransport(t *testing.T) {
	n := meshtest.NewNetwork()
	n.Add("a:80", "a", nil).Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	}))
	resp, _, err := get(t, n.EndpointTransport("a:80"), "http://any-host:1234/brew")
	require.NoError(t, err)
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, "/brew", resp.Header.Get("X-Path"))
}

func TestServiceEntryFromBackends(t *testing.T) {
	n := meshtest.NewNetwork()
	a := n.Add("10.0.0.1:9080", "a", map[string]string{"version": "v1"})
	b := n.Add("10.0.0.2:8080", "b", nil)
	se := meshtest.ServiceEntry("reviews", 9080, a, b)
	assert.Equal(t, "STATIC", se.Resolution)
	require.Len(t, se.Endpoints, 2)
	assert.Equal(t, "10.0.0.1", se.Endpoints[0].Address)
	assert.Equal(t, map[string]string{"version": "v1"}, se.Endpoints[0].Labels)
	assert.Nil(t, se.Endpoints[0].Ports)
	assert.Equal(t, map[string]uint32{"http": 8080}, se.Endpoints[1].Ports)
	c := n.Add("reviews-v3:9080", "c", nil)
	assert.Equal(t, "DNS", meshtest.ServiceEntry("reviews", 9080, c).Resolution)
}

func TestClock(t *testing.T) {
	c := meshtest.NewClock(time.Unix(100, 0))
	fired := false
	c.AfterFunc(time.Second, func() { fired = true })
	c.Advance(time.Second)
	assert.True(t, fired)
	assert.Equal(t, time.Unix(101, 0), c.Now())
	a, b := meshtest.NewRand(1), meshtest.NewRand(1)
	assert.Equal(t, a.Uint64(), b.Uint64())
}

func TestServiceEntrySkipsNilBackends(t *testing.T) {
	n := meshtest.NewNetwork()
	se := meshtest.ServiceEntry("svc", 80, nil, n.Add("10.0.0.1:80", "a", nil), nil)
	require.Len(t, se.Endpoints, 1)
	assert.Equal(t, "10.0.0.1", se.Endpoints[0].Address)
}
