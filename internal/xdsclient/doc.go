// Package xdsclient is switchyard's Aggregated Discovery Service client: one
// v3 ADS stream to an xDS control plane (istiod, or any server built on
// go-control-plane), multiplexing every resource type, in the incremental
// (Delta) variant of the protocol or in State of the World (SotW).
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
//   - a [NamesWatcher] hears the same of each resource a [NamesWatch] names
//     (one per type, names added and removed as the caller's resources imply
//     them), each call naming its resource: a flag per resource rather than a
//     watch, a watcher and a cancel func, for a caller that watches thousands;
//   - a [WildcardWatcher] watches every resource of a type (LDS and CDS, the
//     sidecar persona), hearing the set change as a whole.
//
// # Choosing the variant
//
// The client opens a Delta stream (DeltaAggregatedResources) first, as
// istiod and go-control-plane serve it. A server that answers it with
// codes.Unimplemented before any response speaks State of the World only:
// the client reconnects at once with StreamAggregatedResources, reports
// nothing to the watchers, and speaks SotW for the rest of its life;
// [Client.Protocol] says which variant is in use ([Config.StateOfTheWorld]
// skips Delta: istiod's Delta server loses track of Listeners and Clusters
// subscribed by name). Watchers cannot tell the
// two apart, except that in Delta a removal is explicit for every type (a
// ClusterLoadAssignment too) where SotW deletes only Listeners and Clusters
// by their absence.
//
// # State of the World
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
// # Delta
//
// The client subscribes by name as watches start
// (resource_names_subscribe) and unsubscribes as the last watcher of a
// resource leaves (resource_names_unsubscribe), in requests without a
// nonce; a wildcard watch subscribes to "*" explicitly (and the named
// watches of its type ride on it). Every response is ACKed or NACKed, in
// turn, by a request carrying its nonce and nothing else (istiod takes a
// request that both ACKs and changes the subscription for an error), the
// NACK with an
// error_detail naming each rejected resource; as in SotW the valid
// resources of a NACKed response are applied. Each resource has its own
// version, which [Client.Dump] shows. A name in removed_resources is
// deleted (unless the server advertises "ignore_resource_deletion" and a
// good version is cached); for a subscribed resource not received yet it
// means the resource does not exist. The first request of each type on a
// stream subscribes to everything wanted and gives in
// initial_resource_versions the version held of each cached resource, so
// that the server need not send again what did not change (istiod resends
// Listeners, Routes, Clusters and assignments anyway; the digest of each
// cached resource keeps what is re-sent unchanged from being decoded again
// or reaching the watchers).
//
// # Expiry, reconnection, callbacks
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
// the client reconnects at once and reports nothing. (In Delta a server
// may rightly say nothing on a new stream when nothing changed since the
// versions the client gave; if such a stream ends, the client takes it for
// a failure: an ambient error and a backoff, no loss of configuration;
// [Client.ConnectionState] counts it as connected once the client's
// requests went out on it, if the server has answered Delta before.)
// Resource aliases, TTLs (and TTL heartbeats, which are NACKed) and
// dynamic parameters are not supported.
//
// Callbacks run one at a time, in order, on a goroutine of the client. Each
// gets a done func; the client reads the next response only when every watcher
// has called done for the current one, so that a watcher may finish its work
// (and start the watches it implies) asynchronously.
package xdsclient
