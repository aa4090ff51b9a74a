package router

import (
	"strconv"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/wire"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// redirectAction is a compiled HTTPRedirect.
type redirectAction struct {
	uri, authority, scheme, prefixRewrite string
	port                                  uint32
	fromRequestPort                       bool
	code                                  int
}

func compileRedirect(rd *route.Redirect, matches []match.Request, path string, errs *fielderr.List) *redirectAction {
	a := &redirectAction{uri: rd.URI, authority: rd.Authority, scheme: rd.Scheme, prefixRewrite: rd.PrefixRewrite, port: rd.Port, code: int(rd.RedirectCode)}
	if a.code == 0 {
		a.code = 301
	}
	switch {
	case a.code < 300 || a.code > 399:
		errs.Add(fielderr.Join(path, "redirectCode"), "%d is not a redirect code (3xx)", rd.RedirectCode)
	case a.code != 301 && a.code != 302 && a.code != 303 && a.code != 307 && a.code != 308:
		errs.Warn(fielderr.Join(path, "redirectCode"), "%d: Envoy redirects only with 301, 302, 303, 307 and 308, so Istio builds no action for this route; switchyard answers %d as configured", a.code, a.code)
	}
	switch rd.DerivePort {
	case "", "FROM_PROTOCOL_DEFAULT":
	case "FROM_REQUEST_PORT":
		a.fromRequestPort = true
	default:
		errs.Add(fielderr.Join(path, "derivePort"), "unknown value %s; use FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT", fielderr.Quote(rd.DerivePort))
	}
	if rd.Port != 0 && rd.DerivePort != "" {
		errs.Add(fielderr.Join(path, "port"), "port and derivePort are mutually exclusive")
	}
	if rd.Port > 65535 {
		errs.Add(fielderr.Join(path, "port"), "%d is out of range 1-65535", rd.Port)
	}
	switch rd.Scheme {
	case "", "http", "https":
	default:
		errs.Add(fielderr.Join(path, "scheme"), "%s: use http or https", fielderr.Quote(rd.Scheme))
	}
	if rd.URI != "" && rd.PrefixRewrite != "" {
		errs.Add(fielderr.Join(path, "prefixRewrite"), "uri and prefixRewrite are mutually exclusive")
	}
	if rd.Authority != "" {
		if err := wire.Authority(rd.Authority); err != nil {
			errs.Add(fielderr.Join(path, "authority"), "%v", err)
		}
	}
	if err := wire.Path(rd.URI); err != nil {
		errs.Add(fielderr.Join(path, "uri"), "%v", err)
	}
	if err := wire.Path(rd.PrefixRewrite); err != nil {
		errs.Add(fielderr.Join(path, "prefixRewrite"), "%v", err)
	}
	if rd.PrefixRewrite != "" {
		for i, m := range matches {
			// A block without uri matches Envoy's prefix "/".
			if m.URI != nil && m.URI.Prefix == nil {
				errs.Add(fielderr.Join(path, "prefixRewrite"), "needs every uri match to be a prefix match, and match[%d] is not", i)
				break
			}
		}
	}
	if rd.URI == "" && rd.Authority == "" && rd.Port == 0 && rd.DerivePort == "" && rd.Scheme == "" && rd.PrefixRewrite == "" {
		errs.Add(path, "a redirect needs at least one of uri, prefixRewrite, authority, port, derivePort or scheme")
	}
	return a
}

func (a *redirectAction) location(in *match.Input, m *match.Matcher, block int) string {
	scheme := in.Scheme
	if a.scheme != "" {
		scheme = a.scheme
	}
	host := in.Authority
	if a.authority != "" {
		host = a.authority
	}
	port := a.port
	if a.fromRequestPort {
		port = in.Port
	}
	switch {
	case port != 0:
		host = hostOnly(host)
		if !(scheme == "http" && port == 80) && !(scheme == "https" && port == 443) {
			host += ":" + strconv.Itoa(int(port))
		}
	case scheme != in.Scheme:
		// Changing the scheme drops the old scheme's default port.
		if h, p, ok := strings.Cut(host, ":"); ok && ((in.Scheme == "http" && p == "80") || (in.Scheme == "https" && p == "443")) {
			host = h
		}
	}
	path, query := in.Path, in.Query
	switch {
	case a.uri != "":
		path = a.uri
		if p, q, ok := strings.Cut(a.uri, "?"); ok {
			path, query = p, q
		}
	case a.prefixRewrite != "":
		if _, value := m.URI(block); len(path) >= len(value) {
			path = a.prefixRewrite + path[len(value):]
		}
	}
	loc := scheme + "://" + host + path
	if query != "" {
		loc += "?" + query
	}
	return loc
}

func hostOnly(authority string) string {
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		return authority[:i]
	}
	return authority
}
