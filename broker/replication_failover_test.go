package broker_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/twmb/franz-go/pkg/kerr"
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
