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

// HandleLocal serves one Kafka request in-process, as the client listener
// serves it for a connection without SASL (no identity: the caller, a
// gateway in the same process, has authorized the request itself), and
// returns the response message, nil when there is none (a produce with
// acks=0). The request's API and version must be ones the listener serves.
// A Fetch is served as over the network, its long poll included (ctx
// bounds it); its record batches are read out of the log files into the
// response, and the files are let go before HandleLocal returns.
func (b *Broker) HandleLocal(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	key, version := req.Key(), req.GetVersion()
	h, ok := apis[key]
	if !ok || h.adminOnly || version < h.versions.Min || version > h.versions.Max {
		return nil, fmt.Errorf("broker: %s v%d is not served in-process", kmsg.NameForKey(key), version)
	}
	resp, err := b.Handle(ctx, &kafkaserver.Request{Key: key, Version: version, Msg: req})
	if err != nil {
		return nil, fmt.Errorf("broker: in-process %s: %w", kmsg.NameForKey(key), err)
	}
	if resp == nil {
		return nil, nil
	}
	defer releaseResponse(resp)
	if fr, ok := resp.Msg.(*kmsg.FetchResponse); ok {
		if err := readSplices(resp, fr); err != nil {
			return nil, err
		}
	}
	if resp.Msg != nil {
		resp.Msg.SetVersion(version)
	}
	return resp.Msg, nil
}

// readSplices puts the bytes of the file regions spliced into fr, the
// message of resp, in place of their placeholders.
func readSplices(resp *kafkaserver.Response, fr *kmsg.FetchResponse) error {
	for i := range fr.Topics {
		for j := range fr.Topics[i].Partitions {
			rp := &fr.Topics[i].Partitions[j]
			data, spliced, err := resp.ReadSplice(rp.RecordBatches)
			if err != nil {
				return fmt.Errorf("broker: in-process fetch of %s/%d: %w", fr.Topics[i].Topic, rp.Partition, err)
			}
			if spliced {
				rp.RecordBatches = data
			}
		}
	}
	return nil
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
