package xds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The environment variables gRPC reads its bootstrap from, in order of
// precedence.
const (
	envBootstrapFile   = "GRPC_XDS_BOOTSTRAP"
	envBootstrapConfig = "GRPC_XDS_BOOTSTRAP_CONFIG"
)

// ErrNoBootstrap is returned by [BootstrapFromEnv] when neither
// GRPC_XDS_BOOTSTRAP nor GRPC_XDS_BOOTSTRAP_CONFIG is set.
var ErrNoBootstrap = errors.New("xds: no bootstrap: neither GRPC_XDS_BOOTSTRAP nor GRPC_XDS_BOOTSTRAP_CONFIG is set")

// Bootstrap is gRPC's xDS bootstrap configuration
// (https://github.com/grpc/proposal/blob/master/A27-xds-global-load-balancing.md),
// as Istio's grpc-agent injection writes it for a workload. Read one with
// [BootstrapFromEnv] or [ParseBootstrap].
type Bootstrap struct {
	// Servers are the control planes (xds_servers), in order of
	// preference; at least one. switchyard uses the first.
	Servers []Server
	// Node identifies the workload to the control plane.
	Node Node
	// CertificateProviders are the certificate sources that the control
	// plane's TLS configuration may name (certificate_providers), by
	// instance name. Istio names its provider "default".
	CertificateProviders map[string]CertificateProvider
	// ClientDefaultListenerResourceNameTemplate turns a target authority
	// into the name of its Listener resource; "%s" (the authority itself)
	// when the bootstrap does not say.
	ClientDefaultListenerResourceNameTemplate string
}

// Server is a control plane.
type Server struct {
	// URI is the gRPC target of the control plane (server_uri), for example
	// "unix:///etc/istio/proxy/XDS" or "istiod.istio-system.svc:15010".
	URI string
	// Credentials are the channel credentials used to reach it: the first
	// entry of channel_creds whose type gRPC knows.
	Credentials ChannelCredentials
	// Features are the server_features, as written. The one switchyard
	// acts on is "ignore_resource_deletion" (gRFC A53).
	Features []string
}

// ignoresResourceDeletion reports whether s advertises
// "ignore_resource_deletion": Listeners and Clusters it omits from a
// response are then kept instead of deleted.
func ignoresResourceDeletion(s Server) bool {
	return slices.Contains(s.Features, "ignore_resource_deletion")
}

// ChannelCredentials says how to secure the connection to a control plane.
type ChannelCredentials struct {
	// Type is "insecure" (plaintext) or "tls".
	Type string
	// CertificateFile and PrivateKeyFile (PEM) are the client certificate
	// for mutual TLS, both or neither; CACertificateFile (PEM) holds the
	// roots that verify the server (the system roots when empty). Only for
	// "tls"; the files are read again at each connection, so rotated
	// certificates are picked up.
	CertificateFile, PrivateKeyFile, CACertificateFile string
}

// Node is the identity sent to the control plane. Istio reads the id
// ("sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local"), the
// metadata (NAMESPACE, GENERATOR, …) and the locality.
type Node struct {
	ID       string
	Cluster  string
	Locality Locality
	// Metadata is the node's metadata, a JSON object as decoded by
	// encoding/json (numbers are float64).
	Metadata map[string]any
}

// Locality is where the workload runs.
type Locality struct {
	Region, Zone, SubZone string
}

// CertificateProvider is a certificate source. The only plugin is
// "file_watcher", which Istio uses: PEM files re-read every
// RefreshInterval.
type CertificateProvider struct {
	// PluginName is "file_watcher".
	PluginName string
	// CertificateFile and PrivateKeyFile are the workload's certificate
	// chain and key, both or neither; CACertificateFile holds the roots.
	// At least one of CertificateFile and CACertificateFile is set.
	CertificateFile, PrivateKeyFile, CACertificateFile string
	// RefreshInterval is how often the files are re-read; 10 minutes when
	// the bootstrap does not say.
	RefreshInterval time.Duration
}

// defaultRefreshInterval is gRPC's file_watcher default.
const defaultRefreshInterval = 10 * time.Minute

// BootstrapFromEnv reads the bootstrap as gRPC does: from the file named by
// GRPC_XDS_BOOTSTRAP if it is set, otherwise from the JSON in
// GRPC_XDS_BOOTSTRAP_CONFIG. It returns [ErrNoBootstrap] if neither is set.
func BootstrapFromEnv() (*Bootstrap, error) {
	if path := os.Getenv(envBootstrapFile); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("xds: bootstrap file from %s: %w", envBootstrapFile, err)
		}
		b, err := ParseBootstrap(data)
		if err != nil {
			return nil, fmt.Errorf("%w (file %s, from %s)", err, path, envBootstrapFile)
		}
		return b, nil
	}
	if data := os.Getenv(envBootstrapConfig); data != "" {
		b, err := ParseBootstrap([]byte(data))
		if err != nil {
			return nil, fmt.Errorf("%w (from %s)", err, envBootstrapConfig)
		}
		return b, nil
	}
	return nil, ErrNoBootstrap
}

// ParseBootstrap parses a bootstrap in gRPC's JSON format. Parsing is
// strict: an unknown field, a value of the wrong type, a missing required
// field or a feature switchyard does not implement (federation's
// authorities, call credentials, google_default channel credentials,
// certificate provider plugins other than file_watcher) is an error naming
// its path; every error found is reported.
func ParseBootstrap(data []byte) (*Bootstrap, error) {
	p := &parser{}
	b := p.bootstrap(data)
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("xds: bootstrap: %w", errors.Join(p.errs...))
	}
	return b, nil
}

// parser walks the JSON, collecting errors with their paths.
type parser struct {
	errs []error
}

func (p *parser) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// object decodes an object into its fields, in order, refusing duplicate
// keys (which encoding/json would silently resolve to the last). ok is false
// if raw is not an object; absent or null is an empty object.
func (p *parser) object(path string, raw json.RawMessage) (fields map[string]json.RawMessage, keys []string, ok bool) {
	if len(raw) == 0 {
		return map[string]json.RawMessage{}, nil, true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		p.errorf(path, "invalid JSON: %v", err)
		return nil, nil, false
	}
	if tok == nil {
		return map[string]json.RawMessage{}, nil, true
	}
	if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
		p.errorf(path, "want an object, got %s", describe(raw))
		return nil, nil, false
	}
	fields = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			p.errorf(path, "invalid JSON: %v", err)
			return nil, nil, false
		}
		key := tok.(string) // object keys are strings once the decoder accepts them
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			p.errorf(join(path, key), "invalid JSON: %v", err)
			return nil, nil, false
		}
		if _, dup := fields[key]; dup {
			p.errorf(join(path, key), "given twice")
			continue
		}
		fields[key] = v
		keys = append(keys, key)
	}
	if _, err := dec.Token(); err != nil {
		p.errorf(path, "invalid JSON: %v", err)
		return nil, nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		p.errorf(path, "unexpected data after the object")
		return nil, nil, false
	}
	return fields, keys, true
}

// fields checks the keys of an object against those known; unknown ones are
// errors, as are the known ones switchyard does not implement, when set.
func (p *parser) fields(path string, keys []string, known ...string) {
	for _, k := range keys {
		if !slices.Contains(known, k) {
			p.errorf(join(path, k), "unknown field (known: %s)", strings.Join(known, ", "))
		}
	}
}

// str decodes a string field; absent or null is "".
func (p *parser) str(path string, raw json.RawMessage) string {
	if raw == nil || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		p.errorf(path, "want a string, got %s", describe(raw))
	}
	return s
}

// array decodes an array field into its elements; absent or null is empty.
func (p *parser) array(path string, raw json.RawMessage) []json.RawMessage {
	if raw == nil || string(raw) == "null" {
		return nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		p.errorf(path, "want an array, got %s", describe(raw))
		return nil
	}
	return a
}

// empty reports whether raw is absent, null, or an empty object or array.
func empty(raw json.RawMessage) bool {
	s := strings.Join(strings.Fields(string(raw)), "")
	return s == "" || s == "null" || s == "{}" || s == "[]"
}

// arrayOrAbsent reports whether raw is absent, null or an array: not a value
// of the wrong type, already reported.
func arrayOrAbsent(raw json.RawMessage) bool {
	d := describe(raw)
	return d == "nothing" || d == "null" || d == "an array"
}

// describe names the kind of a JSON value for messages.
func describe(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "":
		return "nothing"
	case s == "null":
		return "null"
	case s[0] == '{':
		return "an object"
	case s[0] == '[':
		return "an array"
	case s[0] == '"':
		return "a string"
	case s == "true" || s == "false":
		return "a boolean"
	default:
		return "a number"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func (p *parser) bootstrap(data []byte) *Bootstrap {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		p.errs = append(p.errs, fmt.Errorf("invalid JSON: %v", err))
		return nil
	}
	f, keys, ok := p.object("", data)
	if !ok {
		return nil
	}
	p.fields("", keys, "xds_servers", "node", "certificate_providers",
		"client_default_listener_resource_name_template", "server_listener_resource_name_template",
		"authorities", "allowed_grpc_services")
	b := &Bootstrap{}
	servers := p.array("xds_servers", f["xds_servers"])
	if len(servers) == 0 && arrayOrAbsent(f["xds_servers"]) {
		p.errorf("xds_servers", "required: at least one server")
	}
	for i, raw := range servers {
		b.Servers = append(b.Servers, p.server(index("xds_servers", i), raw))
	}
	b.Node = p.node("node", f["node"])
	if raw := f["certificate_providers"]; raw != nil {
		b.CertificateProviders = p.providers("certificate_providers", raw)
	}
	b.ClientDefaultListenerResourceNameTemplate = p.str("client_default_listener_resource_name_template", f["client_default_listener_resource_name_template"])
	if b.ClientDefaultListenerResourceNameTemplate == "" {
		b.ClientDefaultListenerResourceNameTemplate = "%s"
	} else if strings.HasPrefix(b.ClientDefaultListenerResourceNameTemplate, "xdstp:") {
		p.errorf("client_default_listener_resource_name_template", "xdstp:// names (xDS federation) are not supported")
	}
	// A server-side setting: switchyard is a client, so it has no use for
	// it, but Istio writes it into every bootstrap.
	p.str("server_listener_resource_name_template", f["server_listener_resource_name_template"])
	if !empty(f["authorities"]) {
		p.errorf("authorities", "xDS federation is not supported")
	}
	if !empty(f["allowed_grpc_services"]) {
		p.errorf("allowed_grpc_services", "not supported")
	}
	return b
}

// channelCredTypes are the channel_creds types gRPC knows; the first of
// these in the list is the one used.
var channelCredTypes = []string{"insecure", "tls", "google_default"}

func (p *parser) server(path string, raw json.RawMessage) Server {
	var s Server
	f, keys, ok := p.object(path, raw)
	if !ok {
		return s
	}
	p.fields(path, keys, "server_uri", "channel_creds", "server_features", "call_creds")
	s.URI = p.str(join(path, "server_uri"), f["server_uri"])
	if s.URI == "" {
		p.errorf(join(path, "server_uri"), "required")
	}
	credsPath := join(path, "channel_creds")
	creds := p.array(credsPath, f["channel_creds"])
	if len(creds) == 0 && arrayOrAbsent(f["channel_creds"]) {
		p.errorf(credsPath, "required: at least one entry")
	}
	chosen := false
	var seen []string
	for i, raw := range creds {
		cp := index(credsPath, i)
		cf, ckeys, ok := p.object(cp, raw)
		if !ok {
			continue
		}
		p.fields(cp, ckeys, "type", "config")
		typ := p.str(join(cp, "type"), cf["type"])
		if typ == "" {
			p.errorf(join(cp, "type"), "required")
			continue
		}
		seen = append(seen, typ)
		if chosen || !slices.Contains(channelCredTypes, typ) {
			continue // gRPC uses the first type it knows and skips the rest
		}
		chosen = true
		s.Credentials = p.channelCreds(cp, typ, cf["config"])
	}
	if !chosen && len(seen) > 0 {
		p.errorf(credsPath, "no supported type among %q (switchyard supports insecure and tls)", seen)
	}
	for i, raw := range p.array(join(path, "server_features"), f["server_features"]) {
		s.Features = append(s.Features, p.str(index(join(path, "server_features"), i), raw))
	}
	if !empty(f["call_creds"]) {
		p.errorf(join(path, "call_creds"), "call credentials are not supported")
	}
	return s
}

func (p *parser) channelCreds(path, typ string, config json.RawMessage) ChannelCredentials {
	c := ChannelCredentials{Type: typ}
	cfgPath := join(path, "config")
	switch typ {
	case "google_default":
		p.errorf(join(path, "type"), "google_default credentials are not supported (use insecure or tls)")
	case "insecure":
		if !empty(config) {
			p.errorf(cfgPath, "insecure credentials take no config")
		}
	case "tls":
		f, keys, ok := p.object(cfgPath, config)
		if !ok {
			return c
		}
		p.fields(cfgPath, keys, "certificate_file", "private_key_file", "ca_certificate_file", "refresh_interval", "spiffe_trust_bundle_map_file")
		c.CertificateFile = p.str(join(cfgPath, "certificate_file"), f["certificate_file"])
		c.PrivateKeyFile = p.str(join(cfgPath, "private_key_file"), f["private_key_file"])
		c.CACertificateFile = p.str(join(cfgPath, "ca_certificate_file"), f["ca_certificate_file"])
		if (c.CertificateFile == "") != (c.PrivateKeyFile == "") {
			p.errorf(cfgPath, "certificate_file and private_key_file go together")
		}
		// The files are re-read at each connection; the interval has no use
		// here but is valid, as in gRPC.
		if raw := f["refresh_interval"]; raw != nil {
			p.duration(join(cfgPath, "refresh_interval"), raw)
		}
		if !empty(f["spiffe_trust_bundle_map_file"]) {
			p.errorf(join(cfgPath, "spiffe_trust_bundle_map_file"), "SPIFFE trust bundle maps are not supported")
		}
	}
	return c
}

func (p *parser) node(path string, raw json.RawMessage) Node {
	var n Node
	if raw == nil {
		return n
	}
	f, keys, ok := p.object(path, raw)
	if !ok {
		return n
	}
	p.fields(path, keys, "id", "cluster", "locality", "metadata")
	n.ID = p.str(join(path, "id"), f["id"])
	n.Cluster = p.str(join(path, "cluster"), f["cluster"])
	if raw := f["locality"]; raw != nil {
		lp := join(path, "locality")
		if lf, lkeys, ok := p.object(lp, raw); ok {
			p.fields(lp, lkeys, "region", "zone", "sub_zone")
			n.Locality = Locality{
				Region:  p.str(join(lp, "region"), lf["region"]),
				Zone:    p.str(join(lp, "zone"), lf["zone"]),
				SubZone: p.str(join(lp, "sub_zone"), lf["sub_zone"]),
			}
		}
	}
	if raw := f["metadata"]; raw != nil && string(raw) != "null" {
		mp := join(path, "metadata")
		if _, _, ok := p.object(mp, raw); ok {
			if err := json.Unmarshal(raw, &n.Metadata); err != nil {
				p.errorf(mp, "%v", err)
			}
		}
	}
	return n
}

func (p *parser) providers(path string, raw json.RawMessage) map[string]CertificateProvider {
	f, keys, ok := p.object(path, raw)
	if !ok {
		return nil
	}
	out := make(map[string]CertificateProvider, len(keys))
	sort.Strings(keys)
	for _, name := range keys {
		pp := join(path, name)
		pf, pkeys, ok := p.object(pp, f[name])
		if !ok {
			continue
		}
		p.fields(pp, pkeys, "plugin_name", "config")
		cp := CertificateProvider{PluginName: p.str(join(pp, "plugin_name"), pf["plugin_name"])}
		switch cp.PluginName {
		case "":
			p.errorf(join(pp, "plugin_name"), "required")
			continue
		case "file_watcher":
		default:
			p.errorf(join(pp, "plugin_name"), "plugin %q is not supported (only file_watcher)", cp.PluginName)
			continue
		}
		cfgPath := join(pp, "config")
		cf, ckeys, ok := p.object(cfgPath, pf["config"])
		if !ok {
			continue
		}
		p.fields(cfgPath, ckeys, "certificate_file", "private_key_file", "ca_certificate_file", "refresh_interval", "spiffe_trust_bundle_map_file")
		cp.CertificateFile = p.str(join(cfgPath, "certificate_file"), cf["certificate_file"])
		cp.PrivateKeyFile = p.str(join(cfgPath, "private_key_file"), cf["private_key_file"])
		cp.CACertificateFile = p.str(join(cfgPath, "ca_certificate_file"), cf["ca_certificate_file"])
		if (cp.CertificateFile == "") != (cp.PrivateKeyFile == "") {
			p.errorf(cfgPath, "certificate_file and private_key_file go together")
		}
		if cp.CertificateFile == "" && cp.CACertificateFile == "" {
			p.errorf(cfgPath, "at least one of certificate_file and ca_certificate_file is required")
		}
		if !empty(cf["spiffe_trust_bundle_map_file"]) {
			p.errorf(join(cfgPath, "spiffe_trust_bundle_map_file"), "SPIFFE trust bundle maps are not supported")
		}
		cp.RefreshInterval = defaultRefreshInterval
		if raw := cf["refresh_interval"]; raw != nil {
			cp.RefreshInterval = p.duration(join(cfgPath, "refresh_interval"), raw)
		}
		out[name] = cp
	}
	return out
}

// duration parses a protobuf Duration in its JSON form ("600s", "1.5s"),
// which must be positive.
func (p *parser) duration(path string, raw json.RawMessage) time.Duration {
	var d durationpb.Duration
	if err := protojson.Unmarshal(raw, &d); err != nil {
		p.errorf(path, "want a duration such as \"600s\", got %s", strings.TrimSpace(string(raw)))
		return 0
	}
	if err := d.CheckValid(); err != nil {
		p.errorf(path, "%v", err)
		return 0
	}
	if d.AsDuration() <= 0 {
		p.errorf(path, "must be positive, got %s", strings.TrimSpace(string(raw)))
		return 0
	}
	return d.AsDuration()
}
