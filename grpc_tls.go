package switchyard

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/resolver"

	"github.com/switchyard-go/switchyard/internal/cluster"
)

// TransportCredentials returns the gRPC transport credentials that make a
// ClientConn originate TLS per endpoint as the endpoints' DestinationRules
// say, for grpc.NewClient(target, append(mesh.DialOptions(),
// grpc.WithTransportCredentials(mesh.TransportCredentials(fallback)))...).
// Connections to endpoints whose cluster has no tls settings (or DISABLE),
// and to hosts the mesh does not know, handshake with fallback, such as
// insecure.NewCredentials() or the caller's own TLS credentials.
//
// gRPC gives a ClientConn one set of credentials, while a DestinationRule
// gives each cluster (host, subset, port) its own TLS, and one ClientConn
// reaches several clusters. So the mesh's resolver lists each endpoint
// once per TLS policy that reaches it, with the cluster's compiled policy
// in the address's attributes; its balancer keeps a connection per (address,
// policy) and picks, for a call, among the connections of its cluster's
// policy; and these credentials read the policy back from the handshake's
// attributes (credentials.ClientHandshakeInfo), as gRPC's own xDS
// credentials do. An address never shares a connection between policies,
// and a policy change reconnects only the endpoints it changes. A host
// whose rules originate TLS, dialled with other credentials, fails its
// calls with UNAVAILABLE naming this method, rather than going out in
// plaintext.
func (m *Mesh) TransportCredentials(fallback credentials.TransportCredentials) credentials.TransportCredentials {
	return &meshCredentials{fallback: fallback}
}

// meshCredentials originate each connection's TLS as the policy in its
// address's attributes says, or hand it to fallback.
type meshCredentials struct {
	fallback credentials.TransportCredentials
}

// tlsAttr is the attributes key of an address's *cluster.TLS.
type tlsAttr struct{}

// addressTLS returns the TLS policy the resolver gave a, or nil.
func addressTLS(a resolver.Address) *cluster.TLS {
	t, _ := a.Attributes.Value(tlsAttr{}).(*cluster.TLS)
	return t
}

// withTLS returns a with t in its attributes.
func withTLS(a resolver.Address, t *cluster.TLS) resolver.Address {
	if t != nil {
		a.Attributes = attributes.New(tlsAttr{}, t)
	}
	return a
}

func (c *meshCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	info := credentials.ClientHandshakeInfoFromContext(ctx)
	t, _ := info.Attributes.Value(tlsAttr{}).(*cluster.TLS)
	if t == nil {
		if c.fallback == nil {
			return conn, insecureInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
		}
		return c.fallback.ClientHandshake(ctx, authority, conn)
	}
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		host = authority
	}
	protos := alpnH2
	if t.Mode == "ISTIO_MUTUAL" {
		protos = alpnInMeshH2
	}
	cfg, err := t.Config(host, protos)
	if err != nil {
		return nil, nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, handshakeError{err}
	}
	return tc, credentials.TLSInfo{State: tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

var errServerSide = errors.New("switchyard: the mesh's transport credentials are for clients; serve with mtls.ServerCredentials")

func (c *meshCredentials) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errServerSide
}

// Info says "tls": calls over these credentials may carry per-RPC
// credentials that require transport security (gRPC checks the level each
// connection reports, which is NoSecurity for a plaintext one).
func (c *meshCredentials) Info() credentials.ProtocolInfo {
	info := credentials.ProtocolInfo{SecurityProtocol: "tls"}
	if c.fallback != nil {
		info = c.fallback.Info()
		info.SecurityProtocol = "tls"
	}
	return info
}

func (c *meshCredentials) Clone() credentials.TransportCredentials {
	cp := *c
	if c.fallback != nil {
		cp.fallback = c.fallback.Clone()
	}
	return &cp
}

func (c *meshCredentials) OverrideServerName(name string) error {
	if c.fallback != nil {
		//lint:ignore SA1019 part of the interface
		return c.fallback.OverrideServerName(name)
	}
	return nil
}

// insecureInfo is the AuthInfo of a plaintext connection.
type insecureInfo struct{ credentials.CommonAuthInfo }

func (insecureInfo) AuthType() string { return "insecure" }
