// Package grpccode holds the one table of gRPC status codes the mesh uses:
// their names, and the HTTP ⇄ gRPC mappings of gRPC's
// http-grpc-status-mapping and Envoy's grpcToHttpStatus.
package grpccode

import "strconv"

// names are the gRPC status code names, indexed by code.
var names = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// Parse returns the code of a gRPC status given by its upper-case
// name ("UNAVAILABLE") or its number ("14").
func Parse(s string) (int, bool) {
	for code, name := range names {
		if s == name {
			return code, true
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(names) {
		return n, true
	}
	return 0, false
}

// ForHTTP maps an HTTP status to a gRPC code as gRPC's
// http-grpc-status-mapping and Envoy's httpToGrpcStatus do.
func ForHTTP(status int) int {
	switch status {
	case 400:
		return 13 // INTERNAL
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 429, 502, 503, 504:
		return 14 // UNAVAILABLE
	default:
		return 2 // UNKNOWN
	}
}

// HTTPStatus maps a gRPC code to an HTTP status as Envoy's
// grpcToHttpStatus does (used to classify gRPC outcomes for outlier
// detection).
func HTTPStatus(code int) int {
	switch code {
	case 0:
		return 200
	case 1:
		return 499
	case 3, 9, 11:
		return 400
	case 4:
		return 504
	case 5:
		return 404
	case 6, 10:
		return 409
	case 7:
		return 403
	case 8:
		return 429
	case 12:
		return 501
	case 14:
		return 503
	case 16:
		return 401
	default:
		return 500
	}
}
