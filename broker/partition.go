package broker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/idemwindow"
	"github.com/runnel-dev/runnel/broker/recordbatch"
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
	// idem remembers recent HTTP Idempotency-Keys; Check, the append and
	// Record run under appendMu. It is rebuilt from the log tail on the
	// first keyed append (idemLoaded), so that opening a broker with many
	// partitions does not read every partition's tail.
	idem       *idemwindow.Index
	idemLoaded bool

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
	rules       recordbatch.ProduceRules // what produced batches must follow, but the clock
}

func newPartition(tp commitlog.TopicPartition, topicID uuid.UUID, l *commitlog.Log, logger *slog.Logger) (*partition, error) {
	p := &partition{tp: tp, topicID: topicID, log: l, logger: logger.With("partition", tp.String())}
	pt, err := newProducerTracker(l, p.logger)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", tp, err)
	}
	p.producers = pt
	p.activeBase = l.ActiveSegmentBase()
	if p.idem, err = idemwindow.New(idemwindow.Options{}); err != nil {
		return nil, fmt.Errorf("partition %s: %w", tp, err)
	}
	p.state.Store(&partitionState{leader: -1, leaderEpoch: -1})
	return p, nil
}

// setState applies the image's view of the partition. When this broker
// becomes leader with a single-replica ISR, everything it has is committed.
func (p *partition) setState(self int32, config map[string]string, mp metadata.Partition) {
	st := &partitionState{
		isLeader: mp.Leader == self, leader: mp.Leader, leaderEpoch: mp.LeaderEpoch,
		replicas: slices.Clone(mp.Replicas), isr: slices.Clone(mp.ISR), config: config,
		rules: produceRules(config),
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

// appendEach writes the records of several produce requests as leader, in
// order, as one append each would, and fills out with a result or an error
// per set. Sets of plain (non-idempotent) producers that arrived together are
// written to the log at once. Waiting for acks=-1 is the caller's (commit).
// On a LogAppendTime topic it returns the broker time stamped into the
// batches, otherwise -1.
func (p *partition) appendEach(sets [][]byte, out []appendOutcome) (logAppendTime int64) {
	st, err := p.leaderState(-1)
	if err != nil {
		for i := range out {
			out[i] = appendOutcome{err: err}
		}
		return -1
	}
	p.appendMu.Lock()
	logAppendTime = -1
	if st.rules.LogAppendTime {
		// The broker's clock, read under the append lock as Kafka does,
		// stands for every record's timestamp.
		logAppendTime = time.Now().UnixMilli()
		for _, set := range sets {
			recordbatch.SetMaxTimestamp(set, recordbatch.TimestampLogAppend, logAppendTime)
		}
	}
	p.appendKeyedLocked(sets, out, st.leaderEpoch)
	wrote, rolled := false, false
	for _, o := range out {
		if o.err == nil && !o.dup {
			wrote = true
			if o.res.segmentBase != p.activeBase {
				p.activeBase, rolled = o.res.segmentBase, true
			}
		}
	}
	if rolled {
		// The log rolled: snapshot the producer state, as Kafka does, so a
		// crash replays at most about one segment of batch headers.
		if serr := p.producers.snapshot(p.log); serr != nil {
			p.logger.Warn("producer state snapshot", "error", serr)
		}
	}
	p.appendMu.Unlock()
	if wrote {
		p.advanceHighWatermark(st)
	}
	return logAppendTime
}

// appendKeyedLocked is producers.appendEach with HTTP Idempotency-Keys: a
// set whose first batch carries a key already in the window is answered with
// the original offsets as a duplicate and not written; a keyed set that is
// written is remembered. Runs of unkeyed sets go to appendEach together.
func (p *partition) appendKeyedLocked(sets [][]byte, out []appendOutcome, leaderEpoch int32) {
	for i := 0; i < len(sets); {
		key, keyed := idemwindow.FirstKey(sets[i])
		if !keyed {
			j := i + 1
			for j < len(sets) {
				if _, ok := idemwindow.FirstKey(sets[j]); ok {
					break
				}
				j++
			}
			p.producers.appendEach(p.log, sets[i:j], leaderEpoch, out[i:j])
			i = j
			continue
		}
		if !p.idemLoaded {
			p.idemLoaded = true
			if n, err := p.idem.Rebuild(p.log); err != nil {
				// Keys found so far are kept; older retries may be
				// written again.
				p.logger.Warn("idempotency keys: rebuild from the log tail", "keys", n, "error", err)
			}
		}
		if e, ok := p.idem.Check(key); ok {
			out[i] = appendOutcome{res: appended{e.BaseOffset, e.LastOffset, -1}, dup: true}
		} else {
			p.producers.appendEach(p.log, sets[i:i+1], leaderEpoch, out[i:i+1])
			if o := out[i]; o.err == nil && !o.dup {
				p.idem.Record(key, o.res.firstOffset, o.res.lastOffset)
			}
		}
		i++
	}
}

// commit waits, for acks=-1, until the high watermark passes lastOffset: every
// in-sync replica has the records.
func (p *partition) commit(ctx context.Context, lastOffset int64) error {
	if err := p.log.WaitForHighWatermark(ctx, lastOffset); err != nil {
		return fmt.Errorf("wait for in-sync replicas: %w", err)
	}
	return nil
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
