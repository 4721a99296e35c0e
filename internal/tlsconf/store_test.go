package tlsconf_test

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/tlsconf"
	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

// echoServer serves TLS on loopback with cfg, echoing what it reads.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*tls.Conn)
	// Round trip, so a refused client certificate (reported after the
	// client's side of the handshake) surfaces here.
	if _, err := tc.Write([]byte("x")); err != nil {
		tc.Close()
		return nil, err
	}
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

func TestRotationByFileReplacement(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Issue(t, "first").Write(t, dir, "server")
	srv, err := tlsconf.Open(tlsconf.Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := srv.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, scfg)
	cli, err := tlsconf.Open(tlsconf.Options{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	open, err := dial(t, addr, cli.ClientConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if cn := open.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "first" {
		t.Fatalf("first connection sees %q", cn)
	}

	ca.Issue(t, "second").Write(t, dir, "server")
	next, err := dial(t, addr, cli.ClientConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if cn := next.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "second" {
		t.Fatalf("connection after the files were replaced sees %q, want second", cn)
	}
	// The connection opened before the rotation keeps working.
	if _, err := open.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(open, b); err != nil || b[0] != 'y' {
		t.Fatalf("old connection after rotation: %q %v", b, err)
	}
}

func TestBrokenReplacementKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	certFile, keyFile := ca.Issue(t, "good").Write(t, dir, "server")
	s, err := tlsconf.Open(tlsconf.Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	// A new certificate whose key has not been written yet.
	if err := os.WriteFile(certFile, ca.Issue(t, "half").CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a certificate with the wrong key succeeded")
	}
	if cn := s.Certificate().Leaf.Subject.CommonName; cn != "good" {
		t.Fatalf("after a failed reload the store presents %q", cn)
	}
	// Once the key arrives the next handshake picks the pair up.
	whole := ca.Issue(t, "whole")
	whole.Write(t, dir, "server")
	if cn := s.Certificate().Leaf.Subject.CommonName; cn != "whole" {
		t.Fatalf("after the key arrived the store presents %q", cn)
	}
}

func TestClientVerification(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "cluster CA")
	foreign := tlstest.NewCA(t, "foreign CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	foreignFile := foreign.WriteCA(t, dir, "foreign.pem")
	sc, sk := ca.Issue(t, "server").Write(t, dir, "server")
	srv, err := tlsconf.Open(tlsconf.Options{CertFile: sc, KeyFile: sk, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := srv.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if scfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("ClientAuth %v with a CA file", scfg.ClientAuth)
	}
	addr := echoServer(t, scfg)

	gc, gk := ca.Issue(t, "good client").Write(t, dir, "good")
	fc, fk := foreign.Issue(t, "foreign client").Write(t, dir, "foreign")
	for _, tc := range []struct {
		name    string
		opts    tlsconf.Options
		wantErr string
	}{
		{"valid client certificate", tlsconf.Options{CertFile: gc, KeyFile: gk, CAFile: caFile}, ""},
		{"no client certificate", tlsconf.Options{CAFile: caFile}, "certificate required"},
		{"foreign client certificate", tlsconf.Options{CertFile: fc, KeyFile: fk, CAFile: caFile}, "unknown certificate authority"},
		{"server not signed by the trusted CA", tlsconf.Options{CertFile: gc, KeyFile: gk, CAFile: foreignFile}, "unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tlsconf.Open(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			c, err := dial(t, addr, s.ClientConfig(""))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("connection succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o644)
	for _, tc := range []struct {
		name string
		opts tlsconf.Options
		want string
	}{
		{"cert without key", tlsconf.Options{CertFile: bad}, "needs its key file"},
		{"client auth without CA", tlsconf.Options{ClientAuth: tls.RequireAnyClientCert}, "needs a CA file"},
		{"CA not PEM", tlsconf.Options{CAFile: bad}, "holds no PEM certificate"},
		{"missing CA", tlsconf.Options{CAFile: filepath.Join(dir, "nope")}, "no such file"},
		{"bad pair", tlsconf.Options{CertFile: bad, KeyFile: bad}, "bad.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsconf.Open(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	s, err := tlsconf.Open(tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ServerConfig(); err == nil {
		t.Fatal("ServerConfig without a certificate succeeded")
	}
}
