package switchyard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

// adminMesh is the ejection fixture plus a canary split on reviews, with
// 10.0.0.2 (v2) ejected after three 500s.
const adminMesh = ejectionMesh + `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}, uri: {prefix: /api}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: canary
    timeout: 10s
    retries: {attempts: 2, perTryTimeout: 2s}
    route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v3}, weight: 10}
`

func newAdminFixture(t *testing.T) *fixture {
	f := newFixture(t, adminMesh, switchyard.WithRand(meshtest.NewRand(4)))
	f.backend["v2"].Respond(500)
	for range 30 {
		f.get("http://ratings:9080/")
	}
	f.backend["v2"].Respond(200)
	for range 10 {
		f.get("http://reviews:9080/")
	}
	bad := f.mesh.Config()
	bad.VirtualServices = append(bad.VirtualServices[:0:0], bad.VirtualServices...)
	bad.VirtualServices[0].HTTP = nil
	require.Error(t, f.mesh.Update(bad))
	return f
}

func getJSON(t *testing.T, h http.Handler, path string, v any) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	resp := rec.Result()
	require.Equal(t, 200, resp.StatusCode, path)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v), path)
	return resp
}

func TestAdminState(t *testing.T) {
	f := newAdminFixture(t)
	h := f.mesh.AdminHandler()
	var st switchyard.AdminState
	resp := getJSON(t, h, "/state", &st)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	require.Len(t, st.Routes, 2)
	reviews := st.Routes[1]
	assert.Equal(t, "default/reviews", reviews.Name)
	require.Len(t, reviews.Routes, 2)
	assert.Equal(t, []string{`uri prefix "/api", header end-user exact "jason"`}, reviews.Routes[0].Match)
	canary := reviews.Routes[1]
	assert.Equal(t, "canary", canary.Name)
	assert.Equal(t, "10s", canary.Timeout)
	assert.Equal(t, 2, canary.Retries)
	assert.Equal(t, []switchyard.AdminDestination{
		{Host: "reviews", Subset: "v1", Weight: 90, Share: 90},
		{Host: "reviews", Subset: "v3", Weight: 10, Share: 10},
	}, canary.Destinations)

	var ratings *switchyard.AdminCluster
	for i := range st.Clusters {
		if st.Clusters[i].Name == "outbound|9080||ratings" {
			ratings = &st.Clusters[i]
		}
	}
	require.NotNil(t, ratings, "clusters: %+v", st.Clusters)
	assert.True(t, ratings.OutlierDetection)
	assert.Equal(t, "LEAST_REQUEST", ratings.LoadBalancer)
	health := map[string]string{}
	var sent, failed uint64
	for _, ep := range ratings.Endpoints {
		health[ep.Address] = ep.Health
		sent += ep.Requests
		failed += ep.Failures
	}
	assert.Equal(t, map[string]string{"10.0.0.1:9080": "healthy", "10.0.0.2:9080": "ejected", "10.0.0.3:9080": "healthy"}, health)
	assert.Equal(t, uint64(30), sent, "every attempt counted")
	assert.Equal(t, uint64(3), failed, "the three 500s that ejected 10.0.0.2")

	require.Len(t, st.Ejections, 1)
	e := st.Ejections[0]
	assert.Equal(t, "10.0.0.2:9080", e.Endpoint)
	assert.True(t, e.Ejected)
	assert.Equal(t, "consecutive-5xx", e.Reason)
	assert.Equal(t, "30s", e.Duration)

	require.Len(t, st.Updates, 2)
	assert.True(t, st.Updates[0].Applied)
	assert.Equal(t, switchyard.UpdateRecord{Time: st.Updates[0].Time, Applied: true,
		Resources: map[string]int{"ServiceEntry": 2, "DestinationRule": 2, "VirtualService": 2, "Gateway": 0, "Sidecar": 0}}, st.Updates[0])
	assert.False(t, st.Updates[1].Applied)
	assert.Contains(t, st.Updates[1].Error, "spec.http")

	var eps []switchyard.EjectionRecord
	getJSON(t, h, "/ejections", &eps)
	assert.Equal(t, st.Ejections, eps)
}

func TestAdminConfigDumpUsesIstioNames(t *testing.T) {
	f := newAdminFixture(t)
	var cfg struct {
		VirtualServices []struct {
			Kind     string            `json:"kind"`
			Metadata map[string]string `json:"metadata"`
			Spec     struct {
				HTTP []map[string]any `json:"http"`
			} `json:"spec"`
		} `json:"virtualServices"`
	}
	getJSON(t, f.mesh.AdminHandler(), "/debug/mesh/config", &cfg)
	require.Len(t, cfg.VirtualServices, 2)
	vs := cfg.VirtualServices[1]
	assert.Equal(t, "VirtualService", vs.Kind)
	assert.Equal(t, map[string]string{"name": "reviews", "namespace": "default"}, vs.Metadata)
	require.Len(t, vs.Spec.HTTP, 2)
	assert.Equal(t, "10s", vs.Spec.HTTP[1]["timeout"], "durations as Istio writes them")
	assert.Equal(t, "2s", vs.Spec.HTTP[1]["retries"].(map[string]any)["perTryTimeout"])

	// The dump is valid input: it parses back to the same configuration.
	rec := httptest.NewRecorder()
	f.mesh.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config", nil))
	var groups map[string][]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &groups))
	var docs []string
	for _, g := range []string{"serviceEntries", "destinationRules", "virtualServices"} {
		for _, d := range groups[g] {
			docs = append(docs, string(d))
		}
	}
	back, err := switchyard.Parse([]byte(strings.Join(docs, "\n---\n")))
	require.NoError(t, err)
	assert.Equal(t, f.mesh.Config(), back)
}

func TestAdminHandlerMountsAnywhere(t *testing.T) {
	f := newAdminFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/debug/switchyard/", http.StripPrefix("/debug/switchyard", f.mesh.AdminHandler()))
	mux.Handle("/admin/", f.mesh.AdminHandler())
	for _, path := range []string{"/debug/switchyard/", "/admin/", "/admin/index.html"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, 200, rec.Code, path)
		assert.Contains(t, rec.Header().Get("Content-Type"), "text/html", path)
		assert.Contains(t, rec.Body.String(), "<title>switchyard</title>", path)
	}
	for _, path := range []string{"/debug/switchyard/state", "/admin/state"} {
		var st switchyard.AdminState
		getJSON(t, mux, path, &st)
		assert.NotEmpty(t, st.Clusters, path)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/admin/state", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}

// The admin page renders in headless Chromium: the test serves it on
// loopback, lets the page's script read the state, and checks both the DOM
// Chromium built and its screenshot. CI installs Chromium and sets
// SWITCHYARD_BROWSER_TEST=1; elsewhere the test skips without Chromium.
func TestAdminPageRendersInChromium(t *testing.T) {
	browser := chromiumOrSkip(t)
	f := newAdminFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/debug/switchyard/", http.StripPrefix("/debug/switchyard", f.mesh.AdminHandler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/debug/switchyard/"
	dir := t.TempDir()

	dom := runChromium(t, browser, dir, "--dump-dom", url)
	assert.Contains(t, dom, `data-ready="true"`, "the page read the state")
	assert.Contains(t, dom, `data-address="10.0.0.2:9080" data-health="ejected"`)
	assert.Contains(t, dom, `data-address="10.0.0.1:9080" data-health="healthy"`)
	assert.Contains(t, dom, "reviews/v1 90%")
	assert.Contains(t, dom, `<section id="warnings"><h2>Warnings</h2><p class="muted">None.</p></section>`)
	assert.Contains(t, dom, "reviews/v3 10%")
	assert.Contains(t, dom, "consecutive-5xx")
	assert.Contains(t, dom, "rejected")

	shot := filepath.Join(dir, "admin.png")
	runChromium(t, browser, dir, "--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars", url)
	file, err := os.Open(shot)
	require.NoError(t, err)
	defer file.Close()
	img, err := png.Decode(file)
	require.NoError(t, err)
	healthy := countColour(img, color.RGBA{0x2e, 0x7d, 0x32, 0xff})
	ejected := countColour(img, color.RGBA{0xc6, 0x28, 0x28, 0xff})
	t.Logf("screenshot %v: %d healthy pixels, %d ejected pixels", img.Bounds().Size(), healthy, ejected)
	// An endpoint chip is at least 150×40 pixels of its colour; ratings
	// has two healthy endpoints and one ejected, reviews three healthy.
	assert.Greater(t, healthy, 4*150*30, "healthy endpoints are drawn green")
	assert.Greater(t, ejected, 150*30, "the ejected endpoint is drawn red")
	if out := os.Getenv("SWITCHYARD_ADMIN_SCREENSHOT"); out != "" {
		b, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(out, b, 0o644))
	}
}

// TestAdminPageShowsTheControlPlane: a mesh fed by a control plane (the xds
// package's handler adds "controlPlane" to the state) shows whether it
// answers and the resources it did not accept; the page is the same.
func TestAdminPageShowsTheControlPlane(t *testing.T) {
	browser := chromiumOrSkip(t)
	f := newAdminFixture(t)
	inner := f.mesh.AdminHandler()
	// What xds.Mesh's handler serves at "state": the mesh's state and the
	// control plane's (its own tests check that).
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if path.Base(r.URL.Path) != "state" {
			inner.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		require.NoError(t, json.NewEncoder(w).Encode(struct {
			switchyard.AdminState
			ControlPlane map[string]any `json:"controlPlane"`
		}{f.mesh.AdminState(), map[string]any{
			"server": "istiod.istio-system.svc:15012", "connected": false, "since": "2026-11-30T10:00:00Z",
			"error":  "rpc error: code = Unavailable desc = connection refused",
			"counts": map[string]map[string]int{"Cluster": {"ACKED": 4, "NACKED": 1}},
			"resources": []map[string]string{{"type": "Cluster", "name": "outbound|9080|v3|reviews.default.svc.cluster.local",
				"state": "NACKED", "error": "lb_policy MAGLEV: not supported"}},
		}}))
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	dom := runChromium(t, browser, t.TempDir(), "--dump-dom", srv.URL+"/")
	assert.Contains(t, dom, `data-ready="true"`, "the page read the state")
	assert.Contains(t, dom, `<section id="controlplane" class="wide"><h2>Control plane</h2>`, "the section is shown")
	assert.Contains(t, dom, `data-connected="false"`)
	assert.Contains(t, dom, "the last configuration received stays in force")
	assert.Contains(t, dom, `data-resource="Cluster/outbound|9080|v3|reviews.default.svc.cluster.local"`)
	assert.Contains(t, dom, "lb_policy MAGLEV: not supported")
	assert.Contains(t, dom, "Cluster: 4 acked, 1 nacked")
	assert.Contains(t, dom, `class="meta stale"`, "the header says the configuration may be stale")

	bare := httptest.NewServer(inner)
	defer bare.Close()
	plain := runChromium(t, browser, t.TempDir(), "--dump-dom", bare.URL+"/")
	assert.Contains(t, plain, `<section id="controlplane" class="wide" hidden=""><h2>Control plane</h2></section>`, "a mesh without control plane hides it")
}

// chromiumOrSkip returns the browser, or skips the test when there is none
// (and fails it when SWITCHYARD_BROWSER_TEST asks for one).
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	browser := findChromium()
	if browser == "" {
		if os.Getenv("SWITCHYARD_BROWSER_TEST") != "" {
			t.Fatal("SWITCHYARD_BROWSER_TEST is set but chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium not installed; set SWITCHYARD_BROWSER_TEST=1 to require it")
	}
	return browser
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium runs headless Chromium with the flags this machine's closed
// network needs, a fresh profile, and a virtual-time budget for the page's
// script; it returns what Chromium printed.
func runChromium(t *testing.T, browser, dir string, args ...string) string {
	t.Helper()
	// Chromium itself sometimes crashes on a loaded machine (a segfault at
	// start-up, before it loads anything). That is the browser failing, not
	// the page: try again, up to three times, and report every crash.
	var crashes []string
	for attempt := 0; attempt < 3; attempt++ {
		out, log, err := chromiumOnce(browser, dir, args)
		if err == nil {
			return out
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ProcessState.Exited() {
			t.Fatalf("chromium %v: %v\n%s", args, err, log)
		}
		crashes = append(crashes, fmt.Sprintf("attempt %d: %v\n%s", attempt+1, err, log))
	}
	t.Fatalf("chromium %v crashed three times:\n%s", args, strings.Join(crashes, "\n"))
	return ""
}

// chromiumOnce runs the browser once and returns its output, its log, and
// how it ended.
func chromiumOnce(browser, dir string, args []string) (string, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	profile, err := os.MkdirTemp(dir, "profile")
	if err != nil {
		return "", nil, err
	}
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile, "--virtual-time-budget=3000"}
	cmd := exec.CommandContext(ctx, browser, append(flags, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err = cmd.Run()
	return stdout.String(), stderr.Bytes(), err
}

func countColour(img image.Image, want color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(bl>>8) == want.B {
				n++
			}
		}
	}
	return n
}

func TestAdminStateShowsWarnings(t *testing.T) {
	f := newFixture(t, allTo("v9"))
	var st switchyard.AdminState
	getJSON(t, f.mesh.AdminHandler(), "/state", &st)
	require.Len(t, st.Warnings, 1)
	assert.Contains(t, st.Warnings[0], `subset "v9" of host "reviews" is not defined`)
}
