package commitlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// cleanResult is what rewriting one segment did.
type cleanResult struct {
	written bool // a cleaned segment was swapped in
	size    int64
	removed int64
	horizon int64 // the earliest delete horizon of the tombstones kept, -1 for none
}

// cleanSegment rewrites s without the records the map supersedes and the
// tombstones past their horizon, and swaps the result in. A segment with
// nothing to change is left alone.
func (c *Cleaner) cleanSegment(l *Log, ps plannedSegment, m *offsetMap, p *cleanPlan) (cleanResult, error) {
	s := ps.s
	w, err := newCleanedWriter(l.fs, s.prefix, s.base, int64(p.opts.IndexIntervalBytes), c.opts.IOBufferSize)
	if err != nil {
		return cleanResult{}, err
	}
	res, changed, err := filterSegment(ps, m, p, w)
	if err == nil && !changed {
		return res, w.discard()
	}
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		if derr := w.discard(); derr != nil {
			l.logger.Error("cannot remove cleaned segment", "segment", s.prefix+logSuffix, "error", derr)
		}
		return res, err
	}
	res.size = w.pos
	ok, err := l.swapCleaned(ps)
	if err != nil || !ok {
		return res, err
	}
	res.written = true
	return res, nil
}

// filterSegment writes the batches of s to w, each without the records the
// cleaner drops, and reports whether anything changed.
func filterSegment(ps plannedSegment, m *offsetMap, p *cleanPlan, w *cleanedWriter) (cleanResult, bool, error) {
	s := ps.s
	var (
		res     = cleanResult{horizon: -1}
		changed bool
		recs    []recordbatch.Record
		kept    []recordbatch.Record
		out     []byte
		// pend is an empty batch not written yet: the empty batches that
		// follow it merge into it while they can (recordbatch.MergeEmpty).
		pend    recordbatch.Header
		pending bool
	)
	// emit writes the batch whose header is h holding recs (after
	// stamping the delete horizon dh, when not -1).
	emit := func(h recordbatch.Header, recs []recordbatch.Record, dh int64) error {
		var err error
		if out, err = recordbatch.AppendRewritten(out[:0], h, recs, dh); err != nil {
			return fmt.Errorf("segment %d offset %d: rewrite: %w", s.base, h.BaseOffset, err)
		}
		nh, err := recordbatch.ParseHeader(out)
		if err != nil {
			return err
		}
		return w.add(&nh, out)
	}
	flushPending := func() error {
		if !pending {
			return nil
		}
		pending = false
		return emit(pend, nil, -1)
	}
	now := p.now.UnixMilli()
	horizon := p.now.Add(p.opts.DeleteRetention).UnixMilli()
	rd := newSeqBatchReader(s.log, 0, ps.size)
	for {
		h, batch, pos, err := rd.next()
		if err == io.EOF {
			return res, changed, flushPending()
		}
		if err == nil {
			_, err = recordbatch.ValidateStored(batch, 0)
		}
		if err == nil && !h.IsControl() {
			recs, err = recordbatch.DecodeRecords(recs[:0], batch, recordbatch.DecodeOptions{})
		}
		if err != nil {
			return res, changed, fmt.Errorf("segment %d byte %d: %w", s.base, pos, err)
		}
		if h.IsControl() {
			if err := flushPending(); err != nil {
				return res, changed, err
			}
			if err := w.add(&h, batch); err != nil {
				return res, changed, err
			}
			continue
		}
		kept = kept[:0]
		tombstones := false
		for i := range recs {
			if retain(m, &h, &recs[i], now) {
				kept = append(kept, recs[i])
				tombstones = tombstones || recs[i].Value == nil
			}
		}
		res.removed += int64(len(recs) - len(kept))
		if len(kept) == 0 {
			// Emptied, or empty already: its header stays for its offsets
			// and producer state, merged with the empty ones around it.
			changed = changed || len(recs) > 0
			e := h
			e.NumRecords, e.Attributes = 0, h.Attributes&^recordbatch.AttrCodecMask
			if merged, ok := recordbatch.MergeEmpty(pend, e); pending && ok {
				pend, changed = merged, true
				continue
			}
			if err := flushPending(); err != nil {
				return res, changed, err
			}
			pend, pending = e, true
			continue
		}
		if err := flushPending(); err != nil {
			return res, changed, err
		}
		stamp := tombstones && !h.HasDeleteHorizon()
		if tombstones {
			dh := h.BaseTimestamp
			if stamp {
				dh = horizon
			}
			if res.horizon < 0 || dh < res.horizon {
				res.horizon = dh
			}
		}
		if len(kept) == len(recs) && !stamp {
			if err := w.add(&h, batch); err != nil {
				return res, changed, err
			}
			continue
		}
		changed = true
		dh := int64(-1)
		if stamp {
			dh = horizon
		}
		if err := emit(h, kept, dh); err != nil {
			return res, changed, err
		}
	}
}

// cleanedWriter writes a segment's .cleaned files, building its indexes as
// an append would (an entry at the start and after every
// index.interval.bytes, and the time index's seal entry at the end).
type cleanedWriter struct {
	fs        diskfs.FS
	prefix    string
	base      int64
	interval  int64
	f         *os.File
	w         *bufio.Writer
	pos       int64
	since     int64
	index     []byte
	tindex    []byte
	maxTS     int64
	offMaxTS  int64
	lastTS    int64
	lastTSRel int64
}

func newCleanedWriter(fsys diskfs.FS, prefix string, base, interval int64, bufSize int) (*cleanedWriter, error) {
	f, err := fsys.OpenFile(prefix+logSuffix+cleanedSuffix, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create cleaned segment %d: %w", base, err)
	}
	return &cleanedWriter{fs: fsys, prefix: prefix, base: base, interval: interval, f: f, w: bufio.NewWriterSize(&fsWriter{fs: fsys, f: f}, bufSize),
		maxTS: -1, offMaxTS: -1, lastTS: -1 << 63, lastTSRel: -1}, nil
}

// fsWriter writes sequentially through a diskfs.FS.
type fsWriter struct {
	fs  diskfs.FS
	f   *os.File
	off int64
}

func (w *fsWriter) Write(b []byte) (int, error) {
	n, err := w.fs.WriteAt(w.f, [][]byte{b}, w.off)
	w.off += n
	if err == nil && int(n) < len(b) {
		err = io.ErrShortWrite
	}
	return int(n), err
}

// add writes one batch (h its header) and notes it in the indexes.
func (w *cleanedWriter) add(h *recordbatch.Header, batch []byte) error {
	if h.MaxTimestamp > w.maxTS {
		w.maxTS, w.offMaxTS = h.MaxTimestamp, h.LastOffset()
	}
	if w.since > w.interval || w.pos == 0 {
		w.index = binary.BigEndian.AppendUint32(w.index, uint32(h.BaseOffset-w.base))
		w.index = binary.BigEndian.AppendUint32(w.index, uint32(w.pos))
		w.noteTime()
		w.since = 0
	}
	w.since += int64(len(batch))
	if _, err := w.w.Write(batch); err != nil {
		return fmt.Errorf("write cleaned segment %d: %w", w.base, err)
	}
	w.pos += int64(len(batch))
	return nil
}

// noteTime adds a time index entry when the largest timestamp grew.
func (w *cleanedWriter) noteTime() {
	if w.maxTS < 0 || w.offMaxTS < w.base {
		return
	}
	rel := w.offMaxTS - w.base
	if w.maxTS <= w.lastTS || rel < w.lastTSRel {
		return
	}
	w.tindex = binary.BigEndian.AppendUint64(w.tindex, uint64(w.maxTS))
	w.tindex = binary.BigEndian.AppendUint32(w.tindex, uint32(rel))
	w.lastTS, w.lastTSRel = w.maxTS, rel
}

// finish flushes and fsyncs the three .cleaned files.
func (w *cleanedWriter) finish() error {
	w.noteTime()
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write cleaned segment %d: %w", w.base, err)
	}
	if err := w.fs.Sync(w.f); err != nil {
		return fmt.Errorf("sync cleaned segment %d: %w", w.base, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close cleaned segment %d: %w", w.base, err)
	}
	w.f = nil
	for _, ix := range []struct {
		suffix string
		data   []byte
	}{{indexSuffix, w.index}, {timeIndexSuffix, w.tindex}} {
		f, err := w.fs.OpenFile(w.prefix+ix.suffix+cleanedSuffix, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("create cleaned index: %w", err)
		}
		_, err = w.fs.WriteAt(f, [][]byte{ix.data}, 0)
		if err == nil {
			err = w.fs.Sync(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write cleaned index %s: %w", w.prefix+ix.suffix+cleanedSuffix, err)
		}
	}
	return nil
}

// discard removes the .cleaned files.
func (w *cleanedWriter) discard() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	var errs []error
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := w.fs.Remove(w.prefix + suf + cleanedSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
