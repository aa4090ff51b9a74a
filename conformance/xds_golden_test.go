package conformance

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

var flagUpdate = flag.Bool("update", false,
	"rewrite testdata/xds/<scenario>.<persona>.json from what Istio's control plane sends")

// xdsDir holds the scenarios (<scenario>.yaml, each applied after
// bookinfo.yaml) and what each persona receives for them.
const xdsDir = "testdata/xds"

// servicesFile is the part of every scenario that declares the services.
const servicesFile = "bookinfo.yaml"

// TestIstiodXDS feeds each scenario to Istio's control plane, connects
// switchyard's ADS client as each persona, and compares every resource the
// persona receives with the golden dump: a change in what Istio sends (an
// Istio upgrade, a scenario edited) shows here as a diff. Run with -update
// to rewrite the dumps, and review them with git diff.
func TestIstiodXDS(t *testing.T) {
	scenarios, err := filepath.Glob(filepath.Join(xdsDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	services, err := os.ReadFile(filepath.Join(xdsDir, servicesFile))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, path := range scenarios {
		if filepath.Base(path) == servicesFile {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			spec, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			yaml := string(services) + "\n---\n" + string(spec)
			listeners, err := listenerNames(yaml)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			addr := startIstiod(t, yaml)
			started := time.Since(start)
			walks := make([]*adsWalk, len(personas))
			for i, p := range personas {
				walks[i] = connectPersona(t, addr, p, listeners)
			}
			for _, w := range walks {
				w.sync()
			}
			t.Logf("istiod started in %v; both personas synced %v later", started.Round(time.Millisecond), (time.Since(start) - started).Round(time.Millisecond))
			for _, w := range walks {
				got, err := w.dump(name)
				if err != nil {
					t.Fatalf("%s: %v", w.p.name, err)
				}
				compareGolden(t, filepath.Join(xdsDir, name+"."+w.p.name+".json"), got)
			}
		})
	}
	if len(names) == 0 {
		t.Fatalf("no scenarios in %s", xdsDir)
	}
	if !*flagUpdate {
		checkNoStaleGoldens(t, names)
	}
}

// listenerNames are the listeners the proxyless persona subscribes to: one
// per host:port of each ServiceEntry in yaml, as gRPC names the target
// "xds:///host:port".
func listenerNames(yaml string) ([]string, error) {
	var out []string
	for i, doc := range splitDocuments(yaml) {
		var obj struct {
			Kind string `json:"kind"`
			Spec struct {
				Hosts []string `json:"hosts"`
				Ports []struct {
					Number uint32 `json:"number"`
				} `json:"ports"`
			} `json:"spec"`
		}
		if err := sigsyaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("document %d: %v", i, err)
		}
		if obj.Kind != "ServiceEntry" {
			continue
		}
		for _, h := range obj.Spec.Hosts {
			for _, p := range obj.Spec.Ports {
				out = append(out, fmt.Sprintf("%s:%d", h, p.Number))
			}
		}
	}
	return out, nil
}

// xdsDump is a golden file: every resource one persona received, by type
// and name, as protojson.
type xdsDump struct {
	Scenario string `json:"scenario"`
	Persona  string `json:"persona"`
	// Node is the identity the persona sent (without the client's own
	// user agent and features).
	Node      json.RawMessage            `json:"node"`
	Listeners map[string]json.RawMessage `json:"listeners"`
	Routes    map[string]json.RawMessage `json:"routes"`
	Clusters  map[string]json.RawMessage `json:"clusters"`
	Endpoints map[string]json.RawMessage `json:"endpoints"`
	// Unresolved lists the resources subscribed to and not in force:
	// "<type> <name>" → status and error.
	Unresolved map[string]string `json:"unresolved,omitempty"`
}

// dump renders what the client holds. Keys are sorted and the JSON is
// indented by encoding/json, so the bytes depend only on the resources
// (protojson's own spacing is deliberately unstable).
func (w *adsWalk) dump(scenario string) ([]byte, error) {
	node, err := protojson.Marshal(w.p.node())
	if err != nil {
		return nil, fmt.Errorf("node: %v", err)
	}
	d := xdsDump{
		Scenario: scenario, Persona: w.p.name, Node: node,
		Listeners: map[string]json.RawMessage{}, Routes: map[string]json.RawMessage{},
		Clusters: map[string]json.RawMessage{}, Endpoints: map[string]json.RawMessage{},
	}
	for _, rs := range w.client.Dump() {
		if rs.Status != xdsclient.StatusACKed {
			if d.Unresolved == nil {
				d.Unresolved = map[string]string{}
			}
			v := rs.Status.String()
			if rs.Err != nil {
				v += ": " + rs.Err.Error()
			}
			d.Unresolved[typeName(rs.TypeURL)+" "+rs.Name] = v
		}
		if rs.Resource == nil {
			continue
		}
		var m proto.Message
		var into map[string]json.RawMessage
		switch r := rs.Resource.(type) {
		case *xdsclient.ProtoResource[*listenerv3.Listener]:
			m, into = r.Message, d.Listeners
		case *xdsclient.ProtoResource[*routev3.RouteConfiguration]:
			m, into = r.Message, d.Routes
		case *xdsclient.ProtoResource[*clusterv3.Cluster]:
			m, into = r.Message, d.Clusters
		case *xdsclient.ProtoResource[*endpointv3.ClusterLoadAssignment]:
			m, into = r.Message, d.Endpoints
		default:
			return nil, fmt.Errorf("unexpected resource %T of type %s", rs.Resource, rs.TypeURL)
		}
		js, err := protojson.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", typeName(rs.TypeURL), rs.Name, err)
		}
		into[rs.Name] = js
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// compareGolden compares got with the file at path, or rewrites the file
// under -update.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *flagUpdate {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what Istio sends now (run with -update and review git diff):\n%s", path, firstDifference(want, got))
	}
}

// firstDifference shows the first line where want and got differ, with
// context.
func firstDifference(want, got []byte) string {
	wl := strings.Split(string(want), "\n")
	gl := strings.Split(string(got), "\n")
	i := 0
	for i < len(wl) && i < len(gl) && wl[i] == gl[i] {
		i++
	}
	var b strings.Builder
	from := max(0, i-3)
	for j := from; j < i; j++ {
		fmt.Fprintf(&b, "  %5d   %s\n", j+1, wl[j])
	}
	for j := i; j < min(len(wl), i+4); j++ {
		fmt.Fprintf(&b, "- %5d   %s\n", j+1, wl[j])
	}
	for j := i; j < min(len(gl), i+4); j++ {
		fmt.Fprintf(&b, "+ %5d   %s\n", j+1, gl[j])
	}
	return b.String()
}

// checkNoStaleGoldens fails on a dump whose scenario no longer exists.
func checkNoStaleGoldens(t *testing.T, scenarios []string) {
	t.Helper()
	dumps, err := filepath.Glob(filepath.Join(xdsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, s := range scenarios {
		for _, p := range personas {
			known[s+"."+p.name+".json"] = true
		}
	}
	for _, d := range dumps {
		if !known[filepath.Base(d)] {
			t.Errorf("%s has no scenario: delete it", d)
		}
	}
}
