package switchyard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchOptions configures [WatchFiles]. The zero value is ready to use.
type WatchOptions struct {
	// Debounce is how long the files must stay quiet after a change before
	// they are read again, so that the several steps of an editor's save
	// or of a Kubernetes ConfigMap update make one reload. A stream of
	// changes that never pauses is still read at least every ten
	// Debounce periods. 100 ms when zero; timers run on the mesh's clock
	// (see [WithClock]).
	Debounce time.Duration
	// OnReload, when set, is called after each reload that found the
	// files changed: with nil when the new configuration is in force, or
	// with the reason it was rejected, the running configuration staying
	// in place. It is also called when the watch itself fails. Calls are
	// never concurrent: the first may come from WatchFiles itself, the
	// others come from the watcher's goroutine, and the stop function
	// waits for a call in progress.
	OnReload func(err error)
}

// defaultDebounce is WatchOptions.Debounce when zero.
const defaultDebounce = 100 * time.Millisecond

// WatchFiles keeps m's configuration in step with the Istio manifests at
// paths: files, or directories read recursively for *.yaml, *.yml and
// *.json files (names starting with "." are skipped). When they change, it
// reads them all again with [Parse] and applies them with [Mesh.Update],
// after a quiet period (WatchOptions.Debounce). A configuration that does
// not parse, that [Mesh.Update] rejects or that holds no resources at all
// (what a file truncated by an in-place write looks like) is not applied:
// the running configuration keeps serving, and the rejection is reported
// to WatchOptions.OnReload and, like every update, in the admin handler's
// "updates" list and the configuration-update metric. Files whose content
// did not change cause no update.
//
// It watches the directories that hold the files, not the files
// themselves, so that it sees editors' rename-and-replace saves and
// Kubernetes' ConfigMap volumes, whose files are symbolic links through a
// "..data" link that is swapped atomically to a new directory. The files
// are read through their links at one moment: if a link moves while they
// are read, they are read again, so files of two versions are never mixed.
//
// WatchFiles returns once the watch is in place, after reading the files
// once (so that a change made since m was built is not missed; if they
// match m's configuration nothing happens). It fails, and watches
// nothing, if a path does not exist or cannot be watched. Watching ends
// when ctx is done, when stop is called, or after a reload finds m closed
// (reporting [ErrClosed]); stop waits for the watcher to finish and may be
// called more than once.
func WatchFiles(ctx context.Context, m *Mesh, paths []string, opts WatchOptions) (stop func(), err error) {
	if len(paths) == 0 {
		return nil, errors.New("switchyard: WatchFiles needs at least one path")
	}
	if opts.Debounce <= 0 {
		opts.Debounce = defaultDebounce
	}
	w := &watcher{m: m, opts: opts, watched: map[string]bool{}}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("switchyard: watching files: %w", err)
		}
		w.paths = append(w.paths, filepath.Clean(p))
	}
	w.fs, err = fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("switchyard: watching files: %w", err)
	}
	files, err := w.expand()
	if err == nil {
		err = w.watch(files)
	}
	if err != nil {
		w.fs.Close()
		return nil, fmt.Errorf("switchyard: watching files: %w", err)
	}
	w.reload()

	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.fs.Close()
		w.run(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(cancel)
		<-done
	}, nil
}

// watcher is the state of one WatchFiles call, owned by its goroutine.
type watcher struct {
	m     *Mesh
	opts  WatchOptions
	paths []string // as given, cleaned
	fs    *fsnotify.Watcher

	watched map[string]bool // directories watched now
	names   map[string]bool // paths whose events matter: files and the links to them
	trees   []string        // directories given as paths, whose every entry matters

	lastFiles []string // what the last successful read found, to skip events that changed nothing
	lastData  [][]byte
}

// run reloads after each quiet period that follows a relevant event.
func (w *watcher) run(ctx context.Context) {
	clk := w.m.opts.clock
	fire := make(chan uint64)
	var (
		gen        uint64 // the generation of the pending timer; stale timers are ignored
		timer      Timer
		burstStart time.Time
		pending    bool
	)
	schedule := func() {
		now := clk.Now()
		if !pending {
			pending, burstStart = true, now
		}
		if timer != nil {
			timer.Stop()
		}
		gen++
		g := gen
		d := min(w.opts.Debounce, burstStart.Add(10*w.opts.Debounce).Sub(now))
		timer = clk.AfterFunc(max(d, 0), func() {
			select {
			case fire <- g:
			case <-ctx.Done():
			}
		})
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.forget(ev) || w.relevant(ev) {
				schedule()
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			// An overflowed queue lost events: read everything again.
			w.report(fmt.Errorf("switchyard: watching files: %w", err))
			schedule()
		case g := <-fire:
			if g != gen {
				continue
			}
			pending = false
			if !w.reload() {
				return
			}
		}
	}
}

// forget notes a watched directory that was removed or renamed, whose
// watch has ended, so that the next reload watches it again if it comes
// back; it reports whether it did.
func (w *watcher) forget(ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return false
	}
	name := absolute(ev.Name)
	if !w.watched[name] {
		return false
	}
	_ = w.fs.Remove(name) // a renamed directory is still watched, under its new name
	delete(w.watched, name)
	return true
}

// relevant reports whether ev may change what the files hold.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := absolute(ev.Name)
	if w.names[name] || strings.HasPrefix(filepath.Base(name), "..") {
		return true // a file, a link on its way, or Kubernetes' ..data swap
	}
	for _, t := range w.trees {
		if rel, err := filepath.Rel(t, name); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return !hidden(filepath.Base(name))
		}
	}
	return false
}

// reload reads the files and applies them if they changed. It reports
// false once the mesh is closed: there is nothing left to update.
func (w *watcher) reload() bool {
	files, data, err := w.read()
	if files != nil {
		if werr := w.watch(files); werr != nil {
			w.report(fmt.Errorf("switchyard: watching files: %w", werr))
		}
	}
	if err == nil {
		if slices.Equal(files, w.lastFiles) && slices.EqualFunc(data, w.lastData, bytes.Equal) {
			return true // an event that changed nothing, or the same rejected files again
		}
		w.lastFiles, w.lastData = files, data
	} else {
		w.lastFiles, w.lastData = nil, nil
	}
	var cfg Config
	if err == nil {
		cfg, err = w.parse(files, data)
	}
	if err != nil {
		w.m.recordUpdate(counts(Config{}), err)
		w.report(err)
		return true
	}
	if reflect.DeepEqual(cfg, w.m.Config()) {
		return true
	}
	err = w.m.Update(cfg) // Update records the outcome itself
	w.report(err)
	return !errors.Is(err, ErrClosed)
}

func (w *watcher) report(err error) {
	if w.opts.OnReload != nil {
		w.opts.OnReload(err)
	}
}

// maxReads bounds how often read reads the files again because a link
// moved while they were read.
const maxReads = 5

// read reads every file through its links at one moment. It returns the
// files it found, to watch, even when it fails to read them.
func (w *watcher) read() (files []string, data [][]byte, err error) {
	for range maxReads {
		files, err := w.expand()
		if err != nil {
			return nil, nil, err
		}
		before, err := resolveAll(files)
		if err != nil {
			return files, nil, err
		}
		data := make([][]byte, len(files))
		for i, f := range before {
			if data[i], err = os.ReadFile(f); err != nil {
				break
			}
		}
		after, rerr := resolveAll(files)
		if rerr != nil || !slices.Equal(before, after) {
			continue // a link moved while the files were read
		}
		return files, data, err
	}
	return nil, nil, fmt.Errorf("switchyard: %s kept changing while being read; will read again on the next change", strings.Join(w.paths, ", "))
}

// parse parses the files' contents as one configuration.
func (w *watcher) parse(files []string, data [][]byte) (Config, error) {
	var cfg Config
	var errs []error
	for i, f := range files {
		c, err := Parse(data[i])
		if err != nil {
			errs = append(errs, inFile(f, err))
			continue
		}
		cfg = cfg.Append(c)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if len(cfg.ServiceEntries)+len(cfg.DestinationRules)+len(cfg.VirtualServices) == 0 {
		return Config{}, fmt.Errorf("switchyard: %s hold no resources; keeping the running configuration (a file being rewritten in place is empty for a moment)", strings.Join(w.paths, ", "))
	}
	return cfg, nil
}

// inFile puts the file's name in front of each of err's problems, as
// ParseFiles does.
func inFile(name string, err error) error {
	var out []error
	for _, e := range leaves(err) {
		var ce *ConfigError
		if errors.As(e, &ce) {
			c := *ce
			c.Resource = name + ": " + c.Resource
			out = append(out, &c)
			continue
		}
		out = append(out, fmt.Errorf("%s: %w", name, e))
	}
	return errors.Join(out...)
}

func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

func resolveAll(files []string) ([]string, error) {
	out := make([]string, len(files))
	for i, f := range files {
		r, err := filepath.EvalSymlinks(f)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// expand lists the files the paths name: each file path as it is, and the
// manifests under each directory in lexical order.
func (w *watcher) expand() ([]string, error) {
	var files []string
	for _, p := range w.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path == p {
				return nil
			}
			if hidden(d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !manifestExt(path) {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if fi, err := os.Stat(path); err != nil || fi.IsDir() {
					return nil // a dangling link, or a link to a directory
				}
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// watch brings the watched directories in line with files: the
// directories given as paths and their subdirectories, and the directory
// of every file and of every link on the way to it.
func (w *watcher) watch(files []string) error {
	want := map[string]bool{}
	names := map[string]bool{}
	w.trees = w.trees[:0]
	for _, p := range w.paths {
		p = absolute(p)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			w.trees = append(w.trees, p)
			_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return nil // gone since; the next event says so
				}
				if d.IsDir() {
					if path != p && hidden(d.Name()) {
						return filepath.SkipDir
					}
					want[path] = true
				}
				return nil
			})
		}
	}
	for _, f := range files {
		f = absolute(f)
		for _, hop := range linkChain(f) {
			names[hop] = true
			want[filepath.Dir(hop)] = true
		}
		if r, err := filepath.EvalSymlinks(f); err == nil {
			names[r] = true
			want[filepath.Dir(r)] = true
		}
	}
	w.names = names
	var errs []error
	for d := range want {
		if w.watched[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			errs = append(errs, err)
			continue
		}
		w.watched[d] = true
	}
	for d := range w.watched {
		if !want[d] {
			_ = w.fs.Remove(d) // fails when the directory is gone, which ended the watch anyway
			delete(w.watched, d)
		}
	}
	return errors.Join(errs...)
}

// linkChain returns f and every path its symbolic links lead through, up
// to the file itself (directory links along the way are left to the
// kernel, as in Kubernetes' ..data).
func linkChain(f string) []string {
	chain := []string{f}
	for range 40 { // the kernel's own bound on links followed
		fi, err := os.Lstat(f)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			break
		}
		target, err := os.Readlink(f)
		if err != nil {
			break
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(f), target)
		}
		f = filepath.Clean(target)
		chain = append(chain, f)
	}
	return chain
}

// absolute returns p as a clean absolute path, to compare with the names
// of events.
func absolute(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

func hidden(name string) bool { return strings.HasPrefix(name, ".") }

func manifestExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
