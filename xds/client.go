package xds

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/switchyard-go/switchyard/internal/xdsclient"
)

// clientConfig is the ADS client's configuration for the bootstrap's first
// server.
func (b *Bootstrap) clientConfig(types []xdsclient.ResourceType) (xdsclient.Config, error) {
	if len(b.Servers) == 0 {
		return xdsclient.Config{}, errors.New("xds: bootstrap has no server")
	}
	s := b.Servers[0]
	creds, err := s.Credentials.transportCredentials()
	if err != nil {
		return xdsclient.Config{}, fmt.Errorf("xds: xds_servers[0].channel_creds: %w", err)
	}
	node, err := b.Node.proto()
	if err != nil {
		return xdsclient.Config{}, fmt.Errorf("xds: node: %w", err)
	}
	return xdsclient.Config{
		Server: xdsclient.ServerConfig{
			URI:                    s.URI,
			DialOptions:            []grpc.DialOption{grpc.WithTransportCredentials(creds)},
			IgnoreResourceDeletion: ignoresResourceDeletion(s),
		},
		Node:          node,
		ResourceTypes: types,
	}, nil
}

// proto is the node as the xDS protocol carries it.
func (n Node) proto() (*corev3.Node, error) {
	p := &corev3.Node{Id: n.ID, Cluster: n.Cluster}
	if n.Locality != (Locality{}) {
		p.Locality = &corev3.Locality{Region: n.Locality.Region, Zone: n.Locality.Zone, SubZone: n.Locality.SubZone}
	}
	if n.Metadata != nil {
		md, err := structpb.NewStruct(n.Metadata)
		if err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		p.Metadata = md
	}
	return p, nil
}

// transportCredentials secures the connection to the control plane. For
// "tls", the files are checked now, for an early and precise error, and read
// again at every handshake, so that rotated certificates are used.
func (c ChannelCredentials) transportCredentials() (credentials.TransportCredentials, error) {
	switch c.Type {
	case "insecure":
		return insecure.NewCredentials(), nil
	case "tls":
	default:
		return nil, fmt.Errorf("type %q is not supported", c.Type)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CertificateFile != "" {
		if _, err := tls.LoadX509KeyPair(c.CertificateFile, c.PrivateKeyFile); err != nil {
			return nil, fmt.Errorf("config.certificate_file, private_key_file: %w", err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(c.CertificateFile, c.PrivateKeyFile)
			if err != nil {
				return nil, err
			}
			return &cert, nil
		}
	}
	if c.CACertificateFile != "" {
		if _, err := loadRoots(c.CACertificateFile); err != nil {
			return nil, fmt.Errorf("config.ca_certificate_file: %w", err)
		}
		// The standard verification reads its roots once; this one reads the
		// file at each handshake and otherwise verifies exactly as the
		// standard one: the chain to the roots, and the server name.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			roots, err := loadRoots(c.CACertificateFile)
			if err != nil {
				return err
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("xds: the control plane presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, cert := range cs.PeerCertificates[1:] {
				inter.AddCert(cert)
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: roots, Intermediates: inter, DNSName: cs.ServerName,
			})
			return err
		}
	}
	return credentials.NewTLS(cfg), nil
}

// loadRoots reads a PEM file of CA certificates.
func loadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
