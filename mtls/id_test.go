package mtls_test

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-go/switchyard/mtls"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseIDAcceptsSPIFFEIDs(t *testing.T) {
	for _, s := range []string{
		"spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
		"spiffe://example.org",
		"spiffe://a_b-c.d9/Path/With.Dots/and_under-score",
	} {
		id, err := mtls.ParseID(s)
		require.NoError(t, err, s)
		assert.Equal(t, s, id.String())
		assert.NotEqual(t, mtls.ID{}, id)
	}
}

func TestParseIDRejectsWithTheReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://cluster.local/ns/a/sa/b", `does not start with "spiffe://"`},
		{"SPIFFE://cluster.local/ns/a/sa/b", `does not start with "spiffe://"`},
		{"spiffe:///ns/a/sa/b", "trust domain is empty"},
		{"spiffe://Cluster.local/ns/a", `has 'C' at byte 0`},
		{"spiffe://cluster.local:8080/ns/a", `has ':' at byte 13`},
		{"spiffe://user@cluster.local/ns/a", `has '@'`},
		{"spiffe://cluster.local/ns//sa/b", "empty segment"},
		{"spiffe://cluster.local/ns/a/", "empty segment"},
		{"spiffe://cluster.local/", "empty segment"},
		{"spiffe://cluster.local/ns/../sa", `segment ".." is not allowed`},
		{"spiffe://cluster.local/ns/./sa", `segment "." is not allowed`},
		{"spiffe://cluster.local/ns/a?x=1", `has '?'`},
		{"spiffe://cluster.local/ns/a#frag", `has '#'`},
		{"spiffe://cluster.local/ns/a%20b", `has '%'`},
		{"spiffe://" + strings.Repeat("a", 256), "longer than 255 bytes"},
		{"spiffe://td/" + strings.Repeat("a", 2048), "longer than 2048 bytes"},
	} {
		_, err := mtls.ParseID(tc.in)
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want, tc.in)
		if len(tc.in) < 100 {
			assert.Contains(t, err.Error(), tc.in, "the error names the input")
		}
	}
}

func TestIstioIDAndWorkload(t *testing.T) {
	id, err := mtls.IstioID("cluster.local", "default", "bookinfo-reviews")
	require.NoError(t, err)
	assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", id.String())
	assert.Equal(t, "cluster.local", id.TrustDomain())
	assert.Equal(t, "/ns/default/sa/bookinfo-reviews", id.Path())
	ns, sa, ok := id.Workload()
	assert.True(t, ok)
	assert.Equal(t, "default", ns)
	assert.Equal(t, "bookinfo-reviews", sa)

	parsed, err := mtls.ParseID(id.String())
	require.NoError(t, err)
	assert.Equal(t, id, parsed, "IDs compare with ==")

	for _, s := range []string{"spiffe://td", "spiffe://td/ns/a", "spiffe://td/ns/a/sa/b/c", "spiffe://td/sa/a/ns/b"} {
		id, err := mtls.ParseID(s)
		require.NoError(t, err)
		_, _, ok := id.Workload()
		assert.False(t, ok, s)
	}

	_, err = mtls.IstioID("cluster.local", "a/b", "sa")
	assert.ErrorContains(t, err, `namespace "a/b"`)
	_, err = mtls.IstioID("cluster.local", "ns", "")
	assert.ErrorContains(t, err, `service account "": empty segment`)
	_, err = mtls.IstioID("Cluster.Local", "ns", "sa")
	assert.ErrorContains(t, err, `trust domain "Cluster.Local"`)
	assert.Equal(t, "", mtls.ID{}.String())
}

func TestIDFromCert(t *testing.T) {
	uris := func(ss ...string) *x509.Certificate {
		c := &x509.Certificate{}
		for _, s := range ss {
			u, err := url.Parse(s)
			require.NoError(t, err)
			c.URIs = append(c.URIs, u)
		}
		return c
	}
	id, err := mtls.IDFromCert(uris(spiffe("default", "reviews")))
	require.NoError(t, err)
	assert.Equal(t, spiffe("default", "reviews"), id.String())

	for _, tc := range []struct {
		cert *x509.Certificate
		want string
	}{
		{nil, "no certificate"},
		{uris(), "has no URI SAN"},
		{uris(spiffe("a", "b"), spiffe("c", "d")), "has 2 URI SANs"},
		{uris("https://example.com/x"), `does not start with "spiffe://"`},
		{uris("spiffe://cluster.local"), "names trust domain spiffe://cluster.local, not a workload"},
	} {
		_, err := mtls.IDFromCert(tc.cert)
		assert.ErrorContains(t, err, tc.want)
	}
}

func TestIstioSNI(t *testing.T) {
	assert.Equal(t, "outbound_.9080_.v1_.reviews.default.svc.cluster.local", mtls.IstioSNI(9080, "v1", "reviews.default.svc.cluster.local"))
	assert.Equal(t, "outbound_.9080_._.reviews.default.svc.cluster.local", mtls.IstioSNI(9080, "", "reviews.default.svc.cluster.local"))
}
