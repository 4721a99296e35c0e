package broker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListOffsets, 1, 7, (*Broker).handleListOffsets) }

// Special timestamps of ListOffsets.
const (
	latestTimestamp   = -1
	earliestTimestamp = -2
	maxTimestamp      = -3
)

// handleListOffsets answers earliest (log start), latest (high watermark, or
// log end for replicas), the record with the largest timestamp, or the first
// offset at or after a timestamp.
func (b *Broker) handleListOffsets(ctx context.Context, r *kafkaserver.Request) (*kafkaserver.Response, error) {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, lp := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = lp.Partition
			rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
			p, err := b.partitionFor(t.Topic, lp.Partition)
			var st *partitionState
			if err == nil {
				st, err = p.leaderState(lp.CurrentLeaderEpoch)
			}
			if err == nil {
				rp.LeaderEpoch = st.leaderEpoch
				bound := commitlog.ToHighWatermark
				if req.ReplicaID > 0 { // a broker (ids are positive): Kafka's followers look past the HW
					bound = commitlog.ToLogEnd
				}
				rp.Offset, rp.Timestamp, err = b.listOffsetTiered(ctx, p, lp.Timestamp, bound, req.ReplicaID > 0)
			}
			rp.ErrorCode = errorCode(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return &kafkaserver.Response{Msg: resp}, nil
}

// listOffset resolves one ListOffsets timestamp to an offset (and timestamp).
func listOffset(l partitionLog, ts int64, bound commitlog.Bound) (int64, int64, error) {
	o := l.Offsets()
	end := o.HighWatermark
	if bound == commitlog.ToLogEnd {
		end = o.LogEnd
	}
	switch ts {
	case latestTimestamp:
		return end, -1, nil
	case earliestTimestamp:
		return o.LogStart, -1, nil
	case maxTimestamp:
		mts, last, ok := l.MaxTimestamp()
		if !ok || last >= end {
			return -1, -1, nil
		}
		off, err := offsetOfMaxTimestamp(l, last, mts, bound)
		if err != nil {
			return -1, -1, err
		}
		return off, mts, nil
	}
	if ts < 0 {
		return -1, -1, kerr.InvalidRequest
	}
	off, found, ok, err := l.OffsetForTimestamp(ts, bound)
	if err != nil {
		return -1, -1, err
	}
	if !ok {
		return -1, -1, nil
	}
	return off, found, nil
}

// offsetOfMaxTimestamp returns the offset of the first record of the batch
// holding last whose timestamp is ts, the batch's max timestamp. The log
// tracks the max timestamp per batch, with the batch's last offset, as
// Kafka's time index does; ListOffsets answers the record (KAFKA-16310).
func offsetOfMaxTimestamp(l partitionLog, last, ts int64, bound commitlog.Bound) (int64, error) {
	buf, _, err := l.ReadBatches(last, 1, bound)
	if err != nil {
		return -1, fmt.Errorf("read the batch holding offset %d: %w", last, err)
	}
	batch, _, err := recordbatch.Next(buf)
	if err != nil {
		return -1, fmt.Errorf("read the batch holding offset %d: %w", last, err)
	}
	it, err := recordbatch.Records(batch, recordbatch.DecodeOptions{})
	if err != nil {
		return -1, fmt.Errorf("decode the batch holding offset %d: %w", last, err)
	}
	for {
		r, err := it.Next()
		if errors.Is(err, io.EOF) {
			return last, nil // no record carries the header's max timestamp: the batch's last, as before
		}
		if err != nil {
			return -1, fmt.Errorf("decode the batch holding offset %d: %w", last, err)
		}
		if r.Timestamp == ts {
			return r.Offset, nil
		}
	}
}
