package visibility

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-go/switchyard/internal/fielderr"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		ns       string
		exportTo []string
		se       bool
		want     string
	}{
		{"a", nil, false, ""},
		{"a", []string{".", "b"}, false, ""},
		{"a", []string{"~"}, true, ""},
		{"a", []string{"~"}, false, `spec.exportTo[0]: "~" (no namespace) is only for ServiceEntries`},
		{"a", []string{"a", "."}, false, `spec.exportTo[1]: "." and "a" both name the resource's own namespace`},
		{"a", []string{"b", "b"}, false, `spec.exportTo[1]: "b" is listed twice`},
		{"a", []string{"*", "b"}, false, `spec.exportTo: "*" exports to every namespace and cannot be combined with other entries`},
		{"a", []string{"~", "b"}, true, `spec.exportTo: "~" exports to no namespace and cannot be combined with other entries`},
		{"a", []string{"Bad_NS"}, false, `spec.exportTo[0]: "Bad_NS" is not ".", "*" or a namespace name (a DNS label)`},
	} {
		var errs fielderr.List
		Validate(tt.ns, tt.exportTo, tt.se, "spec.exportTo", &errs)
		if tt.want == "" {
			assert.NoError(t, errs.Err(), "%v", tt.exportTo)
		} else {
			assert.EqualError(t, errs.Err(), tt.want, "%v", tt.exportTo)
		}
	}
}

func TestVisible(t *testing.T) {
	assert.True(t, Visible("a", nil, "b"))
	assert.True(t, Visible("a", []string{"*"}, "b"))
	assert.True(t, Visible("a", []string{"."}, "a"))
	assert.False(t, Visible("a", []string{"."}, "b"))
	assert.True(t, Visible("a", []string{"b"}, "b"))
	assert.False(t, Visible("a", []string{"~"}, "a"))
	assert.True(t, Visible("", []string{"."}, "default"))
}
