package commitlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/internal/testwait"
)

// asideDirs lists the directories of dir renamed aside with suffix.
func asideDirs(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), suffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func fillPartition(t *testing.T, st *Store, tp TopicPartition, batches int) {
	t.Helper()
	l, err := st.Open(tp, Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < batches; i++ {
		if _, err := l.Append(simpleBatch(t, 2, 100, int64(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
}

// TestStoreDeleteRenamesAsideThenRemoves: Delete renames the partition's
// directory to <tp>.<hex>-delete at once (Kafka's asynchronous delete), the
// store no longer lists or opens it as the partition, a new partition of the
// same name starts afresh (no checkpoint of the old one applies), and the
// renamed directory is removed only after the file delete delay.
func TestStoreDeleteRenamesAsideThenRemoves(t *testing.T) {
	dir := t.TempDir()
	const delay = 400 * time.Millisecond
	st, err := OpenStoreWith(dir, StoreOptions{FileDeleteDelay: delay})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tp := TopicPartition{"orders", 2}
	fillPartition(t, st, tp, 30)
	start := time.Now()
	name, err := st.Delete(tp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "orders-2.") || !strings.HasSuffix(name, "-delete") {
		t.Fatalf("renamed to %q", name)
	}
	if _, err := os.Stat(filepath.Join(dir, tp.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partition directory is still there: %v", err)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, name, "*"+logSuffix)); len(segs) == 0 {
		t.Fatal("the renamed directory lost its segments before the delay")
	}
	if parts, _ := st.Partitions(); len(parts) != 0 {
		t.Fatalf("a deleted partition is listed: %v", parts)
	}
	l, err := st.Open(tp, Options{SegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	if o := l.Offsets(); o.LogStart != 0 || o.LogEnd != 0 {
		t.Fatalf("a new partition of the same name starts at %+v", o)
	}
	testwait.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s still there after %v", name, time.Since(start))
		}
		return nil
	})
	if took := time.Since(start); took < delay {
		t.Fatalf("removed after %v, before the delay of %v", took, delay)
	}
}

// TestStoreRemovesDeletedDirsLeftByEarlierRun: directories renamed aside by a
// run that stopped before their delay was over are removed by the next run,
// after its own delay; stray directories are never removed.
func TestStoreRemovesDeletedDirsLeftByEarlierRun(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStoreWith(dir, StoreOptions{FileDeleteDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fillPartition(t, st, TopicPartition{"gone", 0}, 5)
	fillPartition(t, st, TopicPartition{"kept", 0}, 5)
	deleted, err := st.Delete(TopicPartition{"gone", 0})
	if err != nil {
		t.Fatal(err)
	}
	stray, err := st.SetAside(TopicPartition{"kept", 0})
	if err != nil || !strings.HasSuffix(stray, "-stray") {
		t.Fatalf("set aside: %q %v", stray, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, deleted)); err != nil {
		t.Fatalf("removed before its delay: %v", err)
	}
	start := time.Now()
	st, err = OpenStoreWith(dir, StoreOptions{FileDeleteDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if parts, _ := st.Partitions(); len(parts) != 0 {
		t.Fatalf("directories set aside are listed as partitions: %v", parts)
	}
	testwait.For(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := asideDirs(t, dir, deleteDirSuffix); len(got) != 0 {
			return fmt.Errorf("still there: %v", got)
		}
		return nil
	})
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("removed after %v, before the delay", took)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, stray, "*"+logSuffix)); len(segs) == 0 {
		t.Fatal("a stray directory lost its data")
	}
}

// TestHoldsData: only a non-empty segment file is data.
func TestHoldsData(t *testing.T) {
	dir := t.TempDir()
	if held, err := HoldsData(filepath.Join(dir, "missing")); held || err != nil {
		t.Fatalf("missing dir: %v %v", held, err)
	}
	for name, size := range map[string]int{"00000000000000000000.index": 4096, "00000000000000000000.log": 0, "partition.metadata": 60} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if held, err := HoldsData(dir); held || err != nil {
		t.Fatalf("empty segment: %v %v", held, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), []byte{1}, 0o644); err != nil {
		t.Fatal(err)
	}
	if held, err := HoldsData(dir); !held || err != nil {
		t.Fatalf("segment with a byte: %v %v", held, err)
	}
}
