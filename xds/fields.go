package xds

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A fieldTable says, for one Envoy message, what the translation does with
// each field: translated ("" reason) or ignored (the reason ignoring it is
// safe). A field set on a resource and missing from its table is not
// understood, and the resource is rejected (NACKed) naming it: switchyard
// never routes on a configuration it has only half read.
type fieldTable map[string]string

// translated marks a field the translation reads.
const translated = ""

// checkFields returns an error naming the first populated field of m that
// table does not list. path prefixes the field's name in the error.
func checkFields(m proto.Message, path string, table fieldTable) error {
	var unknown []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if _, ok := table[string(fd.Name())]; !ok {
			unknown = append(unknown, string(fd.Name()))
		}
		return true
	})
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%s.%s: not supported by switchyard", path, strings.Join(unknown, ", "+path+"."))
}

// Tables of the Envoy fields the translation reads or ignores, by message.
// FieldReport lists them.
var (
	listenerFields = fieldTable{
		"name":                                 translated,
		"address":                              translated,
		"api_listener":                         translated,
		"filter_chains":                        translated,
		"default_filter_chain":                 "the chain for traffic no filter chain matches: Istio's passthrough or blackhole TCP proxy; calls the mesh does not know go to the base transport",
		"listener_filters":                     "connection sniffing (TLS inspector, HTTP inspector, original destination) of an intercepting proxy; switchyard is called directly",
		"traffic_direction":                    "informational",
		"use_original_dst":                     "iptables capture of an intercepting proxy",
		"bind_to_port":                         "whether a proxy binds the port; switchyard listens on nothing",
		"continue_on_listener_filters_timeout": "listener filters are ignored",
		"listener_filters_timeout":             "listener filters are ignored",
		"metadata":                             "informational",
		"access_log":                           "logging of a proxy",
		"stat_prefix":                          "statistics naming",
		"per_connection_buffer_limit_bytes":    "a proxy's buffer sizing",
		"socket_options":                       "a listening socket's options",
		"transparent":                          "a listening socket's options",
		"freebind":                             "a listening socket's options",
	}
	filterChainFields = fieldTable{
		"filters":                          translated,
		"filter_chain_match":               "selects among a proxy's chains by destination; switchyard picks the HTTP connection manager",
		"name":                             "informational",
		"metadata":                         "informational",
		"transport_socket":                 "downstream TLS of a proxy",
		"transport_socket_connect_timeout": "downstream TLS of a proxy",
	}
	hcmFields = fieldTable{
		"rds":                              translated,
		"route_config":                     translated,
		"http_filters":                     translated,
		"stat_prefix":                      "statistics naming",
		"codec_type":                       "downstream codec of a proxy",
		"tracing":                          "tracing is configured on the Mesh (WithTracerProvider)",
		"request_id_extension":             "request ids of a proxy",
		"upgrade_configs":                  "downstream protocol upgrades of a proxy; switchyard forwards what its caller sends",
		"use_remote_address":               "downstream address handling of a proxy",
		"forward_client_cert_details":      "downstream client certificate handling of a proxy",
		"set_current_client_cert_details":  "downstream client certificate handling of a proxy",
		"normalize_path":                   "downstream path normalisation of an intercepting proxy; the caller's own path is routed",
		"path_with_escaped_slashes_action": "downstream path normalisation of an intercepting proxy",
		"merge_slashes":                    "downstream path normalisation of an intercepting proxy",
		"stream_idle_timeout":              "downstream idle timeout of a proxy",
		"common_http_protocol_options":     "downstream connection options of a proxy",
		"http_protocol_options":            "downstream HTTP/1 options of a proxy",
		"http2_protocol_options":           "downstream HTTP/2 options of a proxy",
		"server_name":                      "the Server header a proxy writes",
		"server_header_transformation":     "the Server header a proxy writes",
		"access_log":                       "logging of a proxy",
		"generate_request_id":              "request ids of a proxy",
		"preserve_external_request_id":     "request ids of a proxy",
		"internal_address_config":          "downstream address handling of a proxy",
		"xff_num_trusted_hops":             "downstream address handling of a proxy",
		"skip_xff_append":                  "downstream address handling of a proxy",
		"via":                              "the Via header a proxy writes",
		"delayed_close_timeout":            "downstream connection handling of a proxy",
		"drain_timeout":                    "downstream connection handling of a proxy",
		"request_timeout":                  "downstream request timeout of a proxy",
		"request_headers_timeout":          "downstream request timeout of a proxy",
		"max_request_headers_kb":           "downstream limits of a proxy",
		"add_user_agent":                   "downstream headers of a proxy",
		"strip_any_host_port":              "the mesh matches hosts with and without port",
		"strip_matching_host_port":         "the mesh matches hosts with and without port",
		"local_reply_config":               "a proxy's own error pages",
		"append_x_forwarded_port":          "downstream headers of a proxy",
		"append_local_overload":            "downstream headers of a proxy",
		"early_header_mutation_extensions": "downstream header handling of a proxy",
		"proxy_100_continue":               "downstream protocol handling of a proxy",
		"represent_ipv4_remote_address_as_ipv4_mapped_ipv6": "downstream address handling of a proxy",
		"original_ip_detection_extensions":                  "downstream address handling of a proxy",
	}
	httpFilterFields = fieldTable{
		"name":         translated,
		"typed_config": translated,
		"is_optional":  translated,
		"disabled":     translated,
	}
	routeConfigFields = fieldTable{
		"name":                                translated,
		"virtual_hosts":                       translated,
		"validate_clusters":                   "routes to clusters not (yet) known answer 503 either way",
		"ignore_port_in_host_matching":        "the mesh matches hosts with and without port",
		"max_direct_response_body_size_bytes": "a limit on the size of direct responses, checked by Istio",
		"most_specific_header_mutations_wins": "no header operation is accepted at virtual host or route configuration level",
	}
	virtualHostFields = fieldTable{
		"name":                              translated,
		"domains":                           translated,
		"routes":                            translated,
		"retry_policy":                      translated,
		"include_request_attempt_count":     "the x-envoy-attempt-count request header a proxy adds",
		"include_attempt_count_in_response": "the x-envoy-attempt-count response header a proxy adds",
		"metadata":                          "informational",
		"typed_per_filter_config":           translated,
	}
	routeFields = fieldTable{
		"name":                       translated,
		"match":                      translated,
		"route":                      translated,
		"redirect":                   translated,
		"direct_response":            translated,
		"request_headers_to_add":     translated,
		"request_headers_to_remove":  translated,
		"response_headers_to_add":    translated,
		"response_headers_to_remove": translated,
		"typed_per_filter_config":    translated,
		"metadata":                   translated,
		"decorator":                  "the tracing span name of a proxy",
		"stat_prefix":                "statistics naming",
	}
	routeMatchFields = fieldTable{
		"prefix":           translated,
		"path":             translated,
		"safe_regex":       translated,
		"case_sensitive":   translated,
		"headers":          translated,
		"query_parameters": translated,
	}
	headerMatcherFields = fieldTable{
		"name":                          translated,
		"string_match":                  translated,
		"exact_match":                   translated,
		"prefix_match":                  translated,
		"safe_regex_match":              translated,
		"present_match":                 translated,
		"invert_match":                  translated,
		"treat_missing_header_as_empty": translated,
	}
	stringMatcherFields = fieldTable{
		"exact":      translated,
		"prefix":     translated,
		"safe_regex": translated,
	}
	regexMatcherFields = fieldTable{
		"regex":      translated,
		"google_re2": "deprecated and without effect",
	}
	queryMatcherFields = fieldTable{
		"name":          translated,
		"string_match":  translated,
		"present_match": translated,
	}
	routeActionFields = fieldTable{
		"cluster":                         translated,
		"weighted_clusters":               translated,
		"timeout":                         translated,
		"max_stream_duration":             translated,
		"max_grpc_timeout":                translated,
		"retry_policy":                    translated,
		"request_mirror_policies":         translated,
		"hash_policy":                     translated,
		"prefix_rewrite":                  translated,
		"regex_rewrite":                   translated,
		"host_rewrite_literal":            translated,
		"auto_host_rewrite":               translated,
		"cluster_not_found_response_code": translated,
		"priority":                        translated,
		"grpc_timeout_offset":             "deprecated and without effect",
		"append_x_forwarded_host":         "a header a proxy adds on host rewrite",
	}
	maxStreamDurationFields = fieldTable{
		"max_stream_duration":        translated,
		"grpc_timeout_header_max":    translated,
		"grpc_timeout_header_offset": translated,
	}
	weightedClusterFields = fieldTable{
		"clusters":           translated,
		"total_weight":       "weights are relative; the total only constrained their sum",
		"runtime_key_prefix": "runtime overrides of a proxy; the weights sent are used",
	}
	clusterWeightFields = fieldTable{
		"name":                       translated,
		"weight":                     translated,
		"request_headers_to_add":     translated,
		"request_headers_to_remove":  translated,
		"response_headers_to_add":    translated,
		"response_headers_to_remove": translated,
		"host_rewrite_literal":       translated,
		"metadata_match":             "endpoint selection by metadata; refused when set",
	}
	retryPolicyFields = fieldTable{
		"retry_on":                          translated,
		"num_retries":                       translated,
		"per_try_timeout":                   translated,
		"retry_host_predicate":              translated,
		"host_selection_retry_max_attempts": "how often a proxy re-picks to avoid a previous host; the mesh avoids previous hosts whenever it has another",
		"retry_priority":                    translated,
		"retriable_status_codes":            translated,
		"retry_back_off":                    translated,
	}
	retryBackOffFields = fieldTable{
		"base_interval": translated,
		"max_interval":  translated,
	}
	mirrorFields = fieldTable{
		"cluster":                           translated,
		"runtime_fraction":                  translated,
		"trace_sampled":                     "tracing of a proxy",
		"disable_shadow_host_suffix_append": "the mirror keeps its Host (DESIGN.md pins Istio's disableShadowHostSuffixAppend)",
	}
	hashPolicyFields = fieldTable{
		"header":                translated,
		"cookie":                translated,
		"connection_properties": translated,
		"query_parameter":       translated,
		"terminal":              "the mesh uses one hash policy per destination",
	}
	redirectFields = fieldTable{
		"host_redirect":   translated,
		"path_redirect":   translated,
		"prefix_rewrite":  translated,
		"scheme_redirect": translated,
		"https_redirect":  translated,
		"port_redirect":   translated,
		"response_code":   translated,
	}
	directResponseFields = fieldTable{
		"status": translated,
		"body":   translated,
	}
	headerValueOptionFields = fieldTable{
		"header":           translated,
		"append_action":    translated,
		"append":           translated,
		"keep_empty_value": "the mesh adds empty values as given",
	}
	httpFaultFields = fieldTable{
		"delay": translated,
		"abort": translated,
	}
	faultDelayFields = fieldTable{
		"fixed_delay": translated,
		"percentage":  translated,
	}
	faultAbortFields = fieldTable{
		"http_status": translated,
		"grpc_status": translated,
		"percentage":  translated,
	}
	clusterFields = fieldTable{
		"name":                                     translated,
		"type":                                     translated,
		"eds_cluster_config":                       translated,
		"load_assignment":                          translated,
		"lb_policy":                                translated,
		"connect_timeout":                          translated,
		"outlier_detection":                        translated,
		"circuit_breakers":                         translated,
		"common_lb_config":                         translated,
		"round_robin_lb_config":                    translated,
		"least_request_lb_config":                  translated,
		"ring_hash_lb_config":                      translated,
		"maglev_lb_config":                         translated,
		"typed_extension_protocol_options":         translated,
		"upstream_connection_options":              translated,
		"transport_socket":                         translated,
		"transport_socket_matches":                 translated,
		"metadata":                                 "informational (Istio's DestinationRule name)",
		"alt_stat_name":                            "statistics naming",
		"filters":                                  "upstream network filters of a proxy (Istio's metadata exchange)",
		"dns_refresh_rate":                         "DNS refresh of a proxy; the mesh resolves at dial time",
		"respect_dns_ttl":                          "DNS refresh of a proxy; the mesh resolves at dial time",
		"dns_lookup_family":                        "address family of DNS lookups; the mesh uses the system resolver",
		"dns_jitter":                               "DNS refresh of a proxy; the mesh resolves at dial time",
		"typed_dns_resolver_config":                "DNS resolver of a proxy; the mesh uses the system resolver",
		"per_connection_buffer_limit_bytes":        "a proxy's buffer sizing",
		"cleanup_interval":                         "a proxy's internal housekeeping",
		"ignore_health_on_host_removal":            "a proxy's host removal timing; the mesh applies every EDS update at once",
		"close_connections_on_host_health_failure": "active health checking is not accepted",
	}
	outlierFields = fieldTable{
		"consecutive_5xx":                            translated,
		"enforcing_consecutive_5xx":                  translated,
		"consecutive_gateway_failure":                translated,
		"enforcing_consecutive_gateway_failure":      translated,
		"consecutive_local_origin_failure":           translated,
		"enforcing_consecutive_local_origin_failure": translated,
		"split_external_local_origin_errors":         translated,
		"interval":                                   translated,
		"base_ejection_time":                         translated,
		"max_ejection_percent":                       translated,
		"enforcing_success_rate":                     translated,
		"enforcing_failure_percentage":               translated,
		"enforcing_local_origin_success_rate":        translated,
		"enforcing_failure_percentage_local_origin":  translated,
		"success_rate_minimum_hosts":                 "success-rate ejection is accepted only when not enforced",
		"success_rate_request_volume":                "success-rate ejection is accepted only when not enforced",
		"success_rate_stdev_factor":                  "success-rate ejection is accepted only when not enforced",
		"failure_percentage_threshold":               "failure-percentage ejection is accepted only when not enforced",
		"failure_percentage_minimum_hosts":           "failure-percentage ejection is accepted only when not enforced",
		"failure_percentage_request_volume":          "failure-percentage ejection is accepted only when not enforced",
	}
	thresholdFields = fieldTable{
		"priority":             translated,
		"max_connections":      translated,
		"max_pending_requests": translated,
		"max_requests":         translated,
		"max_retries":          translated,
		"retry_budget":         translated,
		"track_remaining":      "statistics of a proxy",
	}
	commonLbFields = fieldTable{
		"healthy_panic_threshold":              translated,
		"locality_weighted_lb_config":          translated,
		"update_merge_window":                  "a proxy batches EDS updates; the mesh applies each at once",
		"ignore_new_hosts_until_first_hc":      "active health checking is not accepted",
		"close_connections_on_host_set_change": "a proxy's connection handling on endpoint changes",
	}
	slowStartFields = fieldTable{
		"slow_start_window":  translated,
		"aggression":         translated,
		"min_weight_percent": translated,
	}
	leastRequestFields = fieldTable{
		"choice_count":      translated,
		"slow_start_config": translated,
	}
	roundRobinFields = fieldTable{
		"slow_start_config": translated,
	}
	ringHashFields = fieldTable{
		"minimum_ring_size": translated,
		"maximum_ring_size": "an upper bound on a ring the mesh sizes from the minimum",
		"hash_function":     translated,
	}
	maglevFields = fieldTable{
		"table_size": translated,
	}
	httpProtocolOptionsFields = fieldTable{
		"common_http_protocol_options":   translated,
		"explicit_http_config":           translated,
		"use_downstream_protocol_config": translated,
		"upstream_http_protocol_options": "auto_sni and auto_san_validation, which Istio sets exactly when a rule has no sni (and no subjectAltNames): the mesh always sends the request's host when sni is empty, and verifies it when there are neither sni nor subject alt names",
	}
	commonHTTPOptionsFields = fieldTable{
		"idle_timeout":                    translated,
		"max_connection_duration":         translated,
		"max_requests_per_connection":     translated,
		"max_headers_count":               "a limit of a proxy",
		"headers_with_underscores_action": "header name policing of a proxy",
	}
	claFields = fieldTable{
		"cluster_name": translated,
		"endpoints":    translated,
		"policy":       translated,
	}
	claPolicyFields = fieldTable{
		"overprovisioning_factor":  "locality and priority spill-over of Envoy; the mesh uses the lowest healthy priority",
		"endpoint_stale_after":     "a proxy's staleness timer",
		"weighted_priority_health": "the health computation of priority spill-over",
		"drop_overloads":           translated,
	}
	localityEndpointsFields = fieldTable{
		"locality":              translated,
		"lb_endpoints":          translated,
		"load_balancing_weight": translated,
		"priority":              translated,
		"metadata":              translated,
		"proximity":             "unused by Envoy's load balancers",
	}
	lbEndpointFields = fieldTable{
		"endpoint":              translated,
		"health_status":         translated,
		"load_balancing_weight": translated,
		"metadata":              translated,
	}
	transportSocketFields = fieldTable{
		"name":         translated,
		"typed_config": translated,
	}
	upstreamTLSFields = fieldTable{
		"common_tls_context": translated,
		"sni":                translated,
		"max_session_keys":   "the size of a proxy's session-resumption cache; the mesh's connections do not resume sessions",
	}
	commonTLSFields = fieldTable{
		"tls_params":                                       translated,
		"tls_certificates":                                 translated,
		"tls_certificate_sds_secret_configs":               translated,
		"tls_certificate_provider_instance":                translated,
		"tls_certificate_certificate_provider_instance":    translated,
		"validation_context":                               translated,
		"validation_context_sds_secret_config":             translated,
		"combined_validation_context":                      translated,
		"validation_context_certificate_provider_instance": translated,
		"alpn_protocols":                                   translated,
	}
	tlsParamsFields = fieldTable{
		"tls_minimum_protocol_version": translated,
		"tls_maximum_protocol_version": translated,
	}
	tlsCertificateFields = fieldTable{
		"certificate_chain": translated,
		"private_key":       translated,
	}
	sdsSecretFields = fieldTable{
		"name":       translated,
		"sds_config": "where a proxy fetches the secret (Istio's agent); in-process the name says what it is: the workload's certificates (\"default\", \"ROOTCA\") or files (\"file-cert:\", \"file-root:\")",
	}
	providerInstanceFields = fieldTable{
		"instance_name":    translated,
		"certificate_name": "gRPC's file_watcher plugin ignores it too (istiod names \"default\" and \"ROOTCA\")",
	}
	combinedValidationFields = fieldTable{
		"default_validation_context":                       translated,
		"validation_context_sds_secret_config":             translated,
		"validation_context_certificate_provider_instance": translated,
	}
	validationFields = fieldTable{
		"trusted_ca":                       translated,
		"ca_certificate_provider_instance": translated,
		"system_root_certs":                translated,
		"match_subject_alt_names":          translated,
		"match_typed_subject_alt_names":    translated,
		"crl":                              translated,
		"trust_chain_verification":         translated,
		"suppress_client_ca_list":          "a server's setting",
	}
	sanMatcherFields = fieldTable{
		"san_type": translated,
		"matcher":  translated,
	}
	transportSocketMatchFields = fieldTable{
		"name":             "informational",
		"match":            translated,
		"transport_socket": translated,
	}
	endpointFields = fieldTable{
		"address":             translated,
		"hostname":            "informational",
		"health_check_config": "active health checking of a proxy",
	}
)

// tables lists every table by the Envoy message it describes, for the report.
var tables = []struct {
	message string
	table   fieldTable
}{
	{"envoy.config.listener.v3.Listener", listenerFields},
	{"envoy.config.listener.v3.FilterChain", filterChainFields},
	{"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", hcmFields},
	{"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter", httpFilterFields},
	{"envoy.config.route.v3.RouteConfiguration", routeConfigFields},
	{"envoy.config.route.v3.VirtualHost", virtualHostFields},
	{"envoy.config.route.v3.Route", routeFields},
	{"envoy.config.route.v3.RouteMatch", routeMatchFields},
	{"envoy.config.route.v3.HeaderMatcher", headerMatcherFields},
	{"envoy.type.matcher.v3.StringMatcher", stringMatcherFields},
	{"envoy.type.matcher.v3.RegexMatcher", regexMatcherFields},
	{"envoy.config.route.v3.QueryParameterMatcher", queryMatcherFields},
	{"envoy.config.route.v3.RouteAction", routeActionFields},
	{"envoy.config.route.v3.RouteAction.MaxStreamDuration", maxStreamDurationFields},
	{"envoy.config.route.v3.WeightedCluster", weightedClusterFields},
	{"envoy.config.route.v3.WeightedCluster.ClusterWeight", clusterWeightFields},
	{"envoy.config.route.v3.RetryPolicy", retryPolicyFields},
	{"envoy.config.route.v3.RetryPolicy.RetryBackOff", retryBackOffFields},
	{"envoy.config.route.v3.RouteAction.RequestMirrorPolicy", mirrorFields},
	{"envoy.config.route.v3.RouteAction.HashPolicy", hashPolicyFields},
	{"envoy.config.route.v3.RedirectAction", redirectFields},
	{"envoy.config.route.v3.DirectResponseAction", directResponseFields},
	{"envoy.config.core.v3.HeaderValueOption", headerValueOptionFields},
	{"envoy.extensions.filters.http.fault.v3.HTTPFault", httpFaultFields},
	{"envoy.extensions.filters.common.fault.v3.FaultDelay", faultDelayFields},
	{"envoy.extensions.filters.http.fault.v3.FaultAbort", faultAbortFields},
	{"envoy.config.cluster.v3.Cluster", clusterFields},
	{"envoy.config.cluster.v3.Cluster.TransportSocketMatch", transportSocketMatchFields},
	{"envoy.config.core.v3.TransportSocket", transportSocketFields},
	{"envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", upstreamTLSFields},
	{"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", commonTLSFields},
	{"envoy.extensions.transport_sockets.tls.v3.TlsParameters", tlsParamsFields},
	{"envoy.extensions.transport_sockets.tls.v3.TlsCertificate", tlsCertificateFields},
	{"envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig", sdsSecretFields},
	{"envoy.extensions.transport_sockets.tls.v3.CertificateProviderPluginInstance", providerInstanceFields},
	{"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CertificateProviderInstance", providerInstanceFields},
	{"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext", combinedValidationFields},
	{"envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext", validationFields},
	{"envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher", sanMatcherFields},
	{"envoy.config.cluster.v3.OutlierDetection", outlierFields},
	{"envoy.config.cluster.v3.CircuitBreakers.Thresholds", thresholdFields},
	{"envoy.config.cluster.v3.Cluster.CommonLbConfig", commonLbFields},
	{"envoy.config.cluster.v3.Cluster.SlowStartConfig", slowStartFields},
	{"envoy.config.cluster.v3.Cluster.LeastRequestLbConfig", leastRequestFields},
	{"envoy.config.cluster.v3.Cluster.RoundRobinLbConfig", roundRobinFields},
	{"envoy.config.cluster.v3.Cluster.RingHashLbConfig", ringHashFields},
	{"envoy.config.cluster.v3.Cluster.MaglevLbConfig", maglevFields},
	{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions", httpProtocolOptionsFields},
	{"envoy.config.core.v3.HttpProtocolOptions", commonHTTPOptionsFields},
	{"envoy.config.endpoint.v3.ClusterLoadAssignment", claFields},
	{"envoy.config.endpoint.v3.ClusterLoadAssignment.Policy", claPolicyFields},
	{"envoy.config.endpoint.v3.LocalityLbEndpoints", localityEndpointsFields},
	{"envoy.config.endpoint.v3.LbEndpoint", lbEndpointFields},
	{"envoy.config.endpoint.v3.Endpoint", endpointFields},
}
