// Command switchyard checks, explains, compares and serves Istio traffic
// configurations (ServiceEntry, DestinationRule, VirtualService) exactly
// as the switchyard library reads and routes them.
//
//	go install github.com/switchyard-go/switchyard/cmd/switchyard@latest
//
//	switchyard validate FILES...                     # every problem, file:line; --output json for CI
//	switchyard explain -f FILES METHOD URL [-H 'k: v']...
//	switchyard explain -f FILES --grpc /pkg.Service/Method TARGET
//	switchyard diff OLD NEW                          # what would change in routing
//	switchyard serve -f FILES                        # admin page + forward proxy, reloads on change
//	switchyard completion bash|zsh|fish|powershell   # shell completion
//
// FILES are files or directories (read recursively for *.yaml, *.yml and
// *.json; names starting with "." are skipped), or "-" for standard input;
// "kubectl get -o yaml" output is read as it is. Exit statuses follow
// diff(1): 0 valid or no difference, 1 invalid or different, 2 trouble.
// Each command's --help gives its output formats, including the JSON
// schemas.
package main
