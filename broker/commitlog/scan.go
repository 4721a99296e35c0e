package commitlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// headerScanner walks the batch headers of a region of a segment file without
// reading the records: it preads the file in chunks and parses headers from
// them, so a walk over small batches costs one system call per chunk.
type headerScanner struct {
	f     *os.File
	pos   int64 // file position of the next batch
	end   int64 // end of the region
	buf   []byte
	start int64 // file position of buf[0]
	n     int   // valid bytes in buf
	want  int   // size of the next read: small first, growing while walking
	until int64 // when set, reads after the first cover up to here (the next index entry)
}

// firstRead is the size of a scanner's first read: enough for a header and a
// little more, since most walks start at an index entry right at their batch.
const firstRead = 256

// scanChunkSmall is the span between index entries below which a walk reads
// the whole span at once.
const scanChunkSmall = 4 << 10

const scanChunk = 16 << 10

var scanBufs = sync.Pool{New: func() any { b := make([]byte, scanChunk); return &b }}

func newHeaderScanner(f *os.File, pos, end int64) *headerScanner {
	b := scanBufs.Get().(*[]byte)
	return &headerScanner{f: f, pos: pos, end: end, buf: *b, start: -1, want: firstRead}
}

// release returns the scanner's buffer to the pool.
func (s *headerScanner) release() {
	b := s.buf
	s.buf = nil
	scanBufs.Put(&b)
}

// errTornTail marks a batch that runs past the end of the region: a torn write.
var errTornTail = errors.New("batch runs past the end of the segment")

// next returns the header of the batch at s.pos and its position, and advances
// past the batch. It returns io.EOF at the end of the region, errTornTail when the
// batch does not fit in it, and a recordbatch error for a malformed header.
func (s *headerScanner) next() (recordbatch.Header, int64, error) {
	if s.pos >= s.end {
		return recordbatch.Header{}, 0, io.EOF
	}
	if s.end-s.pos < recordbatch.HeaderSize {
		return recordbatch.Header{}, 0, errTornTail
	}
	if s.start < 0 || s.pos < s.start || s.pos+recordbatch.HeaderSize > s.start+int64(s.n) {
		want := min(int64(s.want), s.end-s.pos)
		s.want = min(s.want*4, len(s.buf))
		if s.until > s.pos {
			s.want = min(int(s.until-s.pos)+recordbatch.HeaderSize, len(s.buf))
		}
		n, err := s.f.ReadAt(s.buf[:want], s.pos)
		if int64(n) < recordbatch.HeaderSize {
			if err == nil || err == io.EOF {
				err = errTornTail
			}
			return recordbatch.Header{}, 0, fmt.Errorf("read batch header at %d: %w", s.pos, err)
		}
		s.start, s.n = s.pos, n
	}
	off := s.pos - s.start
	h, err := recordbatch.ParseHeader(s.buf[off : off+recordbatch.HeaderSize])
	if err != nil {
		return h, 0, err
	}
	pos := s.pos
	size := int64(h.Size())
	if pos+size > s.end {
		return h, 0, errTornTail
	}
	s.pos += size
	return h, pos, nil
}

// seqBatchReader reads whole batches front to back through one large window,
// for recovery: each byte of the file is read once.
type seqBatchReader struct {
	f      *os.File
	end    int64
	buf    []byte
	bufPos int64 // file position of buf[0]
	r, w   int   // unread window buf[r:w]
}

// newSeqBatchReader reads the batches of f from position from up to end.
func newSeqBatchReader(f *os.File, from, end int64) *seqBatchReader {
	return &seqBatchReader{f: f, end: end, bufPos: from, buf: make([]byte, max(min(end-from, 1<<20), 0))}
}

// fill makes at least need bytes available in the window.
func (s *seqBatchReader) fill(need int) error {
	if s.w-s.r >= need {
		return nil
	}
	copy(s.buf, s.buf[s.r:s.w])
	s.w -= s.r
	s.bufPos += int64(s.r)
	s.r = 0
	if need > len(s.buf) {
		s.buf = append(s.buf[:s.w], make([]byte, need-s.w)...)
	}
	for s.w < need {
		at := s.bufPos + int64(s.w)
		if at >= s.end {
			return errTornTail
		}
		n, err := s.f.ReadAt(s.buf[s.w:min(int64(len(s.buf)), s.end-s.bufPos)], at)
		s.w += n
		if n == 0 {
			if err == nil || err == io.EOF {
				err = errTornTail
			}
			return err
		}
	}
	return nil
}

// next returns the next whole batch and its position; io.EOF at the end,
// errTornTail for a batch cut short, a recordbatch error for a bad header. The
// batch aliases the reader's buffer until the next call.
func (s *seqBatchReader) next() (recordbatch.Header, []byte, int64, error) {
	pos := s.bufPos + int64(s.r)
	if pos >= s.end {
		return recordbatch.Header{}, nil, pos, io.EOF
	}
	if s.end-pos < recordbatch.HeaderSize {
		return recordbatch.Header{}, nil, pos, errTornTail
	}
	if err := s.fill(recordbatch.HeaderSize); err != nil {
		return recordbatch.Header{}, nil, pos, err
	}
	h, err := recordbatch.ParseHeader(s.buf[s.r : s.r+recordbatch.HeaderSize])
	if err != nil {
		return h, nil, pos, err
	}
	size := h.Size()
	if pos+int64(size) > s.end {
		return h, nil, pos, errTornTail
	}
	if err := s.fill(size); err != nil {
		return h, nil, pos, err
	}
	b := s.buf[s.r : s.r+size]
	s.r += size
	return h, b, pos, nil
}
