// Package yamltree reads a stream of YAML documents (JSON is YAML) into
// compact trees of nodes, each with its tag as go.yaml.in/yaml/v3 resolves
// it and its line.
//
// The trees are exactly those of yaml.v3's node decoding: the common
// subset of YAML that Kubernetes manifests and JSON use (block and flow
// collections, plain and quoted scalars on one line, comments) is read by
// a fast reader of its own, and every document that holds anything else
// (anchors, aliases, tags, block scalars, multi-line scalars, tabs in
// block context, "...", directives) is read by yaml.v3 itself, as is a
// stream whose text yaml.v3 would reject or count in lines differently
// (control characters, invalid UTF-8, byte order marks, CR and Unicode
// line breaks). Differential tests and a fuzz test hold the two readers
// to the same trees, lines and errors.
package yamltree

// Kind is the kind of a node.
type Kind uint8

// The kinds of node.
const (
	ScalarNode Kind = iota + 1
	MappingNode
	SequenceNode
	AliasNode
)

// The tags yaml.v3 gives nodes without an explicit tag.
const (
	NullTag      = "!!null"
	BoolTag      = "!!bool"
	StrTag       = "!!str"
	IntTag       = "!!int"
	FloatTag     = "!!float"
	TimestampTag = "!!timestamp"
	MergeTag     = "!!merge"
	MapTag       = "!!map"
	SeqTag       = "!!seq"
)

// Node is a node of a document: a scalar, a mapping (Content holds keys
// and values in turn), a sequence or an alias.
type Node struct {
	Kind Kind
	// Line is the 1-based line of the node in the stream, as yaml.v3
	// gives it.
	Line int
	// Tag is the node's short tag ("!!str", "!!int", "!!map", …), as
	// yaml.v3 resolves it; explicit tags are kept as written.
	Tag string
	// Value is a scalar's value, or the anchor an alias names.
	Value string
	// Alias is the node an alias names.
	Alias *Node
	// Content is a collection's children.
	Content []*Node
}

// arena hands out nodes and content slices from large blocks, as a
// document's nodes live and die together.
type arena struct {
	nodes []Node
	ptrs  []*Node
}

const (
	arenaNodes = 256
	arenaPtrs  = 1024
)

func (a *arena) node() *Node {
	if len(a.nodes) == 0 {
		a.nodes = make([]Node, arenaNodes)
	}
	n := &a.nodes[0]
	a.nodes = a.nodes[1:]
	return n
}

// content returns a copy of c that appending to cannot overrun.
func (a *arena) content(c []*Node) []*Node {
	if len(c) == 0 {
		return nil
	}
	if len(c) > len(a.ptrs) {
		if len(c) > arenaPtrs/4 {
			return append([]*Node(nil), c...)
		}
		a.ptrs = make([]*Node, arenaPtrs)
	}
	out := a.ptrs[:len(c):len(c)]
	copy(out, c)
	a.ptrs = a.ptrs[len(c):]
	return out
}
