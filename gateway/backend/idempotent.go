package backend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

// The idempotent produce path.
//
// A produce with an Idempotency-Key bypasses franz-go's batching: the events
// are grouped by partition, each group becomes one uncompressed RecordBatch
// whose first record carries the header kafkaext.IdempotencyKeyHeader, and each
// partition leader gets one ProduceRequest. The leader remembers the keys of
// recent appends (broker/idemwindow, rebuilt from the log tail when a
// partition opens) and answers a batch whose key it has seen with the
// original base offset, writing nothing. So the state that makes a retry
// harmless lives with the log, not in any gateway: a retry can go to another
// gateway, or come after a restart of either side.
//
// Everything about a request that decides where its events go is a function
// of the request: explicit partitions, murmur2 of keys, and for keyless
// events a round-robin that starts at a partition derived from the key. A
// retry therefore sends the same batches to the same partitions (while the
// partition count is unchanged).
//
// The header value is a SHA-256 of the key, not the key: the key is scoped
// by the caller's identity, which consumers of the topic should not read.
//
// The answer must be the first answer, timestamps included, yet a retry
// stamps "now" afresh. So after the leaders answer, the batches are read back
// at their base offsets and the stored timestamps reported. The read also
// checks that the stored events are the ones sent: a key reused for other
// events is a 409.

// idemBackoff is the pause before retrying partitions whose leader failed.
const idemBackoff = 100 * time.Millisecond

// idemStalledReads is how many reads in a row (each waiting up to 500 ms
// for more) must end at an unmoving high watermark before an acks=all read
// back concludes that the first attempt wrote fewer events.
const idemStalledReads = 4

// idemAttempts bounds the sends of one partition's batch.
const idemAttempts = 8

// idemPart is the events of one partition.
type idemPart struct {
	id      int32
	indexes []int // the events' places in the request
	batch   []byte
	base    int64   // assigned by the leader
	leader  int32   // the broker that assigned base
	stamps  []int64 // timestamps as sent, then as stored
	err     error   // of the last attempt
}

func (b *Backend) produceIdempotent(ctx context.Context, ts *topicState, acks Acks, events []event.Event, key string) ([]Result, error) {
	topic := ts.meta.Name
	sum := sha256.Sum256([]byte(key))
	tag := []byte(hex.EncodeToString(sum[:]))
	spread := int64(binary.BigEndian.Uint32(sum[:4]))

	n := ts.meta.Partitions
	now := time.Now().UnixMilli()
	byID := make(map[int32]*idemPart)
	var parts []*idemPart
	recs := make(map[int32][]recordbatch.Record)
	keyless := int64(0)
	for i := range events {
		e := &events[i]
		p := eventPartition(e, n, func() int32 {
			keyless++
			return int32((spread + keyless - 1) % int64(n))
		})
		part := byID[p]
		if part == nil {
			part = &idemPart{id: p}
			byID[p] = part
			parts = append(parts, part)
		}
		r := eventRecord(e, now)
		tsv := r.Timestamp
		if len(part.indexes) == 0 {
			r.Headers = append(r.Headers, recordbatch.RecordHeader{Key: kafkaext.IdempotencyKeyHeader, Value: tag})
		}
		part.indexes = append(part.indexes, i)
		part.stamps = append(part.stamps, tsv)
		recs[p] = append(recs[p], r)
	}
	for _, part := range parts {
		batch, err := recordbatch.Build(recordbatch.BuildOptions{PartitionLeaderEpoch: -1}, recs[part.id])
		if err != nil {
			return nil, apierr.New(http.StatusRequestEntityTooLarge, apierr.CodeTooLarge, "the events for partition %d do not fit one batch: %v", part.id, err)
		}
		if len(batch) > int(b.cfg.MaxBatchBytes) {
			return nil, apierr.New(http.StatusRequestEntityTooLarge, apierr.CodeTooLarge,
				"the events for partition %d take %d bytes; a request with an Idempotency-Key may put at most %d bytes in one partition",
				part.id, len(batch), b.cfg.MaxBatchBytes)
		}
		part.batch = batch
	}

	if err := b.sendIdempotent(ctx, topic, acks, parts); err != nil {
		return nil, err
	}
	out := make([]Result, len(events))
	if acks == AcksNone {
		for _, part := range parts {
			for j, i := range part.indexes {
				out[i] = Result{Partition: part.id, Offset: -1, Timestamp: part.stamps[j]}
			}
		}
		return out, nil
	}
	if err := b.readBack(ctx, topic, acks, parts, events, tag); err != nil {
		return nil, err
	}
	for _, part := range parts {
		for j, i := range part.indexes {
			out[i] = Result{Partition: part.id, Offset: part.base + int64(j), Timestamp: part.stamps[j]}
		}
	}
	return out, nil
}

// sendIdempotent sends every part to its leader, one request per leader, and
// sends again what failed in a way a retry can fix: a retry is harmless, the
// leader takes it as the duplicate it is.
func (b *Backend) sendIdempotent(ctx context.Context, topic string, acks Acks, parts []*idemPart) error {
	cl, err := b.producer(acks) // its acks setting is what kgo sends
	if err != nil {
		return apiError(err, topicScope(topic))
	}
	pending := parts
	for attempt := 1; ; attempt++ {
		ts, err := b.topic(ctx, topic, attempt > 1)
		if err != nil {
			return err
		}
		byLeader := make(map[int32][]*idemPart)
		for _, part := range pending {
			if part.id >= ts.meta.Partitions {
				return apiError(kerr.UnknownTopicOrPartition, scope{topic, part.id})
			}
			ld := ts.parts[part.id].leader
			if ld < 0 {
				part.err = kerr.LeaderNotAvailable
				continue
			}
			byLeader[ld] = append(byLeader[ld], part)
		}
		var wg sync.WaitGroup
		for ld, ps := range byLeader {
			wg.Go(func() { b.produceTo(ctx, cl, ld, topic, acks, ps) })
		}
		wg.Wait()

		var again []*idemPart
		for _, part := range pending {
			if part.err == nil {
				continue
			}
			if !retriable(part.err) || attempt >= idemAttempts {
				return apiError(part.err, scope{topic, part.id})
			}
			again = append(again, part)
		}
		if len(again) == 0 {
			return nil
		}
		pending = again
		b.log.Debug("idempotent produce: retrying", "topic", topic, "partitions", len(again), "attempt", attempt, "error", again[0].err)
		select {
		case <-ctx.Done():
			return apiError(again[0].err, scope{topic, again[0].id})
		case <-time.After(idemBackoff * time.Duration(attempt)):
		}
	}
}

// produceTo sends ps in one ProduceRequest to broker leader and sets each
// part's base offset or error.
func (b *Backend) produceTo(ctx context.Context, cl *kgo.Client, leader int32, topic string, acks Acks, ps []*idemPart) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = int16(acks)
	req.TimeoutMillis = int32(b.cfg.ProduceTimeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for _, part := range ps {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = part.id
		rp.Records = part.batch
		rt.Partitions = append(rt.Partitions, rp)
		part.err = nil
	}
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		for _, part := range ps {
			part.err = fmt.Errorf("backend: produce to broker %d: %w", leader, err)
		}
		return
	}
	if acks == AcksNone {
		return // no answer comes; the batches are on the wire
	}
	resp := kresp.(*kmsg.ProduceResponse)
	answered := make(map[int32]*kmsg.ProduceResponseTopicPartition)
	for ti := range resp.Topics {
		if resp.Topics[ti].Topic != topic {
			continue
		}
		for pi := range resp.Topics[ti].Partitions {
			rp := &resp.Topics[ti].Partitions[pi]
			answered[rp.Partition] = rp
		}
	}
	for _, part := range ps {
		rp, ok := answered[part.id]
		switch {
		case !ok:
			part.err = fmt.Errorf("backend: broker %d did not answer for %s/%d", leader, topic, part.id)
		case rp.ErrorCode != 0:
			part.err = withMessage(kerr.ErrorForCode(rp.ErrorCode), rp.ErrorMessage)
		default:
			part.base, part.leader = rp.BaseOffset, leader
		}
	}
}

// readBack reads each part's batch at its base offset, checks that the
// stored events are the ones of this request and takes their stored
// timestamps.
//
// With acks=all the leader answered once the first attempt's records were
// committed, so records missing below the high watermark mean the key was
// first used for fewer events: a conflict. With acks=1 they may just not be
// committed yet, so the read waits (up to ProduceTimeout) for them.
func (b *Backend) readBack(ctx context.Context, topic string, acks Acks, parts []*idemPart, events []event.Event, tag []byte) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ProduceTimeout)
	defer cancel()
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for k, part := range parts {
		wg.Go(func() { errs[k] = b.readBackPart(ctx, topic, acks, part, events, tag) })
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			return apiError(err, scope{topic, parts[k].id})
		}
	}
	return nil
}

func (b *Backend) readBackPart(ctx context.Context, topic string, acks Acks, part *idemPart, events []event.Event, tag []byte) error {
	// Read from the broker that took the write: the source's cached leader
	// may be an old one cut off from the cluster, which still serves what
	// it had below its stuck high watermark and would make the events look
	// missing (a false conflict).
	if err := b.src.UseLeader(ctx, topic, part.id, part.leader); err != nil {
		return fmt.Errorf("backend: read back %s/%d: %w", topic, part.id, err)
	}
	want := len(part.indexes)
	var got []event.Record
	offset := part.base
	maxBytes := int32(max(len(part.batch)+4096, DefaultFetchMaxBytes))
	stalled := 0 // reads in a row that ended at the high watermark
	for len(got) < want {
		batch, err := b.src.FetchWait(ctx, topic, part.id, offset, maxBytes, 500*time.Millisecond)
		var oor *event.OffsetOutOfRangeError
		if errors.As(err, &oor) && oor.LogStartOffset > part.base {
			// Retention removed the records since they were written:
			// nothing is left to compare, and the timestamps as sent are
			// the best answer there is.
			b.log.Warn("idempotent produce: records gone before read back", "topic", topic, "partition", part.id, "base", part.base, "log_start", oor.LogStartOffset)
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("backend: read back %s/%d at %d: %w", topic, part.id, offset, ctx.Err())
			}
			if retriable(err) {
				// The source dropped the leader or lost the connection;
				// ask again shortly.
				select {
				case <-ctx.Done():
				case <-time.After(idemBackoff):
				}
				continue
			}
			return fmt.Errorf("backend: read back %s/%d at %d: %w", topic, part.id, offset, err)
		}
		for _, ev := range batch.Records {
			if ev.Offset != part.base+int64(len(got)) || len(got) == want {
				break
			}
			got = append(got, ev)
		}
		offset = batch.NextOffset
		if len(got) < want && batch.NextOffset > part.base+int64(len(got)) {
			break // other records stand where ours would
		}
		if len(got) < want && acks == AcksAll && batch.HighWatermark <= offset {
			// Nothing stands past the high watermark: the first attempt
			// wrote fewer events — unless this leader is newly elected,
			// whose high watermark trails the records its predecessor
			// committed until its followers fetch again. So a conflict
			// only once the high watermark has stayed put for a while.
			if stalled++; stalled >= idemStalledReads {
				break
			}
			continue
		}
		stalled = 0
	}
	if len(got) < want || !sameEvents(got, part, events, tag) {
		return &apierr.Error{Status: http.StatusConflict, Code: apierr.CodeConflict,
			Message: "this Idempotency-Key was already used for a request with other events; use a new key for a new request"}
	}
	for j := range got {
		part.stamps[j] = got[j].Timestamp
	}
	return nil
}

// sameEvents reports whether the stored records are the part's events of the
// request, the first one tagged with this key.
func sameEvents(got []event.Record, part *idemPart, events []event.Event, tag []byte) bool {
	for j, ev := range got {
		e := &events[part.indexes[j]]
		if !bytes.Equal(ev.Key, e.Key) || (ev.Key == nil) != (e.Key == nil) ||
			!bytes.Equal(ev.Value, e.Value) || (ev.Value == nil) != (e.Value == nil) {
			return false
		}
		extra := 0
		if j == 0 {
			extra = 1
		}
		if len(ev.Headers) != len(e.Headers)+extra {
			return false
		}
		for h := range e.Headers {
			if ev.Headers[h].Key != e.Headers[h].Key || !bytes.Equal(ev.Headers[h].Value, e.Headers[h].Value) {
				return false
			}
		}
		if j == 0 {
			last := ev.Headers[len(ev.Headers)-1]
			if last.Key != kafkaext.IdempotencyKeyHeader || !bytes.Equal(last.Value, tag) {
				return false
			}
		}
	}
	return true
}
