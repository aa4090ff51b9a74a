package router

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-go/switchyard/balancer"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/query"
	"google.golang.org/grpc/metadata"
)

// requestHash returns the consistent-hash key of req under h, and the cookie
// to set on the response when the key is a cookie the mesh generates. It
// reports false when the request has no key (the pick is then random, as
// Envoy's).
func requestHash(req *http.Request, h *balancer.ConsistentHash, env *Env) (uint64, bool, string) {
	switch {
	case h.HTTPHeaderName != "":
		vs := req.Header.Values(h.HTTPHeaderName)
		if len(vs) == 0 {
			return 0, false, ""
		}
		return balancer.Hash(vs[0]), true, ""
	case h.HTTPQueryParameterName != "":
		v, ok := query.Value(req.URL.RawQuery, h.HTTPQueryParameterName)
		if !ok {
			return 0, false, ""
		}
		return balancer.Hash(v), true, ""
	case h.UseSourceIP:
		if env.SourceIP == "" {
			return 0, false, ""
		}
		return balancer.Hash(env.SourceIP), true, ""
	case h.HTTPCookie != nil:
		c := h.HTTPCookie
		if v, err := req.Cookie(c.Name); err == nil {
			return balancer.Hash(v.Value), true, ""
		}
		if c.TTL == nil {
			return 0, false, "" // no cookie and none to generate: no hash
		}
		value := strconv.FormatUint(env.Rand.Uint64(), 16)
		return balancer.Hash(value), true, setCookie(c, value)
	}
	return 0, false, ""
}

// setCookie is the Set-Cookie value of a generated affinity cookie: with
// Max-Age for a positive TTL, a session cookie for a TTL of 0.
func setCookie(c *balancer.HTTPCookie, value string) string {
	ck := &http.Cookie{Name: c.Name, Value: value, Path: c.Path, HttpOnly: true}
	if ttl := *c.TTL; ttl > 0 {
		ck.MaxAge = int((ttl + time.Second - 1) / time.Second)
	}
	var b strings.Builder
	b.WriteString(ck.String())
	for _, a := range c.Attributes {
		b.WriteString("; ")
		b.WriteString(a.Name)
		if a.Value != "" {
			b.WriteString("=")
			b.WriteString(a.Value)
		}
	}
	return b.String()
}

// grpcHash returns the consistent-hash key of a call: a metadata value for
// httpHeaderName, the caller's address for useSourceIp. Cookies and query
// parameters do not exist in gRPC.
func grpcHash(ctx context.Context, c *cluster.Cluster, env *Env) (uint64, bool) {
	h := c.Hash()
	switch {
	case h == nil:
		return 0, false
	case h.HTTPHeaderName != "":
		if vs := metadata.ValueFromOutgoingContext(ctx, strings.ToLower(h.HTTPHeaderName)); len(vs) > 0 {
			return balancer.Hash(vs[0]), true
		}
	case h.UseSourceIP && env.SourceIP != "":
		return balancer.Hash(env.SourceIP), true
	}
	return 0, false
}
