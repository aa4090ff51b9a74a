package yamltree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// reference reads data as Parse did before this package: yaml.v3's
// decoder over the whole stream. It describes each document's tree, or
// the error that ends the stream.
func reference(data []byte) []string {
	var out []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		if len(doc.Content) != 1 {
			out = append(out, "empty document")
			continue
		}
		var b strings.Builder
		describeYAML(&b, doc.Content[0], "")
		out = append(out, b.String())
	}
}

func describeYAML(b *strings.Builder, n *yaml.Node, indent string) {
	kind := map[yaml.Kind]string{yaml.ScalarNode: "scalar", yaml.MappingNode: "map", yaml.SequenceNode: "seq", yaml.AliasNode: "alias"}[n.Kind]
	fmt.Fprintf(b, "%s%s %s %q line %d", indent, kind, n.Tag, n.Value, n.Line)
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		fmt.Fprintf(b, " -> %s line %d", n.Alias.Tag, n.Alias.Line)
	}
	b.WriteByte('\n')
	for _, c := range n.Content {
		describeYAML(b, c, indent+"  ")
	}
}

// read reads data with a Stream, describing it as reference does.
func read(data []byte) []string {
	var out []string
	s := NewStream(data)
	for {
		n, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			return append(out, "error: "+err.Error())
		}
		var b strings.Builder
		describe(&b, n, "")
		out = append(out, b.String())
	}
}

func describe(b *strings.Builder, n Node, indent string) {
	kind := map[Kind]string{ScalarNode: "scalar", MappingNode: "map", SequenceNode: "seq", AliasNode: "alias"}[n.Kind()]
	fmt.Fprintf(b, "%s%s %s %q line %d", indent, kind, n.Tag(), n.Value(), n.Line())
	if a := n.Alias(); !a.IsZero() {
		fmt.Fprintf(b, " -> %s line %d", a.Tag(), a.Line())
	}
	b.WriteByte('\n')
	for i := range n.Len() {
		describe(b, n.Child(i), indent+"  ")
	}
}

// fastDocuments counts the documents of data the fast reader reads, and
// reports whether it read them all.
func fastDocuments(data []byte) (int, bool) {
	if !readable(data) {
		return 0, false
	}
	s := &Stream{src: string(data), line: 1}
	s.t.src = s.src
	count := 0
	for {
		r := reader{src: s.src, pos: s.pos, line: s.line, bol: s.pos, t: &s.t}
		root, ok := r.read()
		if !ok {
			return count, false
		}
		if root < 0 {
			return count, true
		}
		count++
		s.pos, s.line = r.pos, r.line
	}
}

// compare checks that a Stream reads data as yaml.v3 does, but for one
// difference: yaml.v3 scans two tokens ahead of what it parses, so that a
// syntax error in the first tokens of a document is reported while it
// finishes the document before it (or the two before it, if they are
// empty), and those documents are lost. A Stream reports the error in the
// document it is in, after the documents before it.
func compare(t *testing.T, data []byte) {
	t.Helper()
	want, got := reference(data), read(data)
	same := len(want) == len(got)
	if last := len(want) - 1; last >= 0 && strings.HasPrefix(want[last], "error: ") && len(got) >= len(want) {
		same = got[len(got)-1] == want[last] && len(got)-len(want) <= 2
		got = append(got[:last:last], got[len(got)-1])
	}
	if !same || strings.Join(want, "---\n") != strings.Join(got, "---\n") {
		t.Fatalf("input %q\nyaml.v3:\n%s\nyamltree:\n%s", data, strings.Join(want, "---\n"), strings.Join(read(data), "---\n"))
	}
}

// cases are inputs on the edges of what the fast reader reads, each with
// whether it reads every document itself.
var cases = []struct {
	in   string
	fast bool
}{
	{"", true},
	{"# only a comment\n", true},
	{"a: 1\n", true},
	{"a: 1", true},
	{"a:\nb: 1\nc:\n  # x\n\nd:\n- \n-\n- x\ne:", true},
	{"---\n---\n", true},
	{"---\n---", true},
	{"a: 1\n---\n# c\n", true},
	{"# c\n---\na: 1\n---\nb: 2\n", true},
	{"---   # a comment\na: 1\n", true},
	{"  a: 1\n  b: 2\n", true},
	{"hello\n", true},
	{"'it''s'\n", true},
	{`"a\tb\u00e9\x41\U0001F600\"\\\N\_\L\P\0\a\b\n\v\f\r\e\ "` + "\n", true},
	{"key: value # comment\nother: 'x' # c\n", true},
	{"a : b\n\"q\" : c\n", true},
	{"a: b c  d\n", true},
	{"a: b#c\n", true},
	{"a: http://x:8080/p?q=1#f\n", true},
	{"- a\n- - b\n  - c\n- d: 1\n  e: 2\n-\n  f: 3\n", true},
	{"a:\n- 1\n- 2\nb:\n  - 3\nc: 4\n", true},
	{"- a:\n  - x\n  b: y\n", true},
	{"a:\n  x\nb: 1\n", true},
	{"a: [1, 2, {b: c, 'd': \"e\"}, [], {}]\n", true},
	{"a: [1,\n  2]\nb: {x: 1,\n y: 2}\nc: [\n ]\n", true},
	{"a: \"\\/\"\n", false},
	{`{"a":1, "b" :2,"c":[true,null, -1.5e3, "x"]}`, true},
	{"{\n\t\"a\": [\n\t\t1,\n\t\t2\n\t]\n}\n", true},
	{"[a, # c\n b, # d\n]\n", true},
	{"[a, b,]\n", true},
	{"[a:b, c:d]\n", true},
	{"a: 1\n---\nb: 2\n---\n- c\n", true},
	{"a: ---\nb:\n- ---\n", true},
	{"-1: -a\n", true},
	{"v: [1_000, 0x1F, 0o17, 017, 0b101, -0b101, +1, .5, 1e3, 1.5, 1., 2001-12-14, 2001-12-14t21:59:43.10Z, 2001-12-14 21:59:43.10, 1:2, 10.0.0.1, 99999999999999999999, 0b, 0o9, ._1, .inf, -.INF, .NaN, ~, Null, TRUE, True, yes, no, on, '<<', <<]\n", true},
	{"k: 2s\nl: 500ms\nm: 08\nn: 0x\no: +\n", true},
	{"p: -\n", false},
	{"caf\u00e9: th\u00e9\n", true},
	{strings.Repeat("k", 999) + ": v\n", true},
	{"a: |\n  text\nb: 1\n", true},
	{"a: |-\n  text\n\n  more\n   indented\n\n\nb: |+\n  kept\n\n\n", true},
	{"a: |  # c\n  x\n# c\n- |\n  y\n", false},
	{"- |\n  x\n-   |-\n     y\n      z\n   \n     w\n- |\n  x\n  ", true},
	{"a:\n  b: |\n    {\"json\": [1]}\n  c: |\n     x\t\n     \ty\n", true},
	{"a: |\n  x\n---\nb: |\n  y", true},
	{"a: |+\n  x\n\n", true},
	{"a: |\n  x\n \ty\n", false},
	{"a: |\n\n  x\n", false},
	{"a: |2\n   x\n", false},
	{"a: |\nb: 1\n", false},
	{"a: |\n  x\n    y\n  z\n", true},
	{"a: |\n    x\n  y\n", false},
	{"a: >\n  x\n", false},
	{"a: |x\n  y\n", false},
	{"a: |#c\n  y\n", false},
	// Left to yaml.v3.
	{strings.Repeat("k", 1100) + ": v\n", false},
	{"a: &x 1\nb: *x\n", false},
	{"a: &x 1\n---\nb: *x\n", false},
	{"a: 1\n---\nb: &x 1\n---\nc: *x\n---\nd: 2\n", false},
	{"x: &a [*a]\n", false},
	{"a: !!str 1\n", false},
	{"a: b\n  c\n", false},
	{"a: 'b\n  c'\n", false},
	{"a: [b\n  c]\n", false},
	{"a: 1\n...\n---\nb: 2\n", false},
	{"a: 1\n...\nb: 2\n", false},
	{"%YAML 1.1\n---\na: 1\n", false},
	{"a:\tb\n", false},
	{"a: 1\r\nb: 2\r\n", false},
	{"\ufeffa: 1\n", false},
	{"a: \u2028b\n", false},
	{"a: 1\n---\nb: \x01\n", false},
	{"a: 1\n---\nb: \xff\n", false},
	{"kind: [unclosed", false},
	{"a: 1\n---\nkind: [unclosed\n", false},
	{"a: 1\n---\nb: \"unterminated\n---\nc: 1\n", false},
	{"a: 1\n---\nb: [x\n---\nc: 1\n", false},
	{"a: 1\n---\n- a\nb: c\n", false},
	{"a: b: c\n", false},
	{"a:\n  b: 1\n c: 2\n", false},
	{"? a\n: b\n", false},
	{"a: 1\n---\nb: {x}\n", false},
	{"a: 1\n---\nb: 1\n---\n{a: 1}: b\n---\nc: 1\n", false},
	{"--- a: 1\n", false},
	{"a: \"x\"#c\n", false},
	{"a: [1,\n2]\n", false},
	{"key: {\n  a: 1\n}\n", false},
	{"[a, , b]\n", false},
	{"a: \"\\ud800\"\n", false},
	{"a: \"\\q\"\n", false},
}

func TestStreamReadsAsYAMLv3(t *testing.T) {
	for _, tt := range cases {
		t.Run(fmt.Sprintf("%.40q", tt.in), func(t *testing.T) {
			compare(t, []byte(tt.in))
			if _, fast := fastDocuments([]byte(tt.in)); fast != tt.fast {
				t.Errorf("the fast reader read every document: %v, want %v", fast, tt.fast)
			}
		})
	}
}

func TestStreamReportsAnErrorInItsDocument(t *testing.T) {
	// yaml.v3 reports these errors while it finishes the first
	// document, and loses it.
	for _, in := range []string{"0\n--- \"", "0\n---\n---\n--- \""} {
		got := read([]byte(in))
		if len(got) < 2 || got[0] != "scalar !!int \"0\" line 1\n" || !strings.HasPrefix(got[len(got)-1], "error: yaml: line ") {
			t.Errorf("%q: got %q", in, got)
		}
	}
}

func TestStreamReadsManifestsFast(t *testing.T) {
	for _, name := range []string{"../../testdata/bookinfo.yaml", "../../testdata/realistic.yaml", "../../examples/canary/mesh.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, data)
		if n, fast := fastDocuments(data); !fast {
			t.Errorf("%s: the fast reader gave up after %d documents", name, n)
		}
	}
}

func TestFallbackKeepsLines(t *testing.T) {
	// A document left to yaml.v3 in the middle of the stream: its nodes
	// and its errors carry their lines in the stream, and the documents
	// after it are read fast again.
	data := "a: 1\n---\nb: |\n  text\nc: 2\n---\nd: 3\n---\ne: [1,\n"
	compare(t, []byte(data))
	s := NewStream([]byte(data))
	for range 3 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if s.dec != nil {
		t.Error("yaml.v3 reads on after a document without anchors")
	}
	if _, err := s.Next(); err == nil || !strings.Contains(err.Error(), "line 9:") {
		t.Errorf("got %v, want an error on line 9", err)
	}
}

func FuzzStream(f *testing.F) {
	for _, tt := range cases {
		f.Add([]byte(tt.in))
	}
	for _, name := range []string{"../../testdata/bookinfo.yaml", "../../testdata/realistic.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compare(t, data)
	})
}

func TestPlainASCII(t *testing.T) {
	for b := range 256 {
		for _, pos := range []int{0, 3, 7} {
			w := []byte("abcdefgh")
			w[pos] = byte(b)
			want := b == '\n' || 0x20 <= b && b <= 0x7e
			if got := plainASCII(binary.LittleEndian.Uint64(w)); got != want {
				t.Errorf("byte %#x at %d: got %v", b, pos, got)
			}
		}
	}
}

// generator writes random documents of the kind manifests hold, and
// perturbs some of their lines, to exercise the edges of the fast reader
// more densely than random bytes do.
type generator struct {
	rnd  *rand.Rand
	b    strings.Builder
	tame bool // only scalars and perturbations the fast reader reads
}

var scalars = []string{
	// Tame: the fast reader reads these anywhere.
	"a", "name", "b c", "http://x:8080/p", "-1", "+2", "0x1F", "0o17", "017", "1_000", "1.5", "1e3", ".5",
	"true", "False", "yes", "null", "~", "<<", "2001-12-14", "10s", "500ms", "10.0.0.1", "a#b", "--", "'q'",
	"'it''s'", `"q"`, `"a\tb\u00e9"`, `"\x41"`, "\u00e9",
	// Wild.
	"http://x/p?q=1", "a: b", "a,b", "[x]", "{y}", "-", "---", "...", "?", ":x", "x:", `"\q"`, "a\tb", "#c",
	"&a x", "*a", "!!str x", "|", ">-", "",
}

// blockScalars are block scalars the generator writes after "key:".
var blockScalars = []string{" |\n%sx\n", " |-\n%s  x\n%s\n%s    y\n\n", " |+\n%sx\n\n", " |\n%s{\"a\": \"b\"}\n"}

// tameScalars is the prefix of scalars that the fast reader reads.
const tameScalars = 31

func (g *generator) scalar() string {
	if g.tame {
		return scalars[g.rnd.IntN(tameScalars)]
	}
	return scalars[g.rnd.IntN(len(scalars))]
}

func (g *generator) flow(depth int) string {
	switch n := g.rnd.IntN(3); {
	case depth > 2 || n == 0:
		return g.scalar()
	case n == 1:
		var items []string
		for range g.rnd.IntN(4) {
			items = append(items, g.flow(depth+1))
		}
		return "[" + strings.Join(items, ", ") + "]"
	default:
		var items []string
		for range g.rnd.IntN(4) {
			items = append(items, g.scalar()+": "+g.flow(depth+1))
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
}

// block writes a block node at indent, after "key:" or "-" (inline).
func (g *generator) block(indent, depth int) {
	pad := strings.Repeat(" ", indent)
	switch n := g.rnd.IntN(5); {
	case n == 4:
		f := blockScalars[g.rnd.IntN(len(blockScalars))]
		g.b.WriteString(strings.ReplaceAll(f, "%s", pad+"  "))
	case depth > 3 || n == 0:
		g.b.WriteString(" " + g.flow(0) + "\n")
	case n == 1:
		g.b.WriteString("\n")
		for range 1 + g.rnd.IntN(3) {
			g.b.WriteString(pad + "- " + g.flow(0) + "\n")
		}
	default:
		g.b.WriteString("\n")
		for range 1 + g.rnd.IntN(4) {
			g.b.WriteString(pad + g.scalar() + ":")
			child := indent + 2
			if g.rnd.IntN(4) == 0 {
				child = indent // a sequence may sit at its key's indentation
			}
			g.block(child, depth+1)
		}
	}
}

func (g *generator) stream() []byte {
	g.b.Reset()
	for d := range 1 + g.rnd.IntN(3) {
		if d > 0 || g.rnd.IntN(2) == 0 {
			g.b.WriteString("---\n")
		}
		g.b.WriteString("kind:")
		g.block(2, 0)
	}
	lines := strings.SplitAfter(g.b.String(), "\n")
	for i := range lines {
		r := g.rnd.IntN(40)
		if g.tame && r != 2 && r != 3 && r != 5 {
			continue
		}
		switch r {
		case 0:
			lines[i] = " " + lines[i]
		case 1:
			lines[i] = strings.TrimPrefix(lines[i], " ")
		case 2:
			lines[i] = "# a comment\n" + lines[i]
		case 3:
			lines[i] = strings.TrimSuffix(lines[i], "\n") + " # c\n"
		case 4:
			lines[i] = "\t" + lines[i]
		case 5:
			lines[i] = "\n" + lines[i]
		}
	}
	return []byte(strings.Join(lines, ""))
}

func TestStreamReadsGeneratedDocumentsAsYAMLv3(t *testing.T) {
	for _, tame := range []bool{true, false} {
		g := &generator{rnd: rand.New(rand.NewPCG(1, 2)), tame: tame}
		fast := 0
		for range 1000 {
			data := g.stream()
			compare(t, data)
			if _, ok := fastDocuments(data); ok {
				fast++
			}
		}
		t.Logf("tame %v: the fast reader read %d of 1000 streams whole", tame, fast)
		if tame && fast < 500 {
			t.Errorf("the fast reader read only %d of 1000 tame streams whole", fast)
		}
	}
}
