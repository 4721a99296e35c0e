package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// ErrRemoteData means a remote segment's objects are not what its metadata
// promises: a batch fails its header or CRC check, offsets run outside the
// segment or backwards, the log is shorter than recorded. Nothing of the
// damaged part is returned; the segment has to be re-uploaded from a replica
// that still holds it, or dropped.
var ErrRemoteData = errors.New("remote segment data is damaged or inconsistent")

// hotChunks is how many chunks a Reader keeps in memory besides its disk
// cache by default.
const hotChunks = 8

// Reader defaults.
const (
	DefaultChunkSize  = 1 << 20
	DefaultCacheBytes = 1 << 30
	DefaultIndexBytes = 64 << 20
)

// ReaderOptions configure a Reader. Zero values take the defaults.
type ReaderOptions struct {
	// CacheDir holds the chunk cache. Empty: a new temporary directory,
	// removed by Close.
	CacheDir string
	// CacheBytes bounds the chunk cache on disk (default DefaultCacheBytes).
	CacheBytes int64
	// ChunkSize is the size of the aligned ranges fetched from segment.log
	// objects and cached (default DefaultChunkSize).
	ChunkSize int64
	// IndexBytes bounds the segment indexes kept in memory (default
	// DefaultIndexBytes).
	IndexBytes int64
	// HotBytes bounds the recently used chunks kept in memory besides the
	// disk cache, so consecutive fetches that share a chunk read its file
	// once (default 8 chunks; -1 keeps none).
	HotBytes int64
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives the reader's collectors when set.
	Metrics prometheus.Registerer
}

// Reader reads record batches back from remote segments. Each segment's
// offset index is fetched once and kept in memory; segment.log is fetched
// in aligned chunks through a bounded on-disk cache, so a consumer reading
// a segment sequentially fetches each chunk once. Every batch returned has
// passed its header and CRC-32C checks. A Reader is safe for concurrent
// use; reads of different segments (or the same one) proceed in parallel.
type Reader struct {
	store   Store
	opts    ReaderOptions
	cache   *chunkCache
	indexes *indexCache
	metrics *readMetrics
	tempDir string // removed by Close

	// Read-ahead: after a read, the chunk that follows is fetched in the
	// background (at most readAheads at once), so that a consumer going on
	// finds it cached. Close cancels them and waits.
	bg       context.Context
	stopBg   context.CancelFunc
	bgSlots  chan struct{}
	bgActive sync.WaitGroup
}

// readAheads bounds the chunks fetched ahead at once by one Reader.
const readAheads = 4

// NewReader returns a Reader of store's remote segments.
func NewReader(store Store, opts ReaderOptions) (*Reader, error) {
	if store == nil {
		return nil, errors.New("tiering reader: a store is required")
	}
	if opts.CacheBytes < 0 || opts.ChunkSize < 0 || opts.IndexBytes < 0 || opts.HotBytes < -1 {
		return nil, fmt.Errorf("tiering reader: cache bytes %d, chunk size %d, index bytes %d and hot bytes %d must not be negative", opts.CacheBytes, opts.ChunkSize, opts.IndexBytes, opts.HotBytes)
	}
	if opts.CacheBytes == 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.IndexBytes == 0 {
		opts.IndexBytes = DefaultIndexBytes
	}
	switch opts.HotBytes {
	case 0:
		opts.HotBytes = hotChunks * opts.ChunkSize
	case -1:
		opts.HotBytes = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Reader{store: store, opts: opts, indexes: newIndexCache(opts.IndexBytes), metrics: newReadMetrics(),
		bgSlots: make(chan struct{}, readAheads)}
	r.bg, r.stopBg = context.WithCancel(context.Background())
	if opts.CacheDir == "" {
		dir, err := os.MkdirTemp("", "runnel-tier-cache-")
		if err != nil {
			return nil, fmt.Errorf("tiering reader: cache directory: %w", err)
		}
		opts.CacheDir, r.tempDir = dir, dir
	}
	cache, err := openChunkCache(opts.CacheDir, opts.CacheBytes, opts.HotBytes, opts.Logger, r.metrics)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.cache = cache
	if opts.Metrics != nil {
		for _, c := range r.metrics.collectors() {
			if err := opts.Metrics.Register(c); err != nil {
				r.Close()
				return nil, fmt.Errorf("tiering reader metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Close stops the read-ahead, unregisters the metrics and removes a cache
// directory NewReader created. Reads must have finished.
func (r *Reader) Close() error {
	r.stopBg()
	r.bgActive.Wait()
	if r.opts.Metrics != nil {
		for _, c := range r.metrics.collectors() {
			r.opts.Metrics.Unregister(c)
		}
	}
	if r.tempDir != "" {
		return os.RemoveAll(r.tempDir)
	}
	return nil
}

// ReadResult is what Read returns.
type ReadResult struct {
	// Batches are whole record batches, checked; the first may start
	// before the offset asked for, as Kafka's do.
	Batches []byte
	// NextOffset follows the last batch returned; when Batches is empty it
	// is the segment's EndOffset+1 (the offsets asked for were removed by
	// compaction before upload).
	NextOffset int64
}

// Read returns the batches of seg holding offset and those after it, up to
// maxBytes (the first batch is returned whole even when it alone is
// larger, so a consumer always progresses). offset must lie in
// [seg.BaseOffset, seg.EndOffset].
func (r *Reader) Read(ctx context.Context, seg metadata.RemoteSegment, offset, maxBytes int64) (ReadResult, error) {
	res, last, err := r.read(ctx, seg, offset, maxBytes)
	if err != nil {
		r.metrics.errors.Inc()
		return ReadResult{}, fmt.Errorf("read remote segment %s at offset %d: %w", seg.ObjectKey, offset, err)
	}
	r.readAhead(seg, last+1)
	return res, nil
}

// readAhead fetches chunk idx of seg's log into the cache in the
// background, unless it lies past the log's end or enough fetches are
// running already. Its errors are left for the read that needs the chunk.
func (r *Reader) readAhead(seg metadata.RemoteSegment, idx int64) {
	if idx <= 0 || idx*r.opts.ChunkSize >= seg.Size {
		return
	}
	select {
	case r.bgSlots <- struct{}{}:
	default:
		return
	}
	r.bgActive.Add(1)
	go func() {
		defer r.bgActive.Done()
		defer func() { <-r.bgSlots }()
		r.scanner(seg).chunk(r.bg, idx)
	}()
}

// read is Read; it also returns the index of the last chunk it read.
func (r *Reader) read(ctx context.Context, seg metadata.RemoteSegment, offset, maxBytes int64) (ReadResult, int64, error) {
	if err := checkSegment(seg); err != nil {
		return ReadResult{}, 0, err
	}
	if offset < seg.BaseOffset || offset > seg.EndOffset {
		return ReadResult{}, 0, fmt.Errorf("offset %d is outside the segment [%d, %d]", offset, seg.BaseOffset, seg.EndOffset)
	}
	ix, err := r.index(ctx, seg, false)
	if err != nil {
		return ReadResult{}, 0, err
	}
	sc := r.scanner(seg)
	if err := sc.seek(ctx, ix.position(seg.BaseOffset, offset), offset); err != nil {
		return ReadResult{}, 0, err
	}
	// Room for the budget up front: appending batch by batch to a growing
	// slice would copy the bytes again and again.
	res := ReadResult{NextOffset: seg.EndOffset + 1, Batches: make([]byte, 0, max(0, min(maxBytes, seg.Size-sc.pos)))}
	for {
		h, err := sc.next(ctx)
		if errors.Is(err, io.EOF) {
			return res, sc.chunkIdx, nil
		}
		if err != nil {
			return ReadResult{}, 0, err
		}
		if h.LastOffset() < offset {
			continue
		}
		if len(res.Batches) > 0 && int64(len(res.Batches))+int64(h.Size()) > maxBytes {
			return res, sc.chunkIdx, nil
		}
		if res.Batches, err = sc.appendBatch(ctx, res.Batches, h); err != nil {
			return ReadResult{}, 0, err
		}
		res.NextOffset = h.NextOffset()
	}
}

// checkSegment refuses metadata no segment can have.
func checkSegment(seg metadata.RemoteSegment) error {
	if seg.ObjectKey == "" || seg.BaseOffset < 0 || seg.EndOffset < seg.BaseOffset || seg.Size <= 0 {
		return fmt.Errorf("%w: metadata key %q offsets [%d, %d] size %d", ErrRemoteData, seg.ObjectKey, seg.BaseOffset, seg.EndOffset, seg.Size)
	}
	return nil
}

// index returns seg's indexes, fetching the offset index (and the time
// index when times is set) on first use. A missing or damaged index object
// is logged and replaced by an empty one: the log is then scanned from its
// start.
func (r *Reader) index(ctx context.Context, seg metadata.RemoteSegment, times bool) (*remoteIndex, error) {
	ix, ok := r.indexes.get(seg.ObjectKey)
	if ok && (!times || ix.timesOK) {
		return ix, nil
	}
	next := &remoteIndex{}
	if ok {
		*next = *ix
	} else {
		b, err := r.fetchIndex(ctx, seg, SegmentIndexFile, parseOffsetIndex)
		if err != nil {
			return nil, err
		}
		next.offsets = b
	}
	if times {
		b, err := r.fetchIndex(ctx, seg, SegmentTimeIndexFile, parseTimeIndex)
		if err != nil {
			return nil, err
		}
		next.times, next.timesOK = b, true
	}
	r.indexes.put(seg.ObjectKey, next)
	return next, nil
}

// fetchIndex reads a whole index object (its checksum verified by the
// store) and checks it; nil (and no error) when it is absent or unusable.
func (r *Reader) fetchIndex(ctx context.Context, seg metadata.RemoteSegment, file string, check func([]byte, metadata.RemoteSegment) error) ([]byte, error) {
	key := SegmentObject(seg.ObjectKey, file)
	rc, err := r.store.Get(ctx, key, 0, -1)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(rc)
		rc.Close()
		r.metrics.remoteBytes.Add(float64(len(b)))
	}
	if err == nil {
		err = check(b, seg)
	}
	switch {
	case err == nil:
		return b, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ErrNotFound) || errors.Is(err, ErrChecksum) || !isStoreError(err):
		r.opts.Logger.Warn("tiering: remote index not used; scanning the segment's log instead", "key", key, "error", err)
		r.metrics.errors.Inc()
		return nil, nil
	default:
		return nil, err
	}
}

// isStoreError reports whether err came from the store (as opposed to the
// index's own check).
func isStoreError(err error) bool {
	var se *Error
	return errors.As(err, &se)
}

// OffsetForTimestamp returns the offset and timestamp of the first record of
// seg, at or after offset from, whose timestamp is at least ts (Kafka's
// ListOffsets by timestamp); found is false when seg holds none.
func (r *Reader) OffsetForTimestamp(ctx context.Context, seg metadata.RemoteSegment, ts, from int64) (offset, timestamp int64, found bool, err error) {
	offset, timestamp, found, err = r.offsetForTimestamp(ctx, seg, ts, from)
	if err != nil {
		r.metrics.errors.Inc()
		return 0, 0, false, fmt.Errorf("remote segment %s: offset for timestamp %d: %w", seg.ObjectKey, ts, err)
	}
	return offset, timestamp, found, nil
}

func (r *Reader) offsetForTimestamp(ctx context.Context, seg metadata.RemoteSegment, ts, from int64) (int64, int64, bool, error) {
	if err := checkSegment(seg); err != nil {
		return 0, 0, false, err
	}
	if from > seg.EndOffset {
		return 0, 0, false, nil
	}
	ix, err := r.index(ctx, seg, true)
	if err != nil {
		return 0, 0, false, err
	}
	start := max(ix.offsetBefore(seg.BaseOffset, ts), from, seg.BaseOffset)
	sc := r.scanner(seg)
	if err := sc.seek(ctx, ix.position(seg.BaseOffset, start), start); err != nil {
		return 0, 0, false, err
	}
	for {
		h, err := sc.next(ctx)
		if errors.Is(err, io.EOF) {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, err
		}
		if h.MaxTimestamp < ts || h.LastOffset() < from {
			continue
		}
		batch, err := sc.appendBatch(ctx, nil, h)
		if err != nil {
			return 0, 0, false, err
		}
		it, err := recordbatch.Records(batch, recordbatch.DecodeOptions{})
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: batch at offset %d: %v", ErrRemoteData, h.BaseOffset, err)
		}
		for {
			rec, err := it.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return 0, 0, false, fmt.Errorf("%w: batch at offset %d: %v", ErrRemoteData, h.BaseOffset, err)
			}
			if rec.Offset >= from && rec.Timestamp >= ts {
				return rec.Offset, rec.Timestamp, true, nil
			}
		}
	}
}
