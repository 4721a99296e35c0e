package idemwindow

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_800_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// keyedBatch builds an uncompressed batch of n records at timestamp ts whose
// first record carries key (none when key is empty).
func keyedBatch(t testing.TB, key string, n int, ts int64, codec recordbatch.Codec) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{
			Key: []byte(fmt.Sprintf("k%d", i)), Value: bytes.Repeat([]byte{'v'}, 40), Timestamp: ts,
			Headers: []recordbatch.RecordHeader{{Key: "trace", Value: []byte("abc")}},
		}
	}
	if key != "" {
		recs[0].Headers = append(recs[0].Headers, recordbatch.RecordHeader{Key: kafkaext.IdempotencyKeyHeader, Value: []byte(key)})
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b
}

// partition is the broker's append path in miniature, wired the way
// broker/partition.go is meant to be: Check, append and Record under one
// lock.
type partition struct {
	mu  sync.Mutex
	log *commitlog.Log
	idx *Index
}

func openPartition(t testing.TB, dir string, opts commitlog.Options, iopts Options) *partition {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := commitlog.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := New(iopts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Rebuild(l); err != nil {
		t.Fatal(err)
	}
	return &partition{log: l, idx: idx}
}

// append returns the base offset the records got, or the original's for a
// retry, and whether it was a retry.
func (p *partition) append(t testing.TB, records []byte) (int64, bool) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	key, hasKey := FirstKey(records)
	if hasKey {
		if e, ok := p.idx.Check(key); ok {
			return e.BaseOffset, true
		}
	}
	info, err := p.log.Append(bytes.Clone(records), 0)
	if err != nil {
		t.Fatal(err)
	}
	if hasKey {
		p.idx.Record(key, info.FirstOffset, info.LastOffset)
	}
	return info.FirstOffset, false
}
