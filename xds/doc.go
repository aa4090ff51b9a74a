// Package xds connects switchyard to an xDS control plane: istiod, or any
// server built on go-control-plane, which pushes routing and endpoints over
// the Aggregated Discovery Service.
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
