package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSecret is an HS256 secret of the minimum length.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testNow is the clock of every test verifier and minter.
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// RSA keys are slow to generate, more so under -race: make two per test
// binary and share them.
var rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

func rsaKey(t testing.TB, i int) *rsa.PrivateKey { t.Helper(); return rsaKeys()[i] }

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func publicOf(k crypto.PrivateKey) crypto.PublicKey {
	return k.(crypto.Signer).Public()
}

// newTestVerifier builds a verifier on the test clock.
func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	cfg.Now = fixedNow
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// newTestMinter builds a minter on the test clock from a secret ([]byte)
// or a private key.
func newTestMinter(t testing.TB, key any) *Minter {
	t.Helper()
	var m *Minter
	var err error
	if s, ok := key.([]byte); ok {
		m, err = NewSecretMinter(s)
	} else {
		m, err = NewKeyMinter(key)
	}
	if err != nil {
		t.Fatalf("new minter: %v", err)
	}
	m.now = fixedNow
	return m
}

func mint(t testing.TB, m *Minter, o MintOptions) string {
	t.Helper()
	if o.TTL == 0 {
		o.TTL = time.Hour
	}
	s, err := m.Mint(o)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// handUnsigned builds "header.payload." from JSON values, without signature.
func handUnsigned(t testing.TB, header, payload any) string {
	t.Helper()
	return b64JSON(t, header) + "." + b64JSON(t, payload)
}

// hs256 signs header.payload with HMAC-SHA256 and key, whatever the header
// says: the tool of algorithm-confusion attacks.
func hs256(t testing.TB, header, payload any, key []byte) string {
	t.Helper()
	in := handUnsigned(t, header, payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(in))
	return in + "." + b64(mac.Sum(nil))
}

// validClaims is a payload that passes every check on the test clock.
func validClaims() map[string]any {
	return map[string]any{
		"sub":    "alice",
		"iat":    testNow.Add(-time.Minute).Unix(),
		"exp":    testNow.Add(time.Hour).Unix(),
		"runnel": map[string]any{"produce": []string{"orders"}},
	}
}

func pkixPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func pkcs8PEM(t testing.TB, k crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// jwkOf is the JWK JSON object of a public key.
func jwkOf(t testing.TB, kid string, pub crypto.PublicKey) map[string]any {
	t.Helper()
	m := map[string]any{"use": "sig"}
	if kid != "" {
		m["kid"] = kid
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["alg"] = "RSA", "RS256"
		m["n"] = b64(k.N.Bytes())
		m["e"] = b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m["kty"], m["crv"] = "EC", "P-256"
		m["x"], m["y"] = b64(b[1:33]), b64(b[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"] = "OKP", "Ed25519"
		m["x"] = b64(k)
	default:
		t.Fatalf("jwkOf %T", pub)
	}
	return m
}

func jwksDoc(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantRefused checks that err is a TokenError for reason that also matches
// ErrUnauthenticated, and that its message holds none of the secrets.
func wantRefused(t testing.TB, err error, reason error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		t.Fatalf("token accepted; want %v", reason)
	}
	var te *TokenError
	if !errors.As(err, &te) || !errors.Is(err, ErrUnauthenticated) || !errors.Is(err, reason) {
		t.Fatalf("got %T %q; want a TokenError for %v matching ErrUnauthenticated", err, err, reason)
	}
	for _, s := range secrets {
		if len(s) > 0 && strings.Contains(err.Error(), string(s)) {
			t.Fatalf("error message %q leaks a secret", err)
		}
	}
}
