package broker_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHandleBatchProduce serves produce requests that a client pipelined as
// one batch (what the Kafka server does with the requests queued on a
// connection) and checks that each is answered as if served alone, in order:
// a corrupt set fails alone, a retried idempotent batch is answered with its
// original offsets and written once, two batches for one partition are
// refused as Kafka refuses them, acks=-1 waits for the commit, acks=0 gets no
// answer, and the logs hold exactly the accepted records, in request order.
func TestHandleBatchProduce(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{})
	c.CreateTopic("pipelined", 2, nil)
	batch := func(value string, n int, producer *recordbatch.Producer) []byte {
		recs := make([]recordbatch.Record, n)
		for i := range recs {
			recs[i] = recordbatch.Record{Value: []byte(value), Timestamp: time.Now().UnixMilli()}
		}
		b, err := recordbatch.Build(recordbatch.BuildOptions{Producer: producer}, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	corrupt := batch("C", 2, nil)
	corrupt[len(corrupt)-1] ^= 0xff
	idem := &recordbatch.Producer{ID: 4242, Epoch: 0, BaseSequence: 0}
	type part struct {
		partition int32
		records   []byte
	}
	reqs := []struct {
		acks  int16
		parts []part
	}{
		{1, []part{{0, batch("A", 3, nil)}, {1, batch("B", 1, nil)}}},
		{1, []part{{0, corrupt}}},
		{-1, []part{{0, batch("D", 2, nil)}, {1, batch("E", 2, nil)}}},
		{1, []part{{0, batch("F", 2, idem)}}},
		{1, []part{{0, batch("F", 2, idem)}}}, // the producer's retry
		{1, []part{{0, append(batch("G", 1, nil), batch("G", 1, nil)...)}}},
		{0, []part{{0, batch("H", 1, nil)}}},
		{1, []part{{1, batch("I", 1, nil)}, {7, batch("X", 1, nil)}}},
	}
	var batchReqs []*kafkaserver.Request
	for i, r := range reqs {
		pr := kmsg.NewPtrProduceRequest()
		pr.Version, pr.Acks, pr.TimeoutMillis = 9, r.acks, 10000
		tt := kmsg.NewProduceRequestTopic()
		tt.Topic = "pipelined"
		for _, p := range r.parts {
			tp := kmsg.NewProduceRequestTopicPartition()
			tp.Partition, tp.Records = p.partition, p.records
			tt.Partitions = append(tt.Partitions, tp)
		}
		pr.Topics = append(pr.Topics, tt)
		batchReqs = append(batchReqs, &kafkaserver.Request{Key: 0, Version: 9, CorrelationID: int32(i), Msg: pr})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := c.HandleBatch(ctx, batchReqs)
	if len(out) != len(reqs) {
		t.Fatalf("%d results for %d requests", len(out), len(reqs))
	}
	type answer struct {
		code int16
		base int64
	}
	want := [][]answer{
		{{0, 0}, {0, 0}},
		{{kerr.CorruptMessage.Code, -1}},
		{{0, 3}, {0, 1}},
		{{0, 5}},
		{{0, 5}},                        // the original's offset, not written again
		{{kerr.InvalidRecord.Code, -1}}, // one batch per partition
		nil,                             // acks=0
		{{0, 3}, {kerr.UnknownTopicOrPartition.Code, -1}},
	}
	for i, res := range out {
		if res.Err != nil {
			t.Fatalf("request %d: %v", i, res.Err)
		}
		if want[i] == nil {
			if res.Response != nil {
				t.Fatalf("request %d (acks=0) got a response", i)
			}
			continue
		}
		parts := res.Response.Msg.(*kmsg.ProduceResponse).Topics[0].Partitions
		if len(parts) != len(want[i]) {
			t.Fatalf("request %d: %d partitions answered, want %d", i, len(parts), len(want[i]))
		}
		for j, p := range parts {
			if p.ErrorCode != want[i][j].code || p.BaseOffset != want[i][j].base {
				t.Errorf("request %d partition %d: error %d base offset %d, want error %d base offset %d",
					i, p.Partition, p.ErrorCode, p.BaseOffset, want[i][j].code, want[i][j].base)
			}
		}
	}
	for partition, values := range map[int32]string{0: "AAADDFFH", 1: "BEEI"} {
		l, ok := c.Log(commitlog.TopicPartition{Topic: "pipelined", Partition: partition})
		if !ok {
			t.Fatalf("no log for partition %d", partition)
		}
		r := l.NewReader(0, commitlog.ToHighWatermark)
		var got []byte
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Offset != int64(len(got)) {
				t.Fatalf("partition %d: record at offset %d after %d records", partition, rec.Offset, len(got))
			}
			got = append(got, rec.Value...)
		}
		if string(got) != values {
			t.Errorf("partition %d holds %q, want %q", partition, got, values)
		}
	}
}

// TestProduceOldVersions checks that Produce is advertised from v0, as
// librdkafka needs to compress, and that v0-v2 requests are refused with
// UNSUPPORTED_VERSION and write nothing, as Kafka 4.0 does (KAFKA-18659).
func TestProduceOldVersions(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{})
	c.CreateTopic("old", 1, nil)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range rawRequest(t, c.Addr(), av).(*kmsg.ApiVersionsResponse).ApiKeys {
		keys[k.ApiKey] = k
	}
	for _, key := range []kmsg.Key{kmsg.Produce, kmsg.FindCoordinator} {
		if k, ok := keys[int16(key)]; !ok || k.MinVersion != 0 {
			t.Fatalf("ApiVersions lists %s as %+v (listed: %v), want from v0", kmsg.NameForKey(int16(key)), k, ok)
		}
	}
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		req.Acks, req.TimeoutMillis = 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "old"
		rp := kmsg.NewProduceRequestTopicPartition()
		b, err := recordbatch.Build(recordbatch.BuildOptions{}, []recordbatch.Record{{Value: []byte("v"), Timestamp: time.Now().UnixMilli()}})
		if err != nil {
			t.Fatal(err)
		}
		rp.Records = b
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := rawRequest(t, c.Addr(), req).(*kmsg.ProduceResponse)
		got := resp.Topics[0].Partitions[0]
		want := int16(0)
		if v < 3 {
			want = kerr.UnsupportedVersion.Code
		}
		if got.ErrorCode != want {
			t.Fatalf("produce v%d: error %d, want %d", v, got.ErrorCode, want)
		}
		if v == 3 && got.BaseOffset != 0 {
			t.Fatalf("produce v3 after refused v0-v2: base offset %d, want 0 (nothing written before)", got.BaseOffset)
		}
		if v < 3 {
			// acks=0 expects no answer: the refusal closes the connection.
			req.Acks = 0
			if resp, err := rawExchange(t, c.Addr(), req); err == nil {
				t.Fatalf("produce v%d acks=0: answered %+v, want the connection closed", v, resp)
			}
		}
	}
}
