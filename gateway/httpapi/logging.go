package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// finish records a request once its answer is set: metrics, and one log
// line (Info with Config.LogRequests, except for the endpoints that probes
// and scrapers poll; Debug otherwise).
func (s *Server) finish(c *fiber.Ctx, route string, start time.Time, sent *apierr.Error) {
	s.finishMethod(c, route, c.Method(), start, sent)
}

// probeRoute reports whether route is one that probes and scrapers poll:
// its requests, and the 503s of a gateway that is not ready yet, are logged
// at Debug only, since they come every few seconds and answer for themselves.
func probeRoute(route string) bool {
	switch route {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// methodUnknown labels requests fasthttp refused while reading them: it
// may have reset the request by then (a chunked body over the limit), so
// its method is not known.
const methodUnknown = "unknown"

// finishMethod is finish with the method label given.
func (s *Server) finishMethod(c *fiber.Ctx, route, method string, start time.Time, sent *apierr.Error) {
	d := time.Since(start)
	status := c.Response().StatusCode()
	label := method
	if !fiberMethodString(method) && method != methodUnknown {
		label = "other" // any token is a method: keep the label set bounded
	}
	s.metrics.observe(route, label, status, d)

	level := slog.LevelDebug
	if s.logReqs && !probeRoute(route) {
		level = slog.LevelInfo
	}
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.Int("bytes_in", bodyBytes(c)), // c.Request().Body() would read an unread body
		slog.Int("bytes_out", len(c.Response().Body())),
	)
	if p := PrincipalOf(c); p != nil {
		attrs = append(attrs, slog.String("subject", p.Subject))
	}
	if route == routeUnmatched {
		attrs = append(attrs, slog.String("path", c.Path()))
	}
	if sent != nil {
		attrs = append(attrs, slog.String("code", sent.Code))
	}
	s.log.LogAttrs(ctx, level, "http request", attrs...)
}
