// Package tlsconf turns certificate, key and CA files into *tls.Config
// values for Runnel's listeners and outgoing connections, and rotates the
// certificate without a restart.
//
// A Store holds the certificate and key it read last. Every TLS handshake
// (GetCertificate on a server, GetClientCertificate on a client) first
// compares the files' size and modification time with what was loaded and
// re-reads them when they differ, so replacing the files is enough: the
// next connection uses the new certificate, while connections already
// established keep the one they negotiated. Store.Reload does the same on
// demand (the command line calls it on SIGHUP). A pair that does not load
// (a key that does not match its certificate, as while the two files are
// being replaced one after the other) is logged and the previous pair stays
// in use; the next handshake tries again.
//
// The CA file is read once, when the Store opens: on a server it is the
// pool client certificates must chain to (ClientAuth then defaults to
// tls.RequireAndVerifyClientCert), on a client the pool server certificates
// must chain to (RootCAs). Changing the CA takes a restart.
//
// Servers that speak TLS to clients which may not (a plaintext Kafka client
// on an SSL listener) bound the handshake with HandshakeTimeout so such a
// client gets a closed connection rather than a hang.
package tlsconf
