package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
)

// authenticate verifies the request's bearer token. A refusal is a 401
// whose WWW-Authenticate follows RFC 6750.
func (s *Server) authenticate(c *fiber.Ctx) (*auth.Principal, error) {
	p, refusal, missing := s.verifyBearer(c.Request().Header.Peek(fiber.HeaderAuthorization))
	switch {
	case missing:
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="runnel"`)
		return nil, apierr.New(http.StatusUnauthorized, apierr.CodeUnauthenticated,
			"no token: send Authorization: Bearer <JWT>")
	case p == nil:
		return nil, s.refuse(c, refusal)
	}
	return p, nil
}

// tokenAccepted reports whether an Authorization header's value carries a
// token that verifies.
func (s *Server) tokenAccepted(header []byte) bool {
	p, _, _ := s.verifyBearer(header)
	return p != nil
}

// verifyBearer verifies the token of an Authorization header's value. It
// returns the token's principal, or why it was refused; missing is true
// when no token was given.
func (s *Server) verifyBearer(header []byte) (p *auth.Principal, refusal string, missing bool) {
	h := bytes.TrimSpace(header)
	if len(h) == 0 {
		return nil, "", true
	}
	const scheme = "bearer "
	if len(h) <= len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) {
		return nil, `the Authorization header must be "Bearer <JWT>"`, false
	}
	token := bytes.TrimSpace(h[len(scheme):])
	now := time.Now()
	if p := s.tokens.get(token, now); p != nil {
		return p, "", false
	}
	p, err := s.verifier.Verify(string(token))
	if err != nil {
		var te *auth.TokenError
		if errors.As(err, &te) {
			return nil, te.Msg, false
		}
		return nil, "the token was refused", false
	}
	s.tokens.put(token, p, now)
	return p, "", false
}

// refuse is the 401 for a token that was given but is not good.
func (s *Server) refuse(c *fiber.Ctx, msg string) error {
	c.Set(fiber.HeaderWWWAuthenticate, auth.Challenge(msg))
	return apierr.New(http.StatusUnauthorized, apierr.CodeUnauthenticated, "%s", msg)
}

func forbidden(format string, args ...any) error {
	return apierr.New(http.StatusForbidden, apierr.CodeForbidden, format, args...)
}

// Token cache bounds.
const (
	// tokenCacheTTL bounds how long a verified token is trusted without
	// another check, so that a change of keys (a JWKS rotation) takes
	// effect within it.
	tokenCacheTTL = time.Minute
	// tokenCacheMax bounds the entries; when full the cache is emptied.
	tokenCacheMax = 10000
	// tokenCacheMaxLen: longer tokens are verified every time, so that the
	// cache's memory stays bounded (at most about 40 MB).
	tokenCacheMaxLen = 4 << 10
)

// tokenCache remembers verified tokens by their text until they expire or
// tokenCacheTTL passes, whichever is first.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]cachedToken
}

type cachedToken struct {
	p     *auth.Principal
	until time.Time
}

func newTokenCache() *tokenCache { return &tokenCache{m: map[string]cachedToken{}} }

func (tc *tokenCache) get(token []byte, now time.Time) *auth.Principal {
	tc.mu.RLock()
	e, ok := tc.m[string(token)]
	tc.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e.p
}

func (tc *tokenCache) put(token []byte, p *auth.Principal, now time.Time) {
	if len(token) > tokenCacheMaxLen {
		return
	}
	until := now.Add(tokenCacheTTL)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(until) {
		until = p.ExpiresAt
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if len(tc.m) >= tokenCacheMax {
		for k, e := range tc.m {
			if !now.Before(e.until) {
				delete(tc.m, k)
			}
		}
		if len(tc.m) >= tokenCacheMax {
			clear(tc.m)
		}
	}
	tc.m[string(token)] = cachedToken{p: p, until: until}
}
