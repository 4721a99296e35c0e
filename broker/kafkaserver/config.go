package kafkaserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultMaxRequestBytes is Kafka's socket.request.max.bytes default.
	DefaultMaxRequestBytes int32 = 100 << 20
	// DefaultMaxInFlightPerConn bounds the pipelined requests of one
	// connection that are read but not yet answered. It is high so that a
	// producer pipelining small requests keeps the broker busy; memory is
	// bounded by DefaultMaxInFlightBytesPerConn.
	DefaultMaxInFlightPerConn = 128
	// DefaultMaxInFlightBytesPerConn bounds the bytes of those requests
	// (as Kafka's queued.max.request.bytes does for a whole broker).
	DefaultMaxInFlightBytesPerConn int64 = 8 << 20
	// DefaultConnectionsMaxIdle is Kafka's connections.max.idle.ms
	// default.
	DefaultConnectionsMaxIdle = 10 * time.Minute
	// DefaultTLSHandshakeTimeout bounds a TLS handshake on a TLS listener.
	DefaultTLSHandshakeTimeout = 10 * time.Second
)

const (
	// produceKey is ordered by default; see Config.OrderedAPIs.
	produceKey int16 = 0
	// apiVersionsKey is the key of ApiVersions, which the server answers
	// itself.
	apiVersionsKey int16 = 18
	// saslHandshakeKey and saslAuthenticateKey are answered by the server
	// when Config.SASL is set.
	saslHandshakeKey    int16 = 17
	saslAuthenticateKey int16 = 36
)

// VersionRange is an inclusive range of versions of one API key.
type VersionRange struct {
	Min, Max int16
}

// Config configures a Server. Zero fields take the defaults documented on
// each field.
type Config struct {
	// Handler serves every request except ApiVersions. Required.
	Handler Handler

	// APIs lists the API keys the handler implements and the inclusive
	// version range of each. The server answers ApiVersions itself from
	// this table (plus ApiVersions' own range), and closes connections that
	// send a key or version outside it. It must not list ApiVersions (18),
	// and every range must lie within what kmsg can decode.
	APIs map[int16]VersionRange

	// MaxRequestBytes is the largest request frame accepted (Kafka's
	// socket.request.max.bytes); a bigger size prefix closes the
	// connection before anything is allocated. Default
	// DefaultMaxRequestBytes.
	MaxRequestBytes int32

	// MaxInFlightPerConn is how many pipelined requests of one connection
	// may be read and not yet answered; up to this many are handled
	// concurrently. Responses are always written in request order.
	// Default DefaultMaxInFlightPerConn.
	MaxInFlightPerConn int

	// MaxInFlightBytesPerConn bounds the request bytes of one connection
	// that are read and not yet answered: the reader stops reading until
	// answers free enough. A single request may exceed it when nothing
	// else is in flight (up to MaxRequestBytes). Default
	// DefaultMaxInFlightBytesPerConn.
	MaxInFlightBytesPerConn int64

	// OrderedAPIs lists the API keys whose requests on one connection are
	// handled one at a time, in arrival order: each waits until Handle has
	// returned for the previous one, as Kafka handles every request of a
	// connection. Produce needs it, because a client's pipelined produce
	// requests to one partition must be appended in the order sent. Other
	// requests still run concurrently with them. Nil means {Produce}; an
	// empty non-nil slice means none. Every key must be in APIs.
	OrderedAPIs []int16

	// ConnectionsMaxIdle closes a connection that has had no request in
	// flight and no request or response for this long (Kafka's
	// connections.max.idle.ms), so that clients that went away without
	// closing do not hold sockets and buffers. A long-poll fetch in
	// flight keeps its connection open. Default DefaultConnectionsMaxIdle.
	ConnectionsMaxIdle time.Duration

	// TLS, if set, makes the listener speak TLS (Kafka's SSL and SASL_SSL
	// listeners): each connection completes a handshake with this
	// configuration before its first request is read, and one that does
	// not within TLSHandshakeTimeout (a plaintext client, a stalled peer)
	// is closed. Its ClientAuth decides whether client certificates are
	// required; a verified one is in ConnInfo.TLS. File regions of fetch
	// responses are then copied through the TLS connection instead of
	// sent with sendfile.
	TLS *tls.Config
	// TLSHandshakeTimeout bounds the TLS handshake (default
	// DefaultTLSHandshakeTimeout).
	TLSHandshakeTimeout time.Duration
	// ListenerName is the Kafka listener name of the connections this
	// Server accepts (INTERNAL, EXTERNAL...), passed to the handler in
	// ConnInfo.Listener so that it can answer with that listener's
	// addresses. Optional.
	ListenerName string

	// Logger receives connection-level problems. Default slog.Default().
	Logger *slog.Logger

	// Metrics, if set, receives the server's Prometheus collectors
	// (requests by API, errors, bytes in and out, sendfile bytes).
	Metrics prometheus.Registerer

	// SASL, if set, requires every connection to authenticate (see
	// SASLConfig); nil serves every connection unauthenticated, as a
	// Kafka PLAINTEXT or SSL listener does.
	SASL *SASLConfig
}

// Validate reports, in plain words, what is wrong with the configuration
// after defaults are applied. New calls it.
func (c *Config) Validate() error {
	var errs []error
	if c.Handler == nil {
		errs = append(errs, errors.New("kafkaserver: Handler is required"))
	}
	if c.MaxRequestBytes < 0 {
		errs = append(errs, fmt.Errorf("kafkaserver: MaxRequestBytes %d is negative", c.MaxRequestBytes))
	}
	if c.MaxInFlightPerConn < 0 {
		errs = append(errs, fmt.Errorf("kafkaserver: MaxInFlightPerConn %d is negative", c.MaxInFlightPerConn))
	}
	if c.ConnectionsMaxIdle < 0 {
		errs = append(errs, fmt.Errorf("kafkaserver: ConnectionsMaxIdle %v is negative", c.ConnectionsMaxIdle))
	}
	if c.MaxInFlightBytesPerConn < 0 {
		errs = append(errs, fmt.Errorf("kafkaserver: MaxInFlightBytesPerConn %d is negative", c.MaxInFlightBytesPerConn))
	}
	if c.TLSHandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("kafkaserver: TLSHandshakeTimeout %v is negative", c.TLSHandshakeTimeout))
	}
	if c.TLS != nil && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil && len(c.TLS.Certificates) == 0 {
		errs = append(errs, errors.New("kafkaserver: TLS has no certificate"))
	}
	errs = append(errs, c.SASL.validate())
	for _, key := range slices.Sorted(maps.Keys(c.APIs)) {
		vr := c.APIs[key]
		if c.SASL != nil && (key == saslHandshakeKey || key == saslAuthenticateKey) {
			errs = append(errs, fmt.Errorf("kafkaserver: APIs must not list %s (key %d) with SASL set: the server answers it", kmsg.NameForKey(key), key))
			continue
		}
		if key == apiVersionsKey {
			errs = append(errs, errors.New("kafkaserver: APIs must not list ApiVersions (key 18): the server answers it"))
			continue
		}
		req := kmsg.RequestForKey(key)
		if req == nil {
			errs = append(errs, fmt.Errorf("kafkaserver: APIs lists key %d, which kmsg does not know", key))
			continue
		}
		if vr.Min < 0 || vr.Min > vr.Max {
			errs = append(errs, fmt.Errorf("kafkaserver: APIs[%d] (%s) has bad range [%d,%d]", key, kmsg.NameForKey(key), vr.Min, vr.Max))
			continue
		}
		if vr.Max > req.MaxVersion() {
			errs = append(errs, fmt.Errorf("kafkaserver: APIs[%d] (%s) max version %d is above %d, the highest kmsg can decode", key, kmsg.NameForKey(key), vr.Max, req.MaxVersion()))
		}
	}
	for _, key := range c.OrderedAPIs {
		if _, ok := c.APIs[key]; !ok {
			errs = append(errs, fmt.Errorf("kafkaserver: OrderedAPIs lists key %d (%s), which APIs lacks", key, kmsg.NameForKey(key)))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.OrderedAPIs == nil {
		c.OrderedAPIs = []int16{}
		if _, ok := c.APIs[produceKey]; ok {
			c.OrderedAPIs = []int16{produceKey}
		}
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxInFlightPerConn == 0 {
		c.MaxInFlightPerConn = DefaultMaxInFlightPerConn
	}
	if c.MaxInFlightBytesPerConn == 0 {
		c.MaxInFlightBytesPerConn = DefaultMaxInFlightBytesPerConn
	}
	if c.ConnectionsMaxIdle == 0 {
		c.ConnectionsMaxIdle = DefaultConnectionsMaxIdle
	}
	if c.TLSHandshakeTimeout == 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// apiTable is the immutable lookup of supported versions, indexed by key.
// It includes ApiVersions itself.
type apiTable struct {
	ranges  []VersionRange // index: API key; Max < 0 means unsupported
	ordered []bool         // index: API key; see Config.OrderedAPIs
	sorted  []kmsg.ApiVersionsResponseApiKey
}

func newAPITable(apis map[int16]VersionRange, ordered []int16) *apiTable {
	t := &apiTable{}
	add := func(key int16, vr VersionRange) {
		for int(key) >= len(t.ranges) {
			t.ranges = append(t.ranges, VersionRange{Min: 0, Max: -1})
		}
		t.ranges[key] = vr
	}
	for key, vr := range apis {
		add(key, vr)
	}
	add(apiVersionsKey, VersionRange{Min: 0, Max: kmsg.NewPtrApiVersionsRequest().MaxVersion()})
	for key, vr := range t.ranges {
		if vr.Max < 0 {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = int16(key), vr.Min, vr.Max
		t.sorted = append(t.sorted, k)
	}
	t.ordered = make([]bool, len(t.ranges))
	for _, key := range ordered {
		t.ordered[key] = true
	}
	return t
}

// isOrdered reports whether requests with key are handled in arrival order.
func (t *apiTable) isOrdered(key int16) bool {
	return key >= 0 && int(key) < len(t.ordered) && t.ordered[key]
}

// supports reports whether key at version is in the table.
func (t *apiTable) supports(key, version int16) bool {
	if key < 0 || int(key) >= len(t.ranges) {
		return false
	}
	vr := t.ranges[key]
	return vr.Max >= 0 && version >= vr.Min && version <= vr.Max
}
