package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// The JWS algorithms Runnel uses, one per kind of key.
const (
	AlgHS256 = "HS256" // HMAC-SHA256 with a shared secret
	AlgRS256 = "RS256" // RSA PKCS#1 v1.5 with SHA-256
	AlgES256 = "ES256" // ECDSA on P-256 with SHA-256
	AlgEdDSA = "EdDSA" // Ed25519
)

// MinSecretBytes is the shortest HS256 secret accepted: RFC 7518 section 3.2
// requires a key at least as long as the hash output.
const MinSecretBytes = 32

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// publicKeyAlg returns the algorithm a public key verifies, or why the key
// cannot be used.
func publicKeyAlg(k crypto.PublicKey) (string, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", errors.New("empty RSA key")
		}
		if n := k.N.BitLen(); n < MinRSABits {
			return "", fmt.Errorf("RSA key of %d bits is too short; use at least %d", n, MinRSABits)
		}
		return AlgRS256, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return "", errors.New("only P-256 EC keys are supported (ES256)")
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("Ed25519 key has %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return AlgEdDSA, nil
	case nil:
		return "", errors.New("nil key")
	}
	return "", fmt.Errorf("unsupported key type %T (want RSA, EC P-256 or Ed25519)", k)
}

// privateKeyAlg returns the algorithm a private key signs with and the key in
// the form golang-jwt wants.
func privateKeyAlg(k crypto.PrivateKey) (string, any, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		if k == nil {
			return "", nil, errors.New("nil key")
		}
		alg, err := publicKeyAlg(&k.PublicKey)
		return alg, k, err
	case *ecdsa.PrivateKey:
		if k == nil {
			return "", nil, errors.New("nil key")
		}
		alg, err := publicKeyAlg(&k.PublicKey)
		return alg, k, err
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return "", nil, fmt.Errorf("Ed25519 private key has %d bytes, want %d", len(k), ed25519.PrivateKeySize)
		}
		return AlgEdDSA, k, nil
	case nil:
		return "", nil, errors.New("nil key")
	}
	return "", nil, fmt.Errorf("unsupported key type %T (want RSA, EC P-256 or Ed25519)", k)
}

// LoadPublicKeysPEM reads the public keys of a PEM file: "PUBLIC KEY"
// (PKIX), "RSA PUBLIC KEY" (PKCS #1) and "CERTIFICATE" blocks, in any number.
func LoadPublicKeysPEM(path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := ParsePublicKeysPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// ParsePublicKeysPEM is [LoadPublicKeysPEM] on the file's contents. It fails
// on a block of another type, so that a private key put where only the public
// half belongs is noticed.
func ParsePublicKeysPEM(data []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var k crypto.PublicKey
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			return nil, fmt.Errorf("PEM block %d is %q; want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", n, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, b.Type, err)
		}
		if _, err := publicKeyAlg(k); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return keys, nil
}

// LoadPrivateKeyPEM reads one private key from a PEM file: "PRIVATE KEY"
// (PKCS #8: RSA, EC P-256 or Ed25519), "RSA PRIVATE KEY" (PKCS #1) or "EC
// PRIVATE KEY" (SEC 1). Encrypted keys are not supported.
func LoadPrivateKeyPEM(path string) (crypto.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParsePrivateKeyPEM is [LoadPrivateKeyPEM] on the file's contents. Blocks
// other than private keys (such as EC PARAMETERS) are skipped.
func ParsePrivateKeyPEM(data []byte) (crypto.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key found")
		}
		if _, ok := b.Headers["DEK-Info"]; ok || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("encrypted private keys are not supported; decrypt it first")
		}
		var k crypto.PrivateKey
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Type, err)
		}
		if _, _, err := privateKeyAlg(k); err != nil {
			return nil, err
		}
		return k, nil
	}
}
