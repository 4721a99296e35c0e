package commitlog

import (
	"fmt"
)

// DeleteExpired applies retention.ms and retention.bytes: it deletes the oldest
// closed segments whose largest timestamp is older than the retention time, and
// then the oldest while the log is larger than the retention size. The active
// segment is never deleted and segments go whole, oldest first; the log start
// offset moves to the first remaining segment. A compact-only log
// (cleanup.policy=compact) deletes nothing; a Tiered one only segments
// uploaded already (SetRemoteEnd). It returns how many segments it
// deleted.
func (l *Log) DeleteExpired() (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	o := l.opts
	if o.CompactOnly {
		l.mu.Unlock()
		return 0, nil
	}
	var size int64
	for _, s := range l.segments {
		size += s.size
	}
	n := 0
	now := o.Now().UnixMilli()
	for n < len(l.segments)-1 {
		s := l.segments[n]
		byTime := o.RetentionTime > 0 && s.maxTimestamp >= 0 && now-s.maxTimestamp > o.RetentionTime.Milliseconds()
		// A segment with no timestamps (all -1) only goes by size.
		bySize := o.RetentionBytes > 0 && size-s.size >= o.RetentionBytes
		if !byTime && !bySize || o.Tiered && s.next-1 > l.remoteEnd.Load() {
			break
		}
		size -= s.size
		n++
	}
	gone := l.dropSegmentsLocked(n)
	l.mu.Unlock()
	return len(gone), l.removeSegments(gone)
}

// DeleteRecordsBefore moves the log start offset up to offset (Kafka's
// DeleteRecords), deleting the segments wholly below it. offset must not pass
// the high watermark. A lower offset than the current start changes nothing.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	if offset > l.hw {
		hw := l.hw
		l.mu.Unlock()
		return 0, fmt.Errorf("%w: delete records before %d past the high watermark %d", ErrInvalidRequest, offset, hw)
	}
	if offset <= l.logStart {
		start := l.logStart
		l.mu.Unlock()
		return start, nil
	}
	n := 0
	for n < len(l.segments)-1 && l.segments[n].next <= offset {
		n++
	}
	gone := l.dropSegmentsLocked(n)
	l.logStart = offset
	err := l.epochs.truncateFromStart(offset)
	l.mu.Unlock()
	if rerr := l.removeSegments(gone); err == nil {
		err = rerr
	}
	return offset, err
}

// dropSegmentsLocked takes the first n segments out of the log and moves the
// log start offset to the first remaining one. The caller removes the files
// after releasing the lock.
func (l *Log) dropSegmentsLocked(n int) []*segment {
	if n == 0 {
		return nil
	}
	gone := append([]*segment(nil), l.segments[:n]...)
	l.segments = append(l.segments[:0:0], l.segments[n:]...)
	first := l.segments[0].base
	if first > l.logStart {
		l.logStart = first
		if err := l.epochs.truncateFromStart(first); err != nil {
			l.logger.Error("leader epoch checkpoint", "dir", l.dir, "error", err)
		}
	}
	l.hw = max(l.hw, l.logStart)
	l.recoveryPoint = max(l.recoveryPoint, l.logStart)
	damaged := false
	for _, s := range gone {
		l.logger.Info("deleting segment", "segment", s.prefix+logSuffix, "base", s.base, "next", s.next, "size", s.size)
		damaged = damaged || s.damage != nil
	}
	if damaged {
		l.saveQuarantineLocked()
	}
	return gone
}

// removeSegments deletes the files of segments already taken out of the log.
func (l *Log) removeSegments(gone []*segment) error {
	for _, s := range gone {
		if err := s.remove(); err != nil {
			return fmt.Errorf("delete segment: %w", err)
		}
	}
	if len(gone) > 0 {
		return l.fs.SyncDir(l.dir)
	}
	return nil
}
