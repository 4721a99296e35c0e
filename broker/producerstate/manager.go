package producerstate

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// HeaderScanner is the part of a partition log the Manager reads to rebuild
// state: *commitlog.Log implements it.
type HeaderScanner interface {
	// ScanHeaders calls fn with the header of every batch from the one
	// holding offset to the log end, in order.
	ScanHeaders(offset int64, fn func(recordbatch.Header) error) error
	// Offsets returns the log's start and end offsets.
	Offsets() commitlog.Offsets
}

var _ HeaderScanner = (*commitlog.Log)(nil)

// Manager holds the idempotent-producer state of one partition.
//
// The partition leader serializes Check, NewAppend/Append.Commit, Update,
// TakeSnapshot, TruncateTo and RemoveExpired, normally under the
// partition's append lock; they must not run concurrently with each other.
// Producer, Producers and Len may be called from any goroutine at any time.
//
// Lock order: mu is the only lock; no I/O and no callback runs under it.
type Manager struct {
	dir  string
	log  HeaderScanner
	opts Options

	mu        sync.RWMutex
	producers map[int64]*entry
	mapEnd    int64 // no applied batch reaches this offset
}

// Update records the batch h, written to the log with its first record at
// firstOffset, after a successful append of a batch Check accepted. Followers
// call it for every batch they replicate, without Check: the leader already
// checked them. A batch without a producer id changes no producer; it only
// moves the offset the state covers.
func (m *Manager) Update(h recordbatch.Header, firstOffset int64) {
	m.mu.Lock()
	m.applyLocked(&h, firstOffset)
	m.mu.Unlock()
}

func (m *Manager) applyLocked(h *recordbatch.Header, firstOffset int64) {
	m.mapEnd = max(m.mapEnd, applyTo(m.producers, h, firstOffset))
}

// applyTo records h in producers and returns the offset after the batch.
func applyTo(producers map[int64]*entry, h *recordbatch.Header, firstOffset int64) int64 {
	if h.ProducerID >= 0 {
		e := producers[h.ProducerID]
		if e == nil {
			e = &entry{epoch: h.ProducerEpoch}
			producers[h.ProducerID] = e
		}
		e.apply(h, firstOffset)
	}
	return firstOffset + int64(h.LastOffsetDelta) + 1
}

// Producer returns a copy of the state of producer id, and whether the
// partition knows it.
func (m *Manager) Producer(id int64) (ProducerState, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.producers[id]
	if !ok {
		return ProducerState{}, false
	}
	return e.state(id), true
}

// Producers returns a copy of every producer's state, by ascending id (for
// DescribeProducers and tools).
func (m *Manager) Producers() []ProducerState {
	m.mu.RLock()
	out := make([]ProducerState, 0, len(m.producers))
	for id, e := range m.producers {
		out = append(out, e.state(id))
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Len returns the number of producers the partition knows.
func (m *Manager) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.producers)
}

// RemoveExpired forgets every producer whose latest batch's max timestamp is
// Options.Expiration or more before now, and returns how many it forgot. The
// broker calls it periodically (Kafka's producer.id.expiration.check.interval.ms,
// ten minutes by default). A forgotten producer that writes again must start
// at sequence 0, like any unknown producer.
func (m *Manager) RemoveExpired(now time.Time) int {
	ms := now.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, e := range m.producers {
		if m.expired(e, ms) {
			delete(m.producers, id)
			n++
		}
	}
	return n
}

// expired measures idleness from the batch timestamp, not from the time of
// the append, as Kafka does: the timestamp is in the log, so state rebuilt
// from the log after a crash expires exactly as the state it replaces would
// have.
func (m *Manager) expired(e *entry, nowMs int64) bool {
	return nowMs-e.lastTimestamp >= m.opts.Expiration.Milliseconds()
}

// TruncateTo drops the state of batches at or above offset, after the log
// was (or before it is) truncated there, as a follower does to match its
// leader or a leader after an unclean election. Snapshots above offset are
// deleted; when batches above offset had been applied, the state is rebuilt
// from the latest snapshot at or below offset and the log up to offset. A
// rebuild cancelled through ctx leaves the state as it was: call again.
func (m *Manager) TruncateTo(ctx context.Context, offset int64) error {
	m.mu.RLock()
	end := m.mapEnd
	m.mu.RUnlock()
	if offset >= end {
		return m.removeSnapshotsAbove(offset)
	}
	return m.rebuild(ctx, offset)
}
