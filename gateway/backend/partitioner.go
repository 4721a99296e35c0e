package backend

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/gateway/event"
)

// keyHasher partitions a key as Kafka's Java client does:
// toPositive(murmur2(key)) % n. franz-go's StickyKeyPartitioner with no
// hasher is exactly that for keyed records. It is made once: ForTopic
// seeds a random source (for keyless records, never given to it here),
// which costs far more than the hash. For keyed records its Partition is a
// pure function, safe for concurrent use.
var keyHasher = kgo.StickyKeyPartitioner(nil).ForTopic("")

// keyRecords carry a key to keyHasher: a record given to an interface
// method escapes, and a kgo.Record is a few hundred bytes to allocate per
// keyed event.
var keyRecords = sync.Pool{New: func() any { return new(kgo.Record) }}

// keyPartition returns the partition of key among n.
func keyPartition(key []byte, n int32) int32 {
	r := keyRecords.Get().(*kgo.Record)
	r.Key = key
	p := keyHasher.Partition(r, int(n))
	r.Key = nil
	keyRecords.Put(r)
	return int32(p)
}

// eventPartition returns the partition of e among n, as the partitioner
// chooses it: the one e names, else its key's, else spread's next.
func eventPartition(e *event.Event, n int32, spread func() int32) int32 {
	switch {
	case e.Partition >= 0:
		return e.Partition
	case e.Key != nil:
		return keyPartition(e.Key, n)
	}
	return spread()
}

// partitioner is the producers' kgo.Partitioner. Records reach it with
// Partition set to the client's choice, or -1 to let the key choose
// (murmur2) or, without a key, to go round-robin over the writable
// partitions, so that a request's keyless events spread evenly.
type partitioner struct{}

func (partitioner) ForTopic(string) kgo.TopicPartitioner {
	return &topicPartitioner{}
}

// topicPartitioner is used by one record at a time (kgo's guarantee), so its
// counter needs no lock.
type topicPartitioner struct {
	next int
}

func (*topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || r.Key != nil
}

func (tp *topicPartitioner) Partition(r *kgo.Record, n int) int {
	switch {
	case r.Partition >= 0:
		if int(r.Partition) >= n {
			// Backend checked the partition against fresher metadata
			// than the client has: say so, so that Produce answers 503
			// instead of a confusing failure.
			if c := callOf(r); c != nil {
				c.stale.Store(true)
			}
			return -1
		}
		if c := callOf(r); c != nil {
			c.bound(r.Partition)
		}
		return int(r.Partition)
	case r.Key != nil:
		p := keyPartition(r.Key, int32(n))
		if c := callOf(r); c != nil {
			c.bound(p)
		}
		return int(p)
	default:
		// franz-go offers keyless records only the partitions that have
		// a leader, unless none has; a record it gives back is sent
		// again with the partition it was put in (produceBatched), and
		// is bound to it then.
		tp.next = (tp.next + 1) % n
		return tp.next
	}
}

// produceCall is what the partitioner reports back to one Produce call,
// through the records' context.
type produceCall struct {
	stale atomic.Bool // an explicit partition is unknown to the client's metadata

	mu    sync.Mutex
	parts []int32 // partitions records are bound to (explicit or by key)
}

// bound records that a record must go to partition p: it waits for p's
// leader, however long p has none.
func (c *produceCall) bound(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.parts, p) {
		c.parts = append(c.parts, p)
	}
}

// boundParts returns the partitions records are bound to so far.
func (c *produceCall) boundParts() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.parts)
}

type produceCallKey struct{}

// callOf returns the produceCall of r, if it has one.
func callOf(r *kgo.Record) *produceCall {
	if r.Context == nil {
		return nil
	}
	c, _ := r.Context.Value(produceCallKey{}).(*produceCall)
	return c
}

func withProduceCall(ctx context.Context, c *produceCall) context.Context {
	return context.WithValue(ctx, produceCallKey{}, c)
}
