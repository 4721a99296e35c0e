package commitlog

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/runnel-dev/runnel/internal/diskfs"
)

const leaderEpochFile = "leader-epoch-checkpoint"

// UndefinedEpoch and UndefinedOffset are Kafka's answers to OffsetForLeaderEpoch
// when the requested epoch is unknown.
const (
	UndefinedEpoch  int32 = -1
	UndefinedOffset int64 = -1
)

// EpochEntry is one line of a leader-epoch-checkpoint: leader epoch Epoch
// started writing at StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the leader-epoch-checkpoint: epoch → start offset, as Kafka's
// LeaderEpochFileCache. It is guarded by the Log's mutex; every change is
// written to disk before it returns.
type epochCache struct {
	fs      diskfs.FS
	path    string
	entries []EpochEntry // ascending by epoch and by start offset
	dirty   bool         // entries changed since the file was written
}

func loadEpochCache(fs diskfs.FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fs, path: filepath.Join(dir, leaderEpochFile)}
	rows, err := readCheckpoint(c.path, 2)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		e, err1 := strconv.ParseInt(r[0], 10, 32)
		o, err2 := strconv.ParseInt(r[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || o < 0 {
			return nil, fmt.Errorf("%w: leader epoch checkpoint %s: bad entry %q", errCorruptCheckpoint, c.path, r)
		}
		c.entries = append(c.entries, EpochEntry{int32(e), o})
	}
	if !sort.SliceIsSorted(c.entries, func(i, j int) bool {
		return c.entries[i].Epoch < c.entries[j].Epoch
	}) {
		return nil, fmt.Errorf("%w: leader epoch checkpoint %s: epochs out of order", errCorruptCheckpoint, c.path)
	}
	return c, nil
}

// ReadLeaderEpochCheckpoint reads the leader-epoch-checkpoint of the
// partition directory dir, ascending by epoch, for tools (the log reads its
// own at Open); a missing file has no entries. A damaged file's error wraps
// the cause and names the file.
func ReadLeaderEpochCheckpoint(dir string) ([]EpochEntry, error) {
	c, err := loadEpochCache(nil, dir)
	if err != nil {
		return nil, err
	}
	return c.entries, nil
}

func (c *epochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at offset, if epoch is newer than the
// latest, and writes the file when that changed anything.
func (c *epochCache) assign(epoch int32, offset int64) error {
	if !c.observe(epoch, offset) && !c.dirty {
		return nil
	}
	return c.flush()
}

// observe records in memory that epoch starts at offset, if epoch is newer
// than the latest, as recovery does for every batch it reads (Kafka's
// LogSegment.recover). It reports whether the entries changed; flush writes
// them.
func (c *epochCache) observe(epoch int32, offset int64) bool {
	if epoch < 0 {
		return false
	}
	if l, ok := c.latest(); ok && epoch <= l.Epoch {
		return false
	}
	// A new epoch starting at or below an older epoch's start replaces it (the
	// older one wrote nothing that survived).
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].StartOffset >= offset {
		c.entries = c.entries[:len(c.entries)-1]
	}
	c.entries = append(c.entries, EpochEntry{epoch, offset})
	c.dirty = true
	return true
}

// truncateFromEnd drops epochs that start at or after endOffset (log truncation).
func (c *epochCache) truncateFromEnd(endOffset int64) error {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= endOffset {
		n--
	}
	if n == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:n]
	return c.flush()
}

// truncateFromStart forgets epochs wholly below startOffset and moves the start of
// the epoch holding it up to startOffset (log start moved).
func (c *epochCache) truncateFromStart(startOffset int64) error {
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].StartOffset > startOffset })
	if i == 0 {
		return nil
	}
	kept := c.entries[i-1:]
	if kept[0].StartOffset == startOffset && i-1 == 0 {
		return nil
	}
	kept[0].StartOffset = startOffset
	c.entries = append([]EpochEntry(nil), kept...)
	return c.flush()
}

// endOffsetFor answers OffsetForLeaderEpoch with Kafka's rules: for the latest
// epoch the log end offset; otherwise the start offset of the first epoch above
// the requested one, paired with the largest known epoch at or below it.
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	if epoch == UndefinedEpoch || len(c.entries) == 0 {
		return UndefinedEpoch, UndefinedOffset
	}
	if l, _ := c.latest(); l.Epoch == epoch {
		return epoch, logEnd
	}
	hi := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].Epoch > epoch })
	if hi == len(c.entries) {
		return UndefinedEpoch, UndefinedOffset
	}
	if hi == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
}

func (c *epochCache) flush() error {
	if err := writeCheckpoint(c.fs, c.path, epochRows(c.entries)); err != nil {
		c.dirty = true
		return fmt.Errorf("leader epoch checkpoint: %w", err)
	}
	c.dirty = false
	return nil
}

// epochRows are the checkpoint lines of entries.
func epochRows(entries []EpochEntry) [][]string {
	rows := make([][]string, len(entries))
	for i, e := range entries {
		rows[i] = []string{strconv.Itoa(int(e.Epoch)), strconv.FormatInt(e.StartOffset, 10)}
	}
	return rows
}

// AssignLeaderEpoch records that leader epoch epoch starts at the log end,
// as a broker does when it becomes the partition's leader (Kafka's
// maybeAssignEpochStartOffset): followers that ask OffsetForLeaderEpoch
// then learn where the previous epoch ended before anything is appended in
// the new one. An epoch at or below the latest recorded one changes
// nothing. The checkpoint is written before it returns.
func (l *Log) AssignLeaderEpoch(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.epochs.assign(epoch, l.activeLocked().next); err != nil {
		return fmt.Errorf("assign leader epoch %d: %w", epoch, err)
	}
	return nil
}
