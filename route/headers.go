package route

import (
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"strings"

	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/wire"
	"github.com/switchyard-go/switchyard/subset"
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
}

// headerOps is an ordered list of operations, applied in order.
type headerOps []headerOp

// level is the compiled form of one HeaderOperations, with the authority
// that a set or add of ":authority" or "host" turns into.
type level struct {
	removes, sets, adds headerOps
	authority           string
}

func compileLevel(ops *HeaderOperations, path string, request bool, errs *fielderr.List) level {
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
			*kind.out = append(*kind.out, headerOp{kind: kind.k, name: textproto.CanonicalMIMEHeaderKey(k), value: kind.m[k]})
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
func checkGRPC(ops *HeaderOperations, path string, errs *fielderr.List) {
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
func grpcOnly(svc *subset.Service) bool {
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

// apply runs the operations on h.
func (ops headerOps) apply(h http.Header) {
	for _, op := range ops {
		switch op.kind {
		case opRemove:
			delete(h, op.name)
		case opSet:
			h[op.name] = []string{op.value}
		case opAdd:
			h[op.name] = append(h[op.name], op.value)
		}
	}
}
