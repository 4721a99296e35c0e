package saslauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"fmt"
	"unicode/utf8"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
)

// PlainName is the PLAIN mechanism's name.
const PlainName = "PLAIN"

// maxPlainMessage bounds a PLAIN message: RFC 4616 allows 255 bytes per
// field.
const maxPlainMessage = 3*255 + 2

// Plain is the PLAIN mechanism (RFC 4616): the client sends its password,
// which is checked against the user's SCRAM credential (SCRAM-SHA-512 if it
// has one, else SCRAM-SHA-256), so that one stored credential serves both.
// It sends the password in the clear, so the server offers it on TLS
// connections only.
type Plain struct {
	users SCRAMUsers
}

// NewPlain returns the mechanism checking passwords against users.
func NewPlain(users SCRAMUsers) (*Plain, error) {
	if users == nil {
		return nil, fmt.Errorf("saslauth: PLAIN needs a user store")
	}
	return &Plain{users: users}, nil
}

// Name returns "PLAIN".
func (*Plain) Name() string { return PlainName }

// RequiresTLS is true: the password crosses the network.
func (*Plain) RequiresTLS() bool { return true }

// Start begins an exchange.
func (p *Plain) Start(conn kafkaserver.ConnInfo) kafkaserver.Exchange {
	return &plainExchange{p: p, conn: conn}
}

type plainExchange struct {
	p    *Plain
	conn kafkaserver.ConnInfo
	done bool
}

// Next checks the client's only message.
func (e *plainExchange) Next(_ context.Context, msg []byte) ([]byte, *kafkaserver.Identity, error) {
	if e.done {
		return nil, nil, fmt.Errorf("%w: PLAIN takes one message", kafkaserver.ErrAuthentication)
	}
	e.done = true
	authzid, user, password, err := parsePlainMessage(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", kafkaserver.ErrAuthentication, err)
	}
	if authzid != "" && authzid != user {
		return nil, nil, fmt.Errorf("%w: authorization id %q is not the user name", kafkaserver.ErrAuthentication, authzid)
	}
	if !e.p.check(user, password) {
		return nil, nil, errBadCredentials
	}
	return nil, &kafkaserver.Identity{Mechanism: PlainName, Name: "User:" + user, Principal: e.p.users.SCRAMPrincipal(user, e.conn)}, nil
}

// check reports whether password is user's, by the SCRAM credential.
func (p *Plain) check(user, password string) bool {
	for _, mech := range []string{SCRAMSHA512, SCRAMSHA256} {
		cred, ok := p.users.SCRAMCredential(mech, user)
		if !ok {
			continue
		}
		if ValidateSCRAMIterations(cred.Iterations) != nil {
			return false
		}
		h, _ := scramHash(mech)
		salted, err := pbkdf2.Key(h, password, cred.Salt, cred.Iterations, h().Size())
		if err != nil {
			return false
		}
		got, err := CredentialFromSaltedPassword(mech, salted, cred.Salt, cred.Iterations)
		return err == nil && hmac.Equal(got.StoredKey, cred.StoredKey)
	}
	return false
}

// parsePlainMessage splits [authzid] NUL authcid NUL passwd. It never
// panics.
func parsePlainMessage(msg []byte) (authzid, user, password string, err error) {
	if len(msg) > maxPlainMessage {
		return "", "", "", fmt.Errorf("PLAIN message is %d bytes; at most %d", len(msg), maxPlainMessage)
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("PLAIN message must be authzid, user and password separated by NUL")
	}
	for _, p := range parts {
		if !utf8.Valid(p) {
			return "", "", "", fmt.Errorf("PLAIN message is not UTF-8")
		}
	}
	if len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", fmt.Errorf("PLAIN user name and password must not be empty")
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}
