package match

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegexIsCheckedAsWritten(t *testing.T) {
	// Each of these is invalid RE2 on its own, but balanced once wrapped
	// in ^(?:…)$: checked only after wrapping, the first was accepted and
	// matched every value ("^(?:secret)|(?:.*)$"), bypassing a deny route.
	for _, expr := range []string{
		`secret)|(?:.*`,
		`a)(b`,
		`a)|(b`,
		`x)|(?s:.*`,
		`)(`,
	} {
		t.Run(expr, func(t *testing.T) {
			_, err := regexp.Compile("^(?:" + expr + ")$")
			require.NoError(t, err, "the wrapped expression parses")
			_, err = Compile([]Request{{Headers: map[string]*StringMatch{"x-user": Regex(expr)}}}, Source{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `[0].headers["x-user"].regex: invalid RE2 expression `)
		})
	}

	// A valid expression keeps its meaning: a full match, alternatives
	// and all.
	m, err := Compile([]Request{{Headers: map[string]*StringMatch{"x-user": Regex(`secret|admin`)}}}, Source{})
	require.NoError(t, err)
	for v, want := range map[string]bool{"secret": true, "admin": true, "secretadmin": false, "xsecret": false, "": false} {
		_, ok := m.Match(in("GET", "/", "x-user", v))
		assert.Equal(t, want, ok, "%q", v)
	}
}
