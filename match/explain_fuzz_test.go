package match

import (
	"net/http"
	"testing"
)

// FuzzExplainAgreesWithMatch builds match blocks from the fuzzer's strings
// (each condition exact, prefix, regex or presence, on the URI, a header,
// a query parameter, withoutHeaders and the method) and checks that Explain
// decides every request exactly as Match does: the same block, or no match
// with a reason for each block that applies.
func FuzzExplainAgreesWithMatch(f *testing.F) {
	f.Add(uint8(0), "/api", "/api/v1", uint8(1), "jason", "jason", uint8(2), "v", "v=1", uint8(3), "GET", "GET", uint8(0))
	f.Add(uint8(2), "/a.*", "/abc", uint8(3), "", "", uint8(1), "x", "y=2", uint8(0), "POST", "GET", uint8(1))
	f.Add(uint8(1), "/", "", uint8(0), "a", "", uint8(3), "", "", uint8(2), "G.*", "GET", uint8(2))
	f.Fuzz(func(t *testing.T, uk uint8, uv, path string, hk uint8, hv, header string, qk uint8, qv, rawQuery string,
		mk uint8, mv, method string, shape uint8) {
		cond := func(kind uint8, v string) *StringMatch {
			switch kind % 4 {
			case 0:
				return Exact(v)
			case 1:
				return Prefix(v)
			case 2:
				return Regex(v)
			}
			return Present()
		}
		blocks := []Request{
			{URI: cond(uk, uv), Headers: map[string]*StringMatch{"x-user": cond(hk, hv)}},
			{QueryParams: map[string]*StringMatch{"q": cond(qk, qv)}, Method: cond(mk, mv)},
			{WithoutHeaders: map[string]*StringMatch{"x-user": cond(hk, hv)}, IgnoreURICase: shape%2 == 1, URI: cond(uk, uv)},
		}
		blocks = blocks[:1+int(shape)%3]
		m, err := Compile(blocks, Source{})
		if err != nil {
			return // an invalid regex: nothing to evaluate
		}
		h := http.Header{}
		if shape&4 == 0 {
			h.Set("X-User", header)
		}
		in := &Input{Method: method, Scheme: "http", Authority: "svc", Path: path, Query: rawQuery, Port: 80, Header: HTTPHeader(h)}
		wantBlock, wantOK := m.Match(in)
		block, ok, reasons := m.Explain(in)
		if ok != wantOK || (ok && block != wantBlock) {
			t.Fatalf("Match says (%d, %v), Explain (%d, %v); reasons %q", wantBlock, wantOK, block, ok, reasons)
		}
		if !ok && len(reasons) != len(blocks) {
			t.Fatalf("no match, but %d reasons for %d blocks: %q", len(reasons), len(blocks), reasons)
		}
	})
}
