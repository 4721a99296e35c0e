// Package storetest is the acceptance suite every tiering.Store
// implementation passes (after thanos-io/objstore's AcceptanceTest): the
// same behaviours, checked the same way, against each implementation.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/tiering"
)

// Harness tells the suite how to work one implementation.
type Harness struct {
	// New returns an empty store for one test.
	New func(t *testing.T) tiering.Store
	// Corrupt changes the stored bytes of key behind the store's back
	// while leaving the checksum the store recorded for it, as bit rot in
	// the bucket would.
	Corrupt func(t *testing.T, s tiering.Store, key string)
	// LargeSize is the size of the large-object test; for a store with
	// multipart uploads it must exceed the part size.
	LargeSize int64
	// BodyReads is how many times Put reads its body start to end (a
	// checksum pass before the upload makes 2); default 1. The
	// cancellation test uses it to cancel during the last pass.
	BodyReads int
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"CreateOnly", testCreateOnly},
		{"CreateOnlyConcurrent", testCreateOnlyConcurrent},
		{"RangedReads", testRangedReads},
		{"List", testList},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"ShortBody", testShortBody},
		{"Large", testLarge},
		{"ChecksumMismatch", testChecksumMismatch},
		{"Cancellation", testCancellation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// data returns n reproducible pseudo-random bytes.
func data(seed uint64, n int64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func crc(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func put(t *testing.T, s tiering.Store, key string, b []byte) tiering.ObjectInfo {
	t.Helper()
	info, err := s.Put(ctxT(t), key, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Put %s (%d bytes): %v", key, len(b), err)
	}
	return info
}

// read returns the bytes of a Get, failing the test on any error.
func read(t *testing.T, s tiering.Store, key string, off, length int64) []byte {
	t.Helper()
	b, err := tryRead(ctxT(t), s, key, off, length)
	if err != nil {
		t.Fatalf("Get %s [%d,+%d): %v", key, off, length, err)
	}
	return b
}

func tryRead(ctx context.Context, s tiering.Store, key string, off, length int64) ([]byte, error) {
	rc, err := s.Get(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
	var te *tiering.Error
	if !errors.As(err, &te) {
		t.Fatalf("%s: error %v is not a *tiering.Error", what, err)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	s := h.New(t)
	for i, n := range []int64{0, 1, 4095, 65537} {
		key := "rt/obj-" + string(rune('a'+i))
		b := data(uint64(n), n)
		before := time.Now().Add(-time.Minute)
		info := put(t, s, key, b)
		if info.Key != key || info.Size != n || info.CRC32C != crc(b) {
			t.Fatalf("Put %s: info %+v, want size %d crc %08x", key, info, n, crc(b))
		}
		st, err := s.Stat(ctxT(t), key)
		if err != nil {
			t.Fatalf("Stat %s: %v", key, err)
		}
		if st.Key != key || st.Size != n || st.CRC32C != crc(b) || st.ModTime.Before(before) {
			t.Fatalf("Stat %s: %+v, want size %d crc %08x, recent time", key, st, n, crc(b))
		}
		if got := read(t, s, key, 0, -1); !bytes.Equal(got, b) {
			t.Fatalf("Get %s: %d bytes differ from the %d put", key, len(got), n)
		}
	}
	_, err := s.Stat(ctxT(t), "rt/missing")
	wantErr(t, "Stat of a missing key", err, tiering.ErrNotFound)
	_, err = s.Get(ctxT(t), "rt/missing", 0, -1)
	wantErr(t, "Get of a missing key", err, tiering.ErrNotFound)
	_, err = s.Get(ctxT(t), "rt/missing", 3, 10)
	wantErr(t, "ranged Get of a missing key", err, tiering.ErrNotFound)
}

func testCreateOnly(t *testing.T, h Harness) {
	s := h.New(t)
	first, second := data(1, 1000), data(2, 2000)
	put(t, s, "c/k", first)
	_, err := s.Put(ctxT(t), "c/k", bytes.NewReader(second), int64(len(second)))
	wantErr(t, "second Put of the same key", err, tiering.ErrExists)
	if got := read(t, s, "c/k", 0, -1); !bytes.Equal(got, first) {
		t.Fatal("the refused Put changed the object")
	}
	// The same bytes again are refused too: create-only, not idempotent.
	_, err = s.Put(ctxT(t), "c/k", bytes.NewReader(first), int64(len(first)))
	wantErr(t, "Put of identical bytes", err, tiering.ErrExists)
}

// testCreateOnlyConcurrent races writers of different bytes on one key:
// exactly one wins, the object holds the winner's bytes, the losers get
// ErrExists (or ErrPrecondition when the server saw the race as a conflict).
func testCreateOnlyConcurrent(t *testing.T, h Harness) {
	s := h.New(t)
	const writers = 6
	var wins atomic.Int32
	winner := make(chan []byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			b := data(uint64(100+i), 200_000)
			_, err := s.Put(ctxT(t), "race/k", bytes.NewReader(b), int64(len(b)))
			switch {
			case err == nil:
				wins.Add(1)
				winner <- b
			case errors.Is(err, tiering.ErrExists), errors.Is(err, tiering.ErrPrecondition):
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Put: unexpected error %v", err)
	}
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d concurrent Puts of one key succeeded, want exactly 1", n)
	}
	if got := read(t, s, "race/k", 0, -1); !bytes.Equal(got, <-winner) {
		t.Fatal("object does not hold the winning writer's bytes")
	}
}

func testRangedReads(t *testing.T, h Harness) {
	s := h.New(t)
	b := data(7, 10_000)
	n := int64(len(b))
	put(t, s, "r/k", b)
	for _, c := range []struct{ off, length int64 }{
		{0, 1}, {0, n}, {0, n + 100}, {1, -1}, {n - 1, 1}, {n - 1, -1}, {n - 1, 5},
		{5000, 1234}, {4096, 4096}, {n, -1}, {n, 10}, {17, 0}, {n, 0},
	} {
		end := n
		if c.length >= 0 && c.off+c.length < n {
			end = c.off + c.length
		}
		if got := read(t, s, "r/k", c.off, c.length); !bytes.Equal(got, b[c.off:end]) {
			t.Fatalf("Get [%d,+%d): %d bytes, want %d matching", c.off, c.length, len(got), end-c.off)
		}
	}
	for _, c := range []struct{ off, length int64 }{{n + 1, -1}, {n + 1, 5}, {-1, 5}, {0, -2}} {
		_, err := tryRead(ctxT(t), s, "r/k", c.off, c.length)
		wantErr(t, "Get out of range", err, tiering.ErrInvalidRange)
	}
	// An empty object: only offset 0 exists.
	put(t, s, "r/empty", nil)
	if got := read(t, s, "r/empty", 0, -1); len(got) != 0 {
		t.Fatalf("empty object read %d bytes", len(got))
	}
	_, err := tryRead(ctxT(t), s, "r/empty", 1, -1)
	wantErr(t, "Get past an empty object", err, tiering.ErrInvalidRange)
}

func testList(t *testing.T, h Harness) {
	s := h.New(t)
	keys := []string{"t1/p0/00000000000000000000.log", "t1/p0/00000000000000000100.log", "t1/p1/0.log", "t1/p10/0.log", "t1-x", "t2/a"}
	for i, k := range keys {
		put(t, s, k, data(uint64(i), int64(10*(i+1))))
	}
	list := func(prefix string) []string {
		t.Helper()
		var got []string
		err := s.List(ctxT(t), prefix, func(o tiering.ObjectInfo) error {
			i := slices.Index(keys, o.Key)
			if i < 0 || o.Size != int64(10*(i+1)) {
				t.Errorf("List %q: unexpected %+v", prefix, o)
			}
			got = append(got, o.Key)
			return nil
		})
		if err != nil {
			t.Fatalf("List %q: %v", prefix, err)
		}
		return got
	}
	sorted := slices.Sorted(slices.Values(keys))
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"t1", []string{"t1-x", keys[0], keys[1], keys[2], keys[3]}},
		{"t1/", keys[:4]},
		{"t1/p1", keys[2:4]},
		{"t1/p1/", keys[2:3]},
		{"t1/p0/0000000000000000010", keys[1:2]},
		{"t2/a", keys[5:]},
		{"t3", nil},
		{"t1/p9/", nil},
	} {
		if got := list(c.prefix); !slices.Equal(got, c.want) {
			t.Errorf("List %q = %q, want %q", c.prefix, got, c.want)
		}
	}
	stop := errors.New("stop here")
	var seen int
	err := s.List(ctxT(t), "", func(tiering.ObjectInfo) error { seen++; return stop })
	if err != stop || seen != 1 {
		t.Fatalf("List whose callback fails: err %v after %d calls, want the callback's error after 1", err, seen)
	}
	err = s.List(ctxT(t), "/bad", func(tiering.ObjectInfo) error { return nil })
	wantErr(t, "List of a bad prefix", err, tiering.ErrInvalidKey)
}

func testDelete(t *testing.T, h Harness) {
	s := h.New(t)
	if err := s.Delete(ctxT(t), "d/never"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	put(t, s, "d/a/k", data(1, 100))
	put(t, s, "d/a/other", data(2, 100))
	for i := range 2 {
		if err := s.Delete(ctxT(t), "d/a/k"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	_, err := s.Stat(ctxT(t), "d/a/k")
	wantErr(t, "Stat after Delete", err, tiering.ErrNotFound)
	if got := read(t, s, "d/a/other", 0, -1); !bytes.Equal(got, data(2, 100)) {
		t.Fatal("Delete disturbed a neighbour")
	}
	// The key is free again.
	b := data(3, 50)
	put(t, s, "d/a/k", b)
	if got := read(t, s, "d/a/k", 0, -1); !bytes.Equal(got, b) {
		t.Fatal("re-Put after Delete reads wrong bytes")
	}
	// Deleting the last object under a prefix leaves nothing listed there.
	for _, k := range []string{"d/a/k", "d/a/other"} {
		if err := s.Delete(ctxT(t), k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.List(ctxT(t), "d/", func(o tiering.ObjectInfo) error { return errors.New("listed " + o.Key) }); err != nil {
		t.Fatal(err)
	}
}

func testInvalidKeys(t *testing.T, h Harness) {
	s := h.New(t)
	for _, k := range []string{"", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".hidden", "a\\b", "a\x00b", "a\nb", string([]byte{0xff, 0xfe}), string(make([]byte, tiering.MaxKeyLen+1))} {
		_, err := s.Put(ctxT(t), k, bytes.NewReader([]byte("x")), 1)
		wantErr(t, "Put "+printable(k), err, tiering.ErrInvalidKey)
		_, err = s.Get(ctxT(t), k, 0, -1)
		wantErr(t, "Get "+printable(k), err, tiering.ErrInvalidKey)
		_, err = s.Stat(ctxT(t), k)
		wantErr(t, "Stat "+printable(k), err, tiering.ErrInvalidKey)
		if k != "" {
			wantErr(t, "Delete "+printable(k), s.Delete(ctxT(t), k), tiering.ErrInvalidKey)
		}
	}
	if err := tiering.ValidateKey("topics/3f2a/7/00000000000000000000-5-ab12.log"); err != nil {
		t.Fatalf("a segment-like key is refused: %v", err)
	}
}

func printable(k string) string {
	if len(k) > 40 {
		return k[:10] + "..."
	}
	return strconv.Quote(k)
}

// shortReader claims more bytes than it holds.
type shortReader struct{ b []byte }

func (r shortReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func testShortBody(t *testing.T, h Harness) {
	s := h.New(t)
	_, err := s.Put(ctxT(t), "short/k", shortReader{data(1, 100)}, 200)
	if err == nil {
		t.Fatal("Put of a body shorter than its size succeeded")
	}
	_, err = s.Stat(ctxT(t), "short/k")
	wantErr(t, "Stat after a failed Put", err, tiering.ErrNotFound)
	_, err = s.Put(ctxT(t), "short/neg", bytes.NewReader(nil), -1)
	if err == nil {
		t.Fatal("Put with a negative size succeeded")
	}
}

func testLarge(t *testing.T, h Harness) {
	s := h.New(t)
	b := data(42, h.LargeSize)
	n := int64(len(b))
	info := put(t, s, "large/k", b)
	if info.Size != n || info.CRC32C != crc(b) {
		t.Fatalf("Put large: %+v", info)
	}
	if got := read(t, s, "large/k", 0, -1); !bytes.Equal(got, b) {
		t.Fatal("large object read back differs")
	}
	mid := n / 2
	if got := read(t, s, "large/k", mid-3, 1<<20); !bytes.Equal(got, b[mid-3:min(n, mid-3+1<<20)]) {
		t.Fatal("ranged read across the middle of the large object differs")
	}
	if got := read(t, s, "large/k", n-10, -1); !bytes.Equal(got, b[n-10:]) {
		t.Fatal("tail of the large object differs")
	}
	_, err := s.Put(ctxT(t), "large/k", bytes.NewReader(b), n)
	wantErr(t, "second large Put", err, tiering.ErrExists)
}

func testChecksumMismatch(t *testing.T, h Harness) {
	s := h.New(t)
	b := data(9, 100_000)
	put(t, s, "sum/k", b)
	h.Corrupt(t, s, "sum/k")
	got, err := tryRead(ctxT(t), s, "sum/k", 0, -1)
	wantErr(t, "whole Get of a corrupted object", err, tiering.ErrChecksum)
	if bytes.Equal(got, b) {
		t.Fatal("corruption did not change the bytes; the test proves nothing")
	}
	_, err = tryRead(ctxT(t), s, "sum/k", 0, int64(len(b)))
	wantErr(t, "whole Get by explicit length", err, tiering.ErrChecksum)
}

// cancellingReader cancels ctx once more than after bytes were read from it.
type cancellingReader struct {
	r      io.ReaderAt
	after  int64
	cancel context.CancelFunc
	read   atomic.Int64
}

func (c *cancellingReader) ReadAt(p []byte, off int64) (int, error) {
	if c.read.Add(int64(len(p))) > c.after {
		c.cancel()
	}
	return c.r.ReadAt(p, off)
}

func testCancellation(t *testing.T, h Harness) {
	s := h.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Put(ctx, "cancel/pre", bytes.NewReader([]byte("x")), 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
	_, err = s.Get(ctx, "cancel/pre", 0, -1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v", err)
	}
	_, err = s.Stat(ctx, "cancel/pre")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat with a cancelled context: %v", err)
	}
	if err := s.List(ctx, "", func(tiering.ObjectInfo) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("List with a cancelled context: %v", err)
	}

	// Cancelled in the middle of a large upload: an error, and no object.
	b := data(5, h.LargeSize)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	passes := int64(max(h.BodyReads, 1))
	body := &cancellingReader{r: bytes.NewReader(b), after: (passes-1)*int64(len(b)) + int64(len(b))/3, cancel: cancel}
	_, err = s.Put(ctx, "cancel/mid", body, int64(len(b)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put cancelled mid-upload: %v", err)
	}
	_, err = s.Stat(ctxT(t), "cancel/mid")
	wantErr(t, "Stat after a cancelled Put", err, tiering.ErrNotFound)

	// Cancelled while reading: the next Read fails with the context's error.
	put(t, s, "cancel/read", b)
	ctx, cancel = context.WithCancel(context.Background())
	rc, err := s.Get(ctx, "cancel/read", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("reading after cancel: %v", err)
	}
}
