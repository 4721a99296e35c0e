package tiering_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/tiertest"
)

func openDirStore(t testing.TB) *tiering.DirStore {
	t.Helper()
	s, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRemoteReadEveryOffset reads a multi-batch segment at every offset,
// through chunks smaller than some batches, and gets the batch holding the
// offset first and every record after it, in order.
func TestRemoteReadEveryOffset(t *testing.T) {
	ctx := context.Background()
	store := openDirStore(t)
	ts := makeSegment(t, store, 120, 1024)
	r, _ := newReader(t, store, tiering.ReaderOptions{ChunkSize: 4096, CacheBytes: 1 << 20})
	for _, want := range ts.records {
		o := want.offset
		// One byte: just the batch holding o, whole.
		res, err := r.Read(ctx, ts.seg, o, 1)
		if err != nil {
			t.Fatalf("read %d: %v", o, err)
		}
		got := decode(t, res.Batches)
		if len(got) == 0 || got[0].offset > o || got[len(got)-1].offset < o {
			t.Fatalf("read %d with 1 byte: got offsets %v, want the batch holding it", o, offsetsOf(got))
		}
		if res.NextOffset != got[len(got)-1].offset+1 {
			t.Fatalf("read %d: next offset %d after last %d", o, res.NextOffset, got[len(got)-1].offset)
		}
		// Everything: from the batch holding o to the segment's end.
		res, err = r.Read(ctx, ts.seg, o, 1<<30)
		if err != nil {
			t.Fatalf("read %d: %v", o, err)
		}
		got = decode(t, res.Batches)
		first := got[0].offset
		if !reflect.DeepEqual(got, ts.records[first:]) || first > o {
			t.Fatalf("read %d: got %d records from %d, want %d from at most %d", o, len(got), first, len(ts.records)-int(o), o)
		}
		if res.NextOffset != ts.seg.EndOffset+1 {
			t.Fatalf("read %d to the end: next offset %d, want %d", o, res.NextOffset, ts.seg.EndOffset+1)
		}
	}
	// A budget cuts at whole batches.
	res, err := r.Read(ctx, ts.seg, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Batches); n > 10_000 || n == 0 {
		t.Fatalf("read with 10000 bytes returned %d", n)
	}
	decode(t, res.Batches)
	if _, err := r.Read(ctx, ts.seg, ts.seg.EndOffset+1, 100); err == nil {
		t.Fatal("read past the segment's end succeeded")
	}
}

func offsetsOf(rs []wantRecord) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.offset)
	}
	return out
}

// TestRemoteReadSequentialFetchesEachChunkOnce: a consumer reading a segment
// from its start in small fetches gets every chunk of the log from the
// store once and the index once; a second pass is served from the cache.
func TestRemoteReadSequentialFetchesEachChunkOnce(t *testing.T) {
	base := openDirStore(t)
	ts := makeSegment(t, base, 150, 2048)
	store := newCountingStore(base)
	const chunk = 8192
	r, reg := newReader(t, store, tiering.ReaderOptions{ChunkSize: chunk, CacheBytes: 8 << 20})
	readAll := func() []wantRecord {
		got, err := readSegment(t, r, ts.seg, 3000)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := readAll(); !reflect.DeepEqual(got, ts.records) {
		t.Fatalf("sequential read: %d records, want %d", len(got), len(ts.records))
	}
	chunks := int((ts.seg.Size + chunk - 1) / chunk)
	gets, perRange := store.count(tiering.SegmentLogFile)
	if gets != chunks || perRange != 1 {
		t.Fatalf("log: %d gets (at most %d of one range) for %d chunks, want each chunk once", gets, perRange, chunks)
	}
	if gets, _ := store.count(tiering.SegmentIndexFile); gets != 1 {
		t.Fatalf("index fetched %d times, want once", gets)
	}
	if got := tiertest.Metric(t, reg, "runnel_tier_cache_misses_total"); got != float64(chunks) {
		t.Fatalf("cache misses %v, want %d", got, chunks)
	}
	if got := tiertest.Metric(t, reg, "runnel_tier_remote_read_bytes_total"); got < float64(ts.seg.Size) {
		t.Fatalf("remote read bytes %v, want at least the log's %d", got, ts.seg.Size)
	}
	hitsBefore := tiertest.Metric(t, reg, "runnel_tier_cache_hits_total")
	if got := readAll(); !reflect.DeepEqual(got, ts.records) {
		t.Fatal("second pass differs")
	}
	if gets, _ := store.count(tiering.SegmentLogFile); gets != chunks {
		t.Fatalf("second pass fetched from the store: %d gets, want still %d", gets, chunks)
	}
	if hits := tiertest.Metric(t, reg, "runnel_tier_cache_hits_total"); hits <= hitsBefore {
		t.Fatalf("second pass: cache hits %v, not above %v", hits, hitsBefore)
	}
	if n := tiertest.Metric(t, reg, "runnel_tier_remote_read_errors_total"); n != 0 {
		t.Fatalf("%v remote read errors (an index not used counts one)", n)
	}
	if cb := tiertest.Metric(t, reg, "runnel_tier_cache_bytes"); cb < float64(ts.seg.Size) {
		t.Fatalf("cache bytes %v, want at least %d", cb, ts.seg.Size)
	}
}

// TestRemoteReadDamagedCacheFile: a chunk file changed on disk is noticed,
// dropped and fetched again; the damaged bytes are never served.
func TestRemoteReadDamagedCacheFile(t *testing.T) {
	ctx := context.Background()
	base := openDirStore(t)
	ts := makeSegment(t, base, 60, 1024)
	store := newCountingStore(base)
	dir := t.TempDir()
	r, reg := newReader(t, store, tiering.ReaderOptions{ChunkSize: 1 << 20, CacheDir: dir, HotBytes: -1})
	if _, err := r.Read(ctx, ts.seg, 0, 1<<30); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.chunk"))
	if len(files) != 1 {
		t.Fatalf("cache holds %d chunk files, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := r.Read(ctx, ts.seg, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, res.Batches); !reflect.DeepEqual(got, ts.records) {
		t.Fatal("records after re-fetch differ")
	}
	if gets, _ := store.count(tiering.SegmentLogFile); gets != 2 {
		t.Fatalf("log fetched %d times, want 2 (once more after the damage)", gets)
	}
	if got := tiertest.Metric(t, reg, "runnel_tier_cache_damaged_total"); got != 1 {
		t.Fatalf("damaged cache files counted %v, want 1", got)
	}
	// A truncated cache file too.
	if err := os.Truncate(files[0], 10); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(ctx, ts.seg, 0, 1<<30); err != nil {
		t.Fatal(err)
	}
	if gets, _ := store.count(tiering.SegmentLogFile); gets != 3 {
		t.Fatalf("log fetched %d times, want 3", gets)
	}
}

// TestRemoteReadCacheSurvivesReopen: a new reader on the same directory
// serves the chunks an earlier one cached, and the bound holds.
func TestRemoteReadCacheSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	base := openDirStore(t)
	ts := makeSegment(t, base, 100, 1024)
	dir := t.TempDir()
	const chunk = 4096
	r1, _ := newReader(t, base, tiering.ReaderOptions{ChunkSize: chunk, CacheDir: dir})
	if _, err := r1.Read(ctx, ts.seg, 0, 1<<30); err != nil {
		t.Fatal(err)
	}
	r1.Close()
	store := newCountingStore(base)
	r2, _ := newReader(t, store, tiering.ReaderOptions{ChunkSize: chunk, CacheDir: dir})
	res, err := r2.Read(ctx, ts.seg, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, res.Batches); !reflect.DeepEqual(got, ts.records) {
		t.Fatal("records differ")
	}
	if gets, _ := store.count(tiering.SegmentLogFile); gets != 0 {
		t.Fatalf("reopened cache fetched the log %d times, want 0", gets)
	}
	// A third reader with room for 3 chunks evicts down to it and still
	// reads everything right.
	limit := int64(3 * (chunk + 16))
	r3, reg := newReader(t, base, tiering.ReaderOptions{ChunkSize: chunk, CacheDir: dir, CacheBytes: limit})
	for o := int64(0); o <= ts.seg.EndOffset; {
		res, err := r3.Read(ctx, ts.seg, o, 2000)
		if err != nil {
			t.Fatal(err)
		}
		o = res.NextOffset
		if cb := tiertest.Metric(t, reg, "runnel_tier_cache_bytes"); cb > float64(limit) {
			t.Fatalf("cache holds %v bytes, bound %d", cb, limit)
		}
	}
	var total int64
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if total > limit {
		t.Fatalf("cache directory holds %d bytes, bound %d", total, limit)
	}
}

// putRaw uploads hostile objects as a remote segment.
func putRaw(t testing.TB, store tiering.Store, prefix string, log, index []byte) {
	t.Helper()
	ctx := context.Background()
	if index != nil {
		if _, err := store.Put(ctx, tiering.SegmentObject(prefix, tiering.SegmentIndexFile), bytes.NewReader(index), int64(len(index))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Put(ctx, tiering.SegmentObject(prefix, tiering.SegmentLogFile), bytes.NewReader(log), int64(len(log))); err != nil {
		t.Fatal(err)
	}
}

// TestRemoteReadDamagedObject: bytes in the bucket that do not pass the
// batch checks, or a log shorter than recorded, are refused with
// ErrRemoteData; a damaged index is passed over (the log is scanned).
func TestRemoteReadDamagedObject(t *testing.T) {
	ctx := context.Background()
	store := openDirStore(t)
	ts := makeSegment(t, store, 40, 512)
	logBytes, err := os.ReadFile(ts.log.Segments()[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	r, reg := newReader(t, store, tiering.ReaderOptions{ChunkSize: 2048})

	flipped := bytes.Clone(logBytes)
	flipped[len(flipped)/2] ^= 1
	seg := ts.seg
	seg.ObjectKey = "damaged/flip"
	putRaw(t, store, seg.ObjectKey, flipped, nil)
	var sawErr bool
	for o := seg.BaseOffset; o <= seg.EndOffset; o++ {
		res, err := r.Read(ctx, seg, o, 1<<30)
		if err != nil {
			if !errors.Is(err, tiering.ErrRemoteData) {
				t.Fatalf("read %d: %v, want ErrRemoteData", o, err)
			}
			sawErr = true
			continue
		}
		decode(t, res.Batches) // whatever is returned is whole and checked
	}
	if !sawErr {
		t.Fatal("a flipped byte in the log went unnoticed")
	}

	short := ts.seg
	short.ObjectKey = "damaged/short"
	putRaw(t, store, short.ObjectKey, logBytes[:len(logBytes)-100], nil)
	if _, err := r.Read(ctx, short, short.EndOffset, 1<<30); !errors.Is(err, tiering.ErrRemoteData) {
		t.Fatalf("read of a log shorter than recorded: %v, want ErrRemoteData", err)
	}

	// Offsets going backwards (base offsets are outside the CRC).
	back := bytes.Clone(logBytes)
	copy(back[len(back)-int(lastBatchSize(t, logBytes)):], make([]byte, 8))
	backSeg := ts.seg
	backSeg.ObjectKey = "damaged/back"
	putRaw(t, store, backSeg.ObjectKey, back, nil)
	if _, err := r.Read(ctx, backSeg, backSeg.EndOffset, 1<<30); !errors.Is(err, tiering.ErrRemoteData) {
		t.Fatalf("read of a batch with a rewound base offset: %v, want ErrRemoteData", err)
	}

	// A garbage index is not used: the reads still come right.
	garbage := ts.seg
	garbage.ObjectKey = "damaged/index"
	putRaw(t, store, garbage.ObjectKey, logBytes, []byte(strings.Repeat("\xff\x00\x13\x07", 6)))
	res, err := r.Read(ctx, garbage, 37, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, res.Batches); got[0].offset > 37 || !reflect.DeepEqual(got, ts.records[got[0].offset:]) {
		t.Fatal("read through a garbage index returned other records")
	}
	if tiertest.Metric(t, reg, "runnel_tier_remote_read_errors_total") == 0 {
		t.Fatal("no remote read errors counted")
	}
	// Metadata no segment can have.
	if _, err := r.Read(ctx, metadata.RemoteSegment{ObjectKey: "x", BaseOffset: 5, EndOffset: 4, Size: 1}, 5, 10); !errors.Is(err, tiering.ErrRemoteData) {
		t.Fatalf("read of impossible metadata: %v", err)
	}
}

func lastBatchSize(t testing.TB, log []byte) int64 {
	var last int64
	for len(log) > 0 {
		b, rest, err := recordbatch.Next(log)
		if err != nil {
			t.Fatal(err)
		}
		last = int64(len(b))
		log = rest
	}
	return last
}

// TestRemoteOffsetForTimestamp answers as the local log does.
func TestRemoteOffsetForTimestamp(t *testing.T) {
	ctx := context.Background()
	store := openDirStore(t)
	ts := makeSegment(t, store, 80, 256)
	r, _ := newReader(t, store, tiering.ReaderOptions{ChunkSize: 2048})
	for _, target := range []int64{0, 1_000_000, 1_000_005, 1_000_010, 1_001_234, 1_002_000, ts.records[len(ts.records)-1].ts, ts.records[len(ts.records)-1].ts + 1} {
		wo, wts, wfound, err := ts.log.OffsetForTimestamp(target, commitlog.ToLogEnd)
		if err != nil {
			t.Fatal(err)
		}
		o, gts, found, err := r.OffsetForTimestamp(ctx, ts.seg, target, 0)
		if err != nil {
			t.Fatal(err)
		}
		if found != wfound || (found && (o != wo || gts != wts)) {
			t.Fatalf("timestamp %d: got (%d, %d, %v), local log (%d, %d, %v)", target, o, gts, found, wo, wts, wfound)
		}
	}
	// from bounds the answer below.
	o, _, found, err := r.OffsetForTimestamp(ctx, ts.seg, 0, 42)
	if err != nil || !found || o != 42 {
		t.Fatalf("timestamp 0 from 42: %d %v %v", o, found, err)
	}
}

// TestRemoteReadConcurrent: readers of one segment at once share each
// chunk's fetch and all get the same records.
func TestRemoteReadConcurrent(t *testing.T) {
	base := openDirStore(t)
	ts := makeSegment(t, base, 100, 1024)
	store := newCountingStore(base)
	r, _ := newReader(t, store, tiering.ReaderOptions{ChunkSize: 4096})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := readSegment(t, r, ts.seg, 5000)
			if err != nil {
				errs <- err
				return
			}
			if !reflect.DeepEqual(got, ts.records) {
				errs <- errors.New("records differ")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, perRange := store.count(tiering.SegmentLogFile); perRange != 1 {
		t.Fatalf("a chunk was fetched %d times by concurrent readers, want once", perRange)
	}
}
