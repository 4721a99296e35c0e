package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// segScanner walks the batches of one remote segment.log through the chunk
// cache. Nothing read is trusted: every header is checked against the
// segment's metadata (offsets inside it, never going backwards, batches
// inside the recorded size) before its length is used, and a batch's bytes
// are returned only after its CRC-32C matched.
type segScanner struct {
	r      *Reader
	seg    metadata.RemoteSegment
	logKey string

	pos      int64 // where the next header is read
	cur      int64 // position of the batch next returned
	prevNext int64 // offset after the previous batch: batches never go back

	chunkIdx  int64 // the chunk last used, kept so a scan reads each once
	chunkData []byte
}

func (r *Reader) scanner(seg metadata.RemoteSegment) *segScanner {
	return &segScanner{r: r, seg: seg, logKey: SegmentObject(seg.ObjectKey, SegmentLogFile), chunkIdx: -1}
}

// seek starts the scan at pos, the indexed position for offset. When the
// batch there starts after offset, or cannot be read as a header, the index
// does not match the log: the scan starts at the segment's beginning.
func (sc *segScanner) seek(ctx context.Context, pos, offset int64) error {
	sc.pos, sc.prevNext = pos, sc.seg.BaseOffset
	if pos == 0 {
		return nil
	}
	h, err := sc.next(ctx)
	if err != nil && !isRemoteDataErr(err) {
		return err
	}
	if err != nil || h.BaseOffset > offset {
		sc.r.opts.Logger.Warn("tiering: remote index entry does not match the log; scanning from the segment's start",
			"key", sc.logKey, "position", pos, "offset", offset)
		sc.pos, sc.prevNext = 0, sc.seg.BaseOffset
		return nil
	}
	sc.pos, sc.prevNext = pos, sc.seg.BaseOffset
	return nil
}

// next reads and checks the header of the next batch; io.EOF at the end
// of the segment.
func (sc *segScanner) next(ctx context.Context) (recordbatch.Header, error) {
	if sc.pos >= sc.seg.Size {
		return recordbatch.Header{}, io.EOF
	}
	b, err := sc.readInto(ctx, nil, sc.pos, min(recordbatch.HeaderSize, sc.seg.Size-sc.pos))
	if err != nil {
		return recordbatch.Header{}, err
	}
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return recordbatch.Header{}, sc.dataErr("batch header at byte %d: %v", sc.pos, err)
	}
	size := int64(h.Size())
	switch {
	case sc.pos+size > sc.seg.Size:
		return recordbatch.Header{}, sc.dataErr("batch at byte %d is %d bytes, past the segment's %d", sc.pos, size, sc.seg.Size)
	case h.LastOffsetDelta < 0:
		return recordbatch.Header{}, sc.dataErr("batch at byte %d has last offset delta %d", sc.pos, h.LastOffsetDelta)
	case h.BaseOffset < sc.prevNext || h.LastOffset() > sc.seg.EndOffset:
		return recordbatch.Header{}, sc.dataErr("batch at byte %d holds offsets [%d, %d], outside [%d, %d]",
			sc.pos, h.BaseOffset, h.LastOffset(), sc.prevNext, sc.seg.EndOffset)
	}
	sc.cur = sc.pos
	sc.pos += size
	sc.prevNext = h.NextOffset()
	return h, nil
}

// appendBatch appends the batch whose header next just returned to dst,
// after checking its CRC-32C.
func (sc *segScanner) appendBatch(ctx context.Context, dst []byte, h recordbatch.Header) ([]byte, error) {
	start := len(dst)
	dst, err := sc.readInto(ctx, dst, sc.cur, int64(h.Size()))
	if err != nil {
		return nil, err
	}
	if err := recordbatch.VerifyCRC(dst[start:]); err != nil {
		// The chunks may have been damaged on the way: the next read
		// fetches them again rather than failing on the cached copy.
		for i := sc.cur / sc.r.opts.ChunkSize; i <= (sc.cur+int64(h.Size())-1)/sc.r.opts.ChunkSize; i++ {
			sc.r.cache.drop(chunkName(sc.logKey, i))
		}
		sc.chunkIdx, sc.chunkData = -1, nil
		return nil, sc.dataErr("batch at byte %d (offsets %d-%d): %v", sc.cur, h.BaseOffset, h.LastOffset(), err)
	}
	return dst, nil
}

// readInto appends n bytes of the log from position off to dst.
func (sc *segScanner) readInto(ctx context.Context, dst []byte, off, n int64) ([]byte, error) {
	cs := sc.r.opts.ChunkSize
	for n > 0 {
		idx := off / cs
		chunk, err := sc.chunk(ctx, idx)
		if err != nil {
			return nil, err
		}
		in := off - idx*cs
		take := min(n, int64(len(chunk))-in)
		dst = append(dst, chunk[in:in+take]...)
		off, n = off+take, n-take
	}
	return dst, nil
}

// chunk returns chunk idx of the log, whole.
func (sc *segScanner) chunk(ctx context.Context, idx int64) ([]byte, error) {
	if idx == sc.chunkIdx {
		return sc.chunkData, nil
	}
	cs := sc.r.opts.ChunkSize
	off := idx * cs
	want := min(cs, sc.seg.Size-off)
	data, _, err := sc.r.cache.get(ctx, chunkName(sc.logKey, idx), func(ctx context.Context) ([]byte, error) {
		rc, err := sc.r.store.Get(ctx, sc.logKey, off, want)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		buf := make([]byte, want+1) // one more: a longer answer is an error too
		n, err := io.ReadFull(rc, buf)
		sc.r.metrics.remoteBytes.Add(float64(n))
		switch {
		case err == io.ErrUnexpectedEOF && int64(n) == want:
			return buf[:n], nil
		case err == nil:
			return nil, sc.dataErr("the store returned more than the %d bytes asked at byte %d", want, off)
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			return nil, sc.dataErr("the log object ends at byte %d, before its recorded size %d", off+int64(n), sc.seg.Size)
		default:
			return nil, fmt.Errorf("read %s at byte %d: %w", sc.logKey, off+int64(n), err)
		}
	})
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != want {
		sc.r.cache.drop(chunkName(sc.logKey, idx))
		return nil, sc.dataErr("chunk %d holds %d bytes, want %d", idx, len(data), want)
	}
	sc.chunkIdx, sc.chunkData = idx, data
	return data, nil
}

func (sc *segScanner) dataErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrRemoteData, sc.logKey, fmt.Sprintf(format, args...))
}

func isRemoteDataErr(err error) bool { return err != nil && errors.Is(err, ErrRemoteData) }
