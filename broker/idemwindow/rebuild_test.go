package idemwindow

import (
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestRebuildAfterRestart appends keyed batches, closes the log, reopens it
// with a fresh index and retries: the retries are recognised, keys older
// than the window are not.
func TestRebuildAfterRestart(t *testing.T) {
	clk := newClock()
	now := clk.Now().UnixMilli()
	dir := t.TempDir()
	opts := commitlog.Options{SegmentBytes: 4 << 10} // many segments
	iopts := Options{Window: time.Hour, Now: clk.Now}
	p := openPartition(t, dir, opts, iopts)

	type sent struct {
		batch []byte
		base  int64
	}
	var keyed []sent
	old := keyedBatch(t, "old", 2, now-2*time.Hour.Milliseconds(), recordbatch.CodecNone)
	oldBase, _ := p.append(t, old)
	for i := range 60 {
		p.append(t, keyedBatch(t, "", 3, now, recordbatch.CodecNone))
		b := keyedBatch(t, fmt.Sprintf("key-%d", i), 1+i%4, now, recordbatch.CodecNone)
		base, _ := p.append(t, b)
		keyed = append(keyed, sent{b, base})
		// The same key in a compressed batch is not a key at all.
		p.append(t, keyedBatch(t, fmt.Sprintf("key-%d", i), 1, now, recordbatch.CodecSnappy))
	}
	if len(p.log.Segments()) < 5 {
		t.Fatalf("only %d segments: the test wants the tail spread over several", len(p.log.Segments()))
	}
	end := p.log.LogEndOffset()
	if err := p.log.Close(); err != nil {
		t.Fatal(err)
	}

	p = openPartition(t, dir, opts, iopts)
	defer p.log.Close()
	if n := p.idx.Len(); n != len(keyed) {
		t.Fatalf("rebuilt %d keys, want %d", n, len(keyed))
	}
	for i, s := range keyed {
		base, dup := p.append(t, s.batch)
		if !dup || base != s.base {
			t.Fatalf("retry of key-%d after restart: base %d dup %v, want %d", i, base, dup, s.base)
		}
	}
	if got := p.log.LogEndOffset(); got != end {
		t.Fatalf("retries wrote: log end %d, want %d", got, end)
	}
	if base, dup := p.append(t, old); dup || base == oldBase {
		t.Fatalf("a key older than the window was deduplicated (base %d)", base)
	}
}

// TestRebuildBytesBound checks that Rebuild reads only about RebuildBytes
// of the tail: old keys beyond it are forgotten, recent ones kept.
func TestRebuildBytesBound(t *testing.T) {
	now := time.Now().UnixMilli()
	dir := t.TempDir()
	opts := commitlog.Options{SegmentBytes: 8 << 10}
	p := openPartition(t, dir, opts, Options{})
	const n = 400
	for i := range n {
		p.append(t, keyedBatch(t, fmt.Sprintf("key-%d", i), 2, now, recordbatch.CodecNone))
	}
	size := p.log.Size()
	if err := p.log.Close(); err != nil {
		t.Fatal(err)
	}

	p = openPartition(t, dir, opts, Options{RebuildBytes: size / 4})
	defer p.log.Close()
	got := p.idx.Len()
	if got < n/8 || got > n/2 {
		t.Fatalf("rebuilt %d of %d keys from a quarter of the log's bytes", got, n)
	}
	for i := n - n/8; i < n; i++ {
		if _, ok := p.idx.Check(fmt.Appendf(nil, "key-%d", i)); !ok {
			t.Fatalf("recent key-%d was not rebuilt", i)
		}
	}
	if _, ok := p.idx.Check([]byte("key-0")); ok {
		t.Fatal("key-0 lies outside the bound but was rebuilt")
	}
}

func TestRebuildEmptyLog(t *testing.T) {
	p := openPartition(t, t.TempDir(), commitlog.Options{}, Options{})
	defer p.log.Close()
	if n := p.idx.Len(); n != 0 {
		t.Fatalf("%d keys in an empty log", n)
	}
}

// TestRebuildAfterRetention rebuilds a log whose oldest segments are gone.
func TestRebuildAfterRetention(t *testing.T) {
	now := time.Now().UnixMilli()
	dir := t.TempDir()
	opts := commitlog.Options{SegmentBytes: 4 << 10}
	p := openPartition(t, dir, opts, Options{})
	for i := range 100 {
		p.append(t, keyedBatch(t, fmt.Sprintf("key-%d", i), 2, now, recordbatch.CodecNone))
	}
	p.log.SetHighWatermark(p.log.LogEndOffset())
	// Let the background fsync of rolled segments finish first: closing a
	// log whose queued rolled segment was deleted fails (a commitlog issue
	// outside this test's concern).
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if rp, active := p.log.Offsets().RecoveryPoint, p.log.ActiveSegmentBase(); rp < active {
			return fmt.Errorf("recovery point %d below the active segment %d", rp, active)
		}
		return nil
	})
	start, err := p.log.DeleteRecordsBefore(100)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.log.Close(); err != nil {
		t.Fatal(err)
	}
	p = openPartition(t, dir, commitlog.Options{SegmentBytes: 4 << 10, LogStartOffset: start}, Options{})
	defer p.log.Close()
	// key-i wrote offsets 2i, 2i+1; those from the segment holding 100 on remain.
	if _, ok := p.idx.Check([]byte("key-99")); !ok {
		t.Fatal("key-99 is in the log but was not rebuilt")
	}
	if _, ok := p.idx.Check([]byte("key-0")); ok {
		t.Fatal("key-0 was deleted but was rebuilt")
	}
}
