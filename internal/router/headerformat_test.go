package router

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeaderValueLiteral(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "100%%": "100%", "%%a%%b": "%a%b", "": ""} {
		got, err := headerValueLiteral(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, want := range map[string]string{
		"abcd%oijasodifj":             "un-terminated formatter",
		"abc%123":                     "un-terminated formatter",
		"%START_TIME%%":               "un-escaped % at the end",
		"%REQ(x-a":                    "un-terminated formatter",
		"%UPSTREAM_HOST%":             "not supported: Envoy's %UPSTREAM_HOST% formatter",
		"a %REQ(x-user)% b":           "not supported: Envoy's %REQ% formatter",
		`%FILTER_STATE(["a"]) %`:      "not supported: Envoy's %FILTER_STATE% formatter",
		"%DOWNSTREAM_REMOTE_ADDRESS%": "not supported: Envoy's %DOWNSTREAM_REMOTE_ADDRESS% formatter",
	} {
		_, err := headerValueLiteral(in)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
}

func FuzzHeaderValueLiteral(f *testing.F) {
	for _, s := range []string{"%%", "%A%", "%A(b)%", "x%", "%A(", "%%%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := headerValueLiteral(s)
		if err == nil && len(got) > len(s) {
			t.Fatalf("%q grew to %q", s, got)
		}
	})
}
