package conformance

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/switchyard-go/switchyard"
)

// kindClass says who acts on a document.
type kindClass int

const (
	// handled: a ServiceEntry, DestinationRule, VirtualService, Gateway or
	// Sidecar, which both sides validate and the suite compares.
	handled kindClass = iota
	// istioOnly: another kind Istio's webhook validates (AuthorizationPolicy,
	// EnvoyFilter, WorkloadEntry…), which switchyard does not handle; recorded
	// with Istio's verdict, not compared.
	istioOnly
	// foreign: a document Istio's webhook never sees (a Kubernetes Service,
	// Deployment, a Gateway API resource…); counted only.
	foreign
)

func (k kindClass) String() string {
	return [...]string{"compared", "istio-only", "foreign"}[k]
}

// handledKinds are the kinds switchyard handles today.
var handledKinds = map[string]bool{
	"ServiceEntry": true, "DestinationRule": true, "VirtualService": true,
	"Gateway": true, "Sidecar": true,
}

// verdict is one validator's answer for a document.
type verdict struct {
	ok       bool
	errs     []string // why it was rejected, one message per problem
	warnings []string // Istio's warnings (never a rejection)
	// stage names the step that rejected: for Istio "yaml", "decode",
	// "schema", "strict", "convert", "validate" or "fields"; for switchyard
	// "parse" or "new".
	stage string
}

func (v verdict) String() string {
	if v.ok {
		return "accept"
	}
	return "reject"
}

// errText is the rejection on one line.
func (v verdict) errText() string { return strings.Join(v.errs, " | ") }

// istioResult is Istio's verdict with what the document is.
type istioResult struct {
	group, kind string
	class       kindClass
	verdict
	// lenientOK reports that Istio's webhook code alone accepts the document:
	// it decodes the spec leniently (unknown fields dropped), so a document
	// rejected only at the "strict" stage is one the Kubernetes API server
	// rejects (the CRD's structural schema, with kubectl's default strict
	// field validation) before the webhook runs.
	lenientOK bool
}

// defaultNamespace is where a document without metadata.namespace lands, as
// `kubectl apply` without -n puts it.
const defaultNamespace = "default"

// webhookFields are the top-level fields Istio's webhook accepts
// (pkg/webhooks/validation/server: validFields).
var webhookFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "spec": true, "status": true}

// validateIstio runs what Istio's validating admission webhook runs on one
// document (pkg/webhooks/validation/server.(*Webhook).validate), preceded by
// what the Kubernetes API server does to it first:
//
//  1. kubectl turns the YAML into JSON (sigs.k8s.io/yaml);
//  2. the object is decoded into crd.IstioKind and its group and kind are
//     looked up in collections.PilotGatewayAPI(), the schemas istiod gives
//     the webhook (the version is ignored, as the webhook ignores it);
//  3. the spec is decoded strictly into the kind's istio.io/api message:
//     the API server's structural schema (with kubectl's default strict
//     field validation) rejects unknown fields before the webhook sees them,
//     and the webhook's own decoding (crd.ConvertObject → config.ApplyJSON)
//     would otherwise drop them silently;
//  4. crd.ConvertObject builds the config.Config (domain cluster.local);
//  5. the schema's ValidateConfig runs the kind's validation function, whose
//     error rejects and whose warnings do not;
//  6. the webhook's checkFields rejects unknown top-level fields.
func validateIstio(doc []byte) istioResult {
	var r istioResult
	js, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		r.stage, r.errs = "yaml", []string{err.Error()}
		r.class = foreign
		return r
	}
	var obj crd.IstioKind
	if err := json.Unmarshal(js, &obj); err != nil {
		r.stage, r.errs = "decode", []string{fmt.Sprintf("cannot decode configuration: %v", err)}
		r.class = foreign
		return r
	}
	gvk := obj.GroupVersionKind()
	r.group, r.kind = gvk.Group, gvk.Kind
	s, found := collections.PilotGatewayAPI().FindByGroupKind(resource.FromKubernetesGVK(&gvk))
	switch {
	case !strings.HasSuffix(gvk.Group, "istio.io"):
		r.class = foreign
		if !found {
			r.stage, r.errs = "schema", []string{fmt.Sprintf("unrecognized type %v", gvk)}
			return r
		}
	case r.group == "networking.istio.io" && handledKinds[r.kind]:
		r.class = handled
	default:
		r.class = istioOnly
	}
	if !found {
		r.stage, r.errs = "schema", []string{fmt.Sprintf("unrecognized type %v", gvk)}
		return r
	}
	if obj.Namespace == "" && !s.IsClusterScoped() {
		obj.Namespace = defaultNamespace
	}

	strictErr := decodeStrict(s, obj.Spec)
	r.verdict = webhook(s, &obj, js)
	r.lenientOK = r.ok
	if strictErr != nil {
		r.ok, r.stage = false, "strict"
		r.errs = append([]string{fmt.Sprintf("strict decoding error: %v", oneLine(strictErr.Error()))}, r.errs...)
	}
	return r
}

// webhook is the webhook's own decision on a decoded object.
func webhook(s resource.Schema, obj *crd.IstioKind, js []byte) verdict {
	out, err := crd.ConvertObject(s, obj, "cluster.local")
	if err != nil {
		return verdict{stage: "convert", errs: []string{fmt.Sprintf("error decoding configuration: %v", oneLine(err.Error()))}}
	}
	warnings, err := s.ValidateConfig(*out)
	if err != nil {
		return verdict{stage: "validate", errs: flatten(err), warnings: flatten(warnings)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return verdict{stage: "fields", errs: []string{fmt.Sprintf("cannot decode configuration fields: %v", err)}}
	}
	for _, key := range slices.Sorted(maps.Keys(top)) {
		if !webhookFields[key] {
			return verdict{stage: "fields", errs: []string{fmt.Sprintf("unknown field %q on %s resource %s/%s", key, obj.Kind, obj.Namespace, obj.Name)}}
		}
	}
	return verdict{ok: true, warnings: flatten(warnings)}
}

// decodeStrict decodes a spec into the kind's message as the webhook's own
// decoder first tries to (config.ApplyJSONStrict: golang/protobuf's jsonpb,
// unknown fields rejected), before it retries ignoring unknown fields. jsonpb
// takes Go durations ("3m"), as the CRD's CEL rules do; protojson would not.
func decodeStrict(s resource.Schema, spec json.RawMessage) error {
	inst, err := s.NewInstance()
	if err != nil {
		return err
	}
	js := string(spec)
	if js == "" || js == "null" {
		js = "{}"
	}
	return config.ApplyJSONStrict(inst, js)
}

// validateSwitchyard gives the document alone to switchyard.Parse and
// switchyard.New, as a user would.
func validateSwitchyard(doc []byte) (v verdict) {
	defer func() {
		if p := recover(); p != nil {
			v = verdict{stage: "panic", errs: []string{fmt.Sprintf("PANIC: %v", p)}}
		}
	}()
	cfg, err := switchyard.Parse(doc)
	if err != nil {
		return verdict{stage: "parse", errs: flatten(err)}
	}
	m, err := switchyard.New(cfg, switchyard.WithWorkloadCertificates(workload()))
	if err != nil {
		return verdict{stage: "new", errs: flatten(err)}
	}
	if err := m.Close(); err != nil {
		return verdict{stage: "close", errs: flatten(err)}
	}
	return verdict{ok: true}
}

// flatten lists the leaf messages of a joined error (errors.Join, or
// hashicorp/go-multierror as Istio uses), each on one line.
func flatten(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
			return
		case interface{ WrappedErrors() []error }:
			if cs := x.WrappedErrors(); len(cs) > 0 {
				for _, c := range cs {
					walk(c)
				}
				return
			}
		}
		out = append(out, oneLine(e.Error()))
	}
	walk(err)
	if len(out) == 0 { // a multierror with nothing in it
		out = append(out, oneLine(err.Error()))
	}
	return out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// crossResource matches switchyard's errors about things outside the
// document: other resources (a host no ServiceEntry defines, a subset no
// DestinationRule defines, a port the ServiceEntry does not list — which
// are warnings now, so these should no longer occur) and files the
// document names (a DestinationRule's or a Gateway server's certificates)
// that this machine does not have: "cannot read" from the DestinationRule,
// the "open …" of os.Open from a Gateway's tls.LoadX509KeyPair or CA bundle. Istio's validator checks each resource alone and reads no file
// (the proxy reads them); switchyard, being the proxy, reads them at New.
// The report shows the verdict without these errors.
var crossResource = regexp.MustCompile(`no ServiceEntry defines host|subset "[^"]*" of host "[^"]*" is not defined|host "[^"]*" has no port \d+; its ports are|cannot read "[^"]*": (no such file or directory|open .*: no such file or directory)|: open [^:]+: no such file or directory`)

// local is the verdict without cross-resource errors.
func (v verdict) local() verdict {
	out := verdict{ok: true, stage: v.stage, warnings: v.warnings}
	for _, e := range v.errs {
		if !crossResource.MatchString(e) {
			out.ok = false
			out.errs = append(out.errs, e)
		}
	}
	if v.stage == "panic" {
		out.ok = false
	}
	if out.ok {
		out.stage = ""
	}
	return out
}

// notSupported reports whether every problem switchyard found names a
// feature as not supported: the one acceptable reason for a known
// difference.
func notSupported(v verdict) bool {
	if v.ok || len(v.errs) == 0 || v.stage == "panic" {
		return false
	}
	for _, e := range v.errs {
		if !strings.Contains(strings.ToLower(e), "not supported") {
			return false
		}
	}
	return true
}
