package saslauth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testlog"
	"github.com/runnel-dev/runnel/internal/testtoken"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-saslauth")

// startMechServer serves Metadata on 127.0.0.1 behind mechs and records
// the identity of the last request.
func startMechServer(t *testing.T, logs *testlog.Buffer, mechs ...kafkaserver.Mechanism) (string, *atomic.Pointer[kafkaserver.Identity]) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startMechServerOn(t, ln, logs, mechs...)
}

// startMechServerOn is startMechServer on ln.
func startMechServerOn(t *testing.T, ln net.Listener, logs *testlog.Buffer, mechs ...kafkaserver.Mechanism) (string, *atomic.Pointer[kafkaserver.Identity]) {
	t.Helper()
	seen := new(atomic.Pointer[kafkaserver.Identity])
	h := kafkaserver.HandlerFunc(func(_ context.Context, req *kafkaserver.Request) (*kafkaserver.Response, error) {
		seen.Store(req.Identity)
		resp := kmsg.NewPtrMetadataResponse()
		b := kmsg.NewMetadataResponseBroker()
		host, port, _ := net.SplitHostPort(req.Conn.LocalAddr.String())
		n, _ := strconv.Atoi(port)
		b.Host, b.Port = host, int32(n)
		resp.Brokers = append(resp.Brokers, b)
		return &kafkaserver.Response{Msg: resp}, nil
	})
	s, err := kafkaserver.New(kafkaserver.Config{
		Handler: h,
		APIs:    map[int16]kafkaserver.VersionRange{3: {Min: 0, Max: 12}},
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SASL:    &kafkaserver.SASLConfig{Mechanisms: mechs},
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), seen
}

// metadataAs sends one Metadata request through a client authenticating
// with mech and returns its error.
func metadataAs(t *testing.T, addr string, mech sasl.Mechanism, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.SASL(mech), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

func oauthMech(t *testing.T, now func() time.Time) *OAuthBearer {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{HS256Secret: testSecret, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewOAuthBearer(v)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOAuthBearerFranzGo(t *testing.T) {
	var logs testlog.Buffer
	addr, seen := startMechServer(t, &logs, oauthMech(t, nil))
	tok := testtoken.Mint(t, testSecret, auth.MintOptions{Subject: "svc-a", Produce: []string{"a"}, Consume: []string{"a.*"}})
	if err := metadataAs(t, addr, oauth.Auth{Token: tok}.AsMechanism()); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	id := seen.Load()
	p, _ := id.Principal.(TokenPrincipal)
	if id.Name != "User:svc-a" || p.Principal == nil || !p.CanProduce("a") || p.CanProduce("b") || !p.CanConsume("a.x") || id.Expires.IsZero() {
		t.Fatalf("identity %+v principal %+v: want User:svc-a with the token's permissions and expiry", id, p)
	}
	if err := metadataAs(t, addr, oauth.Auth{Token: tok, Zid: "svc-a"}.AsMechanism()); err != nil {
		t.Fatalf("valid token with matching authzid: %v", err)
	}

	for name, tc := range map[string]struct {
		mech sasl.Mechanism
		want string
	}{
		"other key":     {oauth.Auth{Token: testtoken.Mint(t, []byte("another-secret-another-secret-0123"), auth.MintOptions{Subject: "x"})}.AsMechanism(), "signature"},
		"not a jwt":     {oauth.Auth{Token: "hello"}.AsMechanism(), "not a JWT"},
		"other authzid": {oauth.Auth{Token: tok, Zid: "svc-b"}.AsMechanism(), "not the token's subject"},
	} {
		err := metadataAs(t, addr, tc.mech)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED saying %q", name, err, tc.want)
		}
	}
	if strings.Contains(logs.String(), tok) {
		t.Fatal("the server logged a token")
	}
}

func TestOAuthBearerExpiredToken(t *testing.T) {
	var logs testlog.Buffer
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	addr, _ := startMechServer(t, &logs, oauthMech(t, later))
	tok := testtoken.Mint(t, testSecret, auth.MintOptions{Subject: "old"})
	err := metadataAs(t, addr, oauth.Auth{Token: tok}.AsMechanism())
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v, want SASL_AUTHENTICATION_FAILED saying expired", err)
	}
}
