package switchyard_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The package graph, as CONTRIBUTING.md draws it: the public packages hold
// what users write or call and import no machinery; the machinery lives
// under internal/ and imports downwards only. The test reads the import
// lists of the non-test files of every package.
func TestPackageLayering(t *testing.T) {
	const mod = "github.com/switchyard-go/switchyard"
	// allowed lists, for each package, the module's packages it may import
	// (internal leaves shared by everyone are in leaves).
	leaves := []string{"internal/clock", "internal/rng", "internal/fielderr", "internal/httpbody", "internal/reply",
		"internal/replay", "internal/reqerr", "internal/query", "internal/grpccode", "internal/failure", "internal/wire",
		"internal/yamlsize", "internal/israce", "internal/telemetry", "internal/stat", "internal/hostname", "internal/visibility", "internal/patchlist"}
	allowed := map[string][]string{
		// Istio's schema and the standalone policies: no other public
		// package but the schema they are made of, and no machinery.
		"match":    nil,
		"balancer": nil,
		"outlier":  nil,
		"pool":     nil,
		"fault":    nil,
		"retry":    {"internal/retrypolicy"},
		"route":    {"match", "fault", "retry", "balancer"},
		"subset":   {"balancer", "outlier", "pool", "retry"},
		"mtls":     nil,
		"gateway":  nil,
		"sidecar":  nil,
		// xds translates what a control plane pushes into the schema
		// (and the root package's Config), so it may name the schema.
		// It builds the workload's certificates from the bootstrap
		// (mtls), unless the caller's options carry some (meshopt).
		"xds":              {"internal/xdsclient", "internal/meshopt", "match", "fault", "retry", "route", "balancer", "subset", "outlier", "pool", "mtls", "sidecar"},
		"internal/meshopt": {"mtls", "route"},
		"meshtest":         {"subset"},
		// The machinery, downwards: router → engine → cluster → ejection.
		"internal/retrypolicy": nil,
		"internal/ejection":    {"balancer", "outlier"},
		"internal/cluster":     {"balancer", "outlier", "pool", "retry", "subset", "mtls", "internal/ejection"},
		"internal/engine":      {"balancer", "pool", "internal/cluster", "internal/ejection", "internal/retrypolicy"},
		"internal/router": {"balancer", "fault", "match", "pool", "route", "subset", "internal/cluster", "internal/engine",
			"internal/retrypolicy"},
		"internal/xdsclient": nil,
	}
	for pkg, deps := range allowed {
		imports := packageImports(t, pkg)
		for _, imp := range imports {
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			rel := strings.TrimPrefix(imp, mod+"/")
			if !slices.Contains(leaves, rel) && !slices.Contains(deps, rel) {
				t.Errorf("%s imports %s, which the layering does not allow", pkg, rel)
			}
		}
	}
}

// packageImports returns the imports of the non-test Go files of the
// package in dir.
func packageImports(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	var out []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			out = append(out, strings.Trim(imp.Path.Value, `"`))
		}
	}
	return out
}
