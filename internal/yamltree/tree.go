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
//
// A tree holds no pointers: its nodes are in one array and refer to each
// other by index and to their text by offset, so that building it writes
// no pointers and the garbage collector has nothing in it to scan.
package yamltree

import "math"

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

// tag is a node's tag: one of tags, or tagOther with the tag in strs.
type tag uint8

const (
	tagNone tag = iota
	tagNull
	tagBool
	tagStr
	tagInt
	tagFloat
	tagTimestamp
	tagMerge
	tagMap
	tagSeq
	tagOther
)

var tags = [...]string{tagNone: "", tagNull: NullTag, tagBool: BoolTag, tagStr: StrTag, tagInt: IntTag,
	tagFloat: FloatTag, tagTimestamp: TimestampTag, tagMerge: MergeTag, tagMap: MapTag, tagSeq: SeqTag}

func tagOf(s string) tag {
	for i, t := range tags {
		if t == s {
			return tag(i)
		}
	}
	return tagOther
}

// maxSource is the largest stream the fast reader reads: its offsets
// are 32-bit.
const maxSource = math.MaxInt32

// node is a node of a tree.
type node struct {
	kind  Kind
	tag   tag
	line  int32
	off   int32 // the value is src[off:off+len], or strs[len] if off < 0
	len   int32
	first int32 // children are kids[first:first+count]; an alias names nodes[first]
	count int32
	xtag  int32 // strs[xtag] is the tag, for tagOther
}

// Tree holds the nodes of the documents read from a stream.
type Tree struct {
	src   string
	nodes []node
	kids  []int32
	strs  []string // values and tags not in src
}

// reset forgets every node.
func (t *Tree) reset() {
	t.nodes, t.kids, t.strs = t.nodes[:0], t.kids[:0], t.strs[:0]
}

// add adds a node and returns its index.
func (t *Tree) add(n node) int32 {
	if len(t.nodes) == cap(t.nodes) {
		t.nodes = grow(t.nodes, 1)
	}
	t.nodes = append(t.nodes, n)
	return int32(len(t.nodes) - 1)
}

// addKids adds the children of a collection and returns the index of the
// first.
func (t *Tree) addKids(kids []int32) int32 {
	if len(t.kids)+len(kids) > cap(t.kids) {
		t.kids = grow(t.kids, len(kids))
	}
	t.kids = append(t.kids, kids...)
	return int32(len(t.kids) - len(kids))
}

// grow returns s with room for n more elements, doubling its capacity
// (append grows large slices by a quarter, which copies a large
// document's nodes many times over).
func grow[T any](s []T, n int) []T {
	c := max(2*cap(s), len(s)+n, 1024)
	return append(make([]T, 0, c), s...)
}

// str stores s, a value or tag not in src, and returns its index.
func (t *Tree) str(s string) int32 {
	t.strs = append(t.strs, s)
	return int32(len(t.strs) - 1)
}

// Node is a node of a document: a scalar, a mapping (its children are
// keys and values in turn), a sequence or an alias. The zero Node is no
// node.
type Node struct {
	t  *Tree
	id int32
}

// IsZero reports whether n is no node.
func (n Node) IsZero() bool { return n.t == nil }

// Kind returns n's kind.
func (n Node) Kind() Kind { return n.t.nodes[n.id].kind }

// Line returns n's 1-based line in the stream, as yaml.v3 gives it.
func (n Node) Line() int { return int(n.t.nodes[n.id].line) }

// Tag returns n's short tag ("!!str", "!!int", "!!map", …) as yaml.v3
// resolves it; explicit tags are as written.
func (n Node) Tag() string {
	nd := &n.t.nodes[n.id]
	if nd.tag == tagOther {
		return n.t.strs[nd.xtag]
	}
	return tags[nd.tag]
}

// Value returns a scalar's value, or the anchor an alias names.
func (n Node) Value() string {
	nd := &n.t.nodes[n.id]
	if nd.off < 0 {
		return n.t.strs[nd.len]
	}
	return n.t.src[nd.off : nd.off+nd.len]
}

// Plain reports whether a scalar was written without quotes, as far as
// the reader can tell: false when in doubt (a value it had to rebuild).
func (n Node) Plain() bool {
	nd := &n.t.nodes[n.id]
	if nd.off <= 0 {
		return nd.off == 0
	}
	c := n.t.src[nd.off-1]
	return c != '"' && c != '\''
}

// Len returns how many children n has: keys and values of a mapping,
// items of a sequence.
func (n Node) Len() int { return int(n.t.nodes[n.id].count) }

// Child returns n's child i.
func (n Node) Child(i int) Node {
	nd := &n.t.nodes[n.id]
	if i < 0 || i >= int(nd.count) {
		panic("yamltree: child out of range")
	}
	return Node{n.t, n.t.kids[int(nd.first)+i]}
}

// Alias returns the node an alias names (the zero Node for others).
func (n Node) Alias() Node {
	if nd := &n.t.nodes[n.id]; nd.kind == AliasNode && nd.first >= 0 {
		return Node{n.t, nd.first}
	}
	return Node{}
}
