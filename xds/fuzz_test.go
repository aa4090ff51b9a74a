package xds

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzParseBootstrap: any bytes give an error that says where, or a
// bootstrap the client can use — never a panic.
func FuzzParseBootstrap(f *testing.F) {
	f.Add([]byte(istioBootstrap))
	f.Add([]byte(`{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "tls", "config": {"ca_certificate_file": "/ca.pem"}}]}]}`))
	f.Add([]byte(`{"xds_servers": [{"server_uri": "x", "channel_creds": [{"type": "fancy"}, {"type": "insecure"}]}], "node": {"id": "a", "id": "b"}}`))
	f.Add([]byte(`{"xds_servers": [], "certificate_providers": {"p": {"plugin_name": "file_watcher", "config": {"refresh_interval": "1.5s"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBootstrap(data)
		if err != nil {
			if b != nil {
				t.Fatal("a bootstrap and an error")
			}
			if !strings.HasPrefix(err.Error(), "xds: bootstrap: ") {
				t.Fatalf("error without the prefix: %v", err)
			}
			return
		}
		if len(b.Servers) == 0 {
			t.Fatal("accepted without a server")
		}
		for _, s := range b.Servers {
			if s.URI == "" || !slices.Contains([]string{"insecure", "tls"}, s.Credentials.Type) {
				t.Fatalf("accepted server %+v", s)
			}
		}
		for name, cp := range b.CertificateProviders {
			if cp.PluginName != "file_watcher" || cp.RefreshInterval <= 0 || (cp.CertificateFile == "" && cp.CACertificateFile == "") {
				t.Fatalf("accepted provider %q: %+v", name, cp)
			}
		}
		if _, err := b.Node.proto(); err != nil {
			t.Fatalf("accepted node whose metadata cannot go on the wire: %v", err)
		}
	})
}

// FuzzNameValidators checks the hand-written validators of keyOf against
// the regular expressions they replace (kept here as the specification).
func FuzzNameValidators(f *testing.F) {
	hostRE := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	subsetRE := regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$`)
	for _, s := range []string{"", "a", "reviews.default.svc.cluster.local", "a-", "-a", "a..b", "a.b.", "A", "v1", "v1.2_x", "_v", "x-", "a.-b", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isHostName(s), hostRE.MatchString(s); got != want {
			t.Errorf("isHostName(%q) = %t, the expression says %t", s, got, want)
		}
		if got, want := isSubsetName(s), subsetRE.MatchString(s); got != want {
			t.Errorf("isSubsetName(%q) = %t, the expression says %t", s, got, want)
		}
	})
}
