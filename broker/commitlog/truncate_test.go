package commitlog

import (
	"errors"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
	"testing"
)

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1000, IndexIntervalBytes: 1}
	l := openTestLog(t, dir, opts)
	for i := 0; i < 40; i++ {
		if _, err := l.Append(simpleBatch(t, 2, 100, int64(i)), int32(i/10)); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(80)
	segs := l.Segments()
	if len(segs) < 4 {
		t.Fatal("want several segments")
	}
	// Mid-batch: the whole batch goes.
	if err := l.TruncateTo(51); err != nil {
		t.Fatal(err)
	}
	if o := l.Offsets(); o.LogEnd != 50 || o.HighWatermark != 50 {
		t.Fatalf("after truncate to 51: %+v", o)
	}
	// At a segment boundary: the earlier segment becomes active and takes appends.
	b := segs[1].BaseOffset
	if err := l.TruncateTo(b); err != nil {
		t.Fatal(err)
	}
	if got := l.Segments(); len(got) != 1 || got[0].NextOffset != b {
		t.Fatalf("segments after truncate to %d: %+v", b, got)
	}
	if e, off := l.EndOffsetForEpoch(0); e != 0 || off != b {
		t.Fatalf("epoch 0 end %d %d", e, off)
	}
	if e := l.LatestEpoch(); e != 0 {
		t.Fatalf("latest epoch %d, want 0 after truncation", e)
	}
	for i := 0; i < 20; i++ {
		if _, err := l.Append(simpleBatch(t, 2, 100, 0), 5); err != nil {
			t.Fatal(err)
		}
	}
	if e, off := l.EndOffsetForEpoch(0); e != 0 || off != b {
		t.Fatalf("epoch 0 end %d %d", e, off)
	}
	l.Close()
	l = openTestLog(t, dir, opts)
	if got := len(readAll(t, l, 0)); got != int(b)+40 {
		t.Fatalf("after reopen %d records, want %d", got, b+40)
	}
	if err := l.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if o := l.Offsets(); o.LogStart != 500 || o.LogEnd != 500 {
		t.Fatalf("after full truncation: %+v", o)
	}
	if info, err := l.Append(simpleBatch(t, 1, 1, 0), 6); err != nil || info.FirstOffset != 500 {
		t.Fatalf("append after full truncation: %+v %v", info, err)
	}
}

func TestAppendReplica(t *testing.T) {
	leader := openTestLog(t, t.TempDir(), Options{})
	follower := openTestLog(t, t.TempDir(), Options{})
	for i := 0; i < 5; i++ {
		leader.Append(simpleBatch(t, 3, 10, 0), int32(i))
	}
	buf, _, err := leader.ReadBatches(0, 1<<20, ToLogEnd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.AppendReplica(buf); err != nil {
		t.Fatal(err)
	}
	for _, e := range []int32{0, 2, 4} {
		le, lo := leader.EndOffsetForEpoch(e)
		fe, fo := follower.EndOffsetForEpoch(e)
		if le != fe || lo != fo {
			t.Fatalf("epoch %d: leader %d/%d follower %d/%d", e, le, lo, fe, fo)
		}
	}
	if _, err := follower.AppendReplica(buf); err == nil {
		t.Fatal("replica append at the wrong offset accepted")
	}
}

func TestEpochCacheRules(t *testing.T) {
	c, err := loadEpochCache(diskfs.OS{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []EpochEntry{{1, 0}, {3, 10}, {4, 25}} {
		c.assign(e.Epoch, e.StartOffset)
	}
	c.assign(2, 30) // older epoch: ignored
	cases := []struct {
		req     int32
		epoch   int32
		offset  int64
		comment string
	}{
		{4, 4, 100, "latest epoch: log end"},
		{3, 3, 25, "start of the next epoch"},
		{2, 1, 10, "unknown epoch between: floor epoch, next start"},
		{0, 0, 0, "below every epoch: the requested epoch and the first start"},
		{5, UndefinedEpoch, UndefinedOffset, "above every epoch"},
		{UndefinedEpoch, UndefinedEpoch, UndefinedOffset, "undefined"},
	}
	for _, k := range cases {
		e, o := c.endOffsetFor(k.req, 100)
		if e != k.epoch || o != k.offset {
			t.Errorf("%s: endOffsetFor(%d) = %d, %d; want %d, %d", k.comment, k.req, e, o, k.epoch, k.offset)
		}
	}
	reloaded, err := loadEpochCache(diskfs.OS{}, filepathDir(c.path))
	if err != nil || len(reloaded.entries) != 3 {
		t.Fatalf("reload: %v %+v", err, reloaded)
	}
	c.truncateFromStart(12)
	if c.entries[0] != (EpochEntry{3, 12}) {
		t.Fatalf("truncate from start: %+v", c.entries)
	}
}

func filepathDir(p string) string { return p[:len(p)-len(leaderEpochFile)-1] }

// TestAppendReplicaRefusesGap gives a follower append whose second batch does
// not follow the first: nothing is written and the log stays writable.
func TestAppendReplicaRefusesGap(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	first := simpleBatch(t, 2, 10, 0)
	second := simpleBatch(t, 2, 10, 0)
	recordbatch.SetBaseOffset(second, 5) // the first batch ends at 2
	if _, err := l.AppendReplica(append(append([]byte(nil), first...), second...)); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("gap accepted: %v", err)
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("refused append wrote: end %d, size %d", l.LogEndOffset(), l.Size())
	}
	if _, err := l.AppendReplica(first); err != nil {
		t.Fatalf("log not writable after a refused append: %v", err)
	}
}

// TestTruncateToLogEndForgetsEmptyEpochs: an epoch recorded at the log end
// (a leader that wrote nothing in it) goes when a follower truncates to the
// log end, so that its next OffsetForLeaderEpoch asks about an older epoch.
func TestTruncateToLogEndForgetsEmptyEpochs(t *testing.T) {
	l := openTestLog(t, t.TempDir(), Options{})
	if _, err := l.Append(simpleBatch(t, 2, 10, 1000), 3); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(5); err != nil {
		t.Fatal(err)
	}
	if e := l.LatestEpoch(); e != 5 {
		t.Fatalf("latest epoch %d after assigning 5", e)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if e := l.LatestEpoch(); e != 3 {
		t.Fatalf("latest epoch %d after truncating to the log end, want 3", e)
	}
	if end := l.LogEndOffset(); end != 2 {
		t.Fatalf("log end %d, want 2", end)
	}
}
