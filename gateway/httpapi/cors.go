package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// CORS answers, for browsers on the allowed origins.
const (
	corsAllowMethods  = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key"
	corsExposeHeaders = "Retry-After, Location, WWW-Authenticate"
	corsMaxAge        = "600"
)

// corsPolicy is the allow-list of browser origins.
type corsPolicy struct {
	any     bool
	origins map[string]bool // lower case
}

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			p.any = true
		}
		p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return p
}

// validateOrigin says why o is not an origin ("scheme://host[:port]") or
// "*".
func validateOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("allowed origin %q is not an origin: want scheme://host[:port], such as https://app.example.com, or *", o)
	}
	return nil
}

func (p corsPolicy) allows(origin string) bool {
	return p.any || p.origins[strings.ToLower(origin)]
}

// handle adds CORS headers for an allowed Origin and answers OPTIONS
// requests itself (preflights and plain ones alike); it reports whether it
// answered.
func (p corsPolicy) handle(c *fiber.Ctx, table *routeTable) bool {
	origin := c.Get(fiber.HeaderOrigin)
	allowed := origin != "" && p.allows(origin)
	if allowed {
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlExposeHeaders, corsExposeHeaders)
		c.Vary(fiber.HeaderOrigin)
	}
	if c.Method() != http.MethodOptions {
		return false
	}
	methods := table.allowed(c.Path())
	if methods == nil {
		c.Status(http.StatusNotFound)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		_ = c.Send(errorBody(apierr.New(http.StatusNotFound, apierr.CodeNotFound, "no route %s; the API is described at /openapi.yaml", c.Path())))
		return true
	}
	preflight := origin != "" && c.Get(fiber.HeaderAccessControlRequestMethod) != ""
	if preflight && !allowed {
		c.Status(http.StatusForbidden)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		_ = c.Send(errorBody(apierr.New(http.StatusForbidden, apierr.CodeForbidden, "origin %q is not allowed; the gateway's allowed origins are configured by its operator", origin)))
		return true
	}
	c.Set(fiber.HeaderAllow, strings.Join(methods, ", "))
	if preflight {
		c.Set(fiber.HeaderAccessControlAllowMethods, corsAllowMethods)
		c.Set(fiber.HeaderAccessControlAllowHeaders, corsAllowHeaders)
		c.Set(fiber.HeaderAccessControlMaxAge, corsMaxAge)
	}
	c.Status(http.StatusNoContent)
	return true
}
