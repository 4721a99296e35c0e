package commitlog

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// ErrNoClosedSegment means no closed, readable segment starts at the
// requested base offset: it is the active segment, retention or truncation
// removed it, or it holds damaged data (quarantined, never copied). Look
// at Segments again.
var ErrNoClosedSegment = errors.New("no closed segment at that base offset")

// ClosedSegment is a rolled segment held open for copying elsewhere (the
// tiering uploader): its files stay readable, bytes unchanged, until
// Release, whatever retention, DeleteRecords or Close do meanwhile (the
// reference a Read holds, see FileSlice). The indexes are copied, trimmed
// to their entries, when it is opened.
type ClosedSegment struct {
	BaseOffset   int64
	EndOffset    int64 // the last offset it holds (inclusive)
	Size         int64 // bytes of the .log file
	MaxTimestamp int64 // largest batch max timestamp, -1 when none
	// Log reads the .log file's Size bytes.
	Log io.ReaderAt
	// Index and TimeIndex are the .index and .timeindex entries.
	Index, TimeIndex []byte
	// Epochs are the leader epochs that begin at or before EndOffset,
	// ascending (EncodeLeaderEpochCheckpoint lays them out as the log's
	// leader-epoch-checkpoint).
	Epochs []EpochEntry

	seg *segment
}

// Release drops the segment's file reference; the ClosedSegment must not be
// used afterwards. It is safe to call more than once.
func (c *ClosedSegment) Release() {
	if c.seg != nil {
		c.seg.releaseRead()
		c.seg = nil
	}
}

// OpenClosedSegment holds the closed segment starting at base open for
// copying. A segment not checked whole since the log opened is re-read
// first, so that only verified bytes are copied; a segment that holds
// damage, the active segment and an empty one are ErrNoClosedSegment.
func (l *Log) OpenClosedSegment(base int64) (*ClosedSegment, error) {
	for tries := 0; ; tries++ {
		c, check, err := l.openClosedSegment(base)
		if check == nil || tries == 2 {
			return c, err
		}
		if _, err := l.inspect(check); err != nil {
			return nil, fmt.Errorf("check segment %d: %w", base, err)
		}
	}
}

// openClosedSegment is OpenClosedSegment without re-reading: it returns
// the segment to check when it was not verified yet.
func (l *Log) openClosedSegment(base int64) (*ClosedSegment, *segment, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	i := slices.IndexFunc(l.segments, func(s *segment) bool { return s.base == base })
	if i < 0 || i == len(l.segments)-1 {
		return nil, nil, fmt.Errorf("%w: %d", ErrNoClosedSegment, base)
	}
	s := l.segments[i]
	if s.damage != nil || s.size == 0 || s.next <= s.base {
		return nil, nil, fmt.Errorf("%w: segment %d is damaged or empty", ErrNoClosedSegment, base)
	}
	if !s.verified {
		return nil, s, nil
	}
	end := s.next - 1
	var epochs []EpochEntry
	for _, e := range l.epochs.entries {
		if e.StartOffset <= end {
			epochs = append(epochs, e)
		}
	}
	s.acquire()
	return &ClosedSegment{
		BaseOffset: s.base, EndOffset: end, Size: s.size, MaxTimestamp: s.maxTimestamp,
		Log:       io.NewSectionReader(s.log, 0, s.size),
		Index:     slices.Clone(s.index.data[:s.index.n*s.index.entrySize]),
		TimeIndex: slices.Clone(s.tindex.data[:s.tindex.n*s.tindex.entrySize]),
		Epochs:    epochs, seg: s,
	}, nil, nil
}

// EncodeLeaderEpochCheckpoint lays out entries as a leader-epoch-checkpoint
// file (Kafka's text layout with a CRC-32C line, see checkpoint.go).
func EncodeLeaderEpochCheckpoint(entries []EpochEntry) []byte {
	return encodeCheckpoint(epochRows(entries))
}

// SetRemoteEnd tells a Tiered log the last offset its remote segments hold
// (-1 for none): retention may delete the local copies of segments ending
// at or below it. The broker calls it whenever the metadata changes, on
// every replica.
func (l *Log) SetRemoteEnd(offset int64) { l.remoteEnd.Store(offset) }

// RemoteEnd returns the offset SetRemoteEnd last gave, -1 before.
func (l *Log) RemoteEnd() int64 { return l.remoteEnd.Load() }
