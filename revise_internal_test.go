package switchyard

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestReviseKnowsEveryKind: revise compares every kind of Config but
// Skipped, which New ignores; a kind added to Config must be added there
// too, or an update that changes only it would be taken as unchanged.
func TestReviseKnowsEveryKind(t *testing.T) {
	var fields []string
	for f := range reflect.TypeFor[Config]().Fields() {
		fields = append(fields, f.Name)
	}
	assert.Equal(t, []string{"ServiceEntries", "DestinationRules", "VirtualServices", "Gateways", "Sidecars", "Skipped"}, fields)
}
