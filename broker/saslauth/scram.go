package saslauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
)

// SCRAMUsers is where SCRAM mechanisms find users. Implementations must be
// safe for concurrent use.
type SCRAMUsers interface {
	// SCRAMCredential returns user's credential for mechanism
	// (SCRAMSHA256 or SCRAMSHA512), if the user has one.
	SCRAMCredential(mechanism, user string) (SCRAMCredential, bool)
	// SCRAMPrincipal returns what user may do on the connection conn
	// (Kafka's ACLs may name the client's host).
	SCRAMPrincipal(user string, conn kafkaserver.ConnInfo) Principal
}

// SCRAM is a SCRAM-SHA-256 or SCRAM-SHA-512 mechanism (RFC 5802, 7677).
type SCRAM struct {
	name  string
	hash  func() hash.Hash
	users SCRAMUsers
}

// NewSCRAM returns the mechanism named mechanism (SCRAMSHA256 or
// SCRAMSHA512) checking passwords against users.
func NewSCRAM(mechanism string, users SCRAMUsers) (*SCRAM, error) {
	h, err := scramHash(mechanism)
	if err != nil {
		return nil, err
	}
	if users == nil {
		return nil, errors.New("saslauth: SCRAM needs a user store")
	}
	return &SCRAM{name: mechanism, hash: h, users: users}, nil
}

// Name returns the mechanism's name.
func (s *SCRAM) Name() string { return s.name }

// RequiresTLS is false: SCRAM never sends the password.
func (*SCRAM) RequiresTLS() bool { return false }

// Start begins an exchange.
func (s *SCRAM) Start(conn kafkaserver.ConnInfo) kafkaserver.Exchange {
	return &scramExchange{s: s, conn: conn}
}

// errBadCredentials is the one answer to a wrong user or password, so
// that the answer does not tell which.
var errBadCredentials = fmt.Errorf("%w: invalid user name or password", kafkaserver.ErrAuthentication)

type scramExchange struct {
	s      *SCRAM
	conn   kafkaserver.ConnInfo
	step   int
	first  *scramClientFirst
	cred   SCRAMCredential
	known  bool   // the user has a credential
	nonce  string // client nonce + server nonce
	snonce string // the server's part
	sfm    string // server-first-message
}

// Next runs the two client messages of SCRAM.
func (e *scramExchange) Next(_ context.Context, msg []byte) ([]byte, *kafkaserver.Identity, error) {
	e.step++
	switch e.step {
	case 1:
		return e.clientFirst(msg)
	case 2:
		return e.clientFinal(msg)
	}
	return nil, nil, fmt.Errorf("%w: SCRAM exchange is over", kafkaserver.ErrAuthentication)
}

func (e *scramExchange) clientFirst(msg []byte) ([]byte, *kafkaserver.Identity, error) {
	first, err := parseSCRAMClientFirst(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", kafkaserver.ErrAuthentication, err)
	}
	e.first = first
	e.cred, e.known = e.s.users.SCRAMCredential(e.s.name, first.user)
	if !e.known {
		// Go on with a made-up salt so that an unknown user fails where
		// a wrong password does.
		e.cred = SCRAMCredential{Salt: randomBytes(16), Iterations: MinSCRAMIterations}
	}
	e.snonce = base64.RawURLEncoding.EncodeToString(randomBytes(18))
	e.nonce = first.nonce + e.snonce
	e.sfm = fmt.Sprintf("r=%s,s=%s,i=%d", e.nonce, base64.StdEncoding.EncodeToString(e.cred.Salt), e.cred.Iterations)
	return []byte(e.sfm), nil, nil
}

func (e *scramExchange) clientFinal(msg []byte) ([]byte, *kafkaserver.Identity, error) {
	final, err := parseSCRAMClientFinal(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", kafkaserver.ErrAuthentication, err)
	}
	if string(final.channelBinding) != e.first.gs2Header {
		return nil, nil, fmt.Errorf("%w: SCRAM channel binding does not repeat the GS2 header", kafkaserver.ErrAuthentication)
	}
	// RFC 5802 wants the nonce of the server's first message back.
	// librdkafka sends the client's nonce followed by that whole nonce;
	// Kafka accepts any nonce that ends with the server's part, and so do
	// we, when it also starts with the client's. The proof covers the
	// message as sent either way.
	if len(final.nonce) < len(e.nonce) || !strings.HasPrefix(final.nonce, e.first.nonce) || !strings.HasSuffix(final.nonce, e.snonce) {
		return nil, nil, fmt.Errorf("%w: SCRAM nonce does not match", kafkaserver.ErrAuthentication)
	}
	if !e.known || ValidateSCRAMIterations(e.cred.Iterations) != nil {
		return nil, nil, errBadCredentials
	}
	authMessage := []byte(e.first.bare + "," + e.sfm + "," + final.withoutProof)
	clientSignature := hmacOf(e.s.hash, e.cred.StoredKey, authMessage)
	if len(final.proof) != len(clientSignature) {
		return nil, nil, errBadCredentials
	}
	clientKey := make([]byte, len(clientSignature))
	subtle.XORBytes(clientKey, final.proof, clientSignature)
	h := e.s.hash()
	h.Write(clientKey)
	if !hmac.Equal(h.Sum(nil), e.cred.StoredKey) {
		return nil, nil, errBadCredentials
	}
	serverSignature := hmacOf(e.s.hash, e.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), &kafkaserver.Identity{
		Mechanism: e.s.name,
		Name:      "User:" + e.first.user,
		Principal: e.s.users.SCRAMPrincipal(e.first.user, e.conn),
	}, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux.
	return b
}
