package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// errStaleFollow means the partition's leadership changed since its
// fetcher read the state it acted on: what it fetched or asked is dropped.
var errStaleFollow = errors.New("partition leadership changed since the fetch")

// followingLocked reports whether this broker still follows in epoch; the
// caller holds appendMu, which becomeLeader takes too, so no replica write of
// an old epoch lands after this broker took over.
func (p *partition) followingLocked(epoch int32) bool {
	st := p.state.Load()
	return !st.isLeader && st.leaderEpoch == epoch
}

// appendReplica appends the record batches a follower fetched from its
// leader in epoch, with their offsets and leader epochs unchanged. Only
// whole batches are appended (a fetch response may end partway through
// one); the log checks each batch's CRC and that the first continues its
// end. The producer state learns each batch, so that it is current if this
// broker becomes leader. It returns the bytes appended.
func (p *partition) appendReplica(records []byte, epoch int32) (int64, error) {
	whole := wholeBatches(records)
	if len(whole) == 0 {
		return 0, nil
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.followingLocked(epoch) {
		return 0, errStaleFollow
	}
	if _, err := p.log.AppendReplica(whole); err != nil {
		return 0, fmt.Errorf("append replica batches: %w", err)
	}
	for rest := whole; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			break // cannot happen: the log validated every batch
		}
		if h, err := recordbatch.ParseHeader(b); err == nil {
			p.producers.Update(h, h.BaseOffset)
		}
		rest = r
	}
	if base := p.log.ActiveSegmentBase(); base != p.activeBase {
		p.activeBase = base
		p.snapshotProducersLocked()
	}
	return int64(len(whole)), nil
}

// wholeBatches returns the prefix of buf made of whole batches.
func wholeBatches(buf []byte) []byte {
	n := 0
	for rest := buf; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			break
		}
		n += len(b)
		rest = r
	}
	return buf[:n]
}

// truncateReplica cuts a follower's log at offset (its divergent tail, as
// OffsetForLeaderEpoch showed) and brings the producer state back to it.
func (p *partition) truncateReplica(offset int64, epoch int32) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.followingLocked(epoch) {
		return errStaleFollow
	}
	end := p.log.Offsets().LogEnd
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	if offset >= end {
		return nil // no records went; at most epochs without records
	}
	if err := p.producers.TruncateTo(context.Background(), offset); err != nil {
		return fmt.Errorf("truncate producer state to %d: %w", offset, err)
	}
	p.activeBase = p.log.ActiveSegmentBase()
	p.logger.Warn("truncated the log to match the leader", "leader_epoch", epoch, "from", end, "to", offset)
	return nil
}

// restartReplicaAt empties a follower's log and starts it at offset, the
// leader's log start, when the follower's log ends below it.
func (p *partition) restartReplicaAt(offset int64, epoch int32) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.followingLocked(epoch) {
		return errStaleFollow
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return err
	}
	if err := p.producers.TruncateTo(context.Background(), 0); err != nil {
		return fmt.Errorf("reset producer state: %w", err)
	}
	p.activeBase = p.log.ActiveSegmentBase()
	p.logger.Warn("log ends below the leader's log start: emptied and restarted there", "leader_epoch", epoch, "offset", offset)
	return nil
}
