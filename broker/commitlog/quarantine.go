package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// quarantine is the damaged part of a segment. The segment's size and next
// mark where its readable batches end; from there to the file's end nothing
// is served, and the offsets from next up to to are unreadable.
type quarantine struct {
	to       int64 // the next segment's base: where readable offsets resume
	fileSize int64 // bytes in the file, of which size are readable
	reason   string
}

// quarantineFile lists the segments a log has quarantined, so that every
// open re-reads them whole, even when a quick check of their tail would
// pass (damage to a batch's records only shows in its CRC). It is a hint:
// lost or damaged, it costs only that re-reading.
const quarantineFile = "quarantine-checkpoint"

// loadQuarantineHints reads the bases of the segments quarantined before. A
// damaged file is moved aside and logged.
func (l *Log) loadQuarantineHints() map[int64]bool {
	path := filepath.Join(l.dir, quarantineFile)
	rows, err := readCheckpoint(path, 3)
	if err != nil {
		if errors.Is(err, errCorruptCheckpoint) {
			if aside, merr := moveAside(l.fs, path); merr == nil {
				l.logger.Error("quarantine checkpoint is damaged: moved aside; segments damaged before are re-read only if a quick check finds them damaged again",
					"file", path, "moved_to", aside, "error", err)
				return nil
			}
		}
		l.logger.Error("cannot read the quarantine checkpoint; segments damaged before are re-read only if a quick check finds them damaged again", "file", path, "error", err)
		return nil
	}
	hints := make(map[int64]bool, len(rows))
	for _, r := range rows {
		if base, err := strconv.ParseInt(r[0], 10, 64); err == nil {
			hints[base] = true
		}
	}
	return hints
}

// saveQuarantineLocked writes the quarantine checkpoint for the segments
// quarantined now (removing it when there are none). A failure is logged:
// the file is only a hint.
func (l *Log) saveQuarantineLocked() {
	path := filepath.Join(l.dir, quarantineFile)
	var rows [][]string
	for _, s := range l.segments {
		if s.damage != nil {
			rows = append(rows, []string{strconv.FormatInt(s.base, 10), strconv.FormatInt(s.next, 10), strconv.FormatInt(s.damage.to, 10)})
		}
	}
	var err error
	if len(rows) == 0 {
		if err = l.fs.Remove(path); errors.Is(err, fs.ErrNotExist) {
			return
		}
	} else {
		err = writeCheckpoint(l.fs, path, rows)
	}
	if err != nil {
		l.logger.Error("cannot write the quarantine checkpoint", "file", path, "error", err)
	}
}

// quarantineLocked marks s damaged from its readable end (size, next) on,
// up to offset to, and says so loudly.
func (l *Log) quarantineLocked(s *segment, to, fileSize int64, reason string) {
	s.damage = &quarantine{to: to, fileSize: fileSize, reason: reason}
	attrs := []any{"segment", s.prefix + logSuffix, "position", s.size, "file_size", fileSize, "reason", reason}
	if s.next < to {
		l.logger.Error("segment is damaged: quarantined, its readable batches are served, the rest is kept on disk and never served",
			append(attrs, "unreadable_from", s.next, "unreadable_to", to-1,
				"action", fmt.Sprintf("readers skip to offset %d; to accept the loss, delete records before it; to keep the data, restore the file from a replica or a backup", to))...)
		return
	}
	l.logger.Error("segment has bytes past its last batch: quarantined, every offset of it is still served, the extra bytes are kept on disk and never served", attrs...)
}

// unreadableLocked returns the unreadable range of segment s, if it has one
// above the log start.
func (l *Log) unreadableLocked(s *segment) (UnreadableRange, bool) {
	if s.damage == nil || s.damage.to <= max(s.next, l.logStart) {
		return UnreadableRange{}, false
	}
	return UnreadableRange{From: max(s.next, l.logStart), To: s.damage.to, Segment: s.prefix + logSuffix, Position: s.size, Reason: s.damage.reason}, true
}

// unreadableAtLocked returns the error for a read at offset when offset is
// in an unreadable range, nil otherwise.
func (l *Log) unreadableAtLocked(offset int64) error {
	s := l.segments[l.segmentForLocked(offset)]
	if r, ok := l.unreadableLocked(s); ok && offset >= r.From && offset < r.To {
		return &UnreadableRangeError{r}
	}
	return nil
}

// UnreadableRanges lists the ranges of offsets the log cannot read, oldest
// first (none for a healthy log). Operators see them in logs and metrics;
// reads in them get an *UnreadableRangeError.
func (l *Log) UnreadableRanges() []UnreadableRange {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []UnreadableRange
	for _, s := range l.segments {
		if r, ok := l.unreadableLocked(s); ok {
			out = append(out, r)
		}
	}
	return out
}

// verifySlots bounds how many segments are re-read at once (by reads that
// need a segment verified, or that found damage), so that the first reads
// after an open do not all hit the disk together.
var verifySlots = make(chan struct{}, 2)

// inspect re-reads segment s whole, checking every batch, when it is not
// verified yet or a read ran into bytes it could not parse, and quarantines
// it from its first bad batch when it is damaged (the active segment is
// rolled first, so that appends go on in a new one). It reports whether s is
// quarantined. The scan runs without the log's lock: the bytes it reads are
// below the segment's size, which never changes for a sealed segment and
// only grows for the active one.
func (l *Log) inspect(s *segment) (bool, error) {
	s.verifyMu.Lock()
	defer s.verifyMu.Unlock()
	l.mu.RLock()
	i := l.segmentIndexLocked(s)
	if i < 0 || s.damage != nil || l.closed {
		l.mu.RUnlock()
		return s.damage != nil, nil
	}
	f, base, end, limit := s.log, s.base, s.size, int64(-1)
	if i+1 < len(l.segments) {
		limit = l.segments[i+1].base // fixed while s is in the log
	}
	s.acquire()
	defer s.releaseRead()
	l.mu.RUnlock()

	verifySlots <- struct{}{}
	maxTS, offsetOfMaxTS := int64(-1), int64(-1)
	res, err := scanBatches(f, base, 0, base, end, limit, func(h *recordbatch.Header, _ []byte, _ int64) error {
		if h.MaxTimestamp > maxTS {
			maxTS, offsetOfMaxTS = h.MaxTimestamp, h.LastOffset()
		}
		return nil
	})
	<-verifySlots
	if err != nil {
		if s.deleted.Load() {
			return false, nil
		}
		return false, err
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	i = l.segmentIndexLocked(s)
	if i < 0 || s.damage != nil || l.closed {
		return s.damage != nil, nil
	}
	if res.bad == nil && (limit < 0 || res.next == limit) {
		s.verified = true
		return false, nil
	}
	if i == len(l.segments)-1 {
		if _, err := l.rollLocked(); err != nil {
			return false, err
		}
	}
	to := l.segments[i+1].base
	reason := fmt.Sprintf("batches end at offset %d, the next segment starts at %d", res.next, to)
	if res.bad != nil {
		reason = res.bad.Error()
	}
	fileSize := s.size
	if st, err := f.Stat(); err == nil {
		fileSize = st.Size()
	}
	s.size, s.next, s.verified = res.end, res.next, true
	s.maxTimestamp, s.offsetOfMaxTimestamp = maxTS, offsetOfMaxTS
	l.quarantineLocked(s, to, fileSize, reason)
	l.saveQuarantineLocked()
	return true, nil
}

// segmentIndexLocked returns the position of s in the log, -1 when it is no
// longer part of it.
func (l *Log) segmentIndexLocked(s *segment) int {
	for i, x := range l.segments {
		if x == s {
			return i
		}
	}
	return -1
}
