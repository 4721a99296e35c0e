package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kerr"
)

func batchOf(t *testing.T, values ...string) []byte {
	return buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), values...)
}

// TestAcksAllWaitsForFollowers cuts the leader off from its followers
// (neither fenced nor out of the ISR yet: the lag limit is long): acks=1 is
// answered at once, acks=all times out with REQUEST_TIMED_OUT, and once the
// followers can fetch again acks=all is answered.
func TestAcksAllWaitsForFollowers(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{ReplicationProxies: true, ReplicaLagTimeMax: time.Minute})
	c.CreateReplicatedTopic("wait", 1, 3, nil)
	all, one := acksClient(c, -1), acksClient(c, 1)
	if rp := produceRaw(t, c, all, "wait", -1, 10*time.Second, batchOf(t, "a")); rp.ErrorCode != 0 {
		t.Fatalf("acks=all: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	li := int(partitionOf(t, c, "wait", 0).Leader - 1)
	c.Proxy(li).Block()
	if rp := produceRaw(t, c, one, "wait", 1, 10*time.Second, batchOf(t, "b")); rp.ErrorCode != 0 {
		t.Fatalf("acks=1 with followers cut off: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	start := time.Now()
	rp := produceRaw(t, c, all, "wait", -1, 1500*time.Millisecond, batchOf(t, "c"))
	if !errors.Is(kerr.ErrorForCode(rp.ErrorCode), kerr.RequestTimedOut) {
		t.Fatalf("acks=all with followers cut off answered %v after %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(rp.ErrorCode), time.Since(start))
	}
	if hw := logOf(t, c, li, "wait", 0).Offsets().HighWatermark; hw != 1 {
		t.Fatalf("high watermark %d with followers cut off, want 1", hw)
	}
	c.Proxy(li).Unblock()
	if rp := produceRaw(t, c, all, "wait", -1, 20*time.Second, batchOf(t, "d")); rp.ErrorCode != 0 {
		t.Fatalf("acks=all after the followers came back: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	waitReplicated(t, c, "wait", 0, 4)
}

// TestISRShrinkNotEnoughReplicasExpand cuts the leader off from both
// followers of a partition with min.insync.replicas=2: the leader drops
// them from the ISR within replica.lag.time.max.ms (+2 s), acks=all is then
// refused with NOT_ENOUGH_REPLICAS and nothing is written, acks=1 still is;
// once the followers fetch again they rejoin the ISR and acks=all works.
func TestISRShrinkNotEnoughReplicasExpand(t *testing.T) {
	const lag = time.Second
	c := brokertest.Start(t, 3, brokertest.Options{ReplicationProxies: true, ReplicaLagTimeMax: lag})
	two := "2"
	c.CreateReplicatedTopic("mis", 1, 3, map[string]*string{"min.insync.replicas": &two})
	all, one := acksClient(c, -1), acksClient(c, 1)
	if rp := produceRaw(t, c, all, "mis", -1, 10*time.Second, batchOf(t, "a")); rp.ErrorCode != 0 {
		t.Fatalf("acks=all: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	mp := partitionOf(t, c, "mis", 0)
	li := int(mp.Leader - 1)
	c.Proxy(li).Block()
	cut := time.Now()
	waitISR(t, c, "mis", 0, 1, lag+2*time.Second)
	t.Logf("ISR shrank to the leader %v after the followers were cut off", time.Since(cut))
	if v := gaugeValue(t, c.Metrics(li), "runnel_broker_isr_shrinks_total"); v < 1 {
		t.Errorf("isr shrinks counted %v", v)
	}
	if v := gaugeValue(t, c.Metrics(li), "runnel_broker_under_replicated_partitions"); v != 1 {
		t.Errorf("under-replicated partitions %v, want 1", v)
	}
	// The leader applies the image after its member: wait for it.
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		rp := produceRaw(t, c, all, "mis", -1, 10*time.Second, batchOf(t, "refused"))
		if err := kerr.ErrorForCode(rp.ErrorCode); !errors.Is(err, kerr.NotEnoughReplicas) {
			return fmt.Errorf("acks=all with one in-sync replica: %v, want NOT_ENOUGH_REPLICAS", err)
		}
		return nil
	})
	l := logOf(t, c, li, "mis", 0)
	if end := l.Offsets().LogEnd; end != 1 {
		t.Fatalf("log end %d after refused produces, want 1: a refused batch was written", end)
	}
	if rp := produceRaw(t, c, one, "mis", 1, 10*time.Second, batchOf(t, "b")); rp.ErrorCode != 0 {
		t.Fatalf("acks=1 with one in-sync replica: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	// Each cut-off follower lacks the record just written.
	if v := gaugeValue(t, c.Metrics(li), "runnel_broker_follower_lag_messages"); v < 2 {
		t.Errorf("follower lag %v messages in all, want at least 1 per follower", v)
	}
	if v := gaugeValue(t, c.Metrics(li), "runnel_broker_follower_lag_seconds"); v < 2*lag.Seconds() {
		t.Errorf("follower lag %v seconds in all, want at least %v per follower", v, lag.Seconds())
	}
	c.Proxy(li).Unblock()
	waitISR(t, c, "mis", 0, 3, 30*time.Second)
	if v := gaugeValue(t, c.Metrics(li), "runnel_broker_isr_expands_total"); v < 1 {
		t.Errorf("isr expands counted %v", v)
	}
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		rp := produceRaw(t, c, all, "mis", -1, 10*time.Second, batchOf(t, "c"))
		return kerr.ErrorForCode(rp.ErrorCode)
	})
	waitReplicated(t, c, "mis", 0, 3)
	if vals := valuesOf(t, logBytes(t, l)); !slices.Equal(vals, []string{"a", "b", "c"}) {
		t.Fatalf("log %q, want a b c", vals)
	}
}

// TestNotEnoughReplicasAfterAppend: an acks=all produce accepted with a
// full ISR waits while the followers are cut off; the leader drops them
// from the ISR, which commits the records on the leader alone, and the
// produce is answered NOT_ENOUGH_REPLICAS_AFTER_APPEND
// (min.insync.replicas=3), not as a success.
func TestNotEnoughReplicasAfterAppend(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{ReplicationProxies: true, ReplicaLagTimeMax: time.Second})
	three := "3"
	c.CreateReplicatedTopic("after", 1, 3, map[string]*string{"min.insync.replicas": &three})
	all := acksClient(c, -1)
	if rp := produceRaw(t, c, all, "after", -1, 10*time.Second, batchOf(t, "a")); rp.ErrorCode != 0 {
		t.Fatalf("acks=all with a full ISR: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	li := int(partitionOf(t, c, "after", 0).Leader - 1)
	c.Proxy(li).Block()
	rp := produceRaw(t, c, all, "after", -1, 20*time.Second, batchOf(t, "b"))
	if err := kerr.ErrorForCode(rp.ErrorCode); !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("acks=all while the ISR shrank below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
	}
	if isr := partitionOf(t, c, "after", 0).ISR; len(isr) != 1 {
		t.Fatalf("ISR %v, want the leader alone", isr)
	}
}

// TestBrokerMinInsyncReplicasDefault: the broker's min.insync.replicas
// applies to topics that do not set their own (Kafka's broker default),
// DescribeConfigs reports it as the default, and a topic's own value wins.
func TestBrokerMinInsyncReplicasDefault(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{MinInsyncReplicas: 2})
	one := "1"
	c.CreateTopic("inherits", 1, nil)
	c.CreateTopic("own", 1, map[string]*string{"min.insync.replicas": &one})
	all := acksClient(c, -1)
	rp := produceRaw(t, c, all, "inherits", -1, 10*time.Second, batchOf(t, "refused"))
	if err := kerr.ErrorForCode(rp.ErrorCode); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all on RF=1 with the broker's min.insync.replicas=2: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	if end := logOf(t, c, 0, "inherits", 0).Offsets().LogEnd; end != 0 {
		t.Fatalf("log end %d after a refused produce, want 0", end)
	}
	if rp := produceRaw(t, c, all, "own", -1, 10*time.Second, batchOf(t, "a")); rp.ErrorCode != 0 {
		t.Fatalf("acks=all on a topic with min.insync.replicas=1: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	rc, err := c.Admin().DescribeTopicConfigs(t.Context(), "inherits")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rc.On("inherits", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cfg.Configs {
		if e.Key == "min.insync.replicas" {
			if e.MaybeValue() != "2" {
				t.Fatalf("DescribeConfigs min.insync.replicas = %q, want the broker's 2", e.MaybeValue())
			}
			return
		}
	}
	t.Fatal("DescribeConfigs left out min.insync.replicas")
}
