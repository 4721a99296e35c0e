package backend

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// Produce writes events to topic and returns where each went, in request
// order. Everything that can be checked is checked before anything is
// written: the topic exists (404 topic_not_found), every named partition
// exists (404 partition_not_found), acks and timestamps are valid (400; at
// most an hour ahead, Kafka's default message.timestamp.after.max.ms).
// With acks=0 the offsets are -1.
//
// With an idempotencyKey the events go the idempotent way (see
// idempotent.go): a retry with the same key, from any gateway, returns the
// first answer and writes nothing new. Without one, and with a broker in
// the process (Config.Local), the events of the partitions it leads are
// written with a function call (produce_local.go); the rest go through
// franz-go (produceBatched).
func (b *Backend) Produce(ctx context.Context, topic string, acks Acks, events []event.Event, idempotencyKey string) ([]Result, error) {
	if _, ok := acksIndex(acks); !ok {
		return nil, apierr.Invalid("acks %d: use 0, 1 or all (-1)", acks)
	}
	if len(events) == 0 {
		return nil, apierr.Invalid("no events to produce")
	}
	ts, err := b.topic(ctx, topic, false)
	if err != nil {
		return nil, err
	}
	// Brokers refuse a record stamped further ahead of their clock than the
	// topic's message.timestamp.after.max.ms, and franz-go's batches carry
	// the events of concurrent requests together: one such event would fail
	// the others' too. So the gateway refuses it first, against Kafka's
	// default window.
	latest := time.Now().Add(recordbatch.DefaultTimestampAfterMax).UnixMilli()
	for i := range events {
		e := &events[i]
		if e.Timestamp < 0 {
			return nil, apierr.Invalid("event %d: timestamp %d is negative", i, e.Timestamp)
		}
		if e.Timestamp > latest {
			return nil, apierr.Invalid("event %d: timestamp %d is more than %v ahead of the clock (brokers refuse it: message.timestamp.after.max.ms)",
				i, e.Timestamp, recordbatch.DefaultTimestampAfterMax)
		}
		if e.Partition < -1 {
			return nil, apierr.Invalid("event %d: partition %d: partitions are numbered from 0", i, e.Partition)
		}
		if e.Partition >= ts.meta.Partitions {
			if ts, err = b.partition(ctx, topic, e.Partition); err != nil {
				return nil, err
			}
		}
	}
	if idempotencyKey != "" {
		return b.produceIdempotent(ctx, ts, acks, events, idempotencyKey)
	}
	if b.cfg.Local != nil {
		if out, ok, err := b.produceLocal(ctx, ts, acks, events); ok {
			return out, err
		}
	}
	return b.produceBatched(ctx, topic, acks, events)
}

// produceBackoff is the first pause before the records of a produce are
// sent again; it grows with each attempt, up to a second.
const produceBackoff = 100 * time.Millisecond

// produceBatched produces through franz-go, which batches events of
// concurrent requests together and retries what the cluster did not take.
//
// franz-go retries a retriable error until the records' context ends, and
// reports only the context's error then. Kafka counts KAFKA_STORAGE_ERROR
// (a full or failing disk) as retriable, so a produce to a partition whose
// broker cannot write would hang until the request's deadline and answer
// "did not answer in time". So the producers give a batch back after
// recordRetries failed sends (the franz-go client stays correct: an
// idempotent batch it gives back bumps its producer epoch), and this loop
// decides: a storage error is answered at once (507); any other retriable
// error has the records sent again after a pause, until the deadline, as
// franz-go would have. A record given back was not written (franz-go never
// gives back one it is unsure of), so sending it again writes it once.
func (b *Backend) produceBatched(ctx context.Context, topic string, acks Acks, events []event.Event) ([]Result, error) {
	cl, err := b.producer(acks)
	if err != nil {
		return nil, apiError(err, topicScope(topic))
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ProduceTimeout)
	defer cancel()
	ctx, cancelCause := context.WithCancelCause(ctx)
	call := &produceCall{}
	watch := b.watchLeaders(ctx, cancelCause, topic, call)
	defer watch.stop()
	rctx := withProduceCall(ctx, call)
	now := time.Now()
	recs := make([]*kgo.Record, len(events))
	index := make(map[*kgo.Record]int, len(events))
	for i := range events {
		e := &events[i]
		r := &kgo.Record{Topic: topic, Partition: e.Partition, Key: e.Key, Value: e.Value, Timestamp: now, Context: rctx}
		if e.Timestamp != 0 {
			r.Timestamp = time.UnixMilli(e.Timestamp)
		}
		if len(e.Headers) > 0 {
			r.Headers = make([]kgo.RecordHeader, len(e.Headers))
			for j, h := range e.Headers {
				r.Headers[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
			}
		}
		recs[i] = r
		index[r] = i
	}
	// Report the first failure in request order, not in completion order.
	first, firstErr := len(events), error(nil)
	failed := func(r *kgo.Record, err error) {
		if i := index[r]; i < first {
			first, firstErr = i, err
		}
	}
	pending := recs
	relearnt := false // the topic was looked up again after an unknown-topic error
	for attempt := 1; ; attempt++ {
		var again, unknown []*kgo.Record
		var lastErr error
		sent := time.Now()
		for _, res := range cl.ProduceSync(ctx, pending...) {
			switch {
			case res.Err == nil:
			case unknownTopic(res.Err) && !relearnt && ctx.Err() == nil:
				unknown, lastErr = append(unknown, res.Record), res.Err
			case retriable(res.Err) && ctx.Err() == nil && !call.stale.Load():
				again, lastErr = append(again, res.Record), res.Err
			default:
				failed(res.Record, res.Err)
			}
		}
		if len(unknown) > 0 && firstErr == nil {
			// The topic was deleted, maybe created again, since the
			// producer learnt it: it forgets the topic and the records
			// go again once, as the request placed them (none was
			// written to the old topic or the new one).
			relearnt = true
			n, err := b.relearnTopic(ctx, cl, topic, sent)
			if err != nil {
				return nil, err
			}
			for _, r := range unknown {
				if p := events[index[r]].Partition; p >= n {
					return nil, apiError(kerr.UnknownTopicOrPartition, scope{topic, p})
				}
				r.Partition = events[index[r]].Partition
			}
			pending = append(again, unknown...)
			continue
		}
		if firstErr != nil || len(again) == 0 {
			break
		}
		b.log.Debug("produce: sending again", "topic", topic, "records", len(again), "attempt", attempt, "error", lastErr)
		t := time.NewTimer(min(produceBackoff*time.Duration(attempt), time.Second))
		select {
		case <-ctx.Done():
			for _, r := range again {
				failed(r, lastErr)
			}
		case <-t.C:
		}
		t.Stop()
		if firstErr != nil {
			break
		}
		// A record keeps the partition it was given, so a keyless event
		// is not written to a second one.
		pending = again
	}
	if e := leaderless(ctx); firstErr != nil && e != nil {
		e.Err = firstErr
		return nil, e
	}
	if call.stale.Load() {
		cl.ForceMetadataRefresh()
		return nil, unavailable(firstErr, "the topic's partitions changed a moment ago")
	}
	if firstErr != nil {
		sc := topicScope(topic)
		if p := events[first].Partition; p >= 0 {
			sc.partition = p
		} else if errors.Is(firstErr, kerr.KafkaStorageError) {
			sc.partition = recs[first].Partition // where its key or the spread put it
		}
		return nil, apiError(firstErr, sc)
	}
	out := make([]Result, len(events))
	for i, r := range recs {
		out[i] = Result{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
		if acks == AcksNone {
			out[i].Offset = -1
		}
	}
	return out, nil
}
