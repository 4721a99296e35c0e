package tiering

import (
	"context"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// copyChunk is how much is read between two context checks.
const copyChunk = 1 << 20

// checksumOf returns the CRC-32C of the first size bytes of r, checking ctx
// between chunks so a long pass can be cancelled.
func checksumOf(ctx context.Context, r io.ReaderAt, size int64) (uint32, error) {
	h := crc32.New(castagnoli)
	if _, err := copyCtx(ctx, h, io.NewSectionReader(r, 0, size), size); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// copyCtx copies exactly n bytes from src to dst, checking ctx between
// chunks. A short source is an error (io.ErrUnexpectedEOF).
func copyCtx(ctx context.Context, dst io.Writer, src io.Reader, n int64) (int64, error) {
	buf := make([]byte, min(n, copyChunk))
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		want := min(int64(len(buf)), n-done)
		m, err := io.ReadFull(src, buf[:want])
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return done, werr
			}
			done += int64(m)
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, fmt.Errorf("reading body at byte %d of %d: %w", done, n, err)
		}
	}
	return done, nil
}

// verifyReader passes a whole object through while hashing it, and turns
// the final io.EOF into ErrChecksum when the bytes are not what was stored
// (or not as many). It also stops with ctx's error once ctx is done.
type verifyReader struct {
	ctx   context.Context
	rc    io.ReadCloser
	h     hash.Hash32
	want  uint32
	size  int64
	read  int64
	key   string
	final error // sticky result once the end was reached
}

func newVerifyReader(ctx context.Context, rc io.ReadCloser, key string, size int64, want uint32) *verifyReader {
	return &verifyReader{ctx: ctx, rc: rc, h: crc32.New(castagnoli), want: want, size: size, key: key}
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.final != nil {
		return 0, v.final
	}
	if err := v.ctx.Err(); err != nil {
		return 0, opErr("get", v.key, err)
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.read += int64(n)
	if v.read > v.size {
		v.final = opErr("get", v.key, fmt.Errorf("%w: object longer than its recorded %d bytes", ErrChecksum, v.size))
		return n, v.final
	}
	if err == io.EOF {
		switch got := v.h.Sum32(); {
		case v.read != v.size:
			v.final = opErr("get", v.key, fmt.Errorf("%w: read %d bytes, object records %d", ErrChecksum, v.read, v.size))
		case got != v.want:
			v.final = opErr("get", v.key, fmt.Errorf("%w: CRC-32C %08x, object records %08x", ErrChecksum, got, v.want))
		default:
			v.final = io.EOF
		}
		return n, v.final
	}
	if err != nil {
		return n, opErr("get", v.key, err)
	}
	return n, nil
}

func (v *verifyReader) Close() error { return v.rc.Close() }

// crcWriter passes writes to w while hashing them.
type crcWriter struct {
	w io.Writer
	h hash.Hash32
}

func newCRCWriter(w io.Writer) *crcWriter { return &crcWriter{w: w, h: crc32.New(castagnoli)} }

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	return n, err
}

func (c *crcWriter) sum() uint32 { return c.h.Sum32() }

// Checksum returns the CRC-32C (Castagnoli) of the first size bytes of r,
// as ObjectInfo.CRC32C gives it for a stored object: a caller that finds
// its key taken (ErrExists) compares it with Stat's to tell its own earlier
// write from another.
func Checksum(ctx context.Context, r io.ReaderAt, size int64) (uint32, error) {
	return checksumOf(ctx, r, size)
}
