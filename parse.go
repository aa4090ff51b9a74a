package switchyard

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/yamltree"
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
	docs := yamltree.NewStream(data)
	for doc := 1; !b.over; doc++ {
		root, err := docs.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var local fielderr.List
			(&decoder{b: b, errs: &local}).fail(node{}, nil, func() string { return strings.TrimPrefix(err.Error(), "yaml: ") })
			local.Locate(docName(file, doc, -1, ""))
			errs.AddList(&local)
			break // the YAML stream cannot be resynchronised
		}
		if root.Kind() == yamltree.ScalarNode && root.Tag() == "!!null" {
			continue // an empty document, as a trailing "---" makes
		}
		parseResource(&cfg, root, file, doc, -1, b, errs)
	}
	return cfg
}

// topFields are the fields of a resource.
var topFields = []string{"apiVersion", "kind", "metadata", "spec"}

// The paths of a resource's own fields.
var (
	apiVersionPath = &fieldPath{name: "apiVersion"}
	kindPath       = &fieldPath{name: "kind"}
	metadataPath   = &fieldPath{name: "metadata"}
	namePath       = &fieldPath{name: "metadata.name"}
	specPath       = &fieldPath{name: "spec"}
	itemsPath      = &fieldPath{name: "items"}
)

// resourceFields are the top-level fields of a resource.
type resourceFields struct {
	apiVersion, kind, metadata, spec, items node
	unknown                                 []node // the keys of other fields but status
}

// add notes the field key: k.
func (f *resourceFields) add(key string, k, val node) {
	switch key {
	case "apiVersion":
		f.apiVersion = val
	case "kind":
		f.kind = val
	case "metadata":
		f.metadata = val
	case "spec":
		f.spec = val
	case "status":
	case "items":
		f.items = val
		f.unknown = append(f.unknown, k) // unless the resource is a List
	default:
		f.unknown = append(f.unknown, k)
	}
}

// parseResource decodes one resource (or a List of them) into cfg. item
// is its index in a List, or -1.
func parseResource(cfg *Config, n node, file string, doc, item int, b *budget, errs *fielderr.List) {
	var local fielderr.List
	d := &decoder{b: b, errs: &local}
	var kind string
	var meta struct {
		Name, Namespace string
		Labels          map[string]string
	}
	defer func() {
		if local.Kept() > 0 {
			local.Locate(docName(file, doc, item, resourceLabel(kind, meta.Name, meta.Namespace)))
		}
		errs.AddList(&local)
	}()
	if !d.spend(n, nil, 1) {
		return
	}
	if n = resolve(n); n.Kind() != yamltree.MappingNode {
		d.fail(n, nil, func() string {
			return "expected a resource (an object with apiVersion, kind, metadata and spec), got " + describe(n)
		})
		return
	}
	var f resourceFields
	d.entries(n, nil, &visitor{res: &f}, nil)
	kind = scalarValue(f.kind)
	if !f.metadata.IsZero() {
		m := new(objectMeta) // large: allocated only when there is one
		d.decode(f.metadata, reflect.ValueOf(m).Elem(), metadataPath)
		meta.Name, meta.Namespace, meta.Labels = m.Name, m.Namespace, m.Labels
	}

	if kind == "List" {
		if items := resolve(f.items); items.IsZero() || items.Kind() != yamltree.SequenceNode {
			d.fail(node{}, itemsPath, func() string { return "a List needs a list of items" })
		} else {
			for i := range items.Len() {
				if b.over {
					break
				}
				parseResource(cfg, items.Child(i), file, doc, i, b, errs)
			}
		}
		return
	}

	if api := scalarValue(f.apiVersion); kind != "" && api != "" && skippable(api, kind) {
		// A document of a kind the mesh does not act on, as mixed
		// manifests and kubectl's output hold: skipped, and reported.
		cfg.Skipped = append(cfg.Skipped, SkippedResource{APIVersion: api, Kind: kind, Name: meta.Name, Namespace: meta.Namespace})
		return
	}
	for _, k := range f.unknown {
		kp := fieldPath{name: k.Value()}
		d.fail(k, &kp, func() string { return "unknown field" + d.suggest(k.Value(), topFields) })
	}
	if api := scalarValue(f.apiVersion); !apiVersions[api] {
		if api == "" {
			d.fail(node{}, apiVersionPath, func() string { return "required; use networking.istio.io/v1" })
		} else {
			d.fail(node{}, apiVersionPath, func() string {
				return fmt.Sprintf("%s is not supported; use networking.istio.io/v1, v1beta1 or v1alpha3", fielderr.Quote(api))
			})
		}
	}
	if meta.Name == "" {
		d.fail(node{}, namePath, func() string { return "required" })
	}
	if f.spec.IsZero() {
		d.fail(node{}, specPath, func() string { return "required" })
	}
	switch k := kindNamed(kind); {
	case k != nil:
		k.decode(cfg, d, f.spec, meta.Name, meta.Namespace)
		if kind == "ServiceEntry" {
			checkWaypoint(&cfg.ServiceEntries[len(cfg.ServiceEntries)-1], meta.Labels, d)
		}
	case kind == "":
		d.fail(node{}, kindPath, func() string { return "required; use " + kindList() })
	default:
		d.fail(node{}, kindPath, func() string {
			return fmt.Sprintf("%s is not supported; use %s", fielderr.Quote(kind), kindList())
		})
	}
}

// decodeSpec decodes a resource's spec, which may be absent.
func decodeSpec[T any](d *decoder, spec node) T {
	var v T
	if !spec.IsZero() {
		d.decode(spec, reflect.ValueOf(&v).Elem(), specPath)
	}
	return v
}

// networkingKinds are the other kinds of networking.istio.io, which the
// mesh does not act on: their documents are skipped, where a misspelt kind
// of the group is an error.
var networkingKinds = map[string]bool{"EnvoyFilter": true, "WorkloadEntry": true, "WorkloadGroup": true, "ProxyConfig": true}

// skippable reports whether a document of apiVersion and kind is one the
// mesh does not act on: any kind outside networking.istio.io (Kubernetes
// objects, Istio's security and telemetry kinds, the Gateway API), and
// the networking kinds other than the five it reads.
func skippable(apiVersion, kind string) bool {
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = "" // the core group: v1
	}
	if group != "networking.istio.io" {
		return true
	}
	return networkingKinds[kind]
}

// checkWaypoint applies the one rule of Istio's ServiceEntry validation
// that reads metadata: an entry using a waypoint (label
// istio.io/use-waypoint) cannot be MESH_INTERNAL with DYNAMIC_DNS.
func checkWaypoint(se *subset.ServiceEntry, labels map[string]string, d *decoder) {
	w := labels["istio.io/use-waypoint"]
	if w == "" || strings.EqualFold(w, "none") || se.Resolution != "DYNAMIC_DNS" || se.Location != "MESH_INTERNAL" {
		return
	}
	d.fail(node{}, &fieldPath{name: "spec.location"}, func() string {
		return "MESH_INTERNAL with resolution DYNAMIC_DNS is not supported for an entry that uses a waypoint (label istio.io/use-waypoint), as in Istio"
	})
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
	CreationTimestamp unread            `json:"creationTimestamp"`
	GenerateName      string            `json:"generateName"`
	Finalizers        []string          `json:"finalizers"`
	ManagedFields     unread            `json:"managedFields"`
	OwnerReferences   unread            `json:"ownerReferences"`
}

// resourceLabel names a resource of a kind for errors, as `List` or
// `VirtualService "namespace/name"`; it is built only for errors.
func resourceLabel(kind, name, namespace string) string {
	if kind == "List" {
		return "List"
	}
	if name == "" {
		return clip(kind)
	}
	return fielderr.Resource(clip(kind), namespace, name)
}

func scalarValue(n node) string {
	if n = resolve(n); n.IsZero() || n.Kind() != yamltree.ScalarNode {
		return ""
	}
	return n.Value()
}

// docName names a document, an item of a List (item ≥ 0) and the resource
// in it for errors.
func docName(file string, doc, item int, resource string) string {
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "document %d", doc)
	if item >= 0 {
		fmt.Fprintf(&b, " item %d", item)
	}
	if resource != "" {
		b.WriteString(" (")
		b.WriteString(resource)
		b.WriteString(")")
	}
	return b.String()
}
