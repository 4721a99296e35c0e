package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/runnel-dev/runnel/gateway/httpapi"
)

// Router is how a floor server (ServeFloor) routes its requests.
type Router string

const (
	// BareRouter answers from a plain fasthttp handler.
	BareRouter Router = "fasthttp"
	// FiberRouter answers through a fiber app with one middleware, as
	// the gateway routes.
	FiberRouter Router = "fiber"
)

// ParseRouter returns the router named s: "fasthttp" or "fiber".
func ParseRouter(s string) (Router, error) {
	switch r := Router(s); r {
	case BareRouter, FiberRouter:
		return r, nil
	}
	return "", fmt.Errorf("router %q: want fasthttp or fiber", s)
}

// floorAnswer is what a floor server answers a produce with: the size and
// shape of a gateway's answer to a single event.
var floorAnswer = []byte(`{"results":[{"partition":0,"offset":123456,"timestamp":1796341724049}]}`)

// ServeFloor serves HTTP on ln that does no work, until ctx ends: the
// floor under a gateway's produce on the same machine. It answers
// POST /v1/topics with 409 (so "runnel bench produce" finds its topic)
// and POST /v1/topics/{topic}/events with a fixed answer of a gateway's
// size, reading the body and checking nothing; anything else is refused
// (404, or fiber's 405 for another method of a served path).
// What "runnel bench produce" measures against it is what HTTP alone
// costs the server and the client.
func ServeFloor(ctx context.Context, ln net.Listener, r Router) error {
	var handler fasthttp.RequestHandler
	switch r {
	case BareRouter:
		handler = floorHandler
	case FiberRouter:
		handler = floorFiber().Handler()
	default:
		return fmt.Errorf("floor: unknown router %q", r)
	}
	// The gateway's default timeouts: the same socket deadlines per
	// request as its server sets.
	srv := &fasthttp.Server{
		Handler:      handler,
		ReadTimeout:  httpapi.DefaultHeadTimeout,
		WriteTimeout: httpapi.DefaultWriteTimeout,
		IdleTimeout:  httpapi.DefaultIdleTimeout,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("floor: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("floor: shut down: %w", err)
	}
	return nil
}

// floorHandler is the BareRouter floor's handler.
func floorHandler(c *fasthttp.RequestCtx) {
	path := c.Path()
	switch {
	case c.IsPost() && string(path) == "/v1/topics":
		c.SetStatusCode(fasthttp.StatusConflict)
	case c.IsPost() && bytes.HasPrefix(path, []byte("/v1/topics/")) && bytes.HasSuffix(path, []byte("/events")):
		c.SetContentType(fiber.MIMEApplicationJSON)
		c.SetBody(floorAnswer)
	default:
		c.SetStatusCode(fasthttp.StatusNotFound)
	}
}

// floorFiber is the fiber app of a FiberRouter floor: the gateway's
// router, one middleware that reads the clock around the handler as the
// gateway's does, and a handler that answers.
func floorFiber() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, CaseSensitive: true})
	app.Use(func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		_ = time.Since(start)
		return err
	})
	app.Post("/v1/topics", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusConflict) })
	app.Post("/v1/topics/:topic/events", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(floorAnswer)
	})
	return app
}
