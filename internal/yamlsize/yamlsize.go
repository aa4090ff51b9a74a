// Package yamlsize bounds the work of decoding YAML: YAML aliases and merge
// keys let a few bytes stand for very many values ("billion laughs"), so
// every decoder of input YAML allows an input Limit(len(input)) values at
// most, aliases expanded.
package yamlsize

import "go.yaml.in/yaml/v3"

// An input without aliases holds at most about one value per byte (every
// value and map entry takes at least a byte of YAML or JSON), so it always
// fits in Limit; aliases may expand it a few times over and no more.
const (
	// Base is the number of values any input may expand to.
	Base = 1 << 16
	// PerByte is the number of values each byte of input adds.
	PerByte = 2
)

// Limit returns how many values an input of n bytes may expand to.
func Limit(n int) int { return Base + PerByte*n }

// Expanded returns how many nodes n stands for with its aliases expanded,
// without expanding them: in time linear in the nodes of the document. It
// stops counting past limit, returning limit+1.
func Expanded(n *yaml.Node, limit int) int {
	memo := map[*yaml.Node]int{}
	var size func(n *yaml.Node) int
	size = func(n *yaml.Node) int {
		if n == nil {
			return 0
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return 1
			}
			n = n.Alias
		}
		if s, ok := memo[n]; ok {
			return s
		}
		s := 1
		for _, c := range n.Content {
			if s += size(c); s > limit {
				s = limit + 1
				break
			}
		}
		memo[n] = s
		return s
	}
	return size(n)
}
