package router

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
)

// fmtKind is one of the Envoy formatters a header value may hold that
// have a meaning in-process.
type fmtKind uint8

const (
	fmtLiteral       fmtKind = iota
	fmtReq                   // %REQ(name)% or %REQ(name?alternative)%: a request header
	fmtRemoteAddress         // %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%: the caller's IP (WithSourceIP)
	fmtHostname              // %HOSTNAME%: this host's name
	fmtStartTime             // %START_TIME%: when the request started, Envoy's default format
	fmtProtocol              // %PROTOCOL%: HTTP/1.1, HTTP/2
	fmtUpstreamHost          // %UPSTREAM_HOST%: the endpoint that answered (response headers only)
)

// fmtPart is a piece of a header value: literal text or a formatter.
type fmtPart struct {
	kind      fmtKind
	text, alt string // the literal, or REQ's header names
}

// formatCtx is what formatters read.
type formatCtx struct {
	header   func(name string) (string, bool) // the caller's request headers
	sourceIP string
	now      time.Time
	proto    string
	upstream string // "" before a response
}

// thisHost is this host's name, read once.
var thisHost = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// needsContext reports whether any of ops holds a formatter.
func (ops headerOps) needsContext() bool {
	for i := range ops {
		if ops[i].parts != nil {
			return true
		}
	}
	return false
}

// requestContext returns what the formatters of ops read of req (and of
// the endpoint that answered, ep, for response operations), or nil when
// they hold none: the common case, which then costs one scan of ops.
func requestContext(ops headerOps, req *http.Request, env *Env, ep *balancer.Endpoint) *formatCtx {
	if !ops.needsContext() {
		return nil
	}
	fc := newFormatCtx(req.Proto, env, func(name string) []string { return req.Header.Values(name) })
	if ep != nil {
		fc.upstream = ep.Address
	}
	return fc
}

// newFormatCtx returns the context of one request or call whose headers
// values gives.
func newFormatCtx(proto string, env *Env, values func(name string) []string) *formatCtx {
	fc := &formatCtx{proto: proto, header: func(name string) (string, bool) {
		vs := values(name)
		if len(vs) == 0 {
			return "", false
		}
		return strings.Join(vs, ","), true
	}}
	if env != nil {
		fc.sourceIP = env.SourceIP
		if env.Clock != nil {
			fc.now = env.Clock.Now()
		}
	}
	if fc.now.IsZero() {
		fc.now = time.Now()
	}
	return fc
}

// render evaluates parts in fc.
func render(parts []fmtPart, fc *formatCtx) string {
	if fc == nil {
		fc = &formatCtx{}
	}
	var b strings.Builder
	for _, p := range parts {
		switch p.kind {
		case fmtLiteral:
			b.WriteString(p.text)
		case fmtReq:
			if fc.header == nil {
				continue
			}
			if v, ok := fc.header(p.text); ok {
				b.WriteString(v)
			} else if p.alt != "" {
				v, _ := fc.header(p.alt)
				b.WriteString(v)
			}
		case fmtRemoteAddress:
			b.WriteString(fc.sourceIP)
		case fmtHostname:
			b.WriteString(thisHost())
		case fmtStartTime:
			if !fc.now.IsZero() {
				b.WriteString(fc.now.UTC().Format("2006-01-02T15:04:05.000Z"))
			}
		case fmtProtocol:
			b.WriteString(fc.proto)
		case fmtUpstreamHost:
			b.WriteString(fc.upstream)
		}
	}
	return b.String()
}

// parseHeaderValue reads a header operation's value as Envoy does: "%%" is
// a literal "%", and "%NAME%" or "%NAME(args)%" one of Envoy's
// substitution formatters, in the grammar Istio's validation checks
// (pkg/config/validation's validateHeaderValue). It returns the value's
// parts (nil when it is a plain literal, returned as lit). The formatters
// with an in-process meaning are evaluated per request (see fmtKind);
// the others describe a proxy's connection and stream, and are refused by
// name. response says whether the operation is on a response, where
// %UPSTREAM_HOST% is known.
func parseHeaderValue(v string, response bool) (lit string, parts []fmtPart, err error) {
	if !strings.Contains(v, "%") {
		return v, nil, nil
	}
	if _, err := formatters(v); err != nil {
		return "", nil, err
	}
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			parts = append(parts, fmtPart{kind: fmtLiteral, text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '%' {
			text.WriteByte(c)
			continue
		}
		if v[i+1] == '%' {
			text.WriteByte('%')
			i++
			continue
		}
		end, _ := formatterEnd(v, i+1)
		expr := v[i+1 : end]
		name, args, hasArgs := strings.Cut(expr, "(")
		args = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(args), ")"))
		p := fmtPart{}
		switch {
		case name == "REQ" && hasArgs && args != "" && !strings.ContainsAny(args, `[]"`):
			p.kind = fmtReq
			p.text, p.alt, _ = strings.Cut(args, "?")
		case hasArgs:
			return "", nil, fmt.Errorf("not supported: %%%s%% with arguments; switchyard evaluates %%REQ(name)%%, %%REQ(name?other)%%, %%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%%, %%HOSTNAME%%, %%START_TIME%%, %%PROTOCOL%% and, in response headers, %%UPSTREAM_HOST%%", name)
		case name == "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
			p.kind = fmtRemoteAddress
		case name == "HOSTNAME":
			p.kind = fmtHostname
		case name == "START_TIME":
			p.kind = fmtStartTime
		case name == "PROTOCOL":
			p.kind = fmtProtocol
		case name == "UPSTREAM_HOST" && response:
			p.kind = fmtUpstreamHost
		case name == "UPSTREAM_HOST":
			return "", nil, fmt.Errorf("not supported in request headers: %%UPSTREAM_HOST%% is known once an endpoint answers; use it in response headers")
		case name == "DOWNSTREAM_REMOTE_ADDRESS":
			return "", nil, fmt.Errorf("not supported: an in-process caller has no remote port; use %%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%% (the address WithSourceIP gives)")
		default:
			return "", nil, fmt.Errorf("not supported: Envoy's %%%s%% formatter describes a proxy's connection and stream, which an in-process client does not have; switchyard evaluates %%REQ(name)%%, %%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%%, %%HOSTNAME%%, %%START_TIME%%, %%PROTOCOL%% and %%UPSTREAM_HOST%% (write %%%% for a %% sign)", name)
		}
		flush()
		parts = append(parts, p)
		i = end
	}
	if len(parts) == 0 {
		return text.String(), nil, nil
	}
	flush()
	return "", parts, nil
}

// formatters checks v against the grammar of Envoy's header formatters as
// Istio's validation reads it — literal text, "%%", "%NAME%", and
// "%NAME(args)%" whose args are a bare string or a JSON-style array of
// quoted strings — and returns the formatter names it holds.
func formatters(v string) ([]string, error) {
	var names []string
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			continue
		}
		switch {
		case i+1 == len(v):
			return nil, fmt.Errorf(`un-escaped %% at the end of %q; write "%%%%" for a literal %%`, v)
		case v[i+1] == '%':
			i++
			continue
		}
		start := i + 1
		end, err := formatterEnd(v, start)
		if err != nil {
			return nil, err
		}
		name, _, _ := strings.Cut(v[start:end], "(")
		names = append(names, name)
		i = end
	}
	return names, nil
}

// formatterEnd returns the index of the "%" that closes the formatter
// whose name starts at i.
func formatterEnd(v string, i int) (int, error) {
	unterminated := fmt.Errorf("un-terminated formatter in %q: write %%NAME%%, %%NAME(args)%%, or %%%% for a literal %%", v)
	for ; i < len(v) && v[i] != '%' && v[i] != '('; i++ {
	}
	if i == len(v) {
		return 0, unterminated
	}
	if v[i] == '%' {
		return i, nil
	}
	i++ // past "("
	for i < len(v) && v[i] == ' ' {
		i++
	}
	if i == len(v) {
		return 0, unterminated
	}
	if v[i] == '[' { // ["a", "b"]
		i++
		for {
			for i < len(v) && v[i] == ' ' {
				i++
			}
			if i == len(v) {
				return 0, unterminated
			}
			if v[i] != '"' {
				return 0, fmt.Errorf(`formatter arguments in %q: expected '"'`, v)
			}
			j, err := stringEnd(v, i+1)
			if err != nil {
				return 0, err
			}
			if j < 0 { // a ")" inside the string ends the arguments
				return 0, unterminated
			}
			i = j + 1
			for i < len(v) && v[i] == ' ' {
				i++
			}
			if i == len(v) {
				return 0, unterminated
			}
			if v[i] == ']' {
				i++
				break
			}
			if v[i] != ',' {
				return 0, fmt.Errorf(`formatter arguments in %q: expected ',', ']' or a space`, v)
			}
			i++
		}
		for i < len(v) && v[i] == ' ' {
			i++
		}
		if i == len(v) || v[i] != ')' {
			return 0, fmt.Errorf(`formatter arguments in %q: expected ')'`, v)
		}
	} else { // a bare argument, up to ")"
		for i < len(v) && v[i] != ')' {
			if v[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(v) {
			return 0, unterminated
		}
	}
	i++ // past ")"
	for i < len(v) && v[i] == ' ' {
		i++
	}
	if i == len(v) {
		return 0, unterminated
	}
	if v[i] != '%' {
		return 0, fmt.Errorf(`formatter in %q: expected '%%' after ')'`, v)
	}
	return i, nil
}

// stringEnd returns the index of the quote closing the string that starts
// at i, or -1 when a ")" comes first (Istio's reading: it ends the
// arguments).
func stringEnd(v string, i int) (int, error) {
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if i+1 == len(v) {
				return 0, fmt.Errorf("un-terminated backslash in %q", v)
			}
			i++
		case ')':
			return -1, nil
		case '"':
			return i, nil
		}
	}
	return 0, fmt.Errorf("un-terminated string in %q", v)
}
