package main

import "testing"

func TestDiffGolden(t *testing.T) {
	runGoldens(t, []golden{
		{name: "diff-canary-step", args: []string{"diff", "testdata/bookinfo", "testdata/bookinfo-next/mesh.yaml"}, code: 1},
		{name: "diff-canary-step-json", args: []string{"diff", "-o", "json", "testdata/bookinfo", "testdata/bookinfo-next/mesh.yaml"}, code: 1},
		{name: "diff-reverse", args: []string{"diff", "testdata/bookinfo-next/mesh.yaml", "testdata/bookinfo"}, code: 1},
		{name: "diff-same-routing", args: []string{"diff", "testdata/bookinfo", "testdata/bookinfo-reformatted.yaml"}, code: 0},
		{name: "diff-same-routing-json", args: []string{"diff", "testdata/bookinfo", "testdata/bookinfo-reformatted.yaml", "-o", "json"}, code: 0},
		{name: "diff-moved-route", args: []string{"diff", "testdata/moved/before.yaml", "testdata/moved/after.yaml"}, code: 1},
		{name: "diff-invalid", args: []string{"diff", "testdata/bookinfo", "testdata/invalid/routes.yaml"}, code: 2},
		{name: "diff-one-arg", args: []string{"diff", "testdata/bookinfo"}, code: 2},
	})
}
