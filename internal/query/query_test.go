package query_test

import (
	"strings"
	"testing"

	"github.com/switchyard-go/switchyard/internal/query"
)

func FuzzLookupQuery(f *testing.F) {
	f.Add("a=1&b=2", "b")
	f.Add("a&&b=", "b")
	f.Fuzz(func(t *testing.T, q, key string) {
		v, ok := query.Value(q, key)
		if !ok {
			return
		}
		if !strings.Contains(q, key) || !strings.Contains(q, v) {
			t.Fatalf("query.Value(%q, %q) = %q, invented a value", q, key, v)
		}
	})
}
