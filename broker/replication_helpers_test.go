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
		leader := logOf(t, c, int(mp.Leader-1), topic, index)
		lo := leader.Offsets()
		if lo.LogEnd < minEnd {
			return fmt.Errorf("leader log end %d < %d", lo.LogEnd, minEnd)
		}
		want := logBytes(t, leader)
		for _, r := range mp.Replicas {
			if c.Nodes[r-1] == nil || r == mp.Leader {
				continue
			}
			l := logOf(t, c, int(r-1), topic, index)
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
