package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReplicationReplicatesAndConsumes produces with acks=all to a topic
// with replication factor 3 and checks that both followers hold the
// leader's log byte for byte, that a consumer reads everything, and that
// the bytes the leader sent followers with sendfile equal the bytes the
// followers appended.
func TestReplicationReplicatesAndConsumes(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.CreateReplicatedTopic("rep", 1, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("rep"), kgo.RequiredAcks(kgo.AllISRAcks()))
	const n = 500
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%04d", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, c, "rep", 0, n)

	consumer := c.Client(kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < n; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("v%04d", r.Offset); string(r.Value) != want {
				t.Fatalf("offset %d: %q, want %q", r.Offset, r.Value, want)
			}
			got++
		})
	}

	mp := partitionOf(t, c, "rep", 0)
	size := logOf(t, c, int(mp.Leader-1), "rep", 0).Size()
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		var sent, appended float64
		for i := range 3 {
			sent += gaugeValue(t, c.Metrics(i), "runnel_broker_replica_fetch_sendfile_bytes_total")
			appended += gaugeValue(t, c.Metrics(i), "runnel_broker_replica_appended_bytes_total")
		}
		if sent != appended || appended != float64(2*size) {
			return fmt.Errorf("leader sent %v bytes to followers with sendfile, followers appended %v, want both %d (twice the log)", sent, appended, 2*size)
		}
		return nil
	})
	for i := range 3 {
		if hw := logOf(t, c, i, "rep", 0).Offsets().HighWatermark; hw != n && int32(i+1) == mp.Leader {
			t.Errorf("leader high watermark %d, want %d", hw, n)
		}
	}
}
