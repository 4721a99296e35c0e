package commitlog

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// scanResult is what a front-to-back check of a segment's batches found.
type scanResult struct {
	end  int64 // position after the last good batch
	next int64 // offset after the last good batch
	// bad says why the check stopped before the end of the region (the
	// batch at end is damaged); nil when every batch was good.
	bad error
}

// scanBatches reads f from position from (where a batch with offset next
// must start) up to end, and checks every batch whole: framing, CRC, record
// count (compaction may leave fewer records than offsets), offsets continuing densely, relative offsets within a segment at
// base, and, with limit >= 0, offsets below limit (the next segment's base).
// It calls fn, when set, with each good batch (the bytes valid until fn
// returns) and its position, and stops at the first bad
// one. Damage is reported in the result; the error is for a failed read (or
// fn's error).
func scanBatches(f *os.File, base, from, next, end, limit int64, fn func(h *recordbatch.Header, batch []byte, pos int64) error) (scanResult, error) {
	rd := newSeqBatchReader(f, from, end)
	res := scanResult{end: from, next: next}
	for {
		h, batch, p, err := rd.next()
		if err == io.EOF {
			return res, nil
		}
		if err == nil {
			err = checkStoredBatch(batch, &h, p, base, res.next, limit)
		}
		if err != nil {
			if isIOError(err) {
				return res, fmt.Errorf("read segment %d: %w", base, err)
			}
			res.bad = err
			return res, nil
		}
		if fn != nil {
			if err := fn(&h, batch, p); err != nil {
				return res, err
			}
		}
		res.end, res.next = p+int64(h.Size()), h.NextOffset()
	}
}

// checkStoredBatch checks a whole batch read from byte pos of a segment at
// base, where offset next was expected: valid, at next, and within the
// segment's offsets (below limit when limit >= 0).
func checkStoredBatch(batch []byte, h *recordbatch.Header, pos, base, next, limit int64) error {
	if _, err := recordbatch.ValidateStored(batch, 0); err != nil {
		return fmt.Errorf("batch at byte %d: %w", pos, err)
	}
	if h.BaseOffset != next {
		return fmt.Errorf("batch at byte %d has base offset %d, expected %d", pos, h.BaseOffset, next)
	}
	if h.LastOffset()-base > math.MaxInt32 {
		return fmt.Errorf("batch at byte %d ends at offset %d, beyond what a segment at %d can index", pos, h.LastOffset(), base)
	}
	if limit >= 0 && h.NextOffset() > limit {
		return fmt.Errorf("batch at byte %d holds offsets %d to %d, overlapping the next segment at %d", pos, h.BaseOffset, h.LastOffset(), limit)
	}
	return nil
}

// isIOError tells a failed read (the device, a closed file) from damaged
// bytes, which every other error of a scan means.
func isIOError(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe) || errors.Is(err, os.ErrClosed)
}

// findBatch looks for the first position in [from, end) of f where a whole
// valid batch starts with a base offset of at least minOffset that a segment
// at base can hold: where readable data resumes after damage. Only a batch
// whose CRC checks is taken, so garbage is not mistaken for one.
func findBatch(f *os.File, base, from, end, minOffset int64) (pos int64, found bool, err error) {
	const window = 1 << 20
	buf := make([]byte, min(window, max(end-from, 0)))
	var batchBuf []byte
	for w := from; w+recordbatch.HeaderSize <= end; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), end-w)], w)
		if n < recordbatch.HeaderSize {
			if err != nil && err != io.EOF {
				return 0, false, fmt.Errorf("read segment %d: %w", base, err)
			}
			return 0, false, nil
		}
		for i := 0; i+recordbatch.HeaderSize <= n; i++ {
			if buf[i+16] != recordbatch.Magic {
				continue
			}
			h, err := recordbatch.ParseHeader(buf[i : i+recordbatch.HeaderSize])
			p := w + int64(i)
			if err != nil || h.BaseOffset < minOffset || h.LastOffsetDelta < 0 ||
				h.LastOffset()-base > math.MaxInt32 || p+int64(h.Size()) > end {
				continue
			}
			_, batch, err := readBatchAt(f, p, end, &batchBuf)
			if err != nil {
				if isIOError(err) {
					return 0, false, fmt.Errorf("read segment %d: %w", base, err)
				}
				continue
			}
			if _, err := recordbatch.ValidateStored(batch, 0); err == nil {
				return p, true, nil
			}
		}
		if w+int64(n) >= end {
			break
		}
		// The next window starts at the first position whose header this
		// one did not hold whole.
		w += int64(n - recordbatch.HeaderSize + 1)
	}
	return 0, false, nil
}

// resumeAfter follows the readable batches found after damage at badPos of
// f, to end: it returns the offset after the last of them (found is false
// when nothing valid follows the damage: a torn tail).
func resumeAfter(f *os.File, base, badPos, end, minOffset int64) (next int64, found bool, err error) {
	for pos := badPos + 1; pos < end; {
		p, ok, err := findBatch(f, base, pos, end, minOffset)
		if err != nil || !ok {
			return next, found, err
		}
		hdr := make([]byte, recordbatch.HeaderSize)
		if _, err := f.ReadAt(hdr, p); err != nil {
			return next, found, fmt.Errorf("read segment %d: %w", base, err)
		}
		h, _ := recordbatch.ParseHeader(hdr)
		res, err := scanBatches(f, base, p, h.BaseOffset, end, -1, nil)
		if err != nil {
			return next, found, err
		}
		next, found, minOffset = res.next, true, res.next
		if res.bad == nil {
			break
		}
		pos = res.end + 1
	}
	return next, found, nil
}
