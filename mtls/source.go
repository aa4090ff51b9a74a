package mtls

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-go/switchyard/internal/clock"
)

// DefaultDir is where Istio's agent writes a proxyless workload's
// certificates (the grpc-agent injection template's OUTPUT_CERTS).
// Older injection templates mounted them at /etc/certs.
const DefaultDir = "/var/lib/istio/data"

// DefaultRefreshInterval is how often a file source reads its files again:
// the refresh_interval Istio's agent writes into a proxyless workload's
// gRPC bootstrap for its file_watcher certificate provider.
const DefaultRefreshInterval = 15 * time.Minute

// Material is certificate material held in memory, for [NewSource].
type Material struct {
	// Certificate is the chain the workload presents, leaf first, and its
	// private key. Nil for a source that only verifies peers (SIMPLE).
	Certificate *tls.Certificate
	// Roots are the certificate authorities a peer's chain must lead to.
	// Empty means the system's roots, which only SIMPLE and MUTUAL
	// origination accept.
	Roots []*x509.Certificate
	// CRLs are revocation lists (a DestinationRule's caCrl). When there are
	// any, every certificate of a peer's chain must be covered by an
	// unexpired list from its issuer, as Envoy requires.
	CRLs []*x509.RevocationList
}

// ParsePEM parses PEM material as Istio's agent and DestinationRule files
// hold it: certChain (cert-chain.pem, clientCertificate) is one or more
// CERTIFICATE blocks, leaf first; key (key.pem, privateKey) a PKCS #8,
// PKCS #1 or SEC 1 private key matching the leaf; roots (root-cert.pem,
// caCertificates) CERTIFICATE blocks; crl (caCrl) X509 CRL blocks. Each may
// be nil, but certChain and key go together. Errors name the part and the
// problem.
func ParsePEM(certChain, key, roots, crl []byte) (Material, error) {
	return parseMaterial(pemInput{
		{name: "cert chain", data: certChain, given: certChain != nil},
		{name: "key", data: key, given: key != nil},
		{name: "roots", data: roots, given: roots != nil},
		{name: "CRL", data: crl, given: crl != nil},
	})
}

// pemInput is the four parts of material in ParsePEM's order, each with
// the name errors give it (a part name or a file path).
type pemInput [4]struct {
	name  string
	data  []byte
	given bool
}

const (
	partChain = iota
	partKey
	partRoots
	partCRL
)

func parseMaterial(in pemInput) (Material, error) {
	var m Material
	chain, key, roots, crl := in[partChain], in[partKey], in[partRoots], in[partCRL]
	if chain.given != key.given {
		if chain.given {
			return m, fmt.Errorf("mtls: %s is given without a private key", chain.name)
		}
		return m, fmt.Errorf("mtls: %s is given without a certificate chain", key.name)
	}
	if chain.given {
		certs, err := parseCerts(chain.name, chain.data)
		if err != nil {
			return m, err
		}
		priv, err := parseKey(key.name, key.data)
		if err != nil {
			return m, err
		}
		pub, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(certs[0].PublicKey) {
			return m, fmt.Errorf("mtls: %s does not match the leaf certificate %s of %s (a rotation half written?)", key.name, certName(certs[0]), chain.name)
		}
		c := &tls.Certificate{PrivateKey: priv, Leaf: certs[0]}
		for _, cert := range certs {
			c.Certificate = append(c.Certificate, cert.Raw)
		}
		m.Certificate = c
	}
	if roots.given {
		certs, err := parseCerts(roots.name, roots.data)
		if err != nil {
			return m, err
		}
		m.Roots = certs
	}
	if crl.given {
		lists, err := parseCRLs(crl.name, crl.data)
		if err != nil {
			return m, err
		}
		m.CRLs = lists
	}
	return m, nil
}

func parseCerts(name string, data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for i := 1; ; i++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("mtls: %s: PEM block %d is %q, want CERTIFICATE", name, i, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("mtls: %s: certificate %d: %v", name, i, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("mtls: %s: no PEM CERTIFICATE block found", name)
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return nil, fmt.Errorf("mtls: %s: data after certificate %d is not PEM (a truncated file?)", name, len(certs))
	}
	return certs, nil
}

func parseKey(name string, data []byte) (crypto.Signer, error) {
	b, rest := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("mtls: %s: no PEM private key block found", name)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("mtls: %s: more than one PEM block; want one private key", name)
	}
	var (
		k   any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("mtls: %s: PEM block is %q, want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY", name, b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("mtls: %s: %v", name, err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	default:
		return nil, fmt.Errorf("mtls: %s: unsupported private key type %T", name, k)
	}
}

func parseCRLs(name string, data []byte) ([]*x509.RevocationList, error) {
	var lists []*x509.RevocationList
	for i := 1; ; i++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("mtls: %s: PEM block %d is %q, want X509 CRL", name, i, b.Type)
		}
		l, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("mtls: %s: CRL %d: %v", name, i, err)
		}
		lists = append(lists, l)
	}
	if len(lists) == 0 {
		return nil, fmt.Errorf("mtls: %s: no PEM X509 CRL block found", name)
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return nil, fmt.Errorf("mtls: %s: data after CRL %d is not PEM (a truncated file?)", name, len(lists))
	}
	return lists, nil
}

// Files names the PEM files of a file source; an empty name leaves that
// part out. For a DestinationRule's SIMPLE or MUTUAL settings they are
// clientCertificate, privateKey, caCertificates and caCrl.
type Files struct {
	CertChain string // the chain presented, leaf first (cert-chain.pem)
	Key       string // the leaf's private key (key.pem)
	Roots     string // the roots peers are verified against (root-cert.pem)
	CRL       string // revocation lists (caCrl)
}

// IstioFiles returns the files Istio's agent writes for a proxyless
// workload into dir: cert-chain.pem, key.pem and root-cert.pem. An empty
// dir means [DefaultDir].
func IstioFiles(dir string) Files {
	if dir == "" {
		dir = DefaultDir
	}
	return Files{
		CertChain: filepath.Join(dir, "cert-chain.pem"),
		Key:       filepath.Join(dir, "key.pem"),
		Roots:     filepath.Join(dir, "root-cert.pem"),
	}
}

// Option configures a [Source].
type Option interface{ apply(*options) }

type options struct {
	clock    clock.Clock
	interval time.Duration
	onReload func(error)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithClock makes the source poll its files on c and verify peers'
// validity periods at c's time. The default is the system clock; tests
// can pass meshtest.NewClock's fake.
func WithClock(c clock.Clock) Option { return optionFunc(func(o *options) { o.clock = c }) }

// WithRefreshInterval sets how often a file source reads its files again;
// it must be positive. The default is [DefaultRefreshInterval].
func WithRefreshInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.interval = d })
}

// WithOnReload makes a file source call f after each poll that found its
// files changed, or their problem changed: with nil when it serves what the
// files now hold, or with the problem (it keeps its last good material).
// f runs on the polling goroutine, one call at a time; it may call the
// source's methods.
func WithOnReload(f func(err error)) Option {
	return optionFunc(func(o *options) { o.onReload = f })
}

// Source supplies a workload's certificate and the roots and revocation
// lists its peers are verified against, to the tls.Configs of
// [ClientConfig] and [ServerConfig]. A handshake presents the chain and
// key current when it picks its certificate, always as one pair, and
// verifies its peer against the roots and CRLs current when it verifies;
// a reload replaces the material whole and changes nothing a handshake
// already holds. A Source is safe for concurrent use; Close stops a file
// source's polling.
type Source struct {
	cur   atomic.Pointer[material]
	clock clock.Clock

	// File sources only.
	files    Files
	interval time.Duration
	onReload func(error)

	pollMu  sync.Mutex // serialises polls; Close waits on it
	last    [4][]byte  // the contents last read, in pemInput order
	lastErr error      // what was wrong with last, if anything

	mu     sync.Mutex // guards the fields below
	timer  clock.Timer
	closed bool
	err    error
}

// material is the parsed, immutable content of a source.
type material struct {
	cert  *tls.Certificate
	roots []*x509.Certificate
	pool  *x509.CertPool // nil: the system roots
	crls  []*x509.RevocationList
}

func newMaterial(m Material) (*material, error) {
	out := &material{roots: slices.Clone(m.Roots), crls: slices.Clone(m.CRLs)}
	if m.Certificate != nil {
		c := *m.Certificate // a copy the caller cannot change
		c.Certificate = slices.Clone(c.Certificate)
		out.cert = &c
		if len(c.Certificate) == 0 || c.PrivateKey == nil {
			return nil, errors.New("mtls: the certificate needs a chain and a private key")
		}
		switch {
		case c.Leaf == nil:
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				return nil, fmt.Errorf("mtls: leaf certificate: %v", err)
			}
			c.Leaf = leaf
		case !bytes.Equal(c.Leaf.Raw, c.Certificate[0]):
			return nil, errors.New("mtls: the certificate's Leaf is not the first certificate of its chain")
		}
		signer, ok := c.PrivateKey.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("mtls: private key of type %T cannot sign", c.PrivateKey)
		}
		pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(c.Leaf.PublicKey) {
			return nil, fmt.Errorf("mtls: the private key does not match the leaf certificate %s", certName(c.Leaf))
		}
	}
	if len(m.Roots) > 0 {
		out.pool = x509.NewCertPool()
		for i, r := range m.Roots {
			if r == nil {
				return nil, fmt.Errorf("mtls: root %d is nil", i+1)
			}
			out.pool.AddCert(r)
		}
	}
	for i, l := range m.CRLs {
		if l == nil {
			return nil, fmt.Errorf("mtls: CRL %d is nil", i+1)
		}
	}
	return out, nil
}

func newOptions(opts []Option) options {
	o := options{clock: clock.Real{}, interval: DefaultRefreshInterval}
	for _, opt := range opts {
		opt.apply(&o)
	}
	return o
}

// NewSource returns a source that serves m for ever; only [WithClock]
// applies to it.
func NewSource(m Material, opts ...Option) (*Source, error) {
	mat, err := newMaterial(m)
	if err != nil {
		return nil, err
	}
	o := newOptions(opts)
	s := &Source{clock: o.clock}
	s.cur.Store(mat)
	return s, nil
}

// NewFileSource reads and validates the files f names, then reads them
// again every refresh interval. When their content changes it validates the
// new material and, if it is whole (the key matches the leaf, every part
// parses), serves it to new handshakes; otherwise — say, a rotation caught
// half written — it keeps serving the last good material and reports the
// problem through [Source.Err] and [WithOnReload] until a later read finds
// the files whole again. Errors name the file and the problem. Call Close
// to stop polling.
func NewFileSource(f Files, opts ...Option) (*Source, error) {
	o := newOptions(opts)
	if o.interval <= 0 {
		return nil, fmt.Errorf("mtls: refresh interval %v is not positive", o.interval)
	}
	if f == (Files{}) {
		return nil, errors.New("mtls: no files named")
	}
	s := &Source{clock: o.clock, files: f, interval: o.interval, onReload: o.onReload}
	data, err := s.read()
	if err != nil {
		return nil, err
	}
	mat, err := s.parse(data)
	if err != nil {
		return nil, err
	}
	s.last = data
	s.cur.Store(mat)
	s.mu.Lock()
	s.timer = s.clock.AfterFunc(s.interval, s.poll)
	s.mu.Unlock()
	return s, nil
}

func (s *Source) paths() [4]string {
	return [4]string{s.files.CertChain, s.files.Key, s.files.Roots, s.files.CRL}
}

func (s *Source) read() ([4][]byte, error) {
	var data [4][]byte
	for i, p := range s.paths() {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return data, fmt.Errorf("mtls: %w", err)
		}
		data[i] = b
	}
	return data, nil
}

func (s *Source) parse(data [4][]byte) (*material, error) {
	var in pemInput
	for i, p := range s.paths() {
		in[i].name, in[i].data, in[i].given = p, data[i], p != ""
	}
	m, err := parseMaterial(in)
	if err != nil {
		return nil, err
	}
	return newMaterial(m)
}

// poll reads the files once, swaps the material in if it changed and is
// whole, and schedules the next poll.
func (s *Source) poll() {
	changed, err := s.reload()
	if changed && s.onReload != nil {
		s.onReload(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.timer = s.clock.AfterFunc(s.interval, s.poll)
	}
}

func (s *Source) reload() (report bool, err error) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false, nil
	}
	changed := false
	data, err := s.read()
	if err == nil {
		if !sameData(data, s.last) {
			s.last, changed = data, true
			mat, perr := s.parse(data)
			if perr == nil {
				s.cur.Store(mat)
			}
			s.lastErr = perr
		}
		err = s.lastErr
	}
	s.mu.Lock()
	prev := s.err
	s.err = err
	s.mu.Unlock()
	return changed || !sameErr(prev, err), err
}

func sameData(a, b [4][]byte) bool {
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// Err returns the problem the last poll found — a file that could not be
// read, or material that is not whole — while the source keeps serving its
// last good material; nil when the material in use is what the files hold.
func (s *Source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops a file source's polling and waits for a poll in progress to
// finish; it does nothing for other sources. The source keeps serving its
// last material.
func (s *Source) Close() error {
	s.pollMu.Lock() // waits for a poll in progress
	defer s.pollMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	return nil
}

func (s *Source) material() *material { return s.cur.Load() }
