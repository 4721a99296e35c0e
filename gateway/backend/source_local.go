package backend

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/gateway/event"
	"github.com/runnel-dev/runnel/gateway/fanout"
)

// LocalFetcher is a LocalBroker that also serves reads with function
// calls ((*broker.Broker) implements it): a Fetch's record batches come in
// memory, and the tail waits on the log. Config.Local is used as one when
// it has these methods.
type LocalFetcher interface {
	LocalBroker
	// HandleLocal serves one Kafka request (here Fetch and ListOffsets)
	// and returns its response, as broker.Broker.HandleLocal does.
	HandleLocal(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	// WaitLocal returns once the high watermark of the partition is no
	// longer offset, the broker stops leading it, or ctx ends.
	WaitLocal(ctx context.Context, topic string, partition int32, offset int64)
}

// The versions of the requests a LocalSource serves in-process: those
// franz-go sends the broker over the wire.
const (
	localFetchVersion       = 15
	localListOffsetsVersion = 7
)

// LocalSource reads the partitions that a broker in the gateway's process
// leads with function calls into it, and every other one through a
// KafkaSource: no Kafka request over TCP, no franz-go client and no extra
// goroutine per read of a local partition. Its answers, errors included,
// are the KafkaSource's: the reads go through the broker's own Fetch and
// ListOffsets handlers and through the KafkaSource's decoding. A read
// at a partition's high watermark waits on the log itself (LocalFetcher.
// WaitLocal) and then reads at once, so that a new event reaches the tail
// reader with one wake-up.
type LocalSource struct {
	local LocalFetcher
	kafka *KafkaSource
}

// The interfaces LocalSource serves.
var (
	_ fanout.Source       = (*LocalSource)(nil)
	_ fanout.StoredSource = (*LocalSource)(nil)
	_ fanout.Bounder      = (*LocalSource)(nil)
)

// NewLocalSource returns a source reading the partitions local leads from
// it and the others through kafka, whose MaxWait is the long-poll limit
// of Fetch.
func NewLocalSource(local LocalFetcher, kafka *KafkaSource) *LocalSource {
	return &LocalSource{local: local, kafka: kafka}
}

// Fetch implements fanout.Source as KafkaSource.Fetch does.
func (s *LocalSource) Fetch(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error) {
	return s.FetchWait(ctx, topic, partition, offset, maxBytes, s.kafka.MaxWait)
}

// FetchStored implements fanout.StoredSource: a read that never waits.
// A local one never queues behind another reader's long poll either.
// A partition read through the KafkaSource goes the way of its
// FetchStored.
func (s *LocalSource) FetchStored(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32) (event.Batch, error) {
	return s.read(ctx, topic, partition, offset, maxBytes, 0, true)
}

// FetchWait is KafkaSource.FetchWait: at the high watermark it waits up to
// wait for new events.
func (s *LocalSource) FetchWait(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, wait time.Duration) (event.Batch, error) {
	return s.read(ctx, topic, partition, offset, maxBytes, wait, false)
}

// delegate reads through the KafkaSource: with FetchStored when stored,
// else with FetchWait.
func (s *LocalSource) delegate(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, wait time.Duration, stored bool) (event.Batch, error) {
	if stored {
		return s.kafka.FetchStored(ctx, topic, partition, offset, maxBytes)
	}
	return s.kafka.FetchWait(ctx, topic, partition, offset, maxBytes, wait)
}

// read is FetchWait, or FetchStored when stored.
func (s *LocalSource) read(ctx context.Context, topic string, partition int32, offset int64, maxBytes int32, wait time.Duration, stored bool) (event.Batch, error) {
	key := partKey{topic, partition}
	id, leads, known := s.local.LocalPartition(topic, partition)
	switch {
	case !known:
		// Deleted, or never was: the cluster's metadata says which.
		return event.Batch{}, s.kafka.gone(ctx, key, kerr.UnknownTopicOrPartition)
	case !leads:
		return s.delegate(ctx, topic, partition, offset, maxBytes, wait, stored)
	}
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		s.local.WaitLocal(wctx, topic, partition, offset)
		cancel()
		if err := ctx.Err(); err != nil {
			return event.Batch{}, err
		}
		// The first append woke the wait. Producers that are ready to
		// run append theirs first, so that a busy partition is read
		// (and fanned out to every subscriber) in batches, not one
		// event per wake-up; an idle one is read at once.
		runtime.Gosched()
	}
	req := fetchRequest(key, id, offset, maxBytes, 0)
	req.SetVersion(localFetchVersion)
	kresp, err := s.local.HandleLocal(ctx, req)
	if err != nil {
		return event.Batch{}, fmt.Errorf("backend: fetch %s/%d in-process: %w", topic, partition, err)
	}
	resp, ok := kresp.(*kmsg.FetchResponse)
	if !ok {
		return event.Batch{}, fmt.Errorf("backend: fetch %s/%d in-process: answered with %T", topic, partition, kresp)
	}
	b, err := s.kafka.answer(ctx, key, id, offset, resp, true)
	if err != nil && leadershipMoved(err) && !errors.Is(err, event.ErrTopicGone) {
		// The leadership moved since LocalPartition looked (or the
		// topic is being created again): the KafkaSource finds the
		// partition's leader, wherever it is now.
		return s.delegate(ctx, topic, partition, offset, maxBytes, wait, stored)
	}
	return b, err
}

// Bounds implements fanout.Bounder as KafkaSource.Bounds does.
func (s *LocalSource) Bounds(ctx context.Context, topic string, partition int32) (logStart, hwm int64, err error) {
	key := partKey{topic, partition}
	if _, leads, _ := s.local.LocalPartition(topic, partition); !leads {
		return s.kafka.Bounds(ctx, topic, partition)
	}
	var out [2]int64
	for i, ts := range boundTimestamps {
		req := listOffsetsRequest(key, ts)
		req.SetVersion(localListOffsetsVersion)
		kresp, err := s.local.HandleLocal(ctx, req)
		if err != nil {
			return 0, 0, fmt.Errorf("list offsets of %s/%d in-process: %w", topic, partition, err)
		}
		resp, ok := kresp.(*kmsg.ListOffsetsResponse)
		if !ok {
			return 0, 0, fmt.Errorf("list offsets of %s/%d in-process: answered with %T", topic, partition, kresp)
		}
		if out[i], err = listedOffset(key, resp); err != nil {
			if leadershipMoved(err) {
				return s.kafka.Bounds(ctx, topic, partition)
			}
			return 0, 0, err
		}
	}
	return out[0], out[1], nil
}
