package cluster

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-go/switchyard/subset"
)

func fieldNames[T any]() []string {
	var out []string
	for f := range reflect.TypeFor[T]().Fields() {
		out = append(out, f.Name)
	}
	return out
}

// TestCopiedComparesEveryField: copiedEntry and copiedRule compare every
// field of their types; a field added to a type must be added there too,
// or a change of only that field would go unseen by an Update.
func TestCopiedComparesEveryField(t *testing.T) {
	assert.Equal(t, []string{"Name", "Namespace", "Hosts", "Addresses", "Ports", "Location", "Resolution", "Endpoints", "ExportTo", "SubjectAltNames"},
		fieldNames[subset.ServiceEntry]())
	assert.Equal(t, []string{"Name", "Namespace", "Host", "TrafficPolicy", "Subsets", "ExportTo"}, fieldNames[subset.DestinationRule]())

	se := subset.ServiceEntry{Name: "a", Namespace: "n", Hosts: []string{"h"}, Addresses: []string{"10.0.0.1"}, Ports: []subset.Port{{Number: 80}},
		Location: "MESH_INTERNAL", Resolution: "STATIC", Endpoints: []subset.WorkloadEntry{{Address: "10.1.1.1"}}, ExportTo: []string{"."}, SubjectAltNames: []string{"x"}}
	cp := se
	assert.True(t, copiedEntry(&se, &cp))
	for _, change := range []func(*subset.ServiceEntry){
		func(s *subset.ServiceEntry) { s.Name = "b" },
		func(s *subset.ServiceEntry) { s.Namespace = "m" },
		func(s *subset.ServiceEntry) { s.Hosts = []string{"h"} },
		func(s *subset.ServiceEntry) { s.Addresses = nil },
		func(s *subset.ServiceEntry) { s.Ports = []subset.Port{{Number: 80}} },
		func(s *subset.ServiceEntry) { s.Location = "MESH_EXTERNAL" },
		func(s *subset.ServiceEntry) { s.Resolution = "DNS" },
		func(s *subset.ServiceEntry) { s.Endpoints = []subset.WorkloadEntry{{Address: "10.1.1.1"}} },
		func(s *subset.ServiceEntry) { s.ExportTo = []string{"*"} },
		func(s *subset.ServiceEntry) { s.SubjectAltNames = nil },
	} {
		c := se
		change(&c)
		assert.False(t, copiedEntry(&se, &c), "%+v", c)
		assert.Equal(t, reflect.DeepEqual(se, c), SameEntry(&se, &c), "%+v", c)
	}

	dr := subset.DestinationRule{Name: "a", Namespace: "n", Host: "h", TrafficPolicy: &subset.TrafficPolicy{}, Subsets: []subset.Subset{{Name: "v1"}}, ExportTo: []string{"."}}
	cr := dr
	assert.True(t, copiedRule(&dr, &cr))
	for _, change := range []func(*subset.DestinationRule){
		func(d *subset.DestinationRule) { d.Name = "b" },
		func(d *subset.DestinationRule) { d.Namespace = "m" },
		func(d *subset.DestinationRule) { d.Host = "g" },
		func(d *subset.DestinationRule) { d.TrafficPolicy = &subset.TrafficPolicy{} },
		func(d *subset.DestinationRule) { d.Subsets = []subset.Subset{{Name: "v1"}} },
		func(d *subset.DestinationRule) { d.ExportTo = nil },
	} {
		c := dr
		change(&c)
		assert.False(t, copiedRule(&dr, &c), "%+v", c)
		assert.Equal(t, reflect.DeepEqual(dr, c), SameRule(&dr, &c), "%+v", c)
	}
}
