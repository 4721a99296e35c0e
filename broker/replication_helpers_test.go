package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionOf returns the image's view of a partition, from a running node.
func partitionOf(t *testing.T, c *brokertest.Cluster, topic string, index int32) metadata.Partition {
	t.Helper()
	for _, n := range c.Nodes {
		if n == nil {
			continue
		}
		if tp, ok := n.Member.Image().Topic(topic); ok && int(index) < len(tp.Partitions) {
			return tp.Partitions[index]
		}
	}
	t.Fatalf("topic %s partition %d not in any image", topic, index)
	return metadata.Partition{}
}

// logOf returns node i's log of a partition.
func logOf(t *testing.T, c *brokertest.Cluster, i int, topic string, index int32) *commitlog.Log {
	t.Helper()
	l, ok := c.Nodes[i].Broker.Log(commitlog.TopicPartition{Topic: topic, Partition: index})
	if !ok {
		t.Fatalf("node %d has no log of %s-%d", i+1, topic, index)
	}
	return l
}

// logBytes reads every batch of l up to its log end.
func logBytes(t *testing.T, l *commitlog.Log) []byte {
	t.Helper()
	var out []byte
	o := l.Offsets()
	for off := o.LogStart; off < o.LogEnd; {
		b, _, err := l.ReadBatches(off, 1<<20, commitlog.ToLogEnd) // released by ReadBatches
		if err != nil {
			t.Fatalf("read %s at %d: %v", l.Dir(), off, err)
		}
		if len(b) == 0 {
			break
		}
		out = append(out, b...)
		next, err := nextOffsetAfter(b)
		if err != nil {
			t.Fatal(err)
		}
		off = next
	}
	return out
}

// waitReplicated waits until every running replica of the partition has
// the same log as the leader up to the leader's log end, at least minEnd.
func waitReplicated(t *testing.T, c *brokertest.Cluster, topic string, index int32, minEnd int64) {
	t.Helper()
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		mp := partitionOf(t, c, topic, index)
		if mp.Leader < 1 || c.Nodes[mp.Leader-1] == nil {
			return fmt.Errorf("no running leader: %d", mp.Leader)
		}
		leader, ok := c.Nodes[mp.Leader-1].Broker.Log(commitlog.TopicPartition{Topic: topic, Partition: index})
		if !ok {
			return fmt.Errorf("leader %d has not opened the partition", mp.Leader)
		}
		lo := leader.Offsets()
		if lo.LogEnd < minEnd {
			return fmt.Errorf("leader log end %d < %d", lo.LogEnd, minEnd)
		}
		want := logBytes(t, leader)
		for _, r := range mp.Replicas {
			if c.Nodes[r-1] == nil || r == mp.Leader {
				continue
			}
			l, ok := c.Nodes[r-1].Broker.Log(commitlog.TopicPartition{Topic: topic, Partition: index})
			if !ok {
				return fmt.Errorf("replica %d has not opened the partition", r)
			}
			if got := l.Offsets().LogEnd; got != lo.LogEnd {
				return fmt.Errorf("replica %d log end %d, leader %d", r, got, lo.LogEnd)
			}
			if !bytes.Equal(logBytes(t, l), want) {
				return fmt.Errorf("replica %d log differs from the leader's", r)
			}
		}
		return nil
	})
}

// produceSync produces values to topic partition 0 with acks=all and
// returns the errors per record.
func produceSync(ctx context.Context, cl *kgo.Client, topic string, values ...string) []error {
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Value: []byte(v)}
	}
	res := cl.ProduceSync(ctx, recs...)
	errs := make([]error, len(res))
	for i, r := range res {
		errs[i] = r.Err
	}
	return errs
}

// waitISR waits until the partition's ISR in the image has n members.
func waitISR(t *testing.T, c *brokertest.Cluster, topic string, index int32, n int, timeout time.Duration) metadata.Partition {
	t.Helper()
	var mp metadata.Partition
	testwait.For(t, timeout, 20*time.Millisecond, func() error {
		mp = partitionOf(t, c, topic, index)
		if len(mp.ISR) != n {
			return fmt.Errorf("ISR %v, want %d members", mp.ISR, n)
		}
		return nil
	})
	return mp
}

// nextOffsetAfter returns the offset after the last batch of b.
func nextOffsetAfter(b []byte) (int64, error) {
	var next int64
	for rest := b; len(rest) > 0; {
		batch, r, err := recordbatch.Next(rest)
		if err != nil {
			return 0, err
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			return 0, err
		}
		next = h.NextOffset()
		rest = r
	}
	return next, nil
}

// acksClient returns a client of c whose produce requests carry acks
// (franz-go rewrites a raw request's acks to its own setting).
func acksClient(c *brokertest.Cluster, acks int16) *kgo.Client {
	if acks == -1 {
		return c.Client()
	}
	return c.Client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
}

// produceRaw sends one produce request for partition 0 of topic with the
// given acks (cl's, from acksClient) and timeout to the partition's leader
// in the metadata of c, and returns the partition's answer.
func produceRaw(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, topic string, acks int16, timeout time.Duration, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, int32(timeout/time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+15*time.Second)
	defer cancel()
	leader := partitionOf(t, c, topic, 0).Leader
	kr, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		t.Fatalf("produce to broker %d: %v", leader, err)
	}
	resp := kr.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce answered %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// valuesOf decodes the record values of every batch in b.
func valuesOf(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for rest := b; len(rest) > 0; {
		batch, r, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := recordbatch.DecodeRecords(nil, batch, recordbatch.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			out = append(out, string(rec.Value))
		}
		rest = r
	}
	return out
}
