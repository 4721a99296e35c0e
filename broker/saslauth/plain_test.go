package saslauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/runnel-dev/runnel/internal/testlog"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "runnel-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestPlainOnlyOverTLS: PLAIN checks the password against the user's SCRAM
// credential over TLS, and is not offered on a plaintext listener.
func TestPlainOnlyOverTLS(t *testing.T) {
	users := &memUsers{}
	users.add(t, SCRAMSHA512, "dora", "dora-pw", 4096)
	users.add(t, SCRAMSHA256, "eve", "eve-pw", 4096)
	mech, err := NewPlain(users)
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr, seen := startMechServerOn(t, ln, new(testlog.Buffer), mech)
	plainAddr, _ := startMechServer(t, new(testlog.Buffer), mech)

	dialTLS := kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	for user, pass := range map[string]string{"dora": "dora-pw", "eve": "eve-pw"} {
		if err := metadataAs(t, tlsAddr, plain.Auth{User: user, Pass: pass}.AsMechanism(), dialTLS); err != nil {
			t.Fatalf("PLAIN as %s over TLS: %v", user, err)
		}
		if id := seen.Load(); id.Name != "User:"+user || id.Mechanism != PlainName {
			t.Fatalf("identity %+v", id)
		}
	}
	for name, err := range map[string]error{
		"wrong password": metadataAs(t, tlsAddr, plain.Auth{User: "dora", Pass: "nope"}.AsMechanism(), dialTLS),
		"unknown user":   metadataAs(t, tlsAddr, plain.Auth{User: "zed", Pass: "x"}.AsMechanism(), dialTLS),
		"other authzid":  metadataAs(t, tlsAddr, plain.Auth{Zid: "eve", User: "dora", Pass: "dora-pw"}.AsMechanism(), dialTLS),
	} {
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
	err = metadataAs(t, plainAddr, plain.Auth{User: "dora", Pass: "dora-pw"}.AsMechanism())
	if !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("PLAIN without TLS: %v, want UNSUPPORTED_SASL_MECHANISM", err)
	}
}

func TestParsePlainMessage(t *testing.T) {
	if z, u, p, err := parsePlainMessage([]byte("\x00u\x00p")); err != nil || z != "" || u != "u" || p != "p" {
		t.Fatalf("%q %q %q %v", z, u, p, err)
	}
	for _, bad := range []string{"", "u\x00p", "\x00\x00p", "\x00u\x00", "a\x00b\x00c\x00d", "\x00\xff\x00p", strings.Repeat("a", maxPlainMessage+1)} {
		if _, _, _, err := parsePlainMessage([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
