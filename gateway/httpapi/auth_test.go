package httpapi

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/runnel-dev/runnel/gateway/auth"
)

// TestAuthMatrix runs every kind of bad token against a produce call and
// an admin call: each is a 401 with WWW-Authenticate, and its message says
// what is wrong.
func TestAuthMatrix(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)

	pubDER, err := x509.MarshalPKIXPublicKey(testRSAKey().Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := validClaims()
		edit(c)
		return c
	}

	for _, tc := range []struct {
		name    string
		auth    string // the whole Authorization header; "" sends none
		mention string
	}{
		{"no token", "", "no token"},
		{"not bearer", "Basic dXNlcjpwYXNz", "Bearer <JWT>"},
		{"garbage", "Bearer garbage", "not a JWT"},
		{"wrong signature", "Bearer " + signHS256(t, validClaims(), []byte("another secret that is long enough!")), "signature"},
		{"alg none", "Bearer " + b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"sub":"x","exp":4102444800,"iss":"runnel-test","aud":"runnel","runnel":{"admin":true}}`) + ".", `"none"`},
		{"RS256 public key as HS256 secret", "Bearer " + signHS256(t, validClaims(), pubPEM), "signature"},
		{"RS256 public key DER as HS256 secret", "Bearer " + signHS256(t, validClaims(), pubDER), "signature"},
		{"expired", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), testSecret), "expired"},
		{"no exp", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { delete(c, "exp") }), testSecret), "exp"},
		{"wrong audience", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), testSecret), "audience"},
		{"wrong issuer", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["iss"] = "evil" }), testSecret), "issuer"},
		{"not yet valid", "Bearer " + signHS256(t, claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), testSecret), "not valid before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []req{
				{method: "POST", path: "/v1/topics/orders/events", body: `{"value":1}`},
				{method: "GET", path: "/v1/topics"},
			} {
				if tc.auth != "" {
					r.header = []string{"Authorization", tc.auth}
				}
				resp := h.do(r)
				wantError(t, resp, http.StatusUnauthorized, "unauthenticated", tc.mention)
				wa := resp.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(wa, "Bearer") || (tc.auth != "" && !strings.Contains(wa, `error="invalid_token"`)) {
					t.Fatalf("WWW-Authenticate %q", wa)
				}
			}
		})
	}
	if h.be.produced != 0 {
		t.Fatalf("%d events written with bad tokens", h.be.produced)
	}
}

func TestAuthPermissions(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, n := range []string{"orders", "chat", "chat.room1", "chat.a.b", "logs"} {
		h.createTopic(n, 1)
	}
	produce := func(tok, topic string) int {
		return h.do(req{method: "POST", path: "/v1/topics/" + topic + "/events", token: tok, body: `{"value":1}`}).status
	}
	consume := func(tok, topic string) int {
		return h.do(req{method: "GET", path: "/v1/topics/" + topic + "/offsets", token: tok}).status
	}
	rsaTok, err := h.rsa.Mint(auth.MintOptions{Subject: "rs", Produce: []string{"orders"}, TTL: time.Hour, Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		tok              string
		topic            string
		produce, consume int
	}{
		{"exact pattern", h.token(auth.MintOptions{Produce: []string{"orders"}}), "orders", 200, 403},
		{"exact pattern, other topic", h.token(auth.MintOptions{Produce: []string{"orders"}}), "logs", 403, 403},
		{"wildcard matches", h.token(auth.MintOptions{Produce: []string{"chat.*"}, Consume: []string{"chat.*"}}), "chat.room1", 200, 200},
		{"wildcard spans dots", h.token(auth.MintOptions{Consume: []string{"chat.*"}}), "chat.a.b", 403, 200},
		{"wildcard needs its prefix", h.token(auth.MintOptions{Produce: []string{"chat.*"}, Consume: []string{"chat.*"}}), "chat", 403, 403},
		{"star is everything", h.token(auth.MintOptions{Produce: []string{"*"}, Consume: []string{"*"}}), "logs", 200, 200},
		{"no permissions", h.token(auth.MintOptions{Subject: "nobody"}), "orders", 403, 403},
		{"admin", h.admin(), "logs", 200, 200},
		{"RS256 token", rsaTok, "orders", 200, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := produce(tc.tok, tc.topic); got != tc.produce {
				t.Errorf("produce to %s: %d, want %d", tc.topic, got, tc.produce)
			}
			if got := consume(tc.tok, tc.topic); got != tc.consume {
				t.Errorf("consume from %s: %d, want %d", tc.topic, got, tc.consume)
			}
		})
	}
}

func TestTokenCache(t *testing.T) {
	tc := newTokenCache()
	now := time.Now()
	p := &auth.Principal{Subject: "a", ExpiresAt: now.Add(10 * time.Second)}
	tc.put([]byte("tok"), p, now)
	if tc.get([]byte("tok"), now.Add(9*time.Second)) != p {
		t.Fatal("cached token not found before expiry")
	}
	if tc.get([]byte("tok"), now.Add(10*time.Second)) != nil {
		t.Fatal("cached token used at its expiry")
	}
	long := &auth.Principal{Subject: "b", ExpiresAt: now.Add(time.Hour)}
	tc.put([]byte("long"), long, now)
	if tc.get([]byte("long"), now.Add(tokenCacheTTL)) != nil {
		t.Fatal("cached token trusted past the cache's TTL")
	}
	tc.put([]byte(strings.Repeat("x", tokenCacheMaxLen+1)), long, now)
	if len(tc.m) != 2 {
		t.Fatalf("oversized token cached: %d entries", len(tc.m))
	}
	for i := range tokenCacheMax + 10 {
		tc.put([]byte(strings.Repeat("k", i%50)+itoa(i)), long, now)
	}
	if len(tc.m) > tokenCacheMax {
		t.Fatalf("cache grew to %d entries", len(tc.m))
	}
}
