package switchyard

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// decoder fills Go values from YAML nodes strictly: an unknown field, a
// value of the wrong type or a duplicate key is an error naming the field
// path and line.
type decoder struct {
	errs   *fielderr.List
	visits int // nodes decoded so far, aliases counted each time
	over   bool
}

// maxVisits bounds the nodes one document may expand to, so that YAML
// aliases cannot make decoding exponential ("billion laughs").
const maxVisits = 1 << 20

var (
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]() // accepts any value unread
)

// unsupportedFields are Istio fields that switchyard recognises but does not
// implement, with the reason given to the user.
var unsupportedFields = map[reflect.Type]map[string]string{
	reflect.TypeFor[route.VirtualService](): {
		"tls": "TLS routes are not supported; only http routes are",
		"tcp": "TCP routes are not supported; only http routes are",
	},
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
	reflect.TypeFor[subset.TrafficPolicy](): {
		"tunnel":        "tunnel applies to TCP traffic, which is not supported",
		"proxyProtocol": "proxyProtocol applies to TCP traffic, which is not supported",
	},
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.visits++; d.visits > maxVisits {
		if !d.over {
			d.over = true
			d.add(n, path, "the document expands to more than %d values (through YAML aliases?); split or simplify it", maxVisits)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the zero value
	}
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(n, v, path)
		return
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
		return
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		s, ok := d.scalar(n, "!!str", "a base64 string", path)
		if !ok {
			return
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			d.add(n, path, "invalid base64: %v", err)
			return
		}
		v.SetBytes(b)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.object(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.add(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fielderr.Index(path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.add(n, path, "expected a map, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		d.entries(n, path, "key", fielderr.Key, func(key string, _, val *yaml.Node, kp string) {
			e := reflect.New(t.Elem()).Elem()
			d.decode(val, e, kp)
			m.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), e)
		})
		v.Set(m)
	case reflect.String:
		if s, ok := d.scalar(n, "!!str", "a string", path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, "!!bool", "true or false", path); ok {
			b, _ := strconv.ParseBool(s)
			v.SetBool(b)
		}
	case reflect.Int32, reflect.Int64, reflect.Int:
		if s, ok := d.scalar(n, "!!int", "an integer", path); ok {
			i, err := strconv.ParseInt(s, 0, t.Bits())
			if err != nil {
				d.add(n, path, "%s is out of range for a %d-bit integer", s, t.Bits())
				return
			}
			v.SetInt(i)
		}
	case reflect.Uint32, reflect.Uint64:
		if s, ok := d.scalar(n, "!!int", "a non-negative integer", path); ok {
			i, err := strconv.ParseUint(s, 0, t.Bits())
			if err != nil {
				d.add(n, path, "%s is not a non-negative %d-bit integer", s, t.Bits())
				return
			}
			v.SetUint(i)
		}
	case reflect.Float64:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: n.Value, Line: n.Line}
		}
		if s, ok := d.scalar(n, "!!float", "a number", path); ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				d.add(n, path, "%s is not a finite number", s)
				return
			}
			v.SetFloat(f)
		}
	default:
		d.add(n, path, "cannot decode into %s", t)
	}
}

// object decodes a mapping into a struct by the fields' json names.
func (d *decoder) object(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "expected an object, got %s", describe(n))
		return
	}
	fields := jsonFields(v.Type())
	d.entries(n, path, "field", fielderr.Join, func(key string, k, val *yaml.Node, fp string) {
		idx, ok := fields[key]
		switch {
		case ok:
			d.decode(val, v.Field(idx), fp)
		case unsupportedFields[v.Type()][key] != "":
			d.add(k, fp, "not supported: %s", unsupportedFields[v.Type()][key])
		default:
			d.add(k, fp, "unknown field%s", suggest(key, fields))
		}
	})
}

// entries calls f for each key of the mapping n with the key's path (made
// by keyPath), reporting keys that are not scalars and keys given twice.
func (d *decoder) entries(n *yaml.Node, path, noun string, keyPath func(string, string) string, f func(key string, k, val *yaml.Node, kp string)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := d.scalar(k, "", "a "+noun+" name", path)
		if !ok {
			continue
		}
		kp := keyPath(path, key)
		if seen[key] {
			d.add(k, kp, "duplicate %s", noun)
			continue
		}
		seen[key] = true
		f(key, k, val, kp)
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.scalar(n, "!!str", `a duration such as "1.5s" or "100ms"`, path)
	if !ok {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.add(n, path, "%q is not a duration; write it like \"1.5s\", \"100ms\" or \"5m\"", s)
		return
	}
	if dur < 0 {
		d.add(n, path, "%q: a duration must not be negative", s)
		return
	}
	v.SetInt(int64(dur))
}

// scalar returns n's value if n is a scalar with tag (any tag when empty).
func (d *decoder) scalar(n *yaml.Node, tag, want, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || (tag != "" && n.Tag != tag) {
		hint := ""
		if tag == "!!str" && n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf("; quote it: %q", n.Value)
		}
		d.add(n, path, "expected %s, got %s%s", want, describe(n), hint)
		return "", false
	}
	return n.Value, true
}

func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	d.errs.Add(path, "%s (line %d)", fmt.Sprintf(format, args...), n.Line)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int":
		return "the integer " + n.Value
	case "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	}
	return n.Value
}

// jsonFields maps json names to field indexes; fields tagged "-" are not
// decodable.
func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = i
	}
	return out
}

// suggest proposes the known field closest to a misspelt one.
func suggest(key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, name := range names {
		if dist := editDistance(strings.ToLower(key), strings.ToLower(name)); dist < bestDist {
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
