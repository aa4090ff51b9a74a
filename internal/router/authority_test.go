package router

import (
	"strconv"
	"testing"
)

// FuzzParsePort checks the hand-written port parser against strconv.
func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"", "0", "80", "9080", "65535", "65536", "000080", "99999999999", "-1", "+1", "1_0", "８０", "12a", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := strconv.ParseUint(s, 10, 16)
		got, ok := parsePort(s)
		if ok != (err == nil) || ok && uint64(got) != want {
			t.Fatalf("parsePort(%q) = %d, %v; strconv: %d, %v", s, got, ok, want, err)
		}
	})
}
