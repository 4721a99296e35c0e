package broker

import (
	"context"
	"fmt"

	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/twmb/franz-go/pkg/kmsg"
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
// when this broker leads the partition, so that FetchLocal can serve it.
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

// FetchLocal serves a Fetch request in-process, as the Kafka listener
// serves one (its long poll included), and returns its answer with every
// partition's record batches read into memory: no file region of the
// answer is held after it returns. ctx bounds the long poll.
func (b *Broker) FetchLocal(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	resp, err := b.serveLocal(ctx, req)
	if err != nil {
		return nil, err
	}
	defer releaseResponse(resp)
	fr, ok := resp.Msg.(*kmsg.FetchResponse)
	if !ok {
		return nil, fmt.Errorf("broker: local fetch answered with %T", resp.Msg)
	}
	for i := range fr.Topics {
		for j := range fr.Topics[i].Partitions {
			rp := &fr.Topics[i].Partitions[j]
			data, spliced, err := resp.ReadSplice(rp.RecordBatches)
			if err != nil {
				return nil, fmt.Errorf("broker: local fetch of %s/%d: %w", fr.Topics[i].Topic, rp.Partition, err)
			}
			if spliced {
				rp.RecordBatches = data
			}
		}
	}
	return fr, nil
}

// ListOffsetsLocal serves a ListOffsets request in-process, as the Kafka
// listener serves one.
func (b *Broker) ListOffsetsLocal(ctx context.Context, req *kmsg.ListOffsetsRequest) (*kmsg.ListOffsetsResponse, error) {
	resp, err := b.serveLocal(ctx, req)
	if err != nil {
		return nil, err
	}
	defer releaseResponse(resp)
	lr, ok := resp.Msg.(*kmsg.ListOffsetsResponse)
	if !ok {
		return nil, fmt.Errorf("broker: local list offsets answered with %T", resp.Msg)
	}
	return lr, nil
}

// WaitLocal waits while the high watermark of partition of topic is at
// offset: it returns once the high watermark passes offset, at once when
// it is already elsewhere (a read there answers without waiting: events, or
// an out-of-range error), and when this broker stops leading the
// partition, the log closes, or ctx ends. A read after it tells the
// caller which of these happened. It is the wait of a Fetch long poll
// without the fetch: an in-process tail reader waits on the log itself,
// then reads with FetchLocal at once.
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

// serveLocal serves req through the broker's handler for its API, at the
// request's version, which the broker must support.
func (b *Broker) serveLocal(ctx context.Context, req kmsg.Request) (*kafkaserver.Response, error) {
	key, version := req.Key(), req.GetVersion()
	h, ok := apis[key]
	if !ok || version < h.versions.Min || version > h.versions.Max {
		return nil, fmt.Errorf("broker: %s v%d is not served", kmsg.NameForKey(key), version)
	}
	resp, err := b.Handle(ctx, &kafkaserver.Request{Key: key, Version: version, Msg: req})
	if err != nil {
		return nil, fmt.Errorf("broker: local %s: %w", kmsg.NameForKey(key), err)
	}
	if resp == nil || resp.Msg == nil {
		return nil, fmt.Errorf("broker: local %s: no answer", kmsg.NameForKey(key))
	}
	return resp, nil
}
