// Package gateway assembles Runnel's HTTP and WebSocket gateway: the REST
// API (package httpapi, on fiber) and the WebSocket endpoint (package
// wsapi, on gorilla/websocket) on one listener (package listen), over one
// connection to the cluster (package backend) and one shared fan-out hub
// (package fanout).
//
// A gateway is stateless: everything it knows it reads from the brokers,
// and Idempotency-Key state lives in the partition logs, so any number of
// copies may run behind a load balancer and any of them may restart.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/console"
	"github.com/runnel-dev/runnel/gateway/fanout"
	"github.com/runnel-dev/runnel/gateway/httpapi"
	"github.com/runnel-dev/runnel/gateway/listen"
	"github.com/runnel-dev/runnel/gateway/wsapi"
)

// Config describes one gateway.
type Config struct {
	// Listen is the HTTP listen address, such as "127.0.0.1:8080";
	// Listener, when set, is used instead.
	Listen   string
	Listener net.Listener
	// TLS, when set, makes the listener HTTPS and WSS with this
	// configuration (its GetCertificate may rotate certificates; see
	// internal/tlsconf). A client that does not finish the TLS handshake
	// within HTTP.HeadTimeout is disconnected.
	TLS *tls.Config
	// BrokerTLS, when set, makes the connections to the brokers TLS with
	// this configuration (RootCAs to verify the brokers, a client
	// certificate for mutual TLS).
	BrokerTLS *tls.Config
	// Brokers are bootstrap Kafka addresses; the gateway follows Metadata
	// from there.
	Brokers []string
	// BrokerSASL, when set, is the gateway's own service credential on
	// brokers' SASL listeners (a SCRAM or OAUTHBEARER mechanism of
	// franz-go's pkg/sasl). The gateway still enforces each client's token
	// itself; the service principal needs every permission the gateway's
	// clients may be given (a super user or an admin token).
	BrokerSASL sasl.Mechanism
	// Auth is what tokens are verified against.
	Auth auth.Config
	// AllowedOrigins are the browser origins allowed by CORS and by the
	// WebSocket Origin check; "*" allows all.
	AllowedOrigins []string
	// HTTP bounds REST requests; WebSocket bounds sockets. Zero fields
	// take their defaults.
	HTTP      httpapi.Limits
	WebSocket wsapi.Limits
	// Fanout tunes the shared partition readers.
	Fanout fanout.Options
	// ProduceLeaderWait bounds how long a produce waits for a partition
	// without a leader before it answers 503 (backend.Config.LeaderWait;
	// default backend.DefaultLeaderWait).
	ProduceLeaderWait time.Duration
	// Registry receives the gateway's metrics and is served at /metrics;
	// a new one (with Go and process collectors) when nil. Pass the
	// broker's registry in "runnel dev" to serve both.
	Registry *prometheus.Registry
	// Logger receives request logs and errors; discarded when nil.
	Logger *slog.Logger
	// LogRequests logs every REST request at Info; they are at Debug
	// otherwise.
	LogRequests bool
	// Ready, when set, is checked by /readyz after the gateway's own checks;
	// "runnel dev" passes its broker's readiness. Until the checks have
	// passed once, a topic the cluster does not list yet is 503
	// unavailable (REST) or an unavailable error frame (WebSocket), not
	// topic_not_found.
	Ready func(ctx context.Context) error
	// LocalBroker, when set, is a broker in the gateway's own process
	// ("runnel dev" passes its node's broker): produces to and reads of
	// the partitions it leads are function calls, not Kafka requests over
	// loopback (backend.Config.Local).
	LocalBroker backend.LocalBroker
}

// Validate says in plain words what makes c unusable.
func (c *Config) Validate() error {
	var errs []error
	if c.Listener == nil && c.Listen == "" {
		errs = append(errs, errors.New("no HTTP listen address"))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no broker addresses"))
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("auth: %w", err))
	}
	if err := c.HTTP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Fanout.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ProduceLeaderWait < 0 {
		errs = append(errs, fmt.Errorf("produce leader wait %v is negative", c.ProduceLeaderWait))
	}
	return errors.Join(errs...)
}

// Gateway is a running gateway.
type Gateway struct {
	ln      net.Listener
	tls     bool // the listener serves HTTPS
	backend *backend.Backend
	hub     *fanout.Hub
	rest    *httpapi.Server
	ws      *wsapi.Handler
	httpSrv *http.Server
	logger  *slog.Logger

	wg       sync.WaitGroup
	mu       sync.Mutex
	serveErr error
}

// Start connects to the brokers and serves until Close.
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	verifier, err := auth.NewVerifier(cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	g := &Gateway{logger: logger}
	ok := false
	defer func() {
		if !ok {
			g.closeParts()
		}
	}()
	bcfg := backend.Config{Brokers: cfg.Brokers, Logger: logger.With("part", "backend"), LeaderWait: cfg.ProduceLeaderWait, Ready: cfg.Ready, Local: cfg.LocalBroker}
	if cfg.BrokerTLS != nil {
		bcfg.ClientOpts = append(bcfg.ClientOpts, kgo.DialTLSConfig(cfg.BrokerTLS))
	}
	if cfg.BrokerSASL != nil {
		bcfg.ClientOpts = append(bcfg.ClientOpts, kgo.SASL(cfg.BrokerSASL))
	}
	if g.backend, err = backend.New(ctx, bcfg); err != nil {
		return nil, err
	}
	fo := cfg.Fanout
	if fo.Logger == nil {
		fo.Logger = logger.With("part", "fanout")
	}
	if g.hub, err = fanout.NewHub(g.backend.Source(), fo); err != nil {
		return nil, err
	}
	if g.rest, err = httpapi.New(httpapi.Config{
		Backend: g.backend, Verifier: verifier, AllowedOrigins: cfg.AllowedOrigins,
		Registerer: reg, Gatherer: reg, Logger: logger.With("part", "http"), Limits: cfg.HTTP,
		LogRequests: cfg.LogRequests, // the Backend checks cfg.Ready
	}); err != nil {
		return nil, err
	}
	if g.ws, err = wsapi.New(wsapi.Config{
		Hub: g.hub, Verifier: verifier, Topics: g.backend, Groups: g.backend, AllowedOrigins: cfg.AllowedOrigins,
		Registerer: reg, Logger: logger.With("part", "ws"), Limits: cfg.WebSocket,
	}); err != nil {
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, fmt.Errorf("HTTP listener: %w", err)
		}
	}
	g.ln = ln
	if cfg.TLS != nil {
		// The handshake happens on the splitter's first read, within its
		// peek timeout.
		ln = tls.NewListener(ln, cfg.TLS)
		g.tls = true
	}
	// A connection's first request head must arrive within the REST
	// head timeout, whichever server it then goes to.
	headTimeout := cfg.HTTP.HeadTimeout
	if headTimeout == 0 {
		headTimeout = httpapi.DefaultHeadTimeout
	}
	wsLn, restLn, err := listen.Split(ln, listen.Options{PeekTimeout: headTimeout, Logger: logger.With("part", "listen")})
	if err != nil {
		ln.Close()
		return nil, err
	}
	g.httpSrv = &http.Server{Handler: g.ws, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	g.serve(func() error { return g.rest.Serve(restLn) })
	g.serve(func() error {
		if err := g.httpSrv.Serve(wsLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	ok = true
	return g, nil
}

func (g *Gateway) serve(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			g.logger.Error("gateway server stopped", "error", err)
			g.mu.Lock()
			if g.serveErr == nil {
				g.serveErr = err
			}
			g.mu.Unlock()
		}
	}()
}

// Addr is the address the gateway listens on.
func (g *Gateway) Addr() net.Addr { return g.ln.Addr() }

// URL is the gateway's base URL, such as http://127.0.0.1:8080, or
// https://127.0.0.1:8443 with TLS.
func (g *Gateway) URL() string {
	if g.tls {
		return "https://" + g.ln.Addr().String()
	}
	return "http://" + g.ln.Addr().String()
}

// ConsoleURL is the web console's address, such as
// http://127.0.0.1:8080/console.
func (g *Gateway) ConsoleURL() string { return g.URL() + console.PagePath }

// Close stops accepting, closes every socket and request after a short
// grace period, and disconnects from the brokers.
func (g *Gateway) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if err := g.rest.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("REST server: %w", err))
	}
	g.ws.Close()
	if err := g.httpSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("WebSocket server: %w", err))
	}
	g.ln.Close()
	g.wg.Wait()
	g.closeParts()
	g.mu.Lock()
	errs = append(errs, g.serveErr)
	g.mu.Unlock()
	return errors.Join(errs...)
}

// closeParts closes what Start opened, in reverse order.
func (g *Gateway) closeParts() {
	if g.hub != nil {
		g.hub.Close()
	}
	if g.backend != nil {
		g.backend.Close()
	}
}
