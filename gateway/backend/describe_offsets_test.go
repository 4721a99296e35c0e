package backend

import (
	"fmt"
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
)

// A topic just created is described with offsets 0 in every partition,
// never -1: its partitions may not answer ListOffsets yet when their leaders
// have just been elected.
func TestCreatedTopicOffsetsAreNeverNegative(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	b := newBackend(t, c)
	ctx := testCtx(t)
	for i := range 20 {
		info, err := b.CreateTopic(ctx, TopicSpec{Name: fmt.Sprintf("fresh-%d", i), Partitions: 16, ReplicationFactor: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range info.Partitions {
			if p.LogStartOffset != 0 || p.HighWatermark != 0 {
				t.Fatalf("topic %s partition %d: log start %d, high watermark %d; want 0 and 0", info.Name, p.ID, p.LogStartOffset, p.HighWatermark)
			}
		}
	}
}
