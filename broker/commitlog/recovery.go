package commitlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// load opens the segments of the log's directory. Every segment gets a quick
// check (whole index entries, and the batch headers after its last index
// entry continuing to the end of its file, where the next segment starts);
// a segment that fails it, one quarantined before, and, after an unclean
// shutdown, every segment from the one holding the recovery point are
// re-read whole, every batch checked by CRC.
//
// Only the active segment's torn tail (bytes after its last good batch that
// hold no valid batch) is ever cut. A sealed segment with damage, or an
// active one with valid batches after its damage, is quarantined: its
// readable prefix is served, the offsets from the damage to the next
// segment's base are reported unreadable, and nothing of it is cut or
// deleted. Indexes are derived data and are rebuilt for what was re-read.
func (l *Log) load() error {
	epochs, rebuildEpochs, err := l.loadEpochs()
	if err != nil {
		return err
	}
	l.epochs = epochs
	if err := completeSwaps(l.fs, l.dir, l.logger); err != nil {
		return err
	}
	if l.firstDirty, err = loadFirstDirty(l.dir); err != nil {
		// Derived data: a lost checkpoint only makes the next run map
		// the whole log again.
		l.logger.Warn("cleaner checkpoint unreadable, cleaning from the log start", "dir", l.dir, "error", err)
		l.firstDirty = 0
	}
	bases, err := listSegments(l.fs, l.dir, l.logger)
	if err != nil {
		return err
	}
	if len(bases) == 0 {
		return l.startEmpty()
	}
	hints := l.loadQuarantineHints()
	recoverFrom := l.firstToRecover(bases)
	if err := l.openSegments(bases, recoverFrom, hints, rebuildEpochs); err != nil {
		return err
	}
	if err := l.settleOffsets(); err != nil {
		return err
	}
	if !l.opts.CleanShutdown {
		if err := l.syncRecovered(recoverFrom); err != nil {
			return err
		}
	}
	l.recoveryPoint = l.activeLocked().next
	if len(hints) > 0 || slices.ContainsFunc(l.segments, func(s *segment) bool { return s.damage != nil }) {
		l.saveQuarantineLocked()
	}
	return nil
}

// startEmpty creates the first segment of a new log, at the checkpointed
// log start offset.
func (l *Log) startEmpty() error {
	o := l.opts
	s, err := createSegment(l.dir, o.LogStartOffset, o)
	if err != nil {
		return err
	}
	l.segments = []*segment{s}
	l.logStart, l.hw, l.recoveryPoint = o.LogStartOffset, o.LogStartOffset, o.LogStartOffset
	return l.fs.SyncDir(l.dir)
}

// firstToRecover returns the index in bases of the first segment to re-read
// after an unclean shutdown, the last one whose base is at or below the
// recovery point; len(bases), none, after a clean one.
func (l *Log) firstToRecover(bases []int64) int {
	if l.opts.CleanShutdown {
		return len(bases)
	}
	from := 0
	for i, b := range bases {
		if b <= l.opts.RecoveryPoint {
			from = i
		}
	}
	return from
}

// openSegments opens the segments at bases, re-reading from recoverFrom
// on and those hints names, and rebuilds the leader epochs from every
// segment when rebuildEpochs is set (the checkpoint was damaged or missing).
func (l *Log) openSegments(bases []int64, recoverFrom int, hints map[int64]bool, rebuildEpochs bool) error {
	observe := l.epochs
	if rebuildEpochs {
		observe = nil // rebuilt from every segment below
	}
	for i := range bases {
		if err := l.openAndCheck(bases, i, i >= recoverFrom, hints[bases[i]], observe); err != nil {
			return err
		}
	}
	if rebuildEpochs {
		return l.rebuildEpochsLocked()
	}
	return nil
}

// openAndCheck opens the segment at bases[i] and re-reads it whole when
// recover is set (it lies past the recovery point after a crash), when it
// was quarantined before (hinted), or when its quick check fails; otherwise
// it is trusted. The leader epochs of what is re-read go to observe, when
// set.
func (l *Log) openAndCheck(bases []int64, i int, recover, hinted bool, observe *epochCache) error {
	active := i == len(bases)-1
	s, indexesOK, err := openSegment(l.dir, bases[i], active, l.opts)
	if err != nil {
		return err
	}
	l.segments = append(l.segments, s)
	limit := int64(-1) // the next segment's base
	if !active {
		limit = bases[i+1]
	}
	if !recover {
		why := "it was quarantined before"
		if !hinted {
			why = s.quickCheck(limit, indexesOK)
		}
		if why == "" {
			return nil
		}
		l.logger.Warn("re-reading segment", "segment", s.prefix+logSuffix, "reason", why)
	}
	if active {
		return l.recoverActive(s, observe)
	}
	return l.verifySealed(s, limit, observe)
}

// settleOffsets sets the log start offset, the leader epochs and the high
// watermark from the segments found and the checkpointed values, and starts
// the active segment's segment.ms clock.
func (l *Log) settleOffsets() error {
	o := l.opts
	a := l.activeLocked()
	if a.size > 0 {
		a.rollStart = o.Now()
	}
	leo := a.next
	l.logStart = min(max(o.LogStartOffset, l.segments[0].base), leo)
	if err := l.epochs.truncateFromEnd(leo); err != nil {
		return err
	}
	if err := l.epochs.truncateFromStart(l.logStart); err != nil {
		return err
	}
	if l.epochs.dirty {
		if err := l.epochs.flush(); err != nil {
			return err
		}
	}
	l.hw = min(max(o.HighWatermark, l.logStart), leo)
	return nil
}

// syncRecovered makes what recovery kept durable before it counts as
// recovered: the segments from the first one re-read on, and the directory.
func (l *Log) syncRecovered(recoverFrom int) error {
	for _, s := range l.segments[min(recoverFrom, len(l.segments)-1):] {
		if err := s.sync(); err != nil {
			return err
		}
	}
	return l.fs.SyncDir(l.dir)
}

// quickCheck is what an open trusts a segment with: index files of whole
// entries, the batch headers after the last index entry continuing from it
// to the end of the file, ending at limit for a sealed segment (the next
// segment's base), and indexes that agree with that. It sets next and
// returns why the segment must be re-read, "" when it need not.
func (s *segment) quickCheck(limit int64, indexesOK bool) string {
	if !indexesOK {
		return "an index file holds a partial entry"
	}
	if err := s.loadTail(); err != nil {
		return err.Error()
	}
	if limit >= 0 && s.next != limit {
		return fmt.Sprintf("its batches end at offset %d, the next segment starts at %d", s.next, limit)
	}
	if err := s.checkIndexes(); err != nil {
		return err.Error()
	}
	return ""
}

// reread re-reads s whole from its first byte, rebuilding both indexes
// for the good batches and recording their leader epochs in epochs (when
// set). It leaves size and next at the end of the good batches and returns
// what the scan found and the file's size.
func (l *Log) reread(s *segment, limit int64, epochs *epochCache) (scanResult, int64, error) {
	fileSize := s.size
	if !s.index.writable {
		if err := l.reactivateLocked(s); err != nil {
			return scanResult{}, 0, err
		}
	}
	s.index.reset()
	s.tindex.reset()
	s.maxTimestamp, s.offsetOfMaxTimestamp, s.bytesSinceIndex = -1, -1, 0
	res, err := scanBatches(s.log, s.base, 0, s.base, fileSize, limit, func(h *recordbatch.Header, _ []byte, pos int64) error {
		if epochs != nil {
			epochs.observe(h.PartitionLeaderEpoch, h.BaseOffset)
		}
		return s.noteBatch(h, pos, l.opts)
	})
	if err != nil {
		return res, 0, err
	}
	s.size, s.next, s.verified = res.end, res.next, true
	return res, fileSize, nil
}

// verifySealed re-reads a sealed segment whose next segment starts at limit
// and quarantines it when it is damaged. It never changes the log file.
func (l *Log) verifySealed(s *segment, limit int64, epochs *epochCache) error {
	res, fileSize, err := l.reread(s, limit, epochs)
	if err != nil {
		return err
	}
	if err := s.seal(); err != nil {
		return err
	}
	switch {
	case res.bad != nil:
		l.quarantineLocked(s, limit, fileSize, res.bad.Error())
	case res.next < limit:
		l.quarantineLocked(s, limit, fileSize, fmt.Sprintf("batches end at offset %d, the next segment starts at %d", res.next, limit))
	}
	return nil
}

// recoverActive re-reads the active segment. Bytes after its last good batch
// in which no valid batch follows are a torn write and are cut. Damage with
// valid batches after it is not a torn write: the segment is quarantined
// whole, and appends go on in a new segment after the last batch found.
func (l *Log) recoverActive(s *segment, epochs *epochCache) error {
	res, fileSize, err := l.reread(s, -1, epochs)
	if err != nil || res.bad == nil {
		return err
	}
	resume, found, err := resumeAfter(s.log, s.base, res.end, fileSize, res.next)
	if err != nil {
		return err
	}
	if !found {
		l.logger.Warn(tornTailMessage, "segment", s.prefix+logSuffix, "position", res.end, "offset", res.next,
			"bytes", fileSize-res.end, "reason", res.bad)
		if err := s.fs.Truncate(s.log, res.end); err != nil {
			return fmt.Errorf("cut segment %d at %d: %w", s.base, res.end, err)
		}
		s.synced = min(s.synced, res.end)
		return nil
	}
	if err := s.seal(); err != nil {
		return err
	}
	l.quarantineLocked(s, resume, fileSize, res.bad.Error())
	ns, err := createSegment(l.dir, resume, l.opts)
	if err != nil {
		return err
	}
	l.segments = append(l.segments, ns)
	return nil
}

// tornTailMessage is logged when recovery cuts the active segment's torn
// tail.
const tornTailMessage = "cutting torn tail of the active segment"

// loadEpochs reads the leader-epoch-checkpoint. A damaged one is moved aside
// and rebuilt from the batches' partition leader epochs, as is a missing
// one (rebuild is then true); one that cannot be read refuses the open.
func (l *Log) loadEpochs() (c *epochCache, rebuild bool, err error) {
	path := filepath.Join(l.dir, leaderEpochFile)
	_, statErr := os.Stat(path)
	c, err = loadEpochCache(l.fs, l.dir)
	if err == nil {
		return c, errors.Is(statErr, fs.ErrNotExist), nil
	}
	if !errors.Is(err, errCorruptCheckpoint) {
		return nil, false, err
	}
	aside, merr := moveAside(l.fs, path)
	if merr != nil {
		return nil, false, fmt.Errorf("%w (%v)", err, merr)
	}
	l.logger.Error("leader epoch checkpoint is damaged: moved aside, rebuilding it from the leader epochs in the batch headers",
		"file", path, "moved_to", aside, "error", err)
	return &epochCache{fs: l.fs, path: path}, true, nil
}

// rebuildEpochsLocked rebuilds the leader epoch cache from the partition
// leader epoch of every readable batch header, oldest first.
func (l *Log) rebuildEpochsLocked() error {
	l.epochs.entries = nil
	batches := 0
	for _, s := range l.segments {
		sc := newHeaderScanner(s.log, 0, s.size)
		for {
			h, _, err := sc.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				sc.release()
				return fmt.Errorf("rebuild leader epochs from segment %d: %w", s.base, err)
			}
			l.epochs.observe(h.PartitionLeaderEpoch, h.BaseOffset)
			batches++
		}
		sc.release()
	}
	l.epochs.dirty = true
	if batches > 0 {
		l.logger.Warn("rebuilt the leader epoch cache from the batch headers", "file", l.epochs.path, "batches", batches, "epochs", len(l.epochs.entries))
	}
	return nil
}

// ownTempFiles are the files a log directory holds that are written through
// a temporary <name>.tmp (diskfs.WriteFileAtomic): a leftover .tmp of one of
// them is an interrupted write of ours.
var ownTempFiles = map[string]bool{
	leaderEpochFile + diskfs.TempSuffix:       true,
	quarantineFile + diskfs.TempSuffix:        true,
	cleanerCheckpointFile + diskfs.TempSuffix: true,
	"partition.metadata" + diskfs.TempSuffix:  true,
}

// isSnapshotTemp reports whether name is the temporary file of a producer
// snapshot's atomic write.
func isSnapshotTemp(name string) bool { return strings.HasSuffix(name, ".snapshot"+diskfs.TempSuffix) }

// IsInterruptedWrite reports whether name, in a partition directory, is the
// temporary file of one of the broker's own atomic writes (a partition
// file's or a producer snapshot's): a leftover that opening the partition
// removes. Any other file it does not know is kept.
func IsInterruptedWrite(name string) bool { return ownTempFiles[name] || isSnapshotTemp(name) }

// listSegments returns the base offsets of the segment logs in dir. It
// removes only what is provably a leftover of its own interrupted work: a
// temporary file of an atomic write, and index files whose log is gone
// (retention removes the log first). Everything else it does not know is
// kept, and logged.
func listSegments(fsys diskfs.FS, dir string, logger *slog.Logger) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	logs := map[int64]bool{}
	var leftovers []string
	for _, e := range ents {
		name := e.Name()
		if ownTempFiles[name] {
			leftovers = append(leftovers, name)
			continue
		}
		base, ext, ok := ParseSegmentFileName(name)
		switch {
		case ok && ext == logSuffix:
			logs[base] = true
		case isSnapshotTemp(name):
			// A producer snapshot's: producerstate removes its own.
		case strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".deleted"):
			logger.Warn("keeping a file the log did not leave behind", "file", filepath.Join(dir, name))
		}
	}
	for _, e := range ents {
		if base, ext, ok := ParseSegmentFileName(e.Name()); ok && ext != logSuffix && !logs[base] {
			leftovers = append(leftovers, e.Name())
		}
	}
	for _, name := range leftovers {
		logger.Info("removing a leftover of interrupted work", "file", filepath.Join(dir, name))
		if err := fsys.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove leftover %s: %w", name, err)
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}
