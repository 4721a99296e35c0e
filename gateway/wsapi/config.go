package wsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/gateway/backend"
	"github.com/runnel-dev/runnel/gateway/fanout"
	"github.com/runnel-dev/runnel/gateway/origin"
)

// Topics is what subscriptions need to know of the cluster; the gateway's
// *backend.Backend implements it (the same methods serve the REST API).
// Errors meant for the client are *apierr.Error values; they reach the
// client as error frames with their code and message. Other errors are
// logged and sent as internal_error.
type Topics interface {
	// TopicMeta describes a topic cheaply: name, ID and partition count.
	// An unknown topic is a 404 *apierr.Error with code topic_not_found.
	TopicMeta(ctx context.Context, name string) (backend.TopicMeta, error)
	// Offsets lists every partition's bounds and, when timestamp is not
	// nil, the first offset whose timestamp is at or after it
	// (ForTimestamp; -1 when no event is that recent). It answers the
	// {"time": ms} form of "from".
	Offsets(ctx context.Context, topic string, timestamp *int64) ([]backend.PartitionOffsets, error)
}

// Config is what a Handler needs. Hub, Verifier and Topics are required;
// the rest have defaults.
type Config struct {
	// Hub serves every subscription; it stays the caller's to close,
	// after Handler.Close.
	Hub *fanout.Hub
	// Verifier checks tokens, from the upgrade request or auth frames.
	Verifier *auth.Verifier
	// Topics resolves topic names and timestamps.
	Topics Topics
	// Groups joins consumer groups for subscriptions with "group"; nil
	// refuses them.
	Groups Groups
	// AllowedOrigins are the browser origins allowed to open sockets, the
	// list CORS uses: exact origins such as "https://app.example.com", or
	// "*" for any. Requests without an Origin header (not from a browser)
	// are always allowed. Empty: no browser may connect.
	AllowedOrigins []string
	// Registerer receives the metrics; a new registry when nil.
	Registerer prometheus.Registerer
	// Logger receives socket lifecycles at debug level and internal
	// errors; discarded when nil.
	Logger *slog.Logger
	// Limits bound sockets; zero fields take their defaults.
	Limits Limits
	// LagRefreshInterval is how often the high watermarks of subscribed
	// partitions are fetched (one Topics.Offsets call per subscribed
	// topic), for the subscriber lag metric. Default 10 s.
	LagRefreshInterval time.Duration
}

// Limits bound what one socket may hold and how long it may stall.
type Limits struct {
	// MaxSubscriptionsPerSocket bounds the live subscriptions of one
	// socket; one more is refused with an error frame. Default 100.
	MaxSubscriptionsPerSocket int
	// MaxFrameBytes bounds a client frame; a larger one is skipped and
	// answered with an error frame. Default 64 KiB (tokens are at most
	// auth.MaxTokenBytes).
	MaxFrameBytes int
	// MaxBufferedBytes bounds the encoded frames waiting for one socket's
	// writer. When it is full, the socket's subscriptions wait: the
	// fan-out hub pauses them and they catch up from the log later, so a
	// slow client costs bounded memory and loses nothing. Default 1 MiB.
	MaxBufferedBytes int
	// WriteTimeout bounds one write to the client; a client that accepts
	// no data for this long is disconnected. Default 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings. Default 25 s.
	PingInterval time.Duration
	// PongWait is how long the server waits for any frame or pong before
	// it drops the socket; longer than PingInterval. Default 60 s.
	PongWait time.Duration
	// AuthTimeout is how long a socket opened without a token may take
	// to send its auth frame. Default 10 s.
	AuthTimeout time.Duration
	// WriteDelay is how long the writer of a socket that just got an
	// event waits for more before writing them all in one go: a busy
	// socket then costs one write(2) per WriteDelay instead of one per
	// event, for up to WriteDelay more latency. Default 0: write at once
	// (frames queued meanwhile are still written together). On 2 cores
	// with 100 sockets at 5,000 events/s, 1 ms halved the writes but
	// raised p99 by about a millisecond.
	WriteDelay time.Duration
}

// Validate says what is wrong with c, in plain words.
func (c *Config) Validate() error {
	var errs []error
	if c.Hub == nil {
		errs = append(errs, errors.New("wsapi: Hub is required"))
	}
	if c.Verifier == nil {
		errs = append(errs, errors.New("wsapi: Verifier is required"))
	}
	if c.Topics == nil {
		errs = append(errs, errors.New("wsapi: Topics is required"))
	}
	for _, o := range c.AllowedOrigins {
		if err := origin.Validate(o); err != nil {
			errs = append(errs, fmt.Errorf("wsapi: %w", err))
		}
	}
	if c.LagRefreshInterval < 0 {
		errs = append(errs, errors.New("wsapi: LagRefreshInterval is negative; it must be positive, or 0 for the default"))
	}
	l := c.Limits
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxSubscriptionsPerSocket", int64(l.MaxSubscriptionsPerSocket)},
		{"MaxFrameBytes", int64(l.MaxFrameBytes)},
		{"MaxBufferedBytes", int64(l.MaxBufferedBytes)},
		{"WriteTimeout", int64(l.WriteTimeout)},
		{"PingInterval", int64(l.PingInterval)},
		{"PongWait", int64(l.PongWait)},
		{"AuthTimeout", int64(l.AuthTimeout)},
		{"WriteDelay", int64(l.WriteDelay)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("wsapi: Limits.%s is negative; it must be positive, or 0 for the default", f.name))
		}
	}
	filled := l
	filled.fill()
	if filled.PongWait <= filled.PingInterval {
		errs = append(errs, fmt.Errorf("wsapi: Limits.PongWait (%v) must be longer than PingInterval (%v), or the socket drops before the pong can come back", filled.PongWait, filled.PingInterval))
	}
	if filled.MaxFrameBytes < minFrameBytes {
		errs = append(errs, fmt.Errorf("wsapi: Limits.MaxFrameBytes is %d; at least %d, so that an auth frame with the longest token fits", l.MaxFrameBytes, minFrameBytes))
	}
	return errors.Join(errs...)
}

// minFrameBytes fits an auth frame with a token of auth.MaxTokenBytes.
const minFrameBytes = auth.MaxTokenBytes + 256

func (l *Limits) fill() {
	if l.MaxSubscriptionsPerSocket == 0 {
		l.MaxSubscriptionsPerSocket = 100
	}
	if l.MaxFrameBytes == 0 {
		l.MaxFrameBytes = 64 << 10
	}
	if l.MaxBufferedBytes == 0 {
		l.MaxBufferedBytes = 1 << 20
	}
	if l.WriteTimeout == 0 {
		l.WriteTimeout = 10 * time.Second
	}
	if l.PingInterval == 0 {
		l.PingInterval = 25 * time.Second
	}
	if l.PongWait == 0 {
		l.PongWait = 60 * time.Second
	}
	if l.AuthTimeout == 0 {
		l.AuthTimeout = 10 * time.Second
	}
}

func (c *Config) fill() {
	c.Limits.fill()
	if c.LagRefreshInterval == 0 {
		c.LagRefreshInterval = 10 * time.Second
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}
