package conformance

import (
	"testing"

	"go.uber.org/goleak"
	istiolog "istio.io/istio/pkg/log"
)

func TestMain(m *testing.M) {
	// Istio's validation logs deprecation notices as it goes; the suite
	// reports Istio's warnings itself.
	for _, s := range istiolog.Scopes() {
		s.SetOutputLevel(istiolog.NoneLevel)
	}
	// Istio's packages start goroutines when they are initialised; only the
	// ones switchyard's meshes or the suite start must be gone at the end.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
