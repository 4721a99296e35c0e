package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListOffsetsFollowsLeadership answers ListOffsets (earliest, latest,
// max timestamp, by timestamp) on a partition whose leadership the test
// moves with metadata records: while another broker leads it the answer is
// NOT_LEADER_OR_FOLLOWER, and once this broker leads it again, at a higher
// leader epoch, a client's older epoch is FENCED_LEADER_EPOCH and a newer
// one UNKNOWN_LEADER_EPOCH. It runs on in-memory metadata, without raft.
func TestListOffsetsFollowsLeadership(t *testing.T) {
	b := brokertest.StartBroker(t, brokertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Member.RegisterBroker(ctx, 2, "127.0.0.1:1", ""); err != nil {
		t.Fatal(err)
	}
	// Replicas 1 and 2, led by 1 alone in the ISR: what CreateTopics does
	// not make while replication is refused, set directly.
	if err := b.Member.Apply(metadata.Record{TopicCreated: &metadata.TopicCreated{
		Name: "moving", ID: [16]byte{1, 6: 0x40, 8: 0x80},
		Partitions: []metadata.PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}},
	}}); err != nil {
		t.Fatal(err)
	}
	raw := newRawKafka(b)
	now := time.Now().Add(-time.Minute).UnixMilli()
	for i, batch := range []struct {
		ts     int64
		values []string
	}{{now, []string{"a", "b"}}, {now + 20, []string{"c"}}, {now + 10, []string{"d", "e"}}} {
		// Until the broker opened the partition it is not its leader yet.
		testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
			rp := raw.produce(t, 9, "moving", 0, buildBatch(t, recordbatch.BuildOptions{}, batch.ts, batch.values...))
			if rp.ErrorCode != 0 {
				return fmt.Errorf("produce %d: %v", i, kerr.ErrorForCode(rp.ErrorCode))
			}
			return nil
		})
	}

	list := func(epoch int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version, req.ReplicaID = 7, -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "moving"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.Timestamp = epoch, ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.Client().Broker(1).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	for _, c := range []struct {
		ts, offset, timestamp int64
	}{
		{-2, 0, -1},             // earliest
		{-1, 5, -1},             // latest: the high watermark
		{-3, 2, now + 20},       // max timestamp: "c"
		{now + 15, 2, now + 20}, // the first record at or after a time: "c"
		{now + 30, -1, -1},      // none
	} {
		if p := list(0, c.ts); p.ErrorCode != 0 || p.Offset != c.offset || p.Timestamp != c.timestamp || p.LeaderEpoch != 0 {
			t.Errorf("list offsets at %d: %v offset %d timestamp %d epoch %d, want offset %d timestamp %d epoch 0",
				c.ts, kerr.ErrorForCode(p.ErrorCode), p.Offset, p.Timestamp, p.LeaderEpoch, c.offset, c.timestamp)
		}
	}

	// Another broker takes over: the broker follows the image.
	if _, err := b.Member.SetPartition("moving", 0, 2, []int32{2}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if p := list(-1, -1); p.ErrorCode != kerr.NotLeaderForPartition.Code {
			return fmt.Errorf("led by broker 2: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		return nil
	})
	// It comes back at leader epoch 2.
	mp, err := b.Member.SetPartition("moving", 0, 1, []int32{1})
	if err != nil {
		t.Fatal(err)
	}
	if mp.LeaderEpoch != 2 {
		t.Fatalf("leader epoch %d after two leader changes, want 2", mp.LeaderEpoch)
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if p := list(2, -1); p.ErrorCode != 0 || p.Offset != 5 || p.LeaderEpoch != 2 {
			return fmt.Errorf("led again by broker 1: %v offset %d epoch %d", kerr.ErrorForCode(p.ErrorCode), p.Offset, p.LeaderEpoch)
		}
		return nil
	})
	if p := list(0, -1); p.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Errorf("client at leader epoch 0: %v, want FENCED_LEADER_EPOCH", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := list(3, -1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("client at leader epoch 3: %v, want UNKNOWN_LEADER_EPOCH", kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestListOffsetsMaxTimestampRecord asks for timestamp -3 (max timestamp)
// after batches whose records' timestamps go 0, +50, +10: the answer is the
// record with the max timestamp (offset 1 in the first batch), not the
// batch's last record, as Kafka 3.8+ answers (KAFKA-16310); the same in a
// gzip batch and after a later batch with smaller timestamps.
func TestListOffsetsMaxTimestampRecord(t *testing.T) {
	b := brokertest.StartBroker(t, brokertest.Options{})
	b.CreateTopic("maxts", 2, nil)
	raw := newRawKafka(b)
	base := time.Now().Add(-time.Hour).UnixMilli()
	batch := func(codec recordbatch.Codec, deltas ...int64) []byte {
		recs := make([]recordbatch.Record, len(deltas))
		for i, d := range deltas {
			recs[i] = recordbatch.Record{Value: []byte(fmt.Sprint(d)), Timestamp: base + d}
		}
		out, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec}, recs)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for p, codec := range []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecGzip} {
		for _, deltas := range [][]int64{{0, 50, 10}, {1, 2}} {
			if rp := raw.produce(t, 9, "maxts", int32(p), batch(codec, deltas...)); rp.ErrorCode != 0 {
				t.Fatalf("produce to partition %d: %v", p, kerr.ErrorForCode(rp.ErrorCode))
			}
		}
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version, req.ReplicaID = 7, -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "maxts"
	for p := int32(0); p < 2; p++ {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -3, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), b.Client())
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 || rp.Offset != 1 || rp.Timestamp != base+50 {
			t.Errorf("partition %d: max timestamp %v offset %d timestamp %d, want offset 1 timestamp %d",
				rp.Partition, kerr.ErrorForCode(rp.ErrorCode), rp.Offset, rp.Timestamp, base+50)
		}
	}
}
