package commitlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// Log is one partition's append-only log in its own directory. It is safe for
// concurrent use: appends are serialized, reads run beside them.
//
// Lock order: Log.mu is the only lock; no callback runs while it is held.
type Log struct {
	dir      string
	opts     Options      // guarded by mu
	maxBatch atomic.Int32 // opts.MaxMessageBytes, read without the lock on append
	logger   *slog.Logger
	fs       diskfs.FS // opts.FS, fixed at Open

	mu            sync.RWMutex
	segments      []*segment // ascending by base; the last one is active
	logStart      int64
	hw            int64
	recoveryPoint int64
	epochs        *epochCache
	closed        bool
	// werr is the write or fsync failure that makes the log refuse writes
	// until resumeLocked clears it; retryAt and backoff pace the retries.
	werr          error
	retryAt       time.Time
	backoff       time.Duration
	writeFailures atomic.Int64
	iov           [][]byte  // buffer list of the last vectored write
	unflushed     int64     // records appended since the last flush
	firstUnflush  time.Time // when the oldest unflushed record was appended
	endWaiters    chan struct{}
	hwWaiters     chan struct{}

	// firstDirty is the compaction checkpoint: the cleaner mapped every
	// key below it. cleanMu keeps two cleaners off one log.
	firstDirty int64
	// horizonDue is the earliest delete horizon of a kept tombstone: a
	// run is due then whatever the dirty ratio; -1 for none, 0 (check
	// once) after an open.
	horizonDue int64
	cleanMu    sync.Mutex

	// remoteEnd is the last offset uploaded to remote storage, -1 for
	// none (SetRemoteEnd): a Tiered log deletes no segment past it.
	remoteEnd atomic.Int64

	rolled chan *segment // closed segments waiting for their fsync
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Offsets is a consistent view of a log's positions.
type Offsets struct {
	LogStart      int64 // first offset that can be read
	LogEnd        int64 // offset the next appended record gets
	HighWatermark int64 // offsets below it are committed
	RecoveryPoint int64 // offsets below it are fsynced
}

// Open opens the partition log in dir, creating it if needed. After an unclean
// shutdown every segment from the one holding opts.RecoveryPoint onwards is
// re-read: the log is cut at the first torn or corrupt batch and indexes are
// rebuilt. Damaged indexes of other segments are rebuilt too.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	o := opts.withDefaults()
	if err := o.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	l := &Log{dir: dir, opts: o, fs: o.FS, rolled: make(chan *segment, 64), stop: make(chan struct{})}
	l.maxBatch.Store(o.MaxMessageBytes)
	l.remoteEnd.Store(-1)
	l.logger = o.Logger
	if err := l.load(); err != nil {
		for _, s := range l.segments {
			s.close()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.wg.Add(1)
	go l.runFlusher()
	return l, nil
}

// SetOptions changes the topic configs of an open log (segment, retention,
// flush and size limits); they apply from the next append or retention pass.
// The recovery fields and the clock of opts are ignored.
func (l *Log) SetOptions(opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	o := opts.withDefaults()
	l.mu.Lock()
	defer l.mu.Unlock()
	o.RecoveryPoint, o.CleanShutdown, o.LogStartOffset, o.HighWatermark = l.opts.RecoveryPoint, l.opts.CleanShutdown, l.opts.LogStartOffset, l.opts.HighWatermark
	o.Now, o.Logger, o.FS = l.opts.Now, l.logger, l.fs
	if o.MaxIndexBytes != l.opts.MaxIndexBytes {
		o.MaxIndexBytes = l.opts.MaxIndexBytes // index files are sized when a segment is created
	}
	l.opts = o
	l.maxBatch.Store(o.MaxMessageBytes)
	return nil
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

func (l *Log) activeLocked() *segment { return l.segments[len(l.segments)-1] }

// AppendInfo describes what an append wrote.
type AppendInfo struct {
	FirstOffset          int64 // base offset of the first batch
	LastOffset           int64 // last offset of the last batch
	NumRecords           int64
	NumBatches           int
	MaxTimestamp         int64
	OffsetOfMaxTimestamp int64
	LogStartOffset       int64
	SegmentBase          int64 // base offset of the segment written to (changes when the log rolls)
}

// Append validates every RecordBatch in batches (one or more concatenated, as in
// a Kafka produce request), then assigns offsets from the log end and stamps
// leaderEpoch into each batch header, in place in the caller's buffer. The
// records are written as they are. Nothing is written unless every batch is
// valid. On return the data is in the page cache (and on disk, by the flush
// policy).
func (l *Log) Append(batches []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.append(batches, leaderEpoch, true)
}

// AppendReplica appends batches fetched from the leader with their offsets and
// leader epochs unchanged. The first batch must start at the log end offset.
func (l *Log) AppendReplica(batches []byte) (AppendInfo, error) {
	return l.append(batches, -1, false)
}

// ValidBatch is one record batch that its caller validated whole against
// the log's limits (recordbatch.Validate or recordbatch.ValidateProduced:
// framing, size within Options.MaxMessageBytes, CRC-32C, record count), with
// the header it parsed. AppendBatches takes such batches, so that a produce
// path that checked them does not have the log parse and checksum them
// again.
type ValidBatch struct {
	// Bytes is the whole batch. AppendBatches stamps its base offset and
	// partition leader epoch, in place.
	Bytes []byte
	// Header is the batch's header as parsed; AppendBatches stamps the same
	// two fields into it.
	Header recordbatch.Header
}

// AppendBatches appends batches in order, each as an Append of it alone
// would: offsets from the log end, leaderEpoch stamped into each batch (and
// its Header). It trusts the caller's validation and checks only that each
// Header matches its batch's length: a mismatch refuses the call with
// ErrInvalidRequest before anything is written. The batches that fit in the
// active segment go to it with one vectored write: the broker appends the
// produce requests a client pipelines on a connection together, which costs
// less per byte than a write each.
//
// It fills infos[i] (len(infos) >= len(batches)) for each batch written and
// returns how many were, in order: all of them unless err says why the rest
// were not (the log is closed or a write failed).
func (l *Log) AppendBatches(batches []ValidBatch, leaderEpoch int32, infos []AppendInfo) (int, error) {
	if len(batches) == 0 {
		return 0, nil
	}
	if len(infos) < len(batches) {
		return 0, fmt.Errorf("%w: %d append infos for %d batches", ErrInvalidRequest, len(infos), len(batches))
	}
	var (
		localSets [16]recordSet
		localHdrs [16]recordbatch.Header
	)
	sets, hdrs := localSets[:0], localHdrs[:0]
	for i := range batches {
		b := &batches[i]
		if len(b.Bytes) < recordbatch.HeaderSize || len(b.Bytes) != b.Header.Size() {
			return 0, fmt.Errorf("%w: batch %d is %d bytes, its header says %d", ErrInvalidRequest, i, len(b.Bytes), b.Header.Size())
		}
		hdrs = append(hdrs, b.Header)
	}
	for i := range batches {
		sets = append(sets, recordSet{buf: batches[i].Bytes, nb: 1, nr: int64(hdrs[i].NumRecords)})
	}
	l.mu.Lock()
	n, ch, err := l.appendLocked(sets, hdrs, infos, leaderEpoch, true)
	l.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	for i := range n {
		batches[i].Header = hdrs[i] // with the offset and epoch stamped
	}
	return n, err
}

// validateBatches checks every batch of buf, appends their headers to hdrs
// and counts their records. With dense set (replica appends, which keep
// their offsets), each batch must start where the one before it ends; the
// first is checked against the log end under the lock.
func (l *Log) validateBatches(buf []byte, dense bool, hdrs []recordbatch.Header) ([]recordbatch.Header, int64, error) {
	if len(buf) == 0 {
		return hdrs, 0, ErrEmptyAppend
	}
	rest, pos := buf, 0
	var nr, prevNext int64
	for nb := 0; len(rest) > 0; nb++ {
		b, r, err := recordbatch.Next(rest)
		var h recordbatch.Header
		if err == nil {
			if dense {
				// A leader's compacted batches keep their offsets but
				// may hold fewer records, or none.
				h, err = recordbatch.ValidateStored(b, int(l.maxBatch.Load()))
			} else {
				h, err = recordbatch.Validate(b, int(l.maxBatch.Load()))
			}
		}
		if err != nil {
			return hdrs, 0, &InvalidBatchError{Index: nb, Position: pos, Err: err}
		}
		if nb > 0 && dense && h.BaseOffset != prevNext {
			return hdrs, 0, fmt.Errorf("%w: batch %d has offset %d, the batch before it ends at %d", ErrBadOffset, nb, h.BaseOffset, prevNext)
		}
		hdrs = append(hdrs, h)
		prevNext = h.NextOffset()
		nr += int64(h.NumRecords)
		pos += len(b)
		rest = r
	}
	return hdrs, nr, nil
}

// recordSet is the bytes of one append (Append, AppendReplica, or one batch
// of AppendBatches). The headers of its batches come with it, in a slice of
// their own (so that the caller's stack can hold them: the log keeps the
// sets' buffers for its vectored write, which makes them escape).
type recordSet struct {
	buf []byte
	nb  int   // batches: the next nb of the headers passed along
	nr  int64 // records in all the batches
}

func (l *Log) append(buf []byte, leaderEpoch int32, assign bool) (AppendInfo, error) {
	var one [1]recordbatch.Header // a produce request's one batch needs no allocation
	hdrs, nr, err := l.validateBatches(buf, !assign, one[:0])
	if err != nil {
		return AppendInfo{}, err
	}
	sets := [1]recordSet{{buf, len(hdrs), nr}}
	var infos [1]AppendInfo
	l.mu.Lock()
	_, ch, err := l.appendLocked(sets[:], hdrs, infos[:], leaderEpoch, assign)
	l.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return infos[0], err
}

// appendLocked writes sets in order, as many as fit in the active segment
// with one write, rolling between them as appending them one by one would.
// hdrs holds the headers of the sets' batches, in order. It fills infos for
// the sets written and returns how many were written (all of them unless
// err is set) and the log-end waiters to wake.
func (l *Log) appendLocked(sets []recordSet, hdrs []recordbatch.Header, infos []AppendInfo, leaderEpoch int32, assign bool) (done int, ch chan struct{}, err error) {
	if err := l.writableLocked(); err != nil {
		return 0, nil, err
	}
	defer func() {
		if done > 0 {
			ch, l.endWaiters = l.endWaiters, nil
		}
	}()
	o := l.opts
	for done < len(sets) {
		s := l.activeLocked()
		first := &sets[done]
		if base := hdrs[0].BaseOffset; !assign && base != s.next {
			return done, nil, fmt.Errorf("%w: first batch has offset %d, log end is %d", ErrBadOffset, base, s.next)
		}
		now := o.Now()
		if s.size > 0 && (!s.fits(first.nr, int64(len(first.buf)), o) || now.Sub(s.rollStart) >= o.SegmentTime) {
			if s, err = l.rollLocked(); err != nil {
				return done, nil, err
			}
		}
		// The sets after the first join its write while they fit.
		end, nr, size, nb := done+1, first.nr, int64(len(first.buf)), first.nb
		for assign && end < len(sets) && s.fitsAfter(nr, size, sets[end].nr, int64(len(sets[end].buf)), o) {
			nr += sets[end].nr
			size += int64(len(sets[end].buf))
			nb += sets[end].nb
			end++
		}
		if err := l.writeSetsLocked(s, sets[done:end], hdrs[:nb], infos[done:end], leaderEpoch, assign, now); err != nil {
			return done, nil, err
		}
		hdrs = hdrs[nb:]
		if l.unflushed == 0 {
			l.firstUnflush = now
		}
		l.unflushed += nr
		if o.FlushMessages > 0 && l.unflushed >= o.FlushMessages {
			if err := l.flushLocked(); err != nil {
				return done, nil, err
			}
		}
		done = end
	}
	return done, nil, nil
}

// writeSetsLocked assigns offsets to sets (with assign), writes them to s at
// its end with one write, and indexes their batches, whose headers hdrs
// holds.
func (l *Log) writeSetsLocked(s *segment, sets []recordSet, hdrs []recordbatch.Header, infos []AppendInfo, leaderEpoch int32, assign bool, now time.Time) error {
	o := l.opts
	next := s.next
	for i, hi := 0, 0; i < len(sets); i++ {
		set := &sets[i]
		setHdrs := hdrs[hi : hi+set.nb]
		hi += set.nb
		infos[i] = AppendInfo{FirstOffset: next, NumBatches: set.nb, NumRecords: set.nr, MaxTimestamp: -1, OffsetOfMaxTimestamp: -1,
			LogStartOffset: l.logStart, SegmentBase: s.base}
		if !assign {
			infos[i].FirstOffset = setHdrs[0].BaseOffset
			continue
		}
		rest := set.buf
		for j := range setHdrs {
			h := &setHdrs[j]
			recordbatch.SetBaseOffset(rest, next)
			recordbatch.SetPartitionLeaderEpoch(rest, leaderEpoch)
			h.BaseOffset, h.PartitionLeaderEpoch = next, leaderEpoch
			next = h.NextOffset()
			rest = rest[h.Size():]
		}
	}
	batches := len(hdrs)
	// Room for every index entry the batches may add (and the one sealing
	// adds) is reserved before a byte is written: an index store into a
	// hole of a full disk would kill the process.
	if err := s.reserveIndexes(batches + 1); err != nil {
		return l.failLocked(fmt.Errorf("write segment %d: %w", s.base, err))
	}
	if n, err := writeSets(s.fs, s.log, sets, s.size, &l.iov); err != nil {
		if n > 0 {
			// Nothing of a failed write is acknowledged: its bytes go now
			// (reads never pass size anyway), and again before writes
			// resume, should this cut fail too.
			if terr := s.fs.Truncate(s.log, s.size); terr != nil {
				o.Logger.Error("cannot cut partial write", "segment", s.prefix+logSuffix, "error", terr)
			}
		}
		return l.failLocked(fmt.Errorf("write segment %d: %w", s.base, err))
	}
	pos := s.size
	for i, hi := 0, 0; i < len(sets); i++ {
		info := &infos[i]
		for j := hi; j < hi+sets[i].nb; j++ {
			h := &hdrs[j]
			if !assign && h.PartitionLeaderEpoch >= 0 {
				l.epochs.observe(h.PartitionLeaderEpoch, h.BaseOffset)
			}
			if err := s.noteBatch(h, pos, o); err != nil {
				return l.failLocked(err) // cannot happen: reserved above
			}
			if h.MaxTimestamp > info.MaxTimestamp {
				info.MaxTimestamp, info.OffsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffset()
			}
			s.next = h.NextOffset()
			pos += int64(h.Size())
		}
		hi += sets[i].nb
		info.LastOffset = s.next - 1
	}
	s.size = pos
	if s.rollStart.IsZero() {
		s.rollStart = now
	}
	if assign {
		l.epochs.observe(leaderEpoch, infos[0].FirstOffset)
	}
	if l.epochs.dirty {
		if err := l.epochs.flush(); err != nil {
			// The batches are written; the checkpoint is written again
			// before writes resume.
			return l.failLocked(err)
		}
	}
	return nil
}

// rollLocked seals the active segment, hands it to the flusher and starts a new
// active segment at the log end offset.
func (l *Log) rollLocked() (*segment, error) {
	old := l.activeLocked()
	if err := old.seal(); err != nil {
		return nil, l.failLocked(fmt.Errorf("roll: %w", err))
	}
	s, err := createSegment(l.dir, old.next, l.opts)
	if err != nil {
		return nil, l.failLocked(fmt.Errorf("roll: %w", err))
	}
	l.segments = append(l.segments, s)
	select {
	case l.rolled <- old:
	default:
		// The flusher is behind: sync here rather than queue without bound.
		err := old.sync()
		if err == nil {
			err = l.fs.SyncDir(l.dir)
		}
		old.markSynced(old.size, err)
		if err != nil {
			return nil, l.failLocked(err)
		}
		l.advanceRecoveryPointLocked(old.next)
	}
	return s, nil
}

// Roll closes the active segment and starts a new one, if the active segment
// holds anything (used by tiering and tests).
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if l.activeLocked().size == 0 {
		return nil
	}
	_, err := l.rollLocked()
	return err
}

// syncRolled fsyncs a closed segment and the directory, then moves the recovery
// point past it. Called without l.mu held.
func (l *Log) syncRolled(s *segment) error {
	if s.deleted.Load() {
		return nil
	}
	err := s.sync()
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil && (s.deleted.Load() || errors.Is(err, os.ErrClosed)) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.markSynced(s.size, err) // a sealed segment's size is fixed
	if err != nil {
		return l.failLocked(err)
	}
	l.advanceRecoveryPointLocked(s.next)
	return nil
}

// runFlusher fsyncs rolled segments in the background and applies flush.ms.
func (l *Log) runFlusher() {
	defer l.wg.Done()
	l.mu.RLock()
	every := time.Second
	if fi := l.opts.FlushInterval; fi > 0 {
		every = min(every, fi/2)
	}
	l.mu.RUnlock()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case s := <-l.rolled:
			l.syncRolled(s) // a failure is logged and retried by resumeLocked
		case <-t.C:
			l.mu.Lock()
			if l.werr != nil && !l.closed && !time.Now().Before(l.retryAt) {
				l.resumeLocked()
			}
			if fi := l.opts.FlushInterval; fi > 0 && l.unflushed > 0 && l.opts.Now().Sub(l.firstUnflush) >= fi && l.werr == nil && !l.closed {
				l.flushLocked() // a failure is logged and retried by resumeLocked
			}
			l.mu.Unlock()
		}
	}
}

// Flush fsyncs the active segment and moves the recovery point to the log end.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.flushLocked()
}

func (l *Log) flushLocked() error {
	if err := l.writableLocked(); err != nil {
		return err
	}
	s := l.activeLocked()
	err := s.sync()
	s.markSynced(s.size, err)
	if err != nil {
		return l.failLocked(err)
	}
	l.unflushed = 0
	// Segments still queued for the flusher are synced by it; only when none are
	// pending is everything below the log end durable.
	if len(l.rolled) == 0 {
		l.advanceRecoveryPointLocked(s.next)
	}
	return nil
}

// Offsets returns the log's positions at one moment.
func (l *Log) Offsets() Offsets {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return Offsets{LogStart: l.logStart, LogEnd: l.activeLocked().next, HighWatermark: l.hw, RecoveryPoint: l.recoveryPoint}
}

// LogStartOffset returns the first readable offset.
func (l *Log) LogStartOffset() int64 { return l.Offsets().LogStart }

// LogEndOffset returns the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.Offsets().LogEnd }

// HighWatermark returns the offset below which records are committed.
func (l *Log) HighWatermark() int64 { return l.Offsets().HighWatermark }

// SetHighWatermark moves the high watermark, clamped to [log start, log end]. Its
// owner (the partition leader, or a follower from the leader's answers) calls it.
func (l *Log) SetHighWatermark(hw int64) {
	l.mu.Lock()
	hw = min(max(hw, l.logStart), l.activeLocked().next)
	var ch chan struct{}
	if hw != l.hw {
		l.hw = hw
		ch, l.hwWaiters = l.hwWaiters, nil
	}
	l.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// AdvanceHighWatermark moves the high watermark up to hw (clamped to the
// log end) and never down: a leader moves it as its in-sync followers
// fetch, a follower as its leader's answers tell it. It reports whether it
// moved.
func (l *Log) AdvanceHighWatermark(hw int64) bool {
	l.mu.Lock()
	hw = min(hw, l.activeLocked().next)
	var ch chan struct{}
	moved := hw > l.hw
	if moved {
		l.hw = hw
		ch, l.hwWaiters = l.hwWaiters, nil
	}
	l.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return moved
}

// WaitForEnd blocks until the log end offset passes offset (a record at offset
// exists), ctx is done, or the log closes.
func (l *Log) WaitForEnd(ctx context.Context, offset int64) error {
	return l.wait(ctx, func() (bool, *chan struct{}) {
		return l.activeLocked().next > offset, &l.endWaiters
	})
}

// WaitForHighWatermark blocks until the high watermark passes offset, ctx is
// done, or the log closes.
func (l *Log) WaitForHighWatermark(ctx context.Context, offset int64) error {
	return l.wait(ctx, func() (bool, *chan struct{}) {
		return l.hw > offset, &l.hwWaiters
	})
}

// WatchHighWatermark returns the high watermark and a channel closed when
// it next changes or the log closes, for a waiter that also waits on other
// events (a produce with acks=all waits on its partition's leadership too).
// A closed log returns ErrClosed.
func (l *Log) WatchHighWatermark() (int64, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.hw, nil, ErrClosed
	}
	if l.hwWaiters == nil {
		l.hwWaiters = make(chan struct{})
	}
	return l.hw, l.hwWaiters, nil
}

// wait parks on a channel closed by the next change instead of polling.
func (l *Log) wait(ctx context.Context, cond func() (bool, *chan struct{})) error {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return ErrClosed
		}
		done, chp := cond()
		if done {
			l.mu.Unlock()
			return nil
		}
		if *chp == nil {
			*chp = make(chan struct{})
		}
		ch := *chp
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// EndOffsetForEpoch answers Kafka's OffsetForLeaderEpoch: the largest epoch at
// or below epoch and the offset where the epoch after it began (the log end for
// the latest epoch); UndefinedEpoch and UndefinedOffset when unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.activeLocked().next)
}

// LatestEpoch returns the newest leader epoch in the log, or UndefinedEpoch.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if e, ok := l.epochs.latest(); ok {
		return e.Epoch
	}
	return UndefinedEpoch
}

// Size returns the bytes of all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	return n
}

// SegmentInfo describes one segment.
type SegmentInfo struct {
	BaseOffset   int64
	NextOffset   int64
	Size         int64
	MaxTimestamp int64
	Path         string // the .log file
	Active       bool
}

// Segments lists the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segments))
	for i, s := range l.segments {
		out[i] = SegmentInfo{s.base, s.next, s.size, s.maxTimestamp, s.prefix + logSuffix, i == len(l.segments)-1}
	}
	return out
}

// Close flushes the log, seals the active segment's indexes and closes every
// file. Waiters get ErrClosed. A log closed without error reopens with
// CleanShutdown and its log end offset as recovery point.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.stop)
	l.mu.Unlock()
	l.wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for len(l.rolled) > 0 {
		// Retention or DeleteRecords may have removed a queued segment
		// already: there is nothing of it left to make durable.
		if s := <-l.rolled; !s.deleted.Load() {
			err := s.sync()
			s.markSynced(s.size, err)
			if err != nil {
				l.failLocked(err)
			}
		}
	}
	if l.werr != nil {
		// One last retry: a log whose disk has room again closes cleanly.
		l.resumeLocked()
	}
	if l.werr != nil {
		errs = append(errs, l.werr)
	} else {
		s := l.activeLocked()
		if err := s.seal(); err != nil {
			errs = append(errs, err)
		} else if err := s.sync(); err != nil {
			errs = append(errs, err)
		} else {
			l.recoveryPoint = s.next
		}
	}
	for _, s := range l.segments {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ch := range []chan struct{}{l.endWaiters, l.hwWaiters} {
		if ch != nil {
			close(ch)
		}
	}
	l.endWaiters, l.hwWaiters = nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	return nil
}

// ActiveSegmentBase returns the base offset of the active segment; it changes
// when the log rolls.
func (l *Log) ActiveSegmentBase() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.activeLocked().base
}
