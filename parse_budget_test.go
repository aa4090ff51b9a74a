package switchyard_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// The inputs below are a few KB each, crafted to make parsing expensive.
// Parsing any of them may take at most maxParseBytes and maxParseObjects
// of allocation (work that time cannot measure reliably under -race): the
// budget of a few KB is about 10^5 values, which take a few MiB.
const (
	maxParseBytes   = 32 << 20
	maxParseObjects = 500_000
)

// allocated returns the bytes and objects that f allocates.
func allocated(f func()) (bytes, objects uint64) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs
}

// parseCost parses data and returns what parsing allocated, and its error.
func parseCost(t *testing.T, data string) (bytes, objects uint64, err error) {
	t.Helper()
	bytes, objects = allocated(func() { _, err = switchyard.Parse([]byte(data)) })
	t.Logf("%d bytes of input: %d KiB and %d objects allocated", len(data), bytes>>10, objects)
	return bytes, objects, err
}

// aliasedSpec returns a resource whose spec expands to routes×2×1000
// values, anchored as &s.
func aliasedSpec(routes int) string {
	return "{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: x}, spec: &s {hosts: [r], exportTo: &g [" +
		strings.Repeat("mesh, ", 999) + "mesh], http: [" + strings.Repeat("{match: [{gateways: *g}, {gateways: *g}]}, ", routes) + "{}]}}"
}

func TestParseBudgetCoversListItems(t *testing.T) {
	// Each item of a List used to get a budget of its own: 100 items
	// repeating one 40,000-value spec decoded 4·10^6 values from 16 KB.
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n- " + aliasedSpec(20) + "\n")
	for range 100 {
		b.WriteString("- {apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: x}, spec: *s}\n")
	}
	bytes, objects, err := parseCost(t, b.String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the input expands to more than")
	assert.LessOrEqual(t, bytes, uint64(maxParseBytes))
	assert.LessOrEqual(t, objects, uint64(maxParseObjects))
}

// compactBomb is a VirtualService of about 1 KB whose 20 routes of 20
// matches all list the same 100 gateways through aliases: 40,000 values.
func compactBomb(name string) string {
	return "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " + name + "}\nspec:\n  hosts: [r]\n" +
		"  http: [&r {match: [&m {gateways: [mesh" + strings.Repeat(", mesh", 99) + "]}" + strings.Repeat(", *m", 19) + "]}" + strings.Repeat(", *r", 19) + "]\n"
}

func TestParseBudgetCoversDocuments(t *testing.T) {
	// Each document used to get a budget of its own: 30 documents of
	// 1 KB decoded 1.2·10^6 values.
	var b strings.Builder
	for i := range 30 {
		b.WriteString(compactBomb(fmt.Sprint("x", i)) + "---\n")
	}
	bytes, objects, err := parseCost(t, b.String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the input expands to more than")
	assert.LessOrEqual(t, bytes, uint64(maxParseBytes))
	assert.LessOrEqual(t, objects, uint64(maxParseObjects))
}

func TestParseFilesShareOneBudget(t *testing.T) {
	// The same through files: 30 files of 1 KB share one budget.
	dir := t.TempDir()
	var paths []string
	for i := range 30 {
		p := filepath.Join(dir, fmt.Sprintf("f%d.yaml", i))
		require.NoError(t, os.WriteFile(p, []byte(compactBomb("x")), 0o600))
		paths = append(paths, p)
	}
	var err error
	bytes, objects := allocated(func() { _, err = switchyard.ParseFiles(paths...) })
	t.Logf("%d KiB and %d objects allocated", bytes>>10, objects)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the input expands to more than")
	assert.LessOrEqual(t, bytes, uint64(maxParseBytes))
	assert.LessOrEqual(t, objects, uint64(maxParseObjects))
}

// unknownFieldsBomb is a VirtualService with 100 routes × 100 matches
// (all the same two through aliases), each match with two unknown fields
// whose names are keyLen long: 20,000 errors from a few KB.
func unknownFieldsBomb(keyLen int) string {
	k := strings.Repeat("k", keyLen)
	return "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [r]\n" +
		"  http: [&r {match: [&m {" + k + "1: 1, " + k + "2: 1}, " + strings.Repeat("*m, ", 98) + "*m]}, " + strings.Repeat("*r, ", 98) + "*r]\n"
}

func TestParseBudgetCoversErrorsInAliases(t *testing.T) {
	// Errors inside aliased nodes were neither bounded nor cheap: each
	// was formatted with its path and ran an edit-distance search over
	// the field names. Now the first 100 are described and the rest
	// counted.
	bytes, objects, err := parseCost(t, unknownFieldsBomb(60))
	require.Error(t, err)
	errs := fielderr.Flatten(err)
	require.Len(t, errs, fielderr.MaxReported+1)
	assert.Equal(t, `document 1 (VirtualService "x"): spec.http[0].match[0].`+strings.Repeat("k", 60)+`1: unknown field (line 6)`, errs[0].Error())
	assert.Equal(t, "and 19900 more errors", errs[fielderr.MaxReported].Error())
	assert.LessOrEqual(t, bytes, uint64(4<<20))
	assert.LessOrEqual(t, objects, uint64(100_000))
}

func TestParseBudgetCoversJSONErrors(t *testing.T) {
	// JSON has no aliases, but a few KB of it can hold a thousand
	// misspelt fields: only the described errors are formatted.
	var b strings.Builder
	b.WriteString(`{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "x"}, "spec": {"hosts": ["r"], "http": [{`)
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"rout%d": 1`, i)
	}
	b.WriteString(`}]}}`)
	_, objects, err := parseCost(t, b.String())
	require.Error(t, err)
	errs := fielderr.Flatten(err)
	require.Len(t, errs, fielderr.MaxReported+1)
	assert.Contains(t, errs[0].Error(), `spec.http[0].rout0: unknown field (did you mean "route"?) (line 1)`)
	assert.Equal(t, "and 1900 more errors", errs[fielderr.MaxReported].Error())
	// A described error costs tens of objects; a counted one a few.
	assert.LessOrEqual(t, objects, uint64(40_000))
}

func TestParseMergeKeys(t *testing.T) {
	cfg, err := switchyard.Parse([]byte(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [r]
  http:
  - &base {name: base, timeout: 1s, retries: {attempts: 3}, route: [{destination: {host: r}}]}
  - {<<: *base, name: own}
  - <<: [{timeout: 2s}, *base]
    name: listed
`))
	require.NoError(t, err)
	http := cfg.VirtualServices[0].HTTP
	require.Len(t, http, 3)
	assert.Equal(t, "own", http[1].Name, "a key of the mapping wins over a merged one")
	assert.Equal(t, "1s", http[1].Timeout.String())
	assert.Equal(t, int32(3), http[1].Retries.Attempts)
	assert.Equal(t, "listed", http[2].Name)
	assert.Equal(t, "2s", http[2].Timeout.String(), "an earlier merged mapping wins over a later one")
	assert.Equal(t, "r", http[2].Route[0].Destination.Host)

	_, err = switchyard.Parse([]byte(vs("  - {<<: [mesh], route: [{destination: {host: reviews}}]}")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spec.http[0]: a merge key (<<) takes a mapping or a list of mappings, got the string "mesh"`)

	// Merges nest as deep as the recursion that expands them may go: a
	// chain of 1,000, anchored where it is not decoded, then used once.
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: x\n  managedFields:\n  - &a0 {name: a}\n")
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(&b, "  - &a%d {<<: *a%d}\n", i, i-1)
	}
	b.WriteString("spec: {hosts: [r], http: [*a999]}\n")
	_, err = switchyard.Parse([]byte(b.String()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spec.http[0]: merge keys (<<) nest more than 100 deep; simplify the document`)
}

func TestParseBudgetCoversMergeKeys(t *testing.T) {
	// Merge keys expand like aliases: each level merges the one below
	// 20 times, 20^40 entries from 6 KB.
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [r]\n  http:\n")
	b.WriteString("  - &a0 {name: a, match: [{gateways: [" + strings.Repeat("mesh, ", 99) + "mesh]}]}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "  - &a%d {<<: [*a%d%s]}\n", i, i-1, strings.Repeat(fmt.Sprintf(", *a%d", i-1), 19))
	}
	bytes, objects, err := parseCost(t, b.String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the input expands to more than")
	assert.LessOrEqual(t, bytes, uint64(maxParseBytes))
	assert.LessOrEqual(t, objects, uint64(maxParseObjects))
}

func TestParseLargeInputWithoutAliasesFitsTheBudget(t *testing.T) {
	// The budget grows with the input: 100 documents of 1,000 list items
	// each, 10^5 values, more than the budget's fixed part, parse.
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s%d}\nspec: {hosts: [s%d], exportTo: [%s.]}\n---\n", i, i, strings.Repeat("., ", 999))
	}
	cfg, err := switchyard.Parse([]byte(b.String()))
	require.NoError(t, err)
	assert.Len(t, cfg.ServiceEntries, 100)
}

func TestErrorCountIsExact(t *testing.T) {
	// 25 routes × 25 matches × 25 unknown fields, all through aliases:
	// 15,625 errors, of which 100 are described.
	var fields []string
	for i := range 25 {
		fields = append(fields, fmt.Sprintf("x%d: 1", i))
	}
	doc := "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [r]\n" +
		"  http: [&r {match: [&m {" + strings.Join(fields, ", ") + "}" + strings.Repeat(", *m", 24) + "]}" + strings.Repeat(", *r", 24) + "]\n"
	_, err := switchyard.Parse([]byte(doc))
	require.Error(t, err)
	errs := fielderr.Flatten(err)
	require.Len(t, errs, fielderr.MaxReported+1)
	assert.Equal(t, "and 15525 more errors", errs[fielderr.MaxReported].Error())

	// The same at New, where the errors of a route, a VirtualService and
	// the whole configuration are each capped and merged: 150 routes with
	// an invalid regex each.
	var routes []route.HTTPRoute
	for range 150 {
		routes = append(routes, route.HTTPRoute{
			Match: []match.Request{{URI: match.Regex("(")}},
			Route: []route.RouteDestination{{Destination: route.Destination{Host: "r"}}},
		})
	}
	_, err = switchyard.New(switchyard.Config{
		ServiceEntries:  []subset.ServiceEntry{{Name: "r", Hosts: []string{"r"}, Ports: []subset.Port{{Number: 80, Name: "p80"}}, Resolution: "DNS"}},
		VirtualServices: []route.VirtualService{{Name: "x", Hosts: []string{"r"}, HTTP: routes}},
	})
	require.Error(t, err)
	errs = fielderr.Flatten(err)
	require.Len(t, errs, fielderr.MaxReported+1)
	assert.Equal(t, "and 50 more errors", errs[fielderr.MaxReported].Error())
}

func TestErrorMessagesQuoteLongValuesShort(t *testing.T) {
	// A value quoted in an error is cut, so that 100 errors quoting one
	// aliased 100 KB string cost kilobytes, not 10 MB.
	long := strings.Repeat("v", 100_000)
	doc := vs("  - {route: [{destination: {host: reviews}, weight: &w " + long + "}], timeout: *w, retries: {attempts: *w}}")
	_, err := switchyard.Parse([]byte(doc))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 2000)
	assert.Contains(t, err.Error(), `expected an integer, got the string "`+strings.Repeat("v", 64)+`"… (100000 bytes)`)

	// The kind names the resource in each of its errors.
	_, err = switchyard.Parse([]byte("kind: " + long + "\nmetadata: {name: x, namespace: " + long + "}\nspec: {}\n"))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 1000)
}

func TestErrorsAtNewQuoteLongValuesShort(t *testing.T) {
	// One 100 KB gateway name, aliased into 50 VirtualServices of a List:
	// each of the 50 errors at New quoted all of it.
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := range 50 {
		g := "*g"
		if i == 0 {
			g = "&g " + strings.Repeat("g", 100_000)
		}
		fmt.Fprintf(&b, "- {apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: v%d}, spec: {hosts: [h%d], gateways: [%s], http: [{directResponse: {status: 200}}]}}\n", i, i, g)
	}
	cfg, err := switchyard.Parse([]byte(b.String()))
	require.NoError(t, err)
	_, err = switchyard.New(cfg)
	require.Error(t, err)
	errs := fielderr.Flatten(err)
	require.Len(t, errs, 50)
	assert.Equal(t, `VirtualService "v0": spec.gateways[0]: gateway "`+strings.Repeat("g", 64)+`"… (100000 bytes): the name must be made of DNS-1123 labels`, errs[0].Error())
	assert.Less(t, len(err.Error()), 50*300)
}

func TestItemsWithOnlyCountedErrorsAreCheap(t *testing.T) {
	// 20,000 empty List items, four errors each, in 80 KB: past the
	// first 100 errors an item costs its YAML node and little more (it
	// cost 1.2 KB and 17 objects: names, maps and metadata built for
	// errors no one would read).
	bytes, objects, err := parseCost(t, "kind: List\nitems: ["+strings.Repeat("{}, ", 20_000)+"]")
	require.Error(t, err)
	assert.True(t, strings.HasSuffix(err.Error(), "and 79900 more errors"))
	assert.LessOrEqual(t, bytes, uint64(12<<20))
	assert.LessOrEqual(t, objects, uint64(100_000))
}

func TestParseFollowsAliasesAtTheTop(t *testing.T) {
	// A List item, a kind and a spec may be aliases, as in any YAML; an
	// aliased item was "expected a resource …, got vs".
	cfg, err := switchyard.Parse([]byte(`apiVersion: v1
kind: List
items:
- &se {apiVersion: &v networking.istio.io/v1, kind: ServiceEntry, metadata: {name: a}, spec: &spec {hosts: [a], ports: [{number: 80, name: p80}], resolution: DNS}}
- {apiVersion: *v, kind: ServiceEntry, metadata: {name: b}, spec: *spec}
- *se
`))
	require.NoError(t, err)
	require.Len(t, cfg.ServiceEntries, 3)
	assert.Equal(t, []string{"a", "b", "a"}, []string{cfg.ServiceEntries[0].Name, cfg.ServiceEntries[1].Name, cfg.ServiceEntries[2].Name})
	assert.Equal(t, []string{"a"}, cfg.ServiceEntries[2].Hosts)
}

func TestBudgetErrorIsReportedAfterAHundredOthers(t *testing.T) {
	// 200 errors through aliases, then an expansion past the budget: the
	// error that says decoding stopped is shown, not counted among the
	// rest.
	doc := "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [r]\n  http:\n" +
		"  - {match: [&m {k1: 1, k2: 1}" + strings.Repeat(", *m", 99) + "]}\n" +
		"  - {match: [{gateways: &g [mesh" + strings.Repeat(", mesh", 999) + "]}" + strings.Repeat(", {gateways: *g}", 99) + "]}\n"
	_, err := switchyard.Parse([]byte(doc))
	require.Error(t, err)
	errs := fielderr.Flatten(err)
	require.Len(t, errs, fielderr.MaxReported+2)
	assert.Contains(t, errs[fielderr.MaxReported].Error(), `document 1 (VirtualService "x"): spec.http[1].match[`)
	assert.Contains(t, errs[fielderr.MaxReported].Error(), `: the input expands to more than`)
	assert.Contains(t, errs[fielderr.MaxReported+1].Error(), "more errors")
}
