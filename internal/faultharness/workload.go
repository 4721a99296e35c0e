package faultharness

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaProducerOptions are the franz-go options of the workload's
// producers: idempotent, acks=all, retrying without limit (so an
// acknowledgement means the record is in, and no record is given up on).
func KafkaProducerOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.MaxBufferedRecords(2000),
		kgo.RequestTimeoutOverhead(5 * time.Second),
	}
}

// ProduceKafka runs an idempotent producer named name on topic until stop
// is closed: record seq carries RecordID{name, seq}; every acknowledgement
// goes to h with its partition and offset, every failure too. At most
// inFlight records are outstanding, and at most rate are sent a second (0:
// unlimited). After stop it flushes what is buffered
// (bounded by ctx) and returns how many records it sent.
func ProduceKafka(ctx context.Context, cl *kgo.Client, name, topic string, h *History, inFlight, rate int, stop <-chan struct{}) (int, error) {
	sem := make(chan struct{}, inFlight)
	start := time.Now()
	seq := 0
loop:
	for ; ; seq++ {
		if rate > 0 {
			if ahead := time.Duration(seq)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				select {
				case <-time.After(ahead):
				case <-stop:
					break loop
				}
			}
		}
		select {
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		case sem <- struct{}{}:
		}
		id := RecordID{Producer: name, Seq: seq}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: id.Value()}, func(r *kgo.Record, err error) {
			<-sem
			if err != nil {
				h.Failed(fmt.Errorf("kafka produce: %w", err))
				return
			}
			h.Acked(Ack{ID: id, Partition: r.Partition, Offset: r.Offset})
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return seq, fmt.Errorf("producer %s: flush: %w", name, err)
	}
	return seq, nil
}

// Consume reads topic from the start with a plain (read-uncommitted)
// consumer until stop is closed, recording every record in h as read by
// name. It returns how many records it read.
func Consume(ctx context.Context, cl *kgo.Client, name string, h *History, stop <-chan struct{}) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	n := 0
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			id, err := ParseRecordID(r.Value)
			if err != nil {
				id = RecordID{Producer: "unparsable " + truncate(r.Value, 40)}
			}
			h.Consumed(Read{Reader: name, ID: id, Partition: r.Partition, Offset: r.Offset})
			n++
		})
	}
	return n
}
