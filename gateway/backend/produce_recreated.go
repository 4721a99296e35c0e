package backend

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// unknownTopic says whether a produce failed because the producer's view of
// the topic is gone: the topic was deleted, or deleted and created again
// under the same name (a new topic ID, which franz-go refuses to adopt:
// produce v13+ names topics by ID, and it fails the old ID's records with
// UNKNOWN_TOPIC_ID until the topic is purged from the client).
func unknownTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition)
}

// purges remembers when each producer last forgot a topic, so that
// concurrent produces that all met the old topic purge it once: a purge
// fails the records buffered for the topic, those of produces that already
// went on to the new topic included.
type purges struct {
	mu   sync.Mutex
	last map[purgeKey]time.Time
}

type purgeKey struct {
	cl    *kgo.Client
	topic string
}

// forget makes cl drop what it holds of topic, unless it did so since
// since (a purge after since already dropped the state that failed).
func (p *purges) forget(cl *kgo.Client, topic string, since time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := purgeKey{cl, topic}
	if p.last[k].After(since) {
		return
	}
	if p.last == nil {
		p.last = make(map[purgeKey]time.Time)
	}
	cl.PurgeTopicsFromProducing(topic)
	p.last[k] = time.Now()
}

// relearnTopic is what a produce does when its records met an unknown
// topic: the producer forgets the topic, and fresh metadata says whether a
// topic of that name exists now (a *apierr.Error 404 when it does not).
// It returns the topic's partition count.
func (b *Backend) relearnTopic(ctx context.Context, cl *kgo.Client, topic string, since time.Time) (int32, error) {
	b.purged.forget(cl, topic, since)
	ts, err := b.topic(ctx, topic, true)
	if err != nil {
		return 0, err
	}
	return ts.meta.Partitions, nil
}
