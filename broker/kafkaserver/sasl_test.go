package kafkaserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// testMech is a one-message mechanism: the client sends "name:secret" and
// is authenticated when the secret is "good"; the identity expires ttl
// later (never when ttl is zero). Safe for concurrent use.
type testMech struct {
	name   string
	tls    bool
	ttl    atomic.Int64 // time.Duration
	passes atomic.Int32
}

func (m *testMech) Name() string      { return m.name }
func (m *testMech) RequiresTLS() bool { return m.tls }
func (m *testMech) Start(ConnInfo) Exchange {
	return exchangeFunc(func(_ context.Context, msg []byte) ([]byte, *Identity, error) {
		name, secret, _ := strings.Cut(string(msg), ":")
		if secret != "good" {
			return nil, nil, fmt.Errorf("%w: bad secret for %q", ErrAuthentication, name)
		}
		m.passes.Add(1)
		id := &Identity{Mechanism: m.name, Name: "User:" + name, Principal: name}
		if ttl := time.Duration(m.ttl.Load()); ttl != 0 {
			id.Expires = time.Now().Add(ttl)
		}
		return []byte("ok"), id, nil
	})
}

type exchangeFunc func(ctx context.Context, msg []byte) ([]byte, *Identity, error)

func (f exchangeFunc) Next(ctx context.Context, msg []byte) ([]byte, *Identity, error) {
	return f(ctx, msg)
}

// testClientMech is testMech's client side for franz-go.
type testClientMech struct{ name, user, secret string }

func (m testClientMech) Name() string { return m.name }
func (m testClientMech) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return testClientSession{}, []byte(m.user + ":" + m.secret), nil
}

type testClientSession struct{}

func (testClientSession) Challenge([]byte) (bool, []byte, error) { return true, nil, nil }

// saslHandler answers Metadata, remembering the identity it saw.
func saslHandler(seen *atomic.Pointer[Identity]) Handler {
	return basicHandler(func(_ context.Context, req *Request) (*Response, error, bool) {
		seen.Store(req.Identity)
		return nil, nil, false
	})
}

// startSASL starts a server offering mechs; seen holds the identity of the
// last request the handler saw.
func startSASL(t *testing.T, maxReauth time.Duration, mechs ...Mechanism) (addr string, seen *atomic.Pointer[Identity]) {
	seen = new(atomic.Pointer[Identity])
	_, addr = startServer(t, Config{Handler: saslHandler(seen), SASL: &SASLConfig{Mechanisms: mechs, MaxReauth: maxReauth}})
	return addr, seen
}

func (c *rawClient) handshake(version int16, mech string) *kmsg.SASLHandshakeResponse {
	c.t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(version)
	hs.Mechanism = mech
	return c.recv(hs, c.send(hs)).(*kmsg.SASLHandshakeResponse)
}

func (c *rawClient) authenticate(version int16, msg string) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.SetVersion(version)
	au.SASLAuthBytes = []byte(msg)
	return c.recv(au, c.send(au)).(*kmsg.SASLAuthenticateResponse)
}

// sendRawSASL sends a bare size-prefixed SASL message (SaslHandshake v0).
func (c *rawClient) sendRawSASL(msg string) {
	c.t.Helper()
	c.sendRaw(append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...))
}

func newMetadata() *kmsg.MetadataRequest {
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	return md
}

func TestSASLRequestBeforeAuthenticationCloses(t *testing.T) {
	addr, seen := startSASL(t, 0, &testMech{name: "T"})
	c := dialRaw(t, "tcp", addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
	resp := c.recv(av, c.send(av)).(*kmsg.ApiVersionsResponse)
	var keys []int16
	for _, k := range resp.ApiKeys {
		keys = append(keys, k.ApiKey)
	}
	for _, want := range []int16{saslHandshakeKey, saslAuthenticateKey} {
		if !bytes.Contains(fmt.Append(nil, keys), fmt.Append(nil, want)) {
			t.Fatalf("ApiVersions keys %v lack %d", keys, want)
		}
	}
	c.send(newMetadata())
	c.expectClosed()
	if seen.Load() != nil {
		t.Fatal("the handler saw a request of an unauthenticated connection")
	}
}

func TestSASLFranzGo(t *testing.T) {
	seen := new(atomic.Pointer[Identity])
	reg := prometheus.NewRegistry()
	_, addr := startServer(t, Config{Handler: saslHandler(seen), Metrics: reg, SASL: &SASLConfig{Mechanisms: []Mechanism{&testMech{name: "T"}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(testClientMech{"T", "alice", "good"}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if id := seen.Load(); id == nil || id.Name != "User:alice" || id.Mechanism != "T" {
		t.Fatalf("handler saw identity %+v, want User:alice by T", id)
	}

	bad, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(testClientMech{"T", "mallory", "bad"}))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, bad)
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "bad secret") {
		t.Fatalf("bad secret: err %v, want SASL_AUTHENTICATION_FAILED saying why", err)
	}
	ok, failed := saslAuthCount(t, reg, "ok"), saslAuthCount(t, reg, "failed")
	if ok < 1 || failed < 1 {
		t.Fatalf("sasl_authentications_total: ok %v, failed %v; want both counted", ok, failed)
	}
}

func TestSASLUnsupportedMechanism(t *testing.T) {
	addr, _ := startSASL(t, 0, &testMech{name: "T"}, &testMech{name: "CLEAR", tls: true})
	for _, mech := range []string{"NOPE", "CLEAR"} {
		c := dialRaw(t, "tcp", addr)
		resp := c.handshake(1, mech)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(resp.SupportedMechanisms) != 1 || resp.SupportedMechanisms[0] != "T" {
			t.Fatalf("%s: handshake answer %+v, want UNSUPPORTED_SASL_MECHANISM offering only T (CLEAR needs TLS)", mech, resp)
		}
		c.expectClosed()
	}
}

// TestSASLHandshakeV0 authenticates as a client of SaslHandshake v0 does:
// bare size-prefixed messages after the handshake.
func TestSASLHandshakeV0(t *testing.T) {
	addr, seen := startSASL(t, 0, &testMech{name: "T"})
	c := dialRaw(t, "tcp", addr)
	if resp := c.handshake(0, "T"); resp.ErrorCode != 0 {
		t.Fatalf("handshake v0: error %d", resp.ErrorCode)
	}
	c.sendRawSASL("bob:good")
	reply, err := c.readFrame()
	if err != nil || string(reply) != "ok" {
		t.Fatalf("raw reply %q, %v; want \"ok\"", reply, err)
	}
	md := newMetadata()
	c.recv(md, c.send(md))
	if id := seen.Load(); id == nil || id.Name != "User:bob" {
		t.Fatalf("handler saw %+v, want User:bob", id)
	}

	// A wrong secret over v0 closes the connection without an answer.
	c2 := dialRaw(t, "tcp", addr)
	c2.handshake(0, "T")
	c2.sendRawSASL("bob:bad")
	c2.expectClosed()
}

// TestSASLSessionLifetime checks KIP-368: the session lifetime is the
// credential's remaining life or MaxReauth, whichever is shorter; a request
// after it without re-authentication closes the connection; franz-go
// re-authenticates in time and keeps working.
func TestSASLSessionLifetime(t *testing.T) {
	mech := &testMech{name: "T"}
	mech.ttl.Store(int64(time.Hour))
	addr, _ := startSASL(t, 1500*time.Millisecond, mech)

	c := dialRaw(t, "tcp", addr)
	c.handshake(1, "T")
	resp := c.authenticate(2, "carol:good")
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 0 || resp.SessionLifetimeMillis > 1500 {
		t.Fatalf("authenticate: error %d lifetime %dms, want 0 and (0,1500]", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
	md := newMetadata()
	c.recv(md, c.send(md))
	time.Sleep(time.Duration(resp.SessionLifetimeMillis)*time.Millisecond + 100*time.Millisecond)
	c.send(md)
	c.expectClosed()

	// Re-authentication as another user is refused.
	c = dialRaw(t, "tcp", addr)
	c.handshake(1, "T")
	c.authenticate(2, "carol:good")
	c.handshake(1, "T")
	resp = c.authenticate(2, "dave:good")
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as another user: error %d, want SASL_AUTHENTICATION_FAILED", resp.ErrorCode)
	}
	c.expectClosed()

	// franz-go re-authenticates before the session ends and keeps working.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(testClientMech{"T", "erin", "good"}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	before := mech.passes.Load()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
			t.Fatalf("Metadata across re-authentications: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := mech.passes.Load() - before; n < 2 {
		t.Fatalf("%d authentications in 4s of 1.5s sessions, want re-authentication", n)
	}
}

// TestSASLCredentialExpiry: the session ends with the credential even when
// MaxReauth is longer, and an already expired credential is refused.
func TestSASLCredentialExpiry(t *testing.T) {
	mech := &testMech{name: "T"}
	mech.ttl.Store(int64(time.Second))
	addr, _ := startSASL(t, time.Hour, mech)
	c := dialRaw(t, "tcp", addr)
	c.handshake(1, "T")
	resp := c.authenticate(1, "frank:good")
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 0 || resp.SessionLifetimeMillis > 1000 {
		t.Fatalf("authenticate: error %d lifetime %dms, want 0 and at most the credential's 1000", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
	time.Sleep(1100 * time.Millisecond)
	c.send(newMetadata())
	c.expectClosed()

	mech.ttl.Store(int64(-time.Second))
	c = dialRaw(t, "tcp", addr)
	c.handshake(1, "T")
	resp = c.authenticate(1, "frank:good")
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("expired credential: error %d, want SASL_AUTHENTICATION_FAILED", resp.ErrorCode)
	}
	c.expectClosed()
}

func TestSASLAuthenticateWithoutHandshake(t *testing.T) {
	addr, _ := startSASL(t, 0, &testMech{name: "T"})
	c := dialRaw(t, "tcp", addr)
	if resp := c.authenticate(1, "x:good"); resp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("error %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
	}
	c.expectClosed()
}

func TestSASLConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		sasl *SASLConfig
		apis map[int16]VersionRange
		want string
	}{
		"no mechanism":   {&SASLConfig{}, nil, "at least one mechanism"},
		"twice":          {&SASLConfig{Mechanisms: []Mechanism{&testMech{name: "T"}, &testMech{name: "T"}}}, nil, "listed twice"},
		"negative":       {&SASLConfig{Mechanisms: []Mechanism{&testMech{name: "T"}}, MaxReauth: -1}, nil, "negative"},
		"handler's SASL": {&SASLConfig{Mechanisms: []Mechanism{&testMech{name: "T"}}}, map[int16]VersionRange{17: {0, 1}}, "server answers it"},
	} {
		apis := tc.apis
		if apis == nil {
			apis = testAPIs
		}
		_, err := New(Config{Handler: basicHandler(nil), APIs: apis, SASL: tc.sasl})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want one saying %q", name, err, tc.want)
		}
	}
}

// TestSASLLargeFrameBeforeAuthentication: a stranger's frame above
// MaxUnauthenticatedFrame closes the connection at its size prefix; after
// authentication the listener's MaxRequestBytes applies.
func TestSASLLargeFrameBeforeAuthentication(t *testing.T) {
	addr, _ := startSASL(t, 0, &testMech{name: "T"})
	c := dialRaw(t, "tcp", addr)
	c.sendRaw(binary.BigEndian.AppendUint32(nil, MaxUnauthenticatedFrame+1))
	c.expectClosed()

	c = dialRaw(t, "tcp", addr)
	c.handshake(1, "T")
	if resp := c.authenticate(1, "big:good"); resp.ErrorCode != 0 {
		t.Fatalf("authenticate: %d", resp.ErrorCode)
	}
	// A large produce is read and answered once authenticated.
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(9)
	p.Acks = 1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = make([]byte, MaxUnauthenticatedFrame+1024)
	rt.Partitions = append(rt.Partitions, rp)
	p.Topics = append(p.Topics, rt)
	c.recv(p, c.send(p))
}

// saslAuthCount is runnel_kafka_sasl_authentications_total for mechanism T
// and result.
func saslAuthCount(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "runnel_kafka_sasl_authentications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["mechanism"] == "T" && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
