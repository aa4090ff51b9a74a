package conformance

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"istio.io/istio/pkg/test/util/yml"
	sigsyaml "sigs.k8s.io/yaml"
)

// document is one manifest of the corpus.
type document struct {
	// id names the document stably: "istio:<path in istio.io/istio>#<n>",
	// "table:<Istio test>/<case>" or "own:<file>#<n>", n counting the
	// file's non-empty documents from 1.
	id string
	// source groups documents by where they come from.
	source string
	yaml   []byte
	// note is what the source itself expects, when it says: a table case's
	// valid flag, or the `_err` of Istio's CRD test data.
	note string
}

// Sources, in the order the corpus lists them.
const (
	srcTestdata = "istio testdata"
	srcSamples  = "istio samples"
	srcTables   = "istio tables"
	srcOwn      = "own"
)

// module is a module of the build list, as go list -m reports it.
type module struct {
	path, version, dir string
}

// istioModules locates istio.io/istio and istio.io/api, at the versions
// go.mod pins, in the module cache.
func istioModules() (istio, api module, err error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Version}} {{.Dir}}", "istio.io/istio", "istio.io/api").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return istio, api, fmt.Errorf("go list -m istio.io/istio istio.io/api: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return istio, api, fmt.Errorf("%s is not in the module cache; run go mod download", f[0])
		}
		m := module{path: f[0], version: f[1], dir: f[2]}
		switch m.path {
		case "istio.io/istio":
			istio = m
		case "istio.io/api":
			api = m
		}
	}
	return istio, api, nil
}

// splitDocuments cuts a YAML stream at its "---" lines, as Istio's own tests
// do (pkg/test/util/yml.SplitString), and drops documents that hold nothing
// (only comments).
func splitDocuments(text string) [][]byte {
	var out [][]byte
	for _, part := range yml.SplitString(text) {
		js, err := sigsyaml.YAMLToJSON([]byte(part))
		if err == nil && (bytes.Equal(js, []byte("null")) || len(bytes.TrimSpace(js)) == 0) {
			continue
		}
		out = append(out, []byte(part+"\n"))
	}
	return out
}

// errLine is the `_err:` annotation of Istio's CRD test data: the error the
// CRD schema gives. It is test metadata, not part of the manifest.
var errLine = regexp.MustCompile(`(?m)^_err:[ \t]*(.*)\n`)

// fileDocuments reads one file's documents, naming them prefix+rel+"#n".
func fileDocuments(path, prefix, rel, source string) ([]document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs []document
	for i, d := range splitDocuments(string(data)) {
		doc := document{id: fmt.Sprintf("%s%s#%d", prefix, rel, i+1), source: source, yaml: d}
		if m := errLine.FindSubmatch(d); m != nil {
			doc.note = "CRD schema: " + strings.Trim(string(m[1]), `'"`)
			doc.yaml = errLine.ReplaceAll(d, nil)
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// globDocuments reads the documents of every file matching pattern under
// root, in name order.
func globDocuments(root, pattern, prefix, source string) ([]document, error) {
	files, err := filepath.Glob(filepath.Join(root, pattern))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no files match %s in %s", pattern, root)
	}
	sort.Strings(files)
	var docs []document
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		d, err := fileDocuments(f, prefix, filepath.ToSlash(rel), source)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// sampleDocuments reads Istio's samples that hold networking.istio.io
// resources (Bookinfo, helloworld, httpbin, tcp-echo, …): every document of
// those files, whatever its kind.
func sampleDocuments(istio string) ([]document, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(istio, "samples"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (!strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml")) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte("networking.istio.io/")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var docs []document
	for _, f := range files {
		rel, _ := filepath.Rel(istio, f)
		d, err := fileDocuments(f, "istio:", filepath.ToSlash(rel), srcSamples)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// corpus is every document, and what could not be rendered from Istio's tables.
type corpus struct {
	istio, api module
	docs       []document
	skipped    []skippedCase
}

// loadCorpus reads the whole corpus: Istio's test data, its samples, its
// validation tables rendered as manifests, and our own testdata.
func loadCorpus() (*corpus, error) {
	im, am, err := istioModules()
	if err != nil {
		return nil, err
	}
	c := &corpus{istio: im, api: am}
	istio := im.dir
	for _, g := range []struct{ root, pattern string }{
		{istio, "pkg/config/validation/testdata/crds/*.yaml"},
		{istio, "tests/testdata/config/*.yaml"},
	} {
		d, err := globDocuments(g.root, g.pattern, "istio:", srcTestdata)
		if err != nil {
			return nil, err
		}
		c.docs = append(c.docs, d...)
	}
	d, err := sampleDocuments(istio)
	if err != nil {
		return nil, err
	}
	c.docs = append(c.docs, d...)

	tables, skipped, err := tableDocuments(filepath.Join(istio, "pkg/config/validation"))
	if err != nil {
		return nil, err
	}
	c.docs = append(c.docs, tables...)
	c.skipped = skipped

	own, err := globDocuments("testdata", "*.yaml", "own:testdata/", srcOwn)
	if err != nil {
		return nil, err
	}
	c.docs = append(c.docs, own...)

	seen := map[string]bool{}
	for _, doc := range c.docs {
		if seen[doc.id] {
			return nil, fmt.Errorf("corpus: two documents named %s", doc.id)
		}
		seen[doc.id] = true
	}
	return c, nil
}
