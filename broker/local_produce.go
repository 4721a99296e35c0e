package broker

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// localProduceVersion is the Produce version ProduceLocal's batches are
// checked as: the highest served, as franz-go would negotiate.
const localProduceVersion = 11

// ProduceLocal appends, for a gateway in this process, one record batch to
// each of parts' partitions of topic, and answers each partition in out
// (len(out) == len(parts), out[i] for parts[i]) as a produce request v11
// with acks and timeout would be answered over the client listener to a
// connection without SASL. It is HandleLocal for one topic's produce
// without the request and response messages around it: the per-event cost
// of a gateway's single-event publish is mostly that wrapping.
//
// A call holding a transactional batch is refused as a whole, as the
// listener refuses such a request (Runnel runs no transaction
// coordinator). Each batch is checked as the listener checks a produce's
// (validateProduced, min.insync.replicas with acks=-1) before any is
// appended; the valid ones are appended as leader (partition.appendEach),
// and with acks=-1 ProduceLocal returns once the high watermark passes
// them, timeout after the append or when ctx ends (awaitCommit). out[i]
// then holds what a ProduceResponse would for the partition: Partition,
// BaseOffset, LogAppendTime (-1 unless the topic stamps LogAppendTime),
// LogStartOffset, ErrorCode and ErrorMessage, RecordErrors.
//
// acks is 1 or -1 (an in-process caller wants the answer; acks=0 is its
// own choice not to wait for one). A batch's header may be corrected in
// place (its max timestamp, as the listener does) before it is copied into
// the log; the caller may reuse the records once this returns. Like
// HandleLocal, it counts in runnel_broker_local_requests_total as a
// Produce, and a panic becomes an error. Safe for concurrent use.
func (b *Broker) ProduceLocal(ctx context.Context, topic string, acks int16, timeout time.Duration, parts []kmsg.ProduceRequestTopicPartition, out []kmsg.ProduceResponseTopicPartition) (err error) {
	if acks != 1 && acks != -1 {
		return fmt.Errorf("%w: in-process produce with acks %d: want 1 or -1", ErrLocalRequest, acks)
	}
	if len(out) != len(parts) {
		return fmt.Errorf("%w: in-process produce of %d partitions with %d answers", ErrLocalRequest, len(parts), len(out))
	}
	key := int16(kmsg.Produce)
	b.local.request(key)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("broker: in-process produce panic: %v\n%s", r, debug.Stack())
		}
		if err != nil {
			b.local.error(key)
		}
	}()

	sc := localProduceScratches.Get().(*localProduceScratch)
	defer sc.release()
	now := time.Now()
	if transactionalIn(parts) {
		// Refused as a whole, as the listener refuses such a request
		// (produceRefusal): nothing of it is appended.
		for i := range out {
			out[i] = unansweredPartition(parts[i].Partition)
			b.setProduceError(&out[i], topic, errTransactionsUnsupported)
		}
		return nil
	}
	for i := range parts {
		if p, batch := b.checkProduced(&out[i], topic, &parts[i], localProduceVersion, acks, now); p != nil {
			sc.parts = append(sc.parts, p)
			sc.answers = append(sc.answers, &out[i])
			sc.batches = append(sc.batches, batch)
		}
	}
	for k, p := range sc.parts {
		sc.outcome[0] = appendOutcome{}
		logAppendTime := p.appendEach(sc.batches[k:k+1], sc.outcome[:])
		rp, o := sc.answers[k], sc.outcome[0]
		if b.answerAppend(rp, topic, o, logAppendTime, p.log.Offsets().LogStart) && acks == -1 && !unsafeAcksAtAppend {
			sc.waits = append(sc.waits, produceWait{p, o.lastOffset, o.leaderEpoch, rp})
		}
	}
	if len(sc.waits) > 0 {
		// The timeout counts from the append, as Kafka's purgatory does.
		b.awaitCommit(ctx, now.Add(timeout), sc.waits)
	}
	return nil
}

// localProduceScratch is ProduceLocal's working state, pooled: a
// single-event publish allocates nothing here.
type localProduceScratch struct {
	parts   []*partition
	answers []*kmsg.ProduceResponseTopicPartition
	batches []producedBatch
	waits   []produceWait
	outcome [1]appendOutcome // appendEach's, one batch at a time
}

var localProduceScratches = sync.Pool{New: func() any { return new(localProduceScratch) }}

func (sc *localProduceScratch) release() {
	if len(sc.parts) > produceScratchMax {
		return
	}
	clear(sc.parts)
	clear(sc.answers)
	clear(sc.batches)
	clear(sc.waits)
	sc.parts, sc.answers, sc.batches, sc.waits = sc.parts[:0], sc.answers[:0], sc.batches[:0], sc.waits[:0]
	sc.outcome = [1]appendOutcome{}
	localProduceScratches.Put(sc)
}
