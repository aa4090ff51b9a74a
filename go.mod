module github.com/switchyard-go/switchyard

go 1.26.0

require (
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sync v0.24.0
)

require github.com/cenkalti/backoff/v4 v4.3.0 // indirect
