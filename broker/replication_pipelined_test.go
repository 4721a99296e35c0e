package broker_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAcksAllPipelinedOnOneConnection: on one connection, an acks=1
// produce sent behind an acks=all one that waits for cut-off followers is
// appended while the acks=all one waits (as Kafka's purgatory lets the
// next request in), yet the acks=all one is answered only once the
// followers have its records, and the answers come in request order.
func TestAcksAllPipelinedOnOneConnection(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{ReplicationProxies: true, ReplicaLagTimeMax: time.Minute})
	c.CreateReplicatedTopic("pipe", 1, 3, nil)
	if rp := produceRaw(t, c, acksClient(c, -1), "pipe", -1, 10*time.Second, batchOf(t, "a")); rp.ErrorCode != 0 {
		t.Fatalf("acks=all: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	li := int(partitionOf(t, c, "pipe", 0).Leader - 1)
	c.Proxy(li).Block()
	conn, err := net.Dial("tcp", c.Addrs()[li])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	format := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipelined"))
	leaderLog := logOf(t, c, li, "pipe", 0)
	for i, r := range []struct {
		acks  int16
		value string
	}{{-1, "b"}, {1, "c"}} {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 7, r.acks, 30000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pipe"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batchOf(t, r.value)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if _, err := conn.Write(format.AppendRequest(nil, req, int32(i+1))); err != nil {
			t.Fatal(err)
		}
		// Each request is written before the next is sent: the acks=1
		// one arrives while the acks=all one already waits, and is
		// written well before the acks=all one's 30 s timeout.
		want := int64(i + 2)
		testwait.For(t, 15*time.Second, 10*time.Millisecond, func() error {
			if end := leaderLog.Offsets().LogEnd; end != want {
				return fmt.Errorf("leader's log end %d, want %d", end, want)
			}
			return nil
		})
	}
	if hw := leaderLog.Offsets().HighWatermark; hw != 1 {
		t.Fatalf("high watermark %d with the followers cut off, want 1", hw)
	}
	c.Proxy(li).Unblock()
	for i, want := range []int64{1, 2} {
		var head [8]byte
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		size, corr := binary.BigEndian.Uint32(head[:4]), int32(binary.BigEndian.Uint32(head[4:]))
		if corr != int32(i+1) {
			t.Fatalf("response %d has correlation id %d: out of order", i+1, corr)
		}
		body := make([]byte, size-4)
		if _, err := io.ReadFull(conn, body); err != nil {
			t.Fatal(err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 7
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != want {
			t.Fatalf("response %d: %v at base offset %d, want success at %d", i+1, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, want)
		}
	}
	if hw := leaderLog.Offsets().HighWatermark; hw < 2 {
		t.Fatalf("acks=all answered with the high watermark at %d, below its record", hw)
	}
	waitReplicated(t, c, "pipe", 0, 3)
}
