package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/runnel-dev/runnel/broker"
)

// registerMetrics adds --metrics, the operator HTTP address: Prometheus
// metrics, the tiering endpoints "runnel tier" calls and, with --pprof,
// the runtime profiles ("runnel dev" also serves its metrics through its
// gateway).
func (f *brokerFlags) registerMetrics(fs *flag.FlagSet) {
	fs.StringVar(&f.metrics, "metrics", "", "operator HTTP `address`: Prometheus metrics at /metrics, tiered storage at /v1/tier/ (\"runnel tier\"); default: not served")
	fs.BoolVar(&f.pprof, "pprof", false, "also serve the Go runtime profiles (net/http/pprof) at /debug/pprof/ on the --metrics address")
}

// withMetrics runs the node with run, first serving its metrics (and the
// operator endpoints, once run reports the node started) when --metrics
// asks, until run returns.
func (f *brokerFlags) withMetrics(ctx context.Context, inv *invocation, run func(context.Context, *invocation, broker.NodeConfig, func(*broker.Node)) error, cfg broker.NodeConfig) error {
	if f.metrics == "" {
		if f.pprof {
			return usagef("--pprof serves on the --metrics address: give --metrics too")
		}
		return run(ctx, inv, cfg, nil)
	}
	reg := newMetricsRegistry()
	ops := &operatorAPI{}
	stop, err := serveMetrics(f.metrics, reg, f.pprof, ops, cfg.Logger)
	if err != nil {
		return err
	}
	defer stop()
	cfg.Metrics = reg
	return run(ctx, inv, cfg, ops.attach)
}

// newMetricsRegistry returns a registry holding the Go runtime and process
// collectors, for a node's metrics.
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves reg at http://addr/metrics (Prometheus text) until
// the returned function closes it; with withPprof, the runtime profiles
// too (servePprof); with ops, the operator endpoints under /v1/.
func serveMetrics(addr string, reg *prometheus.Registry, withPprof bool, ops http.Handler, log *slog.Logger) (func() error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if withPprof {
		servePprof(mux)
	}
	if ops != nil {
		mux.Handle("/v1/", ops)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() error {
		err := srv.Close()
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}, nil
}
