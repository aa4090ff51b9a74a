package router

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"
)

// appendMetadata applies request header operations to the outgoing
// metadata: removes and sets replace, adds append.
// Formatters read the call's metadata as it was before them.
func appendMetadata(ctx context.Context, ops headerOps, env *Env) context.Context {
	orig, _ := metadata.FromOutgoingContext(ctx)
	md := orig.Copy()
	if md == nil {
		md = metadata.MD{}
	}
	var fc *formatCtx
	if ops.needsContext() {
		fc = newFormatCtx("HTTP/2", env, orig.Get)
	}
	for i := range ops {
		op := &ops[i]
		k := strings.ToLower(op.name)
		if op.kind == opRemove {
			delete(md, k)
			continue
		}
		if v, ok := op.valueIn(fc); !ok {
			continue
		} else if op.kind == opSet {
			md[k] = []string{v}
		} else {
			md[k] = append(md[k], v)
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}
