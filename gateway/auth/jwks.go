package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
)

// KeySet is the usable public keys of a JSON Web Key Set (RFC 7517): RSA
// ("kty": "RSA"), P-256 ("kty": "EC", "crv": "P-256") and Ed25519 ("kty":
// "OKP", "crv": "Ed25519") signing keys. It is immutable once parsed.
type KeySet struct {
	keys []setKey
}

// setKey is one key of a set. kid is empty for a key without an id.
type setKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// Len returns the number of usable keys.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// KeyIDs returns the ids of the keys, in document order; keys without an id
// are left out.
func (s *KeySet) KeyIDs() []string {
	var ids []string
	for _, k := range s.keys {
		if k.kid != "" {
			ids = append(ids, k.kid)
		}
	}
	return ids
}

// LoadJWKS reads a JSON Web Key Set file; see [ParseJWKS].
func LoadJWKS(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// jwk is the JSON of one key; only the public members are read.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// ParseJWKS reads a JSON Web Key Set document, {"keys": [...]}. Keys that
// Runnel cannot use for signatures are skipped, as identity providers publish
// sets with other keys in them: "use" other than "sig", an "alg" other than
// the one Runnel verifies for the key type (RS256, ES256, EdDSA), other key
// types and curves. It fails on a malformed document, on a malformed key of a
// supported type, on a key with private members, on a key id used twice and
// when no key is left.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS is not valid JSON: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`JWKS has no "keys" array`)
	}
	s := &KeySet{}
	seen := map[string]bool{}
	for i, raw := range doc.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("JWKS key %d: %w", i, err)
		}
		name := fmt.Sprintf("JWKS key %d", i)
		if j.Kid != "" {
			name = fmt.Sprintf("JWKS key %q", j.Kid)
		}
		if j.D != "" {
			return nil, fmt.Errorf("%s holds a private key; publish only the public key", name)
		}
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		key, err := j.publicKey()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if key == nil {
			continue // a key type Runnel does not use
		}
		alg, err := publicKeyAlg(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if j.Alg != "" && j.Alg != alg {
			continue
		}
		if j.Kid != "" {
			if seen[j.Kid] {
				return nil, fmt.Errorf("JWKS has two keys with kid %q", j.Kid)
			}
			seen[j.Kid] = true
		}
		s.keys = append(s.keys, setKey{kid: j.Kid, alg: alg, key: key})
	}
	if len(s.keys) == 0 {
		return nil, errors.New("JWKS has no RSA, P-256 or Ed25519 signing key")
	}
	return s, nil
}

// publicKey builds the key, or returns nil for a key type or curve Runnel
// does not use.
func (j *jwk) publicKey() (crypto.PublicKey, error) {
	switch j.Kty {
	case "RSA":
		n, err := b64member("n", j.N)
		if err != nil {
			return nil, err
		}
		e, err := b64member("e", j.E)
		if err != nil {
			return nil, err
		}
		if len(e) > 4 {
			return nil, errors.New(`RSA exponent "e" is too large`)
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 {
			return nil, errors.New(`RSA exponent "e" must be odd and at least 3`)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, nil
	case "EC":
		if j.Crv != "P-256" {
			return nil, nil
		}
		x, err := b64member("x", j.X)
		if err != nil {
			return nil, err
		}
		y, err := b64member("y", j.Y)
		if err != nil {
			return nil, err
		}
		if len(x) != 32 || len(y) != 32 {
			return nil, errors.New(`P-256 "x" and "y" must be 32 bytes each`)
		}
		point := append(append([]byte{4}, x...), y...)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, fmt.Errorf("bad P-256 point: %w", err)
		}
		return k, nil
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, nil
		}
		x, err := b64member("x", j.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf(`Ed25519 "x" must be %d bytes`, ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

// b64member decodes a required base64url member of a key.
func b64member(name, v string) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("missing %q", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not base64url: %w", name, err)
	}
	return b, nil
}
