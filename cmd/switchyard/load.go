package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-go/switchyard"
)

// stdinName names standard input in messages.
const stdinName = "<stdin>"

// source is one manifest file's contents.
type source struct {
	name string // as the user named it (with the directory it was found in)
	data []byte
}

// readSources reads the files args name: files, directories (recursively:
// *.yaml, *.yml, *.json, skipping names that start with "."), and "-" for
// stdin. A path that cannot be read is trouble (exit 2).
func readSources(args []string, stdin io.Reader) ([]source, error) {
	var out []source
	seenStdin := false
	for _, a := range args {
		if a == "-" {
			if seenStdin {
				return nil, trouble(`"-" (standard input) given twice`)
			}
			seenStdin = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, trouble("reading standard input: %v", err)
			}
			out = append(out, source{name: stdinName, data: data})
			continue
		}
		files, err := manifestFiles(a)
		if err != nil {
			return nil, trouble("%v", err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, trouble("%v", err)
			}
			out = append(out, source{name: f, data: data})
		}
	}
	return out, nil
}

// manifestFiles lists the files path names: path itself if it is a file,
// else the manifests under it in lexical order. The rules are
// switchyard.WatchFiles's, so that serve reads what it watches.
func manifestFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == path {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") { // hidden files, editors' swap files, Kubernetes' ..data
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(p); err != nil || fi.IsDir() {
				return nil // a dangling link, or a link to a directory
			}
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml, *.yml or *.json files", path)
	}
	return files, nil
}

// loaded is a set of sources parsed: the configuration they make together,
// what each holds, and their problems.
type loaded struct {
	sources []source
	cfg     switchyard.Config
	index   *index
	errs    []finding // problems found by Parse, located
	warns   []finding // warnings of the valid configuration, located
}

// parseSources parses each source with switchyard.Parse.
func parseSources(srcs []source) *loaded {
	l := &loaded{sources: srcs, index: newIndex()}
	for _, s := range srcs {
		l.index.add(s)
		cfg, err := switchyard.Parse(s.data)
		l.cfg = l.cfg.Append(cfg)
		l.errs = append(l.errs, l.index.locate(s.name, err)...)
	}
	return l
}

// load reads, parses and validates (with switchyard.New) the files args
// name. It returns the configuration, or the problems (exit 1) or trouble
// (exit 2).
func load(args []string, stdin io.Reader) (*loaded, []finding, error) {
	srcs, err := readSources(args, stdin)
	if err != nil {
		return nil, nil, err
	}
	l := parseSources(srcs)
	if len(l.errs) > 0 {
		return l, l.errs, nil
	}
	if dups := l.index.duplicates(); len(dups) > 0 {
		return l, dups, nil
	}
	mesh, err := switchyard.New(l.cfg)
	if err != nil {
		return l, l.index.locate("", err), nil
	}
	defer mesh.Close()
	ws := mesh.Warnings()
	errs := make([]error, len(ws))
	for i, w := range ws {
		errs[i] = w
	}
	l.warns = l.index.locate("", errors.Join(errs...))
	return l, nil, nil
}

// finding is one problem (or warning) in a configuration, located.
type finding struct {
	// File is the file, "<stdin>" for standard input; empty when the
	// problem is in no one resource.
	File string `json:"file,omitempty"`
	// Line is the line in File, from 1; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Document is the YAML document in File, from 1.
	Document int `json:"document,omitempty"`
	// Item is the resource's index in a List document (kubectl get -o
	// yaml output).
	Item *int `json:"item,omitempty"`
	// Resource is the kind and "namespace/name", "VirtualService
	// default/reviews".
	Resource string `json:"resource,omitempty"`
	// Field is the path of the field inside the resource,
	// "spec.http[0].route[1].weight".
	Field string `json:"field,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// String renders f as "file:line: document 3 (VirtualService
// "default/reviews"): spec.http[0]: message", the form editors jump to.
func (f finding) String() string {
	var b strings.Builder
	if f.File != "" {
		b.WriteString(f.File)
		if f.Line > 0 {
			fmt.Fprintf(&b, ":%d", f.Line)
		}
		b.WriteString(": ")
	}
	var where []string
	if f.Document > 0 {
		d := fmt.Sprintf("document %d", f.Document)
		if f.Item != nil {
			d += fmt.Sprintf(" item %d", *f.Item)
		}
		where = append(where, d)
	}
	if f.Resource != "" {
		kind, name, _ := strings.Cut(f.Resource, " ")
		if name != "" {
			where = append(where, fmt.Sprintf("(%s %q)", kind, name))
		} else {
			where = append(where, "("+kind+")")
		}
	}
	if len(where) > 0 {
		b.WriteString(strings.Join(where, " "))
		b.WriteString(": ")
	}
	if f.Field != "" {
		b.WriteString(f.Field)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// index finds the resources of the sources, to give the errors of
// switchyard.New (which name a resource, not a file) a file and a line,
// and errors of Parse a line where they have none.
type index struct {
	byName map[string][]*resourceAt // "VirtualService default/reviews"
	byDoc  map[docKey]*resourceAt
}

type docKey struct {
	file      string
	doc, item int // item -1 outside a List
}

// resourceAt is where a resource is.
type resourceAt struct {
	docKey
	resource string // "VirtualService default/reviews"
	node     *yaml.Node
}

// duplicates reports every resource defined more than once: the
// manifests disagree on what it is, and applying them would keep only the
// last.
func (x *index) duplicates() []finding {
	var out []finding
	for _, name := range slices.Sorted(maps.Keys(x.byName)) {
		all := x.byName[name]
		if len(all) < 2 {
			continue
		}
		var places []string
		for _, a := range all {
			places = append(places, fmt.Sprintf("%s:%d", a.file, a.node.Line))
		}
		for _, a := range all[1:] {
			f := finding{File: a.file, Line: a.node.Line, Document: a.doc, Resource: name,
				Message: fmt.Sprintf("defined %d times (%s): applying them keeps only the last", len(all), strings.Join(places, ", "))}
			if a.item >= 0 {
				item := a.item
				f.Item = &item
			}
			out = append(out, f)
		}
	}
	return out
}

func newIndex() *index {
	return &index{byName: map[string][]*resourceAt{}, byDoc: map[docKey]*resourceAt{}}
}

// add finds the resources of s, numbering documents as Parse does.
func (x *index) add(s source) {
	dec := yaml.NewDecoder(bytes.NewReader(s.data))
	for doc := 1; ; doc++ {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return // the end, or an error Parse reports
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			x.addResource(s.name, doc, -1, n.Content[0])
		}
	}
}

func (x *index) addResource(file string, doc, item int, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	kind := scalar(lookup(n, "kind"))
	if kind == "List" {
		if items := lookup(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for i, it := range items.Content {
				x.addResource(file, doc, i, it)
			}
		}
	}
	meta := lookup(n, "metadata")
	name, ns := scalar(lookup(meta, "name")), scalar(lookup(meta, "namespace"))
	if ns != "" {
		name = ns + "/" + name
	}
	r := &resourceAt{docKey: docKey{file, doc, item}, node: n, resource: strings.TrimSpace(kind + " " + name)}
	x.byDoc[r.docKey] = r
	if name != "" {
		x.byName[r.resource] = append(x.byName[r.resource], r)
	}
}

var (
	// Parse's resource: "document 3 item 1 (VirtualService "default/reviews")".
	parseResource = regexp.MustCompile(`^document (\d+)(?: item (\d+))?(?: \((\S+)(?: "(.*)")?\))?$`)
	// New's resource: "VirtualService "default/reviews"".
	newResource = regexp.MustCompile(`^(\S+) "(.*)"$`)
	// Parse's line, at the end of a message: "... (line 12)", or at the
	// start of a YAML syntax error: "line 12: ...".
	lineSuffix = regexp.MustCompile(` \(line (\d+)\)$`)
	linePrefix = regexp.MustCompile(`^line (\d+): `)
)

// locate turns err, from Parse of file (or, with file empty, from New),
// into findings with a file and a line.
func (x *index) locate(file string, err error) []finding {
	if err == nil {
		return nil
	}
	var out []finding
	for _, e := range leaves(err) {
		f := finding{File: file, Message: e.Error()}
		var ce *switchyard.ConfigError
		if !errors.As(e, &ce) {
			out = append(out, f)
			continue
		}
		f.Field, f.Message = ce.Path, ce.Msg
		if m := lineSuffix.FindStringSubmatch(f.Message); m != nil {
			f.Line, _ = strconv.Atoi(m[1])
			f.Message = strings.TrimSuffix(f.Message, m[0])
		} else if m := linePrefix.FindStringSubmatch(f.Message); m != nil {
			f.Line, _ = strconv.Atoi(m[1])
			f.Message = strings.TrimPrefix(f.Message, m[0])
		}
		var at *resourceAt
		if m := parseResource.FindStringSubmatch(ce.Resource); file != "" && m != nil {
			f.Document, _ = strconv.Atoi(m[1])
			key := docKey{file, f.Document, -1}
			if m[2] != "" {
				i, _ := strconv.Atoi(m[2])
				f.Item, key.item = &i, i
			}
			f.Resource = strings.TrimSpace(m[3] + " " + m[4])
			at = x.byDoc[key]
		} else if m := newResource.FindStringSubmatch(ce.Resource); m != nil {
			f.Resource = m[1] + " " + m[2]
			switch all := x.byName[f.Resource]; len(all) {
			case 0:
			case 1:
				at = all[0]
				f.File, f.Document = at.file, at.doc
				if at.item >= 0 {
					i := at.item
					f.Item = &i
				}
			default: // the same name twice: say where both are
				var places []string
				for _, a := range all {
					places = append(places, fmt.Sprintf("%s:%d", a.file, a.node.Line))
				}
				f.Message += fmt.Sprintf(" (%s is defined %d times: %s)", f.Resource, len(all), strings.Join(places, ", "))
			}
		} else if ce.Resource != "" {
			f.Message = ce.Resource + ": " + f.Message // a form this command does not know; keep it whole
		}
		if f.Line == 0 && at != nil {
			f.Line = fieldLine(at.node, f.Field)
		}
		out = append(out, f)
	}
	return out
}

// leaves returns the errors joined in err.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// pathToken splits a field path: names, [3] indexes and ["key"] keys.
var pathToken = regexp.MustCompile(`\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|([^.\[]+)`)

// fieldLine returns the line of the field at path in the resource n, or
// of the deepest part of the path that exists (the object a required
// field is missing from).
func fieldLine(n *yaml.Node, path string) int {
	line := n.Line
	for _, m := range pathToken.FindAllStringSubmatch(path, -1) {
		var next *yaml.Node
		switch {
		case m[1] != "":
			i, _ := strconv.Atoi(m[1])
			if n.Kind == yaml.SequenceNode && i < len(n.Content) {
				next = n.Content[i]
			}
		case m[2] != "":
			key, err := strconv.Unquote(m[2])
			if err == nil {
				next = lookup(n, key)
			}
		default:
			next = lookup(n, m[3])
		}
		if next == nil {
			break
		}
		n, line = next, next.Line
	}
	return line
}

// lookup returns the value of key in the mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			if v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
