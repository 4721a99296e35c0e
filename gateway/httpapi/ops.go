package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// readyTimeout bounds the /readyz checks.
const readyTimeout = 5 * time.Second

// healthz answers while the process runs.
func (s *Server) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.SendString("ok\n")
}

// readyz answers 200 when the Backend (and Config.Ready) says the gateway
// can serve, else 503 with the reason.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(s.drain, readyTimeout)
	defer cancel()
	if s.drain.Err() != nil {
		return &apierr.Error{Status: http.StatusServiceUnavailable, Code: apierr.CodeUnavailable,
			Message: "the gateway is shutting down", RetryAfter: time.Second}
	}
	if err := s.be.Ready(ctx); err != nil {
		return notReady(err)
	}
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			return notReady(err)
		}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.SendString("ok\n")
}

// notReady is the 503 for a failed check. The reason is meant for
// operators (it names the brokers tried, say), and /readyz is theirs.
func notReady(cause error) *apierr.Error {
	msg := cause.Error()
	var ae *apierr.Error
	if errors.As(cause, &ae) {
		msg = ae.Message
	}
	return &apierr.Error{Status: http.StatusServiceUnavailable, Code: apierr.CodeUnavailable,
		Message: "not ready: " + msg, RetryAfter: time.Second, Err: cause}
}

// openAPI serves the API's contract.
func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(s.openapi)
}
