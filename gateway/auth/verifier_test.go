package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenKeyTypesRoundTrip(t *testing.T) {
	rk, ek, dk := rsaKey(t, 0), ecKey(t), edKey(t)
	for _, tc := range []struct {
		name string
		sign any // []byte secret or private key
		cfg  Config
		alg  string
	}{
		{"HS256", testSecret, Config{HS256Secret: testSecret}, AlgHS256},
		{"RS256", rk, Config{PublicKeys: []crypto.PublicKey{publicOf(rk)}}, AlgRS256},
		{"ES256", ek, Config{PublicKeys: []crypto.PublicKey{publicOf(ek)}}, AlgES256},
		{"EdDSA", dk, Config{PublicKeys: []crypto.PublicKey{publicOf(dk)}}, AlgEdDSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMinter(t, tc.sign)
			if m.Algorithm() != tc.alg {
				t.Fatalf("minter algorithm %s, want %s", m.Algorithm(), tc.alg)
			}
			v := newTestVerifier(t, tc.cfg)
			if got := v.Algorithms(); !slices.Equal(got, []string{tc.alg}) {
				t.Fatalf("verifier accepts %v, want only %s", got, tc.alg)
			}
			tok := mint(t, m, MintOptions{
				Subject: "alice", Produce: []string{"orders", "chat.*"}, Consume: []string{"chat.*"},
				TTL: 2 * time.Hour,
			})
			p, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Subject != "alice" || p.Admin || !slices.Equal(p.Produce, []string{"orders", "chat.*"}) ||
				!slices.Equal(p.Consume, []string{"chat.*"}) || !p.ExpiresAt.Equal(testNow.Add(2*time.Hour)) {
				t.Fatalf("principal %+v", p)
			}
			if !p.CanProduce("orders") || !p.CanProduce("chat.room1") || p.CanProduce("payments") ||
				!p.CanConsume("chat.room1") || p.CanConsume("orders") || p.IsAdmin() {
				t.Fatalf("permissions of %+v are wrong", p)
			}
		})
	}
}

func TestTokenPEMFiles(t *testing.T) {
	rk, ek, dk := rsaKey(t, 0), ecKey(t), edKey(t)
	pubs := slices.Concat(pkixPEM(t, publicOf(rk)), pkixPEM(t, publicOf(ek)), pkixPEM(t, publicOf(dk)))
	keys, err := LoadPublicKeysPEM(writeFile(t, "pub.pem", pubs))
	if err != nil {
		t.Fatal(err)
	}
	v := newTestVerifier(t, Config{PublicKeys: keys})
	if got := v.Algorithms(); !slices.Equal(got, []string{AlgES256, AlgEdDSA, AlgRS256}) {
		t.Fatalf("algorithms %v", got)
	}
	for _, k := range []crypto.PrivateKey{rk, ek, dk} {
		priv, err := LoadPrivateKeyPEM(writeFile(t, "key.pem", pkcs8PEM(t, k)))
		if err != nil {
			t.Fatal(err)
		}
		m := newTestMinter(t, priv)
		if _, err := v.Verify(mint(t, m, MintOptions{Subject: "s"})); err != nil {
			t.Errorf("%s: %v", m.Algorithm(), err)
		}
	}
	// A key of the right type that is not configured.
	m := newTestMinter(t, rsaKey(t, 1))
	_, err = v.Verify(mint(t, m, MintOptions{Subject: "s"}))
	wantRefused(t, err, ErrBadSignature)
}

func TestTokenMissingAndGarbage(t *testing.T) {
	v := newTestVerifier(t, Config{HS256Secret: testSecret})
	_, err := v.Verify("")
	wantRefused(t, err, ErrNoToken)
	for _, tok := range []string{
		"garbage",
		"a.b",
		"a.b.c.d",
		"!!!.e30.sig",
		b64([]byte("not json")) + ".e30.",
		b64([]byte(`{"alg": 5}`)) + ".e30.",
		b64([]byte(`{"typ": "JWT"}`)) + ".e30.",
		hs256(t, map[string]any{"alg": "HS256"}, "not an object", testSecret),
		strings.Repeat("a", MaxTokenBytes+1),
	} {
		_, err := v.Verify(tok)
		wantRefused(t, err, ErrMalformed, testSecret)
	}
	// A claim of the wrong JSON type, correctly signed.
	c := validClaims()
	c["runnel"] = map[string]any{"admin": "yes"}
	_, err = v.Verify(hs256(t, map[string]any{"alg": "HS256"}, c, testSecret))
	wantRefused(t, err, ErrMalformed, testSecret)
	c = validClaims()
	c["exp"] = "tomorrow"
	_, err = v.Verify(hs256(t, map[string]any{"alg": "HS256"}, c, testSecret))
	wantRefused(t, err, ErrMalformed, testSecret)
}

func TestTokenWrongSignature(t *testing.T) {
	v := newTestVerifier(t, Config{HS256Secret: testSecret})
	other := []byte("another secret of enough length!!")
	_, err := v.Verify(mint(t, newTestMinter(t, other), MintOptions{Subject: "s"}))
	wantRefused(t, err, ErrBadSignature, testSecret, other)

	// A valid token with one payload byte changed.
	tok := mint(t, newTestMinter(t, testSecret), MintOptions{Subject: "s", Produce: []string{"a"}})
	parts := strings.Split(tok, ".")
	parts[1] = b64JSON(t, map[string]any{"sub": "s", "exp": testNow.Add(time.Hour).Unix(), "runnel": map[string]any{"admin": true}})
	_, err = v.Verify(strings.Join(parts, "."))
	wantRefused(t, err, ErrBadSignature)

	// The signature cut off.
	_, err = v.Verify(parts[0] + "." + parts[1] + ".")
	wantRefused(t, err, ErrBadSignature)
}

func TestTokenAlgNone(t *testing.T) {
	rk := rsaKey(t, 0)
	for name, cfg := range map[string]Config{
		"secret": {HS256Secret: testSecret},
		"rsa":    {PublicKeys: []crypto.PublicKey{publicOf(rk)}},
	} {
		v := newTestVerifier(t, cfg)
		for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
			tok := handUnsigned(t, map[string]any{"alg": alg, "typ": "JWT"}, validClaims()) + "."
			_, err := v.Verify(tok)
			wantRefused(t, err, ErrAlgorithm)
			if !strings.Contains(err.Error(), alg) {
				t.Errorf("%s: message %q does not name the algorithm", name, err)
			}
			// With a signature that golang-jwt's none method would want.
			_, err = v.Verify(handUnsigned(t, map[string]any{"alg": alg}, validClaims()) + "." + b64([]byte("x")))
			wantRefused(t, err, ErrAlgorithm)
		}
	}
}

func TestTokenAlgorithmConfusion(t *testing.T) {
	rk := rsaKey(t, 0)
	pubPEM := pkixPEM(t, publicOf(rk))

	// Only RSA keys are configured; the attacker signs HS256 with the public
	// key's PEM bytes as the secret, as a naive verifier would check it.
	v := newTestVerifier(t, Config{PublicKeys: []crypto.PublicKey{publicOf(rk)}})
	_, err := v.Verify(hs256(t, map[string]any{"alg": "HS256", "typ": "JWT"}, validClaims(), pubPEM))
	wantRefused(t, err, ErrAlgorithm)
	// The same with the header still claiming RS256.
	_, err = v.Verify(hs256(t, map[string]any{"alg": "RS256", "typ": "JWT"}, validClaims(), pubPEM))
	wantRefused(t, err, ErrBadSignature)

	// Only a secret is configured (here, the PEM bytes themselves): a token
	// that claims RS256 is refused, however it is signed.
	v = newTestVerifier(t, Config{HS256Secret: pubPEM})
	_, err = v.Verify(hs256(t, map[string]any{"alg": "RS256"}, validClaims(), pubPEM))
	wantRefused(t, err, ErrAlgorithm, pubPEM)
	_, err = v.Verify(mint(t, newTestMinter(t, rk), MintOptions{Subject: "s"}))
	wantRefused(t, err, ErrAlgorithm, pubPEM)

	// Both configured: each algorithm is checked only with its own key.
	v = newTestVerifier(t, Config{HS256Secret: testSecret, PublicKeys: []crypto.PublicKey{publicOf(rk)}})
	_, err = v.Verify(hs256(t, map[string]any{"alg": "HS256"}, validClaims(), pubPEM))
	wantRefused(t, err, ErrBadSignature, testSecret)
	_, err = v.Verify(hs256(t, map[string]any{"alg": "RS256"}, validClaims(), testSecret))
	wantRefused(t, err, ErrBadSignature, testSecret)
	for _, k := range []any{testSecret, rk} {
		if _, err := v.Verify(mint(t, newTestMinter(t, k), MintOptions{Subject: "s"})); err != nil {
			t.Fatal(err)
		}
	}

	// The key function itself never hands out a key of another type.
	for _, alg := range []string{"HS256", "RS384", "PS256", "ES256", "EdDSA", "none"} {
		m := jwt.GetSigningMethod(alg)
		vr := newTestVerifier(t, Config{PublicKeys: []crypto.PublicKey{publicOf(rk)}})
		if k, err := vr.key(&jwt.Token{Method: m, Header: map[string]any{"alg": alg}}); err == nil {
			t.Errorf("key function gave %T for %s with only RSA keys", k, alg)
		}
	}
}

func TestTokenOtherAlgorithmsRefused(t *testing.T) {
	rk := rsaKey(t, 0)
	v := newTestVerifier(t, Config{PublicKeys: []crypto.PublicKey{publicOf(rk)}})
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS512, jwt.SigningMethodPS256} {
		tok, err := jwt.NewWithClaims(m, jwt.MapClaims(validClaims())).SignedString(rk)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(tok)
		wantRefused(t, err, ErrAlgorithm)
	}
}

func TestTokenTimes(t *testing.T) {
	sign := func(c map[string]any) string { return hs256(t, map[string]any{"alg": "HS256"}, c, testSecret) }
	v := newTestVerifier(t, Config{HS256Secret: testSecret})
	lenient := newTestVerifier(t, Config{HS256Secret: testSecret, Leeway: 30 * time.Second})

	c := validClaims()
	c["exp"] = testNow.Add(-10 * time.Second).Unix()
	_, err := v.Verify(sign(c))
	wantRefused(t, err, ErrExpired, testSecret)
	if !strings.Contains(err.Error(), "2026-11-25T11:59:50Z") {
		t.Errorf("message %q does not say when the token expired", err)
	}
	if _, err := lenient.Verify(sign(c)); err != nil {
		t.Errorf("within the leeway: %v", err)
	}
	c["exp"] = testNow.Add(-time.Minute).Unix()
	_, err = lenient.Verify(sign(c))
	wantRefused(t, err, ErrExpired)

	// A minted token that has run out.
	m := newTestMinter(t, testSecret)
	m.now = func() time.Time { return testNow.Add(-2 * time.Hour) }
	_, err = v.Verify(mint(t, m, MintOptions{Subject: "s", TTL: time.Hour}))
	wantRefused(t, err, ErrExpired)

	c = validClaims()
	delete(c, "exp")
	_, err = v.Verify(sign(c))
	wantRefused(t, err, ErrNoExpiry)

	c = validClaims()
	c["nbf"] = testNow.Add(time.Hour).Unix()
	_, err = v.Verify(sign(c))
	wantRefused(t, err, ErrNotYetValid)

	c = validClaims()
	c["iat"] = testNow.Add(time.Hour).Unix()
	_, err = v.Verify(sign(c))
	wantRefused(t, err, ErrNotYetValid)
}

func TestTokenIssuerAudience(t *testing.T) {
	sign := func(c map[string]any) string { return hs256(t, map[string]any{"alg": "HS256"}, c, testSecret) }
	v := newTestVerifier(t, Config{HS256Secret: testSecret, Issuer: "https://idp", Audience: "runnel"})
	with := func(kv ...any) map[string]any {
		c := validClaims()
		c["iss"], c["aud"] = "https://idp", "runnel"
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	if _, err := v.Verify(sign(with())); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sign(with("aud", []string{"other", "runnel"}))); err != nil {
		t.Fatalf("aud array holding the audience: %v", err)
	}
	for _, tc := range []struct {
		c    map[string]any
		want error
	}{
		{with("iss", "https://evil"), ErrWrongIssuer},
		{with("iss", nil), ErrWrongIssuer},
		{with("aud", "other"), ErrWrongAudience},
		{with("aud", []string{"a", "b"}), ErrWrongAudience},
		{with("aud", nil), ErrWrongAudience},
		{with("iss", nil, "aud", nil), ErrWrongIssuer},
	} {
		_, err := v.Verify(sign(tc.c))
		wantRefused(t, err, tc.want, testSecret)
	}

	// Not configured: not checked.
	open := newTestVerifier(t, Config{HS256Secret: testSecret})
	if _, err := open.Verify(sign(with("iss", "anyone", "aud", "anything"))); err != nil {
		t.Fatal(err)
	}

	// Minted with the options.
	tok := mint(t, newTestMinter(t, testSecret), MintOptions{Subject: "s", Issuer: "https://idp", Audience: "runnel"})
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
}

func TestTokenJWKS(t *testing.T) {
	r0, r1, ek, dk := rsaKey(t, 0), rsaKey(t, 1), ecKey(t), edKey(t)
	set, err := ParseJWKS(jwksDoc(t,
		jwkOf(t, "r0", publicOf(r0)),
		jwkOf(t, "r1", publicOf(r1)),
		jwkOf(t, "ec", publicOf(ek)),
		jwkOf(t, "ed", publicOf(dk)),
	))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.KeyIDs(); !slices.Equal(got, []string{"r0", "r1", "ec", "ed"}) {
		t.Fatalf("kids %v", got)
	}
	v := newTestVerifier(t, Config{JWKS: set})
	for _, tc := range []struct {
		key any
		kid string
	}{{r0, "r0"}, {r1, "r1"}, {ek, "ec"}, {dk, "ed"}} {
		if _, err := v.Verify(mint(t, newTestMinter(t, tc.key), MintOptions{Subject: "s", KeyID: tc.kid})); err != nil {
			t.Errorf("kid %s: %v", tc.kid, err)
		}
	}
	// The kid picks the key: r1's token under r0's id fails.
	_, err = v.Verify(mint(t, newTestMinter(t, r1), MintOptions{Subject: "s", KeyID: "r0"}))
	wantRefused(t, err, ErrBadSignature)
	// Unknown and missing kid: no key without an id to fall back on.
	_, err = v.Verify(mint(t, newTestMinter(t, r0), MintOptions{Subject: "s", KeyID: "nope"}))
	wantRefused(t, err, ErrUnknownKey)
	if !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("message %q does not name the kid", err)
	}
	_, err = v.Verify(mint(t, newTestMinter(t, r0), MintOptions{Subject: "s"}))
	wantRefused(t, err, ErrUnknownKey)
	// A kid naming a key of another type.
	_, err = v.Verify(mint(t, newTestMinter(t, r0), MintOptions{Subject: "s", KeyID: "ed"}))
	wantRefused(t, err, ErrAlgorithm)

	// PEM keys, which have no id, are tried for any kid.
	v = newTestVerifier(t, Config{JWKS: set, PublicKeys: []crypto.PublicKey{publicOf(r1)}})
	if _, err := v.Verify(mint(t, newTestMinter(t, r1), MintOptions{Subject: "s", KeyID: "rotated"})); err != nil {
		t.Fatal(err)
	}
	// Several keys without an id: each is tried.
	v = newTestVerifier(t, Config{PublicKeys: []crypto.PublicKey{publicOf(r0), publicOf(r1)}})
	for _, k := range []any{r0, r1} {
		if _, err := v.Verify(mint(t, newTestMinter(t, k), MintOptions{Subject: "s"})); err != nil {
			t.Fatal(err)
		}
	}

	// From a file.
	set, err = LoadJWKS(writeFile(t, "jwks.json", jwksDoc(t, jwkOf(t, "", publicOf(ek)))))
	if err != nil {
		t.Fatal(err)
	}
	v = newTestVerifier(t, Config{JWKS: set})
	if _, err := v.Verify(mint(t, newTestMinter(t, ek), MintOptions{Subject: "s", KeyID: "any"})); err != nil {
		t.Fatal(err)
	}
}

func TestAuthParseJWKS(t *testing.T) {
	r0, ek := rsaKey(t, 0), ecKey(t)
	good := jwkOf(t, "r0", publicOf(r0))
	with := func(m map[string]any, kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384b, _ := p384.PublicKey.Bytes()
	// Skipped keys leave the usable ones.
	set, err := ParseJWKS(jwksDoc(t,
		with(good, "kid", "enc", "use", "enc"),
		with(good, "kid", "rs512", "alg", "RS512"),
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		map[string]any{"kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(p384b[1:49]), "y": b64(p384b[49:])},
		map[string]any{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64(make([]byte, 32))},
		good,
	))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.KeyIDs(); !slices.Equal(got, []string{"r0"}) {
		t.Fatalf("kept %v, want only r0", got)
	}

	ecj := jwkOf(t, "ec", publicOf(ek))
	for name, doc := range map[string][]byte{
		"not json":      []byte("{"),
		"no keys":       []byte(`{}`),
		"empty":         []byte(`{"keys": []}`),
		"only skipped":  jwksDoc(t, with(good, "use", "enc")),
		"duplicate kid": jwksDoc(t, good, with(ecj, "kid", "r0")),
		"private":       jwksDoc(t, with(good, "d", "AQAB")),
		"no n":          jwksDoc(t, with(good, "n", "")),
		"bad base64":    jwksDoc(t, with(good, "n", "***")),
		"even e":        jwksDoc(t, with(good, "e", b64([]byte{2}))),
		"short rsa":     jwksDoc(t, with(good, "n", b64(r0.N.Bytes()[:64]))),
		"off curve":     jwksDoc(t, with(ecj, "y", ecj["x"])),
		"short x":       jwksDoc(t, with(ecj, "x", b64([]byte{1, 2}))),
		"short ed":      jwksDoc(t, map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64([]byte{1})}),
		"key not obj":   []byte(`{"keys": [5]}`),
	} {
		if _, err := ParseJWKS(doc); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestAuthConfigValidate(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"no key":       {Config{}, "no key configured"},
		"short secret": {Config{HS256Secret: []byte("short")}, "at least 32"},
		"small rsa":    {Config{PublicKeys: []crypto.PublicKey{&small.PublicKey}}, "1024 bits"},
		"p384":         {Config{PublicKeys: []crypto.PublicKey{&p384.PublicKey}}, "P-256"},
		"private key":  {Config{PublicKeys: []crypto.PublicKey{edKey(t)}}, "unsupported key type"},
		"nil key":      {Config{PublicKeys: []crypto.PublicKey{nil}}, "nil key"},
		"leeway":       {Config{HS256Secret: testSecret, Leeway: time.Hour}, "leeway"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
		if _, err := NewVerifier(tc.cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted", name)
		}
	}
	if err := (&Config{HS256Secret: testSecret}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTokenAdminAndNoPermissions(t *testing.T) {
	v := newTestVerifier(t, Config{HS256Secret: testSecret})
	m := newTestMinter(t, testSecret)
	p, err := v.Verify(mint(t, m, MintOptions{Subject: "root", Admin: true}))
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsAdmin() || !p.CanProduce("anything") || !p.CanConsume("x.y") {
		t.Fatalf("admin %+v cannot do everything", p)
	}
	// A token without the runnel claim is valid but may do nothing.
	c := validClaims()
	delete(c, "runnel")
	p, err = v.Verify(hs256(t, map[string]any{"alg": "HS256"}, c, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if p.IsAdmin() || p.CanProduce("orders") || p.CanConsume("orders") {
		t.Fatalf("principal without claim %+v has permissions", p)
	}
}

func TestTokenMintRefusesBadOptions(t *testing.T) {
	m := newTestMinter(t, testSecret)
	for name, o := range map[string]MintOptions{
		"no ttl":           {Subject: "s"},
		"sub-second ttl":   {Subject: "s", TTL: time.Millisecond},
		"bad produce":      {TTL: time.Hour, Produce: []string{"a b"}},
		"empty consume":    {TTL: time.Hour, Consume: []string{""}},
		"negative ttl":     {TTL: -time.Hour},
		"long pattern":     {TTL: time.Hour, Produce: []string{strings.Repeat("a", 250)}},
		"slash in consume": {TTL: time.Hour, Consume: []string{"a/b"}},
	} {
		if _, err := m.Mint(o); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
	if _, err := NewSecretMinter([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []crypto.PrivateKey{small, nil, "key", publicOf(edKey(t))} {
		if _, err := NewKeyMinter(k); err == nil {
			t.Errorf("NewKeyMinter(%T) accepted", k)
		}
	}
}

func TestAuthPEMErrors(t *testing.T) {
	rk := rsaKey(t, 0)
	if _, err := ParsePublicKeysPEM(pkcs8PEM(t, rk)); err == nil {
		t.Error("private key accepted as public")
	}
	if _, err := ParsePublicKeysPEM([]byte("nothing")); err == nil {
		t.Error("no PEM accepted")
	}
	if _, err := ParsePrivateKeyPEM(pkixPEM(t, publicOf(rk))); err == nil {
		t.Error("public key accepted as private")
	}
	if _, err := LoadPrivateKeyPEM(t.TempDir() + "/missing.pem"); err == nil {
		t.Error("missing file accepted")
	}
	if _, err := LoadPublicKeysPEM(t.TempDir() + "/missing.pem"); err == nil {
		t.Error("missing file accepted")
	}
	enc := []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
	if _, err := ParsePrivateKeyPEM(enc); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("encrypted key: %v", err)
	}
}

// FuzzTokenVerify: whatever the bytes, Verify returns a principal or a
// TokenError, never panics, and accepts nothing it did not sign.
func FuzzTokenVerify(f *testing.F) {
	m := newTestMinter(f, testSecret)
	f.Add(mint(f, m, MintOptions{Subject: "s", Produce: []string{"a*"}}))
	f.Add("")
	f.Add("a.b.c")
	f.Add(handUnsigned(f, map[string]any{"alg": "none"}, validClaims()) + ".")
	f.Add(hs256(f, map[string]any{"alg": "RS256"}, validClaims(), testSecret))
	v := newTestVerifier(f, Config{HS256Secret: testSecret, PublicKeys: []crypto.PublicKey{publicOf(edKey(f))}})
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(tok)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) || !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if p == nil || p.ExpiresAt.IsZero() {
			t.Fatalf("accepted %q as %+v", tok, p)
		}
	})
}

// FuzzAuthParseJWKS: untrusted key sets never panic.
func FuzzAuthParseJWKS(f *testing.F) {
	f.Add(jwksDoc(f, jwkOf(f, "k", publicOf(ecKey(f)))))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseJWKS(data)
		if err == nil && s.Len() == 0 {
			t.Fatal("empty set without error")
		}
	})
}
