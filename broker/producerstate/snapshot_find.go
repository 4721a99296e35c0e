package producerstate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// ErrNoSnapshot means the directory holds no producer snapshot at or above
// the offset asked for. Take one (Manager.TakeSnapshot) and look again.
var ErrNoSnapshot = errors.New("no producer snapshot at or above the offset")

// SnapshotAtOrAfter returns the offset and the bytes of the oldest producer
// snapshot in dir whose offset is at or above from (the state of the
// producers after the log's batches below that offset), for copying it
// elsewhere: the tiering uploader sends the one taken when a segment
// rolled with the segment. The bytes are checked (DecodeSnapshot) before
// they are returned. A snapshot deleted while it is read (only the newest
// are kept) is skipped for the next one.
func SnapshotAtOrAfter(dir string, from int64) (int64, []byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, fmt.Errorf("list producer snapshots: %w", err)
	}
	var offs []int64
	for _, e := range ents {
		if off, ok := snapshotOffset(e.Name()); ok && off >= from {
			offs = append(offs, off)
		}
	}
	slices.Sort(offs)
	for _, off := range offs {
		b, err := os.ReadFile(snapshotPath(dir, off))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read producer snapshot: %w", err)
		}
		got, _, err := DecodeSnapshot(b)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", snapshotPath(dir, off), err)
		}
		if got != off {
			return 0, nil, fmt.Errorf("%s: %w", snapshotPath(dir, off), corrupt("holds offset %d", got))
		}
		return off, b, nil
	}
	return 0, nil, fmt.Errorf("%w: %d in %s", ErrNoSnapshot, from, dir)
}
