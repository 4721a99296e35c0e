package commitlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// Defaults for CleanerOptions, Kafka's log.cleaner.* defaults.
const (
	DefaultDedupeBufferSize  = 128 << 20
	DefaultCleanerLoadFactor = 0.9
	DefaultCleanerIOBuffer   = 512 << 10
)

// cleanerCheckpointFile records a compacted log's first dirty offset: the
// cleaner has mapped every key below it.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// ErrDedupeBufferTooSmall means the cleaner's offset map cannot hold the
// keys of even one batch. Raise CleanerOptions.DedupeBufferSize.
var ErrDedupeBufferTooSmall = errors.New("cleaner dedupe buffer too small for one batch")

// CleanerOptions size a Cleaner (Kafka's log.cleaner.* broker settings).
// Zero values take the defaults.
type CleanerOptions struct {
	// DedupeBufferSize bounds the offset map, the cleaner's one large
	// allocation: 24 bytes a key (log.cleaner.dedupe.buffer.size, 128
	// MiB by default, about 5 million keys at the load factor). A run
	// whose dirty range holds more keys cleans up to where the map filled;
	// the next run goes on from there.
	DedupeBufferSize int64
	// LoadFactor is the share of the map's slots filled before a run stops
	// mapping (log.cleaner.io.buffer.load.factor), above 0 and at most 0.95.
	LoadFactor float64
	// IOBufferSize is the write buffer of a cleaned segment
	// (log.cleaner.io.buffer.size).
	IOBufferSize int
}

func (o CleanerOptions) withDefaults() CleanerOptions {
	if o.DedupeBufferSize == 0 {
		o.DedupeBufferSize = DefaultDedupeBufferSize
	}
	if o.LoadFactor == 0 {
		o.LoadFactor = DefaultCleanerLoadFactor
	}
	if o.IOBufferSize == 0 {
		o.IOBufferSize = DefaultCleanerIOBuffer
	}
	return o
}

// Validate says in plain words what is wrong with o, after defaults.
func (o CleanerOptions) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.DedupeBufferSize < 1024*offsetMapSlotBytes {
		errs = append(errs, fmt.Errorf("log.cleaner.dedupe.buffer.size %d must be at least %d", o.DedupeBufferSize, 1024*offsetMapSlotBytes))
	}
	if o.LoadFactor <= 0 || o.LoadFactor > 0.95 {
		errs = append(errs, fmt.Errorf("log.cleaner.io.buffer.load.factor %v must be above 0 and at most 0.95", o.LoadFactor))
	}
	if o.IOBufferSize < 4096 {
		errs = append(errs, fmt.Errorf("log.cleaner.io.buffer.size %d must be at least 4096", o.IOBufferSize))
	}
	return errors.Join(errs...)
}

// Cleaner compacts logs: it keeps the last record of every key and drops
// tombstones past their delete horizon. Its memory is bounded by
// DedupeBufferSize (the offset map, kept from run to run once allocated)
// plus the write buffer and one batch. Calls to Clean on one Cleaner run
// one at a time.
type Cleaner struct {
	opts CleanerOptions
	// mu serializes runs, which share m. Lock order: Cleaner.mu, then
	// Log.cleanMu, then Log.mu.
	mu sync.Mutex
	m  *offsetMap // the last run's map, whose slots the next run reuses
}

// NewCleaner returns a Cleaner with opts.
func NewCleaner(opts CleanerOptions) (*Cleaner, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("log cleaner: %w", err)
	}
	return &Cleaner{opts: opts.withDefaults()}, nil
}

// MaxMapBytes is the bound of the offset map's memory.
func (c *Cleaner) MaxMapBytes() int64 { return c.opts.DedupeBufferSize }

// CleanStats says what one Clean did.
type CleanStats struct {
	Cleaned        bool    // something was cleaned (the ratio passed, or forced)
	DirtyRatio     float64 // dirty share of the cleanable bytes before the run
	FirstDirty     int64   // where mapping began
	EndOffset      int64   // where mapping ended: the next run's first dirty offset
	Segments       int     // segments rewritten
	BytesRead      int64
	BytesWritten   int64
	RecordsRemoved int64
	MapBytes       int64 // memory of the offset map used
	Keys           int   // keys in the map
}

// cleanPlan is the part of a log one run may clean: its first closed
// segments, from the log start, held by a reference each.
type cleanPlan struct {
	segs       []plannedSegment
	firstDirty int64
	end        int64 // the first uncleanable offset
	dirtyBytes int64
	cleanBytes int64
	horizonDue bool // a tombstone's delete horizon passed
	now        time.Time
	opts       Options
}

// DirtyRatio returns the share of l's cleanable bytes (closed, committed,
// fsynced segments older than min.compaction.lag.ms) that lies at or past
// its first dirty offset; 0 for a log without compaction.
func (l *Log) DirtyRatio() float64 {
	p, ok := l.planClean(false)
	if !ok {
		return 0
	}
	p.release()
	return p.ratio()
}

func (p *cleanPlan) ratio() float64 {
	if p.dirtyBytes+p.cleanBytes == 0 {
		return 0
	}
	return float64(p.dirtyBytes) / float64(p.dirtyBytes+p.cleanBytes)
}

func (p *cleanPlan) release() {
	for _, ps := range p.segs {
		ps.s.releaseRead()
	}
}

// plannedSegment is a segment a run may clean with its size and next
// offset when planned: the run reads no further, and a truncation since
// (which changes them) voids its cleaning.
type plannedSegment struct {
	s          *segment
	size, next int64
}

// planClean picks the segments a run may clean and takes a reference to
// each. ok is false when there is nothing to clean.
func (l *Log) planClean(hold bool) (cleanPlan, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	o := l.opts
	if l.closed || !o.Compact {
		return cleanPlan{}, false
	}
	p := cleanPlan{firstDirty: max(l.firstDirty, l.logStart), now: o.Now(), opts: o}
	lagEdge := p.now.Add(-o.MinCompactionLag).UnixMilli()
	k := 0
	for ; k < len(l.segments)-1; k++ {
		s := l.segments[k]
		if s.next > l.hw || s.next > l.recoveryPoint || s.damage != nil || (o.MinCompactionLag > 0 && s.maxTimestamp > lagEdge) {
			break
		}
	}
	if k == 0 {
		return cleanPlan{}, false
	}
	p.end = l.segments[k-1].next
	p.horizonDue = l.horizonDue >= 0 && p.now.UnixMilli() >= l.horizonDue
	for _, s := range l.segments[:k] {
		if s.next > p.firstDirty {
			p.dirtyBytes += s.size
		} else {
			p.cleanBytes += s.size
		}
		if hold {
			s.acquire()
			p.segs = append(p.segs, plannedSegment{s, s.size, s.next})
		}
	}
	return p, true
}

// Clean compacts l if it has compaction on and its dirty ratio reaches
// min.cleanable.dirty.ratio, or always with force. It maps the last offset
// of every key in the dirty range (bounded by the dedupe buffer), then
// rewrites each closed segment from the log start that has something to
// drop, swapping the new file in (see swapCleaned). Batches keep their
// offsets; a batch whose records all go stays as an empty batch (its
// header alone), so offsets and producer state read the same. Records
// without a key are dropped, as Kafka drops them. Tombstones stay until
// delete.retention.ms after the run that first cleaned them. The active
// segment, segments past the high watermark or not yet fsynced, and
// damaged segments are never touched.
func (c *Cleaner) Clean(ctx context.Context, l *Log, force bool) (CleanStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	p, ok := l.planClean(true)
	if !ok {
		return CleanStats{}, nil
	}
	defer p.release()
	st := CleanStats{DirtyRatio: p.ratio(), FirstDirty: p.firstDirty}
	if !force && !p.horizonDue && (p.firstDirty >= p.end || st.DirtyRatio < p.opts.MinCleanableDirtyRatio) {
		return st, nil
	}
	st.Cleaned = true
	m := newOffsetMap(c.m, c.opts.DedupeBufferSize, c.opts.LoadFactor, p.end-p.firstDirty)
	c.m = m
	st.MapBytes = m.bytes()
	end, read, err := buildOffsetMap(ctx, m, p.segs, p.firstDirty, p.end)
	st.BytesRead += read
	if err != nil {
		return st, fmt.Errorf("clean %s: %w", l.dir, err)
	}
	st.EndOffset, st.Keys = end, m.used
	horizon := int64(-1)
	for _, ps := range p.segs {
		if ps.s.base >= end {
			break
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		res, err := c.cleanSegment(l, ps, m, &p)
		st.BytesRead += ps.size
		if err != nil {
			return st, fmt.Errorf("clean %s: %w", l.dir, err)
		}
		if res.horizon >= 0 && (horizon < 0 || res.horizon < horizon) {
			horizon = res.horizon
		}
		if res.written {
			st.Segments++
			st.BytesWritten += res.size
			st.RecordsRemoved += res.removed
		}
	}
	if err := l.setFirstDirty(end, horizon); err != nil {
		return st, fmt.Errorf("clean %s: %w", l.dir, err)
	}
	l.logger.Info("cleaned log", "dir", l.dir, "first_dirty", p.firstDirty, "end", end, "segments", st.Segments,
		"bytes_read", st.BytesRead, "bytes_written", st.BytesWritten, "records_removed", st.RecordsRemoved, "keys", st.Keys)
	return st, nil
}

// buildOffsetMap maps the keys of the batches from firstDirty up to end,
// stopping at a batch boundary when the map is full. It returns where
// mapping stopped and the bytes it read.
func buildOffsetMap(ctx context.Context, m *offsetMap, segs []plannedSegment, firstDirty, end int64) (int64, int64, error) {
	var read int64
	var recs []recordbatch.Record
	for _, ps := range segs {
		s := ps.s
		if ps.next <= firstDirty {
			continue
		}
		if err := ctx.Err(); err != nil {
			return 0, read, err
		}
		rd := newSeqBatchReader(s.log, 0, ps.size)
		for {
			h, batch, pos, err := rd.next()
			if err == io.EOF {
				break
			}
			if err == nil {
				_, err = recordbatch.ValidateStored(batch, 0)
			}
			if err != nil {
				return 0, read, fmt.Errorf("segment %d byte %d: %w", s.base, pos, err)
			}
			read += int64(len(batch))
			if h.LastOffset() < firstDirty || h.IsControl() {
				continue
			}
			if !m.room(int(h.NumRecords)) {
				if h.BaseOffset <= firstDirty {
					return 0, read, fmt.Errorf("%w: %d records at offset %d, the map holds %d keys", ErrDedupeBufferTooSmall, h.NumRecords, h.BaseOffset, m.maxUsed)
				}
				return h.BaseOffset, read, nil
			}
			if recs, err = recordbatch.DecodeRecords(recs[:0], batch, recordbatch.DecodeOptions{}); err != nil {
				return 0, read, fmt.Errorf("segment %d byte %d: %w", s.base, pos, err)
			}
			for i := range recs {
				if recs[i].Key != nil && recs[i].Offset >= firstDirty {
					m.put(recs[i].Key, recs[i].Offset)
				}
			}
		}
	}
	return end, read, nil
}

// retain reports whether the cleaner keeps record r of a batch whose header
// is h: it has a key, no later record of that key is mapped, and it is not
// a tombstone past its delete horizon.
func retain(m *offsetMap, h *recordbatch.Header, r *recordbatch.Record, now int64) bool {
	if r.Key == nil {
		return false
	}
	if last, ok := m.get(r.Key); ok && r.Offset < last {
		return false
	}
	return r.Value != nil || !h.HasDeleteHorizon() || now < h.BaseTimestamp
}

// firstDirty of a log is read from its checkpoint at open; zero (all
// dirty) when there is none.
func loadFirstDirty(dir string) (int64, error) {
	entries, err := readCheckpoint(filepath.Join(dir, cleanerCheckpointFile), 1)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	return strconv.ParseInt(entries[0][0], 10, 64)
}

// setFirstDirty records where the next run starts mapping, and the
// earliest delete horizon of the tombstones the run kept (-1: none).
func (l *Log) setFirstDirty(off, horizon int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.firstDirty, l.horizonDue = off, horizon
	return writeCheckpoint(l.fs, filepath.Join(l.dir, cleanerCheckpointFile), [][]string{{strconv.FormatInt(off, 10)}})
}
