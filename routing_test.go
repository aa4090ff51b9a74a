package switchyard_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

func TestUnknownHostPassesThroughToBase(t *testing.T) {
	f := newFixture(t, requestRouting)
	other := f.net.Add("example.com:80", "outside", nil)
	resp, body := f.get("http://example.com/x")
	assert.Equal(t, "outside", body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	reqs := other.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "http://example.com/x", reqs[0].URL)
}

func TestBaseReceivesEndpointInURLAndOriginalHost(t *testing.T) {
	f := newFixture(t, requestRouting)
	f.get("http://reviews:9080/reviews/1?x=y", "end-user", "jason")
	reqs := f.backend["v2"].Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "http://10.0.0.2:9080/reviews/1?x=y", reqs[0].URL)
	assert.Equal(t, "reviews:9080", reqs[0].Host)
	assert.Equal(t, "jason", reqs[0].Header.Get("End-User"))
}

func TestOwnTransportsSendToTheEndpoint(t *testing.T) {
	net := meshtest.NewNetwork()
	v1 := net.Add("10.0.0.1:9080", "v1", nil)
	cfg, err := switchyard.Parse(append(bookinfo(t), []byte("\n---\n"+requestRouting)...))
	require.NoError(t, err)
	m, err := switchyard.New(cfg, switchyard.WithEndpointTransport(net.EndpointTransport))
	require.NoError(t, err)
	defer m.Close()
	resp, err := (&http.Client{Transport: m.Transport(nil)}).Get("http://reviews:9080/r")
	require.NoError(t, err)
	resp.Body.Close()
	reqs := v1.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "http://reviews:9080/r", reqs[0].URL, "own transports receive the request as the caller wrote it")
}

func TestRelativeRedirectFromUpstreamIsRoutedAgain(t *testing.T) {
	f := newFixture(t, requestRouting)
	f.backend["v1"].Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		w.Write([]byte("at " + r.URL.Path))
	}))
	client := &http.Client{Transport: f.mesh.Transport(f.net.Transport())}
	resp, err := client.Get("http://reviews:9080/old")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "http://reviews:9080/new", resp.Request.URL.String(), "the redirect is followed by name, through the mesh")
	reqs := f.backend["v1"].Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "reviews:9080", reqs[1].Host)
}
