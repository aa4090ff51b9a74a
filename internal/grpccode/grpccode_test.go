package grpccode_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-go/switchyard/internal/grpccode"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]int{"14": 14, "UNAVAILABLE": 14, "OK": 0, "0": 0, "UNAUTHENTICATED": 16} {
		code, ok := grpccode.Parse(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, code, in)
	}
	for _, in := range []string{"17", "-1", "unavailable", ""} {
		_, ok := grpccode.Parse(in)
		assert.False(t, ok, in)
	}
}

func TestStatusMappings(t *testing.T) {
	for http, grpc := range map[int]int{400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14, 500: 2, 418: 2} {
		assert.Equal(t, grpc, grpccode.ForHTTP(http), "HTTP %d", http)
	}
	for grpc, http := range map[int]int{0: 200, 1: 499, 2: 500, 4: 504, 8: 429, 13: 500, 14: 503, 16: 401} {
		assert.Equal(t, http, grpccode.HTTPStatus(grpc), "gRPC %d", grpc)
	}
}
