package switchyard

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/route"
)

// TestParseWorkIsBoundedByTheInput counts the work that crafted inputs
// make parsing do: the steps taken stay within the input's budget, at
// most fielderr.MaxReported errors are described, and the edit-distance
// searches behind "did you mean" suggestions cost at most one search per
// described error, none for a name too long to be a misspelling.
func TestParseWorkIsBoundedByTheInput(t *testing.T) {
	names := structInfoOf(reflect.TypeFor[route.HTTPRoute]()).names
	search := func(key string) int { // the cells of one full search
		cells := 0
		for _, n := range names {
			cells += len(key) * len(n)
		}
		return cells
	}
	unknownKeys := func(n int, key func(i int) string) string {
		var b strings.Builder
		b.WriteString(`{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "x"}, "spec": {"hosts": ["r"], "http": [{`)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q: 1", key(i))
		}
		b.WriteString(`}]}}`)
		return b.String()
	}
	aliased := func(key string) string {
		return "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [r]\n" +
			"  http: [&r {" + key + ": 1, match: [{}]}" + strings.Repeat(", *r", 1999) + "]\n"
	}
	tests := []struct {
		name     string
		data     string
		maxCells int
	}{
		{"misspellings in JSON", unknownKeys(2000, func(i int) string { return fmt.Sprintf("rou%04d", i) }), fielderr.MaxReported * search("rou0000")},
		{"long names in JSON", unknownKeys(500, func(i int) string { return fmt.Sprintf("%0900d", i) }), 0},
		{"a misspelling through aliases", aliased("mtach"), fielderr.MaxReported * search("mtach")},
		{"a long name through aliases", aliased(strings.Repeat("m", 1000)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(len(tt.data))
			var errs fielderr.List
			parse("", []byte(tt.data), b, &errs)
			assert.LessOrEqual(t, b.used, b.limit, "steps")
			assert.Greater(t, b.errs, fielderr.MaxReported)
			assert.Equal(t, b.errs, errs.Len(), "every error is counted")
			assert.Len(t, fielderr.Flatten(errs.Err()), fielderr.MaxReported+1, "the first 100 are described")
			assert.LessOrEqual(t, b.cells, tt.maxCells, "edit-distance cells")
		})
	}
}
