package commitlog

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// buildLog appends n batches of 3 records to a fresh log in dir and closes it
// cleanly. It returns the records and the batch sizes.
func buildLog(t *testing.T, dir string, opts Options, n int) ([]testRecord, []int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var want []testRecord
	var sizes []int
	for i := 0; i < n; i++ {
		b, recs := genBatch(t, rng, int64(len(want)), 3, recordbatch.CodecNone, int64(len(want)))
		if _, err := l.Append(b, 1); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
		sizes = append(sizes, len(b))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return want, sizes
}

func lastSegmentFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(m) == 0 {
		t.Fatalf("no %s file", suffix)
	}
	return m[len(m)-1]
}

// TestRecoverTornTail cuts the active segment's log mid-batch, and separately
// flips bytes in its last batch: the log reopens at the last good batch, with
// its index rebuilt, and appends continue from there.
func TestRecoverTornTail(t *testing.T) {
	for _, damage := range []string{"cut", "flip", "garbage"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentBytes: 8192, IndexIntervalBytes: 256}
			want, sizes := buildLog(t, dir, opts, 60)
			logFile := lastSegmentFile(t, dir, logSuffix)
			st, _ := os.Stat(logFile)
			last := sizes[len(sizes)-1]
			f, err := os.OpenFile(logFile, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			lost := 3 // records of the last batch
			switch damage {
			case "cut":
				f.Truncate(st.Size() - int64(last/2))
			case "flip":
				f.WriteAt([]byte{0xde, 0xad}, st.Size()-5)
			case "garbage":
				f.WriteAt([]byte("not a batch at all, just junk after the log"), st.Size())
				lost = 0
			}
			f.Close()
			// The index file of the active segment is rebuilt; damage it too.
			os.Truncate(lastSegmentFile(t, dir, indexSuffix), 3)

			l := openTestLog(t, dir, opts) // CleanShutdown false: full check
			end := int64(len(want) - lost)
			if got := l.LogEndOffset(); got != end {
				t.Fatalf("log end after %s: %d, want %d", damage, got, end)
			}
			checkRecords(t, readAll(t, l, 0), want[:end], 0)
			if err := l.activeLocked().checkIndexes(); err != nil {
				t.Fatalf("index not rebuilt: %v", err)
			}
			if _, err := l.Append(simpleBatch(t, 2, 5, 1), 1); err != nil {
				t.Fatal(err)
			}
			if l.LogEndOffset() != end+2 {
				t.Fatal("append after recovery did not continue the log")
			}
		})
	}
}

// TestRecoverDamagedIndexes damages the indexes of closed segments of a cleanly
// shut down log: they are detected and rebuilt, and lookups stay right.
func TestRecoverDamagedIndexes(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4096, IndexIntervalBytes: 128}
	want, _ := buildLog(t, dir, opts, 80)
	idx, _ := filepath.Glob(filepath.Join(dir, "*"+indexSuffix))
	tix, _ := filepath.Glob(filepath.Join(dir, "*"+timeIndexSuffix))
	if len(idx) < 4 {
		t.Fatalf("want several segments, got %d", len(idx))
	}
	// An index entry pointing backwards, a partial entry, a time index out of order.
	f, _ := os.OpenFile(idx[0], os.O_RDWR, 0)
	f.WriteAt([]byte{0, 0, 0, 0, 0, 0, 0, 0}, 8)
	f.Close()
	f, _ = os.OpenFile(idx[1], os.O_RDWR|os.O_APPEND, 0)
	f.Write([]byte{1, 2, 3})
	f.Close()
	f, _ = os.OpenFile(tix[2], os.O_RDWR, 0)
	f.WriteAt([]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0)
	f.Close()
	os.Remove(idx[3])

	opts.CleanShutdown = true
	opts.RecoveryPoint = int64(len(want))
	l := openTestLog(t, dir, opts)
	for i, s := range l.segments {
		if err := s.checkIndexes(); err != nil {
			t.Fatalf("segment %d index not rebuilt: %v", i, err)
		}
	}
	for from := int64(0); from < int64(len(want)); from += 7 {
		checkRecords(t, readAll(t, l, from), want, from)
	}
	if off, _, found, err := l.OffsetForTimestamp(100, ToLogEnd); err != nil || !found || off != 100 {
		t.Fatalf("timestamp lookup after rebuild: %d %v %v", off, found, err)
	}
}

// TestStoreCleanShutdown checks the store's checkpoints: a clean close lets the
// next open trust the files; high watermark and log start survive.
func TestStoreCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := TopicPartition{"orders.v1-eu", 3}
	l, err := st.Open(tp, Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if _, err := l.Append(simpleBatch(t, 2, 100, int64(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(70)
	if _, err := l.DeleteRecordsBefore(21); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen: the clean-shutdown marker lets the store trust the files, and the
	// checkpoints bring back the log start and high watermark.
	st, err = OpenStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	parts, _ := st.Partitions()
	if len(parts) != 1 || parts[0] != tp {
		t.Fatalf("partitions %v", parts)
	}
	l, err = st.Open(tp, Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	o := l.Offsets()
	if o.LogStart != 21 || o.HighWatermark != 70 || o.LogEnd != 80 || o.RecoveryPoint != 80 {
		t.Fatalf("offsets after clean reopen: %+v", o)
	}
	if !l.opts.CleanShutdown {
		t.Fatal("clean shutdown not recognised")
	}
	if _, err := l.Read(20, 100, ToLogEnd); err == nil {
		t.Fatal("read below the log start succeeded")
	}
	if err := (TopicPartition{"bad/name", 0}).Validate(); err == nil {
		t.Fatal("bad topic name accepted")
	}
}

// TestStoreUncleanShutdown opens a store whose previous run did not close: logs
// are recovered from their checkpointed recovery points.
func TestStoreUncleanShutdown(t *testing.T) {
	dir := t.TempDir()
	st, _ := OpenStore(dir, nil)
	tp := TopicPartition{"t", 0}
	l, _ := st.Open(tp, Options{SegmentBytes: 2048})
	for i := 0; i < 30; i++ {
		l.Append(simpleBatch(t, 2, 100, int64(i)), 0)
	}
	if err := st.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// No Close: the files are as a killed process leaves them.
	st2, err := OpenStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := st2.Open(tp, Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	if l2.opts.CleanShutdown || l2.LogEndOffset() != 60 {
		t.Fatalf("unclean reopen: clean=%v end=%d", l2.opts.CleanShutdown, l2.LogEndOffset())
	}
	l.Close()
	st2.Close()
}

// TestStoreDamagedCheckpoints damages each checkpoint of a data directory.
// The recovery points and high watermarks are rebuilt (the files kept
// aside): the logs are re-read whole and every record stays. A damaged log
// start checkpoint refuses the open with a message naming the file and
// what to do, since without it deleted records would come back.
func TestStoreDamagedCheckpoints(t *testing.T) {
	for _, name := range []string{recoveryPointFile, replicationFile, logStartFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := OpenStore(dir, quietOptions().Logger)
			if err != nil {
				t.Fatal(err)
			}
			tp := TopicPartition{"t", 0}
			l, _ := st.Open(tp, Options{SegmentBytes: 2048})
			for i := 0; i < 30; i++ {
				l.Append(simpleBatch(t, 2, 100, int64(i)), 0)
			}
			l.SetHighWatermark(50)
			if _, err := l.DeleteRecordsBefore(4); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name)
			os.WriteFile(path, []byte("0\n1\nt 0\n"), 0o644) // two fields where three belong
			st, err = OpenStore(dir, quietOptions().Logger)
			if name == logStartFile {
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it aside") {
					t.Fatalf("open with a damaged log start checkpoint: %v", err)
				}
				if _, serr := os.Stat(path); serr != nil {
					t.Fatalf("the damaged checkpoint is gone: %v", serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer st.Close()
			if _, err := os.Stat(path + corruptSuffix); err != nil {
				t.Fatalf("damaged checkpoint not kept aside: %v", err)
			}
			l, err = st.Open(tp, quiet(Options{SegmentBytes: 2048}))
			if err != nil {
				t.Fatal(err)
			}
			o := l.Offsets()
			wantHW := int64(50)
			if name == replicationFile {
				wantHW = 4
			}
			if o.LogStart != 4 || o.LogEnd != 60 || o.HighWatermark != wantHW {
				t.Fatalf("offsets %+v, want start 4, end 60, high watermark %d", o, wantHW)
			}
			if name == recoveryPointFile && l.opts.CleanShutdown {
				t.Fatal("without recovery points the log must be re-read")
			}
		})
	}
}

// TestStoreRefusalChangesNothing damages the log start checkpoint, which
// refuses the open, and the recovery point checkpoint, which alone would be
// moved aside and rebuilt: the refusal leaves both files and the
// clean-shutdown marker as they were, so that once the operator has
// restored the log start checkpoint the next open still knows the previous
// run stopped cleanly.
func TestStoreRefusalChangesNothing(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir, quietOptions().Logger)
	if err != nil {
		t.Fatal(err)
	}
	tp := TopicPartition{"t", 0}
	l, _ := st.Open(tp, quiet(Options{SegmentBytes: 2048}))
	for i := 0; i < 10; i++ {
		l.Append(simpleBatch(t, 2, 100, int64(i)), 0)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	logStart := filepath.Join(dir, logStartFile)
	good, err := os.ReadFile(logStart)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(logStart, []byte("0\n1\nt 0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, recoveryPointFile), []byte("garbage"), 0o644)
	if _, err := OpenStore(dir, quietOptions().Logger); err == nil {
		t.Fatal("open with a damaged log start checkpoint succeeded")
	}
	for _, name := range []string{cleanShutdownFile, recoveryPointFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("after the refusal: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, recoveryPointFile+corruptSuffix)); err == nil {
		t.Error("the refusal moved the recovery point checkpoint aside")
	}
	os.WriteFile(logStart, good, 0o644)
	st, err = OpenStore(dir, quietOptions().Logger)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.clean[tp.String()] {
		t.Error("the clean shutdown before the refusal is forgotten")
	}
	if _, err := os.Stat(filepath.Join(dir, recoveryPointFile+corruptSuffix)); err != nil {
		t.Errorf("damaged recovery point checkpoint not kept aside: %v", err)
	}
}
