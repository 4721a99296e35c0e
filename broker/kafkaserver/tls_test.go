package kafkaserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

// tlsFixture is a test CA, a server certificate and the client config that
// trusts it.
type tlsFixture struct {
	ca     *tlstest.CA
	server *tls.Config
	client *tls.Config
}

func newTLSFixture(t testing.TB, clientAuth tls.ClientAuthType) *tlsFixture {
	ca := tlstest.NewCA(t, "kafkaserver test CA")
	return &tlsFixture{
		ca: ca,
		server: &tls.Config{
			Certificates: []tls.Certificate{ca.Issue(t, "broker").TLSCertificate(t)},
			ClientAuth:   clientAuth, ClientCAs: ca.Pool(),
		},
		client: &tls.Config{RootCAs: ca.Pool()},
	}
}

// dialTLS dials addr with cfg and wraps the connection as a rawClient.
func dialTLS(t testing.TB, addr string, cfg *tls.Config) *rawClient {
	t.Helper()
	c := dialRaw(t, "tcp", addr)
	cfg = cfg.Clone()
	cfg.ServerName = "127.0.0.1"
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	c.conn = tc
	return c
}

// TestTLSListener: requests over TLS are served, file regions of a fetch
// are copied through TLS (not sendfile), and the handler sees the
// listener name and the verified client certificate.
func TestTLSListener(t *testing.T) {
	fx := newFetchFixture(t)
	tf := newTLSFixture(t, tls.VerifyClientCertIfGiven)
	var seen ConnInfo
	h := HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		seen = req.Conn
		return fx.handle(ctx, req)
	})
	s, addr := startServer(t, Config{Handler: h, TLS: tf.server, ListenerName: "EXTERNAL"})
	client := tf.client.Clone()
	client.Certificates = []tls.Certificate{tf.ca.Issue(t, "client-7").TLSCertificate(t)}
	c := dialTLS(t, addr, client)
	for _, v := range []int16{4, 12} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(v)
		fx.check(t, c.recv(req, c.send(req)).(*kmsg.FetchResponse))
	}
	if got := s.SendfileBytes(); got != 0 {
		t.Fatalf("SendfileBytes = %d over TLS", got)
	}
	if seen.Listener != "EXTERNAL" || seen.TLS == nil || len(seen.TLS.VerifiedChains) == 0 ||
		seen.TLS.PeerCertificates[0].Subject.CommonName != "client-7" {
		t.Fatalf("handler saw listener %q, TLS %+v", seen.Listener, seen.TLS)
	}
}

// TestTLSListenerFranzGo: franz-go connects over TLS, verifying the server
// against the test CA, and fails against a CA it does not trust.
func TestTLSListenerFranzGo(t *testing.T) {
	tf := newTLSFixture(t, tls.NoClientCert)
	_, addr := startServer(t, Config{Handler: basicHandler(nil), TLS: tf.server})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(tf.client))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatalf("metadata over TLS: %v", err)
	}

	foreign := tlstest.NewCA(t, "foreign CA")
	bad, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(&tls.Config{RootCAs: foreign.Pool()}),
		kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	var uae x509.UnknownAuthorityError
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, bad); err == nil || !errors.As(err, &uae) {
		t.Fatalf("metadata against an untrusted certificate: %v, want an unknown-authority error", err)
	}
}

// TestTLSListenerRefusesPlaintext: a plaintext Kafka client on a TLS port
// gets a closed connection at once; one that sends nothing is closed after
// the handshake timeout; a client without the required certificate is
// refused; and none of them stops the listener serving others.
func TestTLSListenerRefusesPlaintext(t *testing.T) {
	tf := newTLSFixture(t, tls.RequireAndVerifyClientCert)
	_, addr := startServer(t, Config{Handler: basicHandler(nil), TLS: tf.server, TLSHandshakeTimeout: 300 * time.Millisecond})

	plain := dialRaw(t, "tcp", addr)
	plain.send(kmsg.NewPtrApiVersionsRequest())
	plain.expectClosed()

	silent := dialRaw(t, "tcp", addr)
	silent.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(silent.conn, make([]byte, 1)); err == nil {
		t.Fatal("a silent client read bytes from the TLS listener")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a silent client was not disconnected after the handshake timeout")
	}

	noCert := dialTLS(t, addr, tf.client)
	noCert.send(kmsg.NewPtrApiVersionsRequest())
	if _, err := noCert.readFrame(); err == nil {
		t.Fatal("a client without a certificate was answered")
	}

	client := tf.client.Clone()
	client.Certificates = []tls.Certificate{tf.ca.Issue(t, "ok").TLSCertificate(t)}
	good := dialTLS(t, addr, client)
	req := kmsg.NewPtrMetadataRequest()
	if resp := good.recv(req, good.send(req)).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatalf("metadata over TLS: %+v", resp)
	}
}
