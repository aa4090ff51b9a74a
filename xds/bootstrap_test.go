package xds

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// istioBootstrap is what Istio's grpc-agent writes (pkg/istio-agent/grpcxds),
// with the certificate provider it adds when it has certificates.
const istioBootstrap = `{
  "xds_servers": [
    {
      "server_uri": "unix:///etc/istio/proxy/XDS",
      "channel_creds": [{"type": "insecure"}],
      "server_features": ["xds_v3"]
    }
  ],
  "node": {
    "id": "sidecar~10.1.2.3~reviews-v1-7f9d.default~default.svc.cluster.local",
    "metadata": {
      "GENERATOR": "grpc",
      "INSTANCE_IPS": "10.1.2.3",
      "LABELS": {"app": "reviews", "version": "v1"},
      "NAMESPACE": "default"
    },
    "locality": {"region": "us-central1", "zone": "us-central1-a"}
  },
  "certificate_providers": {
    "default": {
      "plugin_name": "file_watcher",
      "config": {
        "certificate_file": "/var/lib/istio/data/cert-chain.pem",
        "private_key_file": "/var/lib/istio/data/key.pem",
        "ca_certificate_file": "/var/lib/istio/data/root-cert.pem",
        "refresh_interval": "900s"
      }
    }
  },
  "server_listener_resource_name_template": "xds.istio.io/grpc/lds/inbound/%s"
}`

func TestParseBootstrapIstio(t *testing.T) {
	b, err := ParseBootstrap([]byte(istioBootstrap))
	if err != nil {
		t.Fatal(err)
	}
	want := &Bootstrap{
		Servers: []Server{{
			URI:         "unix:///etc/istio/proxy/XDS",
			Credentials: ChannelCredentials{Type: "insecure"},
			Features:    []string{"xds_v3"},
		}},
		Node: Node{
			ID:       "sidecar~10.1.2.3~reviews-v1-7f9d.default~default.svc.cluster.local",
			Locality: Locality{Region: "us-central1", Zone: "us-central1-a"},
			Metadata: map[string]any{
				"GENERATOR": "grpc", "INSTANCE_IPS": "10.1.2.3", "NAMESPACE": "default",
				"LABELS": map[string]any{"app": "reviews", "version": "v1"},
			},
		},
		CertificateProviders: map[string]CertificateProvider{"default": {
			PluginName:        "file_watcher",
			CertificateFile:   "/var/lib/istio/data/cert-chain.pem",
			PrivateKeyFile:    "/var/lib/istio/data/key.pem",
			CACertificateFile: "/var/lib/istio/data/root-cert.pem",
			RefreshInterval:   900 * time.Second,
		}},
		ClientDefaultListenerResourceNameTemplate: "%s",
	}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("got  %+v\nwant %+v", b, want)
	}
	n, err := b.Node.proto()
	if err != nil {
		t.Fatal(err)
	}
	if n.GetLocality().GetZone() != "us-central1-a" || n.GetMetadata().GetFields()["LABELS"].GetStructValue().GetFields()["app"].GetStringValue() != "reviews" {
		t.Fatalf("node proto %v", n)
	}
}

func TestParseBootstrapValid(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		check      func(*testing.T, *Bootstrap)
	}{
		{"tls after an unknown type", `{"xds_servers": [{"server_uri": "istiod:15012",
			"channel_creds": [{"type": "fancy"}, {"type": "tls", "config": {"ca_certificate_file": "/ca.pem", "certificate_file": "/c.pem", "private_key_file": "/k.pem", "refresh_interval": "60s"}}, {"type": "google_default"}]}]}`,
			func(t *testing.T, b *Bootstrap) {
				want := ChannelCredentials{Type: "tls", CACertificateFile: "/ca.pem", CertificateFile: "/c.pem", PrivateKeyFile: "/k.pem"}
				if got := b.Servers[0].Credentials; got != want {
					t.Fatalf("credentials %+v", got)
				}
			}},
		{"first known type wins", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "insecure"}, {"type": "google_default"}]}]}`,
			func(t *testing.T, b *Bootstrap) {
				if b.Servers[0].Credentials.Type != "insecure" {
					t.Fatalf("credentials %+v", b.Servers[0].Credentials)
				}
			}},
		{"tls without config uses system roots", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "tls"}]}]}`,
			func(t *testing.T, b *Bootstrap) {
				if b.Servers[0].Credentials != (ChannelCredentials{Type: "tls"}) {
					t.Fatalf("credentials %+v", b.Servers[0].Credentials)
				}
			}},
		{"features and fallback servers", `{"xds_servers": [
			{"server_uri": "a", "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3", "ignore_resource_deletion", "some_future_feature"]},
			{"server_uri": "b", "channel_creds": [{"type": "insecure"}]}]}`,
			func(t *testing.T, b *Bootstrap) {
				if len(b.Servers) != 2 || !ignoresResourceDeletion(b.Servers[0]) || ignoresResourceDeletion(b.Servers[1]) {
					t.Fatalf("servers %+v", b.Servers)
				}
			}},
		{"defaults and empty optional parts", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "insecure", "config": {}}]}],
			"node": null, "authorities": {}, "certificate_providers": {"ca-only": {"plugin_name": "file_watcher", "config": {"ca_certificate_file": "/ca.pem"}}},
			"client_default_listener_resource_name_template": ""}`,
			nil},
		{"template", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "insecure"}]}], "client_default_listener_resource_name_template": "listeners/%s"}`,
			func(t *testing.T, b *Bootstrap) {
				if b.ClientDefaultListenerResourceNameTemplate != "listeners/%s" {
					t.Fatal(b.ClientDefaultListenerResourceNameTemplate)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBootstrap([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "defaults and empty optional parts" {
				if b.ClientDefaultListenerResourceNameTemplate != "%s" || b.CertificateProviders["ca-only"].RefreshInterval != 10*time.Minute {
					t.Fatalf("defaults %+v", b)
				}
			}
			if tc.check != nil {
				tc.check(t, b)
			}
		})
	}
}

func TestParseBootstrapInvalid(t *testing.T) {
	const srv = `{"server_uri": "x", "channel_creds": [{"type": "insecure"}]}`
	for _, tc := range []struct{ name, json, want string }{
		{"not JSON", `{"xds_servers": [`, "invalid JSON"},
		{"not an object", `[]`, "want an object, got an array"},
		{"no servers", `{}`, "xds_servers: required"},
		{"empty servers", `{"xds_servers": []}`, "xds_servers: required: at least one server"},
		{"servers of the wrong type", `{"xds_servers": "x"}`, "xds_servers: want an array, got a string"},
		{"server not an object", `{"xds_servers": [1]}`, "xds_servers[0]: want an object, got a number"},
		{"no server_uri", `{"xds_servers": [{"channel_creds": [{"type": "insecure"}]}]}`, "xds_servers[0].server_uri: required"},
		{"no channel_creds", `{"xds_servers": [{"server_uri": "x"}]}`, "xds_servers[0].channel_creds: required"},
		{"channel_creds without type", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{}]}]}`, "xds_servers[0].channel_creds[0].type: required"},
		{"google_default", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "google_default"}, {"type": "insecure"}]}]}`,
			"xds_servers[0].channel_creds[0].type: google_default credentials are not supported"},
		{"only unknown types", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "fancy"}]}]}`,
			`xds_servers[0].channel_creds: no supported type among ["fancy"]`},
		{"insecure with config", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "insecure", "config": {"a": 1}}]}]}`,
			"xds_servers[0].channel_creds[0].config: insecure credentials take no config"},
		{"tls certificate without key", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "tls", "config": {"certificate_file": "/c.pem"}}]}]}`,
			"xds_servers[0].channel_creds[0].config: certificate_file and private_key_file go together"},
		{"tls misspelt field", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "tls", "config": {"ca_file": "/ca.pem"}}]}]}`,
			"xds_servers[0].channel_creds[0].config.ca_file: unknown field"},
		{"tls bad refresh", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "tls", "config": {"refresh_interval": 5}}]}]}`,
			"xds_servers[0].channel_creds[0].config.refresh_interval: want a duration"},
		{"spiffe", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "tls", "config": {"spiffe_trust_bundle_map_file": "/m.json"}}]}]}`,
			"spiffe_trust_bundle_map_file: SPIFFE trust bundle maps are not supported"},
		{"call_creds", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "insecure"}], "call_creds": [{"type": "jwt_token_file"}]}]}`,
			"xds_servers[0].call_creds: call credentials are not supported"},
		{"server_features not strings", `{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "insecure"}], "server_features": [1]}]}`,
			"xds_servers[0].server_features[0]: want a string, got a number"},
		{"misspelt top-level field", `{"xds_servers": [` + srv + `], "xds_server": []}`, "xds_server: unknown field"},
		{"duplicate key", `{"xds_servers": [` + srv + `], "node": {"id": "a", "id": "b"}}`, "node.id: given twice"},
		{"node field of the wrong type", `{"xds_servers": [` + srv + `], "node": {"locality": {"zone": 1}}}`, "node.locality.zone: want a string, got a number"},
		{"node unknown field", `{"xds_servers": [` + srv + `], "node": {"user_agent_name": "me"}}`, "node.user_agent_name: unknown field"},
		{"metadata not an object", `{"xds_servers": [` + srv + `], "node": {"metadata": []}}`, "node.metadata: want an object, got an array"},
		{"locality misspelt", `{"xds_servers": [` + srv + `], "node": {"locality": {"subzone": "a"}}}`, "node.locality.subzone: unknown field"},
		{"other provider plugin", `{"xds_servers": [` + srv + `], "certificate_providers": {"mesh": {"plugin_name": "meshca", "config": {}}}}`,
			`certificate_providers.mesh.plugin_name: plugin "meshca" is not supported`},
		{"provider without plugin", `{"xds_servers": [` + srv + `], "certificate_providers": {"p": {"config": {}}}}`,
			"certificate_providers.p.plugin_name: required"},
		{"file_watcher without files", `{"xds_servers": [` + srv + `], "certificate_providers": {"default": {"plugin_name": "file_watcher", "config": {"refresh_interval": "60s"}}}}`,
			"certificate_providers.default.config: at least one of certificate_file and ca_certificate_file is required"},
		{"file_watcher key alone", `{"xds_servers": [` + srv + `], "certificate_providers": {"default": {"plugin_name": "file_watcher", "config": {"private_key_file": "/k", "ca_certificate_file": "/ca"}}}}`,
			"certificate_providers.default.config: certificate_file and private_key_file go together"},
		{"refresh interval not a duration", `{"xds_servers": [` + srv + `], "certificate_providers": {"default": {"plugin_name": "file_watcher", "config": {"ca_certificate_file": "/ca", "refresh_interval": "15m"}}}}`,
			`certificate_providers.default.config.refresh_interval: want a duration such as "600s", got "15m"`},
		{"refresh interval negative", `{"xds_servers": [` + srv + `], "certificate_providers": {"default": {"plugin_name": "file_watcher", "config": {"ca_certificate_file": "/ca", "refresh_interval": "-1s"}}}}`,
			"certificate_providers.default.config.refresh_interval: must be positive"},
		{"authorities", `{"xds_servers": [` + srv + `], "authorities": {"example.com": {}}}`, "authorities: xDS federation is not supported"},
		{"xdstp template", `{"xds_servers": [` + srv + `], "client_default_listener_resource_name_template": "xdstp://a/envoy.config.listener.v3.Listener/%s"}`,
			"client_default_listener_resource_name_template: xdstp:// names (xDS federation) are not supported"},
		{"trailing data", `{"xds_servers": [` + srv + `]} {}`, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBootstrap([]byte(tc.json))
			if err == nil {
				t.Fatalf("accepted: %+v", b)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nlacks %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "xds: bootstrap: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestParseBootstrapAllErrors: every problem is reported, not only the first.
func TestParseBootstrapAllErrors(t *testing.T) {
	_, err := ParseBootstrap([]byte(`{"xds_servers": [{"server_uri": "", "channel_creds": [{"type": "fancy"}]}], "nodes": {}}`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"xds_servers[0].server_uri: required", "xds_servers[0].channel_creds: no supported type", "nodes: unknown field"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestBootstrapFromEnv: the file named by GRPC_XDS_BOOTSTRAP takes
// precedence over GRPC_XDS_BOOTSTRAP_CONFIG, as in gRPC, and a file that
// cannot be read is an error, not a fallback.
func TestBootstrapFromEnv(t *testing.T) {
	fromConfig := `{"xds_servers": [{"server_uri": "from-config", "channel_creds": [{"type": "insecure"}]}]}`
	fromFile := `{"xds_servers": [{"server_uri": "from-file", "channel_creds": [{"type": "insecure"}]}]}`
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(path, []byte(fromFile), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("neither", func(t *testing.T) {
		t.Setenv(envBootstrapFile, "")
		t.Setenv(envBootstrapConfig, "")
		if _, err := BootstrapFromEnv(); !errors.Is(err, ErrNoBootstrap) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("config", func(t *testing.T) {
		t.Setenv(envBootstrapFile, "")
		t.Setenv(envBootstrapConfig, fromConfig)
		b, err := BootstrapFromEnv()
		if err != nil || b.Servers[0].URI != "from-config" {
			t.Fatalf("%+v, %v", b, err)
		}
	})
	t.Run("file wins", func(t *testing.T) {
		t.Setenv(envBootstrapFile, path)
		t.Setenv(envBootstrapConfig, fromConfig)
		b, err := BootstrapFromEnv()
		if err != nil || b.Servers[0].URI != "from-file" {
			t.Fatalf("%+v, %v", b, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		t.Setenv(envBootstrapFile, filepath.Join(t.TempDir(), "absent.json"))
		t.Setenv(envBootstrapConfig, fromConfig)
		_, err := BootstrapFromEnv()
		if err == nil || !strings.Contains(err.Error(), envBootstrapFile) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("invalid file", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"xds_servers": []}`), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv(envBootstrapFile, bad)
		_, err := BootstrapFromEnv()
		if err == nil || !strings.Contains(err.Error(), "xds_servers: required") || !strings.Contains(err.Error(), bad) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		t.Setenv(envBootstrapFile, "")
		t.Setenv(envBootstrapConfig, `{`)
		_, err := BootstrapFromEnv()
		if err == nil || !strings.Contains(err.Error(), envBootstrapConfig) {
			t.Fatalf("error %v", err)
		}
	})
}
