package router

import (
	"context"
	"strings"

	"google.golang.org/grpc/metadata"
)

// appendMetadata applies request header operations to the outgoing
// metadata: removes and sets replace, adds append.
func appendMetadata(ctx context.Context, ops headerOps) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	if md == nil {
		md = metadata.MD{}
	}
	for _, op := range ops {
		k := strings.ToLower(op.name)
		switch op.kind {
		case opRemove:
			delete(md, k)
		case opSet:
			md[k] = []string{op.value}
		case opAdd:
			md[k] = append(md[k], op.value)
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}
