package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
)

// Codes this package adds to apierr's.
const (
	codeMethodNotAllowed     = "method_not_allowed"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeHeadersTooLarge      = "headers_too_large"
)

// defaultRetryAfter is sent with a 503 whose cause gave no Retry-After:
// openapi.yaml promises the header on every 503.
const defaultRetryAfter = time.Second

// writeError answers the request with err as the JSON error body and
// returns the error as sent.
func (s *Server) writeError(c *fiber.Ctx, err error) *apierr.Error {
	e := s.toAPIError(c, err)
	if e.Status >= 500 {
		// The client gets the message; the cause is for operators.
		level, msg := slog.LevelWarn, "request failed"
		switch {
		case e.Code == apierr.CodeInternal:
			level, msg = slog.LevelError, "internal error"
		case probeRoute(c.Path()):
			level = slog.LevelDebug
		}
		s.log.LogAttrs(context.Background(), level, msg, slog.String("method", c.Method()), slog.String("path", c.Path()),
			slog.String("code", e.Code), slog.String("message", e.Message), slog.Any("err", e.Err))
	}
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		secs := e.RetryAfterSeconds()
		if secs == 0 {
			secs = int(defaultRetryAfter / time.Second)
		}
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	} else if secs := e.RetryAfterSeconds(); secs > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	}
	c.Status(e.Status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	_ = c.Send(errorBody(e))
	return e
}

// toAPIError maps any error a handler, fiber or fasthttp gives to what the
// client sees.
func (s *Server) toAPIError(c *fiber.Ctx, err error) *apierr.Error {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return s.fromFiber(c, fe)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &apierr.Error{Status: http.StatusServiceUnavailable, Code: apierr.CodeTimeout,
			Message: "the cluster did not answer in time", RetryAfter: defaultRetryAfter, Err: err}
	}
	return apierr.As(err)
}

// fromFiber maps fiber's errors: routing misses and what fasthttp refused
// while reading the request.
func (s *Server) fromFiber(c *fiber.Ctx, fe *fiber.Error) *apierr.Error {
	path := c.Path()
	switch fe.Code {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		allowed := s.table.allowed(path)
		if len(allowed) == 0 {
			return apierr.New(http.StatusNotFound, apierr.CodeNotFound, "no route %s %s; the API is described at /openapi.yaml", c.Method(), path)
		}
		c.Set(fiber.HeaderAllow, strings.Join(allowed, ", "))
		return apierr.New(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s is not allowed on %s; allowed: %s", c.Method(), path, strings.Join(allowed, ", "))
	case http.StatusRequestEntityTooLarge:
		return apierr.New(http.StatusRequestEntityTooLarge, apierr.CodeTooLarge, "the request body is larger than %d bytes", s.limits.MaxBodyBytes)
	case http.StatusRequestHeaderFieldsTooLarge:
		return apierr.New(http.StatusRequestHeaderFieldsTooLarge, codeHeadersTooLarge, "the request head is larger than %d bytes", readBufferSize)
	case http.StatusRequestTimeout:
		return apierr.New(http.StatusRequestTimeout, apierr.CodeTimeout, "the request head was not received within %v", s.limits.HeadTimeout)
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return apierr.New(fe.Code, apierr.CodeInvalidRequest, "malformed HTTP request: %s", fe.Message)
	}
	return &apierr.Error{Status: http.StatusInternalServerError, Code: apierr.CodeInternal,
		Message: "internal error; see the gateway's log", Err: fe}
}

// errorBody is {"error": {"code", "message", ...Extra}}. Extra cannot
// replace code or message.
func errorBody(e *apierr.Error) []byte {
	m := make(map[string]any, 2+len(e.Extra))
	for k, v := range e.Extra {
		m[k] = v
	}
	m["code"] = e.Code
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	m["message"] = msg
	b, err := json.Marshal(map[string]any{"error": m})
	if err != nil {
		// Extra held something JSON cannot carry; drop it.
		b, _ = json.Marshal(map[string]any{"error": map[string]string{"code": e.Code, "message": msg}})
	}
	return b
}

// serverError is fiber's ErrorHandler. The outer middleware answers every
// error of a routed request itself, so this sees only what fasthttp
// refused before routing: heads too large or malformed, heads not received
// within HeadTimeout.
func (s *Server) serverError(c *fiber.Ctx, err error) error {
	start := time.Now()
	e := s.writeError(c, err)
	s.finishMethod(c, routeUnmatched, methodUnknown, start, e)
	return nil
}

// invalidJSON is a 400 invalid_json for an encoding/json error of body,
// saying where it broke.
func invalidJSON(body []byte, err error) *apierr.Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// encoding/json counts the byte that broke; name that byte.
		off := int(se.Offset)
		if off > 0 && off <= len(body) && !strings.HasPrefix(se.Error(), "unexpected end") {
			off--
		}
		line, col := lineCol(body, off)
		return &apierr.Error{Status: http.StatusBadRequest, Code: apierr.CodeInvalidJSON,
			Message: fmt.Sprintf("body: invalid JSON at line %d, column %d (byte %d): %v", line, col, off, se),
			Extra:   map[string]any{"line": line, "column": col, "offset": off}}
	}
	return &apierr.Error{Status: http.StatusBadRequest, Code: apierr.CodeInvalidJSON, Message: "body: " + err.Error()}
}

// lineCol locates the byte at offset off, both from 1; the column counts
// bytes.
func lineCol(b []byte, off int) (line, col int) {
	off = min(max(off, 0), len(b))
	line = 1 + bytes.Count(b[:off], []byte{'\n'})
	return line, off - bytes.LastIndexByte(b[:off], '\n')
}
