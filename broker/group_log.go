package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/group"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// groupLog is the group coordinator's way to its partitions of
// __consumer_offsets (group.Log): appends go through the produce path
// (validation, leader epoch, acks=all), replays read the local log.
type groupLog struct{ b *Broker }

var _ group.Log = groupLog{}

// Append writes records as one batch and waits until the ISR has it.
func (l groupLog) Append(ctx context.Context, part int32, records []group.Record) (int64, error) {
	p, err := l.b.partitionFor(metadata.TopicConsumerOffsets, part)
	if err != nil {
		return -1, fmt.Errorf("offsets partition %d: %w", part, err)
	}
	now := time.Now()
	recs := make([]recordbatch.Record, len(records))
	for i, r := range records {
		recs[i] = recordbatch.Record{Key: r.Key, Value: r.Value, Timestamp: now.UnixMilli()}
	}
	raw, err := recordbatch.Build(recordbatch.BuildOptions{PartitionLeaderEpoch: -1}, recs)
	if err != nil {
		return -1, fmt.Errorf("offsets partition %d: build batch: %w", part, err)
	}
	batch, err := p.validateProduced(raw, 9, now)
	if err == nil {
		err = p.checkMinISR()
	}
	if err != nil {
		return -1, fmt.Errorf("offsets partition %d: %w", part, err)
	}
	out := []appendOutcome{{}}
	p.appendEach([]producedBatch{batch}, out)
	if out[0].err != nil {
		return -1, fmt.Errorf("offsets partition %d: append: %w", part, out[0].err)
	}
	if unsafeAcksAtAppend {
		return out[0].lastOffset, nil
	}
	if err := p.commit(ctx, out[0].lastOffset, out[0].leaderEpoch); err != nil {
		return -1, fmt.Errorf("offsets partition %d: %w", part, err)
	}
	return out[0].lastOffset, nil
}

// Replay reads the partition from its start to its end as of the call,
// then waits for the high watermark to pass that end: what was loaded is
// what the ISR has.
func (l groupLog) Replay(ctx context.Context, part int32, fn func(int64, group.Record)) error {
	tp := commitlog.TopicPartition{Topic: metadata.TopicConsumerOffsets, Partition: part}
	lg, ok := l.b.Log(tp)
	if !ok {
		return fmt.Errorf("offsets partition %d is not held here", part)
	}
	o := lg.Offsets()
	r := lg.NewReader(o.LogStart, commitlog.ToLogEnd)
	for r.Offset() < o.LogEnd {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("replay offsets partition %d at %d: %w", part, r.Offset(), err)
		}
		if rec.Offset >= o.LogEnd {
			break
		}
		fn(rec.Offset, group.Record{Key: rec.Key, Value: rec.Value})
	}
	if err := lg.WaitForHighWatermark(ctx, o.LogEnd-1); err != nil {
		return fmt.Errorf("replay offsets partition %d: wait for the high watermark: %w", part, err)
	}
	return nil
}

// syncGroups tells the coordinator which partitions of __consumer_offsets
// this broker leads now.
func (b *Broker) syncGroups(img *metadata.Image) {
	if b.groups == nil {
		return
	}
	t, ok := img.Topic(metadata.TopicConsumerOffsets)
	if !ok {
		b.groups.Sync(0, nil)
		return
	}
	led := map[int32]int32{}
	for _, mp := range t.Partitions {
		if mp.Leader != b.cfg.BrokerID {
			continue
		}
		if p, err := b.partitionFor(t.Name, mp.Index); err == nil && p.state.Load().isLeader {
			led[mp.Index] = mp.LeaderEpoch
		}
	}
	b.groups.Sync(int32(len(t.Partitions)), led)
}

// groupLogEnd is the high watermark of a partition this broker leads, for
// the lag metrics.
func (b *Broker) groupLogEnd(topic string, part int32) (int64, bool) {
	b.mu.RLock()
	p := b.parts[commitlog.TopicPartition{Topic: topic, Partition: part}]
	b.mu.RUnlock()
	if p == nil || !p.state.Load().isLeader {
		return 0, false
	}
	return p.log.Offsets().HighWatermark, true
}

// groupTopics is the cluster's topics for the coordinator's server-side
// (KIP-848) assignors.
func (b *Broker) groupTopics() []group.TopicInfo {
	topics := b.member.Image().Topics()
	out := make([]group.TopicInfo, 0, len(topics))
	for _, t := range topics {
		out = append(out, group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions))})
	}
	return out
}
