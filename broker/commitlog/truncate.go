package commitlog

import (
	"fmt"
)

// TruncateTo removes every batch at or after offset, as a follower does to match
// its leader. A batch that holds offset goes whole, so the new log end offset is
// at most offset. The high watermark and recovery point follow it down; leader
// epochs that start at or after it are forgotten, also when offset is the log
// end.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	if err := l.writableLocked(); err != nil {
		l.mu.Unlock()
		return err
	}
	if offset >= l.activeLocked().next {
		// Nothing to cut but epochs this broker led without writing in
		// them (recorded at the log end when it became leader).
		err := l.epochs.truncateFromEnd(offset)
		l.mu.Unlock()
		if err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
		return nil
	}
	if offset < l.logStart {
		l.mu.Unlock()
		return l.TruncateFullyAndStartAt(offset)
	}
	i := l.segmentForLocked(offset)
	if l.segments[i].base == offset && i > 0 {
		i-- // keep the previous segment active rather than an empty one
	}
	gone := append([]*segment(nil), l.segments[i+1:]...)
	l.segments = l.segments[:i+1]
	s := l.segments[i]
	hadDamage := s.damage != nil
	for _, g := range gone {
		hadDamage = hadDamage || g.damage != nil
	}
	err := l.reactivateLocked(s)
	if err == nil && s.damage != nil {
		// The leader's batches replace the damaged ones: the follower cuts
		// the file at its readable end and fetches the rest again.
		l.logger.Warn("truncating a quarantined segment at its readable end, as the leader asks", "segment", s.prefix+logSuffix,
			"position", s.size, "offset", s.next, "truncate_to", offset)
		if err = s.fs.Truncate(s.log, s.size); err == nil {
			s.damage = nil
		}
	}
	if err == nil {
		err = s.truncateTo(offset)
	}
	if err == nil {
		err = l.afterTruncateLocked()
	}
	if hadDamage {
		l.saveQuarantineLocked()
	}
	if err != nil {
		err = l.failLocked(err)
	}
	l.mu.Unlock()
	if rerr := l.removeSegments(gone); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	return nil
}

// TruncateFullyAndStartAt deletes every segment and starts an empty log at
// offset, as a follower does when its log is entirely out of the leader's range.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: negative start offset %d", ErrInvalidRequest, offset)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	gone := l.segments
	l.segments = nil
	err := l.removeSegments(gone)
	var s *segment
	if err == nil {
		s, err = createSegment(l.dir, offset, l.opts)
	}
	if err != nil {
		// Keep the log usable for reads of nothing; writes are refused
		// until resumeLocked creates the segment.
		if s == nil {
			s = &segment{base: offset, next: offset}
		}
	}
	l.segments = []*segment{s}
	l.logStart, l.hw, l.recoveryPoint = offset, offset, offset
	if err == nil {
		err = l.epochs.truncateFromEnd(-1)
	}
	l.saveQuarantineLocked()
	if err != nil {
		err = l.failLocked(err)
	}
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("truncate fully to %d: %w", offset, err)
	}
	return l.fs.SyncDir(l.dir)
}

// reactivateLocked makes a sealed segment appendable again (its indexes mapped
// read-write) when truncation makes it the active one.
func (l *Log) reactivateLocked(s *segment) error {
	if s.index.writable {
		return nil
	}
	if err := s.index.mapWritable(int(l.opts.MaxIndexBytes)); err != nil {
		return err
	}
	return s.tindex.mapWritable(int(l.opts.MaxIndexBytes))
}

// afterTruncateLocked brings offsets and epochs in line with a shorter log.
func (l *Log) afterTruncateLocked() error {
	leo := l.activeLocked().next
	l.hw = min(l.hw, leo)
	l.recoveryPoint = min(l.recoveryPoint, leo)
	// What is appended again where the log was cut is dirty: the next
	// cleaning maps it (the checkpoint follows at the end of that run).
	l.firstDirty = min(l.firstDirty, leo)
	if l.logStart > leo {
		l.logStart = leo
	}
	return l.epochs.truncateFromEnd(leo)
}
