package backend

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/fanout"
)

// Backend is the gateway's client of the cluster. It is safe for concurrent
// use. Create it with New and release it with Close.
type Backend struct {
	cfg Config
	log *slog.Logger

	cl  *kgo.Client // metadata and admin; never produces
	adm *kadm.Client
	src *KafkaSource
	// tail reads for the WebSocket hub, Fetch and the idempotent
	// produce's read-back: src, or a LocalSource over it when
	// Config.Local is a LocalFetcher.
	tail Reader
	// fetchers carry the fetches, each partition on one of them, so that
	// partitions' long polls do not wait behind each other on one
	// connection (see NewKafkaSource); the last storedLanes of them carry
	// the fetches of stored events (see KafkaSource.SetStoredClients).
	fetchers []*kgo.Client

	meta   metaCache
	warm   atomic.Bool // Ready has passed once: the cluster's metadata is known
	purged purges      // the producers' purges of deleted topics
	spread spreads     // keyless round-robin of the in-process produce

	probe probe // the first contact with the cluster, in the background

	mu        sync.Mutex
	closed    bool
	producers [3]*kgo.Client // by acksIndex; made on first use
}

// New returns a Backend for the cluster that cfg.Brokers bootstrap. It does
// not need the cluster to be up, so that a gateway can start before its
// brokers (Ready says when they answer): it checks the cluster in the
// background and warns only when it stays unreachable (see startProbe). ctx
// is not kept.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Backend{cfg: cfg, log: cfg.Logger.With("component", "backend")}
	cl, err := kgo.NewClient(b.clientOpts(
		// kadm asks for cached metadata; keep it young so that a topic
		// just created or grown is seen at once.
		kgo.MetadataMinAge(250 * time.Millisecond),
	)...)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	b.cl = cl
	b.adm = kadm.NewClient(cl)
	b.adm.SetTimeoutMillis(int32(cfg.AdminTimeout.Milliseconds()))
	for range fetchLanes + storedLanes {
		fc, err := kgo.NewClient(b.clientOpts()...)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("backend: fetch client: %w", err)
		}
		b.fetchers = append(b.fetchers, fc)
	}
	b.src = NewKafkaSource(cl, b.fetchers[:fetchLanes]...)
	b.src.SetStoredClients(b.fetchers[fetchLanes:]...)
	b.src.Logger = b.log
	b.tail = b.src
	if lf, ok := cfg.Local.(LocalFetcher); ok {
		b.tail = NewLocalSource(lf, b.src)
	}
	b.startProbe()
	return b, nil
}

// clientOpts are the options of every franz-go client, then extra.
func (b *Backend) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(b.cfg.Brokers...),
		kgo.ClientID(b.cfg.ClientID),
		kgo.WithLogger(kgoLogger{b.log}),
		// A request to a cluster that is down fails within a few
		// seconds (503) instead of retrying for kgo's default 30 s.
		kgo.RetryTimeout(5 * time.Second),
	}
	opts = append(opts, b.cfg.ClientOpts...)
	return append(opts, extra...)
}

// Reader is what Backend.Source returns: a fanout source that also reads
// with a wait of the caller's.
type Reader interface {
	fanout.Source
	fanout.StoredSource
	fanout.Bounder
	// FetchWait is Fetch with this call's own long-poll limit.
	FetchWait(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, wait time.Duration) (event.Batch, error)
}

// Source returns the source Fetch reads through, for the WebSocket hub to
// share: the KafkaSource, whose MaxWait applies to the hub's fetches
// (Backend.Fetch passes its own wait), or a LocalSource over it when
// Config.Local can serve reads in-process.
func (b *Backend) Source() Reader { return b.tail }

// Close closes every client. Calls after Close fail with 503.
func (b *Backend) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	producers := b.producers
	b.mu.Unlock()
	b.stopProbe()
	for _, p := range producers {
		if p != nil {
			p.Close()
		}
	}
	for _, fc := range b.fetchers {
		fc.Close()
	}
	b.cl.Close()
}

// fetchLanes is how many clients carry fetches: each broker gets that many
// fetch connections from the gateway, and partitions share one only when
// there are more partitions being read than lanes.
const fetchLanes = 8

// storedLanes is how many clients carry fetches of stored events, which
// never wait at the high watermark: they are answered at once, so fewer
// connections serve them.
const storedLanes = 4

// live returns ErrClosed after Close.
func (b *Backend) live() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}

// Ready says whether a broker answers a Metadata request and names at least
// one live broker, and whether Config.Ready passes. Until it has passed once,
// topic lookups that find no topic answer 503 rather than 404 (see
// loadTopics).
func (b *Backend) Ready(ctx context.Context) error {
	if err := b.live(); err != nil {
		return apiError(err, scope{})
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
	resp, err := req.RequestWith(ctx, b.cl)
	if err != nil {
		return apiError(fmt.Errorf("backend: metadata: %w", err), scope{})
	}
	if len(resp.Brokers) == 0 {
		return unavailable(nil, "the cluster lists no live brokers")
	}
	if b.cfg.Ready != nil {
		if err := b.cfg.Ready(ctx); err != nil {
			e := apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "%s", err.Error())
			e.RetryAfter, e.Err = retryAfter, err
			return e
		}
	}
	b.warm.Store(true)
	return nil
}

func acksIndex(a Acks) (int, bool) {
	switch a {
	case AcksNone:
		return 0, true
	case AcksLeader:
		return 1, true
	case AcksAll:
		return 2, true
	}
	return 0, false
}

// producer returns the client that produces with acks, making it on first
// use. acks=all is idempotent (the client's retries never duplicate); Kafka
// idempotence needs acks=all, so the other two are plain.
func (b *Backend) producer(acks Acks) (*kgo.Client, error) {
	i, ok := acksIndex(acks)
	if !ok {
		return nil, fmt.Errorf("backend: acks %d is not 0, 1 or -1", acks)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if p := b.producers[i]; p != nil {
		return p, nil
	}
	opts := b.clientOpts(
		kgo.RecordPartitioner(partitioner{}),
		kgo.ProducerBatchMaxBytes(b.cfg.MaxBatchBytes),
		// No RecordDeliveryTimeout: franz-go counts it from the record's
		// timestamp, which clients may set in the past. Produce bounds
		// its records through their context instead.
		kgo.ProduceRequestTimeout(b.cfg.ProduceTimeout),
		// Give a batch back after a few failed sends, so that Produce
		// sees why (see produceBatched) and answers a full disk at once.
		kgo.RecordRetries(recordRetries),
		// Backend checked the topic exists; an unknown topic now was
		// deleted since: fail fast.
		kgo.UnknownTopicRetries(1),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	switch acks {
	case AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	case AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	default:
		// A request's deadline must be able to end a produce whose
		// broker went away; without this franz-go waits for the
		// outcome of in-flight idempotent records indefinitely. A
		// client's retry after such a 503 may then write twice, as with
		// any produce without an Idempotency-Key.
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.AllowIdempotentProduceCancellation())
	}
	p, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("backend: producer for acks=%d: %w", acks, err)
	}
	b.producers[i] = p
	return p, nil
}

// recordRetries is how many times a producer sends a batch again after a
// retriable error before it gives the batch back to produceBatched: enough
// to ride out a leader moving, few enough that a broker that cannot store
// anything is known within a second.
const recordRetries = 2

// kgoLogger sends franz-go's warnings and errors to slog.
type kgoLogger struct{ l *slog.Logger }

// kgoRetryChatter are franz-go warnings it repeats on every retry while a
// broker is down or still starting (a gateway started before its brokers
// logs one per dial). They go to Debug: the Backend's own check of the
// cluster warns when it stays unreachable, and requests answer 503.
var kgoRetryChatter = map[string]bool{
	"unable to open connection to broker": true,
}

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	switch {
	case level == kgo.LogLevelError:
		lv = slog.LevelError
	case kgoRetryChatter[msg]:
		lv = slog.LevelDebug
	}
	k.l.Log(context.Background(), lv, msg, keyvals...)
}
