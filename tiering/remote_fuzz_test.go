package tiering_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

var fuzzSeq atomic.Int64

// memStore is a map of objects with the Store's ranged Get, for fuzzing;
// Put and the listing calls are not used by the reader.
type memStore struct {
	tiering.Store // nil: the reader calls only Get
	mu            sync.Mutex
	objects       map[string][]byte
}

func (m *memStore) put(key string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = bytes.Clone(b)
}

func (m *memStore) Get(_ context.Context, key string, off, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	b, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return nil, &tiering.Error{Op: "get", Key: key, Err: tiering.ErrNotFound}
	}
	if off < 0 || off > int64(len(b)) {
		return nil, &tiering.Error{Op: "get", Key: key, Err: tiering.ErrInvalidRange}
	}
	end := int64(len(b))
	if length >= 0 {
		end = min(end, off+length)
	}
	return io.NopCloser(bytes.NewReader(b[off:end])), nil
}

// FuzzRemoteRead feeds hostile segment.log, segment.index and
// segment.timeindex objects to the reader: it never panics, and whatever
// it returns is whole batches that pass their CRC, inside the segment's
// offsets, the first holding or following the offset asked for.
func FuzzRemoteRead(f *testing.F) {
	store := openDirStore(f)
	ts := makeSegment(f, store, 12, 256)
	logBytes, err := os.ReadFile(ts.log.Segments()[0].Path)
	if err != nil {
		f.Fatal(err)
	}
	index, _ := os.ReadFile(ts.log.Segments()[0].Path[:len(ts.log.Segments()[0].Path)-4] + ".index")
	tindex, _ := os.ReadFile(ts.log.Segments()[0].Path[:len(ts.log.Segments()[0].Path)-4] + ".timeindex")
	f.Add(logBytes, index, tindex, int64(0), int64(3), int64(1_000_050))
	f.Add(logBytes[:len(logBytes)/2], index, tindex, int64(0), int64(20), int64(0))
	f.Add(logBytes, []byte{0, 0, 0, 1, 0, 0, 0, 9}, []byte{}, int64(0), int64(1), int64(5))
	// The hostile objects go to memory: a directory store's fsyncs would
	// hold the fuzzer to a few inputs a second.
	mem := &memStore{objects: map[string][]byte{}}
	r, _ := newReader(f, mem, tiering.ReaderOptions{ChunkSize: 512, CacheBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, log, index, tindex []byte, base, offset, ts int64) {
		if len(log) == 0 || base < 0 || base > 1<<40 {
			return
		}
		end := base + 64
		prefix := "fuzz/" + strconv.FormatInt(fuzzSeq.Add(1), 10)
		ctx := context.Background()
		for name, b := range map[string][]byte{tiering.SegmentLogFile: log, tiering.SegmentIndexFile: index, tiering.SegmentTimeIndexFile: tindex} {
			mem.put(tiering.SegmentObject(prefix, name), b)
		}
		seg := metadata.RemoteSegment{BaseOffset: base, EndOffset: end, ObjectKey: prefix, Size: int64(len(log)), MaxTimestamp: ts}
		o := base + (offset&63+64)%64
		res, err := r.Read(ctx, seg, o, 4096)
		if err == nil {
			rest := res.Batches
			first := true
			for len(rest) > 0 {
				b, next, err := recordbatch.Next(rest)
				if err != nil {
					t.Fatalf("returned bytes do not split into batches: %v", err)
				}
				if err := recordbatch.VerifyCRC(b); err != nil {
					t.Fatalf("returned batch fails its CRC: %v", err)
				}
				h, _ := recordbatch.ParseHeader(b)
				if h.BaseOffset < base || h.LastOffset() > end || (first && h.LastOffset() < o) {
					t.Fatalf("returned batch [%d, %d] for offset %d of [%d, %d]", h.BaseOffset, h.LastOffset(), o, base, end)
				}
				first = false
				rest = next
			}
		} else if !errors.Is(err, tiering.ErrRemoteData) {
			t.Fatalf("read: %v, want nil or ErrRemoteData", err)
		}
		if _, _, _, err := r.OffsetForTimestamp(ctx, seg, ts, base); err != nil && !errors.Is(err, tiering.ErrRemoteData) {
			t.Fatalf("offset for timestamp: %v, want nil or ErrRemoteData", err)
		}
	})
}
