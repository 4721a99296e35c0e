package saslauth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// SCRAM mechanism names.
const (
	SCRAMSHA256 = "SCRAM-SHA-256"
	SCRAMSHA512 = "SCRAM-SHA-512"
)

// MinSCRAMIterations is the fewest PBKDF2 iterations a SCRAM credential may
// use (Kafka's minimum, RFC 7677's recommendation).
const MinSCRAMIterations = 4096

// MaxSCRAMIterations bounds the work one authentication may cost.
const MaxSCRAMIterations = 16384

// SCRAMCredential is what the server keeps of a SCRAM password (RFC 5802
// section 3): never the password itself.
type SCRAMCredential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// scramHash returns the hash of a SCRAM mechanism.
func scramHash(mechanism string) (func() hash.Hash, error) {
	switch mechanism {
	case SCRAMSHA256:
		return sha256.New, nil
	case SCRAMSHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unknown SCRAM mechanism %q; want %s or %s", mechanism, SCRAMSHA256, SCRAMSHA512)
}

// ValidateSCRAMIterations reports why n is not an acceptable iteration
// count.
func ValidateSCRAMIterations(n int) error {
	if n < MinSCRAMIterations || n > MaxSCRAMIterations {
		return fmt.Errorf("SCRAM iterations %d out of range; want %d to %d", n, MinSCRAMIterations, MaxSCRAMIterations)
	}
	return nil
}

// NewSCRAMCredential derives the credential of password for mechanism, as
// Kafka's AlterUserScramCredentials does from a client's salted password.
func NewSCRAMCredential(mechanism, password string, salt []byte, iterations int) (SCRAMCredential, error) {
	h, err := scramHash(mechanism)
	if err != nil {
		return SCRAMCredential{}, err
	}
	if err := ValidateSCRAMIterations(iterations); err != nil {
		return SCRAMCredential{}, err
	}
	if len(salt) == 0 {
		return SCRAMCredential{}, errors.New("SCRAM salt is empty")
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return SCRAMCredential{}, fmt.Errorf("derive SCRAM salted password: %w", err)
	}
	return CredentialFromSaltedPassword(mechanism, salted, salt, iterations)
}

// CredentialFromSaltedPassword derives the stored and server keys from a
// salted password (what AlterUserScramCredentials carries).
func CredentialFromSaltedPassword(mechanism string, salted, salt []byte, iterations int) (SCRAMCredential, error) {
	h, err := scramHash(mechanism)
	if err != nil {
		return SCRAMCredential{}, err
	}
	if err := ValidateSCRAMIterations(iterations); err != nil {
		return SCRAMCredential{}, err
	}
	if len(salted) != h().Size() {
		return SCRAMCredential{}, fmt.Errorf("%s salted password is %d bytes; want %d", mechanism, len(salted), h().Size())
	}
	clientKey := hmacOf(h, salted, []byte("Client Key"))
	hc := h()
	hc.Write(clientKey)
	return SCRAMCredential{
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  hc.Sum(nil),
		ServerKey:  hmacOf(h, salted, []byte("Server Key")),
	}, nil
}

func hmacOf(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}
