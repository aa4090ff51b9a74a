package switchyard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchyard-go/switchyard"
)

// Keeping a mesh in step with its manifest file: an edit is applied, a
// broken edit is rejected while the running configuration keeps serving,
// and the fix is applied. In Kubernetes, point WatchFiles at a mounted
// ConfigMap's files or directory.
func ExampleWatchFiles() {
	dir, err := os.MkdirTemp("", "mesh")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "mesh.yaml")
	save := func(yaml string) { // as an editor saves: write aside, rename over
		if err := os.WriteFile(file+".tmp", []byte(yaml), 0o644); err != nil {
			panic(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			panic(err)
		}
	}
	save(exampleMesh)

	cfg, err := switchyard.ParseFiles(file)
	if err != nil {
		panic(err)
	}
	mesh, err := switchyard.New(cfg)
	if err != nil {
		panic(err)
	}
	defer mesh.Close()

	reloads := make(chan error)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := switchyard.WatchFiles(ctx, mesh, []string{file}, switchyard.WatchOptions{
		OnReload: func(err error) { reloads <- err }, // log it, in a service
	})
	if err != nil {
		panic(err)
	}
	defer stop()
	defaultSubset := func() string {
		http := mesh.Config().VirtualServices[0].HTTP
		return http[len(http)-1].Route[0].Destination.Subset
	}

	save(strings.Replace(exampleMesh, "subset: v1", "subset: v2", 1))
	fmt.Println("reloaded:", <-reloads, "- default subset", defaultSubset())

	save(strings.Replace(exampleMesh, "subset: v1", "subsett: v1", 1))
	err = <-reloads
	fmt.Println("rejected:", strings.Contains(err.Error(), `unknown field (did you mean "subset"?)`), "- default subset", defaultSubset())

	save(exampleMesh)
	fmt.Println("reloaded:", <-reloads, "- default subset", defaultSubset())
	// Output:
	// reloaded: <nil> - default subset v2
	// rejected: true - default subset v2
	// reloaded: <nil> - default subset v1
}
