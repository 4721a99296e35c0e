package broker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestTierReplicaRetention runs a tiered topic with two replicas while the
// store fails: neither the leader nor the follower deletes a local segment
// although local.retention.bytes wants all but the last gone, because none
// is uploaded. Once the store is back, both trim to what is remote.
func TestTierReplicaRetention(t *testing.T) {
	store := newFailingStore(t)
	c := brokertest.Start(t, 2, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "runnel/test"}, RetentionCheckInterval: 20 * time.Millisecond})
	seg, on, local := "16384", "true", "1"
	c.CreateReplicatedTopic("tiered", 1, 2, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": &on, "local.retention.bytes": &local})
	waitISR(t, c, "tiered", 0, 2, 30*time.Second)
	cl := c.Client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := context.Background()
	for i := range 20 {
		values := make([]string, 20)
		for j := range values {
			values[j] = fmt.Sprintf("%04d-%s", i*20+j, strings.Repeat("v", 500))
		}
		for _, err := range produceSync(ctx, cl, "tiered", values...) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	end := logOf(t, c, 0, "tiered", 0).LogEndOffset()
	waitReplicated(t, c, "tiered", 0, end)
	for i := range 2 {
		if n := len(logOf(t, c, i, "tiered", 0).Segments()); n < 5 {
			t.Fatalf("node %d: %d segments, want many", i+1, n)
		}
	}
	time.Sleep(200 * time.Millisecond) // ten retention passes on each broker
	for i := range 2 {
		if start := logOf(t, c, i, "tiered", 0).LogStartOffset(); start != 0 {
			t.Fatalf("node %d deleted local segments (log start %d) while nothing is uploaded", i+1, start)
		}
	}
	store.failing.Store(false)
	testwait.For(t, 60*time.Second, 20*time.Millisecond, func() error {
		remoteEnd := partitionOf(t, c, "tiered", 0).RemoteEndOffset()
		for i := range 2 {
			l := logOf(t, c, i, "tiered", 0)
			if start := l.LogStartOffset(); start > remoteEnd+1 {
				t.Fatalf("node %d: local log start %d past the remote end %d", i+1, start, remoteEnd)
			}
			if n := len(l.Segments()); n > 2 {
				return fmt.Errorf("node %d holds %d segments", i+1, n)
			}
		}
		return nil
	})
}
