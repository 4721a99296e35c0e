package auth

import (
	"crypto"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Minter signs Runnel tokens with one key. It is safe for concurrent use.
type Minter struct {
	method jwt.SigningMethod
	key    any
	now    func() time.Time
}

// NewSecretMinter returns a Minter that signs HS256 tokens with secret, at
// least MinSecretBytes long.
func NewSecretMinter(secret []byte) (*Minter, error) {
	if n := len(secret); n < MinSecretBytes {
		return nil, fmt.Errorf("HS256 secret is %d bytes; it must be at least %d", n, MinSecretBytes)
	}
	return &Minter{method: jwt.SigningMethodHS256, key: slices.Clone(secret), now: time.Now}, nil
}

// NewKeyMinter returns a Minter that signs with a private key: an
// *rsa.PrivateKey (RS256, at least MinRSABits), an *ecdsa.PrivateKey on
// P-256 (ES256) or an ed25519.PrivateKey (EdDSA). LoadPrivateKeyPEM reads
// one from a file.
func NewKeyMinter(key crypto.PrivateKey) (*Minter, error) {
	alg, k, err := privateKeyAlg(key)
	if err != nil {
		return nil, err
	}
	return &Minter{method: jwt.GetSigningMethod(alg), key: k, now: time.Now}, nil
}

// Algorithm returns the JWS algorithm m signs with, such as "RS256".
func (m *Minter) Algorithm() string { return m.method.Alg() }

// MintOptions are the claims of a new token.
type MintOptions struct {
	// Subject is the "sub" claim, left out when empty.
	Subject string
	// Admin allows everything.
	Admin bool
	// Produce and Consume are topic patterns (see ValidatePattern).
	Produce, Consume []string
	// TTL is how long the token is valid, at least a second ("exp" counts
	// whole seconds).
	TTL time.Duration
	// Issuer and Audience are the "iss" and "aud" claims, left out when
	// empty.
	Issuer, Audience string
	// KeyID is the "kid" header, for verifiers that pick the key from a
	// JWKS; left out when empty.
	KeyID string
}

// Validate reports what makes o unusable.
func (o *MintOptions) Validate() error {
	var errs []error
	if o.TTL < time.Second {
		errs = append(errs, fmt.Errorf("TTL %v is shorter than a second", o.TTL))
	}
	for _, p := range slices.Concat(o.Produce, o.Consume) {
		if err := ValidatePattern(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Mint returns a signed token: "iat" now, "exp" now+TTL, and the "runnel"
// permissions claim.
func (m *Minter) Mint(o MintOptions) (string, error) {
	if err := o.Validate(); err != nil {
		return "", err
	}
	now := m.now().Truncate(time.Second)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   o.Subject,
			Issuer:    o.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)),
		},
		Runnel: &permissions{
			Admin:   o.Admin,
			Produce: slices.Clone(o.Produce),
			Consume: slices.Clone(o.Consume),
		},
	}
	if o.Audience != "" {
		c.Audience = jwt.ClaimStrings{o.Audience}
	}
	t := jwt.NewWithClaims(m.method, c)
	if o.KeyID != "" {
		t.Header["kid"] = o.KeyID
	}
	s, err := t.SignedString(m.key)
	if err != nil {
		return "", fmt.Errorf("sign %s token: %w", m.method.Alg(), err)
	}
	return s, nil
}
