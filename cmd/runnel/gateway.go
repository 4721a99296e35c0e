package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/runnel-dev/runnel/gateway"
	"github.com/runnel-dev/runnel/internal/tlsconf"
)

// stringList is a repeatable flag; each use adds one value, or several
// separated by commas.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// gatewayFlags are the settings shared by "runnel gateway" and "runnel dev".
type gatewayFlags struct {
	http           string
	keys           tokenKeyFlags
	allowedOrigins stringList
	tls            tlsFiles // the HTTP listener's ("runnel dev": and its SSL listeners')
	brokerTLS      tlsFiles // connections to the brokers
	srvTLS         *tls.Config
	srvStore       *tlsconf.Store // opened by serverTLS
	cfg            gateway.Config
}

func (f *gatewayFlags) register(fs *flag.FlagSet, http string) {
	fs.StringVar(&f.http, "http", http, "HTTP and WebSocket listen `address`")
	f.keys.register(fs)
	fs.Var(&f.allowedOrigins, "allowed-origins", "browser `origins` allowed by CORS and the WebSocket check, comma-separated; * for all")
	fs.IntVar(&f.cfg.HTTP.MaxBodyBytes, "max-body-bytes", 0, "largest request body (default 1 MiB)")
	fs.IntVar(&f.cfg.HTTP.MaxEventsPerRequest, "max-events-per-request", 0, "most events in one produce request (default 1000)")
	fs.Int64Var(&f.cfg.HTTP.MaxBodyBytesInFlight, "max-body-bytes-in-flight", 0, "memory all request bodies being received may hold at once; more wait up to 1 s, then 503 (default 64 MiB)")
	fs.DurationVar(&f.cfg.HTTP.HeadTimeout, "head-timeout", 0, "longest a request head (and its body's first 8 KiB) may take to arrive (default 10s)")
	fs.DurationVar(&f.cfg.HTTP.ReadTimeout, "body-timeout", 0, "longest a request body may take to arrive after its head (default 30s)")
	fs.IntVar(&f.cfg.HTTP.MinBodyRate, "min-body-rate", 0, "slowest a request body may arrive after --body-rate-grace, in bytes per second; slower is cut with 408 (default 8192)")
	fs.DurationVar(&f.cfg.HTTP.BodyRateGrace, "body-rate-grace", 0, "how long a request body may take before --min-body-rate applies (default 5s)")
	fs.Float64Var(&f.cfg.HTTP.RatePerSecond, "rate-limit", 0, "requests per second allowed per token subject (0: unlimited)")
	fs.IntVar(&f.cfg.HTTP.Burst, "rate-burst", 0, "requests a subject may send at once above --rate-limit (default: the rate)")
	fs.IntVar(&f.cfg.WebSocket.MaxSubscriptionsPerSocket, "max-subscriptions", 0, "most subscriptions on one WebSocket (default 100)")
	fs.DurationVar(&f.cfg.ProduceLeaderWait, "produce-leader-wait", 0, "how long a produce waits for a partition without a leader before it answers 503 with Retry-After (default 5s)")
	fs.BoolVar(&f.cfg.LogRequests, "log-requests", false, "log every REST request at info (otherwise at debug)")
	f.tls.register(fs, "tls-", "tls-client-ca", "serve HTTPS and WSS with this certificate",
		"require client certificates signed by these CAs on the HTTP listener")
	f.brokerTLS.register(fs, "broker-tls-", "broker-ca", "client certificate for TLS connections to the brokers",
		"connect to the brokers with TLS, verifying them against these CAs")
	fs.DurationVar(&f.cfg.WebSocket.WriteDelay, "ws-write-delay", 0, "how long a WebSocket's writer waits to gather more events into one write (0: write at once)")
}

// config resolves the flags into a gateway config; defaultSecret is used
// when no key is given ("runnel dev").
func (f *gatewayFlags) config(ctx context.Context, brokers []string, defaultSecret []byte) (gateway.Config, error) {
	cfg := f.cfg
	cfg.Listen = f.http
	cfg.Brokers = brokers
	cfg.AllowedOrigins = f.allowedOrigins
	var err error
	if cfg.Auth, err = f.keys.authConfig(ctx, defaultSecret); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg, nil
}

// serverTLS opens --tls-cert, --tls-key and --tls-client-ca once (nil
// when not given).
func (f *gatewayFlags) serverTLS(log *slog.Logger) (*tls.Config, error) {
	if f.srvStore == nil && f.tls.set() {
		var err error
		if f.srvTLS, f.srvStore, err = f.tls.serverConfig(log); err != nil {
			return nil, err
		}
	}
	return f.srvTLS, nil
}

// openTLS reads the TLS files into cfg (TLS and BrokerTLS) and returns
// the stores to reload on SIGHUP.
func (f *gatewayFlags) openTLS(cfg *gateway.Config, log *slog.Logger) ([]*tlsconf.Store, error) {
	srv, err := f.serverTLS(log)
	if err != nil {
		return nil, err
	}
	if f.brokerTLS.cert != "" && f.brokerTLS.ca == "" {
		return nil, usagef("--broker-tls-cert needs --broker-ca: the brokers are verified against it")
	}
	bs, err := f.brokerTLS.open(log, false)
	if err != nil {
		return nil, err
	}
	cfg.TLS = srv
	if bs != nil {
		cfg.BrokerTLS = bs.ClientConfig("")
	}
	return []*tlsconf.Store{f.srvStore, bs}, nil
}

// gatewayCommand is "runnel gateway": one stateless gateway.
func gatewayCommand() *command {
	var gf gatewayFlags
	var bs brokerSASLFlags
	var brokers stringList
	var logLevel string
	return &command{
		name:    "gateway",
		summary: "run one stateless HTTP and WebSocket gateway",
		help: `Run one gateway: the REST API and the WebSocket endpoint (/v1/ws) on one
address, in front of a Runnel (or Kafka) cluster. Gateways keep no state of
their own; run as many as you like behind a load balancer.`,
		flags: func(fs *flag.FlagSet) {
			gf.register(fs, "127.0.0.1:8080")
			fs.Var(&brokers, "brokers", "bootstrap Kafka `addresses` host:port,... (required)")
			bs.register(fs, "broker-sasl", "the gateway")
			fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if len(brokers) == 0 {
				return usagef("--brokers is required, e.g. 127.0.0.1:9092")
			}
			log, err := parseLogger(inv, logLevel)
			if err != nil {
				return err
			}
			cfg, err := gf.config(ctx, brokers, nil)
			if err != nil {
				return err
			}
			cfg.Logger = log
			stores, err := gf.openTLS(&cfg, log)
			if err != nil {
				return err
			}
			defer reloadOnHUP(ctx, log, stores...)()
			if cfg.BrokerSASL, err = bs.mech(); err != nil {
				return err
			}
			g, err := gateway.Start(ctx, cfg)
			if err != nil {
				return fmt.Errorf("start the gateway: %w", err)
			}
			log.Info("gateway started", "url", g.URL(), "brokers", strings.Join(brokers, ","))
			<-ctx.Done()
			log.Info("shutting down")
			return g.Close()
		},
	}
}
