package auth

import "errors"

// ErrUnauthenticated matches every error of [Verifier.Verify]: the client did
// not prove who it is. The gateway answers it with 401 and the error's message.
var ErrUnauthenticated = errors.New("unauthenticated")

// The reasons a token is refused. Each [*TokenError] matches exactly one of
// them, and also [ErrUnauthenticated]. Callers that only need the status code
// test for ErrUnauthenticated; the specific ones are for logs, metrics and
// tests.
var (
	// ErrNoToken: no token was given. Ask the client to send one.
	ErrNoToken = errors.New("no token")
	// ErrMalformed: the token is not a well-formed JWT, or a claim has the
	// wrong JSON type.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm: the token's "alg" is not one the configured keys allow,
	// "none" included.
	ErrAlgorithm = errors.New("algorithm not accepted")
	// ErrUnknownKey: the token's "kid" names no configured key and no key
	// without an id can check it.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrBadSignature: the signature does not verify with any trusted key.
	ErrBadSignature = errors.New("bad signature")
	// ErrExpired: the token's "exp" has passed (beyond the leeway). The client
	// should get a new token.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: the token's "nbf" or "iat" is in the future (beyond
	// the leeway); often a clock skew between issuer and gateway.
	ErrNotYetValid = errors.New("token not valid yet")
	// ErrNoExpiry: the token has no "exp" claim; Runnel refuses tokens that
	// never expire.
	ErrNoExpiry = errors.New("token without expiry")
	// ErrWrongIssuer: "iss" is missing or not the configured issuer.
	ErrWrongIssuer = errors.New("wrong issuer")
	// ErrWrongAudience: "aud" is missing or does not include the configured
	// audience.
	ErrWrongAudience = errors.New("wrong audience")
)

// TokenError is a refused token. Msg says in plain words what is wrong; it
// never holds key material and is fit to send back to the client.
type TokenError struct {
	// Reason is one of the sentinel errors above, such as ErrExpired.
	Reason error
	// Msg is the human-readable explanation.
	Msg string
}

func (e *TokenError) Error() string { return e.Msg }

// Unwrap makes errors.Is match both the reason and ErrUnauthenticated.
func (e *TokenError) Unwrap() []error { return []error{e.Reason, ErrUnauthenticated} }

func refuse(reason error, msg string) *TokenError {
	return &TokenError{Reason: reason, Msg: msg}
}
