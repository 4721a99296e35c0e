package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchingReplica returns the broker id of the follower sending req, or -1
// for a consumer. Fetch v15 carries it in ReplicaState with the follower's
// broker epoch (KIP-903): a fetch quoting an epoch the image does not give
// that broker is refused (STALE_BROKER_EPOCH), so a follower's previous
// incarnation cannot count as caught up.
func (b *Broker) fetchingReplica(img *metadata.Image, req *kmsg.FetchRequest) (int32, error) {
	id, epoch := req.ReplicaID, int64(-1)
	if req.Version >= 15 {
		id, epoch = req.ReplicaState.ID, req.ReplicaState.Epoch
	}
	if id <= 0 {
		// Runnel broker ids are positive. Consumers leave ReplicaState, a
		// tagged field, out; decoded into a zero struct it reads as 0.
		return -1, nil
	}
	br, ok := img.Broker(id)
	if !ok {
		return -1, fmt.Errorf("%w: replica fetch from broker %d, which the metadata does not know (yet)", kerr.StaleBrokerEpoch, id)
	}
	if epoch >= 0 && uint64(epoch) != br.Epoch {
		return -1, fmt.Errorf("%w: broker %d fetches with epoch %d, the metadata has %d", kerr.StaleBrokerEpoch, id, epoch, br.Epoch)
	}
	return id, nil
}

// followerFetched records that follower id fetched p at fetchOffset (its
// log end) as leader in st's epoch, moves the high watermark, and wakes the
// ISR checker when the follower may rejoin. It returns the high watermark
// to answer with, -1 when the fetch was not counted.
func (b *Broker) followerFetched(p *partition, st *partitionState, id int32, fetchOffset int64) int64 {
	o := p.log.Offsets()
	if !p.repl.fetched(st.leaderEpoch, id, fetchOffset, o.LogEnd, time.Now()) {
		return -1
	}
	p.maybeAdvanceHighWatermark()
	hw := p.log.Offsets().HighWatermark
	if !contains(st.isr, id) && fetchOffset >= hw {
		b.pokeISR()
	}
	return hw
}

// pokeISR asks the ISR checker to look now.
func (b *Broker) pokeISR() {
	select {
	case b.isrWake <- struct{}{}:
	default:
	}
}

// isrCheckInterval is how often leaders look for followers to move in or
// out of their ISRs: half of replica.lag.time.max.ms, at most a second.
func isrCheckInterval(lagMax time.Duration) time.Duration {
	return max(min(lagMax/2, time.Second), 10*time.Millisecond)
}

// runISRChecks shrinks and expands the ISRs of the partitions this broker
// leads, one AlterPartition at a time.
func (b *Broker) runISRChecks() {
	defer b.wg.Done()
	t := time.NewTicker(isrCheckInterval(b.cfg.ReplicaLagTimeMax))
	defer t.Stop()
	// A request to the controller in flight ends when the broker closes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.isrWake:
		}
		for _, p := range b.partitionsSorted() {
			select {
			case <-b.stop:
				return
			default:
			}
			b.checkISR(ctx, p)
		}
	}
}

// checkISR asks the controller to drop from p's ISR the followers that
// have not caught up for replica.lag.time.max.ms, or else to add those that
// reached the high watermark (and the start of this leader's epoch) and are
// not fenced (Kafka's maybeShrinkIsr and maybeExpandIsr). A refusal because
// this broker no longer leads in its epoch fences the partition's leader
// state: the acks=all produces waiting on it fail instead of ever being
// acknowledged.
func (b *Broker) checkISR(ctx context.Context, p *partition) {
	st := p.state.Load()
	if !st.isLeader || p.repl.isFenced() {
		return
	}
	now := time.Now()
	isr, kind := st.isr, ""
	if out := p.repl.lagging(p.self, st.isr, st.lagMax, now); len(out) > 0 {
		isr = slices.DeleteFunc(slices.Clone(st.isr), func(id int32) bool { return slices.Contains(out, id) })
		kind = "shrink"
	} else {
		img := b.member.Image()
		var in []int32
		for _, id := range p.repl.caughtUp(st.isr, p.log.Offsets().HighWatermark, st.lagMax, now) {
			if br, ok := img.Broker(id); ok && !br.Fenced {
				in = append(in, id)
			}
		}
		if len(in) == 0 {
			return
		}
		isr = append(slices.Clone(st.isr), in...)
		kind = "expand"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := b.member.AlterPartition(ctx, controller.AlterPartitionRequest{
		BrokerID: b.cfg.BrokerID, BrokerEpoch: b.member.BrokerEpoch(), TopicID: p.topicID, Partition: p.tp.Partition,
		LeaderEpoch: st.leaderEpoch, PartitionEpoch: st.partitionEpoch, ISR: isr,
	})
	switch {
	case err == nil:
		b.log.Info("ISR changed", "partition", p.tp.String(), "change", kind, "from", st.isr, "to", isr, "leader_epoch", st.leaderEpoch)
		if kind == "shrink" {
			b.repMetrics.isrShrinks.Inc()
		} else {
			b.repMetrics.isrExpands.Inc()
		}
	case errors.Is(err, controller.ErrFencedLeaderEpoch), errors.Is(err, controller.ErrNotLeader), errors.Is(err, metadata.ErrStaleBrokerEpoch):
		if p.repl.fence(st.leaderEpoch) {
			b.log.Warn("controller refused this leader's ISR change: no longer leading in this epoch; waiting produces fail", "partition", p.tp.String(), "leader_epoch", st.leaderEpoch, "error", err)
			p.notifyWaiters()
		}
	default:
		// A stale partition epoch (the image is about to change) or an
		// unreachable controller: the next check tries again.
		b.log.Debug("ISR change not made", "partition", p.tp.String(), "change", kind, "isr", isr, "error", err)
	}
}
