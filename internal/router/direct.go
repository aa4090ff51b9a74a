package router

import (
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/route"
)

// maxDirectBody is Istio's limit on a direct response body.
const maxDirectBody = 1 << 20

// directAction is a compiled HTTPDirectResponse.
type directAction struct {
	status int
	body   []byte
}

func compileDirect(dr *route.DirectResponse, path string, errs *fielderr.List) *directAction {
	a := &directAction{status: int(dr.Status)}
	if dr.Status < 200 || dr.Status > 599 {
		errs.Add(fielderr.Join(path, "status"), "%d is outside 200-599", dr.Status)
	}
	if b := dr.Body; b != nil {
		switch {
		case b.String != nil && b.Bytes != nil:
			errs.Add(fielderr.Join(path, "body"), "string and bytes are mutually exclusive")
		case b.String != nil:
			a.body = []byte(*b.String)
		default:
			a.body = b.Bytes
		}
		if len(a.body) > maxDirectBody {
			errs.Add(fielderr.Join(path, "body"), "%d bytes is over Istio's 1 MiB limit", len(a.body))
		}
	}
	return a
}
