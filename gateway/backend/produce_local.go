package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/gateway/event"
)

// LocalBroker is a broker in the gateway's own process ("runnel dev"
// attaches its node's *broker.Broker): produces to the partitions it leads
// are a function call instead of a Kafka round trip over loopback TCP
// through franz-go. The requests are served as the broker's client listener
// serves them for a connection without SASL: the gateway has checked the
// caller's token and permissions itself.
type LocalBroker interface {
	// ProduceLocal appends one batch to each of parts' partitions of
	// topic as a produce request v11 with acks (1 or -1) and timeout
	// would, and answers parts[i] in out[i] as its ProduceResponse would
	// (broker.Broker.ProduceLocal).
	ProduceLocal(ctx context.Context, topic string, acks int16, timeout time.Duration, parts []kmsg.ProduceRequestTopicPartition, out []kmsg.ProduceResponseTopicPartition) error
	// LocalPartition says whether the broker's metadata knows partition
	// of topic, the topic's ID, and whether the broker leads it now.
	LocalPartition(topic string, partition int32) (id [16]byte, leads, known bool)
}

// localCompressMin is the batch size from which an in-process batch is
// offered snappy compression (kept when it is smaller), as franz-go
// compresses its batches; a batch of a few events gains nothing from it
// and the broker would have to decompress it to check it.
const localCompressMin = 4 << 10

// localPart is the events of one partition of an in-process produce.
type localPart struct {
	id        int32
	indexes   []int // the events' places in the request
	recs      []recordbatch.Record
	elsewhere bool // the local broker does not lead it: franz-go's way
}

// localProduce is the state of one in-process produce, pooled: a single
// event's produce allocates little beyond the response.
type localProduce struct {
	parts   []localPart
	batches [][]byte
	sent    []kmsg.ProduceRequestTopicPartition  // the batches of the parts sent
	answers []kmsg.ProduceResponseTopicPartition // the broker's, by sent
}

var localProduces = sync.Pool{New: func() any { return new(localProduce) }}

// maxPooledBatch keeps one huge batch from pinning its buffer in the pool.
const maxPooledBatch = 1 << 20

func (lp *localProduce) release() {
	for i := range lp.parts {
		clear(lp.parts[i].recs)
		lp.parts[i] = localPart{recs: lp.parts[i].recs[:0], indexes: lp.parts[i].indexes[:0]}
	}
	lp.parts = lp.parts[:0]
	for i, b := range lp.batches {
		if cap(b) > maxPooledBatch {
			b = nil
		}
		lp.batches[i] = b[:0]
	}
	clear(lp.sent)
	clear(lp.answers)
	lp.sent, lp.answers = lp.sent[:0], lp.answers[:0]
	localProduces.Put(lp)
}

// part returns the part of partition id, adding it.
func (lp *localProduce) part(id int32) *localPart {
	for i := range lp.parts {
		if lp.parts[i].id == id {
			return &lp.parts[i]
		}
	}
	if len(lp.parts) < cap(lp.parts) {
		lp.parts = lp.parts[:len(lp.parts)+1]
		p := &lp.parts[len(lp.parts)-1]
		p.id, p.elsewhere = id, false
		return p
	}
	lp.parts = append(lp.parts, localPart{id: id})
	return &lp.parts[len(lp.parts)-1]
}

// spreads are the keyless round-robin counters of the in-process path, by
// topic: the partitioner's spread (see topicPartitioner), shared by
// concurrent produces.
type spreads struct{ m sync.Map } // topic -> *atomic.Uint32

func (s *spreads) next(topic string, n int32) int32 {
	c, ok := s.m.Load(topic)
	if !ok {
		c, _ = s.m.LoadOrStore(topic, new(atomic.Uint32))
	}
	return int32(c.(*atomic.Uint32).Add(1) % uint32(n))
}

// produceLocal produces events to the local broker (Config.Local), for
// the partitions it leads, with one ProduceRequest holding one batch per
// partition. Partitions are chosen as produceBatched's partitioner chooses
// them: the one named, murmur2 of the key, else round-robin. The events of
// a partition the local broker does not lead, or that it answers it does
// not lead or know (its metadata lagging), were not appended: they go the
// franz-go way (produceBatched) as the request gave them. An error after
// the broker may have appended a batch (a timeout waiting for replicas) is
// answered, never sent again. ok is false when the request is better sent
// by franz-go as a whole, nothing having been sent (a partition's events
// take more than Config.MaxBatchBytes, which franz-go splits).
func (b *Backend) produceLocal(ctx context.Context, ts *topicState, acks Acks, events []event.Event) (out []Result, ok bool, err error) {
	if err := b.live(); err != nil {
		return nil, true, apiError(err, topicScope(ts.meta.Name))
	}
	topic, n := ts.meta.Name, ts.meta.Partitions
	now := time.Now().UnixMilli()
	lp := localProduces.Get().(*localProduce)
	defer lp.release()
	for i := range events {
		e := &events[i]
		part := lp.part(eventPartition(e, n, func() int32 { return b.spread.next(topic, n) }))
		part.indexes = append(part.indexes, i)
		part.recs = append(part.recs, eventRecord(e, now))
	}

	callAcks := int16(acks)
	if acks == AcksNone {
		// The append happens within the call whatever acks says; with an
		// answer, a partition the broker turns away (not its leader) can
		// go elsewhere instead of being lost, and a refusal is reported.
		callAcks = int16(AcksLeader)
	}
	for len(lp.batches) < len(lp.parts) {
		lp.batches = append(lp.batches, nil)
	}
	for i := range lp.parts {
		part := &lp.parts[i]
		if _, leads, _ := b.cfg.Local.LocalPartition(topic, part.id); !leads {
			part.elsewhere = true
			continue
		}
		batch, err := buildLocalBatch(lp.batches[i][:0], part.recs)
		lp.batches[i] = batch
		if err != nil || len(batch) > int(b.cfg.MaxBatchBytes) {
			return nil, false, nil
		}
		lp.sent = append(lp.sent, kmsg.ProduceRequestTopicPartition{Partition: part.id, Records: batch})
	}
	var failed *localPart // the failed part holding the first event in request order
	var failure error
	if len(lp.sent) > 0 {
		lp.answers = slices.Grow(lp.answers[:0], len(lp.sent))[:len(lp.sent)]
		if err := b.cfg.Local.ProduceLocal(ctx, topic, callAcks, b.cfg.ProduceTimeout, lp.sent, lp.answers); err != nil {
			return nil, true, apiError(fmt.Errorf("backend: in-process produce: %w", err), topicScope(topic))
		}
		out = make([]Result, len(events))
		for k := range lp.answers {
			rp := &lp.answers[k]
			part := lp.find(lp.sent[k].Partition)
			if rp.ErrorCode != 0 {
				kerrv := kerr.ErrorForCode(rp.ErrorCode)
				if notAppended(kerrv, callAcks) {
					part.elsewhere = true
					continue
				}
				if failed == nil || part.indexes[0] < failed.indexes[0] {
					failed, failure = part, withMessage(kerrv, rp.ErrorMessage)
				}
				continue
			}
			for j, i := range part.indexes {
				out[i] = Result{Partition: part.id, Offset: rp.BaseOffset + int64(j), Timestamp: part.recs[j].Timestamp}
			}
		}
	}
	if failed != nil {
		sc := topicScope(topic)
		if p := events[failed.indexes[0]].Partition; p >= 0 {
			sc.partition = p
		} else if errors.Is(failure, kerr.KafkaStorageError) {
			sc.partition = failed.id // where its key or the spread put it
		}
		return nil, true, apiError(failure, sc)
	}
	if out == nil {
		out = make([]Result, len(events))
	}
	if err := b.produceElsewhere(ctx, topic, acks, events, lp.parts, out); err != nil {
		return nil, true, err
	}
	if acks == AcksNone {
		for i := range out {
			out[i].Offset = -1
		}
	}
	return out, true, nil
}

// find returns the part of partition id, nil if there is none.
func (lp *localProduce) find(id int32) *localPart {
	for i := range lp.parts {
		if lp.parts[i].id == id {
			return &lp.parts[i]
		}
	}
	return nil
}

// notAppended says whether a partition's error in an answer to a produce
// with the given acks proves its batch was not appended, so that its
// events may go another way. UNKNOWN_TOPIC_OR_PARTITION is found before
// any append; NOT_LEADER_OR_FOLLOWER too, except with acks=-1, where the
// wait for replicas after the append ends with it when leadership moves.
func notAppended(err error, acks int16) bool {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return true
	case errors.Is(err, kerr.NotLeaderForPartition):
		return acks != int16(AcksAll)
	}
	return false
}

// produceElsewhere sends the events of the parts marked elsewhere the
// franz-go way, as the request gave them (a keyless event is spread again
// over the partitions with a leader), and fills their places in out.
func (b *Backend) produceElsewhere(ctx context.Context, topic string, acks Acks, events []event.Event, parts []localPart, out []Result) error {
	var idx []int
	for i := range parts {
		if parts[i].elsewhere {
			idx = append(idx, parts[i].indexes...)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	slices.Sort(idx)
	sub := make([]event.Event, len(idx))
	for j, i := range idx {
		sub[j] = events[i]
	}
	res, err := b.produceBatched(ctx, topic, acks, sub)
	if err != nil {
		return err
	}
	for j, i := range idx {
		out[i] = res[j]
	}
	return nil
}

// eventRecord is e as a record, stamped now (milliseconds) unless it has a
// timestamp of its own.
func eventRecord(e *event.Event, now int64) recordbatch.Record {
	r := recordbatch.Record{Key: e.Key, Value: e.Value, Timestamp: e.Timestamp}
	if r.Timestamp == 0 {
		r.Timestamp = now
	}
	if len(e.Headers) > 0 {
		r.Headers = make([]recordbatch.RecordHeader, len(e.Headers))
		for j, h := range e.Headers {
			r.Headers[j] = recordbatch.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return r
}

// buildLocalBatch appends to dst the batch a producer that is neither
// idempotent nor transactional sends with recs: uncompressed when small,
// else snappy when that is smaller.
func buildLocalBatch(dst []byte, recs []recordbatch.Record) ([]byte, error) {
	opts := recordbatch.BuildOptions{PartitionLeaderEpoch: -1}
	plain, err := recordbatch.AppendBatch(dst, opts, recs)
	if err != nil || len(plain) < localCompressMin {
		return plain, err
	}
	opts.Codec = recordbatch.CodecSnappy
	packed, err := recordbatch.Build(opts, recs)
	if err != nil || len(packed) >= len(plain) {
		return plain, nil
	}
	return packed, nil
}
