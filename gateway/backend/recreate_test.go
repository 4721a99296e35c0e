package backend

import (
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
)

// A topic deleted and created again under the same name takes produces at
// once: the producers' metadata of the old topic must not make the new one
// look unknown (topic_not_found) until it ages out.
func TestProduceToRecreatedTopic(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	// In process too: the broker's own view of the topic decides there.
	for _, path := range producePaths(c) {
		t.Run(path.name, func(t *testing.T) {
			b := newBackend(t, c, path.mod)
			ctx := testCtx(t)
			for _, acks := range []Acks{AcksAll, AcksLeader} {
				if _, err := b.CreateTopic(ctx, TopicSpec{Name: "again", Partitions: 2}); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Produce(ctx, "again", acks, values(4, -1, "old"), ""); err != nil {
					t.Fatalf("acks=%d: produce to the first topic: %v", acks, err)
				}
				if err := b.DeleteTopic(ctx, "again"); err != nil {
					t.Fatal(err)
				}
				if _, err := b.CreateTopic(ctx, TopicSpec{Name: "again", Partitions: 2}); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				res, err := b.Produce(ctx, "again", acks, values(4, -1, "new"), "")
				if err == nil {
					_, err = b.Produce(ctx, "again", acks, values(1, 1, "keyed"), fmt.Sprintf("key-%d", acks))
				}
				if err != nil {
					t.Fatalf("acks=%d: produce to the re-created topic after %v: %v", acks, time.Since(start), err)
				}
				for _, r := range res {
					if r.Offset < 0 || r.Offset > 3 {
						t.Errorf("acks=%d: event at offset %d of the new topic", acks, r.Offset)
					}
				}
				if err := b.DeleteTopic(ctx, "again"); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
