package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/openapispec"
	"github.com/runnel-dev/runnel/internal/testwait"
)

func TestOps(t *testing.T) {
	var readyErr error
	h := newHarness(t, harnessOpts{ready: func(context.Context) error { return readyErr }, logRequests: true})

	r := h.do(req{method: "GET", path: "/healthz"})
	wantStatus(t, r, 200)
	if string(r.body) != "ok\n" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("healthz %q %q", r.body, r.header.Get("Content-Type"))
	}
	wantStatus(t, h.do(req{method: "GET", path: "/readyz"}), 200)
	h.be.mu.Lock()
	h.be.notReady = errors.New("no broker answered at 127.0.0.1:9092")
	h.be.mu.Unlock()
	wantError(t, h.do(req{method: "GET", path: "/readyz"}), 503, "unavailable", "no broker answered")
	h.be.mu.Lock()
	h.be.notReady = nil
	h.be.mu.Unlock()
	readyErr = errors.New("subscriptions hub not started")
	wantError(t, h.do(req{method: "GET", path: "/readyz"}), 503, "unavailable", "hub not started")
	readyErr = nil

	r = h.do(req{method: "GET", path: "/openapi.yaml"})
	wantStatus(t, r, 200)
	if r.header.Get("Content-Type") != "application/yaml" || string(r.body) != string(openapispec.YAML()) {
		t.Fatalf("openapi.yaml: %q, %d bytes", r.header.Get("Content-Type"), len(r.body))
	}

	h.createTopic("orders", 1)
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics/orders", token: h.admin()}), 200)
	r = h.do(req{method: "GET", path: "/metrics"})
	wantStatus(t, r, 200)
	for _, want := range []string{
		`runnel_gateway_http_requests_total{method="GET",route="/v1/topics/{topic}",status="200"} 1`,
		`runnel_gateway_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`runnel_gateway_http_request_duration_seconds_count{method="GET",route="/v1/topics/{topic}"} 1`,
		`runnel_gateway_events_in_total 0`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Request logs: the route pattern, status and subject; probes at Debug.
	logs := h.logs.String()
	if !strings.Contains(logs, `"level":"INFO","msg":"http request","method":"GET","route":"/v1/topics/{topic}","status":200`) ||
		!strings.Contains(logs, `"subject":"root"`) || !strings.Contains(logs, `"level":"DEBUG","msg":"http request","method":"GET","route":"/healthz"`) {
		t.Fatalf("request logs:\n%s", logs)
	}
}

// TestRequestLogsOffByDefault: without LogRequests a request is logged at
// Debug only, so a load does not flood the Info log; a /readyz 503 while
// the cluster starts is not a warning either.
func TestRequestLogsOffByDefault(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.be.mu.Lock()
	h.be.notReady = errors.New("no broker answered at 127.0.0.1:9092")
	h.be.mu.Unlock()
	wantError(t, h.do(req{method: "GET", path: "/readyz"}), 503, "unavailable", "no broker answered")
	h.createTopic("orders", 1)
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics/orders", token: h.admin()}), 200)
	logs := h.logs.String()
	if strings.Contains(logs, `"level":"INFO","msg":"http request"`) || strings.Contains(logs, `"level":"WARN"`) ||
		!strings.Contains(logs, `"level":"DEBUG","msg":"http request","method":"GET","route":"/v1/topics/{topic}","status":200`) {
		t.Fatalf("request logs:\n%s", logs)
	}
}

// TestRouting: requests outside openapi.yaml still get JSON errors.
func TestRouting(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.do(req{method: "GET", path: "/v2/nothing", raw: true})
	wantError(t, r, 404, "not_found", "/v2/nothing")
	r = h.do(req{method: "PUT", path: "/v1/topics/orders", token: h.admin(), body: `{}`, raw: true})
	wantError(t, r, 405, "method_not_allowed", "PUT")
	if a := r.header.Get("Allow"); a != "DELETE, GET, HEAD, OPTIONS, PATCH" {
		t.Fatalf("Allow %q", a)
	}
	r = h.do(req{method: "BREW", path: "/v1/topics", raw: true})
	wantError(t, r, 405, "method_not_allowed", "BREW")
	if a := r.header.Get("Allow"); a != "GET, HEAD, OPTIONS, POST" {
		t.Fatalf("Allow %q", a)
	}
	wantError(t, h.do(req{method: "BREW", path: "/coffee", raw: true}), 404, "not_found")
	if v := h.metricValue("runnel_gateway_http_requests_total", map[string]string{"method": "other", "status": "405"}); v != 1 {
		t.Fatalf("unknown methods not labelled other: %v", v)
	}
	// A trailing slash is the same route.
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics/", token: h.admin(), raw: true}), 200)
	if v := h.metricValue("runnel_gateway_http_requests_total", map[string]string{"route": routeUnmatched, "status": "404"}); v != 1 {
		t.Fatalf("unmatched 404s counted %v", v)
	}
	// GET /v1/ws without an upgrade (upgrades never reach this server):
	// 400 invalid_request, as openapi.yaml says, with or without a token.
	wantError(t, h.do(req{method: "GET", path: "/v1/ws"}), 400, "invalid_request", "WebSocket upgrade")
	wantError(t, h.do(req{method: "GET", path: "/v1/ws?access_token=x", token: h.admin()}), 400, "invalid_request", "WebSocket upgrade")
	// HEAD works where GET does, without a body.
	r = h.do(req{method: "HEAD", path: "/healthz", raw: true})
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("HEAD /healthz: %d %q", r.status, r.body)
	}
}

// TestBodyTooLargeDefault: the 413 reaches a client still writing a body
// far over the limit, on a plain TCP listener and on one whose
// connections are wrapped (as package listen wraps them).
func TestBodyTooLargeDefault(t *testing.T) {
	for _, wrap := range []func(net.Listener) net.Listener{nil, func(ln net.Listener) net.Listener { return wrappingListener{ln} }} {
		h := newHarness(t, harnessOpts{wrap: wrap})
		tok := h.token(auth.MintOptions{Produce: []string{"*"}})
		big := `{"value":"` + strings.Repeat("x", 4*DefaultMaxBodyBytes) + `"}`
		for range 3 {
			wantError(t, h.do(req{method: "POST", path: "/v1/topics/orders/events", token: tok, body: big}), 413, "payload_too_large", "1048576")
		}
	}
}

// wrappingListener hides the connections' concrete type.
type wrappingListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrappingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

func TestCORS(t *testing.T) {
	h := newHarness(t, harnessOpts{origins: []string{"https://app.example.com"}})
	preflight := func(origin string) *response {
		return h.do(req{method: "OPTIONS", path: "/v1/topics/orders/events", raw: true,
			header: []string{"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type, idempotency-key"}})
	}
	r := preflight("https://app.example.com")
	wantStatus(t, r, 204)
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Idempotency-Key") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight headers %v", r.header)
	}
	wantError(t, preflight("https://evil.example.com"), 403, "forbidden", "evil.example.com")
	wantError(t, h.do(req{method: "OPTIONS", path: "/nope", raw: true}), 404, "not_found")
	r = h.do(req{method: "OPTIONS", path: "/v1/topics", raw: true})
	if r.status != 204 || r.header.Get("Allow") != "GET, HEAD, OPTIONS, POST" {
		t.Fatalf("plain OPTIONS: %d %v", r.status, r.header)
	}

	// Actual requests: the allowed origin gets the header, even on errors.
	r = h.do(req{method: "GET", path: "/v1/topics", header: []string{"Origin", "https://app.example.com"}})
	if r.status != 401 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("CORS on a 401: %d %v", r.status, r.header)
	}
	r = h.do(req{method: "GET", path: "/healthz", header: []string{"Origin", "https://evil.example.com"}})
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin got %q", r.header.Get("Access-Control-Allow-Origin"))
	}

	any := newHarness(t, harnessOpts{origins: []string{"*"}})
	r = any.do(req{method: "GET", path: "/healthz", header: []string{"Origin", "https://whoever.test"}})
	if r.header.Get("Access-Control-Allow-Origin") != "https://whoever.test" {
		t.Fatalf("* did not allow an origin: %v", r.header)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: Limits{RatePerSecond: 0.5, Burst: 2}})
	alice := h.token(auth.MintOptions{Subject: "alice", Admin: true})
	alice2 := h.token(auth.MintOptions{Subject: "alice", Admin: true, TTL: 2 * time.Hour})
	bob := h.token(auth.MintOptions{Subject: "bob", Admin: true})
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics", token: alice}), 200)
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics", token: alice2}), 200)
	// The bucket is the subject's, whichever of its tokens is used.
	r := h.do(req{method: "GET", path: "/v1/topics", token: alice2})
	wantError(t, r, 429, "rate_limited", "retry after")
	if ra := r.header.Get("Retry-After"); ra != "2" {
		t.Fatalf("Retry-After %q, want 2 (one token at 0.5/s)", ra)
	}
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics", token: bob}), 200)
	// Ops endpoints are not limited.
	wantStatus(t, h.do(req{method: "GET", path: "/healthz"}), 200)
}

func TestRateLimiterRefills(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(10, 2, func() time.Time { return now })
	for i := range 2 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused for 100ms", ok, wait)
	}
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("not refilled after 100ms at 10/s")
	}
	// Idle buckets go once there are many, full ones only.
	for i := range sweepAt {
		l.allow(itoa(i))
	}
	now = now.Add(time.Hour)
	l.allow("new")
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after a sweep, want 1", len(l.buckets))
	}
}

func TestShutdownEndsLongPolls(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.createTopic("orders", 1)
	tok := h.admin()
	done := make(chan *response, 1)
	go func() {
		done <- h.do(req{method: "GET", path: "/v1/topics/orders/partitions/0/events?offset=0&wait_ms=30000", token: tok})
	}()
	// Wait until the poll is in the Backend.
	testwait.For(t, 5*time.Second, 10*time.Millisecond, func() error {
		h.be.mu.Lock()
		defer h.be.mu.Unlock()
		if h.be.waiting == 0 {
			return errNotYet
		}
		return nil
	})
	start := time.Now()
	h.close()
	select {
	case r := <-done:
		wantError(t, r, 503, "unavailable", "shutting down")
	case <-time.After(5 * time.Second):
		t.Fatal("long poll still open after Shutdown")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("Shutdown took %v", time.Since(start))
	}
}

func TestExtraRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{routes: []Route{
		{Method: "GET", Path: "/v1/things/{thing}", Handler: func(c *fiber.Ctx) error {
			p := PrincipalOf(c)
			if !p.IsAdmin() {
				return apierr.New(http.StatusForbidden, apierr.CodeForbidden, "admin only")
			}
			return c.JSON(map[string]string{"thing": c.Params("thing"), "by": p.Subject})
		}},
		{Method: "GET", Path: "/v1/public-thing", Public: true, Handler: func(c *fiber.Ctx) error { return c.SendString("public") }},
	}})
	r := h.do(req{method: "GET", path: "/v1/things/g1", token: h.admin(), raw: true})
	if r.status != 200 || string(r.body) != `{"by":"root","thing":"g1"}` {
		t.Fatalf("extra route: %d %s", r.status, r.body)
	}
	wantError(t, h.do(req{method: "GET", path: "/v1/things/g1", raw: true}), 401, "unauthenticated")
	wantError(t, h.do(req{method: "GET", path: "/v1/things/g1", token: h.token(auth.MintOptions{}), raw: true}), 403, "forbidden")
	if r := h.do(req{method: "GET", path: "/v1/public-thing", raw: true}); r.status != 200 {
		t.Fatalf("public extra route: %d", r.status)
	}
	if v := h.metricValue("runnel_gateway_http_requests_total", map[string]string{"route": "/v1/things/{thing}", "status": "200"}); v != 1 {
		t.Fatalf("extra route metric %v", v)
	}
}

func TestConfigValidate(t *testing.T) {
	_, err := New(Config{
		AllowedOrigins: []string{"app.example.com"},
		Limits:         Limits{MaxBodyBytes: -1, MaxFetchLimit: 5000, MaxWait: time.Minute, Burst: 3},
		Routes:         []Route{{Method: "GET", Path: "x"}},
	})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"no Backend", "no Verifier", `"app.example.com" is not an origin`, "MaxBodyBytes -1",
		"MaxFetchLimit 5000", "MaxWait 1m0s", "Burst 3 is set but RatePerSecond is 0", "has no handler"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestServeReturnsAfterShutdown, and a closed listener is not an error.
func TestServeReturnsAfterShutdown(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	wantStatus(t, h.do(req{method: "GET", path: "/healthz"}), 200)
	h.close()
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(h.base, "http://"), time.Second); err == nil {
		resp, err := h.raw.Get(h.base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			t.Fatal("still serving after Shutdown")
		}
	}
}

// TestTokensNeverLogged: request logs (at every level) carry the subject,
// never a token: not from the Authorization header, not from a query string
// (?access_token= is how browsers open WebSockets), on matched and
// unmatched routes, for accepted and refused tokens alike.
func TestTokensNeverLogged(t *testing.T) {
	h := newHarness(t, harnessOpts{logRequests: true})
	h.createTopic("orders", 1)
	good := h.admin()
	bad := good[:len(good)-4] + "AAAA"
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics/orders?access_token=" + good, token: good}), 200)
	wantStatus(t, h.do(req{method: "GET", path: "/v1/topics/orders?access_token=" + bad, token: bad}), 401)
	wantStatus(t, h.do(req{method: "GET", path: "/v1/ws?access_token=" + good, raw: true}), 400)
	wantStatus(t, h.do(req{method: "GET", path: "/nowhere?access_token=" + good, token: good, raw: true}), 404)
	logs := h.logs.String()
	if !strings.Contains(logs, `"msg":"http request"`) {
		t.Fatalf("no request logged:\n%s", logs)
	}
	for _, tok := range []string{good, bad, good[strings.LastIndexByte(good, '.')+1:]} {
		if strings.Contains(logs, tok) {
			t.Fatalf("a token (or its signature) is in the logs:\n%s", logs)
		}
	}
}
