package xds

import (
	"flag"
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

var updateFields = flag.Bool("xds.update-fields", false, "rewrite FIELDS.md from the field tables")

// fieldsDoc is the document listing every field of every Envoy message the
// translation reads: translated, ignored (and why that is safe), or refused
// with a NACK when set. TestFieldsDocument keeps it as the tables say.
const fieldsDoc = "FIELDS.md"

// TestFieldsDocument: FIELDS.md lists the fields as the tables in force
// treat them (go test ./xds -run TestFieldsDocument -xds.update-fields
// rewrites it after a table changes).
func TestFieldsDocument(t *testing.T) {
	var b strings.Builder
	b.WriteString(`# Envoy fields and the xDS translation

Generated from the field tables in fields.go by ` + "`go test ./xds -run TestFieldsDocument -xds.update-fields`" + `;
the test fails when this file and the tables disagree, and ` + "`TestFieldTables`" + ` checks every
name against Envoy's descriptors.

For every message the translation reads, each field is one of:
- **translated**: it carries an Istio feature switchyard implements, and becomes part of the mesh's
  configuration;
- **ignored**, with the reason it is safe to ignore (it changes nothing a client-side mesh does, or
  it only repeats what another translated field says);
- **refused**: every other field. A resource that sets one is rejected, and the response NACKed
  naming the field, so that nothing that changes behaviour is silently dropped.

`)
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
	got := strings.TrimSuffix(b.String(), "\n")
	if *updateFields {
		if err := os.WriteFile(fieldsDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(fieldsDoc)
	if err != nil {
		t.Fatalf("%v (go test ./xds -run TestFieldsDocument -xds.update-fields writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s is not what the field tables say: run go test ./xds -run TestFieldsDocument -xds.update-fields", fieldsDoc)
	}
}
