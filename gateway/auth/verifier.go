package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the length of a token; longer ones are refused as
// malformed before any decoding.
const MaxTokenBytes = 16 << 10

// Verifier checks tokens against a fixed set of keys. It is safe for
// concurrent use; build it with [NewVerifier].
type Verifier struct {
	secret   []byte
	anyKid   map[string][]any  // alg -> keys tried whatever the token's kid
	byKid    map[string]setKey // kid -> key of the JWKS
	methods  []string          // accepted algorithms, sorted
	issuer   string
	audience string
	parser   *jwt.Parser
}

// NewVerifier validates cfg and returns a Verifier for it.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		anyKid:   map[string][]any{},
		byKid:    map[string]setKey{},
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	algs := map[string]bool{}
	if len(cfg.HS256Secret) > 0 {
		v.secret = slices.Clone(cfg.HS256Secret)
		algs[AlgHS256] = true
	}
	for _, k := range cfg.PublicKeys {
		alg, _ := publicKeyAlg(k) // checked by Validate
		v.anyKid[alg] = append(v.anyKid[alg], k)
		algs[alg] = true
	}
	if cfg.JWKS != nil {
		for _, k := range cfg.JWKS.keys {
			if k.kid == "" {
				v.anyKid[k.alg] = append(v.anyKid[k.alg], k.key)
			} else {
				v.byKid[k.kid] = k
			}
			algs[k.alg] = true
		}
	}
	for alg := range algs {
		v.methods = append(v.methods, alg)
	}
	slices.Sort(v.methods)
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Algorithms returns the algorithms v accepts, sorted.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.methods) }

// claims is the payload of a Runnel token.
type claims struct {
	jwt.RegisteredClaims
	Runnel *permissions `json:"runnel,omitempty"`
}

// permissions is the "runnel" claim.
type permissions struct {
	Admin   bool     `json:"admin"`
	Produce []string `json:"produce,omitempty"`
	Consume []string `json:"consume,omitempty"`
}

// Verify checks a token (the compact JWS, without "Bearer ") and returns
// who it names and what they may do. Every error is a [*TokenError] matching
// [ErrUnauthenticated].
func (v *Verifier) Verify(token string) (*Principal, error) {
	if token == "" {
		return nil, refuse(ErrNoToken, "no token given")
	}
	if len(token) > MaxTokenBytes {
		return nil, refuse(ErrMalformed, fmt.Sprintf("token is longer than %d bytes", MaxTokenBytes))
	}
	alg, err := peekAlg(token)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(v.methods, alg) {
		return nil, refuse(ErrAlgorithm, fmt.Sprintf("token algorithm %q is not accepted; accepted: %s", alg, strings.Join(v.methods, ", ")))
	}
	var c claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.key); err != nil {
		return nil, v.explain(err, &c)
	}
	p := &Principal{Subject: c.Subject}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time
	}
	if c.Runnel != nil {
		p.Admin = c.Runnel.Admin
		p.Produce = c.Runnel.Produce
		p.Consume = c.Runnel.Consume
	}
	return p, nil
}

// peekAlg reads the "alg" of a token's header, so that a refused algorithm
// gets its own plain error. The signature check does not rely on it: the
// parser checks the algorithm again.
func peekAlg(token string) (string, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return "", refuse(ErrMalformed, "token is not a JWT: want three base64url parts separated by dots")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", refuse(ErrMalformed, "token header is not base64url")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", refuse(ErrMalformed, "token header is not a JSON object with a string \"alg\"")
	}
	if h.Alg == "" {
		return "", refuse(ErrMalformed, "token header has no \"alg\"")
	}
	return h.Alg, nil
}

// key is the jwt.Keyfunc. It returns only keys whose type belongs to the
// token's algorithm, so no key is ever used with another algorithm's check
// (an RSA public key as an HMAC secret, say).
func (v *Verifier) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !slices.Contains(v.methods, alg) {
		// The parser refuses these before calling key; never hand out a key.
		return nil, refuse(ErrAlgorithm, fmt.Sprintf("token algorithm %q is not accepted", alg))
	}
	if alg == AlgHS256 {
		return v.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	if kid != "" {
		if k, ok := v.byKid[kid]; ok {
			if k.alg != alg {
				return nil, refuse(ErrAlgorithm, fmt.Sprintf("key %q is for %s, but the token claims %s", kid, k.alg, alg))
			}
			return k.key, nil
		}
	}
	keys := v.anyKid[alg]
	if len(keys) == 0 {
		if kid != "" {
			return nil, refuse(ErrUnknownKey, fmt.Sprintf("no %s key with kid %q is configured", alg, kid))
		}
		return nil, refuse(ErrUnknownKey, fmt.Sprintf("token has no \"kid\" and every configured %s key has one", alg))
	}
	if len(keys) == 1 {
		return keys[0], nil
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k
	}
	return set, nil
}

// explain turns a golang-jwt error into a TokenError. c holds whatever
// claims were decoded.
func (v *Verifier) explain(err error, c *claims) error {
	var te *TokenError
	switch {
	case errors.As(err, &te):
		return te
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ErrMalformed, "token is malformed: its parts do not decode as base64url JSON with the standard claim types")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return refuse(ErrAlgorithm, "token cannot be verified: unknown or missing algorithm")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ErrBadSignature, "token signature is not valid for any trusted key")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ErrExpired, fmt.Sprintf("token expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339)))
	case c.ExpiresAt == nil:
		return refuse(ErrNoExpiry, "token has no \"exp\" claim; tokens must expire")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse(ErrNotYetValid, fmt.Sprintf("token is not valid before %s", c.NotBefore.UTC().Format(time.RFC3339)))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ErrNotYetValid, fmt.Sprintf("token is issued in the future, at %s; check the clocks", c.IssuedAt.UTC().Format(time.RFC3339)))
	case v.issuer != "" && c.Issuer == "":
		return refuse(ErrWrongIssuer, "token has no \"iss\" claim")
	case v.issuer != "" && c.Issuer != v.issuer:
		return refuse(ErrWrongIssuer, fmt.Sprintf("token issuer %q is not the accepted one", c.Issuer))
	case v.audience != "" && len(c.Audience) == 0:
		return refuse(ErrWrongAudience, "token has no \"aud\" claim")
	case v.audience != "" && !slices.Contains(c.Audience, v.audience):
		return refuse(ErrWrongAudience, fmt.Sprintf("token audience %q does not include the accepted one", []string(c.Audience)))
	}
	return refuse(ErrMalformed, "token claims are not valid")
}
