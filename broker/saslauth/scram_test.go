package saslauth

import (
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testlog"
)

// memUsers is an in-memory SCRAMUsers.
type memUsers struct {
	mu    sync.Mutex
	creds map[string]SCRAMCredential // mechanism + "/" + user
}

func (m *memUsers) add(t testing.TB, mechanism, user, password string, iterations int) {
	t.Helper()
	c, err := NewSCRAMCredential(mechanism, password, []byte("salt-"+user), iterations)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.creds == nil {
		m.creds = map[string]SCRAMCredential{}
	}
	m.creds[mechanism+"/"+user] = c
}

func (m *memUsers) SCRAMCredential(mechanism, user string) (SCRAMCredential, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[mechanism+"/"+user]
	return c, ok
}

func (m *memUsers) SCRAMPrincipal(user string, _ kafkaserver.ConnInfo) Principal {
	return TokenPrincipal{&auth.Principal{Subject: user, Consume: []string{user + ".*"}}}
}

func scramMechs(t *testing.T, users SCRAMUsers) (*SCRAM, *SCRAM) {
	t.Helper()
	s256, err := NewSCRAM(SCRAMSHA256, users)
	if err != nil {
		t.Fatal(err)
	}
	s512, err := NewSCRAM(SCRAMSHA512, users)
	if err != nil {
		t.Fatal(err)
	}
	return s256, s512
}

func TestSCRAMFranzGo(t *testing.T) {
	users := &memUsers{}
	users.add(t, SCRAMSHA256, "alice", "pw-256", 4096)
	users.add(t, SCRAMSHA512, "alice", "pw-512", 8192)
	s256, s512 := scramMechs(t, users)
	addr, seen := startMechServer(t, new(testlog.Buffer), s256, s512)

	if err := metadataAs(t, addr, scram.Auth{User: "alice", Pass: "pw-256"}.AsSha256Mechanism()); err != nil {
		t.Fatalf("SCRAM-SHA-256: %v", err)
	}
	if id := seen.Load(); id.Name != "User:alice" || id.Mechanism != SCRAMSHA256 || !id.Principal.(Principal).CanConsume("alice.x") {
		t.Fatalf("identity %+v", id)
	}
	if err := metadataAs(t, addr, scram.Auth{User: "alice", Pass: "pw-512"}.AsSha512Mechanism()); err != nil {
		t.Fatalf("SCRAM-SHA-512: %v", err)
	}
	for name, err := range map[string]error{
		"wrong password": metadataAs(t, addr, scram.Auth{User: "alice", Pass: "pw-256"}.AsSha512Mechanism()),
		"unknown user":   metadataAs(t, addr, scram.Auth{User: "bob", Pass: "x"}.AsSha256Mechanism()),
		"other authzid":  metadataAs(t, addr, scram.Auth{User: "alice", Pass: "pw-256", Zid: "root"}.AsSha256Mechanism()),
	} {
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
}

// TestSCRAMKcat authenticates kcat (librdkafka) with SCRAM-SHA-512 and
// SCRAM-SHA-256.
func TestSCRAMKcat(t *testing.T) {
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: run `make test-deps`")
	}
	users := &memUsers{}
	users.add(t, SCRAMSHA512, "carol", "secret-512", 4096)
	users.add(t, SCRAMSHA256, "carol", "secret-256", 4096)
	s256, s512 := scramMechs(t, users)
	addr, seen := startMechServer(t, new(testlog.Buffer), s256, s512)
	run := func(mech, pass string) (string, error) {
		out, err := exec.Command(path, "-b", addr, "-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms="+mech,
			"-X", "sasl.username=carol", "-X", "sasl.password="+pass, "-L", "-m", "10").CombinedOutput()
		return string(out), err
	}
	for mech, pass := range map[string]string{SCRAMSHA512: "secret-512", SCRAMSHA256: "secret-256"} {
		out, err := run(mech, pass)
		if err != nil || !strings.Contains(out, "1 brokers:") {
			t.Fatalf("kcat %s: %v\n%s", mech, err, out)
		}
		if id := seen.Load(); id == nil || id.Name != "User:carol" || id.Mechanism != mech {
			t.Fatalf("kcat %s: identity %+v", mech, id)
		}
	}
	if out, err := run(SCRAMSHA512, "wrong"); err == nil || !strings.Contains(out, "invalid user name or password") {
		t.Fatalf("kcat with a wrong password: %v\n%s", err, out)
	}
}

func TestSCRAMCredentialRules(t *testing.T) {
	if _, err := NewSCRAMCredential(SCRAMSHA256, "pw", []byte("s"), 4095); err == nil {
		t.Fatal("4095 iterations accepted")
	}
	if _, err := NewSCRAMCredential("SCRAM-SHA-1", "pw", []byte("s"), 4096); err == nil {
		t.Fatal("SCRAM-SHA-1 accepted")
	}
	if _, err := NewSCRAMCredential(SCRAMSHA256, "pw", nil, 4096); err == nil {
		t.Fatal("empty salt accepted")
	}
	if _, err := CredentialFromSaltedPassword(SCRAMSHA512, make([]byte, 32), []byte("s"), 4096); err == nil {
		t.Fatal("a 32-byte salted password accepted for SHA-512")
	}
}
