package switchyard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/route"
	"github.com/switchyard-go/switchyard/subset"
)

// ConfigError is one problem found in a configuration: the resource it is
// in, the field path, and what is wrong. Errors returned by [Parse],
// [ParseFiles], [New] and [Mesh.Update] join one ConfigError per problem;
// use errors.As to inspect them.
type ConfigError = fielderr.Error

// apiVersions are the versions of networking.istio.io accepted.
var apiVersions = map[string]bool{
	"networking.istio.io/v1":       true,
	"networking.istio.io/v1beta1":  true,
	"networking.istio.io/v1alpha3": true,
}

// Parse reads Istio manifests: YAML documents separated by "---", or JSON,
// of kinds ServiceEntry, DestinationRule and VirtualService in
// networking.istio.io/v1, v1beta1 or v1alpha3, or a Kubernetes List of them.
// It is strict: an unknown or misspelt field, an unknown kind or a value of
// the wrong type is an error that names the document, the resource and the
// field path. All problems are reported, joined: the first 100 described,
// the rest counted. Its work is bounded by the size of data: YAML aliases
// and merge keys may expand the input only a few times over.
func Parse(data []byte) (Config, error) {
	var errs fielderr.List
	cfg := parse("", data, newBudget(len(data)), &errs)
	return cfg, errs.Err()
}

// ParseFiles reads and parses each file with [Parse] and returns their
// resources together. Errors name the file; the files share one bound on
// work and on the errors described.
func ParseFiles(paths ...string) (Config, error) {
	var cfg Config
	var readErrs []error
	var errs fielderr.List
	b := newBudget(0)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			readErrs = append(readErrs, err)
			continue
		}
		b.grow(len(data))
		before := errs.Len()
		c := parse(p, data, b, &errs)
		if errs.Len() == before {
			cfg = cfg.Append(c)
		}
	}
	return cfg, errors.Join(append(readErrs, errs.Err())...)
}

// parse decodes the documents of one file into a Config, recording
// problems in errs and drawing on b.
func parse(file string, data []byte, b *budget, errs *fielderr.List) Config {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 1; !b.over; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var local fielderr.List
			(&decoder{b: b, errs: &local}).fail(nil, nil, func() string { return strings.TrimPrefix(err.Error(), "yaml: ") })
			local.Locate(docName(file, doc, "", ""))
			errs.Merge("", local.Err())
			break // the YAML stream cannot be resynchronised
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) != 1 {
			continue
		}
		if r := n.Content[0]; r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
			continue // an empty document, as a trailing "---" makes
		}
		parseResource(&cfg, n.Content[0], file, doc, "", b, errs)
	}
	return cfg
}

// topFields are the fields of a resource.
var topFields = []string{"apiVersion", "kind", "metadata", "spec"}

// parseResource decodes one resource (or a List of them) into cfg.
func parseResource(cfg *Config, n *yaml.Node, file string, doc int, item string, b *budget, errs *fielderr.List) {
	var local fielderr.List
	d := &decoder{b: b, errs: &local}
	where := docName(file, doc, item, "")
	if !d.spend(n, nil, 1) {
		local.Locate(where)
		errs.Merge("", local.Err())
		return
	}
	if n = resolve(n); n.Kind != yaml.MappingNode {
		d.fail(n, nil, func() string {
			return "expected a resource (an object with apiVersion, kind, metadata and spec), got " + describe(n)
		})
		local.Locate(where)
		errs.Merge("", local.Err())
		return
	}
	fields := map[string]*yaml.Node{}
	var unknown []*yaml.Node // keys other than topFields and status
	d.entries(n, nil, "field", func(key string, k, val *yaml.Node, _ *fieldPath) {
		fields[key] = val
		switch key {
		case "apiVersion", "kind", "metadata", "spec", "status":
		default:
			unknown = append(unknown, k) // or the items of a List
		}
	})
	kind := scalarValue(fields["kind"])
	var meta objectMeta
	if m := fields["metadata"]; m != nil {
		d.decode(m, reflect.ValueOf(&meta).Elem(), &fieldPath{name: "metadata"})
	}
	name := meta.Name
	if meta.Namespace != "" {
		name = meta.Namespace + "/" + meta.Name
	}
	label := kind
	if meta.Name != "" {
		label += " " + fielderr.Quote(name)
	}
	where = docName(file, doc, item, label)

	if kind == "List" {
		if items := resolve(fields["items"]); items == nil || items.Kind != yaml.SequenceNode {
			d.fail(nil, &fieldPath{name: "items"}, func() string { return "a List needs a list of items" })
		} else {
			for i, it := range items.Content {
				if b.over {
					break
				}
				parseResource(cfg, it, file, doc, fmt.Sprintf("item %d", i), b, errs)
			}
		}
		local.Locate(docName(file, doc, item, "List"))
		errs.Merge("", local.Err())
		return
	}

	for _, k := range unknown {
		d.fail(k, &fieldPath{name: k.Value}, func() string { return "unknown field" + d.suggest(k.Value, topFields) })
	}
	if api := scalarValue(fields["apiVersion"]); !apiVersions[api] {
		if api == "" {
			d.fail(nil, &fieldPath{name: "apiVersion"}, func() string { return "required; use networking.istio.io/v1" })
		} else {
			d.fail(nil, &fieldPath{name: "apiVersion"}, func() string {
				return fmt.Sprintf("%s is not supported; use networking.istio.io/v1, v1beta1 or v1alpha3", fielderr.Quote(api))
			})
		}
	}
	if meta.Name == "" {
		d.fail(nil, &fieldPath{name: "metadata.name"}, func() string { return "required" })
	}
	spec := fields["spec"]
	if spec == nil {
		d.fail(nil, &fieldPath{name: "spec"}, func() string { return "required" })
	}
	switch kind {
	case "ServiceEntry":
		se := decodeSpec[subset.ServiceEntry](d, spec)
		se.Name, se.Namespace = meta.Name, meta.Namespace
		cfg.ServiceEntries = append(cfg.ServiceEntries, se)
	case "DestinationRule":
		dr := decodeSpec[subset.DestinationRule](d, spec)
		dr.Name, dr.Namespace = meta.Name, meta.Namespace
		cfg.DestinationRules = append(cfg.DestinationRules, dr)
	case "VirtualService":
		vs := decodeSpec[route.VirtualService](d, spec)
		vs.Name, vs.Namespace = meta.Name, meta.Namespace
		cfg.VirtualServices = append(cfg.VirtualServices, vs)
	case "":
		d.fail(nil, &fieldPath{name: "kind"}, func() string {
			return "required; use ServiceEntry, DestinationRule or VirtualService"
		})
	default:
		d.fail(nil, &fieldPath{name: "kind"}, func() string {
			return fmt.Sprintf("%s is not supported; use ServiceEntry, DestinationRule or VirtualService", fielderr.Quote(kind))
		})
	}
	local.Locate(where)
	errs.Merge("", local.Err())
}

// decodeSpec decodes a resource's spec, which may be absent.
func decodeSpec[T any](d *decoder, spec *yaml.Node) T {
	var v T
	if spec != nil {
		d.decode(spec, reflect.ValueOf(&v).Elem(), &fieldPath{name: "spec"})
	}
	return v
}

// objectMeta is the part of Kubernetes metadata that is read; the rest of
// what kubectl prints is accepted and ignored.
type objectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	UID               string            `json:"uid"`
	ResourceVersion   string            `json:"resourceVersion"`
	Generation        int64             `json:"generation"`
	CreationTimestamp yaml.Node         `json:"creationTimestamp"`
	GenerateName      string            `json:"generateName"`
	Finalizers        []string          `json:"finalizers"`
	ManagedFields     yaml.Node         `json:"managedFields"`
	OwnerReferences   yaml.Node         `json:"ownerReferences"`
}

func scalarValue(n *yaml.Node) string {
	if n = resolve(n); n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func docName(file string, doc int, item, resource string) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "document %d", doc)
	if item != "" {
		b.WriteString(" ")
		b.WriteString(item)
	}
	if resource != "" {
		b.WriteString(" (")
		b.WriteString(resource)
		b.WriteString(")")
	}
	return b.String()
}
