package kafkaserver

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SASLConfig turns on SASL authentication (Kafka's SASL_PLAINTEXT and
// SASL_SSL listeners). A connection must then authenticate with
// SaslHandshake and SaslAuthenticate before any request other than
// ApiVersions; the server answers those two itself and closes a
// connection that sends anything else first, as Kafka does.
type SASLConfig struct {
	// Mechanisms are offered to clients in this order; at least one,
	// with distinct names.
	Mechanisms []Mechanism

	// MaxReauth is Kafka's connections.max.reauth.ms (KIP-368): the
	// longest a connection stays authenticated before it must
	// authenticate again. Zero means only the credential's own expiry
	// (a token's "exp") bounds the session. The session lifetime sent in
	// SaslAuthenticate v1+ is the shorter of the two; a request that
	// arrives after it, other than a re-authentication, closes the
	// connection.
	MaxReauth time.Duration
}

// Mechanism is one SASL mechanism offered on a listener.
type Mechanism interface {
	// Name is the mechanism's IANA name, such as "OAUTHBEARER".
	Name() string
	// RequiresTLS reports whether the mechanism sends secrets in the
	// clear (PLAIN) and so is refused on connections without TLS.
	RequiresTLS() bool
	// Start begins one authentication exchange on a connection.
	Start(conn ConnInfo) Exchange
}

// Exchange is one authentication exchange: the client's SaslAuthenticate
// messages in turn, until it succeeds or fails.
type Exchange interface {
	// Next takes the client's next message and returns the server's
	// reply. When id is non-nil the client is authenticated (the reply, if
	// any, is the server's last message). An error fails the exchange:
	// its message goes to the client, so it must not hold secrets, and the
	// connection is closed. Next must not block on the network; ctx ends
	// with the connection.
	Next(ctx context.Context, msg []byte) (reply []byte, id *Identity, err error)
}

// Identity is who authenticated a connection. The server hands it to the
// handler with every request (Request.Identity); the handler authorizes
// with Principal.
type Identity struct {
	// Mechanism is the name of the mechanism used.
	Mechanism string
	// Name identifies the principal in Kafka's form ("User:alice"). A
	// re-authentication must name the same principal.
	Name string
	// Principal is what the handler authorizes with; its type is the
	// mechanism's.
	Principal any
	// Expires is when the credential stops being valid (a token's "exp");
	// zero if it does not expire.
	Expires time.Time
}

// ErrAuthentication wraps the errors of Exchange.Next that mean the
// client's credentials were refused (SASL_AUTHENTICATION_FAILED).
var ErrAuthentication = errors.New("authentication failed")

func (c *SASLConfig) validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	if len(c.Mechanisms) == 0 {
		errs = append(errs, errors.New("kafkaserver: SASL needs at least one mechanism"))
	}
	seen := map[string]bool{}
	for i, m := range c.Mechanisms {
		switch {
		case m == nil:
			errs = append(errs, fmt.Errorf("kafkaserver: SASL mechanism %d is nil", i))
		case m.Name() == "":
			errs = append(errs, fmt.Errorf("kafkaserver: SASL mechanism %d has no name", i))
		case seen[m.Name()]:
			errs = append(errs, fmt.Errorf("kafkaserver: SASL mechanism %s is listed twice", m.Name()))
		default:
			seen[m.Name()] = true
		}
	}
	if c.MaxReauth < 0 {
		errs = append(errs, fmt.Errorf("kafkaserver: SASL MaxReauth %v is negative", c.MaxReauth))
	}
	return errors.Join(errs...)
}
