package yamltree

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Stream reads the documents of a YAML stream one at a time.
//
// Each document is read by the fast reader if it can, and otherwise by
// yaml.v3 from the document's start (the start of the stream, or its
// "---" line), as one document of the stream: so a syntax error names the
// line yaml.v3 names in the whole stream. yaml.v3 reads the rest of the
// stream itself once a document holds an anchor (yaml.v3 keeps anchors
// from one document to the next), or where documents may be delimited
// otherwise than by "---" lines ("..." or a directive).
type Stream struct {
	src   string
	pos   int // where the next document starts: 0, or the start of a "---" line
	line  int // the 1-based line of pos
	t     Tree
	stack []int32
	done  bool

	checked bool // special has been computed
	special bool // the stream has "..." or directive lines

	// Once yaml.v3 reads the rest of the stream:
	dec  *yaml.Decoder
	conv converter
}

// NewStream returns a Stream of the documents in data.
func NewStream(data []byte) *Stream {
	s := &Stream{src: string(data), line: 1}
	s.t.src = s.src
	if len(data) > maxSource || !readable(data) {
		s.slow()
	}
	return s
}

// Next returns the root node of the next document; io.EOF after the last
// one; or a syntax error, as yaml.v3 reports it (with the line in the
// stream), after which the stream is over. The nodes of a document are
// valid until the next call of Next.
func (s *Stream) Next() (Node, error) {
	if s.done {
		return Node{}, io.EOF
	}
	if s.dec != nil {
		// Aliases may name nodes of the documents before, once there
		// are anchors.
		if s.conv.anchors == nil {
			s.t.reset()
		}
		return s.slowNext()
	}
	s.t.reset()
	r := reader{src: s.src, pos: s.pos, line: s.line, bol: s.pos, t: &s.t, stack: s.stack[:0]}
	root, ok := r.read()
	if !ok {
		s.t.reset()
		return s.fallback()
	}
	s.stack = r.stack
	if root < 0 {
		s.done = true
		return Node{}, io.EOF
	}
	s.pos, s.line = r.pos, r.line
	return Node{&s.t, root}, nil
}

// read reads a document with the fast reader; !ok if it gave up.
func (r *reader) read() (root int32, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if _, bail := v.(bailout); !bail {
				panic(v)
			}
			ok = false
		}
	}()
	return r.document(), true
}

// fallback reads the document at pos with yaml.v3: the text up to the
// next "---" line, on its own, which yaml.v3 reads as it reads it in the
// stream. Where that text holds an error (which yaml.v3 may word
// differently without the rest of the stream), or an anchor (which
// yaml.v3 keeps for the documents after), yaml.v3 reads the rest of the
// stream instead.
func (s *Stream) fallback() (Node, error) {
	if !s.checked {
		s.checked, s.special = true, hasSpecialLines(s.src)
	}
	if !s.special {
		end := s.documentEnd()
		dec, off := s.decoderOf(s.pos, end)
		c := converter{t: &s.t, off: off}
		root, err := c.next(dec)
		if errors.Is(err, io.EOF) {
			s.done = true
			return Node{}, io.EOF
		}
		if err == nil && c.anchors == nil {
			if _, err := c.next(dec); errors.Is(err, io.EOF) {
				s.line += strings.Count(s.src[s.pos:end], "\n")
				s.pos = end
				return root, nil
			}
		}
	}
	s.slow()
	return s.slowNext()
}

// slow has yaml.v3 read the rest of the stream.
func (s *Stream) slow() {
	s.t.reset()
	s.dec, s.conv.off = s.decoderOf(s.pos, len(s.src))
	s.conv = converter{t: &s.t, off: s.conv.off}
}

func (s *Stream) slowNext() (Node, error) {
	root, err := s.conv.next(s.dec)
	if err != nil {
		s.done = true
	}
	return root, err
}

// decoderOf returns a yaml.v3 decoder of the text from pos, a line start,
// to end, and what to add to its lines to make them lines of the stream.
// Past the start, one blank line stands for the lines before pos: yaml.v3
// treats a mark on its first line specially in errors.
func (s *Stream) decoderOf(pos, end int) (*yaml.Decoder, int) {
	if pos == 0 {
		return yaml.NewDecoder(strings.NewReader(s.src[:end])), 0
	}
	return yaml.NewDecoder(io.MultiReader(strings.NewReader("\n"), strings.NewReader(s.src[pos:end]))), s.line - 2
}

// documentEnd returns where the document at pos ends: at the next "---"
// line after the document's own, or the end.
func (s *Stream) documentEnd() int {
	from := s.pos
	if from == 0 {
		// The first document starts at its "---" line if only blank and
		// comment lines come before it.
		if m := nextMarker(s.src, 0); m >= 0 && blankOrComments(s.src[:m]) {
			from = m
		}
	}
	if i := strings.IndexByte(s.src[from:], '\n'); i >= 0 {
		if m := nextMarker(s.src, from+i+1); m >= 0 {
			return m
		}
	}
	return len(s.src)
}

// nextMarker returns the offset of the first "---" line at or after the
// line start from, or -1.
func nextMarker(src string, from int) int {
	for i := from; i < len(src); {
		if strings.HasPrefix(src[i:], "---") && (i+3 == len(src) || src[i+3] == ' ' || src[i+3] == '\t' || src[i+3] == '\n') {
			return i
		}
		j := strings.Index(src[i:], "\n---")
		if j < 0 {
			return -1
		}
		i += j + 1
	}
	return -1
}

// blankOrComments reports whether s holds only blank and comment lines.
func blankOrComments(s string) bool {
	for line := range strings.Lines(s) {
		if t := strings.TrimLeft(line, " \t"); t != "" && t[0] != '\n' && t[0] != '#' {
			return false
		}
	}
	return true
}

// hasSpecialLines reports whether a line of s starts with '%' (a
// directive) or is a "..." document end marker.
func hasSpecialLines(s string) bool {
	if strings.HasPrefix(s, "%") || strings.Contains(s, "\n%") {
		return true
	}
	for i := 0; ; {
		if strings.HasPrefix(s[i:], "...") && (i+3 == len(s) || s[i+3] == ' ' || s[i+3] == '\t' || s[i+3] == '\n') {
			return true
		}
		j := strings.Index(s[i:], "\n...")
		if j < 0 {
			return false
		}
		i += j + 1
	}
}

// readable reports whether the fast reader may read data: yaml.v3 accepts
// every character of it and counts its lines as the fast reader does.
// Otherwise yaml.v3 reads the whole stream, and reports what it rejects
// where it does: it checks characters ahead of what it parses.
func readable(data []byte) bool {
	for i := 0; i < len(data); {
		if i+8 <= len(data) && plainASCII(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
			continue
		}
		c := data[i]
		if c < utf8.RuneSelf {
			if c < ' ' && c != '\t' && c != '\n' || c == 0x7f {
				return false // control characters, and CR, a line break of its own
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if size == 1 {
			return false
		}
		switch {
		case r == 0x2028 || r == 0x2029 || r == 0xFEFF:
			return false // line and paragraph separators; byte order marks
		case 0xA0 <= r && r <= 0xD7FF, 0xE000 <= r && r <= 0xFFFD, 0x10000 <= r:
		default:
			return false // NEL, a line break; C1 control characters
		}
		i += size
	}
	return true
}

// plainASCII reports whether the 8 bytes of w are all printable ASCII
// characters or line feeds. Once every byte is below 0x80, adding to all
// bytes at once carries into no neighbour.
func plainASCII(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	if w&highs != 0 {
		return false
	}
	printable := (w + ones*0x60) &^ (w + ones*0x01) // >= 0x20 and <= 0x7e
	lf := ^((w ^ ones*'\n') + ones*0x7f)            // = '\n'
	return (printable|lf)&highs == highs
}

// converter converts yaml.v3's trees.
type converter struct {
	t       *Tree
	off     int                  // added to lines
	anchors map[*yaml.Node]int32 // anchored nodes, converted
}

// next decodes the next document of dec.
func (c *converter) next(dec *yaml.Decoder) (Node, error) {
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Node{}, io.EOF
		}
		return Node{}, c.fixLine(err)
	}
	if len(doc.Content) != 1 {
		return Node{c.t, c.t.add(node{kind: ScalarNode, tag: tagNull, line: c.line(doc.Line)})}, nil
	}
	return Node{c.t, c.node(doc.Content[0])}, nil
}

func (c *converter) line(l int) int32 {
	return int32(min(l+c.off, math.MaxInt32))
}

func (c *converter) node(y *yaml.Node) int32 {
	n := node{line: c.line(y.Line), off: -1, len: c.t.str(y.Value), first: -1}
	switch y.Kind {
	case yaml.MappingNode:
		n.kind = MappingNode
	case yaml.SequenceNode:
		n.kind = SequenceNode
	case yaml.AliasNode:
		n.kind = AliasNode
	default:
		n.kind = ScalarNode
	}
	if n.tag = tagOf(y.Tag); n.tag == tagOther {
		n.xtag = c.t.str(y.Tag)
	}
	id := c.t.add(n)
	if y.Anchor != "" {
		// Registered before the children, as yaml.v3 does: an alias
		// inside may name the node itself.
		if c.anchors == nil {
			c.anchors = map[*yaml.Node]int32{}
		}
		c.anchors[y] = id
	}
	if y.Kind == yaml.AliasNode && y.Alias != nil {
		target, ok := c.anchors[y.Alias]
		if !ok {
			target = c.node(y.Alias)
		}
		c.t.nodes[id].first = target
	}
	if len(y.Content) > 0 {
		// The children's places come first: a collection's are together.
		first := int(c.t.addKids(make([]int32, len(y.Content))))
		for i, ch := range y.Content {
			k := c.node(ch)
			c.t.kids[first+i] = k
		}
		c.t.nodes[id].first, c.t.nodes[id].count = int32(first), int32(len(y.Content))
	}
	return id
}

// fixLine moves the line in a yaml.v3 syntax error ("yaml: line N: …")
// to its line in the stream.
func (c *converter) fixLine(err error) error {
	const prefix = "yaml: line "
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, prefix)
	if c.off == 0 || !ok {
		return err
	}
	i := strings.IndexByte(rest, ':')
	n, perr := strconv.Atoi(rest[:max(i, 0)])
	if i < 0 || perr != nil {
		return err
	}
	return errors.New(prefix + strconv.Itoa(n+c.off) + rest[i:])
}
