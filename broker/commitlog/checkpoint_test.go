package commitlog

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

// TestCheckpointDamageIsFound flips every bit of an offset checkpoint and
// cuts it at every length: the read either fails as damaged or gives back
// exactly what was written, never another offset (a log start moved up by
// one flipped bit hides records, and retention then deletes them).
func TestCheckpointDamageIsFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), logStartFile)
	want := map[TopicPartition]int64{{"orders", 0}: 0, {"orders", 1}: 20, {"payments.eu", 7}: 1234567}
	if err := writeOffsetCheckpoint(diskfs.OS{}, path, want); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readOffsetCheckpoint(path)
		if err != nil && !errors.Is(err, errCorruptCheckpoint) {
			t.Fatalf("%s: %v", what, err)
		}
		if err == nil && !maps.Equal(got, want) {
			t.Errorf("%s: read as %v", what, got)
		}
	}
	for i := range good {
		for bit := range 8 {
			data := append([]byte(nil), good...)
			data[i] ^= 1 << bit
			check("bit flip", data)
		}
	}
	for n := range len(good) {
		check("cut", good[:n])
	}
	check("garbage appended", append(append([]byte(nil), good...), "orders 2 5\n"...))
}

// TestCheckpointWithoutChecksum reads a checkpoint written before the
// checksum line existed, and refuses lines after its entries.
func TestCheckpointWithoutChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), recoveryPointFile)
	os.WriteFile(path, []byte("0\n2\norders 0 15\norders 1 7\n"), 0o644)
	got, err := readOffsetCheckpoint(path)
	if want := map[TopicPartition]int64{{"orders", 0}: 15, {"orders", 1}: 7}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("old checkpoint read as %v, %v", got, err)
	}
	os.WriteFile(path, []byte("0\n1\norders 0 15\norders 1 7\n"), 0o644)
	if _, err := readOffsetCheckpoint(path); !errors.Is(err, errCorruptCheckpoint) {
		t.Fatalf("more lines than entries: %v", err)
	}
}
