package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/fanout"
)

// DefaultMaxWait is how long a KafkaSource fetch waits at the high
// watermark for new events.
const DefaultMaxWait = 500 * time.Millisecond

// KafkaSource is a fanout.Source (and fanout.Bounder) that sends Fetch
// requests over the Kafka protocol straight to each partition's leader,
// using franz-go clients only as connection pools; it keeps no consumer
// state, so one client serves every partition and reader. Backend.Fetch,
// the idempotent produce's read-back and the WebSocket hub all read through
// the Backend's one KafkaSource.
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
	// polls carry the fetches that may wait at the high watermark; stored
	// the ones that do not (FetchStored), so that those never queue
	// behind a long poll.
	polls, stored lanes
	// hwms are the high watermarks the last fetches answered: below one
	// there are stored events, which a fetch need not wait for.
	hwms map[partKey]int64
}

// lanes are fetch lanes and the partitions assigned to them; guarded by
// KafkaSource.mu.
type lanes struct {
	all    []*fetchLane
	laneOf map[partKey]*fetchLane // a partition's lane, assigned on first fetch
}

func newLanes(clients []*kgo.Client) lanes {
	l := lanes{laneOf: make(map[partKey]*fetchLane)}
	for _, c := range clients {
		l.all = append(l.all, &fetchLane{cl: c})
	}
	return l
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

// The interfaces KafkaSource serves.
var (
	_ fanout.Source       = (*KafkaSource)(nil)
	_ fanout.StoredSource = (*KafkaSource)(nil)
	_ fanout.Bounder      = (*KafkaSource)(nil)
)

// partKey names one partition.
type partKey struct {
	topic     string
	partition int32
}

type leader struct {
	id      int32
	topicID [16]byte
}

// NewKafkaSource returns a KafkaSource reading through cl. Fetches go through
// the fetch clients, when given, each partition sticking to the least used
// one (see fetchLane); without them, through cl. The clients stay the
// caller's to close.
func NewKafkaSource(cl *kgo.Client, fetchClients ...*kgo.Client) *KafkaSource {
	return &KafkaSource{
		cl: cl, MaxWait: DefaultMaxWait, leaders: make(map[partKey]leader),
		polls: newLanes(fetchClients), stored: newLanes(nil), hwms: make(map[partKey]int64),
	}
}

// SetStoredClients gives the source clients of their own for fetches of
// stored events (FetchStored, and FetchWait below a known high watermark),
// laned as the fetch clients are; call it before the first Fetch. Without
// them such fetches go through the metadata client: one connection per
// broker for all of them, which no long poll blocks but which answers them
// one at a time. The clients stay the caller's to close.
func (s *KafkaSource) SetStoredClients(clients ...*kgo.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = newLanes(clients)
}

// fetchClient returns the lane of set that carries the fetches of key, its
// client able to reach broker leader.
func (s *KafkaSource) fetchClient(ctx context.Context, set *lanes, key partKey, leader int32) (*fetchLane, error) {
	s.mu.Lock()
	lane := set.laneOf[key]
	if lane == nil {
		lane = set.all[0]
		for _, l := range set.all[1:] {
			if l.parts < lane.parts {
				lane = l
			}
		}
		lane.parts++
		set.laneOf[key] = lane
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
		return nil, fmt.Errorf("backend: load metadata for a fetch client: %w", err)
	}
	lane.known = map[int32]bool{}
	for _, b := range kresp.(*kmsg.MetadataResponse).Brokers {
		lane.known[b.NodeID] = true
	}
	if !lane.known[leader] {
		return nil, fmt.Errorf("backend: broker %d is not in the cluster's metadata yet: %w", leader, kerr.LeaderNotAvailable)
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

// Fetch implements fanout.Source. It skips control batches and records below
// offset (a batch is fetched whole), verifies each batch's CRC, and returns
// the partition's error as a kerr error; leadership errors also drop the
// cached leader, so that the caller's retry asks for metadata again. Data
// that cannot be read (the broker says CORRUPT_MESSAGE, or a batch does not
// decode) is an *event.UnreadableError at once when it is the first thing at
// offset; events before it are returned first.
func (s *KafkaSource) Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error) {
	return s.FetchWait(ctx, topic, partition, offset, maxBytes, s.MaxWait)
}

// FetchWait is Fetch with this call's own long-poll limit instead of
// MaxWait: at the high watermark it waits up to wait for new events (0
// answers at once). Below the high watermark a fetch answered last, events
// are stored: it goes the way of FetchStored, so that it does not wait
// behind another reader's long poll of the partition. (Should that high
// watermark have gone down since, it answers no events at once rather
// than waiting.)
func (s *KafkaSource) FetchWait(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, wait time.Duration) (event.Batch, error) {
	s.mu.Lock()
	hwm, ok := s.hwms[partKey{topic, partition}]
	s.mu.Unlock()
	if ok && offset < hwm {
		return s.fetch(ctx, topic, partition, offset, maxBytes, 0, true)
	}
	return s.fetch(ctx, topic, partition, offset, maxBytes, wait, false)
}

// FetchStored implements fanout.StoredSource: a fetch that does not wait,
// sent through the stored-event clients (SetStoredClients), else the
// metadata client, rather than the partition's fetch lane, so that it does
// not queue behind a long poll there. (Without fetch clients, every fetch
// shares one connection and this one can wait behind a long poll.)
func (s *KafkaSource) FetchStored(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error) {
	return s.fetch(ctx, topic, partition, offset, maxBytes, 0, true)
}

// fetch is FetchWait, through s.cl rather than a lane when prompt.
func (s *KafkaSource) fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, wait time.Duration, prompt bool) (event.Batch, error) {
	key := partKey{topic, partition}
	ld, err := s.leader(ctx, key)
	if err != nil {
		return event.Batch{}, err
	}
	req := fetchRequest(key, ld.topicID, offset, maxBytes, wait)

	cl := s.cl
	var lane *fetchLane
	set := &s.polls
	if prompt {
		set = &s.stored
	}
	if len(set.all) > 0 {
		if lane, err = s.fetchClient(ctx, set, key, ld.id); err != nil {
			return event.Batch{}, err
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
		return event.Batch{}, fmt.Errorf("backend: fetch %s/%d from broker %d: %w", topic, partition, ld.id, err)
	}
	return s.answer(ctx, key, ld.topicID, offset, kresp.(*kmsg.FetchResponse), false)
}

// fetchRequest is a consumer's fetch of key from offset, waiting up to
// wait at the high watermark, without a fetch session.
func fetchRequest(key partKey, topicID [16]byte, offset int64, maxBytes int32, wait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(min(max(wait, 0), math.MaxInt32*time.Millisecond) / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1 // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = key.topic
	rt.TopicID = topicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = key.partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = maxBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// answer turns resp, a fetch of key from offset in the topic with ID
// topicID, into a Batch or the errors Fetch documents. owned says the
// record bytes are resp's own, not a buffer the client may reuse: the
// events may keep them without a copy.
func (s *KafkaSource) answer(ctx context.Context, key partKey, topicID [16]byte, offset int64, resp *kmsg.FetchResponse, owned bool) (event.Batch, error) {
	topic, partition := key.topic, key.partition
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if unknownTopic(err) {
			return event.Batch{}, s.gone(ctx, key, err)
		}
		return event.Batch{}, fmt.Errorf("backend: fetch %s/%d: %w", topic, partition, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return event.Batch{}, fmt.Errorf("backend: fetch %s/%d: response names %d topics, not the one asked for", topic, partition, len(resp.Topics))
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		if errors.Is(err, kerr.OffsetOutOfRange) {
			return event.Batch{}, &event.OffsetOutOfRangeError{Topic: topic, Partition: partition, Offset: offset, LogStartOffset: p.LogStartOffset, HighWatermark: p.HighWatermark}
		}
		if errors.Is(err, kerr.CorruptMessage) {
			return event.Batch{}, s.unreadable(topic, partition, offset, brokerDamage(p, offset))
		}
		if unknownTopic(err) {
			return event.Batch{}, s.gone(ctx, key, err)
		}
		if leadershipMoved(err) {
			s.forget(key)
		}
		return event.Batch{}, fmt.Errorf("backend: fetch %s/%d: %w", topic, partition, err)
	}
	s.mu.Lock()
	s.hwms[key] = p.HighWatermark
	s.mu.Unlock()
	b := event.Batch{NextOffset: offset, HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset, TopicID: topicID}
	raw := p.RecordBatches
	if !owned {
		// Events outlive this call and are shared; keep them off any
		// buffer the client might reuse.
		raw = bytes.Clone(raw)
	}
	if d := decodeInto(&b, partition, offset, raw); d != nil {
		return event.Batch{}, s.unreadable(topic, partition, offset, *d)
	}
	return b, nil
}

// gone checks what a fetch answered UNKNOWN_TOPIC_ID or
// UNKNOWN_TOPIC_OR_PARTITION for, with fresh metadata: a topic that no longer
// exists is an *event.TopicGoneError; anything else (a broker still
// starting, a topic created again under a new ID) is the fetch's error, for
// the caller to retry: the retry reads what the fresh metadata says, and
// its Batch.TopicID tells a reader that the topic is a new one.
func (s *KafkaSource) gone(ctx context.Context, key partKey, err error) error {
	s.forget(key)
	if _, lerr := s.leader(ctx, key); lerr != nil && errors.Is(lerr, kerr.UnknownTopicOrPartition) {
		return &event.TopicGoneError{Topic: key.topic, Partition: key.partition}
	}
	return fmt.Errorf("backend: fetch %s/%d: %w", key.topic, key.partition, err)
}

// UseLeader makes id the broker the source reads topic's partition from,
// until a fetch from it fails: a caller that just wrote to the partition
// knows its leader better than the cached metadata may.
func (s *KafkaSource) UseLeader(ctx context.Context, topic string, partition int32, id int32) error {
	key := partKey{topic, partition}
	ld, err := s.leader(ctx, key)
	if err != nil {
		return err
	}
	if ld.id != id {
		ld.id = id
		s.mu.Lock()
		s.leaders[key] = ld
		s.mu.Unlock()
	}
	return nil
}

func (s *KafkaSource) forget(key partKey) {
	s.mu.Lock()
	delete(s.leaders, key)
	delete(s.hwms, key)
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
		return leader{}, fmt.Errorf("backend: metadata for %s: %w", key.topic, err)
	}
	if len(resp.Brokers) == 0 {
		// A broker that has not caught up with the cluster (just
		// restarted) knows no topics: its answer proves nothing.
		return leader{}, fmt.Errorf("backend: metadata for %s: the broker that answered lists no live brokers: %w", key.topic, kerr.LeaderNotAvailable)
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != key.topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return leader{}, fmt.Errorf("backend: metadata for %s: %w", key.topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition != key.partition {
				continue
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil && !errors.Is(err, kerr.ReplicaNotAvailable) {
				return leader{}, fmt.Errorf("backend: metadata for %s/%d: %w", key.topic, key.partition, err)
			}
			if p.Leader < 0 {
				return leader{}, fmt.Errorf("backend: metadata for %s/%d: %w", key.topic, key.partition, kerr.LeaderNotAvailable)
			}
			ld = leader{id: p.Leader, topicID: t.TopicID}
			s.mu.Lock()
			s.leaders[key] = ld
			s.mu.Unlock()
			return ld, nil
		}
		return leader{}, fmt.Errorf("backend: metadata for %s/%d: %w", key.topic, key.partition, kerr.UnknownTopicOrPartition)
	}
	return leader{}, fmt.Errorf("backend: metadata for %s: %w", key.topic, kerr.UnknownTopicOrPartition)
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

// Bounds implements fanout.Bounder with two ListOffsets requests (earliest and
// latest) to the partition's leader.
func (s *KafkaSource) Bounds(ctx context.Context, topic string, partition int32) (logStart, hwm int64, err error) {
	key := partKey{topic, partition}
	ld, err := s.leader(ctx, key)
	if err != nil {
		return 0, 0, err
	}
	var out [2]int64
	for i, ts := range boundTimestamps {
		kresp, err := s.cl.Broker(int(ld.id)).Request(ctx, listOffsetsRequest(key, ts))
		if err != nil {
			s.forget(key)
			return 0, 0, fmt.Errorf("list offsets of %s/%d on broker %d: %w", topic, partition, ld.id, err)
		}
		if out[i], err = listedOffset(key, kresp.(*kmsg.ListOffsetsResponse)); err != nil {
			if leadershipMoved(err) {
				s.forget(key)
			}
			return 0, 0, err
		}
	}
	return out[0], out[1], nil
}

// boundTimestamps are the ListOffsets timestamps of a partition's bounds:
// earliest (the log start) and latest (the high watermark).
var boundTimestamps = [2]int64{-2, -1}

// listOffsetsRequest asks for the offset of key at timestamp ts.
func listOffsetsRequest(key partKey, ts int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = key.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = key.partition
	rp.Timestamp = ts
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// listedOffset is the offset resp, an answer to listOffsetsRequest for
// key, gives, or its error as a kerr error.
func listedOffset(key partKey, resp *kmsg.ListOffsetsResponse) (int64, error) {
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("list offsets of %s/%d: the answer names %d topics, not the one asked for", key.topic, key.partition, len(resp.Topics))
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, fmt.Errorf("list offsets of %s/%d: %w", key.topic, key.partition, err)
	}
	return p.Offset, nil
}
