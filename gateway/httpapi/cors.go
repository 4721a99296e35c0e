package httpapi

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/origin"
)

// CORS answers, for browsers on the allowed origins.
const (
	corsAllowMethods  = "GET, HEAD, POST, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key"
	corsExposeHeaders = "Retry-After, Location, WWW-Authenticate"
	corsMaxAge        = "600"
)

// corsPolicy answers CORS for the origins of its allow-list, the same
// list the WebSocket Origin check uses.
type corsPolicy struct {
	allow origin.AllowList
}

// handle adds CORS headers for an allowed Origin and answers OPTIONS
// requests itself (preflights and plain ones alike); it reports whether it
// answered.
func (p corsPolicy) handle(c *fiber.Ctx, table *routeTable) bool {
	from := c.Get(fiber.HeaderOrigin)
	allowed := from != "" && p.allow.Allows(from)
	if allowed {
		c.Set(fiber.HeaderAccessControlAllowOrigin, from)
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
	preflight := from != "" && c.Get(fiber.HeaderAccessControlRequestMethod) != ""
	if preflight && !allowed {
		c.Status(http.StatusForbidden)
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		_ = c.Send(errorBody(apierr.New(http.StatusForbidden, apierr.CodeForbidden, "%s", origin.Refusal(from))))
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
