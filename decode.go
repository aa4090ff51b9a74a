package switchyard

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/gateway"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/yamlsize"
	"github.com/switchyard-go/switchyard/internal/yamltree"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/sidecar"
	"github.com/switchyard-go/switchyard/subset"
)

// budget bounds the work of parsing one input — a Parse call, or all the
// files of a ParseFiles call — whatever the input holds: YAML aliases and
// merge keys expand a few bytes into many values, and each value, error
// and suggestion costs work. Every document, List item and file of the
// input draws on the same budget.
type budget struct {
	limit int  // steps the input may take
	used  int  // steps taken: values, map entries, scanned bytes
	over  bool // the limit was reached; decoding has stopped
	errs  int  // errors found, described or only counted
	cells int  // edit-distance cells computed for suggestions

	// paths is the stack of path elements being decoded, shared by the
	// decoders of the input so that descending allocates nothing.
	paths []fieldPath
}

// push returns a path element from the stack of paths; the caller pops
// it once done with it. Elements do not move when the stack grows: a
// larger stack is a new array, and the old one lives on as long as
// elements in it are used.
func (b *budget) push(p fieldPath) *fieldPath {
	b.paths = append(b.paths, p)
	return &b.paths[len(b.paths)-1]
}

func (b *budget) pop() { b.paths = b.paths[:len(b.paths)-1] }

// The budget of an input is yamlsize.Limit of its size: an input without
// aliases takes at most about one step per byte, so it always fits, while
// aliases may expand it a few times over and no more.
const (
	// bytesPerStep is how many bytes of a long scalar that is parsed
	// (a number, a duration, base64) count as one step.
	bytesPerStep = 32
	// maxSuggestLen is the longest misspelt name given a suggestion:
	// longer ones are not near any field name.
	maxSuggestLen = 64
)

// grow extends the budget for n more bytes of input.
func (b *budget) grow(n int) { b.limit += yamlsize.Limit(n) - yamlsize.Base }

func newBudget(size int) *budget { return &budget{limit: yamlsize.Limit(size)} }

// describe counts an error and reports whether it is one of the first
// fielderr.MaxReported of the input, which are described; the rest are
// only counted, so that a flood of errors costs no formatting.
func (b *budget) describe() bool {
	b.errs++
	return b.errs <= fielderr.MaxReported
}

// decoder fills Go values from YAML nodes strictly: an unknown field, a
// value of the wrong type or a duplicate key is an error naming the field
// path and line.
type decoder struct {
	b      *budget
	errs   *fielderr.List
	merges int // merge keys being expanded, one inside another
}

// maxMergeDepth bounds how deeply merge keys may nest (a mapping merging
// one that merges another, …), as the recursion that expands them.
const maxMergeDepth = 100

// fieldPath is a field path built as decoding descends and formatted only
// when an error needs it: each element points to its parent.
type fieldPath struct {
	parent *fieldPath
	name   string // a field name, or a map key when isKey
	index  int    // a list index when name is "" and !isKey
	isKey  bool
}

// String formats the path. The result never shares the memory of the
// input (a single key would), so that an error does not keep the input.
func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	if p.parent == nil && !p.isKey && p.name != "" {
		return strings.Clone(p.name)
	}
	parent := p.parent.String()
	switch {
	case p.isKey:
		return fielderr.Key(parent, p.name)
	case p.name == "":
		return fielderr.Index(parent, p.index)
	}
	return fielderr.Join(parent, p.name)
}

// node is a node of a document.
type node = yamltree.Node

// unread is a field that accepts any value and does not read it.
type unread struct{}

var (
	stringMapType = reflect.TypeFor[map[string]string]()
	durationType  = reflect.TypeFor[time.Duration]()
	unreadType    = reflect.TypeFor[unread]()
)

// unsupportedFields are Istio fields that switchyard recognises but does not
// implement, with the reason given to the user.
var unsupportedFields = map[reflect.Type]map[string]string{
	reflect.TypeFor[route.HTTPRoute](): {
		"delegate":   "delegate VirtualServices are not supported; put the routes in the root VirtualService",
		"corsPolicy": "corsPolicy is enforced by the server-side proxy for browsers and has no meaning for an in-process client; remove it",
	},
	reflect.TypeFor[subset.ServiceEntry](): {
		"workloadSelector": "workloadSelector selects Kubernetes pods, which an in-process mesh cannot see; list the endpoints instead",
	},
	reflect.TypeFor[subset.DestinationRule](): {
		"workloadSelector": "workloadSelector applies a rule to other workloads; an in-process rule always applies to this process, so remove it",
	},
	reflect.TypeFor[gateway.Port](): {
		"targetPort": "targetPort is deprecated and has no meaning for an in-process gateway; remove it",
	},
	reflect.TypeFor[gateway.Server](): {
		"bind":            "bind chooses the gateway's listening address; in-process the caller's listener does, so remove it",
		"defaultEndpoint": "defaultEndpoint forwards to a workload beside the gateway pod, which has no in-process meaning",
	},
	reflect.TypeFor[gateway.ServerTLSSettings](): {
		"verifyCertificateSpki": "client certificate pinning is not supported; use caCertificates and subjectAltNames",
		"verifyCertificateHash": "client certificate pinning is not supported; use caCertificates and subjectAltNames",
		"cipherSuites":          "cipher suites are Go's defaults (crypto/tls); remove cipherSuites",
		"caCrl":                 "certificate revocation lists are not supported at the gateway",
		"credentialNames":       "credentialNames name Kubernetes secrets; set serverCertificate, privateKey and caCertificates (file paths) instead",
		"tlsCertificates":       "tlsCertificates is not supported; set serverCertificate and privateKey",
	},
	reflect.TypeFor[sidecar.Sidecar](): {
		"ingress":               "ingress listeners configure the inbound proxy; an in-process mesh routes outbound traffic only",
		"inboundConnectionPool": "inboundConnectionPool limits inbound connections, which an in-process mesh does not receive",
	},
	reflect.TypeFor[sidecar.EgressListener](): {
		"port":        "an egress listener per port is not supported; use one listener with hosts only",
		"bind":        "bind chooses a listener address, which an in-process mesh does not have",
		"captureMode": "captureMode chooses iptables capture, which an in-process mesh does not use",
	},
	reflect.TypeFor[sidecar.OutboundTrafficPolicy](): {
		"egressProxy": "egressProxy is not supported; route unknown hosts with a ServiceEntry and VirtualService instead",
	},
	reflect.TypeFor[subset.TrafficPolicy](): {
		"tunnel":        "tunnel (carrying connections over HTTP CONNECT or POST to a proxy) is not supported; Mesh.DialContext connects to endpoints directly",
		"proxyProtocol": "proxyProtocol (a PROXY protocol header on upstream connections) is not supported",
	},
}

// spend takes n steps from the budget. Once the budget is spent it reports
// that once, at node at path, and returns false from then on.
func (d *decoder) spend(node node, path *fieldPath, n int) bool {
	if d.b.over {
		return false
	}
	if d.b.used += n; d.b.used > d.b.limit {
		// Reported whatever the errors before it: decoding stops here.
		d.b.over = true
		d.errs.Keep(path.String(), "the input expands to more than %d values (through YAML aliases or merge keys?); split or simplify it (line %d)", d.b.limit, node.Line())
		return false
	}
	return true
}

// spendBytes takes the steps of scanning a scalar of n bytes.
func (d *decoder) spendBytes(node node, path *fieldPath, n int) bool {
	return d.spend(node, path, n/bytesPerStep)
}

// resolve follows an alias to the node it names.
func resolve(n node) node {
	if !n.IsZero() && n.Kind() == yamltree.AliasNode && !n.Alias().IsZero() {
		return n.Alias()
	}
	return n
}

func (d *decoder) decode(n node, v reflect.Value, path *fieldPath) {
	if !d.spend(n, path, 1) {
		return
	}
	n = resolve(n)
	if n.Kind() == yamltree.ScalarNode && n.Tag() == "!!null" {
		return // null leaves the zero value
	}
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(n, v, path)
		return
	case t == unreadType:
		return
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
		return
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		s, ok := d.scalar(n, "!!str", "a base64 string", path)
		if !ok || !d.spendBytes(n, path, len(s)) {
			return
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			d.fail(n, path, func() string { return fmt.Sprintf("invalid base64: %v", err) })
			return
		}
		v.SetBytes(b)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.object(n, v, path)
	case reflect.Slice:
		if n.Kind() != yamltree.SequenceNode {
			d.fail(n, path, func() string { return "expected a list, got " + describe(n) })
			return
		}
		s := reflect.MakeSlice(t, n.Len(), n.Len())
		for i := range n.Len() {
			if d.b.over {
				return
			}
			item := n.Child(i)
			d.decode(item, s.Index(i), d.b.push(fieldPath{parent: path, index: i}))
			d.b.pop()
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind() != yamltree.MappingNode {
			d.fail(n, path, func() string { return "expected a map, got " + describe(n) })
			return
		}
		if t == stringMapType {
			// The common map (labels, headers), without reflection.
			vis := visitor{strings: make(map[string]string, n.Len()/2)}
			d.entries(n, path, &vis, nil)
			v.Set(reflect.ValueOf(vis.strings))
			return
		}
		vis := visitor{v: reflect.MakeMapWithSize(t, n.Len()/2)}
		// The key and element are reused for every entry.
		vis.key, vis.elem = reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		d.entries(n, path, &vis, nil)
		v.Set(vis.v)
	case reflect.String:
		if s, ok := d.scalar(n, "!!str", "a string", path); ok {
			if yaml11Bool[s] && resolve(n).Plain() {
				d.fail(n, path, func() string {
					return fmt.Sprintf("%s is a boolean to kubectl and the API server, which read YAML 1.1; quote it: %s", s, fielderr.Quote(s))
				})
				return
			}
			// A copy: the node's value shares the memory of the whole input.
			v.SetString(strings.Clone(s))
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, "!!bool", "true or false", path); ok {
			b, _ := strconv.ParseBool(s)
			v.SetBool(b)
		}
	case reflect.Int32, reflect.Int64, reflect.Int:
		if s, ok := d.scalar(n, "!!int", "an integer", path); ok && d.spendBytes(n, path, len(s)) {
			i, err := strconv.ParseInt(s, 0, t.Bits())
			if err != nil {
				d.fail(n, path, func() string {
					return fmt.Sprintf("%s is out of range for a %d-bit integer", clip(s), t.Bits())
				})
				return
			}
			v.SetInt(i)
		}
	case reflect.Uint32, reflect.Uint64:
		if s, ok := d.scalar(n, "!!int", "a non-negative integer", path); ok && d.spendBytes(n, path, len(s)) {
			i, err := strconv.ParseUint(s, 0, t.Bits())
			if err != nil {
				d.fail(n, path, func() string {
					return fmt.Sprintf("%s is not a non-negative %d-bit integer", clip(s), t.Bits())
				})
				return
			}
			v.SetUint(i)
		}
	case reflect.Float64:
		tag := "!!float"
		if n.Kind() == yamltree.ScalarNode && n.Tag() == "!!int" {
			tag = "!!int" // an integer is a number too
		}
		if s, ok := d.scalar(n, tag, "a number", path); ok && d.spendBytes(n, path, len(s)) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				d.fail(n, path, func() string { return clip(s) + " is not a finite number" })
				return
			}
			v.SetFloat(f)
		}
	default:
		d.fail(n, path, func() string { return fmt.Sprintf("cannot decode into %s", t) })
	}
}

// object decodes a mapping into a struct by the fields' json names.
func (d *decoder) object(n node, v reflect.Value, path *fieldPath) {
	if n.Kind() != yamltree.MappingNode {
		d.fail(n, path, func() string { return "expected an object, got " + describe(n) })
		return
	}
	vis := visitor{v: v, info: structInfoOf(v.Type())}
	d.entries(n, path, &vis, nil)
}

// visitor is what entries does with each entry of a mapping: decode it
// into a field of a struct (info is set), into a map[string]string
// (strings is set) or another map (elem is set), or note a resource's
// top-level field (res is set). It is a struct rather than a function so
// that decoding allocates nothing per mapping.
type visitor struct {
	v       reflect.Value // the struct or map
	info    *structInfo
	key     reflect.Value     // a map's key, reused
	elem    reflect.Value     // a map's element, reused
	strings map[string]string // a map[string]string
	res     *resourceFields   // a resource's fields
}

// visit does what vis does with the entry key: k of a mapping, at path
// kp.
func (d *decoder) visit(vis *visitor, key string, k, val node, kp *fieldPath) {
	switch {
	case vis.info != nil:
		if idx, ok := vis.info.fields[key]; ok {
			d.decode(val, vis.v.Field(idx), kp)
			return
		}
		if why := unsupportedFields[vis.v.Type()][key]; why != "" {
			d.fail(k, kp, func() string { return "not supported: " + why })
			return
		}
		d.fail(k, kp, func() string { return "unknown field" + d.suggest(key, vis.info.names) })
	case vis.res != nil:
		vis.res.add(key, k, val)
	case vis.strings != nil:
		// As decode does for a string.
		s := ""
		if d.spend(val, kp, 1) {
			if val = resolve(val); val.Kind() != yamltree.ScalarNode || val.Tag() != "!!null" {
				if v, ok := d.scalar(val, "!!str", "a string", kp); ok {
					s = strings.Clone(v)
				}
			}
		}
		vis.strings[strings.Clone(key)] = s
	default:
		vis.elem.SetZero()
		d.decode(val, vis.elem, kp)
		vis.key.SetString(strings.Clone(key))
		vis.v.SetMapIndex(vis.key, vis.elem)
	}
}

// maxLinearKeys is the size up to which a mapping's keys are checked for
// duplicates by scanning, without a map.
const maxLinearKeys = 8

// entries visits each key of the mapping n with the key's path (map keys
// for a map, field names otherwise), reporting keys that are not scalars
// and keys given twice. A YAML merge key ("<<") adds the entries of the
// mapping, or list of mappings, it names for keys n does not set itself,
// earlier mappings first, as YAML 1.1 and Kubernetes read them: taken
// holds the keys set, and is nil but in merged mappings. Each entry is a
// step of the budget.
func (d *decoder) entries(n node, path *fieldPath, vis *visitor, taken map[string]bool) {
	isKey := vis.info == nil && vis.res == nil
	want, noun := "a field name", "field"
	if isKey {
		want, noun = "a key name", "key"
	}
	var merge node
	var seen map[string]bool
	if n.Len()/2 > maxLinearKeys {
		seen = make(map[string]bool, n.Len()/2)
	}
	for i := 0; i+1 < n.Len(); i += 2 {
		k, val := resolve(n.Child(i)), n.Child(i+1)
		if !d.spend(k, path, 1) {
			return
		}
		if k.Kind() == yamltree.ScalarNode && k.Tag() == "!!merge" {
			if !merge.IsZero() {
				d.fail(k, path, func() string { return "duplicate merge key (<<); list the mappings to merge in one" })
				continue
			}
			merge = val
			continue
		}
		key, ok := d.scalar(k, "", want, path)
		if !ok {
			continue
		}
		if d.duplicate(n, i, key, seen) {
			d.fail(k, d.b.push(fieldPath{parent: path, name: key, isKey: isKey}), func() string { return "duplicate " + noun })
			d.b.pop()
			continue
		}
		if taken != nil {
			if taken[key] {
				continue
			}
			taken[key] = true
		}
		d.visit(vis, key, k, val, d.b.push(fieldPath{parent: path, name: key, isKey: isKey}))
		d.b.pop()
	}
	if merge.IsZero() || d.b.over {
		return
	}
	if d.merges >= maxMergeDepth {
		d.fail(merge, path, func() string {
			return fmt.Sprintf("merge keys (<<) nest more than %d deep; simplify the document", maxMergeDepth)
		})
		return
	}
	d.merges++
	defer func() { d.merges-- }()
	if taken == nil {
		// The keys n sets itself win over merged ones.
		taken = map[string]bool{}
		for i := 0; i+1 < n.Len(); i += 2 {
			if k := resolve(n.Child(i)); k.Kind() == yamltree.ScalarNode && k.Tag() != "!!merge" {
				taken[k.Value()] = true
			}
		}
	}
	m := resolve(merge)
	mappings := []node{merge}
	if m.Kind() == yamltree.SequenceNode {
		mappings = make([]node, m.Len())
		for i := range mappings {
			mappings[i] = m.Child(i)
		}
	}
	for _, mn := range mappings {
		if d.b.over {
			return
		}
		if r := resolve(mn); r.Kind() != yamltree.MappingNode {
			d.fail(r, path, func() string { return "a merge key (<<) takes a mapping or a list of mappings, got " + describe(r) })
			continue
		}
		d.entries(resolve(mn), path, vis, taken)
	}
}

// duplicate reports whether key, at index i of mapping n, was given
// earlier in n: seen records the keys of a large mapping; a small one is
// scanned.
func (d *decoder) duplicate(n node, i int, key string, seen map[string]bool) bool {
	if seen != nil {
		if seen[key] {
			return true
		}
		seen[key] = true
		return false
	}
	for j := 0; j < i; j += 2 {
		if k := resolve(n.Child(j)); k.Kind() == yamltree.ScalarNode && k.Tag() != "!!merge" && k.Value() == key {
			return true
		}
	}
	return false
}

// yaml11Bool are the plain scalars YAML 1.1 — which kubectl and the API
// server read — takes for booleans, and YAML 1.2 for strings.
var yaml11Bool = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "n": true, "N": true, "no": true, "No": true, "NO": true,
	"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
}

func (d *decoder) duration(n node, v reflect.Value, path *fieldPath) {
	s, ok := d.scalar(n, "!!str", `a duration such as "1.5s" or "100ms"`, path)
	if !ok || !d.spendBytes(n, path, len(s)) {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.fail(n, path, func() string {
			return fielderr.Quote(s) + ` is not a duration; write it like "1.5s", "100ms" or "5m"`
		})
		return
	}
	if dur < 0 {
		d.fail(n, path, func() string { return fielderr.Quote(s) + ": a duration must not be negative" })
		return
	}
	v.SetInt(int64(dur))
}

// scalar returns n's value if n is a scalar with tag (any tag when empty).
func (d *decoder) scalar(n node, tag, want string, path *fieldPath) (string, bool) {
	n = resolve(n)
	if n.Kind() != yamltree.ScalarNode || (tag != "" && n.Tag() != tag) {
		d.fail(n, path, func() string {
			hint := ""
			if tag == "!!str" && n.Kind() == yamltree.ScalarNode {
				hint = "; quote it: " + fielderr.Quote(n.Value())
			}
			return "expected " + want + ", got " + describe(n) + hint
		})
		return "", false
	}
	return n.Value(), true
}

// fail records an error at node n (nil: no line is given) and path. msg
// is called only for the errors that are described (the first
// fielderr.MaxReported of the input); the others are only counted.
func (d *decoder) fail(n node, path *fieldPath, msg func() string) {
	if !d.b.describe() {
		d.errs.Omit(1)
		return
	}
	if n.IsZero() {
		d.errs.Add(path.String(), "%s", msg())
		return
	}
	d.errs.Add(path.String(), "%s (line %d)", msg(), n.Line())
}

func describe(n node) string {
	switch n.Kind() {
	case yamltree.MappingNode:
		return "an object"
	case yamltree.SequenceNode:
		return "a list"
	case yamltree.AliasNode:
		return "an alias"
	}
	switch n.Tag() {
	case "!!str":
		return "the string " + fielderr.Quote(n.Value())
	case "!!int":
		return "the integer " + clip(n.Value())
	case "!!float":
		return "the number " + clip(n.Value())
	case "!!bool":
		return "the boolean " + n.Value()
	}
	return clip(n.Value())
}

// clip returns s as it is when it is short (64 bytes at most), and quoted
// and cut as by fielderr.Quote when it is longer.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return fielderr.Quote(s)
}

// structInfo is what decoding needs of a struct type, computed once.
type structInfo struct {
	fields map[string]int // json name → field index
	names  []string       // json names, sorted
}

// structInfos caches structInfoOf: a map that is replaced, never
// modified, when a type is added (a handful of times in a process), so
// that lookups take no lock.
var (
	structInfos   atomic.Pointer[map[reflect.Type]*structInfo]
	structInfosMu sync.Mutex
)

func structInfoOf(t reflect.Type) *structInfo {
	if m := structInfos.Load(); m != nil {
		if info, ok := (*m)[t]; ok {
			return info
		}
	}
	info := &structInfo{fields: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		info.fields[name] = i
		info.names = append(info.names, name)
	}
	slices.Sort(info.names)
	structInfosMu.Lock()
	defer structInfosMu.Unlock()
	old := structInfos.Load()
	if old != nil {
		if prev, ok := (*old)[t]; ok {
			return prev
		}
	}
	m := map[reflect.Type]*structInfo{t: info}
	if old != nil {
		maps.Copy(m, *old)
	}
	structInfos.Store(&m)
	return info
}

// jsonFields maps json names to field indexes; fields tagged "-" are not
// decodable. The map is shared and must not be modified.
func jsonFields(t reflect.Type) map[string]int { return structInfoOf(t).fields }

// suggest proposes the name, of the sorted names, closest to a misspelt
// one: within an edit distance of 2, case aside. It compares only names
// whose length is near the key's, so its work is bounded whatever the key.
func (d *decoder) suggest(key string, names []string) string {
	if len(key) > maxSuggestLen {
		return ""
	}
	lower := strings.ToLower(key)
	best, bestDist := "", 3
	for _, name := range names {
		if diff := len(name) - len(lower); diff >= bestDist || -diff >= bestDist {
			continue // the distance is at least the difference in length
		}
		d.b.cells += len(lower) * len(name)
		if dist := editDistance(lower, strings.ToLower(name)); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
