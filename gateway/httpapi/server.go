package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/console"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/openapispec"
	"github.com/runnel-dev/runnel/gateway/origin"
)

// readBufferSize bounds a request's head: it must hold the largest token
// the verifier takes (auth.MaxTokenBytes) beside the other headers.
const readBufferSize = auth.MaxTokenBytes + 8<<10

// Server is the REST API. Build it with New, run it with Serve, stop it
// with Shutdown.
type Server struct {
	be       Backend
	verifier *auth.Verifier
	limits   Limits
	log      *slog.Logger
	logReqs  bool // Config.LogRequests
	ready    func(context.Context) error
	openapi  []byte
	gatherer prometheus.Gatherer

	app     *fiber.App
	table   *routeTable
	metrics *metrics
	limiter *rateLimiter // nil without a rate limit
	budget  *byteBudget  // request bodies' memory (body.go)
	tokens  *tokenCache
	cors    corsPolicy

	// drain is cancelled by Shutdown, ending long polls early so that
	// connections become idle.
	drain     context.Context
	stopDrain context.CancelFunc

	// lingering counts connections being drained before their close.
	lingering lingerSet

	events sync.Pool // *[]event.Event
	bufs   sync.Pool // *[]byte, response bodies being built
}

// New validates cfg and builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s := &Server{
		be:       cfg.Backend,
		verifier: cfg.Verifier,
		limits:   cfg.Limits.withDefaults(),
		log:      cfg.Logger,
		logReqs:  cfg.LogRequests,
		ready:    cfg.Ready,
		openapi:  cfg.OpenAPI,
		gatherer: cfg.Gatherer,
		table:    newRouteTable(),
		tokens:   newTokenCache(),
		cors:     corsPolicy{allow: origin.NewAllowList(cfg.AllowedOrigins)},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if len(s.openapi) == 0 {
		s.openapi = openapispec.YAML()
	}
	reg := cfg.Registerer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg = r
		if s.gatherer == nil {
			s.gatherer = r
		}
	}
	if s.gatherer == nil {
		s.gatherer = reg.(prometheus.Gatherer) // checked by Validate
	}
	s.budget = newByteBudget(s.limits.MaxBodyBytesInFlight)
	m, err := newMetrics(reg, func() float64 { return float64(s.limits.MaxBodyBytesInFlight - s.budget.available()) })
	if err != nil {
		return nil, fmt.Errorf("httpapi: register metrics: %w", err)
	}
	s.metrics = m
	if s.limits.RatePerSecond > 0 {
		s.limiter = newRateLimiter(s.limits.RatePerSecond, s.limits.Burst, time.Now)
	}
	s.drain, s.stopDrain = context.WithCancel(context.Background())

	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		// Bodies are read by the handlers, after the checks the head
		// allows, within a memory budget and at a minimum rate (body.go).
		// ReadTimeout then bounds the head and fasthttp's prefetch of the
		// body's first 8 KiB.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true, // it would read a whole multipart body before the handler
		BodyLimit:                    s.limits.MaxBodyBytes,
		ReadTimeout:                  s.limits.HeadTimeout,
		WriteTimeout:                 s.limits.WriteTimeout,
		IdleTimeout:                  s.limits.IdleTimeout,
		ReadBufferSize:               readBufferSize,
		// Not ReduceMemoryUsage, which would free idle connections' read
		// buffers: fasthttp 1.51 then gives a read buffer to another
		// connection while a streamed body still reads from it (fixed in
		// fasthttp's pull request 1844; TestConcurrentStreamedBodies).
		CaseSensitive: true,
		ErrorHandler:  s.serverError,
	})
	s.app.Server().HeaderReceived = s.headerReceived
	// fiber answers a method outside its list with a text 400 before any
	// handler runs; answer it as any other method a path does not serve.
	inner := s.app.Server().Handler
	s.app.Server().Handler = func(fctx *fasthttp.RequestCtx) {
		if fiberMethod(fctx.Method()) {
			inner(fctx)
			return
		}
		start := time.Now()
		c := s.app.AcquireCtx(fctx)
		defer s.app.ReleaseCtx(c)
		e := s.writeError(c, fiber.ErrMethodNotAllowed)
		s.finish(c, routeUnmatched, start, e)
		s.endBody(c)
	}
	s.app.Use(s.outer)
	s.routes(cfg.Routes)
	return s, nil
}

// fiberMethod reports whether fiber routes method m.
func fiberMethod(m []byte) bool {
	for _, k := range fiber.DefaultMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

func fiberMethodString(m string) bool {
	for _, k := range fiber.DefaultMethods {
		if m == k {
			return true
		}
	}
	return false
}

// routes registers every route.
func (s *Server) routes(extra []Route) {
	s.public(http.MethodGet, "/healthz", s.healthz)
	s.public(http.MethodGet, "/readyz", s.readyz)
	s.public(http.MethodGet, "/metrics", s.metricsHandler())
	s.public(http.MethodGet, "/openapi.yaml", s.openAPI)
	// The web console: static files; its API calls carry the user's token.
	s.public(http.MethodGet, console.PagePath, console.Serve)
	s.public(http.MethodGet, console.AssetPath, console.Serve)
	// Upgrades to /v1/ws go to package wsapi before they reach this
	// server; what arrives here is a plain GET.
	s.public(http.MethodGet, "/v1/ws", func(c *fiber.Ctx) error { return apierr.NotWebSocket(c.Path()) })

	s.v1(http.MethodPost, "/v1/topics", true, s.createTopic)
	s.v1(http.MethodGet, "/v1/topics", true, s.listTopics)
	s.v1(http.MethodGet, "/v1/topics/{topic}", true, s.describeTopic)
	s.v1(http.MethodPatch, "/v1/topics/{topic}", true, s.alterTopic)
	s.v1(http.MethodDelete, "/v1/topics/{topic}", true, s.deleteTopic)
	s.v1(http.MethodPost, "/v1/topics/{topic}/events", false, s.produce)
	s.v1(http.MethodGet, "/v1/topics/{topic}/partitions/{partition}/events", false, s.fetch)
	s.v1(http.MethodGet, "/v1/topics/{topic}/offsets", false, s.offsets)
	s.v1(http.MethodGet, "/v1/groups", false, s.listGroups)
	s.v1(http.MethodGet, "/v1/groups/{group}", false, s.describeGroup)
	s.v1(http.MethodDelete, "/v1/groups/{group}", false, s.deleteGroup)
	s.v1(http.MethodPost, "/v1/groups/{group}/offsets", false, s.commitGroupOffsets)
	s.v1(http.MethodGet, "/v1/admin/scram-users", true, s.listScramUsers)
	s.v1(http.MethodPut, "/v1/admin/scram-users/{user}/{mechanism}", true, s.setScramPassword)
	s.v1(http.MethodDelete, "/v1/admin/scram-users/{user}/{mechanism}", true, s.deleteScramCredential)

	for _, r := range extra {
		// Extra handlers read the body with c.Body(), which would read a
		// streamed body without any bound: read it for them first.
		h := func(c *fiber.Ctx) error {
			if _, err := s.body(c); err != nil {
				return err
			}
			return r.Handler(c)
		}
		if r.Public {
			s.public(r.Method, r.Path, h)
			continue
		}
		s.v1(r.Method, r.Path, false, func(c *fiber.Ctx, _ *auth.Principal) error { return h(c) })
	}
}

// public registers a route without authentication.
func (s *Server) public(method, path string, h fiber.Handler) {
	s.register(method, path, true, h)
}

// register adds a route to fiber and to the route table.
func (s *Server) register(method, path string, public bool, h fiber.Handler) {
	fp := s.table.add(method, path, public)
	if method == http.MethodGet {
		s.app.Get(fp, h) // and HEAD
	} else {
		s.app.Add(method, fp, h)
	}
}

// handlerFunc is a /v1 handler, called with the verified principal.
type handlerFunc func(c *fiber.Ctx, p *auth.Principal) error

// v1 registers an authenticated, rate-limited route; admin routes also
// need the admin permission.
func (s *Server) v1(method, path string, admin bool, h handlerFunc) {
	s.register(method, path, false, func(c *fiber.Ctx) error {
		p, err := s.authenticate(c)
		if err != nil {
			return err
		}
		if withheld(c, withheldToken) {
			// The token verified now but not when the head arrived (a
			// key rotation, a "nbf" just passed): the body is gone.
			return s.refuse(c, "the token was refused")
		}
		c.Locals(principalKey{}, p)
		if err := s.rateLimit(p); err != nil {
			return err
		}
		if admin && !p.IsAdmin() {
			return apierr.New(http.StatusForbidden, apierr.CodeForbidden, "token is not an admin token; topic management needs the admin permission")
		}
		return h(c, p)
	})
}

type principalKey struct{}

// PrincipalOf returns the verified client of a request on an
// authenticated route (see Route), or nil.
func PrincipalOf(c *fiber.Ctx) *auth.Principal {
	p, _ := c.Locals(principalKey{}).(*auth.Principal)
	return p
}

// outer wraps every routed request: CORS, panic recovery, the JSON error
// body for any error, metrics and the request log.
func (s *Server) outer(c *fiber.Ctx) (err error) {
	start := c.Context().Time() // fasthttp's clock reading as the handler began
	route := routeUnmatched
	var sent *apierr.Error
	defer func() {
		if r := recover(); r != nil {
			cause := fmt.Errorf("panic serving %s %s: %v\n%s", c.Method(), c.Path(), r, debug.Stack())
			c.Response().Reset()
			sent = s.writeError(c, cause)
			route = s.table.label(c.Route().Path)
			err = nil
		}
		s.finish(c, route, start, sent)
		s.endBody(c)
	}()
	if s.cors.handle(c, s.table) {
		route = routePreflight
		return nil
	}
	if withheld(c, withheldTooLarge) {
		// Refused from its Content-Length alone, before routing and
		// authentication.
		sent = s.writeError(c, s.bodyTooLarge())
		return nil
	}
	if err := c.Next(); err != nil {
		sent = s.writeError(c, err)
	}
	route = s.table.label(c.Route().Path)
	return nil
}

// Serve answers requests on ln until Shutdown; it then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.app.Listener(lingerListener{Listener: ln, set: &s.lingering}); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("httpapi: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections, ends long polls (they answer 503
// with Retry-After, so clients move to another gateway), and waits for
// requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopDrain()
	if err := s.app.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("httpapi: shutdown: %w", err)
	}
	// Closing connections drain for at most lingerTimeout.
	select {
	case <-s.lingering.stop():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("httpapi: shutdown: connections still closing: %w", ctx.Err())
	}
}

// getEvents returns a pooled event slice.
func (s *Server) getEvents() *[]event.Event {
	if p, ok := s.events.Get().(*[]event.Event); ok {
		return p
	}
	evs := make([]event.Event, 0, 16)
	return &evs
}

// putEvents clears the slice, so the pool keeps no bodies alive, and
// pools it.
func (s *Server) putEvents(p *[]event.Event) {
	clear((*p)[:cap(*p)])
	*p = (*p)[:0]
	s.events.Put(p)
}

// getBuf returns a pooled buffer for building a response body.
func (s *Server) getBuf() *[]byte {
	if p, ok := s.bufs.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 4096)
	return &b
}

// sendBuf sends b as the JSON body (fasthttp copies it) and pools b.
func (s *Server) sendBuf(c *fiber.Ctx, status int, b *[]byte) {
	c.Status(status)
	c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	c.Response().SetBody(*b)
	if cap(*b) <= 1<<20 { // don't keep the odd huge one
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}
