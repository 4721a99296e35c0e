package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
)

const tokenTestSecret = "a-test-secret-of-at-least-32-bytes"

// mintedToken checks that r printed one token and nothing else, and returns it.
func mintedToken(t *testing.T, r result) string {
	t.Helper()
	if r.code != exitOK || r.stderr != "" || strings.Count(r.stdout, "\n") != 1 || !strings.HasSuffix(r.stdout, "\n") {
		t.Fatalf("want exit 0 and one line on stdout; got exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
	}
	return strings.TrimSuffix(r.stdout, "\n")
}

func verifyToken(t *testing.T, cfg auth.Config, tok string) *auth.Principal {
	t.Helper()
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return p
}

func TestTokenSecret(t *testing.T) {
	before := time.Now()
	tok := mintedToken(t, runnel(t, nil, "token", "--secret", tokenTestSecret, "--sub", "alice",
		"--produce", "orders", "--produce", "chat.*", "--consume", "chat.*", "--ttl", "30m"))
	p := verifyToken(t, auth.Config{HS256Secret: []byte(tokenTestSecret)}, tok)
	if p.Subject != "alice" || p.Admin || !slices.Equal(p.Produce, []string{"orders", "chat.*"}) || !slices.Equal(p.Consume, []string{"chat.*"}) {
		t.Fatalf("principal %+v", p)
	}
	if lo, hi := before.Add(30*time.Minute-time.Second), time.Now().Add(30*time.Minute+time.Second); p.ExpiresAt.Before(lo) || p.ExpiresAt.After(hi) {
		t.Fatalf("expires at %v, want 30m from now", p.ExpiresAt)
	}
	if !p.CanProduce("chat.room1") || p.CanProduce("chat") || p.CanConsume("orders") {
		t.Fatalf("permissions of %+v are wrong", p)
	}
	// Another secret does not verify it.
	v, err := auth.NewVerifier(auth.Config{HS256Secret: []byte(strings.ToUpper(tokenTestSecret))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err == nil {
		t.Fatal("verified with another secret")
	}
}

func TestTokenFromEnvironment(t *testing.T) {
	before := time.Now()
	tok := mintedToken(t, runnel(t, []string{
		"RUNNEL_SECRET=" + tokenTestSecret, "RUNNEL_SUB=svc", "RUNNEL_PRODUCE=orders, payments", "RUNNEL_ADMIN=true",
	}, "token"))
	p := verifyToken(t, auth.Config{HS256Secret: []byte(tokenTestSecret)}, tok)
	if p.Subject != "svc" || !p.IsAdmin() || !slices.Equal(p.Produce, []string{"orders", "payments"}) {
		t.Fatalf("principal %+v", p)
	}
	if d := p.ExpiresAt.Sub(before); d < time.Hour-time.Second || d > time.Hour+time.Minute {
		t.Fatalf("default ttl gave expiry in %v, want 1h", d)
	}
}

func TestTokenKeyFiles(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, dk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		pem  []byte
		pub  crypto.PublicKey
		alg  string
	}{
		{"rsa-pkcs8", tokenPKCS8PEM(t, rk), &rk.PublicKey, "RS256"},
		{"rsa-pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), &rk.PublicKey, "RS256"},
		{"ec-pkcs8", tokenPKCS8PEM(t, ek), &ek.PublicKey, "ES256"},
		{"ec-sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), &ek.PublicKey, "ES256"},
		{"ed25519", tokenPKCS8PEM(t, dk), dk.Public(), "EdDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".pem")
			if err := os.WriteFile(path, tc.pem, 0o600); err != nil {
				t.Fatal(err)
			}
			tok := mintedToken(t, runnel(t, nil, "token", "--key", path, "--sub", "bob", "--consume", "*",
				"--iss", "https://idp.example", "--aud", "runnel", "--kid", "k1", "--ttl", "5m"))
			p := verifyToken(t, auth.Config{PublicKeys: []crypto.PublicKey{tc.pub}, Issuer: "https://idp.example", Audience: "runnel"}, tok)
			if p.Subject != "bob" || !p.CanConsume("anything.at.all") || p.CanProduce("x") {
				t.Fatalf("principal %+v", p)
			}
			head, _, _ := strings.Cut(tok, ".")
			raw, err := base64.RawURLEncoding.DecodeString(head)
			if err != nil {
				t.Fatal(err)
			}
			var h struct{ Alg, Kid string }
			if err := json.Unmarshal(raw, &h); err != nil || h.Alg != tc.alg || h.Kid != "k1" {
				t.Fatalf("header %s (%v), want alg %s and kid k1", raw, err, tc.alg)
			}
		})
	}

	// Key files that cannot sign: one line on stderr, exit 1.
	pubPath := filepath.Join(dir, "public.pem")
	der, err := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.pem"), pubPath} {
		r := runnel(t, nil, "token", "--key", path)
		if r.code != exitFailure || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, path) {
			t.Errorf("--key %s: want exit 1 with one line naming the file; got exit %d\nstdout: %q\nstderr: %q", path, r.code, r.stdout, r.stderr)
		}
	}
}

func TestTokenUsageErrors(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key.pem")
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"token"}, nil, "exactly one of --secret and --key"},
		{[]string{"token", "--secret", tokenTestSecret, "--key", key}, nil, "exactly one of --secret and --key"},
		{[]string{"token", "--key", key}, []string{"RUNNEL_SECRET=" + tokenTestSecret}, "exactly one of --secret and --key"},
		{[]string{"token", "--secret", tokenTestSecret, "--ttl", "soon"}, nil, "-ttl"},
		{[]string{"token", "--secret", tokenTestSecret, "--ttl", "0s"}, nil, "--ttl"},
		{[]string{"token", "--secret", tokenTestSecret, "--ttl", "-1h"}, nil, "--ttl"},
		{[]string{"token", "--secret", tokenTestSecret}, []string{"RUNNEL_TTL=forever"}, "RUNNEL_TTL"},
		{[]string{"token", "--secret", tokenTestSecret, "--produce", "a b"}, nil, "topic pattern"},
		{[]string{"token", "--secret", tokenTestSecret, "--consume", ""}, nil, "empty topic pattern"},
		{[]string{"token", "--secret", "short"}, nil, "at least 32"},
		{[]string{"token", "--secret", tokenTestSecret, "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"token", "--nope"}, nil, "nope"},
	} {
		r := runnel(t, tc.env, tc.args...)
		wantUsageError(t, r, tc.want)
		if tc.args[len(tc.args)-1] != "short" && strings.Contains(r.stderr, tokenTestSecret) {
			t.Errorf("%v: error repeats the secret: %q", tc.args, r.stderr)
		}
	}
}

func tokenPKCS8PEM(t *testing.T, k crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
