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
// without expanding them: in time linear in the nodes of the document, and
// without recursion, however deep aliases nest. It stops counting past
// limit, returning limit+1.
func Expanded(n *yaml.Node, limit int) int {
	if n = target(n); n == nil {
		return 0
	}
	const inProgress = -1
	memo := map[*yaml.Node]int{n: inProgress}
	type frame struct {
		n    *yaml.Node
		next int // index of the next child to count
		size int
	}
	stack := []frame{{n: n, size: 1}}
	for {
		top := &stack[len(stack)-1]
		if top.next < len(top.n.Content) && top.size <= limit {
			c := target(top.n.Content[top.next])
			top.next++
			switch s, ok := memo[c]; {
			case c == nil:
			case s == inProgress:
				top.size = limit + 1 // a cycle, which parsed YAML never has
			case ok:
				top.size += s
			default:
				memo[c] = inProgress
				stack = append(stack, frame{n: c, size: 1})
			}
			continue
		}
		s := min(top.size, limit+1)
		memo[top.n] = s
		if stack = stack[:len(stack)-1]; len(stack) == 0 {
			return s
		}
		stack[len(stack)-1].size += s
	}
}

// target follows an alias to the node it names.
func target(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}
