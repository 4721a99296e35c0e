package commitlog

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
)

// A failed write or fsync (a full disk, a failing device) makes the log
// refuse writes: werr is set and every append answers ErrLogFailed at once.
// Retries run at the next append or flusher tick once retryAt has passed,
// with a backoff doubling from minRetryBackoff to maxRetryBackoff. A retry
// (resumeLocked) puts the files back in the state of the last acknowledged
// write before it lets writes in again: whatever a failed write left past
// the last whole batch is cut, the batches before it are checked, room for
// the next writes is reserved, and bytes an fsync failed on are checked and
// written again.
const (
	minRetryBackoff = 100 * time.Millisecond
	maxRetryBackoff = 5 * time.Second
	// resumeReserveBytes is the room a retry reserves after the log end,
	// so that a disk still full fails the retry rather than the next write.
	resumeReserveBytes = 64 << 10
)

// StorageError returns the write or fsync failure that makes the log refuse
// writes, or nil when it accepts them.
func (l *Log) StorageError() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.werr == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrLogFailed, l.werr)
}

// WriteFailures counts the writes and fsyncs that failed since the log was
// opened.
func (l *Log) WriteFailures() int64 { return l.writeFailures.Load() }

// failLocked records a failed write or fsync: the log refuses writes until a
// retry succeeds. It returns the error for the caller, wrapping ErrLogFailed.
func (l *Log) failLocked(err error) error {
	l.writeFailures.Add(1)
	if l.werr == nil {
		l.logger.Error("log storage failed: writes are refused until a retry finds the disk writable again", "dir", l.dir, "error", err)
		l.backoff = 0
	}
	l.werr = err
	l.scheduleRetryLocked()
	return fmt.Errorf("%w: %w", ErrLogFailed, err)
}

func (l *Log) scheduleRetryLocked() {
	l.backoff = min(max(2*l.backoff, minRetryBackoff), maxRetryBackoff)
	l.retryAt = time.Now().Add(l.backoff)
}

// writableLocked returns nil when the log accepts writes, retrying a failed
// write first when its backoff has passed.
func (l *Log) writableLocked() error {
	if l.closed {
		return ErrClosed
	}
	if l.werr != nil && !time.Now().Before(l.retryAt) {
		l.resumeLocked()
	}
	if l.werr != nil {
		return fmt.Errorf("%w: %w", ErrLogFailed, l.werr)
	}
	return nil
}

// resumeLocked retries after a failed write or fsync; it clears the failure
// when the log's files are whole and the disk takes writes again.
func (l *Log) resumeLocked() {
	if err := l.repairLocked(); err != nil {
		l.werr = err
		l.scheduleRetryLocked()
		l.logger.Debug("log storage still failing", "dir", l.dir, "error", err, "next_retry", l.backoff)
		return
	}
	l.logger.Info("log storage recovered: writes are accepted again", "dir", l.dir, "after", l.werr)
	l.werr, l.backoff = nil, 0
}

// repairLocked brings the files back to the last acknowledged write and
// checks that the disk takes writes.
func (l *Log) repairLocked() error {
	// The failed fsync may have been the directory's, after a roll: the
	// entries it holds are made durable before any segment counts as
	// synced again and the recovery point passes it.
	if slices.ContainsFunc(l.segments, func(s *segment) bool { return s.syncFailed }) {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return err
		}
	}
	for _, s := range l.segments {
		if s.syncFailed {
			if err := l.resyncLocked(s); err != nil {
				return err
			}
		}
	}
	s := l.activeLocked()
	if s.log == nil {
		// TruncateFullyAndStartAt could not create its segment.
		ns, err := createSegment(l.dir, s.base, l.opts)
		if err != nil {
			return err
		}
		l.segments[len(l.segments)-1], s = ns, ns
		if err := l.fs.SyncDir(l.dir); err != nil {
			return err
		}
	}
	if err := l.reactivateLocked(s); err != nil { // a roll that failed after sealing
		return err
	}
	// A failed write may have left bytes past the last whole batch.
	if err := s.fs.Truncate(s.log, s.size); err != nil {
		return fmt.Errorf("cut segment %d at %d: %w", s.base, s.size, err)
	}
	if err := s.checkTail(); err != nil {
		return err
	}
	if err := s.fs.Allocate(s.log, s.size, resumeReserveBytes); err != nil && !errors.Is(err, diskfs.ErrNoAllocate) {
		return err
	}
	if err := s.reserveIndexes(1); err != nil {
		return err
	}
	if l.epochs.dirty {
		if err := l.epochs.flush(); err != nil {
			return err
		}
	}
	err := s.sync()
	s.markSynced(s.size, err)
	return err
}

// resyncLocked makes durable the bytes of s an fsync failed on. After a
// failed fsync the kernel may have marked the pages clean without writing
// them, so a retried fsync can succeed without them ever reaching the disk.
// The bytes since the last good fsync are read back, each batch checked,
// written again and fsynced. A batch that no longer checks was lost before
// it reached the disk: the segment is quarantined from there.
func (l *Log) resyncLocked(s *segment) error {
	rel, pos := uint32(0), uint32(0)
	if s.index.n > 0 {
		rel, pos = s.index.lookupPosition(uint32(min(s.synced, 1<<32-1)))
	}
	res, err := scanBatches(s.log, s.base, int64(pos), s.base+int64(rel), s.size, -1, func(_ *recordbatch.Header, batch []byte, p int64) error {
		if p < s.synced {
			return nil
		}
		if _, err := s.fs.WriteAt(s.log, [][]byte{batch}, p); err != nil {
			return fmt.Errorf("rewrite segment %d at %d: %w", s.base, p, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if res.bad != nil {
		if s == l.activeLocked() {
			if _, err := l.rollLocked(); err != nil {
				return err
			}
		}
		fileSize := s.size
		s.size, s.next = res.end, res.next
		l.quarantineLocked(s, l.segments[l.segmentIndexLocked(s)+1].base, fileSize,
			fmt.Sprintf("data an fsync failed on was lost: %v", res.bad))
		l.saveQuarantineLocked()
	}
	if err := s.sync(); err != nil {
		return err
	}
	s.syncFailed, s.synced = false, s.size
	if s != l.activeLocked() {
		l.advanceRecoveryPointLocked(s.next)
	}
	return nil
}

// advanceRecoveryPointLocked moves the recovery point up to to, but never
// past a segment whose bytes an fsync failed on.
func (l *Log) advanceRecoveryPointLocked(to int64) {
	for _, s := range l.segments {
		if s.syncFailed {
			to = min(to, s.base)
			break
		}
	}
	l.recoveryPoint = max(l.recoveryPoint, to)
}
