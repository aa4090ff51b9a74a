package yamltree

import "strings"

// reader is the fast reader of one document. It reads the subset of YAML
// that manifests use, in one pass without tokens or events, giving each
// node the tag and line yaml.v3 gives it. At anything outside the subset,
// or anything it is not sure yaml.v3 reads the same way, it gives up (a
// bailout panic) and the document is read by yaml.v3 instead: so it never
// reports a syntax error of its own.
//
// Positions are byte offsets. Columns are bytes from the start of the
// line: the reader only compares columns of text preceded on its line by
// spaces and "- ", where bytes and characters agree.
type reader struct {
	src   string
	pos   int // the next byte to read
	line  int // the 1-based line of pos
	bol   int // the offset at which pos's line begins
	nc    int // after a node: the column of the next line with content, or -1 at a document marker or the end
	depth int // collections open
	t     *Tree
	stack []int32 // children of the collections being read
}

// bailout is the panic with which the reader gives up on a document.
type bailout struct{}

// maxDepth bounds the collections the fast reader nests (yaml.v3 itself
// allows 10,000): deeper documents are left to yaml.v3.
const maxDepth = 1000

// maxKeyLen bounds a key, from its start to its ':': yaml.v3 (as libyaml)
// does not read a longer "simple key" (1,024 characters) as a key.
const maxKeyLen = 1000

func (r *reader) bail() { panic(bailout{}) }

// blankz reports whether the byte at i is a space, a tab, a line break or
// past the end.
func (r *reader) blankz(i int) bool {
	return i >= len(r.src) || r.src[i] == ' ' || r.src[i] == '\t' || r.src[i] == '\n'
}

// marker reports whether a document marker ("---" or "...") starts at i,
// the start of a line.
func (r *reader) marker(i int) bool {
	if i+3 > len(r.src) {
		return false
	}
	s := r.src[i : i+3]
	return (s == "---" || s == "...") && r.blankz(i+3)
}

func (r *reader) newline(next int) {
	r.pos, r.bol = next, next
	r.line++
}

// node adds a node without value or children.
func (r *reader) node(k Kind, line int, t tag) int32 {
	return r.t.add(node{kind: k, tag: t, line: int32(line)})
}

// plainNode adds a plain scalar, src[start:end].
func (r *reader) plainNode(line, start, end int) int32 {
	return r.t.add(node{kind: ScalarNode, tag: resolvePlain(r.src[start:end]), line: int32(line), off: int32(start), len: int32(end - start)})
}

// collection ends the collection id, whose children were pushed on the
// stack from base.
func (r *reader) collection(id int32, base int) int32 {
	n := &r.t.nodes[id]
	n.first, n.count = r.t.addKids(r.stack[base:]), int32(len(r.stack)-base)
	r.stack = r.stack[:base]
	r.depth--
	return id
}

func (r *reader) open() {
	if r.depth++; r.depth > maxDepth {
		r.bail()
	}
}

// skipLines moves from the start of a line past blank and comment lines,
// to the first character of the next line with content (setting nc to
// its column), or to a document marker or the end (setting nc to -1).
func (r *reader) skipLines() {
	for {
		i := r.pos
		for i < len(r.src) && r.src[i] == ' ' {
			i++
		}
		if i == len(r.src) {
			r.pos, r.nc = i, -1
			return
		}
		switch r.src[i] {
		case '\n':
			r.newline(i + 1)
			continue
		case '#':
			j := strings.IndexByte(r.src[i:], '\n')
			if j < 0 {
				r.pos, r.nc = len(r.src), -1
				return
			}
			r.newline(i + j + 1)
			continue
		case '\t':
			r.bail() // tabs in block context are for yaml.v3 to judge
		}
		if i == r.bol && r.marker(i) {
			r.pos, r.nc = i, -1
			return
		}
		r.pos, r.nc = i, i-r.bol
		return
	}
}

// endLine reads what may follow a node on its line (spaces and a
// comment), then skips to the next line with content.
func (r *reader) endLine() {
	i := r.pos
	for i < len(r.src) && r.src[i] == ' ' {
		i++
	}
	switch {
	case i == len(r.src):
		r.pos = i
	case r.src[i] == '\n':
		r.newline(i + 1)
	case r.src[i] == '#' && i > 0 && (r.src[i-1] == ' ' || r.src[i-1] == '\t'):
		j := strings.IndexByte(r.src[i:], '\n')
		if j < 0 {
			r.pos = len(r.src)
		} else {
			r.newline(i + j + 1)
		}
	default:
		r.bail()
	}
	r.skipLines()
}

// eofLine is the line yaml.v3 gives the end of the stream.
func (r *reader) eofLine() int {
	if len(r.src) > r.bol {
		return r.line + 1
	}
	return r.line
}

// document reads the document at pos, which is the start of the stream or
// of a "---" line. It returns -1 if only blank and comment lines remain.
// Afterwards pos is at the next "---" line or the end.
func (r *reader) document() int32 {
	r.skipLines()
	explicit := false
	if r.nc < 0 && r.pos < len(r.src) {
		if r.src[r.pos] != '-' {
			r.bail() // "...": a document end marker
		}
		explicit = true
		r.pos += 3
		r.endLine()
	}
	if r.nc < 0 {
		if !explicit {
			return -1
		}
		line := r.eofLine()
		if r.pos < len(r.src) {
			line = r.line
		}
		root := r.node(ScalarNode, line, tagNull)
		r.finish()
		return root
	}
	root := r.blockNode(-1, r.nc, atLineStart)
	if r.nc >= 0 {
		r.bail()
	}
	r.finish()
	return root
}

// finish checks that the document ends at the end or at a "---".
func (r *reader) finish() {
	if r.pos < len(r.src) && r.src[r.pos] != '-' {
		r.bail()
	}
}

// Where a block node starts.
const (
	atLineStart = iota
	afterDash   // after "- " on the same line
	afterColon  // after "key: " on the same line
)

// blockNode reads the node at pos, at column col, in a block collection
// at column indent (-1 for the document). Afterwards pos is at the next
// line with content and nc is its column.
func (r *reader) blockNode(indent, col int, where int) int32 {
	line := r.line
	var n int32
	switch c := r.src[r.pos]; {
	case c == '-' && r.blankz(r.pos+1):
		if where == afterColon {
			r.bail()
		}
		return r.blockSequence(col)
	case c == '[' || c == '{':
		n = r.flowNode(indent)
	case c == '|' && where != atLineStart:
		n = r.literal(indent)
		if r.skipLines(); r.nc > indent {
			r.bail()
		}
		return n
	case c == '"' || c == '\'':
		start := r.pos
		n = r.quoted(line)
		if r.isKey(start) {
			if where == afterColon {
				r.bail()
			}
			return r.blockMapping(col, n)
		}
	case r.plainStart(false):
		start := r.pos
		n = r.plainNode(line, start, r.plain(false))
		if r.isKey(start) {
			if where == afterColon {
				r.bail()
			}
			return r.blockMapping(col, n)
		}
	default:
		r.bail()
	}
	r.endLine()
	if r.nc > indent {
		r.bail() // a scalar continued on the next line, or worse
	}
	return n
}

// isKey reports whether the scalar that started at start is followed, on
// its line, by ": ": a key of a block mapping. It leaves pos at the ':'.
func (r *reader) isKey(start int) bool {
	i := r.pos
	for i < len(r.src) && r.src[i] == ' ' {
		i++
	}
	if i < len(r.src) && r.src[i] == ':' && r.blankz(i+1) {
		if i-start > maxKeyLen {
			r.bail()
		}
		r.pos = i
		return true
	}
	return false
}

// blockMapping reads a block mapping at column col whose first key has
// been read; pos is at the ':' after it.
func (r *reader) blockMapping(col int, key int32) int32 {
	r.open()
	keyLine := int(r.t.nodes[key].line)
	m := r.node(MappingNode, keyLine, tagMap)
	base := len(r.stack)
	for {
		r.pos++ // the ':'
		v := r.mappingValue(col, keyLine)
		r.stack = append(r.stack, key, v)
		if r.nc < col {
			break
		}
		if r.nc > col {
			r.bail()
		}
		line, start := r.line, r.pos
		keyLine = line
		switch c := r.src[r.pos]; {
		case c == '"' || c == '\'':
			key = r.quoted(line)
		case c == '-' && r.blankz(r.pos+1):
			r.bail() // a sequence after a mapping's entry
		case r.plainStart(false):
			key = r.plainNode(line, start, r.plain(false))
		default:
			r.bail()
		}
		if !r.isKey(start) {
			r.bail()
		}
	}
	return r.collection(m, base)
}

// mappingValue reads the value after a key's ':' of a mapping at column
// col.
func (r *reader) mappingValue(col, keyLine int) int32 {
	for r.pos < len(r.src) && r.src[r.pos] == ' ' {
		r.pos++
	}
	if r.pos < len(r.src) && r.src[r.pos] != '\n' && r.src[r.pos] != '#' {
		return r.blockNode(col, r.pos-r.bol, afterColon)
	}
	r.endLine()
	switch {
	case r.nc > col:
		return r.blockNode(col, r.nc, atLineStart)
	case r.nc == col && r.src[r.pos] == '-' && r.blankz(r.pos+1):
		return r.blockSequence(col) // a sequence at the key's column
	}
	return r.node(ScalarNode, keyLine, tagNull)
}

// blockSequence reads a block sequence whose first "-" is at pos, at
// column col.
func (r *reader) blockSequence(col int) int32 {
	r.open()
	s := r.node(SequenceNode, r.line, tagSeq)
	base := len(r.stack)
	for {
		line := r.line
		r.pos++ // the '-'
		for r.pos < len(r.src) && r.src[r.pos] == ' ' {
			r.pos++
		}
		var item int32
		if r.pos < len(r.src) && r.src[r.pos] != '\n' && r.src[r.pos] != '#' {
			item = r.blockNode(col, r.pos-r.bol, afterDash)
		} else if r.endLine(); r.nc > col {
			item = r.blockNode(col, r.nc, atLineStart)
		} else {
			item = r.node(ScalarNode, line, tagNull)
		}
		r.stack = append(r.stack, item)
		if r.nc < col {
			break
		}
		if r.nc > col {
			r.bail()
		}
		if r.src[r.pos] != '-' || !r.blankz(r.pos+1) {
			break // the next key of the mapping the sequence is a value of
		}
	}
	return r.collection(s, base)
}

// plainStart reports whether a plain scalar starts at pos: yaml.v3's rule,
// less "?" and ":", which it reads as plain in block context only before
// a non-blank (rare, and left to yaml.v3).
func (r *reader) plainStart(flow bool) bool {
	switch r.src[r.pos] {
	case '-':
		return !r.blankz(r.pos + 1)
	case ' ', '\t', '\n', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return true
}

// plain reads a plain scalar on the current line as yaml.v3 does: runs of
// non-blank characters joined by the blanks between them; a run ends at
// ':' before a blank or the end, and in flow context at ",?[]{}"; a '#'
// after blanks starts a comment. It returns where the scalar ends, and
// leaves pos where reading stopped.
func (r *reader) plain(flow bool) int {
	s := r.src
	end, i := r.pos, r.pos
	for {
		for i < len(s) {
			c := s[i]
			if c == ' ' || c == '\t' || c == '\n' ||
				c == ':' && r.blankz(i+1) ||
				flow && (c == ',' || c == '?' || c == '[' || c == ']' || c == '{' || c == '}') {
				break
			}
			i++
		}
		if i > end {
			end = i
		}
		if i == len(s) || (s[i] != ' ' && s[i] != '\t') {
			break
		}
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j == len(s) || s[j] == '\n' || s[j] == '#' {
			i = j
			break
		}
		if i = j; s[i] == ':' && r.blankz(i+1) ||
			flow && (s[i] == ',' || s[i] == '?' || s[i] == '[' || s[i] == ']' || s[i] == '{' || s[i] == '}') {
			break
		}
	}
	r.pos = i
	return end
}

// quoted reads a single- or double-quoted scalar that ends on its line.
func (r *reader) quoted(line int) int32 {
	s := r.src
	q := s[r.pos]
	i := r.pos + 1
	start := i
	var b []byte // the value, once an escape makes it differ from the text
	for {
		j := i
		for j < len(s) && s[j] != q && s[j] != '\n' && (q == '\'' || s[j] != '\\') {
			j++
		}
		if j == len(s) || s[j] == '\n' {
			r.bail() // a scalar on several lines, or unterminated
		}
		switch {
		case q == '\'' && j+1 < len(s) && s[j+1] == '\'':
			b = append(append(b, s[i:j]...), '\'')
			i = j + 2
			continue
		case s[j] == q:
			r.pos = j + 1
			if b == nil {
				return r.t.add(node{kind: ScalarNode, tag: tagStr, line: int32(line), off: int32(start), len: int32(j - start)})
			}
			return r.t.add(node{kind: ScalarNode, tag: tagStr, line: int32(line), off: -1, len: r.t.str(string(append(b, s[i:j]...)))})
		}
		// An escape in a double-quoted scalar.
		b = append(b, s[i:j]...)
		if j+1 >= len(s) {
			r.bail()
		}
		i = j + 2
		switch e := s[j+1]; e {
		case '0':
			b = append(b, 0)
		case 'a':
			b = append(b, '\a')
		case 'b':
			b = append(b, '\b')
		case 't', '\t':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'v':
			b = append(b, '\v')
		case 'f':
			b = append(b, '\f')
		case 'r':
			b = append(b, '\r')
		case 'e':
			b = append(b, 0x1b)
		case ' ', '"', '\'', '\\':
			b = append(b, e)
		case 'N':
			b = append(b, "\u0085"...)
		case '_':
			b = append(b, "\u00a0"...)
		case 'L':
			b = append(b, "\u2028"...)
		case 'P':
			b = append(b, "\u2029"...)
		case 'x', 'u', 'U':
			n := 2
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
			if i+n > len(s) {
				r.bail()
			}
			v := 0
			for k := range n {
				d := unhex(s[i+k])
				if d < 0 {
					r.bail()
				}
				v = v<<4 | d
			}
			if 0xD800 <= v && v <= 0xDFFF || v > 0x10FFFF {
				r.bail()
			}
			b = appendRune(b, v)
			i += n
		default:
			r.bail()
		}
	}
}

// literal reads a literal block scalar ("|", "|-" or "|+") whose content
// starts on the next line, in a block collection at column indent, as
// yaml.v3 does: the first line sets the indentation; lines as indented
// or more are the content, less indented but blank ones are line breaks;
// the last break is kept ("|"), dropped ("|-") or kept with the blank
// lines after it ("|+"). It leaves pos at the start of the line after.
// Explicit indentation, blank lines before the first and an empty scalar
// are left to yaml.v3, as is a folded scalar (">").
func (r *reader) literal(indent int) int32 {
	s := r.src
	line := r.line
	chomp := 0 // "|": clip
	i := r.pos + 1
	if i < len(s) && s[i] == '-' {
		chomp, i = -1, i+1
	} else if i < len(s) && s[i] == '+' {
		chomp, i = 1, i+1
	}
	j := i
	for j < len(s) && s[j] == ' ' {
		j++
	}
	if j < len(s) && s[j] == '#' && j > i {
		j += max(strings.IndexByte(s[j:], '\n'), 0)
	}
	if j >= len(s) || s[j] != '\n' {
		r.bail()
	}
	r.newline(j + 1)
	k := 0
	for r.pos+k < len(s) && s[r.pos+k] == ' ' {
		k++
	}
	n := max(k, indent+1, 1)
	if r.pos+k == len(s) || s[r.pos+k] == '\n' || s[r.pos+k] == '\t' || k < n {
		r.bail()
	}
	var b []byte
	breaks := 0        // blank lines since the last content line
	lastBreak := false // the last content line ends with a line break
	for first := true; ; first = false {
		// pos is at a content line: n spaces, then anything.
		if !first {
			b = append(b, '\n')
			for range breaks {
				b = append(b, '\n')
			}
			breaks = 0
		}
		eol := strings.IndexByte(s[r.pos:], '\n')
		if eol < 0 {
			b = append(b, s[r.pos+n:]...)
			r.pos, lastBreak = len(s), false
			break
		}
		b = append(b, s[r.pos+n:r.pos+eol]...)
		r.newline(r.pos + eol + 1)
		lastBreak = true
		// Blank lines, then another content line, or the end.
		more := false
		for {
			k := 0
			for k < n && r.pos+k < len(s) && s[r.pos+k] == ' ' {
				k++
			}
			if r.pos+k == len(s) {
				break
			}
			c := s[r.pos+k]
			if c == '\n' {
				breaks++
				r.newline(r.pos + k + 1)
				continue
			}
			if c == '\t' && k < n {
				r.bail()
			}
			more = k == n
			break
		}
		if !more {
			break
		}
	}
	if chomp != -1 && lastBreak {
		b = append(b, '\n')
	}
	if chomp == 1 {
		for range breaks {
			b = append(b, '\n')
		}
	}
	return r.t.add(node{kind: ScalarNode, tag: tagStr, line: int32(line), off: -1, len: r.t.str(string(b))})
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// appendRune appends v in UTF-8, as yaml.v3 writes an escape.
func appendRune(b []byte, v int) []byte {
	switch {
	case v <= 0x7F:
		return append(b, byte(v))
	case v <= 0x7FF:
		return append(b, byte(0xC0+(v>>6)), byte(0x80+(v&0x3F)))
	case v <= 0xFFFF:
		return append(b, byte(0xE0+(v>>12)), byte(0x80+((v>>6)&0x3F)), byte(0x80+(v&0x3F)))
	}
	return append(b, byte(0xF0+(v>>18)), byte(0x80+((v>>12)&0x3F)), byte(0x80+((v>>6)&0x3F)), byte(0x80+(v&0x3F)))
}

// flowSpace skips blanks, line breaks and comments between the tokens of
// a flow collection inside a block collection at column indent.
func (r *reader) flowSpace(indent int) (crossed bool) {
	s := r.src
	for r.pos < len(s) {
		switch s[r.pos] {
		case '\t':
			if crossed && indent >= 0 {
				// A tab indenting a flow line continued inside a block
				// collection, which yaml.v3 may refuse: let it judge.
				r.bail()
			}
			r.pos++
		case ' ':
			r.pos++
		case '\n':
			r.newline(r.pos + 1)
			crossed = true
			if r.marker(r.pos) {
				r.bail()
			}
		case '#':
			if p := s[r.pos-1]; p != ' ' && p != '\t' && p != '\n' {
				r.bail()
			}
			j := strings.IndexByte(s[r.pos:], '\n')
			if j < 0 {
				r.pos = len(s)
				return
			}
			r.pos += j
		default:
			if crossed && r.pos-r.bol <= indent {
				r.bail()
			}
			return
		}
	}
	return
}

// flowNode reads the flow collection that starts at pos.
func (r *reader) flowNode(indent int) int32 {
	r.open()
	base := len(r.stack)
	if r.src[r.pos] == '[' {
		n := r.node(SequenceNode, r.line, tagSeq)
		r.pos++
		for {
			r.flowSpace(indent)
			if r.pos == len(r.src) {
				r.bail()
			}
			if r.src[r.pos] == ']' {
				r.pos++
				break
			}
			item := r.flowItem(indent)
			r.stack = append(r.stack, item)
			if !r.flowNext(indent, ']') {
				break
			}
		}
		return r.collection(n, base)
	}
	n := r.node(MappingNode, r.line, tagMap)
	r.pos++
	for {
		r.flowSpace(indent)
		if r.pos == len(r.src) {
			r.bail()
		}
		if r.src[r.pos] == '}' {
			r.pos++
			break
		}
		line, start := r.line, r.pos
		var key int32
		switch c := r.src[r.pos]; {
		case c == '"' || c == '\'':
			key = r.quoted(line)
			for r.pos < len(r.src) && (r.src[r.pos] == ' ' || r.src[r.pos] == '\t') {
				r.pos++
			}
			if r.pos == len(r.src) || r.src[r.pos] != ':' {
				r.bail()
			}
		case r.plainStart(true):
			key = r.plainNode(line, start, r.plain(true))
			if r.pos == len(r.src) || r.src[r.pos] != ':' || !r.blankz(r.pos+1) {
				r.bail() // a key without a value, or a key on several lines
			}
		default:
			r.bail()
		}
		if r.pos-start > maxKeyLen {
			r.bail()
		}
		r.pos++ // the ':'
		r.flowSpace(indent)
		if r.pos == len(r.src) || r.src[r.pos] == ',' || r.src[r.pos] == '}' {
			r.bail() // an empty value
		}
		v := r.flowItem(indent)
		r.stack = append(r.stack, key, v)
		if !r.flowNext(indent, '}') {
			break
		}
	}
	return r.collection(n, base)
}

// flowNext reads what follows an entry of a flow collection: a ',' (true)
// or the closing bracket (false).
func (r *reader) flowNext(indent int, closing byte) bool {
	r.flowSpace(indent)
	if r.pos == len(r.src) {
		r.bail()
	}
	switch r.src[r.pos] {
	case ',':
		r.pos++
		return true
	case closing:
		r.pos++
		return false
	}
	r.bail()
	return false
}

// flowItem reads a node in a flow collection.
func (r *reader) flowItem(indent int) int32 {
	line := r.line
	switch c := r.src[r.pos]; {
	case c == '[' || c == '{':
		return r.flowNode(indent)
	case c == '"' || c == '\'':
		return r.quoted(line)
	case r.plainStart(true):
		start := r.pos
		n := r.plainNode(line, start, r.plain(true))
		if r.flowSpace(indent) {
			// Only an indicator ends a plain scalar at a line break;
			// anything else continues it.
			if r.pos < len(r.src) && r.src[r.pos] != ',' && r.src[r.pos] != ']' && r.src[r.pos] != '}' {
				r.bail()
			}
		}
		return n
	}
	r.bail()
	return -1
}
