package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/origin"
)

// Config is what a Server needs. Backend and Verifier are required; the
// rest have defaults.
type Config struct {
	// Backend is the cluster.
	Backend Backend
	// Verifier checks bearer tokens.
	Verifier *auth.Verifier
	// AllowedOrigins are the browser origins CORS allows, such as
	// "https://app.example.com"; "*" allows every origin. The WebSocket
	// checks the same list. Empty: no cross-origin browser access.
	AllowedOrigins []string
	// Registerer receives the metrics; a new registry when nil.
	Registerer prometheus.Registerer
	// Gatherer is served at /metrics. When nil, Registerer must be a
	// Gatherer too (a *prometheus.Registry is).
	Gatherer prometheus.Gatherer
	// Logger receives the causes of 500s and one line per request, at
	// Debug unless LogRequests; discarded when nil.
	Logger *slog.Logger
	// LogRequests logs each request at Info (probes and scrapes of
	// /healthz, /readyz and /metrics stay at Debug).
	LogRequests bool
	// OpenAPI is served at /openapi.yaml; the embedded openapi.yaml
	// (package openapispec) when empty.
	OpenAPI []byte
	// Ready, when set, is checked by /readyz after Backend.Ready.
	Ready func(ctx context.Context) error
	// Limits bound requests; zero fields take their defaults.
	Limits Limits
	// Routes are more routes to serve beside the built-in ones.
	Routes []Route
}

// Route is an extra route, such as the consumer-group calls. It gets the
// same outer handling as the built-in routes: CORS, panic recovery, JSON
// errors, metrics and logs.
type Route struct {
	// Method is an HTTP method such as "GET".
	Method string
	// Path is in openapi.yaml's form, such as "/v1/groups/{group}".
	Path string
	// Public routes skip authentication and rate limiting. Others need a
	// valid bearer token; the handler reads it with PrincipalOf and checks
	// the permission itself.
	Public bool
	// Handler answers the request. An error it returns is sent as the
	// JSON error body: an *apierr.Error as it is, anything else as 500.
	Handler fiber.Handler
}

// Limits bound what one request may ask for.
type Limits struct {
	// MaxBodyBytes is the largest request body; larger is 413. Default
	// 1 MiB.
	MaxBodyBytes int
	// MaxEventsPerRequest is the most events one produce request may
	// carry; more is 413. Default 1000.
	MaxEventsPerRequest int
	// RatePerSecond is the sustained request rate allowed per token
	// subject; 0 disables rate limiting.
	RatePerSecond float64
	// Burst is how many requests a subject may send at once above the
	// rate. Default: RatePerSecond rounded up, at least 1.
	Burst int
	// MaxBodyBytesInFlight bounds the memory of all request bodies being
	// received or served at once. A body's buffer is taken from it as the
	// body arrives; a request that finds it spent waits up to a second
	// and is then refused with 503 and Retry-After. At least MaxBodyBytes.
	// Default 64 MiB.
	MaxBodyBytesInFlight int64
	// HeadTimeout bounds receiving a request's head, with the first 8 KiB
	// of its body, which fasthttp reads along with it. Default 10 s.
	HeadTimeout time.Duration
	// ReadTimeout bounds receiving a request's body, from the end of its
	// head. Default 30 s.
	ReadTimeout time.Duration
	// MinBodyRate is the slowest a body may arrive, in bytes per second,
	// once BodyRateGrace has passed: a body must have sent
	// (t - BodyRateGrace) * MinBodyRate bytes t after its head, or it is
	// cut with 408 (as Apache's mod_reqtimeout MinRate). Default 8 KiB/s.
	MinBodyRate int
	// BodyRateGrace is how long a body may take before MinBodyRate
	// applies. Default 5 s.
	BodyRateGrace time.Duration
	// WriteTimeout bounds writing one response. Default 30 s.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default
	// 2 min.
	IdleTimeout time.Duration
	// MaxFetchLimit is the largest "limit" a fetch may ask for, at most
	// 1000 (openapi.yaml). Default 1000.
	MaxFetchLimit int
	// MaxWait is the longest "wait_ms" a fetch may ask for, at most 30 s
	// (openapi.yaml). Default 30 s.
	MaxWait time.Duration
}

// Defaults and bounds of Limits.
const (
	DefaultMaxBodyBytes         = 1 << 20
	DefaultMaxEventsPerRequest  = 1000
	DefaultMaxBodyBytesInFlight = 64 << 20
	DefaultHeadTimeout          = 10 * time.Second
	DefaultReadTimeout          = 30 * time.Second
	DefaultMinBodyRate          = 8 << 10
	DefaultBodyRateGrace        = 5 * time.Second
	DefaultWriteTimeout         = 30 * time.Second
	DefaultIdleTimeout          = 2 * time.Minute
	// MaxFetchLimit and MaxWait are openapi.yaml's bounds for "limit"
	// and "wait_ms", and the defaults of the Limits fields.
	MaxFetchLimit = 1000
	MaxWait       = 30 * time.Second
)

// withDefaults returns l with zero fields filled.
func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxEventsPerRequest == 0 {
		l.MaxEventsPerRequest = DefaultMaxEventsPerRequest
	}
	if l.Burst == 0 && l.RatePerSecond > 0 {
		l.Burst = max(1, int(l.RatePerSecond+0.999999))
	}
	if l.MaxBodyBytesInFlight == 0 {
		l.MaxBodyBytesInFlight = max(DefaultMaxBodyBytesInFlight, int64(l.MaxBodyBytes))
	}
	if l.HeadTimeout == 0 {
		l.HeadTimeout = DefaultHeadTimeout
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.MinBodyRate == 0 {
		l.MinBodyRate = DefaultMinBodyRate
	}
	if l.BodyRateGrace == 0 {
		l.BodyRateGrace = DefaultBodyRateGrace
	}
	if l.WriteTimeout == 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxFetchLimit == 0 {
		l.MaxFetchLimit = MaxFetchLimit
	}
	if l.MaxWait == 0 {
		l.MaxWait = MaxWait
	}
	return l
}

// Validate says in plain words what makes l unusable. Zero fields are
// fine: they take their defaults.
func (l Limits) Validate() error {
	var errs []error
	if l.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d is negative", l.MaxBodyBytes))
	}
	if l.MaxEventsPerRequest < 0 {
		errs = append(errs, fmt.Errorf("MaxEventsPerRequest %d is negative", l.MaxEventsPerRequest))
	}
	maxBody := int64(l.MaxBodyBytes)
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	if l.MaxBodyBytesInFlight < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytesInFlight %d is negative", l.MaxBodyBytesInFlight))
	} else if l.MaxBodyBytesInFlight > 0 && l.MaxBodyBytesInFlight < maxBody {
		errs = append(errs, fmt.Errorf("MaxBodyBytesInFlight %d is less than MaxBodyBytes %d: the largest body could never be received", l.MaxBodyBytesInFlight, maxBody))
	}
	if l.MinBodyRate < 0 {
		errs = append(errs, fmt.Errorf("MinBodyRate %d is negative", l.MinBodyRate))
	}
	if l.RatePerSecond < 0 {
		errs = append(errs, fmt.Errorf("RatePerSecond %v is negative; 0 turns rate limiting off", l.RatePerSecond))
	}
	if l.Burst < 0 {
		errs = append(errs, fmt.Errorf("Burst %d is negative", l.Burst))
	}
	if l.Burst > 0 && l.RatePerSecond == 0 {
		errs = append(errs, fmt.Errorf("Burst %d is set but RatePerSecond is 0 (no rate limit)", l.Burst))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HeadTimeout", l.HeadTimeout}, {"ReadTimeout", l.ReadTimeout}, {"BodyRateGrace", l.BodyRateGrace}, {"WriteTimeout", l.WriteTimeout}, {"IdleTimeout", l.IdleTimeout}, {"MaxWait", l.MaxWait}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if l.MaxFetchLimit < 0 || l.MaxFetchLimit > MaxFetchLimit {
		errs = append(errs, fmt.Errorf("MaxFetchLimit %d is out of range; want 1 to %d", l.MaxFetchLimit, MaxFetchLimit))
	}
	if l.MaxWait > MaxWait {
		errs = append(errs, fmt.Errorf("MaxWait %v is longer than the API's %v", l.MaxWait, MaxWait))
	}
	return errors.Join(errs...)
}

// Validate says in plain words what makes c unusable.
func (c *Config) Validate() error {
	var errs []error
	if c.Backend == nil {
		errs = append(errs, errors.New("no Backend: the API has no cluster to talk to"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("no Verifier: every /v1 call needs its bearer token checked"))
	}
	if c.Gatherer == nil && c.Registerer != nil {
		if _, ok := c.Registerer.(prometheus.Gatherer); !ok {
			errs = append(errs, errors.New("Registerer is not a Gatherer and no Gatherer is set: /metrics would have nothing to serve"))
		}
	}
	for _, o := range c.AllowedOrigins {
		if err := origin.Validate(o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("limits: %w", err))
	}
	for i, r := range c.Routes {
		switch {
		case r.Handler == nil:
			errs = append(errs, fmt.Errorf("route %d (%s %s) has no handler", i, r.Method, r.Path))
		case !knownMethod(r.Method):
			errs = append(errs, fmt.Errorf("route %d: method %q is not one of GET, HEAD, POST, PUT, PATCH, DELETE", i, r.Method))
		case !strings.HasPrefix(r.Path, "/"):
			errs = append(errs, fmt.Errorf("route %d: path %q does not start with /", i, r.Path))
		}
	}
	return errors.Join(errs...)
}

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}
