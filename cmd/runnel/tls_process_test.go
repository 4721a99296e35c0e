package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/internal/tlsconf/tlstest"
)

// apiVersionsOver sends ApiVersions v0 on c and reads the answer, so the
// test sees whether the connection serves Kafka.
func apiVersionsOver(c net.Conn) error {
	req := kmsg.NewPtrApiVersionsRequest()
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("tls-test")).AppendRequest(nil, req, 1)
	if _, err := c.Write(frame); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:])))
	return err
}

// TestBrokerProcessSSLListener: a "runnel broker" process with a
// PLAINTEXT and an SSL listener. kcat (librdkafka) produces over SSL
// verifying the test CA and franz-go reads the records back over TLS; a
// plaintext client on the SSL port is disconnected at once; after the
// certificate files are replaced and the process gets SIGHUP, a new
// connection sees the new certificate while one opened before keeps
// working.
func TestBrokerProcessSSLListener(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "process CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Issue(t, "broker-first").Write(t, dir, "broker")
	plain, ssl, raft := freePort(t), freePort(t), freePort(t)
	p := &brokerProc{t: t, kafka: ssl, args: []string{"broker", "--id", "1", "--log-level", "warn", "--data-dir", filepath.Join(dir, "data"),
		"--listeners", "PLAINTEXT://" + plain + ",SSL://" + ssl, "--tls-cert", certFile, "--tls-key", keyFile,
		"--raft", raft, "--voters", "1@" + raft, "--auto-create-topics"}}
	p.start()
	t.Cleanup(p.kill)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (make test-deps installs it): %v", err)
	}
	kcatTLS := []string{"-b", ssl, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + caFile}
	produce := exec.CommandContext(ctx, kcat, append([]string{"-P", "-t", "secure"}, kcatTLS...)...)
	produce.Stdin = strings.NewReader("one\ntwo\nthree\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P over SSL: %v\n%s\nbroker: %s", err, out, p.output())
	}
	consume := exec.CommandContext(ctx, kcat, append([]string{"-C", "-t", "secure", "-o", "beginning", "-e", "-q"}, kcatTLS...)...)
	if out, err := consume.Output(); err != nil || string(out) != "one\ntwo\nthree\n" {
		t.Fatalf("kcat -C over SSL: %q %v", out, err)
	}
	untrusted := exec.CommandContext(ctx, kcat, "-L", "-b", ssl, "-X", "security.protocol=ssl", "-X", "ssl.ca.location="+
		tlstest.NewCA(t, "other CA").WriteCA(t, dir, "other.pem"), "-m", "5")
	if out, err := untrusted.CombinedOutput(); err == nil {
		t.Fatalf("kcat trusting another CA listed the cluster:\n%s", out)
	}

	clientTLS := &tls.Config{RootCAs: ca.Pool()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(ssl), kgo.DialTLSConfig(clientTLS), kgo.ConsumeTopics("secure"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < 3 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("franz-go over TLS read %v", got)
	}

	// A plaintext Kafka client on the SSL port: closed, not left hanging.
	pc, err := net.DialTimeout("tcp", ssl, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pc.SetDeadline(time.Now().Add(30 * time.Second))
	var ne net.Error
	if err := apiVersionsOver(pc); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("plaintext ApiVersions on the SSL port: %v, want the connection closed", err)
	}
	pc.Close()

	dialTLS := func() *tls.Conn {
		t.Helper()
		d := tls.Dialer{Config: clientTLS}
		c, err := d.DialContext(ctx, "tcp", ssl)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		return c.(*tls.Conn)
	}
	old := dialTLS()
	defer old.Close()
	if cn := old.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "broker-first" {
		t.Fatalf("certificate %q before rotation", cn)
	}
	ca.Issue(t, "broker-second").Write(t, dir, "broker")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		c := dialTLS()
		defer c.Close()
		if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "broker-second" {
			return fmt.Errorf("a new connection after rotation sees %q", cn)
		}
		return apiVersionsOver(c)
	})
	if err := apiVersionsOver(old); err != nil {
		t.Fatalf("connection opened before the rotation: %v", err)
	}
	select {
	case <-p.done:
		t.Fatalf("broker exited on SIGHUP: %s", p.output())
	default:
	}
}

// TestBrokerRefusesExposedPlaintext: "runnel broker" will not serve a
// PLAINTEXT listener, raft without peer TLS, or the admin listener on a
// non-loopback address without --insecure, and says so in one line. It
// refuses before binding anything.
func TestBrokerRefusesExposedPlaintext(t *testing.T) {
	raft := freePort(t)
	base := []string{"broker", "--id", "1", "--data-dir", t.TempDir(), "--voters", "1@" + raft}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kafka", "0.0.0.0:19092", "--raft", raft}, "Kafka listener --kafka on 0.0.0.0:19092 without TLS or SASL"},
		{[]string{"--listeners", "PLAINTEXT://:19092", "--raft", raft}, "PLAINTEXT listener PLAINTEXT on :19092"},
		{[]string{"--raft", "10.1.2.3:19093"}, "raft listener --raft on 10.1.2.3:19093"},
		{[]string{"--raft", raft, "--admin-addr", "[::]:19094"}, "admin listener --admin-addr on [::]:19094"},
	} {
		r := runnel(t, nil, append(base, tc.args...)...)
		wantUsageError(t, r, tc.want)
		if !strings.Contains(r.stderr, "--insecure") {
			t.Errorf("refusal does not mention --insecure: %s", r.stderr)
		}
	}
}

// TestDevSecurityBanner: "runnel dev" is plaintext on loopback and its
// banner says how to turn security on; with --tls-cert and --tls-key its
// gateway serves HTTPS, and the banner says so.
func TestDevSecurityBanner(t *testing.T) {
	plain := launchDev(t, t.TempDir())
	if !strings.Contains(plain.banner, "Security:         off, plaintext on loopback only. For TLS add --tls-cert") {
		t.Errorf("the banner does not say how to turn security on:\n%s", plain.banner)
	}
	if !strings.Contains(plain.banner, "--sasl-mechanisms") {
		t.Errorf("the banner does not say how to turn SASL on:\n%s", plain.banner)
	}
	plain.kill()

	dir := t.TempDir()
	ca := tlstest.NewCA(t, "dev CA")
	certFile, keyFile := ca.Issue(t, "dev").Write(t, dir, "dev")
	secure := launchDev(t, t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(secure.url, "https://") || !strings.Contains(secure.banner, "Security:         HTTPS/WSS") {
		t.Fatalf("dev with --tls-cert: URL %s, banner:\n%s", secure.url, secure.banner)
	}
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, Timeout: 10 * time.Second}
	testwait.For(t, 60*time.Second, 100*time.Millisecond, func() error {
		resp, err := httpc.Get(secure.url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz over HTTPS: %d", resp.StatusCode)
		}
		return nil
	})
}

// TestBrokerTLSFlagErrors: TLS flags that cannot work are refused in one
// line before anything starts.
func TestBrokerTLSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "flags CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Issue(t, "b").Write(t, dir, "b")
	raft := freePort(t)
	base := []string{"broker", "--id", "1", "--data-dir", t.TempDir(), "--voters", "1@" + raft, "--raft", raft}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", certFile, "--tls-key", keyFile}, "--listeners has none"},
		{[]string{"--listeners", "SSL://127.0.0.1:0"}, "give --tls-cert and --tls-key"},
		{[]string{"--tls-cert", certFile}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-client-ca", caFile}, "--tls-client-ca needs --tls-cert and --tls-key"},
		{[]string{"--peer-ca", caFile}, "--peer-tls-cert, --peer-tls-key and --peer-ca go together"},
		{[]string{"--listeners", "SSL://127.0.0.1:0", "--tls-cert", keyFile, "--tls-key", keyFile}, "--tls-cert/--tls-key/--tls-client-ca"},
		{[]string{"--listeners", "SSL://127.0.0.1:0", "--kafka", "127.0.0.1:1"}, "--listeners replaces --kafka"},
		{[]string{"--listeners", "SSL://127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile}, "replica fetchers need --peer-tls-cert"},
	} {
		wantUsageError(t, runnel(t, nil, append(base, tc.args...)...), tc.want)
	}
}

// TestBrokerProcessClientCertificates: with --tls-client-ca the SSL
// listener takes kcat with a client certificate the CA signed and refuses
// kcat without one.
func TestBrokerProcessClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "mtls CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Issue(t, "broker").Write(t, dir, "broker")
	clientCert, clientKey := ca.Issue(t, "kcat").Write(t, dir, "kcat")
	ssl, raft := freePort(t), freePort(t)
	p := &brokerProc{t: t, kafka: ssl, args: []string{"broker", "--id", "1", "--log-level", "warn", "--data-dir", filepath.Join(dir, "data"),
		"--listeners", "SSL://" + ssl, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", caFile,
		"--peer-tls-cert", certFile, "--peer-tls-key", keyFile, "--peer-ca", caFile, "--raft", raft, "--voters", "1@" + raft}}
	p.start()
	t.Cleanup(p.kill)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (make test-deps installs it): %v", err)
	}
	list := func(extra ...string) (string, error) {
		args := append([]string{"-L", "-b", ssl, "-m", "3", "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + caFile}, extra...)
		out, err := exec.CommandContext(ctx, kcat, args...).CombinedOutput()
		return string(out), err
	}
	// Retried until the broker has registered and lists itself.
	testwait.For(t, 50*time.Second, 100*time.Millisecond, func() error {
		if out, err := list("-X", "ssl.certificate.location="+clientCert, "-X", "ssl.key.location="+clientKey); err != nil || !strings.Contains(out, "1 brokers") {
			return fmt.Errorf("kcat with a client certificate: %v\n%s", err, out)
		}
		return nil
	})
	if out, err := list(); err == nil {
		t.Fatalf("kcat without a client certificate listed the cluster:\n%s", out)
	}
}
