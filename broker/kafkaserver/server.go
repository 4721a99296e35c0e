package kafkaserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Close; callers treat it as a
// clean stop.
var ErrServerClosed = errors.New("kafkaserver: server closed")

// Server accepts Kafka protocol connections and hands decoded requests to
// a Handler. Create it with New; its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	batch BatchHandler // cfg.Handler, if it implements BatchHandler
	// pipelined is cfg.Handler, if it implements PipelinedBatchHandler.
	pipelined PipelinedBatchHandler
	apis      *apiTable
	now       func() time.Time // the clock of SASL sessions
	log       *slog.Logger
	m         *metrics

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	sendfileBytes atomic.Int64
	lastConnID    atomic.Uint64

	mu        sync.Mutex // guards closed, listeners, conns
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}

	wg sync.WaitGroup // Serve calls and connections
}

// New checks cfg, fills defaults and returns a Server ready to Serve.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	apis := cfg.APIs
	if cfg.SASL != nil {
		apis = maps.Clone(cfg.APIs)
		maps.Copy(apis, saslAPIs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	batch, _ := cfg.Handler.(BatchHandler)
	pipelined, _ := cfg.Handler.(PipelinedBatchHandler)
	return &Server{
		cfg:       cfg,
		batch:     batch,
		pipelined: pipelined,
		apis:      newAPITable(apis, cfg.OrderedAPIs),
		now:       time.Now,
		log:       cfg.Logger,
		m:         m,
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}, nil
}

// Serve accepts connections on ln until Close, which closes ln. It blocks
// and returns ErrServerClosed after Close, or the listener's error if ln
// fails for good. It may be called for several listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("kafka accept failed; retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

func (s *Server) startConn(nc net.Conn) {
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS) // handshakes in the connection's goroutine
	}
	c := newConn(s, nc, s.lastConnID.Add(1))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.connections.Inc()
	go func() {
		defer s.wg.Done()
		if c.handshake() {
			c.serve()
		}
		s.m.connections.Dec()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Close stops accepting, closes every connection (cancelling the contexts
// of requests in progress) and waits for all of the server's goroutines,
// handlers included, to return. Calling it again waits the same way.
func (s *Server) Close() error {
	s.mu.Lock()
	var errs []error
	if !s.closed {
		s.closed = true
		s.cancel()
		for ln := range s.listeners {
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		for c := range s.conns {
			c.nc.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

// SendfileBytes returns the total bytes sent from files with sendfile(2)
// since New; bytes copied by the non-TCP fallback are not counted.
func (s *Server) SendfileBytes() int64 { return s.sendfileBytes.Load() }
