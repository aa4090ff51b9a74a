package router

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeaderValueLiteral(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "100%%": "100%", "%%a%%b": "%a%b", "": ""} {
		got, parts, err := parseHeaderValue(in, false)
		require.NoError(t, err, in)
		assert.Nil(t, parts, in)
		assert.Equal(t, want, got, in)
	}
	for in, want := range map[string]string{
		"abcd%oijasodifj":             "un-terminated formatter",
		"abc%123":                     "un-terminated formatter",
		"%START_TIME%%":               "un-escaped % at the end",
		"%REQ(x-user):10%":            "expected '%' after ')'",
		`%A(["a" "b"])%`:              "expected ',', ']' or a space",
		"%UPSTREAM_HOST%":             "not supported in request headers: %UPSTREAM_HOST%",
		`%FILTER_STATE(["a"]) %`:      "not supported: %FILTER_STATE% with arguments",
		"%DOWNSTREAM_REMOTE_ADDRESS%": "use %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
		"%DYNAMIC_METADATA%":          "not supported: Envoy's %DYNAMIC_METADATA% formatter",
	} {
		_, _, err := parseHeaderValue(in, false)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
}

// The formatters with an in-process meaning are evaluated per request.
func TestHeaderFormattersRender(t *testing.T) {
	_, parts, err := parseHeaderValue("u=%REQ(x-user)% alt=%REQ(x-none?x-user)% ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %PROTOCOL% 100%% up=%UPSTREAM_HOST% t=%START_TIME%", true)
	require.NoError(t, err)
	fc := &formatCtx{
		header:   func(n string) (string, bool) { return map[string]string{"x-user": "jason"}[n], n == "x-user" },
		sourceIP: "10.1.2.3", proto: "HTTP/1.1", upstream: "10.0.0.2:9080",
		now: time.Date(2026, 11, 30, 6, 5, 4, 321e6, time.UTC),
	}
	assert.Equal(t, "u=jason alt=jason ip=10.1.2.3 HTTP/1.1 100% up=10.0.0.2:9080 t=2026-11-30T06:05:04.321Z", render(parts, fc))
	_, parts, err = parseHeaderValue("%HOSTNAME%", false)
	require.NoError(t, err)
	host, _ := os.Hostname()
	assert.Equal(t, host, render(parts, nil))
}

func FuzzHeaderValueLiteral(f *testing.F) {
	for _, s := range []string{"%%", "%A%", "%A(b)%", "x%", "%A(", "%%%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, parts, err := parseHeaderValue(s, true)
		if err == nil && parts == nil && len(got) > len(s) {
			t.Fatalf("%q grew to %q", s, got)
		}
		if err == nil && parts != nil {
			render(parts, &formatCtx{})
		}
	})
}
