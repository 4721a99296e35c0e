package broker

import (
	"bytes"
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
	"github.com/runnel-dev/runnel/broker/producerstate"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/runnel-dev/runnel/internal/plural"
)

// partition is one partition this broker holds a replica of.
//
// Lock order: appendMu, then the log's own lock (inside commitlog).
type partition struct {
	tp      commitlog.TopicPartition
	topicID uuid.UUID
	log     partitionLog
	logger  *slog.Logger

	appendMu   sync.Mutex // serializes appends with the producer state; guards the fields below
	producers  *producerstate.Manager
	activeBase int64 // the segment the last append went to
	// idem remembers recent HTTP Idempotency-Keys. It is rebuilt from the
	// log tail on the first keyed append (idemLoaded), so that opening a
	// broker with many partitions does not read every partition's tail.
	idem       *idemwindow.Index
	idemLoaded bool
	// run, valid and infos are appendLocked's scratch space.
	run   []int
	valid []commitlog.ValidBatch
	infos []commitlog.AppendInfo

	state atomic.Pointer[partitionState]
	// leaderHW is the high watermark the leader last reported to this
	// follower (DescribeLogDirs' offset lag).
	leaderHW atomic.Int64

	self          int32         // this broker's id
	lagMax        time.Duration // the broker's replica.lag.time.max.ms, unless the topic sets it
	minISRDefault int           // the broker's min.insync.replicas, unless the topic sets it
	repl          leaderReplicas
	replicas      *replicaManager // where a follower's partition is fetched; nil in handler tests without peers
}

// partitionState is what the metadata image says of the partition.
type partitionState struct {
	isLeader    bool
	leader      int32
	leaderEpoch int32
	// partitionEpoch is the image's partition epoch, quoted in
	// AlterPartition.
	partitionEpoch int32
	replicas       []int32
	isr            []int32
	config         map[string]string
	rules          recordbatch.ProduceRules // what produced batches must follow, but the clock
	minISR         int                      // min.insync.replicas
	lagMax         time.Duration            // replica.lag.time.max.ms
	// changed is closed when this state is replaced: acks=all waiters
	// wake to see whether they still lead.
	changed chan struct{}
}

func newPartition(tp commitlog.TopicPartition, topicID uuid.UUID, l partitionLog, logger *slog.Logger) (*partition, error) {
	p := &partition{tp: tp, topicID: topicID, log: l, logger: logger.With("partition", tp.String()), self: -1, lagMax: DefaultReplicaLagTimeMax, minISRDefault: defaultMinInsyncReplicas}
	p.repl.epoch = -1
	m, err := loadProducers(l, p.logger)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", tp, err)
	}
	p.producers = m
	p.activeBase = l.ActiveSegmentBase()
	if p.idem, err = idemwindow.New(idemwindow.Options{}); err != nil {
		return nil, fmt.Errorf("partition %s: %w", tp, err)
	}
	p.state.Store(&partitionState{leader: -1, leaderEpoch: -1, changed: make(chan struct{})})
	return p, nil
}

// setState applies the image's view of the partition. A broker that
// becomes leader (or leads in a new epoch) records the epoch's start in the
// leader-epoch checkpoint, forgets what it knew of its followers, and
// rebuilds its Idempotency-Key window from the log on first use (a follower
// replicated keyed batches it never indexed); one that becomes or stays a
// follower hands the partition to the fetcher of its leader. The high
// watermark of a leader starts where it was (checkpointed, or learned as a
// follower) and moves as its ISR fetches.
func (p *partition) setState(self int32, config map[string]string, mp metadata.Partition) {
	st := &partitionState{
		isLeader: mp.Leader == self, leader: mp.Leader, leaderEpoch: mp.LeaderEpoch, partitionEpoch: mp.PartitionEpoch,
		replicas: slices.Clone(mp.Replicas), isr: slices.Clone(mp.ISR), config: config,
		rules: produceRules(config), minISR: minInsyncReplicas(config, p.minISRDefault), lagMax: replicaLagTimeMax(config, p.lagMax),
		changed: make(chan struct{}),
	}
	setRemoteEnd(p.log, mp)
	old := p.state.Swap(st)
	close(old.changed)
	switch {
	case st.isLeader && (!old.isLeader || old.leaderEpoch != st.leaderEpoch):
		p.becomeLeader(st)
	case !st.isLeader && old.isLeader:
		p.repl.clear()
	}
	if p.replicas != nil {
		if !st.isLeader && st.leader >= 0 {
			p.replicas.follow(p, st.leader, st.leaderEpoch)
		} else {
			p.replicas.unfollow(p)
		}
	}
	if st.isLeader {
		p.maybeAdvanceHighWatermark()
	}
}

// becomeLeader starts leader epoch st.leaderEpoch on this broker.
func (p *partition) becomeLeader(st *partitionState) {
	if p.replicas != nil {
		p.replicas.unfollow(p)
	}
	// No replica append of the old epoch runs past this point: they hold
	// appendMu and check the state under it.
	p.appendMu.Lock()
	if err := p.log.AssignLeaderEpoch(st.leaderEpoch); err != nil {
		p.logger.Error("record leader epoch start", "epoch", st.leaderEpoch, "error", err)
	}
	if idem, err := idemwindow.New(idemwindow.Options{}); err == nil {
		p.idem, p.idemLoaded = idem, false
	}
	leo := p.log.Offsets().LogEnd
	p.appendMu.Unlock()
	p.repl.reset(st.leaderEpoch, p.self, st.replicas, st.isr, leo, time.Now())
	p.logger.Info("leading partition", "leader_epoch", st.leaderEpoch, "isr", st.isr, "log_end", leo, "high_watermark", p.log.Offsets().HighWatermark)
}

// maybeAdvanceHighWatermark moves the high watermark of a leader to what
// every ISR member has; it never moves back.
func (p *partition) maybeAdvanceHighWatermark() {
	st := p.state.Load()
	if !st.isLeader {
		return
	}
	if hw := p.repl.highWatermark(p.self, st.isr, p.log.Offsets().LogEnd); hw >= 0 {
		p.log.AdvanceHighWatermark(hw)
	}
}

// notifyWaiters wakes the acks=all waiters of the partition without a
// change of the image's state (the controller refused this leader's epoch).
func (p *partition) notifyWaiters() {
	for {
		st := p.state.Load()
		cp := *st
		cp.changed = make(chan struct{})
		if p.state.CompareAndSwap(st, &cp) {
			close(st.changed)
			return
		}
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

// appendOutcome is where one produced batch went, or why it did not.
type appendOutcome struct {
	firstOffset, lastOffset int64
	segmentBase             int64 // the segment written to; -1 for a duplicate
	dup                     bool  // a retry answered with the original's offsets, nothing written
	leaderEpoch             int32 // the epoch this broker led in when it answered
	err                     error
}

// appendEach writes the batches of several produce requests for this
// partition (one each, in arrival order) as leader, as appending them one
// after another would, and fills out with an outcome per batch. Waiting for
// acks=-1 is the caller's (commit). On a LogAppendTime topic it returns the
// broker time stamped into the batches, otherwise -1.
func (p *partition) appendEach(batches []producedBatch, out []appendOutcome) (logAppendTime int64) {
	st, err := p.leaderState(-1)
	if err != nil {
		for i := range out {
			out[i] = appendOutcome{err: err}
		}
		return -1
	}
	p.appendMu.Lock()
	if cur := p.state.Load(); !cur.isLeader || cur.leaderEpoch != st.leaderEpoch {
		// Leadership moved while this waited for the lock.
		p.appendMu.Unlock()
		for i := range out {
			out[i] = appendOutcome{err: errNotLeader}
		}
		return -1
	}
	logAppendTime = -1
	if st.rules.LogAppendTime {
		// The broker's clock, read under the append lock as Kafka does,
		// stands for every record's timestamp.
		logAppendTime = time.Now().UnixMilli()
		for i := range batches {
			b := &batches[i]
			recordbatch.SetMaxTimestamp(b.Bytes, &b.Header, recordbatch.TimestampLogAppend, logAppendTime)
		}
	}
	p.appendLocked(batches, out, st.leaderEpoch)
	for i := range out {
		out[i].leaderEpoch = st.leaderEpoch
	}
	wrote, rolled := false, false
	for _, o := range out {
		if o.err == nil && !o.dup {
			wrote = true
			if o.segmentBase != p.activeBase {
				p.activeBase, rolled = o.segmentBase, true
			}
		}
	}
	if rolled {
		// The log rolled: snapshot the producer state, as Kafka does, so a
		// crash replays at most about one segment of batch headers.
		p.snapshotProducersLocked()
	}
	p.appendMu.Unlock()
	if wrote {
		p.maybeAdvanceHighWatermark()
	}
	return logAppendTime
}

// appendLocked is where the produce path decides what is written together.
// Each batch is first checked against what was written before it: a retry
// of an idempotent producer's batch (same sequence and epoch) or of an HTTP
// produce (same Idempotency-Key) is answered with the original's offsets and
// not written, and a batch its producer's state refuses (a sequence gap, a
// stale epoch) gets the refusal. The batches that pass go to the log in
// runs, each one vectored write (the log splits it where a segment rolls).
// A run holds at most one batch per idempotent producer and per key: a
// batch repeating one of the run ends the run before it, so that it is
// checked against the written run, exactly as if every batch were appended
// alone. The caller holds appendMu.
func (p *partition) appendLocked(batches []producedBatch, out []appendOutcome, leaderEpoch int32) {
	run := p.run[:0]
	for i := range batches {
		b := &batches[i]
		if (b.keyed() || b.Header.ProducerID >= 0) && repeatsRun(batches, run, b) {
			p.writeRunLocked(batches, run, out, leaderEpoch)
			run = run[:0]
		}
		if b.keyed() {
			p.loadIdemLocked()
			if e, ok := p.idem.Check(b.key); ok {
				out[i] = appendOutcome{firstOffset: e.BaseOffset, lastOffset: e.LastOffset, segmentBase: -1, dup: true}
				continue
			}
		}
		d, err := p.producers.Check(b.Header)
		switch {
		case err != nil:
			out[i] = appendOutcome{err: err}
			continue
		case d.Duplicate:
			out[i] = appendOutcome{firstOffset: d.Original.FirstOffset, lastOffset: d.Original.LastOffset, segmentBase: -1, dup: true}
			continue
		}
		run = append(run, i)
	}
	p.writeRunLocked(batches, run, out, leaderEpoch)
	p.run = run[:0]
}

// repeatsRun reports whether b has the producer id or the Idempotency-Key
// of a batch in run.
func repeatsRun(batches []producedBatch, run []int, b *producedBatch) bool {
	for _, j := range run {
		o := &batches[j]
		if b.Header.ProducerID >= 0 && o.Header.ProducerID == b.Header.ProducerID ||
			b.keyed() && o.keyed() && bytes.Equal(o.key, b.key) {
			return true
		}
	}
	return false
}

// writeRunLocked appends the batches of run with one call to the log and
// records what was written in the producer state and the key window.
func (p *partition) writeRunLocked(batches []producedBatch, run []int, out []appendOutcome, leaderEpoch int32) {
	if len(run) == 0 {
		return
	}
	p.valid = p.valid[:0]
	for _, i := range run {
		p.valid = append(p.valid, batches[i].ValidBatch)
	}
	p.infos = slices.Grow(p.infos[:0], len(run))[:len(run)]
	n, err := p.log.AppendBatches(p.valid, leaderEpoch, p.infos)
	for k, i := range run {
		if k >= n {
			out[i] = appendOutcome{err: err}
			continue
		}
		info, h := &p.infos[k], &p.valid[k].Header // h has the offset the log gave it
		p.producers.Update(*h, h.BaseOffset)
		if b := &batches[i]; b.keyed() {
			p.idem.Record(b.key, info.FirstOffset, info.LastOffset)
		}
		out[i] = appendOutcome{firstOffset: info.FirstOffset, lastOffset: info.LastOffset, segmentBase: info.SegmentBase}
	}
	clear(p.valid) // keep no request's bytes alive
}

// loadIdemLocked rebuilds the Idempotency-Key window from the log tail
// before its first use.
func (p *partition) loadIdemLocked() {
	if p.idemLoaded {
		return
	}
	p.idemLoaded = true
	if n, err := p.idem.Rebuild(p.log); err != nil {
		// Keys found so far are kept; older retries may be written again.
		p.logger.Warn("idempotency keys: rebuild from the log tail", "keys", n, "error", err)
	}
}

// checkMinISR refuses an acks=-1 produce before anything is appended when
// the ISR is smaller than min.insync.replicas (NOT_ENOUGH_REPLICAS).
//
// A leader whose epoch the controller refused is no leader for acks=-1.
func (p *partition) checkMinISR() error {
	st := p.state.Load()
	if st.isLeader && p.repl.isFenced() {
		return fmt.Errorf("%w: the controller refused leader epoch %d of %s", errNotLeader, st.leaderEpoch, p.tp)
	}
	if st.isLeader && len(st.isr) < st.minISR {
		return fmt.Errorf("%w: partition %s has %s %v; min.insync.replicas is %d", kerr.NotEnoughReplicas, p.tp, plural.Noun(len(st.isr), "in-sync replica"), st.isr, st.minISR)
	}
	return nil
}

// commit waits, for acks=-1, until the high watermark passes lastOffset:
// every in-sync replica has the records. It fails when this broker stops
// leading, when the controller refused its epoch (a leader cut off from
// its followers must never acknowledge), and with
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
// min.insync.replicas meanwhile.
//
// The records were appended (or found) in leaderEpoch: should this broker
// have lost and regained the leadership meanwhile, its log may hold other
// records at those offsets now, so the wait fails unless it still leads in
// that epoch.
func (p *partition) commit(ctx context.Context, lastOffset int64, leaderEpoch int32) error {
	for {
		st, done, err := p.committed(lastOffset, leaderEpoch)
		if done || err != nil {
			return err
		}
		hw, moved, err := p.log.WatchHighWatermark()
		if err != nil {
			return fmt.Errorf("wait for in-sync replicas: %w", err)
		}
		if hw > lastOffset {
			continue // it moved since committed looked
		}
		select {
		case <-moved:
		case <-st.changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for in-sync replicas: %w", ctx.Err())
		}
	}
}

// committed is commit without the wait: done when the records up to
// lastOffset are committed, an error when they cannot be in leaderEpoch,
// and the state it judged by.
func (p *partition) committed(lastOffset int64, leaderEpoch int32) (st *partitionState, done bool, err error) {
	st = p.state.Load()
	if !st.isLeader || st.leaderEpoch != leaderEpoch || p.repl.isFenced() {
		return st, false, fmt.Errorf("wait for in-sync replicas: %w", errNotLeader)
	}
	if p.log.Offsets().HighWatermark <= lastOffset {
		return st, false, nil
	}
	if len(st.isr) < st.minISR {
		return st, false, fmt.Errorf("%w: the ISR %v shrank below min.insync.replicas %d", kerr.NotEnoughReplicasAfterAppend, st.isr, st.minISR)
	}
	return st, true, nil
}

// snapshotProducers saves the producer state before a clean shutdown; the
// store closes the log itself.
func (p *partition) snapshotProducers() {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.snapshotProducersLocked()
}

// snapshotProducersLocked writes the producer state at the log end.
func (p *partition) snapshotProducersLocked() {
	if err := p.producers.TakeSnapshot(p.log.Offsets().LogEnd); err != nil {
		p.logger.Warn("producer state snapshot", "error", err)
	}
}
