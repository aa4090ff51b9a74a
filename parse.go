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
// field path. All problems are reported, joined.
func Parse(data []byte) (Config, error) {
	return parse("", data)
}

// ParseFiles reads and parses each file with [Parse] and returns their
// resources together. Errors name the file.
func ParseFiles(paths ...string) (Config, error) {
	var cfg Config
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := parse(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg = cfg.Append(c)
	}
	return cfg, errors.Join(errs...)
}

func parse(file string, data []byte) (Config, error) {
	var cfg Config
	var errs fielderr.List
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		where := docName(file, doc, "", "")
		if err != nil {
			errs.Add("", "%v", strings.TrimPrefix(err.Error(), "yaml: "))
			errs.Locate(where)
			break // the YAML stream cannot be resynchronised
		}
		if n.Kind != yaml.DocumentNode || len(n.Content) != 1 {
			continue
		}
		if r := n.Content[0]; r.Kind == yaml.ScalarNode && r.Tag == "!!null" {
			continue // an empty document, as a trailing "---" makes
		}
		parseResource(&cfg, n.Content[0], file, doc, "", &errs)
	}
	return cfg, errs.Err()
}

// parseResource decodes one resource (or a List of them) into cfg.
func parseResource(cfg *Config, n *yaml.Node, file string, doc int, item string, errs *fielderr.List) {
	var local fielderr.List
	d := &decoder{errs: &local}
	where := docName(file, doc, item, "")
	if n.Kind != yaml.MappingNode {
		local.Add("", "expected a resource (an object with apiVersion, kind, metadata and spec), got %s (line %d)", describe(n), n.Line)
		local.Locate(where)
		errs.Merge("", local.Err())
		return
	}
	fields := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		fields[n.Content[i].Value] = n.Content[i+1]
	}
	kind := scalarValue(fields["kind"])
	var meta objectMeta
	if m := fields["metadata"]; m != nil {
		d.decode(m, reflect.ValueOf(&meta).Elem(), "metadata")
	}
	name := meta.Name
	if meta.Namespace != "" {
		name = meta.Namespace + "/" + meta.Name
	}
	label := kind
	if meta.Name != "" {
		label += fmt.Sprintf(" %q", name)
	}
	where = docName(file, doc, item, label)

	if kind == "List" {
		items := fields["items"]
		if items == nil || items.Kind != yaml.SequenceNode {
			local.Add("items", "a List needs a list of items")
		} else {
			for i, it := range items.Content {
				parseResource(cfg, it, file, doc, fmt.Sprintf("item %d", i), errs)
			}
		}
		local.Locate(docName(file, doc, item, "List"))
		errs.Merge("", local.Err())
		return
	}

	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "apiVersion", "kind", "metadata", "spec", "status":
		default:
			local.Add(k, "unknown field%s (line %d)", suggest(k, map[string]int{"apiVersion": 0, "kind": 0, "metadata": 0, "spec": 0}), n.Content[i].Line)
		}
	}
	if api := scalarValue(fields["apiVersion"]); !apiVersions[api] {
		if api == "" {
			local.Add("apiVersion", "required; use networking.istio.io/v1")
		} else {
			local.Add("apiVersion", "%q is not supported; use networking.istio.io/v1, v1beta1 or v1alpha3", api)
		}
	}
	if meta.Name == "" {
		local.Add("metadata.name", "required")
	}
	spec := fields["spec"]
	if spec == nil {
		local.Add("spec", "required")
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
		local.Add("kind", "required; use ServiceEntry, DestinationRule or VirtualService")
	default:
		local.Add("kind", "%q is not supported; use ServiceEntry, DestinationRule or VirtualService", kind)
	}
	local.Locate(where)
	errs.Merge("", local.Err())
}

// decodeSpec decodes a resource's spec, which may be absent.
func decodeSpec[T any](d *decoder, spec *yaml.Node) T {
	var v T
	if spec != nil {
		d.decode(spec, reflect.ValueOf(&v).Elem(), "spec")
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
	if n == nil || n.Kind != yaml.ScalarNode {
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
