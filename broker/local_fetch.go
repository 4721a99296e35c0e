package broker

import (
	"context"
)

// The in-process read path of a gateway that runs in the broker's process
// ("runnel dev"): the gateway's tail readers ask the broker with function
// calls instead of Kafka requests over loopback TCP. The requests go
// through the same handlers as the network's, as an internal caller
// (no SASL identity: everything is allowed), so that every semantic of a
// read (high watermark, log start, tiered reads below it, unreadable
// ranges, leadership and topic-ID checks) is the same.

// LocalPartition tells an in-process reader how to read partition of
// topic: known is false when this broker's metadata image has no such
// topic or partition; id is the topic's ID (for Fetch v13+); leads is true
// when this broker leads the partition, so that an in-process Fetch
// (HandleLocal) can serve it.
func (b *Broker) LocalPartition(topic string, partition int32) (id [16]byte, leads, known bool) {
	t, ok := b.member.Image().Topic(topic)
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return id, false, false
	}
	id = t.ID
	p, err := b.partitionFor(topic, partition)
	if err != nil || p.topicID != t.ID {
		return id, false, true
	}
	_, err = p.leaderState(-1)
	return id, err == nil, true
}

// WaitLocal waits while the high watermark of partition of topic is at
// offset: it returns once the high watermark passes offset, at once when
// it is already elsewhere (a read there answers without waiting: events, or
// an out-of-range error), and when this broker stops leading the
// partition, the log closes, or ctx ends. A read after it tells the
// caller which of these happened. It is the wait of a Fetch long poll
// without the fetch: an in-process tail reader waits on the log itself,
// then reads at once (HandleLocal).
func (b *Broker) WaitLocal(ctx context.Context, topic string, partition int32, offset int64) {
	p, err := b.partitionFor(topic, partition)
	if err != nil {
		return
	}
	for {
		st := p.state.Load()
		if !st.isLeader {
			return
		}
		hw, moved, err := p.log.WatchHighWatermark()
		if err != nil || hw != offset {
			return
		}
		select {
		case <-moved:
		case <-st.changed:
		case <-ctx.Done():
			return
		}
	}
}
