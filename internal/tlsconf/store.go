package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// HandshakeTimeout bounds a server-side TLS handshake: a peer that has not
// completed it by then is disconnected.
const HandshakeTimeout = 10 * time.Second

// Options names the files of a Store.
type Options struct {
	// CertFile and KeyFile are a PEM certificate (chain) and its private
	// key. A server needs them; a client sends them as its client
	// certificate when both are set.
	CertFile, KeyFile string
	// CAFile is a PEM bundle of CA certificates: on a server, client
	// certificates must chain to them; on a client, server certificates
	// must (instead of the system roots).
	CAFile string
	// ClientAuth is a server's client-certificate policy. Zero means
	// tls.RequireAndVerifyClientCert when CAFile is set and
	// tls.NoClientCert otherwise.
	ClientAuth tls.ClientAuthType
	// Logger receives reloads and failed reloads (default slog.Default()).
	Logger *slog.Logger
}

// Validate says in plain words what is wrong with o.
func (o Options) Validate() error {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return errors.New("tls: a certificate file needs its key file and a key file its certificate file")
	}
	if o.ClientAuth != tls.NoClientCert && o.CAFile == "" {
		return errors.New("tls: verifying client certificates needs a CA file")
	}
	return nil
}

// Store holds the files' current contents; see the package doc. Its
// methods are safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger
	pool *x509.CertPool // nil without CAFile

	pair atomic.Pointer[loadedPair] // nil without CertFile
	mu   sync.Mutex                 // serializes reloads
}

// loadedPair is a certificate and the file stamps it was read at.
type loadedPair struct {
	cert       *tls.Certificate
	cert0, key fileStamp
}

// fileStamp identifies one version of a file well enough to notice that
// it was replaced.
type fileStamp struct {
	size  int64
	mtime time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime()}, nil
}

// Open reads the files named in opts and returns a Store, or an error that
// names the file that could not be used.
func Open(opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.ClientAuth == tls.NoClientCert && opts.CAFile != "" {
		opts.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{opts: opts, log: opts.Logger}
	if opts.CAFile != "" {
		pool, err := LoadCAPool(opts.CAFile)
		if err != nil {
			return nil, err
		}
		s.pool = pool
	}
	if opts.CertFile != "" {
		lp, err := s.load()
		if err != nil {
			return nil, err
		}
		s.pair.Store(lp)
	}
	return s, nil
}

// LoadCAPool reads a PEM bundle of CA certificates.
func LoadCAPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// load reads the certificate and key with the stamps they had before the
// read: a file replaced during the read is read again at the next check.
func (s *Store) load() (*loadedPair, error) {
	cs, err := stampOf(s.opts.CertFile)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate file: %w", err)
	}
	ks, err := stampOf(s.opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: key file: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(s.opts.CertFile, s.opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s and key %s: %w", s.opts.CertFile, s.opts.KeyFile, err)
	}
	return &loadedPair{cert: &cert, cert0: cs, key: ks}, nil
}

// Reload re-reads the certificate and key now. On error the previous pair
// stays in use.
func (s *Store) Reload() error {
	if s.opts.CertFile == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloadLocked()
}

func (s *Store) reloadLocked() error {
	lp, err := s.load()
	if err != nil {
		s.log.Warn("TLS certificate reload failed; keeping the previous certificate", "cert", s.opts.CertFile, "err", err)
		return err
	}
	s.pair.Store(lp)
	s.log.Info("TLS certificate loaded", "cert", s.opts.CertFile, "subject", lp.cert.Leaf.Subject.String(), "not_after", lp.cert.Leaf.NotAfter)
	return nil
}

// current returns the pair to present, re-reading the files first when
// their stamps changed since the last load.
func (s *Store) current() *tls.Certificate {
	lp := s.pair.Load()
	if lp == nil {
		return nil
	}
	cs, cerr := stampOf(s.opts.CertFile)
	ks, kerr := stampOf(s.opts.KeyFile)
	if cerr != nil || kerr != nil || (cs == lp.cert0 && ks == lp.key) {
		// Unchanged, or missing mid-replacement: keep what is loaded.
		return lp.cert
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if lp2 := s.pair.Load(); lp2 != lp {
		return lp2.cert // another handshake reloaded meanwhile
	}
	if s.reloadLocked() != nil {
		// Keep the old stamps, so the next handshake tries again.
		return lp.cert
	}
	return s.pair.Load().cert
}

// Certificate returns the certificate a new connection presents now (nil
// without CertFile).
func (s *Store) Certificate() *tls.Certificate { return s.current() }
