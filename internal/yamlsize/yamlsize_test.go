package yamlsize

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestExpandedCountsAliasesWithoutExpandingThem(t *testing.T) {
	parse := func(s string) *yaml.Node {
		var n yaml.Node
		require.NoError(t, yaml.Unmarshal([]byte(s), &n))
		return &n
	}
	// document, sequence, 3 scalars
	assert.Equal(t, 5, Expanded(parse("[a, b, c]"), 100))
	// document, mapping; a: list of 2; b: alias of it (3 again)
	assert.Equal(t, 2+1+3+1+3, Expanded(parse("{a: &x [1, 2], b: *x}"), 100))
	// 10 levels of 10 aliases: 10^10 values, counted in linear time and
	// cut at the limit.
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.TrimSuffix(strings.Repeat("*l"+string(rune('0'+i-1))+", ", 10), ", ") + "]\n")
	}
	assert.Equal(t, 1001, Expanded(parse(b.String()), 1000))
	assert.Equal(t, Base+PerByte*10, Limit(10))

	// Aliases nested 20,000 deep are counted without recursion.
	b.Reset()
	b.WriteString("- &a0 [x]\n")
	for i := 1; i < 20_000; i++ {
		fmt.Fprintf(&b, "- &a%d [*a%d]\n", i, i-1)
	}
	fmt.Fprintf(&b, "- *a%d\n", 20_000-1)
	// The document and its sequence, then a_i, of i+2 nodes, for each i,
	// and a_19999 again.
	const n = 20_000
	assert.Equal(t, 2+n*(n-1)/2+2*n+(n+1), Expanded(parse(b.String()), 1<<40))
}
