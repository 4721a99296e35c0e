package tiering_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/tiertest"
)

// countingStore counts the Gets of each key (and their ranges) on the way
// to the store it wraps.
type countingStore struct {
	tiering.Store
	mu     sync.Mutex
	gets   map[string]int
	ranges map[string]int // "key@off+len"
}

func newCountingStore(s tiering.Store) *countingStore {
	return &countingStore{Store: s, gets: map[string]int{}, ranges: map[string]int{}}
}

func (c *countingStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.gets[key]++
	c.ranges[fmt.Sprintf("%s@%d+%d", key, off, length)]++
	c.mu.Unlock()
	return c.Store.Get(ctx, key, off, length)
}

// count returns the Gets of keys ending in file, and the most any one
// range was fetched.
func (c *countingStore) count(file string) (gets, maxPerRange int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, n := range c.gets {
		if strings.HasSuffix(k, "/"+file) {
			gets += n
		}
	}
	for k, n := range c.ranges {
		if strings.Contains(k, "/"+file+"@") {
			maxPerRange = max(maxPerRange, n)
		}
	}
	return gets, maxPerRange
}

// wantRecord is a record the test wrote.
type wantRecord struct {
	offset int64
	ts     int64
	value  string
}

// testSegment is a rolled local segment uploaded to a store.
type testSegment struct {
	log     *commitlog.Log
	seg     metadata.RemoteSegment
	records []wantRecord
}

// makeSegment appends batches of 1 to 5 records with values of varied sizes
// (up to ~3 KiB, so batches cross small chunks) to a new log indexed every
// indexInterval bytes, rolls it, and uploads the rolled segment to store.
func makeSegment(t testing.TB, store tiering.Store, batches int, indexInterval int32) testSegment {
	t.Helper()
	l, err := commitlog.Open(t.TempDir(), commitlog.Options{SegmentBytes: 1 << 30, IndexIntervalBytes: indexInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var recs []wantRecord
	next := int64(0)
	for i := range batches {
		n := 1 + i%5
		var rs []recordbatch.Record
		for j := range n {
			ts := int64(1_000_000 + 10*(int64(i)*5+int64(j)))
			v := fmt.Sprintf("b%d-r%d-%s", i, j, strings.Repeat("x", (i*131+j*17)%600))
			rs = append(rs, recordbatch.Record{Timestamp: ts, Value: []byte(v)})
			recs = append(recs, wantRecord{offset: next, ts: ts, value: v})
			next++
		}
		b, err := recordbatch.Build(recordbatch.BuildOptions{}, rs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	info := l.Segments()[0]
	seg := tiertest.UploadSegment(t, store, "cluster-x", uuid.New(), 0, 3, info)
	return testSegment{log: l, seg: seg, records: recs}
}

// decode returns the records of batches, checking each batch whole.
func decode(t testing.TB, batches []byte) []wantRecord {
	t.Helper()
	var out []wantRecord
	for len(batches) > 0 {
		b, rest, err := recordbatch.Next(batches)
		if err != nil {
			t.Fatal(err)
		}
		if err := recordbatch.VerifyCRC(b); err != nil {
			t.Fatal(err)
		}
		rs, err := recordbatch.DecodeRecords(nil, b, recordbatch.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			out = append(out, wantRecord{r.Offset, r.Timestamp, string(r.Value)})
		}
		batches = rest
	}
	return out
}

func newReader(t testing.TB, store tiering.Store, opts tiering.ReaderOptions) (*tiering.Reader, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Metrics = reg
	opts.Logger = slog.New(slog.DiscardHandler)
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	r, err := tiering.NewReader(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, reg
}

// readSegment reads seg from its start to its end in fetches of maxBytes,
// as a consumer does, and returns the records.
func readSegment(t testing.TB, r *tiering.Reader, seg metadata.RemoteSegment, maxBytes int64) ([]wantRecord, error) {
	var got []wantRecord
	for o := seg.BaseOffset; o <= seg.EndOffset; {
		res, err := r.Read(context.Background(), seg, o, maxBytes)
		if err != nil {
			return nil, err
		}
		got = append(got, decode(t, res.Batches)...)
		o = res.NextOffset
	}
	return got, nil
}
