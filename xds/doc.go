// Package xds connects switchyard to an xDS control plane: istiod, or any
// server built on go-control-plane, which pushes routing and endpoints over
// the Aggregated Discovery Service: the sidecar persona (below) speaks
// incremental (Delta) xDS, which both serve, unless the control plane
// answers the Delta stream Unimplemented; the proxyless persona speaks
// State of the World, as istiod's Delta server does not keep track of
// listeners and clusters subscribed by name.
//
// A workload learns where its control plane is, and who it is, from gRPC's
// xDS bootstrap: a JSON file named by GRPC_XDS_BOOTSTRAP, or the JSON itself
// in GRPC_XDS_BOOTSTRAP_CONFIG. Istio's grpc-agent injection template writes
// one for every pod (GRPC_XDS_BOOTSTRAP=/etc/istio/proxy/grpc-bootstrap.json)
// and serves xDS on a local socket; the same file works for switchyard.
//
//	b, err := xds.BootstrapFromEnv()
//	if errors.Is(err, xds.ErrNoBootstrap) {
//		// not in an xDS mesh: configure from YAML instead
//	}
//
// # A mesh fed by the control plane
//
// [NewMesh] connects and returns a [Mesh]: a switchyard.Mesh (Transport,
// DialOptions, Explain, Observe…) whose configuration is what the control
// plane pushes. Each resource is translated into switchyard's own schema —
// Listener → HttpConnectionManager → RouteConfiguration becomes
// VirtualServices, Cluster becomes DestinationRule policy, and
// ClusterLoadAssignment becomes ServiceEntry endpoints — so Explain, the
// admin page, telemetry and rollout read xDS-sourced configuration exactly
// as YAML. istiod turns each DestinationRule subset into a cluster of its
// own (outbound|9080|v1|reviews.default.svc.cluster.local) whose endpoints
// carry no labels; the translation gives each endpoint a label per subset
// cluster it belongs to (xds.switchyard.io/subset.<name>), so the host's
// subsets select the same endpoints.
//
// A push costs what it changes. One that changes only the endpoints of
// clusters the mesh already had (ClusterLoadAssignments) translates the
// hosts they feed again alone and, if nothing but their endpoints changed,
// replaces those through switchyard.Mesh.SetEndpoints, keeping each
// remaining endpoint's live state (a subset or host left without
// endpoints answers 503 "no healthy upstream", as Envoy does). Any other
// push is translated incrementally — the translation keeps indexes by
// listener, route configuration, cluster and host, re-translates only what
// the changed resources touch, and hands the unchanged parts over as they
// were — and installed by Update, which recompiles only what differs (a
// push that changes only some services' routes replaces their
// VirtualServices without copying the list of them). NewMesh's initial
// sync is translated and installed once whole. A
// route to a cluster not (yet) received, or refused, is a destination
// nothing backs: 503 with an empty body, as Envoy answers for a cluster it
// does not know. Config shows the endpoints of the last Update, and
// Warnings describe it; Explain and the admin page show the endpoints in
// force.
//
// A resource the translation cannot represent faithfully is rejected:
// the client NACKs it with the resource, the field and the reason, and
// the last good version stays in force ([Mesh.Err] names it until a
// version of it is accepted). Every
// Envoy field is either translated, or ignored because it only concerns
// what a proxy does for its own listeners (downstream TLS, statistics,
// access logs, iptables capture), or refused by name; FIELDS.md, beside
// this package's sources, lists them all, message by message, with the
// reason each ignored field is safe to ignore.
//
// # Personas
//
// By default the mesh asks istiod for a sidecar's configuration (node
// metadata without GENERATOR): every listener and cluster of the mesh (or
// of its Sidecar resource's egress hosts, which is how to scope it), with
// full cluster fidelity — outlier detection, connection pool, connect
// timeout, panic threshold, slow start, retry budget. [Proxyless] asks for
// a proxyless gRPC client's configuration (GENERATOR=grpc) and subscribes
// only to the host:port the process calls, on demand: the first request to
// a service waits, within its context, for its listener, routes, clusters
// and endpoints. A Sidecar's outboundTrafficPolicy REGISTRY_ONLY reaches
// the sidecar persona as istiod's block_all virtual host, and the mesh
// answers 502 for hosts the control plane did not send, as Envoy does; a
// proxyless client gets no listener for such a host (nor for any host
// istiod does not know): a gRPC call to it fails with UNAVAILABLE naming
// the listener, as through gRPC's own xDS resolver, while an HTTP request
// to it goes to the base transport (HTTP has no xds:/// scheme to say which
// hosts are the mesh's). Routes are complete in both personas; proxyless clusters
// lose outlier detection (and with it minHealthPercent and failover to
// other localities: only istiod's best priority of endpoints is used),
// every connection-pool setting but http2MaxRequests, slow start,
// LEAST_REQUEST as the default (round robin instead), RANDOM, the retry
// budget, auto mTLS (plain text unless a rule says ISTIO_MUTUAL), SIMPLE
// and MUTUAL origination (plain text), and an ISTIO_MUTUAL rule's sni and
// subjectAltNames, and the endpoints of DNS-resolved services (istiod
// sends them an empty assignment).
//
// Locality weights (common_lb_config.locality_weighted_lb_config, which
// istiod sets from localityLbSetting) become a distribute rule over the
// localities whose endpoints take traffic, their weights scaled to
// percentages; equal weights (failover-only settings) leave the endpoints
// sharing alike, where Envoy shares alike by locality (the two differ only
// when localities of one priority hold different numbers of endpoints).
//
// Not yet taken from xDS (refused by name, so the previous configuration
// stays): success-rate and failure-percentage outlier ejection, and the
// connection-pool fields the mesh refuses from YAML too
// (maxRequestsPerConnection > 1, maxConcurrentStreams).
//
// # mTLS from the mesh
//
// A cluster's transport_socket (an UpstreamTlsContext) becomes its
// DestinationRule tls settings, originated by the mesh as from YAML
// (switchyard.WithWorkloadCertificates, package mtls):
//
//   - The workload's certificate and roots are ISTIO_MUTUAL: the
//     certificate provider instances istiod names for a proxyless client
//     (tls_certificate_provider_instance and
//     validation_context_certificate_provider_instance or
//     ca_certificate_provider_instance, instance "default"), or the SDS
//     secrets "default" and "ROOTCA" a sidecar gets (its istio-agent would
//     serve them; in-process they are the workload's certificates). sni and
//     the subject alt names are the rule's; without sni the mesh sends
//     Istio's (outbound_.<port>_.<subset>_.<host>).
//   - A certificate from files ("file-cert:<chain>~<key>", or
//     tls_certificates with filenames) is MUTUAL; otherwise SIMPLE. The
//     roots are a file ("file-root:<path>", trusted_ca), the system's
//     ("file-root:system", system_root_certs), or none, which verifies
//     nothing, as in Envoy (insecureSkipVerify). The files are read at
//     each configuration, as a DestinationRule's.
//   - Subject alt names match exactly (match_subject_alt_names, or
//     match_typed_subject_alt_names of type DNS, URI, IP or EMAIL);
//     prefix, suffix, regex, contains and ignore_case are refused. TLS
//     1.2 to 1.3 only, Go's cipher suites and curves (tls_params setting
//     others is refused). The ALPN protocols are the mesh's ("istio" and
//     h2 or http/1.1 in mesh mTLS), which Envoy's and Go's servers accept;
//     a list naming anything but Istio's and HTTP's protocols is refused.
//     Kubernetes secrets (credentialName), inline material, other SDS
//     secrets, renegotiation and custom validators are refused.
//
// The workload's certificates are the bootstrap's certificate provider
// (the instance named "default", else the only one): [NewMesh] loads its
// files, re-reads them every refresh_interval and serves each handshake
// the current pair, unless the caller passed
// switchyard.WithWorkloadCertificates in [WithMeshOptions], which then
// stands for that instance. A cluster naming an instance the bootstrap
// lacks, another instance, or the workload's certificates in a mesh
// without them, is rejected with the reason.
//
// Auto mTLS (a sidecar's transport_socket_matches: TLS to the endpoints
// whose envoy.transport_socket_match metadata says tlsMode: istio, plain
// text to the others) is taken per cluster, not per endpoint, as the mesh
// originates one TLS setting per cluster: the endpoints that take traffic
// choose it. When they disagree (some endpoints have a sidecar, some not),
// the cluster originates the TLS, so nothing istiod sends encrypted goes
// in plain text; an endpoint without a sidecar then fails the handshake,
// a connect failure that is retried (Istio's default retry policy retries
// connect-failure on another endpoint) and, with outlier detection,
// ejected like any other.
// TLS on an ORIGINAL_DST cluster (PASSTHROUGH, whose requests go through
// the caller's transport) is refused, as from YAML.
//
// # When the control plane is away
//
// The mesh keeps routing by the last configuration it received (and
// accepted) while the control plane is unreachable, reconnects with
// gRPC's backoff, and says so: [Mesh.Status] (the server, whether it
// answers and since when, why not, each resource's state and version),
// [Mesh.Err], the Source of every [Mesh.Explain] ("xDS from …: unreachable
// since …; the last configuration received stays in force"), the admin
// page of [Mesh.AdminHandler] (a "Control plane" section; "state" carries
// it as controlPlane, "xds" serves Status whole), and two OTel metrics on
// the meter provider given by switchyard.WithMeterProvider (or OTel's
// global one): the gauge switchyard.xds.connected (1 while the control
// plane answers, 0 otherwise) and the counter switchyard.xds.rejections
// (resources NACKed, by switchyard.xds.type), both with server.address.
//
// # Supported bootstrap fields
//
//   - xds_servers[]: server_uri; channel_creds[] of type "insecure" or
//     "tls" (config: certificate_file, private_key_file,
//     ca_certificate_file); server_features ("ignore_resource_deletion" is
//     honoured). The first server is used.
//   - node: id, cluster, locality {region, zone, sub_zone}, metadata.
//   - certificate_providers: {<instance>: {plugin_name: "file_watcher",
//     config: {certificate_file, private_key_file, ca_certificate_file,
//     refresh_interval}}}.
//   - client_default_listener_resource_name_template.
//   - server_listener_resource_name_template is accepted and unused (it
//     configures xDS-enabled gRPC servers).
//
// What switchyard does not implement is refused by name rather than
// ignored: "google_default" channel credentials, call_creds, authorities
// (federation), allowed_grpc_services, other certificate provider plugins,
// SPIFFE trust bundle maps.
package xds
