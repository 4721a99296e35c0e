package faultharness

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProduceDirect sends one Produce request (v7) with the values as one
// batch straight to the broker at addr, whatever the cluster's metadata
// says (as a client with stale metadata would), and returns the
// partition's answer: its error code and base offset. An error means no
// answer (connection failure, timeout).
func ProduceDirect(ctx context.Context, addr, topic string, partition int32, acks int16, values ...[]byte) (int16, int64, error) {
	now := time.Now().UnixMilli()
	recs := make([]recordbatch.Record, len(values))
	for i, v := range values {
		recs[i] = recordbatch.Record{Timestamp: now, Value: v}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{PartitionLeaderEpoch: -1}, recs)
	if err != nil {
		return 0, 0, err
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)

	kresp, err := RequestDirect(ctx, addr, req)
	if err != nil {
		return 0, 0, err
	}
	resp := kresp.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, 0, fmt.Errorf("produce to %s: response without the partition", addr)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset, nil
}

// RequestDirect sends req, at a version without flexible headers (Produce
// v7, Metadata v8), to the broker at addr on a new connection and returns
// its response. The caller sets req's version.
func RequestDirect(ctx context.Context, addr string, req kmsg.Request) (kmsg.Response, error) {
	if req.IsFlexible() {
		return nil, fmt.Errorf("request key %d v%d is flexible: use an older version", req.Key(), req.GetVersion())
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	const correlation = 7
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("faultharness")).AppendRequest(nil, req, correlation)
	if _, err := conn.Write(frame); err != nil {
		return nil, err
	}
	var head [8]byte // length, correlation id
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return nil, err
	}
	size, corr := int32(binary.BigEndian.Uint32(head[:4])), int32(binary.BigEndian.Uint32(head[4:]))
	if corr != correlation || size < 4 || size > 16<<20 {
		return nil, fmt.Errorf("%s: bad response header (size %d, correlation %d)", addr, size, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", addr, err)
	}
	return resp, nil
}

// PartitionFrom asks the broker at addr (only it) for a partition's leader
// and ISR, with Metadata v8.
func PartitionFrom(ctx context.Context, addr, topic string, partition int32) (leader int32, isr []int32, err error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 8
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = &topic
	req.Topics = append(req.Topics, rt)
	kresp, err := RequestDirect(ctx, addr, req)
	if err != nil {
		return 0, nil, err
	}
	for _, t := range kresp.(*kmsg.MetadataResponse).Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return 0, nil, fmt.Errorf("metadata of %s from %s: %w", topic, addr, kerr.ErrorForCode(t.ErrorCode))
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p.Leader, p.ISR, nil
			}
		}
	}
	return 0, nil, fmt.Errorf("metadata from %s: no %s/%d", addr, topic, partition)
}
