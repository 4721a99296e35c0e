package faultharness

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/runnel-dev/runnel/broker/recordbatch"
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

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	const correlation = 7
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("faultharness")).AppendRequest(nil, req, correlation)
	if _, err := conn.Write(frame); err != nil {
		return 0, 0, err
	}
	var head [8]byte // length, correlation id (v7 responses have no header tags)
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return 0, 0, err
	}
	size, corr := int32(binary.BigEndian.Uint32(head[:4])), int32(binary.BigEndian.Uint32(head[4:]))
	if corr != correlation || size < 4 || size > 1<<20 {
		return 0, 0, fmt.Errorf("produce to %s: bad response header (size %d, correlation %d)", addr, size, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(conn, body); err != nil {
		return 0, 0, err
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Version = req.Version
	if err := resp.ReadFrom(body); err != nil {
		return 0, 0, fmt.Errorf("produce to %s: decode response: %w", addr, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, 0, fmt.Errorf("produce to %s: response without the partition", addr)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset, nil
}
