package tlsconf

import (
	"crypto/tls"
	"errors"
)

// ServerConfig returns a server configuration that presents the Store's
// current certificate and applies its client-certificate policy. The
// Store must have a certificate.
func (s *Store) ServerConfig() (*tls.Config, error) {
	if s.pair.Load() == nil {
		return nil, errors.New("tls: a server needs a certificate and key")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.current(), nil
		},
		ClientAuth: s.opts.ClientAuth,
		ClientCAs:  s.pool,
	}, nil
}

// ClientConfig returns a client configuration that verifies servers
// against the Store's CA (the system roots without one) and, when the
// Store has a certificate, presents it as the client certificate.
// serverName, if set, is the name server certificates must carry;
// otherwise crypto/tls takes it from the address dialled.
func (s *Store) ClientConfig(serverName string) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    s.pool,
		ServerName: serverName,
	}
	if s.pair.Load() != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.current(), nil
		}
	}
	return cfg
}
