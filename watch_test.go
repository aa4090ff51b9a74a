package switchyard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/meshtest"
)

// watchedMesh is Bookinfo's reviews with four versions, routing every
// request to version; extra is inserted into the route (to break it).
func watchedMesh(version, extra string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
  - {address: 10.0.0.3, labels: {version: v3}}
  - {address: 10.0.0.4, labels: {version: v4}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
  - {name: v4, labels: {version: v4}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: %s}}]
%s`, version, extra)
}

// watchRig is a mesh built from a file, watched, with a bounded request
// load running through it that counts which version answered.
type watchRig struct {
	t       *testing.T
	mesh    *switchyard.Mesh
	net     *meshtest.Network
	reloads chan error

	mu       sync.Mutex
	cond     *sync.Cond
	served   map[string]int
	failures []string
	sent     int
	stopped  bool // the load has ended
	stopLoad context.CancelFunc
	loadDone sync.WaitGroup
}

// maxLoad bounds the requests a test sends.
const maxLoad = 200_000

func newWatchRig(t *testing.T, initial string, watch []string) *watchRig {
	t.Helper()
	cfg, err := switchyard.Parse([]byte(initial))
	require.NoError(t, err)
	r := &watchRig{t: t, net: meshtest.NewNetwork(), reloads: make(chan error), served: map[string]int{}}
	r.cond = sync.NewCond(&r.mu)
	for i, v := range []string{"v1", "v2", "v3", "v4"} {
		r.net.Add(fmt.Sprintf("10.0.0.%d:9080", i+1), v, map[string]string{"version": v})
	}
	r.mesh, err = switchyard.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { r.mesh.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	testDone := make(chan struct{})
	stop, err := switchyard.WatchFiles(ctx, r.mesh, watch, switchyard.WatchOptions{
		Debounce: 5 * time.Millisecond,
		OnReload: func(err error) {
			select {
			case r.reloads <- err:
			case <-testDone:
			}
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		close(testDone)
		cancel()
		stop()
	})

	loadCtx, stopLoad := context.WithCancel(context.Background())
	r.stopLoad = stopLoad
	client := &http.Client{Transport: r.mesh.Transport(r.net.Transport())}
	var budget atomic.Int64
	for range 4 {
		r.loadDone.Add(1)
		go func() {
			defer r.loadDone.Done()
			for loadCtx.Err() == nil && budget.Add(1) <= maxLoad {
				r.send(client)
			}
			r.mu.Lock()
			r.stopped = true
			r.cond.Broadcast()
			r.mu.Unlock()
		}()
	}
	t.Cleanup(r.stop)
	return r
}

func (r *watchRig) send(client *http.Client) {
	resp, err := client.Get("http://reviews:9080/reviews/1")
	version, fail := "", ""
	if err != nil {
		fail = err.Error()
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		version = resp.Header.Get("X-Backend")
		if resp.StatusCode != http.StatusOK {
			fail = fmt.Sprintf("status %d from %q", resp.StatusCode, version)
		}
	}
	r.mu.Lock()
	r.sent++
	if fail != "" {
		r.failures = append(r.failures, fail)
	} else {
		r.served[version]++
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

// stop ends the load and checks that every request it sent was answered
// with 200.
func (r *watchRig) stop() {
	r.stopLoad()
	r.loadDone.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, n := range r.served {
		total += n
	}
	assert.Empty(r.t, r.failures, "requests lost")
	assert.Equal(r.t, r.sent, total, "every request answered")
}

// awaitServed waits until version has answered n more requests.
func (r *watchRig) awaitServed(version string, n int) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := r.served[version] + n
	for r.served[version] < want && !r.stopped {
		r.cond.Wait()
	}
	require.GreaterOrEqual(r.t, r.served[version], want, "the load ended before %s answered %d requests (served: %v)", version, n, r.served)
}

// awaitApplied waits for a reload that put version in force, skipping the
// rejections of the moments a save passes through: a file truncated by an
// in-place write, a file renamed aside before its replacement is written.
func (r *watchRig) awaitApplied(version string) {
	r.t.Helper()
	for {
		err := <-r.reloads
		if err != nil {
			if !strings.Contains(err.Error(), "no such file or directory") {
				require.ErrorContains(r.t, err, "hold no resources", "only the moments of a save may be rejected")
			}
			continue
		}
		if got := r.mesh.Config().VirtualServices[0].HTTP[0].Route[0].Destination.Subset; got == version {
			return
		}
	}
}

// awaitRejected waits for a rejected reload, skipping the rejections a
// half-written file can cause, and returns why.
func (r *watchRig) awaitRejected() error {
	r.t.Helper()
	for {
		err := <-r.reloads
		require.Error(r.t, err, "a broken edit must not be applied")
		if !strings.Contains(err.Error(), "hold no resources") {
			return err
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
}

// replaceFile writes data to a temporary file and renames it over path,
// as editors and config tools do.
func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, data)
	require.NoError(t, os.Rename(tmp, path))
}

func TestWatchFilesReloadsOnEditsWithoutLosingRequests(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	writeFile(t, file, watchedMesh("v1", ""))
	r := newWatchRig(t, watchedMesh("v1", ""), []string{file})
	r.awaitServed("v1", 20)

	// An editor's save: a new file renamed over the old one.
	replaceFile(t, file, watchedMesh("v2", ""))
	r.awaitApplied("v2")
	r.awaitServed("v2", 20)

	// A save that keeps a backup: the file is renamed aside (so it lives
	// on under another name) and a new one is written in its place.
	require.NoError(t, os.Rename(file, file+"~"))
	writeFile(t, file, watchedMesh("v1", ""))
	r.awaitApplied("v1")
	r.awaitServed("v1", 20)

	// An in-place write: truncate, then write.
	writeFile(t, file, watchedMesh("v3", ""))
	r.awaitApplied("v3")
	r.awaitServed("v3", 20)

	// A broken edit, caught by Parse: it would send traffic to v4.
	writeFile(t, file, watchedMesh("v4", "    timout: 1s\n"))
	err := r.awaitRejected()
	require.ErrorContains(t, err, `spec.http[0].timout: unknown field (did you mean "timeout"?)`)
	require.ErrorContains(t, err, file+": document 3")
	r.awaitServed("v3", 20)
	last := lastUpdate(r.mesh)
	assert.False(t, last.Applied)
	assert.Contains(t, last.Error, "timout", "the admin page shows why the reload was rejected")

	// A broken edit caught by validation (Update), replacing the file.
	replaceFile(t, file, watchedMesh("v4", "    match: [{uri: {regex: \"(\"}}]\n"))
	err = r.awaitRejected()
	require.ErrorContains(t, err, `spec.http[0].match[0].uri.regex`)
	r.awaitServed("v3", 20)
	last = lastUpdate(r.mesh)
	assert.False(t, last.Applied)
	assert.Contains(t, last.Error, "regex")

	// The fix.
	replaceFile(t, file, watchedMesh("v1", ""))
	r.awaitApplied("v1")
	r.awaitServed("v1", 20)
	assert.True(t, lastUpdate(r.mesh).Applied)

	r.stop()
	assert.Zero(t, r.net.Backend("10.0.0.4:9080").Count(), "the broken edits were never served")
}

func lastUpdate(m *switchyard.Mesh) switchyard.UpdateRecord {
	u := m.AdminState().Updates
	return u[len(u)-1]
}

// configMap lays out dir as the kubelet does for a ConfigMap volume:
// files are links through ..data to a timestamped directory, which a new
// one replaces by swapping ..data atomically.
type configMap struct {
	t   *testing.T
	dir string
	gen int
}

func (c *configMap) publish(files map[string]string) {
	c.t.Helper()
	c.gen++
	ts := fmt.Sprintf("..2026_11_29_12_00_%02d.%d", c.gen, 1000+c.gen)
	require.NoError(c.t, os.Mkdir(filepath.Join(c.dir, ts), 0o755))
	for name, data := range files {
		writeFile(c.t, filepath.Join(c.dir, ts, name), data)
	}
	old, _ := os.Readlink(filepath.Join(c.dir, "..data"))
	require.NoError(c.t, os.Symlink(ts, filepath.Join(c.dir, "..data_tmp")))
	require.NoError(c.t, os.Rename(filepath.Join(c.dir, "..data_tmp"), filepath.Join(c.dir, "..data")))
	for name := range files {
		link := filepath.Join(c.dir, name)
		if _, err := os.Lstat(link); err != nil {
			require.NoError(c.t, os.Symlink(filepath.Join("..data", name), link))
		}
	}
	if old != "" {
		require.NoError(c.t, os.RemoveAll(filepath.Join(c.dir, old)))
	}
}

func TestWatchFilesFollowsConfigMapSymlinkSwaps(t *testing.T) {
	split := func(version string) map[string]string {
		all := watchedMesh(version, "")
		i := strings.Index(all, "apiVersion: networking.istio.io/v1\nkind: VirtualService")
		return map[string]string{"services.yaml": all[:i], "routes.yaml": all[i:]}
	}
	for _, tc := range []struct {
		name  string
		paths func(dir string) []string
	}{
		{"the files", func(dir string) []string {
			return []string{filepath.Join(dir, "services.yaml"), filepath.Join(dir, "routes.yaml")}
		}},
		{"the directory", func(dir string) []string { return []string{dir} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := &configMap{t: t, dir: t.TempDir()}
			cm.publish(split("v1"))
			r := newWatchRig(t, watchedMesh("v1", ""), tc.paths(cm.dir))
			r.awaitServed("v1", 20)

			cm.publish(split("v2"))
			r.awaitApplied("v2")
			r.awaitServed("v2", 20)

			broken := split("v4")
			broken["routes.yaml"] += "    timout: 1s\n"
			cm.publish(broken)
			require.ErrorContains(t, r.awaitRejected(), "routes.yaml: document 1 (VirtualService \"default/reviews\"): spec.http[0].timout: unknown field")
			r.awaitServed("v2", 20)

			cm.publish(split("v3"))
			r.awaitApplied("v3")
			r.awaitServed("v3", 20)
			r.stop()
			assert.Zero(t, r.net.Backend("10.0.0.4:9080").Count(), "the broken edit was never served")
		})
	}
}

func TestWatchFilesDirectoryPicksUpNewAndRemovedFiles(t *testing.T) {
	dir := t.TempDir()
	all := watchedMesh("v1", "")
	i := strings.Index(all, "apiVersion: networking.istio.io/v1\nkind: VirtualService")
	writeFile(t, filepath.Join(dir, "services.yaml"), all[:i])
	require.NoError(t, os.Mkdir(filepath.Join(dir, "routes"), 0o755))
	cfg, err := switchyard.Parse([]byte(all[:i]))
	require.NoError(t, err)
	mesh, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer mesh.Close()
	reloads := make(chan error, 16)
	stop, err := switchyard.WatchFiles(context.Background(), mesh, []string{dir}, switchyard.WatchOptions{
		Debounce: time.Millisecond, OnReload: func(err error) { reloads <- err }})
	require.NoError(t, err)
	defer stop()

	// A file in a subdirectory created after the watch began; an editor's
	// hidden swap file and a file of another extension are not read.
	writeFile(t, filepath.Join(dir, "routes", ".reviews.yaml.swp"), "not yaml: [")
	writeFile(t, filepath.Join(dir, "routes", "notes.txt"), "not yaml: [")
	replaceFile(t, filepath.Join(dir, "routes", "reviews.yaml"), all[i:])
	require.NoError(t, <-reloads)
	require.Len(t, mesh.Config().VirtualServices, 1)

	require.NoError(t, os.RemoveAll(filepath.Join(dir, "routes")))
	require.NoError(t, <-reloads)
	require.Empty(t, mesh.Config().VirtualServices)
	require.Len(t, mesh.Config().ServiceEntries, 1)
}

func TestWatchFilesKeepsTheConfigurationWhenFilesEmptyOrVanish(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	writeFile(t, file, watchedMesh("v1", ""))
	cfg, err := switchyard.Parse([]byte(watchedMesh("v1", "")))
	require.NoError(t, err)
	mesh, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer mesh.Close()
	reloads := make(chan error, 16)
	stop, err := switchyard.WatchFiles(context.Background(), mesh, []string{file}, switchyard.WatchOptions{
		Debounce: time.Millisecond, OnReload: func(err error) { reloads <- err }})
	require.NoError(t, err)
	defer stop()

	replaceFile(t, file, "# nothing yet\n")
	require.ErrorContains(t, <-reloads, "hold no resources; keeping the running configuration")
	require.Len(t, mesh.Config().VirtualServices, 1)

	require.NoError(t, os.Remove(file))
	require.ErrorContains(t, <-reloads, "no such file or directory")
	require.Len(t, mesh.Config().VirtualServices, 1)

	// The file comes back: watching its directory saw it go and return.
	replaceFile(t, file, watchedMesh("v2", ""))
	require.NoError(t, <-reloads)
	require.Equal(t, "v2", mesh.Config().VirtualServices[0].HTTP[0].Route[0].Destination.Subset)
	assert.False(t, mesh.AdminState().Updates[1].Applied)
}

func TestWatchFilesStartsOnlyOnPathsThatExist(t *testing.T) {
	mesh, err := switchyard.New(switchyard.Config{})
	require.NoError(t, err)
	defer mesh.Close()
	_, err = switchyard.WatchFiles(context.Background(), mesh, []string{filepath.Join(t.TempDir(), "mseh.yaml")}, switchyard.WatchOptions{})
	require.ErrorContains(t, err, "mseh.yaml: no such file or directory")
	_, err = switchyard.WatchFiles(context.Background(), mesh, nil, switchyard.WatchOptions{})
	require.ErrorContains(t, err, "at least one path")
}

func TestWatchFilesCatchesUpOnStartAndStopsWithItsContext(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	writeFile(t, file, watchedMesh("v2", "")) // changed since the mesh was built
	cfg, err := switchyard.Parse([]byte(watchedMesh("v1", "")))
	require.NoError(t, err)
	mesh, err := switchyard.New(cfg)
	require.NoError(t, err)
	defer mesh.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var reloads []error
	stop, err := switchyard.WatchFiles(ctx, mesh, []string{file}, switchyard.WatchOptions{OnReload: func(err error) { reloads = append(reloads, err) }})
	require.NoError(t, err)
	require.Equal(t, []error{nil}, reloads, "read once before returning")
	require.Equal(t, "v2", mesh.Config().VirtualServices[0].HTTP[0].Route[0].Destination.Subset)
	cancel()
	stop() // returns once the watcher has ended; goleak checks it
	stop()
}

// awaitTimer waits until the watcher has seen a change and scheduled its
// reload on the fake clock.
func awaitTimer(clock *meshtest.Clock) {
	for clock.Pending() == 0 {
		time.Sleep(time.Millisecond) // a condition wait: the test's deadline bounds it
	}
}

// With the clock in the test's hands: a reload waits out the debounce on
// the mesh's clock, and a file renamed aside and only then replaced (with a
// reload in between, which finds no file) is still seen when it comes back,
// because the watch is on its directory.
func TestWatchFilesDebouncesOnTheMeshClockAndSeesReplacedFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	writeFile(t, file, watchedMesh("v1", ""))
	cfg, err := switchyard.Parse([]byte(watchedMesh("v1", "")))
	require.NoError(t, err)
	clock := meshtest.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	mesh, err := switchyard.New(cfg, switchyard.WithClock(clock))
	require.NoError(t, err)
	defer mesh.Close()
	reloads := make(chan error, 16)
	stop, err := switchyard.WatchFiles(context.Background(), mesh, []string{file}, switchyard.WatchOptions{
		Debounce: time.Second, OnReload: func(err error) { reloads <- err }})
	require.NoError(t, err)
	defer stop()
	subset := func() string { return mesh.Config().VirtualServices[0].HTTP[0].Route[0].Destination.Subset }

	replaceFile(t, file, watchedMesh("v2", ""))
	awaitTimer(clock)
	clock.Advance(time.Second - time.Nanosecond)
	assert.Equal(t, 1, clock.Pending(), "the reload waits out the debounce")
	clock.Advance(time.Nanosecond)
	require.NoError(t, <-reloads)
	assert.Equal(t, "v2", subset())

	require.NoError(t, os.Rename(file, file+"~"))
	awaitTimer(clock)
	clock.Advance(time.Second)
	require.ErrorContains(t, <-reloads, "no such file or directory")
	assert.Equal(t, "v2", subset(), "the running configuration stays")

	// Writing a new file is two events (create, then write), and the second
	// may come after the first has scheduled the reload: it postpones it.
	// Advance the debounce until the reload comes.
	writeFile(t, file, watchedMesh("v3", ""))
	require.NoError(t, advanceUntilReload(clock, reloads, time.Second))
	assert.Equal(t, "v3", subset())
}

// advanceUntilReload advances clock by step whenever the watcher has a
// reload scheduled, until one is reported.
func advanceUntilReload(clock *meshtest.Clock, reloads <-chan error, step time.Duration) error {
	for {
		select {
		case err := <-reloads:
			return err
		default:
		}
		if clock.Pending() > 0 {
			clock.Advance(step)
			continue
		}
		time.Sleep(time.Millisecond) // a condition wait: the test's deadline bounds it
	}
}

func TestWatchFilesEndsWhenTheMeshIsClosed(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	writeFile(t, file, watchedMesh("v1", ""))
	cfg, err := switchyard.Parse([]byte(watchedMesh("v1", "")))
	require.NoError(t, err)
	mesh, err := switchyard.New(cfg)
	require.NoError(t, err)
	reloads := make(chan error, 16)
	stop, err := switchyard.WatchFiles(context.Background(), mesh, []string{file}, switchyard.WatchOptions{
		Debounce: time.Millisecond, OnReload: func(err error) { reloads <- err }})
	require.NoError(t, err)
	require.NoError(t, mesh.Close())
	replaceFile(t, file, watchedMesh("v2", ""))
	require.ErrorIs(t, <-reloads, switchyard.ErrClosed)
	stop()
}
