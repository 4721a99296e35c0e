package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressedBytes bounds the decompressed records section of a
// batch when DecodeOptions leaves the limit at zero.
const DefaultMaxDecompressedBytes = 64 << 20

// xerialMagic starts a snappy stream framed the way the Java client's
// xerial-snappy SnappyOutputStream writes it: the magic, a version int32 and
// a minimum compatible version int32, then chunks of [length int32][raw
// snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16
	xerialBlockSize  = 32 << 10 // the block size the Java stream writes
	// snappyMaxRatio bounds how far a snappy block can expand: the best
	// case is a 3-byte copy op producing 64 bytes. A block claiming more is
	// refused before its claimed length is allocated.
	snappyMaxRatio = 22
)

// decompress returns the decompressed form of src, a records section
// compressed with codec c, refusing output larger than limit bytes. It
// writes into dst's memory (from dst[:0]) when that is large enough, and
// allocates otherwise; pass nil for fresh memory. The result never aliases
// src.
func decompress(dst []byte, c Codec, src []byte, limit int) ([]byte, error) {
	dst = dst[:0]
	switch c {
	case CodecGzip:
		return decompressGzip(dst, src, limit)
	case CodecSnappy:
		if bytes.HasPrefix(src, xerialMagic) {
			return decompressXerial(dst, src, limit)
		}
		return decompressSnappyBlock(dst, src, limit)
	case CodecLZ4:
		return decompressLZ4(dst, src, limit)
	case CodecZstd:
		return decompressZstd(dst, src, limit)
	}
	return nil, batchErr(ErrUnknownCodec, "codec %d", int8(c))
}

// gzipReader and lz4Reader are pooled together with the bytes.Reader they
// read from, so that a decompression allocates only its output.
type gzipReader struct {
	src bytes.Reader
	r   gzip.Reader
}

type lz4Reader struct {
	src bytes.Reader
	r   *lz4.Reader
}

var (
	gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}
	lz4Readers  = sync.Pool{New: func() any { return &lz4Reader{r: lz4.NewReader(nil)} }}
)

func decompressGzip(dst, src []byte, limit int) ([]byte, error) {
	gr := gzipReaders.Get().(*gzipReader)
	defer func() {
		gr.src.Reset(nil) // do not pin the batch while pooled
		gzipReaders.Put(gr)
	}()
	gr.src.Reset(src)
	if err := gr.r.Reset(&gr.src); err != nil {
		return nil, batchErrCause(ErrCorrupt, err, "gzip header")
	}
	out, err := readBounded(dst, &gr.r, len(src), limit)
	if err != nil {
		return nil, wrapDecompressErr(CodecGzip, err, limit)
	}
	return out, nil
}

func decompressLZ4(dst, src []byte, limit int) ([]byte, error) {
	lr := lz4Readers.Get().(*lz4Reader)
	defer func() {
		lr.src.Reset(nil) // do not pin the batch while pooled
		lz4Readers.Put(lr)
	}()
	lr.src.Reset(src)
	lr.r.Reset(&lr.src)
	out, err := readBounded(dst, lr.r, len(src), limit)
	if err != nil {
		return nil, wrapDecompressErr(CodecLZ4, err, limit)
	}
	return out, nil
}

// errLimit is returned by readBounded when the output passes its limit.
var errLimit = errors.New("output exceeds limit")

// readBounded reads r to the end into buf (from buf[:0]), failing with
// errLimit once it has produced more than limit bytes, so that a
// decompression bomb costs at most limit bytes of memory. Without room in
// buf, the buffer starts at a few times the compressed size and doubles from
// there.
func readBounded(buf []byte, r io.Reader, srcLen, limit int) ([]byte, error) {
	buf = buf[:0]
	if cap(buf) == 0 {
		buf = make([]byte, 0, min(4*srcLen+512, limit+1))
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, errLimit
			}
			buf = slices.Grow(buf, min(cap(buf), limit+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, errLimit
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func wrapDecompressErr(c Codec, err error, limit int) error {
	if errors.Is(err, errLimit) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return batchErr(ErrTooLarge, "%s records decompress to more than %d bytes", c, limit)
	}
	if err == io.ErrUnexpectedEOF {
		// The compressed stream is cut short inside a batch whose framing
		// was intact, so this is damage, not a torn tail.
		return batchErrCause(ErrCorrupt, err, "%s stream ends early", c)
	}
	return batchErrCause(ErrCorrupt, err, "%s stream", c)
}

// decompressSnappyBlock appends the decoding of one raw snappy block to dst.
func decompressSnappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return nil, batchErrCause(ErrCorrupt, err, "snappy block header")
	}
	if n > limit-len(dst) {
		return nil, batchErr(ErrTooLarge, "snappy records decompress to more than %d bytes", limit)
	}
	if n > snappyMaxRatio*len(block) {
		return nil, batchErr(ErrCorrupt, "snappy block of %d bytes claims %d decoded bytes", len(block), n)
	}
	dst = slices.Grow(dst, n)
	if _, err := s2.Decode(dst[len(dst):len(dst)+n], block); err != nil {
		return nil, batchErrCause(ErrCorrupt, err, "snappy block")
	}
	return dst[:len(dst)+n], nil
}

// decompressXerial decodes a xerial-framed snappy stream into dst. It walks
// the chunk lengths first, bounding the total before anything is allocated.
func decompressXerial(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderSize {
		return nil, batchErr(ErrCorrupt, "xerial snappy header needs %d bytes, have %d", xerialHeaderSize, len(src))
	}
	chunks := src[xerialHeaderSize:]
	total := 0
	for rem := chunks; len(rem) > 0; {
		if len(rem) < 4 {
			return nil, batchErr(ErrCorrupt, "xerial snappy chunk length needs 4 bytes, have %d", len(rem))
		}
		size := int64(int32(binary.BigEndian.Uint32(rem)))
		rem = rem[4:]
		if size < 0 || size > int64(len(rem)) {
			return nil, batchErr(ErrCorrupt, "xerial snappy chunk length %d with %d bytes left", size, len(rem))
		}
		n, err := s2.DecodedLen(rem[:size])
		if err != nil {
			return nil, batchErrCause(ErrCorrupt, err, "snappy block header")
		}
		if n > limit-total {
			return nil, batchErr(ErrTooLarge, "snappy records decompress to more than %d bytes", limit)
		}
		total += n
		rem = rem[size:]
	}
	dst = slices.Grow(dst[:0], total)
	for len(chunks) > 0 {
		size := int(binary.BigEndian.Uint32(chunks))
		var err error
		if dst, err = decompressSnappyBlock(dst, chunks[4:4+size], limit); err != nil {
			return nil, err
		}
		chunks = chunks[4+size:]
	}
	return dst, nil
}

// zstdDecoders holds one shared decoder per decompression limit in use
// (callers use one or two configured limits). A zstd.Decoder runs up to
// GOMAXPROCS DecodeAll calls at once and enforces its limit while decoding,
// before allocating for a frame's declared size.
var zstdDecoders sync.Map // int -> *zstd.Decoder

func zstdDecoder(limit int) (*zstd.Decoder, error) {
	if d, ok := zstdDecoders.Load(limit); ok {
		return d.(*zstd.Decoder), nil
	}
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(uint64(limit)),
	)
	if err != nil {
		return nil, err
	}
	if prev, loaded := zstdDecoders.LoadOrStore(limit, d); loaded {
		d.Close()
		return prev.(*zstd.Decoder), nil
	}
	return d, nil
}

func decompressZstd(dst, src []byte, limit int) ([]byte, error) {
	d, err := zstdDecoder(limit)
	if err != nil {
		return nil, batchErrCause(ErrCorrupt, err, "zstd decoder setup")
	}
	out, err := d.DecodeAll(src, dst[:0])
	if err != nil {
		return nil, wrapDecompressErr(CodecZstd, err, limit)
	}
	if len(out) > limit {
		return nil, batchErr(ErrTooLarge, "zstd records decompress to more than %d bytes", limit)
	}
	return out, nil
}

// Compression side, used by the builder.

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// 64 KiB blocks, as the Java client writes; the 4 MiB default
		// would make every reader allocate a 4 MiB block buffer.
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
		return w
	}}
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithZeroFrames(true),
		)
	})
)

// streamWriter is a reusable compressing writer (gzip, lz4).
type streamWriter interface {
	Reset(io.Writer)
	Write([]byte) (int, error)
	Close() error
}

// appendStream appends src compressed through w to dst, leaving w detached
// from the buffer so a pooled writer keeps no reference to it.
func appendStream(dst []byte, w streamWriter, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w.Reset(buf)
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	w.Reset(nil)
	return buf.Bytes(), nil
}

// appendCompressed appends src compressed with codec c to dst.
func appendCompressed(dst []byte, c Codec, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		return appendStream(dst, w, src)
	case CodecSnappy:
		return appendXerial(dst, src), nil
	case CodecLZ4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		return appendStream(dst, w, src)
	case CodecZstd:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, dst), nil
	}
	return nil, batchErr(ErrUnknownCodec, "codec %d", int8(c))
}

// appendXerial appends src as a xerial-framed snappy stream, the format the
// Java client writes and every Kafka client reads.
func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	for len(src) > 0 {
		n := min(xerialBlockSize, len(src))
		dst = slices.Grow(dst, 4+s2.MaxEncodedLen(n))
		at := len(dst)
		block := s2.EncodeSnappy(dst[at+4:cap(dst)], src[:n])
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}
