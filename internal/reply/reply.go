// Package reply builds the responses that switchyard answers itself (local
// replies), the way net/http's transport presents a real one.
package reply

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// New returns a response to req with status, header h (nil for none) and
// body, with Content-Length set.
func New(req *http.Request, status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	if body != "" {
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = []string{"text/plain"}
		}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// OverflowBody is the body of Envoy's reply to a request a connection-pool
// limit refused.
const OverflowBody = "upstream connect error or disconnect/reset before headers. reset reason: overflow"

// Overflow is Envoy's reply to a request a connection-pool limit refused:
// 503 with x-envoy-overloaded: true.
func Overflow(req *http.Request) *http.Response {
	return New(req, http.StatusServiceUnavailable, http.Header{"X-Envoy-Overloaded": {"true"}}, OverflowBody)
}
