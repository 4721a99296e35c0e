package tiering

import (
	"context"
	"io"
	"time"
)

// Store is a flat namespace of immutable objects. Implementations are safe
// for concurrent use. Every method honours ctx: when it is cancelled the call
// returns promptly with an error wrapping ctx.Err().
type Store interface {
	// Put stores the size bytes of body (read from offset 0) under key,
	// only if key holds no object: otherwise it returns ErrExists and
	// changes nothing. body is read more than once (checksum pass, retried
	// attempts); it must not change during the call. A Put that returns an
	// error other than ErrExists may or may not have created the object.
	// The returned info carries the CRC-32C of the bytes.
	Put(ctx context.Context, key string, body io.ReaderAt, size int64) (ObjectInfo, error)

	// Get opens length bytes of the object at key starting at off; length
	// -1 reads to the end, and a range running past the end is cut at it
	// (as an HTTP range). off must lie in [0, size]; off == size gives an
	// empty reader. When the read covers the whole object the checksum is
	// verified: the Read that reaches the end returns ErrChecksum instead of
	// io.EOF on a mismatch. The caller must Close the reader; ctx governs
	// the whole read.
	Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)

	// Stat describes the object at key, or returns ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List calls fn for every object whose key starts with prefix, in
	// ascending key order. A prefix is matched byte-wise, not by path
	// segment ("a/b" matches "a/bc/d"); an empty prefix lists everything.
	// fn's error stops the listing and is returned as is.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	// Delete removes the object at key. Deleting an absent key succeeds.
	Delete(ctx context.Context, key string) error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	CRC32C  uint32    // Castagnoli CRC-32 of the whole object; zero in List results (Stat gives it)
	ModTime time.Time // when the object was written, as the store records it
}
