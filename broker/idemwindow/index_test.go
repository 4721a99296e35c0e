package idemwindow

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

func TestIndexWindow(t *testing.T) {
	clk := newClock()
	x, err := New(Options{Window: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	x.Record([]byte("a"), 10, 12)
	clk.Advance(30 * time.Minute)
	x.Record([]byte("b"), 13, 13)
	if e, ok := x.Check([]byte("a")); !ok || e.BaseOffset != 10 || e.LastOffset != 12 {
		t.Fatalf("a after 30m: %+v %v", e, ok)
	}
	if _, ok := x.Check([]byte("c")); ok {
		t.Fatal("c was never recorded")
	}
	clk.Advance(31 * time.Minute)
	if _, ok := x.Check([]byte("a")); ok {
		t.Fatal("a is past the window")
	}
	if e, ok := x.Check([]byte("b")); !ok || e.BaseOffset != 13 {
		t.Fatalf("b after 31m: %+v %v", e, ok)
	}
	// A new record drops the expired entries at the front.
	x.Record([]byte("c"), 14, 14)
	if n := x.Len(); n != 2 {
		t.Fatalf("%d keys after expiry, want 2 (b, c)", n)
	}
	// A key recorded again (after it expired) takes the new offsets.
	clk.Advance(2 * time.Hour)
	x.Record([]byte("b"), 20, 21)
	if e, ok := x.Check([]byte("b")); !ok || e.BaseOffset != 20 {
		t.Fatalf("b re-recorded: %+v %v", e, ok)
	}
	if n := x.Len(); n != 1 {
		t.Fatalf("%d keys, want 1", n)
	}
}

func TestIndexMaxKeys(t *testing.T) {
	x, err := New(Options{MaxKeys: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		x.Record(fmt.Appendf(nil, "k%d", i), int64(i), int64(i))
		if i%7 == 0 { // replaced keys leave stale queue items behind
			x.Record(fmt.Appendf(nil, "k%d", i), int64(i), int64(i))
		}
	}
	if n := x.Len(); n != 100 {
		t.Fatalf("%d keys, want 100", n)
	}
	for i := range 1000 {
		e, ok := x.Check(fmt.Appendf(nil, "k%d", i))
		if want := i >= 900; ok != want || (ok && e.BaseOffset != int64(i)) {
			t.Fatalf("k%d: %+v %v, want present=%v", i, e, ok, want)
		}
	}
	if len(x.queue)-x.head > 2*100 {
		t.Fatalf("queue holds %d items for 100 keys", len(x.queue)-x.head)
	}
}

func TestIndexForget(t *testing.T) {
	x, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	x.Record([]byte("a"), 0, 4)
	x.Record([]byte("b"), 5, 9)
	x.Record([]byte("c"), 10, 10)
	x.Forget(8) // the log was cut at 8: b's records are partly gone
	if _, ok := x.Check([]byte("a")); !ok {
		t.Fatal("a is below the truncation point")
	}
	for _, k := range []string{"b", "c"} {
		if _, ok := x.Check([]byte(k)); ok {
			t.Fatalf("%s reaches past the truncation point", k)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := New(Options{Window: -time.Second, MaxKeys: -1, RebuildBytes: -1}); err == nil {
		t.Fatal("negative options accepted")
	}
}

// TestRetriesWriteOnce runs the broker's append path with concurrent copies
// of the same keyed request: exactly one is written, all get its offsets.
func TestRetriesWriteOnce(t *testing.T) {
	p := openPartition(t, t.TempDir(), commitlog.Options{}, Options{})
	defer p.log.Close()
	p.append(t, keyedBatch(t, "", 3, time.Now().UnixMilli(), recordbatch.CodecNone)) // unkeyed: 0..2

	batch := keyedBatch(t, "user-1:req-9", 4, time.Now().UnixMilli(), recordbatch.CodecNone)
	var wg sync.WaitGroup
	bases := make([]int64, 8)
	dups := make([]bool, 8)
	for i := range bases {
		wg.Go(func() { bases[i], dups[i] = p.append(t, batch) })
	}
	wg.Wait()
	written := 0
	for i := range bases {
		if bases[i] != 3 {
			t.Fatalf("copy %d got base offset %d, want 3", i, bases[i])
		}
		if !dups[i] {
			written++
		}
	}
	if written != 1 {
		t.Fatalf("%d copies written, want 1", written)
	}
	if end := p.log.LogEndOffset(); end != 7 {
		t.Fatalf("log end %d, want 7", end)
	}
	// Unkeyed batches are never deduplicated.
	plain := keyedBatch(t, "", 1, time.Now().UnixMilli(), recordbatch.CodecNone)
	if a, _ := p.append(t, plain); a != 7 {
		t.Fatalf("first plain append at %d", a)
	}
	if a, dup := p.append(t, plain); a != 8 || dup {
		t.Fatalf("second plain append at %d (dup %v)", a, dup)
	}
}

func BenchmarkCheck(b *testing.B) {
	x, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		x.Record(fmt.Appendf(nil, "tenant-7:order-%d", i), int64(i), int64(i))
	}
	key := []byte("tenant-7:order-5000")
	for b.Loop() {
		x.Check(key)
	}
}
