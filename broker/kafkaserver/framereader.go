package kafkaserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

const (
	// slabSize is what one read from the socket fills at most, and the
	// memory an idle connection holds for reading.
	slabSize = 256 << 10
	// slabFrameMax is the largest frame kept in a slab; bigger frames get
	// a buffer of their own, read into directly.
	slabFrameMax = slabSize / 2
	// firstFrameAlloc is the most allocated for a big frame before its
	// bytes arrive; the buffer then doubles as they do, so a size prefix
	// alone never makes the server allocate MaxRequestBytes.
	firstFrameAlloc = 64 << 10
	// pooledFrameMax bounds the big frames whose buffers are recycled.
	pooledFrameMax = 1 << 20
)

// slab is a buffer that the socket is read into and that the frames read
// from it point into, shared by reference count: the reader holds one
// reference while it reads into the slab, each frame in flight one more.
// A request's bytes (a produce request's records) reach the handler without
// being copied out of the read buffer.
type slab struct {
	buf  []byte
	refs atomic.Int32
}

var slabPool = sync.Pool{New: func() any { return &slab{buf: make([]byte, slabSize)} }}

func (s *slab) release() {
	if s.refs.Add(-1) == 0 {
		slabPool.Put(s)
	}
}

// bigFramePool recycles the buffers of big frames up to pooledFrameMax.
var bigFramePool sync.Pool

// frame is one request frame (without its size prefix) and what keeps its
// bytes alive until release.
type frame struct {
	b    []byte
	slab *slab   // b lies in slab
	own  *[]byte // or b is a buffer of its own, pooled when small enough
}

// release gives the frame's memory back; b must not be used afterwards.
func (f *frame) release() {
	switch {
	case f.slab != nil:
		f.slab.release()
	case f.own != nil && cap(*f.own) <= pooledFrameMax:
		bigFramePool.Put(f.own)
	}
	*f = frame{}
}

// frameReader reads size-prefixed frames from a connection. Frames up to
// slabFrameMax are slices of the slab the socket was read into; one read
// takes whatever the client has sent, up to the slab's end, so a pipelining
// client's requests cost one system call for many. Only the connection's
// reader goroutine uses a frameReader.
type frameReader struct {
	r      io.Reader
	cur    *slab
	rd, wr int // unread bytes: cur.buf[rd:wr]
}

func newFrameReader(r io.Reader) *frameReader {
	s := slabPool.Get().(*slab)
	s.refs.Store(1)
	return &frameReader{r: r, cur: s}
}

// close releases the reader's slab.
func (fr *frameReader) close() {
	if fr.cur != nil {
		fr.cur.release()
		fr.cur = nil
	}
}

// frameSizeError reports a size prefix outside [0, MaxRequestBytes].
type frameSizeError struct{ size, max int32 }

func (e *frameSizeError) Error() string {
	return fmt.Sprintf("request frame of %d bytes is outside [0, %d] (socket.request.max.bytes)", e.size, e.max)
}

// next reads one frame of at most maxBytes. admit is called with the
// frame's size before its body is read and may block (the connection's
// in-flight byte budget); its error is returned as is. At a clean end of
// the stream, between frames, next returns io.EOF.
func (fr *frameReader) next(maxBytes int32, admit func(n int) error) (frame, error) {
	if err := fr.fill(4); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) && fr.wr == fr.rd {
			err = io.EOF
		}
		return frame{}, err
	}
	size := int32(binary.BigEndian.Uint32(fr.cur.buf[fr.rd:]))
	if size < 0 || size > maxBytes {
		return frame{}, &frameSizeError{size: size, max: maxBytes}
	}
	fr.rd += 4
	n := int(size)
	if err := admit(n); err != nil {
		return frame{}, err
	}
	if n <= slabFrameMax {
		if err := fr.fill(n); err != nil {
			return frame{}, fmt.Errorf("reading %d-byte frame: %w", n, err)
		}
		b := fr.cur.buf[fr.rd : fr.rd+n : fr.rd+n]
		fr.rd += n
		fr.cur.refs.Add(1)
		return frame{b: b, slab: fr.cur}, nil
	}
	return fr.big(n)
}

// big reads a frame too large for a slab into a buffer of its own: what is
// already buffered is copied, the rest read into it directly, the buffer
// growing only as bytes arrive.
func (fr *frameReader) big(n int) (frame, error) {
	var own *[]byte
	if n <= pooledFrameMax {
		if p, ok := bigFramePool.Get().(*[]byte); ok && cap(*p) >= n {
			own = p
		}
	}
	if own == nil {
		b := make([]byte, 0, min(n, max(firstFrameAlloc, fr.wr-fr.rd)))
		own = &b
	}
	buf := (*own)[:0]
	m := min(n, fr.wr-fr.rd)
	buf = append(buf, fr.cur.buf[fr.rd:fr.rd+m]...)
	fr.rd += m
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), n-len(buf)))
		}
		k, err := fr.r.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return frame{}, fmt.Errorf("reading %d-byte frame: %w", n, err)
		}
	}
	*own = buf
	return frame{b: buf, own: own}, nil
}

// fill reads until at least k unread bytes are buffered (k <= slabSize),
// moving the unread bytes to the front of the slab, or to a fresh slab when
// frames in flight still use this one, if the slab's tail is too short. An
// end of stream before k bytes is io.ErrUnexpectedEOF.
func (fr *frameReader) fill(k int) error {
	for fr.wr-fr.rd < k {
		if fr.rd == fr.wr && fr.cur.refs.Load() == 1 {
			fr.rd, fr.wr = 0, 0 // nothing else uses the slab: start over
		}
		if len(fr.cur.buf)-fr.rd < k {
			if fr.cur.refs.Load() == 1 {
				fr.wr = copy(fr.cur.buf, fr.cur.buf[fr.rd:fr.wr])
			} else {
				s := slabPool.Get().(*slab)
				s.refs.Store(1)
				fr.wr = copy(s.buf, fr.cur.buf[fr.rd:fr.wr])
				fr.cur.release()
				fr.cur = s
			}
			fr.rd = 0
		}
		m, err := fr.r.Read(fr.cur.buf[fr.wr:])
		fr.wr += m
		if err != nil && fr.wr-fr.rd < k {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
