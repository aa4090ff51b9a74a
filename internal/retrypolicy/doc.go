// Package retrypolicy is the compiled form of Istio's HTTPRetry and the
// attempt loops that apply it — HTTP requests ([Policy.Do] over an
// [Attempter]), unary gRPC calls ([Policy.InvokeGRPC]) and gRPC streams
// ([Policy.OpenStream]) — for the mesh's router and for package retry's
// standalone policies alike. Its [Config] mirrors retry.Config field for
// field, so that one converts to the other.
package retrypolicy
