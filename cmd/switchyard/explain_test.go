package main

import "testing"

func TestExplainGolden(t *testing.T) {
	const b = "testdata/bookinfo"
	runGoldens(t, []golden{
		{name: "explain-header-match", args: []string{"explain", "-f", b, "GET", "http://reviews:9080/reviews/1", "-H", "end-user: jason"}, code: 0},
		{name: "explain-header-match-json", args: []string{"explain", "-f", b, "GET", "http://reviews:9080/reviews/1", "-H", "end-user: jason", "-o", "json"}, code: 0},
		{name: "explain-split", args: []string{"explain", "-f", b, "get", "reviews:9080/reviews/1", "-H", "end-user: alice"}, code: 0},
		{name: "explain-fault", args: []string{"explain", "-f", b, "-H", "End-User: jason", "GET", "http://ratings:9080/ratings/0"}, code: 0},
		{name: "explain-rewrite", args: []string{"explain", "-f", b, "GET", "http://details:9080/details/v2/0"}, code: 0},
		{name: "explain-retries-json", args: []string{"explain", "-f", b, "GET", "http://ratings:9080/ratings/0", "-o", "json"}, code: 0},
		{name: "explain-grpc", args: []string{"explain", "-f", b, "--grpc", "/reviews.Reviews/Get", "reviews:9080", "-H", "end-user: jason"}, code: 0},
		{name: "explain-grpc-json", args: []string{"explain", "-f", b, "--grpc", "/reviews.Reviews/Get", "reviews:9080", "-o", "json"}, code: 0},
		{name: "explain-passthrough", args: []string{"explain", "-f", b, "GET", "http://example.com/"}, code: 0},
		{name: "explain-no-route", args: []string{"explain", "-f", "testdata/header-only.yaml", "GET", "http://reviews:9080/"}, code: 0},
		{name: "explain-invalid", args: []string{"explain", "-f", "testdata/invalid/routes.yaml", "GET", "http://reviews:9080/"}, code: 1},
		{name: "explain-no-files", args: []string{"explain", "GET", "http://reviews:9080/"}, code: 2},
		{name: "explain-bad-header", args: []string{"explain", "-f", b, "-H", "end-user jason", "GET", "http://reviews:9080/"}, code: 2},
		{name: "explain-bad-grpc-method", args: []string{"explain", "-f", b, "--grpc", "Get", "reviews:9080"}, code: 2},
		{name: "explain-missing-url", args: []string{"explain", "-f", b, "GET"}, code: 2},
	})
}
