package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultMaxWait is how long a KafkaSource fetch waits at the high
// watermark for new events.
const DefaultMaxWait = 500 * time.Millisecond

// KafkaSource is a Source that sends Fetch requests over the Kafka protocol
// straight to each partition's leader, using a franz-go client only as a
// connection pool; it keeps no consumer state, so one client serves every
// partition and reader.
type KafkaSource struct {
	cl *kgo.Client
	// MaxWait is the long-poll limit of a fetch at the high watermark;
	// set it before the first Fetch. NewKafkaSource sets DefaultMaxWait.
	MaxWait time.Duration

	// Logger, when set, is told once of each range of a partition that
	// cannot be read; set it before the first Fetch.
	Logger *slog.Logger

	reported reportedRanges

	mu      sync.Mutex
	leaders map[partKey]leader // cache; an entry goes on any leadership error
	lanes   []*fetchLane
	laneOf  map[partKey]*fetchLane // a partition's lane, assigned on first fetch
}

// fetchLane is one client whose fetch connections carry some partitions'
// fetches. franz-go sends every fetch to one broker on one connection, and
// the broker answers a connection's requests in order: one partition's long
// poll at the high watermark holds back the answers of every fetch queued
// behind it. Partitions on different lanes never wait for each other.
type fetchLane struct {
	cl    *kgo.Client
	parts int // partitions assigned; guarded by KafkaSource.mu

	mu sync.Mutex
	// known are the brokers the client has seen in a metadata answer:
	// Broker(id) can reach only those. Cleared after a failed request, so
	// that a broker that moved or restarted is looked up again.
	known map[int32]bool
}

type leader struct {
	id      int32
	topicID [16]byte
}

// NewKafkaSource returns a Source reading through cl. Fetches go through
// the fetch clients, when given, each partition sticking to the least used
// one (see fetchLane); without them, through cl. The clients stay the
// caller's to close.
func NewKafkaSource(cl *kgo.Client, fetchClients ...*kgo.Client) *KafkaSource {
	s := &KafkaSource{cl: cl, MaxWait: DefaultMaxWait, leaders: make(map[partKey]leader), laneOf: make(map[partKey]*fetchLane)}
	for _, fc := range fetchClients {
		s.lanes = append(s.lanes, &fetchLane{cl: fc})
	}
	return s
}

// fetchClient returns the lane that carries the fetches of key, its client
// able to reach broker leader.
func (s *KafkaSource) fetchClient(ctx context.Context, key partKey, leader int32) (*fetchLane, error) {
	s.mu.Lock()
	lane := s.laneOf[key]
	if lane == nil {
		lane = s.lanes[0]
		for _, l := range s.lanes[1:] {
			if l.parts < lane.parts {
				lane = l
			}
		}
		lane.parts++
		s.laneOf[key] = lane
	}
	s.mu.Unlock()
	lane.mu.Lock()
	defer lane.mu.Unlock()
	if lane.known[leader] {
		return lane, nil
	}
	// Broker(id) needs the client to have seen the broker in metadata.
	kresp, err := lane.cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return nil, fmt.Errorf("fanout: load metadata for a fetch client: %w", err)
	}
	lane.known = map[int32]bool{}
	for _, b := range kresp.(*kmsg.MetadataResponse).Brokers {
		lane.known[b.NodeID] = true
	}
	if !lane.known[leader] {
		return nil, fmt.Errorf("fanout: broker %d is not in the cluster's metadata yet: %w", leader, kerr.LeaderNotAvailable)
	}
	return lane, nil
}

// forgetBrokers makes the lane look its brokers up again before its next
// fetch.
func (l *fetchLane) forgetBrokers() {
	l.mu.Lock()
	l.known = nil
	l.mu.Unlock()
}

// Fetch implements Source. It skips control batches and records below
// offset (a batch is fetched whole), verifies each batch's CRC, and returns
// the partition's error as a kerr error; leadership errors also drop the
// cached leader, so that the caller's retry asks for metadata again. Data
// that cannot be read (the broker says CORRUPT_MESSAGE, or a batch does not
// decode) is an *UnreadableError at once when it is the first thing at
// offset; events before it are returned first.
func (s *KafkaSource) Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (Batch, error) {
	return s.FetchWait(ctx, topic, partition, offset, maxBytes, s.MaxWait)
}

// FetchWait is Fetch with this call's own long-poll limit instead of
// MaxWait: at the high watermark it waits up to wait for new events (0
// answers at once).
func (s *KafkaSource) FetchWait(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, wait time.Duration) (Batch, error) {
	key := partKey{topic, partition}
	ld, err := s.leader(ctx, key)
	if err != nil {
		return Batch{}, err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(min(max(wait, 0), math.MaxInt32*time.Millisecond) / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1 // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.TopicID = ld.topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	cl := s.cl
	var lane *fetchLane
	if len(s.lanes) > 0 {
		if lane, err = s.fetchClient(ctx, key, ld.id); err != nil {
			return Batch{}, err
		}
		cl = lane.cl
	}
	kresp, err := s.request(ctx, cl, ld.id, req, wait)
	if err != nil {
		// A caller giving up says nothing about the broker: keep what
		// is known of it.
		if ctx.Err() == nil {
			if lane != nil {
				lane.forgetBrokers()
			}
			s.forget(key)
		}
		return Batch{}, fmt.Errorf("fanout: fetch %s/%d from broker %d: %w", topic, partition, ld.id, err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return Batch{}, fmt.Errorf("fanout: fetch %s/%d: %w", topic, partition, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return Batch{}, fmt.Errorf("fanout: fetch %s/%d: response names %d topics, not the one asked for", topic, partition, len(resp.Topics))
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		if errors.Is(err, kerr.OffsetOutOfRange) {
			return Batch{}, &OffsetOutOfRangeError{Topic: topic, Partition: partition, Offset: offset, LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark}
		}
		if errors.Is(err, kerr.CorruptMessage) {
			return Batch{}, s.unreadable(topic, partition, offset, brokerDamage(p, offset))
		}
		if isLeadershipError(err) {
			s.forget(key)
		}
		return Batch{}, fmt.Errorf("fanout: fetch %s/%d: %w", topic, partition, err)
	}
	b := Batch{NextOffset: offset, HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset}
	if d := decodeInto(&b, offset, p.RecordBatches); d != nil {
		return Batch{}, s.unreadable(topic, partition, offset, *d)
	}
	return b, nil
}

// damage is a range of a partition that cannot be read, [from, to), and
// why.
type damage struct {
	from, to int64
	cause    error
}

// brokerDamage reads the range a broker that answered CORRUPT_MESSAGE for
// offset names in Runnel's tagged field. The bytes come from the network:
// a value that does not parse, or a range that does not hold offset, is
// not believed, and without one only offset itself is known to be lost.
func brokerDamage(p *kmsg.FetchResponseTopicPartition, offset int64) damage {
	d := damage{from: offset, to: offset + 1, cause: fmt.Errorf("the broker answered %w", kerr.CorruptMessage)}
	p.UnknownTags.Each(func(tag uint32, v []byte) {
		if tag != kafkaext.UnreadableRangeTag {
			return
		}
		r, err := kafkaext.ParseUnreadableRange(v)
		switch {
		case err != nil:
			d.cause = fmt.Errorf("%w; its unreadable range is not believed: %w", d.cause, err)
		case offset < r.From || offset >= r.To:
			d.cause = fmt.Errorf("%w; its unreadable range [%d, %d) is not believed: it does not hold the fetch offset", d.cause, r.From, r.To)
		default:
			d.from, d.to = r.From, r.To
		}
	})
	return d
}

// unreadable logs damage once per range and returns what the reader at
// offset lost.
func (s *KafkaSource) unreadable(topic string, partition int32, offset int64, d damage) *UnreadableError {
	if s.Logger != nil && s.reported.first(damageKey{topic, partition, d.from, d.to}) {
		s.Logger.Error("stored events cannot be read; readers are told and skip them",
			"topic", topic, "partition", partition, "offsets", offsetsText(d.from, d.to), "resume_at", d.to, "err", d.cause)
	}
	return &UnreadableError{Topic: topic, Partition: partition, From: offset, To: d.to, Cause: d.cause}
}

// decodeInto appends the records at or after offset of the record batches in
// raw to b. A partial batch at the end (the broker cut the answer at
// maxBytes) is dropped: the next fetch starts at it.
//
// A batch that does not decode ends the walk. When b has moved on by then,
// decodeInto returns nil and b ends at the bad batch, where the next fetch
// meets it; otherwise it returns the damage, as far as the batch's header
// tells (see damagedBatch).
func decodeInto(b *Batch, offset int64, raw []byte) *damage {
	// Events outlive this call and are shared; keep them off any buffer the
	// client might reuse.
	buf := bytes.Clone(raw)
	for {
		batch, rest, err := recordbatch.Next(buf)
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, recordbatch.ErrTruncated) && b.NextOffset > offset {
			return nil
		}
		// A first batch is never cut (a broker always answers it whole):
		// cut, it is damaged.
		var h recordbatch.Header
		if err == nil {
			h, err = recordbatch.Validate(batch, 0)
		}
		if err == nil && !h.IsControl() {
			err = appendRecords(b, offset, batch)
		}
		if err != nil {
			if b.NextOffset > offset {
				return nil
			}
			d := damagedBatch(buf, offset, b.HighWatermark, err)
			return &d
		}
		buf = rest
		b.NextOffset = max(b.NextOffset, h.NextOffset())
	}
}

// appendRecords appends the records at or after offset of batch to b, all
// or none.
func appendRecords(b *Batch, offset int64, batch []byte) error {
	it, err := recordbatch.Records(batch, recordbatch.DecodeOptions{})
	if err != nil {
		return err
	}
	n := len(b.Events)
	for {
		r, err := it.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			clear(b.Events[n:])
			b.Events = b.Events[:n]
			return err
		}
		if r.Offset < offset {
			continue
		}
		ev := Event{Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
		if len(r.Headers) > 0 {
			ev.Headers = make([]Header, len(r.Headers))
			for i, rh := range r.Headers {
				ev.Headers[i] = Header{Key: rh.Key, Value: rh.Value}
			}
		}
		b.Events = append(b.Events, ev)
	}
}

// damagedBatch is the damage of the batch at the start of buf, which a
// fetch at offset could not decode. Its header, when it parses, says which
// offsets the batch holds; but a damaged header may lie, and believing a
// flipped bit in lastOffsetDelta would skip readable events. So its range
// is believed only when the record count agrees with lastOffsetDelta (the
// CRC covers both; one damaged field breaks the agreement), and the range
// runs from at most offset to past offset and ends at or below the high
// watermark, where every served batch ends. Otherwise only offset is known
// to be lost.
func damagedBatch(buf []byte, offset, hwm int64, cause error) damage {
	d := damage{from: offset, to: offset + 1, cause: cause}
	h, err := recordbatch.ParseHeader(buf)
	if err != nil || h.LastOffsetDelta < 0 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 ||
		h.BaseOffset < 0 || h.BaseOffset > offset {
		return d
	}
	if next := h.NextOffset(); next > offset && next <= hwm {
		d.from, d.to = h.BaseOffset, next
	}
	return d
}

func isLeadershipError(err error) bool {
	return errors.Is(err, kerr.NotLeaderForPartition) ||
		errors.Is(err, kerr.LeaderNotAvailable) ||
		errors.Is(err, kerr.FencedLeaderEpoch) ||
		errors.Is(err, kerr.UnknownLeaderEpoch) ||
		errors.Is(err, kerr.UnknownTopicOrPartition) ||
		errors.Is(err, kerr.UnknownTopicID) ||
		errors.Is(err, kerr.ReplicaNotAvailable)
}

func (s *KafkaSource) forget(key partKey) {
	s.mu.Lock()
	delete(s.leaders, key)
	s.mu.Unlock()
}

// leader returns the cached leader of key, asking for metadata when there is
// none. Sending the Metadata request through the client also teaches it the
// leader's address, which Broker(id).Request needs.
func (s *KafkaSource) leader(ctx context.Context, key partKey) (leader, error) {
	s.mu.Lock()
	ld, ok := s.leaders[key]
	s.mu.Unlock()
	if ok {
		return ld, nil
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(key.topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return leader{}, fmt.Errorf("fanout: metadata for %s: %w", key.topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != key.topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return leader{}, fmt.Errorf("fanout: metadata for %s: %w", key.topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition != key.partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil && !errors.Is(err, kerr.ReplicaNotAvailable) {
				return leader{}, fmt.Errorf("fanout: metadata for %s/%d: %w", key.topic, key.partition, err)
			}
			if p.Leader < 0 {
				return leader{}, fmt.Errorf("fanout: metadata for %s/%d: %w", key.topic, key.partition, kerr.LeaderNotAvailable)
			}
			ld = leader{id: p.Leader, topicID: t.TopicID}
			s.mu.Lock()
			s.leaders[key] = ld
			s.mu.Unlock()
			return ld, nil
		}
		return leader{}, fmt.Errorf("fanout: metadata for %s/%d: %w", key.topic, key.partition, kerr.UnknownTopicOrPartition)
	}
	return leader{}, fmt.Errorf("fanout: metadata for %s: %w", key.topic, kerr.UnknownTopicOrPartition)
}

// requestSlack is how long past a fetch's own wait its request may take
// before it is abandoned.
const requestSlack = 30 * time.Second

// request sends req to broker id without letting ctx cancel it: franz-go
// answers the cancellation of an in-flight request by closing the broker
// connection, which fails every other request on it (other partitions'
// long polls, other subscribers' reads). When ctx ends first, request
// returns at once and the fetch finishes in the background, within its
// long-poll wait (plus requestSlack), its answer dropped.
func (s *KafkaSource) request(ctx context.Context, cl *kgo.Client, id int32, req *kmsg.FetchRequest, wait time.Duration) (kmsg.Response, error) {
	type result struct {
		resp kmsg.Response
		err  error
	}
	done := make(chan result, 1)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait+requestSlack)
	go func() {
		defer cancel()
		resp, err := cl.Broker(int(id)).Request(rctx, req)
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Bounds implements Bounder with two ListOffsets requests (earliest and
// latest) to the partition's leader.
func (s *KafkaSource) Bounds(ctx context.Context, topic string, partition int32) (logStart, hwm int64, err error) {
	key := partKey{topic, partition}
	ld, err := s.leader(ctx, key)
	if err != nil {
		return 0, 0, err
	}
	var out [2]int64
	for i, ts := range []int64{-2, -1} { // earliest, latest (the high watermark)
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = partition
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := s.cl.Broker(int(ld.id)).Request(ctx, req)
		if err != nil {
			s.forget(key)
			return 0, 0, fmt.Errorf("list offsets of %s/%d on broker %d: %w", topic, partition, ld.id, err)
		}
		resp := kresp.(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return 0, 0, fmt.Errorf("list offsets of %s/%d: the answer names %d topics, not the one asked for", topic, partition, len(resp.Topics))
		}
		p := &resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			if isLeadershipError(err) {
				s.forget(key)
			}
			return 0, 0, fmt.Errorf("list offsets of %s/%d: %w", topic, partition, err)
		}
		out[i] = p.Offset
	}
	return out[0], out[1], nil
}
