package router

import (
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"strings"

	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/wire"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

type opKind uint8

const (
	opRemove opKind = iota
	opSet
	opAdd
)

// headerOp is one compiled header operation.
type headerOp struct {
	kind  opKind
	name  string // canonical
	value string
	parts []fmtPart // when the value holds formatters, evaluated per request
}

// valueIn returns the op's value for one request, and false when its
// formatters came out empty: Envoy then adds no header (keep_empty_value
// false).
func (op *headerOp) valueIn(fc *formatCtx) (string, bool) {
	if op.parts == nil {
		return op.value, true
	}
	v := render(op.parts, fc)
	return v, v != ""
}

// headerOps is an ordered list of operations, applied in order.
type headerOps []headerOp

// level is the compiled form of one HeaderOperations, with the authority
// that a set or add of ":authority" or "host" turns into.
type level struct {
	removes, sets, adds headerOps
	authority           string
}

func compileLevel(ops *route.HeaderOperations, path string, request bool, errs *fielderr.List) level {
	var l level
	if ops == nil {
		return l
	}
	for _, kind := range []struct {
		name string
		m    map[string]string
		out  *headerOps
		k    opKind
	}{{"set", ops.Set, &l.sets, opSet}, {"add", ops.Add, &l.adds, opAdd}} {
		keys := make([]string, 0, len(kind.m))
		for k := range kind.m {
			keys = append(keys, k)
		}
		sort.Strings(keys) // Istio emits each list sorted by key
		for _, k := range keys {
			kp := fielderr.Key(fielderr.Join(path, kind.name), k)
			lk := strings.ToLower(k)
			switch {
			case request && (lk == ":authority" || lk == "host"):
				if err := wire.Authority(kind.m[k]); err != nil {
					errs.Add(kp, "invalid authority: %v", err)
					continue
				}
				if l.authority == "" || kind.k == opSet {
					l.authority = kind.m[k] // a set authority wins over an added one
				}
				continue
			case strings.HasPrefix(k, ":") || lk == "host":
				errs.Add(kp, "%s cannot be set or added; pseudo-headers and host are not headers here", fielderr.Quote(k))
				continue
			case !validHeaderName(k):
				errs.Add(kp, "%s is not a valid header name", fielderr.Quote(k))
				continue
			}
			if err := wire.HeaderValue(kind.m[k]); err != nil {
				errs.Add(kp, "invalid header value: %v", err)
				continue
			}
			value, parts, err := parseHeaderValue(kind.m[k], !request)
			if err != nil {
				errs.Add(kp, "%v", err)
				continue
			}
			*kind.out = append(*kind.out, headerOp{kind: kind.k, name: textproto.CanonicalMIMEHeaderKey(k), value: value, parts: parts})
		}
	}
	for i, k := range ops.Remove {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(k, ":") || lk == "host":
			errs.Add(fielderr.Index(fielderr.Join(path, "remove"), i), "%s cannot be removed", fielderr.Quote(k))
		case !validHeaderName(k):
			errs.Add(fielderr.Index(fielderr.Join(path, "remove"), i), "%s is not a valid header name", fielderr.Quote(k))
		default:
			l.removes = append(l.removes, headerOp{kind: opRemove, name: textproto.CanonicalMIMEHeaderKey(k)})
		}
	}
	return l
}

// checkGRPC reports the set and add operations of ops, at path, that a
// gRPC call cannot carry as metadata (see wire.GRPCMetadata): for a
// destination that speaks only gRPC they would fail every call. Operations
// that compileLevel rejects are not reported again.
func checkGRPC(ops *route.HeaderOperations, path string, errs *fielderr.List) {
	if ops == nil {
		return
	}
	for _, kind := range []struct {
		name string
		m    map[string]string
	}{{"set", ops.Set}, {"add", ops.Add}} {
		for _, k := range slices.Sorted(maps.Keys(kind.m)) {
			lk, v := strings.ToLower(k), kind.m[k]
			if strings.HasPrefix(k, ":") || lk == "host" || !validHeaderName(k) || wire.HeaderValue(v) != nil {
				continue
			}
			if err := wire.GRPCMetadata(lk, v); err != nil {
				errs.Add(fielderr.Key(fielderr.Join(path, kind.name), k), "not supported for a destination that speaks only gRPC: %v", err)
			}
		}
	}
}

// grpcOnly reports whether every port of host's service has protocol
// GRPC: its callers are gRPC clients.
func grpcOnly(svc *cluster.Service) bool {
	if svc == nil || len(svc.Ports) == 0 {
		return false
	}
	for _, p := range svc.Ports {
		if !strings.EqualFold(p.Protocol, "GRPC") {
			return false
		}
	}
	return true
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// ordered returns the operations of one Envoy level in Envoy's order:
// removes first, then sets and adds as Istio lists them.
func ordered(levels ...level) headerOps {
	var out headerOps
	for _, l := range levels {
		out = append(out, l.removes...)
	}
	for _, l := range levels {
		out = append(out, l.sets...)
		out = append(out, l.adds...)
	}
	return out
}

// apply runs the operations on h. Names are case-insensitive: a key of h
// in another spelling than the canonical one is merged into the canonical
// key first, so that a remove or a set leaves no other spelling behind.
func (ops headerOps) apply(h http.Header, fc *formatCtx) {
	if len(ops) > 0 && !canonicalKeys(h) {
		rekeyInPlace(h)
	}
	for i := range ops {
		op := &ops[i]
		if op.kind == opRemove {
			delete(h, op.name)
			continue
		}
		if v, ok := op.valueIn(fc); !ok {
			continue
		} else if op.kind == opSet {
			h[op.name] = []string{v}
		} else {
			h[op.name] = append(h[op.name], v)
		}
	}
}

// Header names are case-insensitive, as in Envoy, but an http.Header keeps
// a key as it was written: req.Header["authorization"], which net/http
// sends as is, is not req.Header["Authorization"]. The router therefore
// looks at a request through a canonical view of its headers: the map
// itself when all its keys are canonical (as Header's methods make them),
// else a canonical copy in which every spelling of a name is merged.
// Matches, header operations, hash keys, retry conditions and Explain all
// see that view, and the request sent upstream carries it.

// canonicalHeader is a request's own header map, whose keys are all
// canonical.
type canonicalHeader http.Header

// Lookup implements match.Header.
func (h canonicalHeader) Lookup(name match.HeaderName) (string, bool) {
	vs, ok := h[name.Canonical]
	return joinValues(vs, ok)
}

// rekeyedHeader is the canonical copy of a request's header map that had
// keys in other spellings.
type rekeyedHeader http.Header

// Lookup implements match.Header.
func (h rekeyedHeader) Lookup(name match.HeaderName) (string, bool) {
	vs, ok := h[name.Canonical]
	return joinValues(vs, ok)
}

// joinValues returns a header's values as one, joined with "," as Envoy
// does; a single value is returned as is, without allocating.
func joinValues(vs []string, present bool) (string, bool) {
	switch {
	case !present:
		return "", false
	case len(vs) == 1:
		return vs[0], true
	}
	return strings.Join(vs, ","), true
}

// headerView returns the canonical view of h for matching.
func headerView(h http.Header) match.Header {
	if canonicalKeys(h) {
		return canonicalHeader(h)
	}
	return rekeyedHeader(rekey(h))
}

// canonicalKeys reports whether every key of h is in canonical form. It
// costs one pass over the keys, no allocation.
func canonicalKeys(h http.Header) bool {
	if len(h) == 0 {
		return true
	}
	for k := range h {
		if !canonicalKey(k) {
			return false
		}
	}
	return true
}

// canonicalKey reports whether k is what textproto.CanonicalMIMEHeaderKey
// makes of it, without allocating in the common case.
func canonicalKey(k string) bool {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			// CanonicalMIMEHeaderKey leaves a key with invalid bytes as it is.
			return textproto.CanonicalMIMEHeaderKey(k) == k
		}
		upper = c == '-'
	}
	return true
}

// rekey returns a copy of h with canonical keys: the values of other
// spellings of a name follow the canonical key's, in key order.
func rekey(h http.Header) http.Header {
	out := h.Clone()
	rekeyInPlace(out)
	return out
}

// rekeyInPlace moves the values of h's non-canonical keys to their
// canonical keys, in key order.
func rekeyInPlace(h http.Header) {
	var odd []string
	for k := range h {
		if !canonicalKey(k) {
			odd = append(odd, k)
		}
	}
	sort.Strings(odd)
	for _, k := range odd {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		h[ck] = append(h[ck], h[k]...)
		delete(h, k)
	}
}

// withCanonicalHeader returns req itself if its header keys are all
// canonical (in is its match input, whose view says so), else a shallow
// copy carrying the canonical copy of its headers, and makes in look at
// that copy.
func withCanonicalHeader(req *http.Request, in *match.Input) *http.Request {
	var h http.Header
	switch v := in.Header.(type) {
	case canonicalHeader:
		return req
	case rekeyedHeader:
		h = http.Header(v)
	default: // an input not made by NewInput
		if canonicalKeys(req.Header) {
			return req
		}
		h = rekey(req.Header)
		in.Header = rekeyedHeader(h)
	}
	out := new(http.Request)
	*out = *req
	out.Header = h
	return out
}
