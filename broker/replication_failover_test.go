package broker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDivergentTailTruncatedAfterLeaderChange cuts a leader off from its
// followers, has it append records only it holds (acks=1), and checks that
// its high watermark stays where its followers were. Then the leader goes,
// a follower takes over and commits other records, and the old leader, back
// as a follower, truncates its divergent tail and holds exactly the new
// leader's log.
func TestDivergentTailTruncatedAfterLeaderChange(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{ReplicationProxies: true})
	c.CreateReplicatedTopic("div", 1, 3, nil)
	cl, cl1 := acksClient(c, -1), acksClient(c, 1)
	for i := range 3 {
		if rp := produceRaw(t, c, cl, "div", -1, 10*time.Second, buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), fmt.Sprintf("committed-%d", i))); rp.ErrorCode != 0 {
			t.Fatalf("acks=all produce: %v", kerr.ErrorForCode(rp.ErrorCode))
		}
	}
	waitReplicated(t, c, "div", 0, 3)
	old := partitionOf(t, c, "div", 0)
	oi := int(old.Leader - 1)

	c.Proxy(oi).Block()
	for i := range 4 {
		if rp := produceRaw(t, c, cl1, "div", 1, 10*time.Second, buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), fmt.Sprintf("divergent-%d", i))); rp.ErrorCode != 0 {
			t.Fatalf("acks=1 produce: %v", kerr.ErrorForCode(rp.ErrorCode))
		}
	}
	ol := logOf(t, c, oi, "div", 0)
	if o := ol.Offsets(); o.LogEnd != 7 || o.HighWatermark != 3 {
		t.Fatalf("cut-off leader: log end %d, high watermark %d; want 7 and 3 (its followers have 3)", o.LogEnd, o.HighWatermark)
	}

	c.Stop(oi)
	var now metadata.Partition
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		now = partitionOf(t, c, "div", 0)
		if now.Leader == old.Leader || now.Leader < 0 || now.LeaderEpoch <= old.LeaderEpoch {
			return fmt.Errorf("leader %d epoch %d", now.Leader, now.LeaderEpoch)
		}
		return nil
	})
	for i := range 2 {
		var rp = produceRaw(t, c, cl, "div", -1, 10*time.Second, buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), fmt.Sprintf("new-leader-%d", i)))
		if rp.ErrorCode != 0 {
			// The client may still route to the old leader's address once.
			testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
				rp = produceRaw(t, c, cl, "div", -1, 10*time.Second, buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), fmt.Sprintf("new-leader-%d", i)))
				return kerr.ErrorForCode(rp.ErrorCode)
			})
		}
	}
	c.Proxy(oi).Unblock()
	c.Restart(oi)
	waitReplicated(t, c, "div", 0, 5)
	vals := valuesOf(t, logBytes(t, logOf(t, c, oi, "div", 0)))
	want := []string{"committed-0", "committed-1", "committed-2", "new-leader-0", "new-leader-1"}
	if !slices.Equal(vals, want) {
		t.Fatalf("old leader's log after it rejoined: %q, want %q", vals, want)
	}
	for _, v := range vals {
		if strings.HasPrefix(v, "divergent") {
			t.Fatalf("divergent record %q kept", v)
		}
	}
}

// TestIdempotenceSurvivesLeaderChange writes an idempotent producer's batch
// and an Idempotency-Keyed batch through the leader, stops the leader, and
// sends both again to the new leader: it answers each with the first
// write's offset and writes nothing, because it learned the producer's
// sequence and the key from the replicated log.
func TestIdempotenceSurvivesLeaderChange(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{SessionTimeout: 2 * time.Second})
	c.CreateReplicatedTopic("idem", 1, 3, nil)
	cl := acksClient(c, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ipid := kmsg.NewPtrInitProducerIDRequest()
	ipid.TransactionTimeoutMillis = 60000
	presp, err := ipid.RequestWith(ctx, cl)
	if err != nil || presp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, kerr.ErrorForCode(presp.ErrorCode))
	}
	prod := func(seq int32, v string) []byte {
		b, err := recordbatch.Build(recordbatch.BuildOptions{Producer: &recordbatch.Producer{ID: presp.ProducerID, Epoch: presp.ProducerEpoch, BaseSequence: seq}},
			[]recordbatch.Record{{Value: []byte(v), Timestamp: time.Now().UnixMilli()}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	keyed := func(v string) []byte {
		b, err := recordbatch.Build(recordbatch.BuildOptions{}, []recordbatch.Record{{Value: []byte(v), Timestamp: time.Now().UnixMilli(),
			Headers: []recordbatch.RecordHeader{{Key: kafkaext.IdempotencyKeyHeader, Value: []byte("key-1")}}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := produceRaw(t, c, cl, "idem", -1, 10*time.Second, prod(0, "p0"))
	firstKeyed := produceRaw(t, c, cl, "idem", -1, 10*time.Second, keyed("k0"))
	if first.ErrorCode != 0 || firstKeyed.ErrorCode != 0 {
		t.Fatalf("first writes: %v, %v", kerr.ErrorForCode(first.ErrorCode), kerr.ErrorForCode(firstKeyed.ErrorCode))
	}
	waitReplicated(t, c, "idem", 0, 2)
	old := partitionOf(t, c, "idem", 0)
	c.Stop(int(old.Leader - 1))
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		now := partitionOf(t, c, "idem", 0)
		if now.Leader == old.Leader || now.Leader < 0 {
			return fmt.Errorf("leader %d", now.Leader)
		}
		// Wait until the new leader answers as leader.
		rp := produceRaw(t, c, cl, "idem", -1, 10*time.Second, prod(0, "p0"))
		if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
			return err
		}
		if rp.BaseOffset != first.BaseOffset {
			t.Fatalf("retried idempotent batch answered at offset %d, first written at %d", rp.BaseOffset, first.BaseOffset)
		}
		return nil
	})
	if rp := produceRaw(t, c, cl, "idem", -1, 10*time.Second, keyed("k0")); rp.ErrorCode != 0 || rp.BaseOffset != firstKeyed.BaseOffset {
		t.Fatalf("retried keyed batch: %v at offset %d, first written at %d", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset, firstKeyed.BaseOffset)
	}
	if rp := produceRaw(t, c, cl, "idem", -1, 10*time.Second, prod(1, "p1")); rp.ErrorCode != 0 || rp.BaseOffset != 2 {
		t.Fatalf("next idempotent batch: %v at offset %d, want 2", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}
	now := partitionOf(t, c, "idem", 0)
	if vals := valuesOf(t, logBytes(t, logOf(t, c, int(now.Leader-1), "idem", 0))); !slices.Equal(vals, []string{"p0", "k0", "p1"}) {
		t.Fatalf("new leader's log %q, want p0 k0 p1", vals)
	}
}

// TestProduceConsumeAcrossLeaderLoss keeps an idempotent franz-go producer
// (acks=all) writing to a topic with replication factor 3 and
// min.insync.replicas=2 while the partition's leader stops: the client
// follows the metadata to the new leader, every record is acknowledged, and
// a consumer reads each exactly once, in order.
func TestProduceConsumeAcrossLeaderLoss(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{SessionTimeout: 2 * time.Second})
	two := "2"
	c.CreateReplicatedTopic("loss", 1, 3, map[string]*string{"min.insync.replicas": &two})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("loss"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 2000
	acked := make(chan int, n)
	for i := range n {
		if i == n/2 {
			// Half are in flight or acknowledged: stop the leader.
			for len(acked) < n/4 {
				time.Sleep(time.Millisecond)
			}
			c.Stop(int(partitionOf(t, c, "loss", 0).Leader - 1))
		}
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%05d", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("record %d: %v", i, err)
			}
			acked <- i
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consumer := c.Client(kgo.ConsumeTopics("loss"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := 0
	for next < n {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("%05d", next); string(r.Value) != want {
				t.Fatalf("offset %d holds %q, want %q: a record lost, duplicated or out of order", r.Offset, r.Value, want)
			}
			next++
		})
	}
}
