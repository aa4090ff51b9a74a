package switchyard_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchyard-go/switchyard"
)

// meshYAML returns the manifests of a mesh of n services as kubectl would
// apply them: for each service a ServiceEntry with 10 endpoints, a
// DestinationRule with 2 subsets and outlier detection, and a
// VirtualService with 2 routes (a header match to one subset and an
// 80/20 split); about 1.5 KB per service.
func meshYAML(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: svc%[1]d
  namespace: mesh
spec:
  hosts:
  - svc%[1]d.mesh.svc.cluster.local
  ports:
  - number: 8080
    name: http
    protocol: HTTP
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints:
`, i)
		for e := range 10 {
			fmt.Fprintf(&b, "  - address: 10.%d.%d.%d\n    labels: {version: v%d}\n", i>>8&255, i&255, e+1, e%2+1)
		}
		fmt.Fprintf(&b, `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: svc%[1]d
  namespace: mesh
spec:
  host: svc%[1]d.mesh.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      simple: LEAST_REQUEST
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: svc%[1]d
  namespace: mesh
spec:
  hosts:
  - svc%[1]d.mesh.svc.cluster.local
  http:
  - name: canary
    match:
    - headers:
        x-canary:
          exact: "true"
    route:
    - destination:
        host: svc%[1]d.mesh.svc.cluster.local
        subset: v2
    timeout: 2s
  - name: default
    route:
    - destination:
        host: svc%[1]d.mesh.svc.cluster.local
        subset: v1
      weight: 80
    - destination:
        host: svc%[1]d.mesh.svc.cluster.local
        subset: v2
      weight: 20
    retries:
      attempts: 3
      perTryTimeout: 500ms
      retryOn: 5xx,reset
---
`, i)
	}
	return []byte(b.String())
}

// meshJSON returns the manifests of meshYAML(n) as one kubectl List in
// JSON, as `kubectl get -o json` prints it.
func meshJSON(tb testing.TB, n int) []byte {
	dec := yaml.NewDecoder(strings.NewReader(string(meshYAML(n))))
	var items []any
	for {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			break
		}
		if v != nil {
			items = append(items, v)
		}
	}
	out, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "    ")
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestMeshManifestsParse(t *testing.T) {
	for name, data := range map[string][]byte{"yaml": meshYAML(3), "json": meshJSON(t, 3)} {
		t.Run(name, func(t *testing.T) {
			cfg, err := switchyard.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.ServiceEntries) != 3 || len(cfg.DestinationRules) != 3 || len(cfg.VirtualServices) != 3 {
				t.Fatalf("got %d, %d, %d resources", len(cfg.ServiceEntries), len(cfg.DestinationRules), len(cfg.VirtualServices))
			}
			if _, err := switchyard.New(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkParse measures Parse on the manifests of meshes of 100 and
// 1,000 services, in YAML and as a JSON List; MB/s is input bytes per
// second elapsed, and cpu-MB/s per second of the process's CPU time
// (garbage collection included), which a loaded machine disturbs less.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, format := range []string{"yaml", "json"} {
			b.Run(fmt.Sprintf("%s/services=%d", format, n), func(b *testing.B) {
				data := meshYAML(n)
				if format == "json" {
					data = meshJSON(b, n)
				}
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				cpu := processCPU(b)
				for b.Loop() {
					if _, err := switchyard.Parse(data); err != nil {
						b.Fatal(err)
					}
				}
				if cpu = processCPU(b) - cpu; cpu > 0 {
					b.ReportMetric(float64(len(data))*float64(b.N)/1e6/cpu.Seconds(), "cpu-MB/s")
				}
			})
		}
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
