package broker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
)

// partition is one partition this broker holds a replica of.
//
// Lock order: appendMu, then the log's own lock (inside commitlog).
type partition struct {
	tp      commitlog.TopicPartition
	topicID uuid.UUID
	log     *commitlog.Log
	logger  *slog.Logger

	appendMu   sync.Mutex // serializes appends with the producer state
	producers  *producerTracker
	activeBase int64 // guarded by appendMu: the segment the last append went to

	state atomic.Pointer[partitionState]
}

// partitionState is what the metadata image says of the partition.
type partitionState struct {
	isLeader    bool
	leader      int32
	leaderEpoch int32
	replicas    []int32
	isr         []int32
	config      map[string]string
}

func newPartition(tp commitlog.TopicPartition, topicID uuid.UUID, l *commitlog.Log, logger *slog.Logger) (*partition, error) {
	p := &partition{tp: tp, topicID: topicID, log: l, logger: logger.With("partition", tp.String())}
	pt, err := newProducerTracker(l, p.logger)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", tp, err)
	}
	p.producers = pt
	p.activeBase = l.ActiveSegmentBase()
	p.state.Store(&partitionState{leader: -1, leaderEpoch: -1})
	return p, nil
}

// setState applies the image's view of the partition. When this broker
// becomes leader with a single-replica ISR, everything it has is committed.
func (p *partition) setState(self int32, config map[string]string, mp metadata.Partition) {
	st := &partitionState{
		isLeader: mp.Leader == self, leader: mp.Leader, leaderEpoch: mp.LeaderEpoch,
		replicas: slices.Clone(mp.Replicas), isr: slices.Clone(mp.ISR), config: config,
	}
	p.state.Store(st)
	if st.isLeader {
		p.advanceHighWatermark(st)
	}
}

// advanceHighWatermark moves the high watermark to what every ISR member has.
// Followers do not replicate yet, so only a leader alone in the ISR commits;
// this is where the ISR's fetch positions join when replication lands.
func (p *partition) advanceHighWatermark(st *partitionState) {
	if len(st.isr) == 1 && st.isr[0] == st.leader {
		p.log.SetHighWatermark(p.log.LogEndOffset())
	}
}

// leaderState returns the state if this broker leads the partition, checking a
// client's leader epoch when it sent one (-1 means none).
func (p *partition) leaderState(clientEpoch int32) (*partitionState, error) {
	st := p.state.Load()
	if !st.isLeader {
		return nil, errNotLeader
	}
	if clientEpoch >= 0 && clientEpoch < st.leaderEpoch {
		return nil, kerr.FencedLeaderEpoch
	}
	if clientEpoch > st.leaderEpoch {
		return nil, kerr.UnknownLeaderEpoch
	}
	return st, nil
}

// produceResult is the answer for one partition of a produce request.
type produceResult struct {
	baseOffset     int64
	logAppendTime  int64
	logStartOffset int64
}

// append writes a produce request's records as leader and, with acks=-1, waits
// until they are committed (the high watermark passes them).
func (p *partition) append(ctx context.Context, records []byte, acks int16) (produceResult, error) {
	st, err := p.leaderState(-1)
	if err != nil {
		return produceResult{}, err
	}
	p.appendMu.Lock()
	res, dup, err := p.producers.appendChecked(p.log, records, st.leaderEpoch)
	if err == nil && !dup && res.segmentBase != p.activeBase {
		// The log rolled: snapshot the producer state, as Kafka does, so a
		// crash replays at most about one segment of batch headers.
		p.activeBase = res.segmentBase
		if serr := p.producers.snapshot(p.log); serr != nil {
			p.logger.Warn("producer state snapshot", "error", serr)
		}
	}
	p.appendMu.Unlock()
	if err != nil {
		return produceResult{}, err
	}
	if !dup {
		p.advanceHighWatermark(st)
	}
	if acks == -1 {
		if err := p.log.WaitForHighWatermark(ctx, res.lastOffset); err != nil {
			return produceResult{}, fmt.Errorf("wait for in-sync replicas: %w", err)
		}
	}
	return produceResult{baseOffset: res.firstOffset, logAppendTime: -1, logStartOffset: p.log.LogStartOffset()}, nil
}

// snapshotProducers saves the producer state before a clean shutdown; the
// store closes the log itself.
func (p *partition) snapshotProducers() {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.producers.snapshot(p.log); err != nil {
		p.logger.Warn("producer state snapshot", "error", err)
	}
}
