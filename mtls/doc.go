// Package mtls is the certificate machinery of Istio's mTLS for a process
// with no sidecar: workload certificates from the files Istio's agent
// writes, reloaded as they rotate; SPIFFE identities; the tls.Config of a
// client originating TLS as a DestinationRule's tls settings say (SIMPLE,
// MUTUAL, ISTIO_MUTUAL); and the tls.Config and gRPC credentials of a
// server that accepts mesh mTLS only (PeerAuthentication STRICT) and tells
// its handlers who called.
//
// # Use
//
//	src, err := mtls.NewFileSource(mtls.IstioFiles(mtls.DefaultDir))
//	defer src.Close()
//
//	// Server: mesh mTLS only; handlers read the caller's SPIFFE ID.
//	cfg, err := mtls.ServerConfig(src, mtls.ServerOptions{})
//	srv := &http.Server{TLSConfig: cfg, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		id, _ := mtls.PeerID(r) // spiffe://cluster.local/ns/default/sa/productpage
//	})}
//	go srv.ServeTLS(ln, "", "")
//
//	// Client: ISTIO_MUTUAL to the reviews service.
//	ccfg, err := mtls.ClientConfig(mtls.ClientOptions{
//		Mode:            mtls.IstioMutual,
//		Source:          src,
//		SNI:             mtls.IstioSNI(9080, "", "reviews.default.svc.cluster.local"),
//		SubjectAltNames: []string{"spiffe://cluster.local/ns/default/sa/reviews"},
//	})
//	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg, ForceAttemptHTTP2: true}}
//
// gRPC servers take [ServerCredentials] and find the caller with
// [PeerIDFromContext]; gRPC clients wrap [ClientConfig]'s config in
// credentials.NewTLS.
//
// # Certificates
//
// A proxyless workload's agent (Istio's grpc-agent injection template)
// writes cert-chain.pem, key.pem and root-cert.pem into [DefaultDir],
// /var/lib/istio/data; older templates mounted them at /etc/certs.
// [NewFileSource] loads and validates them, then polls them every refresh
// interval (15 minutes, the interval Istio's agent gives gRPC's
// file_watcher provider) on an injectable clock. A changed set of files is
// used only once it is whole — every part parses and the key matches the
// leaf — so a rotation caught half written keeps the last good pair and is
// reported through [Source.Err] and [WithOnReload]. A handshake takes the
// pair current when it picks its certificate and keeps it: handshakes in
// flight finish with the old pair, new ones get the new. [NewSource]
// serves material held in memory
// ([ParsePEM] parses it), for tests and for DestinationRule files read
// elsewhere.
//
// # Verification
//
// Peers are verified in tls.Config.VerifyConnection (so on resumed
// sessions too), at the source's clock, against the roots and CRLs current
// at the handshake. ISTIO_MUTUAL and the server side follow the SPIFFE
// rules: the peer's leaf carries exactly one URI SAN, a SPIFFE ID with a
// path, is not a CA, and chains to the roots; server names are not checked.
// SIMPLE and MUTUAL check the chain (system roots when none are given), the
// subjectAltNames, or — with neither sni nor subjectAltNames — the host
// name, as Istio's auto_san_validation. subjectAltNames match exactly, as
// Envoy matches them, against URI, DNS (a certificate's wildcard covering
// one label), IP and e-mail SANs. With CRLs, every certificate of the
// chain must be covered by a current CRL from its issuer and not be listed
// on it, as Envoy requires. A refusal is a [*HandshakeError] whose [Cause]
// says why: [UnknownAuthority], [SANMismatch] (expected against presented
// SANs), [Expired] (validity period against the time), [NoClientCert],
// [Revoked] or [Other].
package mtls
