package switchyard_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-go/switchyard"
)

// kubectl reads YAML 1.1, where a plain yes is true: Istio's API server
// refuses it where a string belongs, and so does Parse; quoted, it is the
// string.
func TestYAML11BooleansWhereStringsBelong(t *testing.T) {
	doc := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {x-beta: {exact: %s}}}]
    route: [{destination: {host: reviews}}]
`
	_, err := switchyard.Parse([]byte(fmt.Sprintf(doc, "yes")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `yes is a boolean to kubectl and the API server, which read YAML 1.1; quote it: "yes"`)
	for _, ok := range []string{`"yes"`, `'no'`, "yess", "true-ish"} {
		_, err := switchyard.Parse([]byte(fmt.Sprintf(doc, ok)))
		assert.NoError(t, err, ok)
	}
}
