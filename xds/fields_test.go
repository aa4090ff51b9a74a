package xds

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestFieldTables: every field a table names exists in its Envoy message (a
// misspelt name would reject resources that set the field).
func TestFieldTables(t *testing.T) {
	for _, tb := range tables {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(tb.message))
		if err != nil {
			t.Errorf("%s: %v", tb.message, err)
			continue
		}
		md := d.(protoreflect.MessageDescriptor)
		for name := range tb.table {
			if md.Fields().ByName(protoreflect.Name(name)) == nil {
				t.Errorf("%s has no field %s", tb.message, name)
			}
		}
	}
}

// TestFieldReport writes the list of Envoy fields translated, ignored (and
// why) and refused to the file named by XDS_FIELD_REPORT, when set.
func TestFieldReport(t *testing.T) {
	path := os.Getenv("XDS_FIELD_REPORT")
	if path == "" {
		t.Skip("set XDS_FIELD_REPORT=file to write the report")
	}
	var b strings.Builder
	for _, tb := range tables {
		d, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(tb.message))
		md := d.(protoreflect.MessageDescriptor)
		var tr, refused []string
		for i := range md.Fields().Len() {
			n := string(md.Fields().Get(i).Name())
			if _, ok := tb.table[n]; !ok {
				refused = append(refused, n)
			}
		}
		fmt.Fprintf(&b, "### %s\n", tb.message)
		for _, n := range slices.Sorted(maps.Keys(tb.table)) {
			if tb.table[n] == translated {
				tr = append(tr, n)
			}
		}
		fmt.Fprintf(&b, "- translated: %s\n", strings.Join(tr, ", "))
		for _, n := range slices.Sorted(maps.Keys(tb.table)) {
			if r := tb.table[n]; r != translated {
				fmt.Fprintf(&b, "- ignored `%s`: %s\n", n, r)
			}
		}
		if len(refused) > 0 {
			fmt.Fprintf(&b, "- refused (NACK) when set: %s\n", strings.Join(refused, ", "))
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
