package auth

import (
	"crypto"
	"errors"
	"fmt"
	"time"
)

// Config is what a [Verifier] trusts and checks. At least one of
// HS256Secret, PublicKeys and JWKS must be set; the algorithms accepted are
// exactly those of the keys given.
type Config struct {
	// HS256Secret enables HS256 tokens signed with this secret, at least
	// MinSecretBytes long.
	HS256Secret []byte
	// PublicKeys enable RS256 (*rsa.PublicKey, at least MinRSABits), ES256
	// (*ecdsa.PublicKey on P-256) and EdDSA (ed25519.PublicKey) tokens,
	// whatever their "kid". LoadPublicKeysPEM reads them from a file.
	PublicKeys []crypto.PublicKey
	// JWKS adds the keys of a JSON Web Key Set; a token's "kid" picks one.
	JWKS *KeySet
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be one of the token's "aud".
	Audience string
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat"; at most
	// MaxLeeway.
	Leeway time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// MaxLeeway bounds Config.Leeway: more would keep expired tokens alive.
const MaxLeeway = 5 * time.Minute

// Validate reports, in plain words, what makes c unusable.
func (c *Config) Validate() error {
	var errs []error
	if len(c.HS256Secret) == 0 && len(c.PublicKeys) == 0 && c.JWKS.Len() == 0 {
		errs = append(errs, errors.New("no key configured: set an HS256 secret, public keys or a JWKS"))
	}
	if n := len(c.HS256Secret); n > 0 && n < MinSecretBytes {
		errs = append(errs, fmt.Errorf("HS256 secret is %d bytes; it must be at least %d", n, MinSecretBytes))
	}
	for i, k := range c.PublicKeys {
		if _, err := publicKeyAlg(k); err != nil {
			errs = append(errs, fmt.Errorf("public key %d: %w", i, err))
		}
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway %v is out of range; want 0 to %v", c.Leeway, MaxLeeway))
	}
	return errors.Join(errs...)
}
