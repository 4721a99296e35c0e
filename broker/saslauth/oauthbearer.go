package saslauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/gateway/auth"
)

// OAuthBearerName is the mechanism's IANA name.
const OAuthBearerName = "OAUTHBEARER"

// OAuthBearer is the OAUTHBEARER mechanism: one client message carrying a
// JWT, verified as the gateway verifies it.
type OAuthBearer struct {
	v *auth.Verifier
}

// NewOAuthBearer returns the mechanism verifying tokens with v.
func NewOAuthBearer(v *auth.Verifier) (*OAuthBearer, error) {
	if v == nil {
		return nil, errors.New("saslauth: OAUTHBEARER needs a token verifier")
	}
	return &OAuthBearer{v: v}, nil
}

// Name returns "OAUTHBEARER".
func (*OAuthBearer) Name() string { return OAuthBearerName }

// RequiresTLS is false: a token is a bearer credential, as over HTTP; use
// a SASL_SSL listener where the network is not trusted.
func (*OAuthBearer) RequiresTLS() bool { return false }

// Start begins an exchange.
func (o *OAuthBearer) Start(kafkaserver.ConnInfo) kafkaserver.Exchange { return &oauthExchange{o: o} }

type oauthExchange struct {
	o    *OAuthBearer
	done bool
}

// Next verifies the client's only message. A refused token fails the
// exchange at once with the verifier's explanation (which never holds the
// token), rather than with RFC 7628's error challenge: Kafka clients show
// the SaslAuthenticate error message to the user.
func (e *oauthExchange) Next(_ context.Context, msg []byte) ([]byte, *kafkaserver.Identity, error) {
	if e.done {
		return nil, nil, fmt.Errorf("%w: OAUTHBEARER takes one message", kafkaserver.ErrAuthentication)
	}
	e.done = true
	m, err := parseOAuthMessage(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", kafkaserver.ErrAuthentication, err)
	}
	p, err := e.o.v.Verify(m.token)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: token refused: %w", kafkaserver.ErrAuthentication, err)
	}
	if m.authzid != "" && m.authzid != p.Subject {
		return nil, nil, fmt.Errorf("%w: authorization id %q is not the token's subject", kafkaserver.ErrAuthentication, m.authzid)
	}
	return nil, &kafkaserver.Identity{
		Mechanism: OAuthBearerName,
		Name:      "User:" + p.Subject,
		Principal: TokenPrincipal{p},
		Expires:   p.ExpiresAt,
	}, nil
}
