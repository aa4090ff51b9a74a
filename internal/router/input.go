package router

import (
	"context"
	"net/http"
	"strings"

	"github.com/switchyard-go/switchyard/match"
	"google.golang.org/grpc/metadata"
)

// SplitAuthority splits a request's authority into a lower-case host and a
// port, defaulting the port from the scheme.
func SplitAuthority(authority, scheme string) (string, uint32) {
	host, port := authority, uint32(0)
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		if p, ok := parsePort(authority[i+1:]); ok {
			host, port = authority[:i], p
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if port == 0 {
		port = 80
		if scheme == "https" {
			port = 443
		}
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host), port
		}
	}
	return host, port
}

// parsePort parses a decimal port from 0 to 65535 exactly as
// strconv.ParseUint(s, 10, 16) does, in a fraction of its time.
func parsePort(s string) (uint32, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var p uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if p = p*10 + uint32(c-'0'); p > 65535 {
			return 0, false
		}
	}
	return p, true
}

// Authority returns the authority a request is addressed to: its Host
// header, else its URL's host.
func Authority(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// NewInput describes req for matching; port is the port it was sent to.
// Header names are matched case-insensitively: keys in other spellings
// than the canonical one (req.Header["authorization"]) are found too.
func NewInput(req *http.Request, authority string, port uint32) match.Input {
	scheme := req.URL.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return match.Input{
		Method:    req.Method,
		Scheme:    scheme,
		Authority: authority,
		Path:      req.URL.EscapedPath(),
		Query:     req.URL.RawQuery,
		Port:      port,
		Header:    headerView(req.Header),
	}
}

// GRPCInput describes a gRPC call for matching: its method path is the URI,
// its outgoing metadata the headers, its target the authority.
func GRPCInput(ctx context.Context, method, authority string, port uint32) match.Input {
	return match.Input{Method: "POST", Scheme: "http", Authority: authority, Path: method, Port: port, Header: outgoingMD{ctx}}
}

type outgoingMD struct{ ctx context.Context }

func (m outgoingMD) Lookup(name match.HeaderName) (string, bool) {
	if name.Lower == "content-type" {
		return "application/grpc", true
	}
	vs := metadata.ValueFromOutgoingContext(m.ctx, name.Lower)
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ","), true
}
