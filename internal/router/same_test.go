package router

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-go/switchyard/route"
)

// TestCopiedVirtualServiceComparesEveryField: copiedVirtualService compares
// each field of a VirtualService; a field added to the type must be added
// there too, or a change of only that field would go unseen.
func TestCopiedVirtualServiceComparesEveryField(t *testing.T) {
	var fields []string
	for f := range reflect.TypeFor[route.VirtualService]().Fields() {
		fields = append(fields, f.Name)
	}
	assert.Equal(t, []string{"Name", "Namespace", "Hosts", "Gateways", "HTTP", "TLS", "TCP", "ExportTo"}, fields)

	base := route.VirtualService{Name: "a", Namespace: "n", Hosts: []string{"h"}, Gateways: []string{"mesh"},
		HTTP: []route.HTTPRoute{{Name: "r"}}, TLS: []route.TLSRoute{{}}, TCP: []route.TCPRoute{{}}, ExportTo: []string{"."}}
	cp := base
	assert.True(t, copiedVirtualService(&base, &cp), "a copy")
	for _, change := range []func(*route.VirtualService){
		func(v *route.VirtualService) { v.Name = "b" },
		func(v *route.VirtualService) { v.Namespace = "m" },
		func(v *route.VirtualService) { v.Hosts = []string{"h"} },
		func(v *route.VirtualService) { v.Gateways = nil },
		func(v *route.VirtualService) { v.HTTP = []route.HTTPRoute{{Name: "r"}} },
		func(v *route.VirtualService) { v.TLS = append(v.TLS, route.TLSRoute{}) },
		func(v *route.VirtualService) { v.TCP = nil },
		func(v *route.VirtualService) { v.ExportTo = []string{"*"} },
	} {
		changed := base
		change(&changed)
		assert.False(t, copiedVirtualService(&base, &changed), "%+v", changed)
		assert.Equal(t, reflect.DeepEqual(base, changed), SameVirtualService(&base, &changed), "%+v", changed)
	}
}
