// Package xdsclient is switchyard's Aggregated Discovery Service client: one
// State-of-the-World v3 ADS stream to an xDS control plane (istiod, or any
// server built on go-control-plane), multiplexing every resource type.
//
// Its shape follows gRPC-Go's internal xdsclient (whose generic client is not
// importable) so that switching to it, should it ever be exported, is cheap:
//
//   - a [ResourceType] per type URL carries a [Decoder] that deserialises and
//     validates one resource; a decode error names the resource and becomes
//     the detail of the NACK the client sends;
//   - a [ResourceWatcher] watches one resource by name and hears
//     ResourceChanged (a new good version), ResourceError (the resource does
//     not exist, was removed, or is invalid and no good version is cached) and
//     AmbientError (trouble that does not invalidate the cached version: the
//     control plane is unreachable, or a newer version was NACKed);
//   - a [WildcardWatcher] watches every resource of a type (LDS and CDS, the
//     sidecar persona), hearing the set change as a whole.
//
// # Protocol
//
// The client keeps, per type, the last accepted version_info and the last
// response nonce. Every response is answered: an ACK carries the response's
// version; a NACK carries the previous good version and an error_detail naming
// each rejected resource and why. As in gRPC (gRFC A46), the valid resources of
// a NACKed response are still applied; the invalid ones keep their last good
// version. In a Listener or Cluster response (types whose SotW responses list
// every resource) a subscribed resource that is absent has been deleted, unless
// the server advertises "ignore_resource_deletion" (gRFC A53); a response in
// which some resource could not even be named deletes nothing.
//
// A resource that the server has not sent within [Config.WatchExpiryTimeout]
// (15 s by default) after the request naming it went out does not exist. The
// timer runs only while a stream is up (gRFC A57).
//
// When the stream fails, the client reconnects with exponential backoff and
// subscribes to everything again; the first request of each stream carries the
// node identity. A stream that never delivered a response counts as a failure:
// its error is reported to every watcher (AmbientError where a good version is
// cached, which stays in use) and the backoff grows. A stream that did deliver
// responses may end for ordinary reasons (a server's maximum connection age);
// the client reconnects at once and reports nothing.
//
// Callbacks run one at a time, in order, on a goroutine of the client. Each
// gets a done func; the client reads the next response only when every watcher
// has called done for the current one, so that a watcher may finish its work
// (and start the watches it implies) asynchronously.
package xdsclient
