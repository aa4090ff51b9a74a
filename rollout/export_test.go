package rollout

import "github.com/switchyard-go/switchyard"

// WrapModify makes c apply its changes through wrap(next), next being the
// way it applied them so far (Mesh.Modify), so that a test can hold a
// change in flight.
func WrapModify(c *Controller, wrap func(next func(func(switchyard.Config) (switchyard.Config, error)) error) func(func(switchyard.Config) (switchyard.Config, error)) error) {
	c.modify = wrap(c.modify)
}
