package main

import (
	"context"
	"crypto/tls"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/internal/tlsconf"
)

// tlsFiles are a certificate, its key and a CA bundle named on the command
// line, for one kind of connection.
type tlsFiles struct {
	cert, key, ca string
	// flags are the flag names, for error messages.
	certFlag, keyFlag, caFlag string
}

// register adds --<prefix>cert, --<prefix>key (prefix "tls-" gives
// --tls-cert) and --<caFlag> to fs.
func (f *tlsFiles) register(fs *flag.FlagSet, prefix, caFlag, certUsage, caUsage string) {
	f.certFlag, f.keyFlag, f.caFlag = prefix+"cert", prefix+"key", caFlag
	fs.StringVar(&f.cert, f.certFlag, "", certUsage+" (PEM `file`; re-read when it changes or on SIGHUP)")
	fs.StringVar(&f.key, f.keyFlag, "", "private key of --"+f.certFlag+" (PEM `file`)")
	fs.StringVar(&f.ca, f.caFlag, "", caUsage+" (PEM `file`)")
}

// set reports whether any of the files is given.
func (f *tlsFiles) set() bool { return f.cert != "" || f.key != "" || f.ca != "" }

// open reads the files (nil when none is given), refusing a certificate
// without its key and, when needCert, a CA without a certificate.
func (f *tlsFiles) open(log *slog.Logger, needCert bool) (*tlsconf.Store, error) {
	if !f.set() {
		return nil, nil
	}
	if (f.cert == "") != (f.key == "") {
		return nil, usagef("--%s and --%s go together", f.certFlag, f.keyFlag)
	}
	if needCert && f.cert == "" {
		return nil, usagef("--%s needs --%s and --%s", f.caFlag, f.certFlag, f.keyFlag)
	}
	s, err := tlsconf.Open(tlsconf.Options{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, Logger: log.With("tls", f.certFlag)})
	if err != nil {
		return nil, usagef("--%s/--%s/--%s: %v", f.certFlag, f.keyFlag, f.caFlag, err)
	}
	return s, nil
}

// serverConfig opens the files as a server's (nil when none is given).
func (f *tlsFiles) serverConfig(log *slog.Logger) (*tls.Config, *tlsconf.Store, error) {
	s, err := f.open(log, true)
	if s == nil || err != nil {
		return nil, nil, err
	}
	cfg, err := s.ServerConfig()
	if err != nil {
		return nil, nil, usagef("--%s: %v", f.certFlag, err)
	}
	return cfg, s, nil
}

// reloadOnHUP re-reads the stores' certificates on every SIGHUP until ctx
// ends. The returned function stops it and waits.
func reloadOnHUP(ctx context.Context, log *slog.Logger, stores ...*tlsconf.Store) (stop func()) {
	var live []*tlsconf.Store
	for _, s := range stores {
		if s != nil {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return func() {}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading TLS certificates")
				for _, s := range live {
					_ = s.Reload() // logged by the store; the old pair stays
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// openPeerTLS reads --peer-tls-cert, --peer-tls-key and --peer-ca into
// cfg.PeerTLS (all three or none) and returns the store to reload.
func openPeerTLS(cfg *broker.NodeConfig, f *tlsFiles, log *slog.Logger) (*tlsconf.Store, error) {
	if !f.set() {
		return nil, nil
	}
	if f.cert == "" || f.key == "" || f.ca == "" {
		return nil, usagef("--%s, --%s and --%s go together", f.certFlag, f.keyFlag, f.caFlag)
	}
	s, err := f.open(log, true)
	if err != nil {
		return nil, err
	}
	srv, err := s.ServerConfig()
	if err != nil {
		return nil, usagef("--%s: %v", f.certFlag, err)
	}
	cfg.PeerTLS = &broker.PeerTLS{Server: srv, Client: s.ClientConfig("")}
	return s, nil
}
