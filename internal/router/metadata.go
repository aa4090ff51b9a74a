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
		fc = &formatCtx{proto: "HTTP/2", header: func(name string) (string, bool) {
			vs := orig.Get(name)
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
	}
	for i := range ops {
		op := &ops[i]
		k := strings.ToLower(op.name)
		if op.kind == opRemove {
			delete(md, k)
			continue
		}
		v := op.valueIn(fc)
		if v == "" && op.parts != nil {
			continue // Envoy adds no header whose formatters came out empty
		}
		if op.kind == opSet {
			md[k] = []string{v}
		} else {
			md[k] = append(md[k], v)
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}
