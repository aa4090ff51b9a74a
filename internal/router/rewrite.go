package router

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/wire"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// rewriteAction is a compiled HTTPRewrite.
type rewriteAction struct {
	uri       string
	hasURI    bool
	regex     *regexp.Regexp
	template  string
	authority string
}

func compileRewrite(rw *route.Rewrite, path string, errs *fielderr.List) *rewriteAction {
	a := &rewriteAction{uri: rw.URI, hasURI: rw.URI != "", authority: rw.Authority}
	if rw.URI == "" && rw.Authority == "" && rw.URIRegexRewrite == nil {
		errs.Add(path, "a rewrite needs uri, uriRegexRewrite or authority")
	}
	if rw.Authority != "" {
		if err := wire.Authority(rw.Authority); err != nil {
			errs.Add(fielderr.Join(path, "authority"), "%v", err)
		}
	}
	if err := wire.Path(rw.URI); err != nil {
		errs.Add(fielderr.Join(path, "uri"), "%v", err)
	}
	if rr := rw.URIRegexRewrite; rr != nil {
		if rw.URI != "" {
			errs.Add(fielderr.Join(path, "uriRegexRewrite"), "uri and uriRegexRewrite are mutually exclusive")
		}
		if rr.Match == "" || rr.Rewrite == "" {
			errs.Add(fielderr.Join(path, "uriRegexRewrite"), "match and rewrite are both required")
		} else if len(rr.Match) > maxRegexLen {
			errs.Add(fielderr.Join(path, "uriRegexRewrite.match"), "regex is %d characters long; the limit is %d", len(rr.Match), maxRegexLen)
		} else if re, err := regexp.Compile(rr.Match); err != nil {
			errs.Add(fielderr.Join(path, "uriRegexRewrite.match"), "invalid RE2 expression %s: %s", fielderr.Quote(rr.Match), regexErr(err))
		} else if err := wire.Path(rr.Rewrite); err != nil {
			errs.Add(fielderr.Join(path, "uriRegexRewrite.rewrite"), "%v", err)
		} else {
			a.regex = re
			a.template = envoyTemplate(rr.Rewrite)
		}
	}
	return a
}

// envoyTemplate turns RE2-style "\1" group references into Go's "${1}".
func envoyTemplate(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${")
			b.WriteByte(s[i+1])
			b.WriteByte('}')
			i++
		case s[i] == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func (a *rewriteAction) apply(out *http.Request, in *match.Input, m *match.Matcher, block int) {
	path := in.Path
	switch {
	case a.hasURI:
		kind, value := m.URI(block)
		if kind == match.KindPrefix && len(path) >= len(value) {
			path = a.uri + path[len(value):]
		} else {
			path = a.uri
		}
	case a.regex != nil:
		path = a.regex.ReplaceAllString(path, a.template)
	default:
		return
	}
	if path == in.Path {
		return
	}
	out.Header.Set("X-Envoy-Original-Path", in.Path)
	if u, err := url.Parse(path); err == nil && u.Path != "" {
		out.URL.Path, out.URL.RawPath = u.Path, u.RawPath
	} else {
		out.URL.Path, out.URL.RawPath = path, ""
	}
}
