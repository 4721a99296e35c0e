package broker_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Byte offsets in a v2 batch header, for tests that forge batches.
const (
	hdrBatchLength  = 8
	hdrMagic        = 16
	hdrCRC          = 17
	hdrAttributes   = 21
	hdrLastOffDelta = 23
	hdrMaxTimestamp = 35
	hdrRecordCount  = 57
)

// reframe returns a batch with batch's header (edited by edit, if not nil)
// and records as its records section, its length and CRC-32C made right: a
// batch any framing check accepts, whatever is inside.
func reframe(batch, records []byte, edit func(h []byte)) []byte {
	b := append(append([]byte(nil), batch[:recordbatch.HeaderSize]...), records...)
	if edit != nil {
		edit(b)
	}
	binary.BigEndian.PutUint32(b[hdrBatchLength:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[hdrCRC:], crc32.Checksum(b[hdrAttributes:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// buildBatch builds a batch of records with values and timestamps ts, or
// fails the test.
func buildBatch(t testing.TB, opts recordbatch.BuildOptions, ts int64, values ...string) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, len(values))
	for i, v := range values {
		recs[i] = recordbatch.Record{Value: []byte(v), Timestamp: ts}
	}
	b, err := recordbatch.Build(opts, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawKafka sends raw produce and fetch requests at chosen versions, through
// franz-go clients pinned to them (franz-go otherwise picks the highest
// version both sides know).
type rawKafka struct {
	c       clientMaker
	clients map[int16]*kgo.Client // by Produce version; Fetch is v11
}

// clientMaker is a test cluster or broker (brokertest.Cluster,
// brokertest.Broker): it makes franz-go clients seeded with its brokers.
type clientMaker interface {
	Client(opts ...kgo.Opt) *kgo.Client
}

func newRawKafka(c clientMaker) *rawKafka {
	return &rawKafka{c: c, clients: map[int16]*kgo.Client{}}
}

func (r *rawKafka) client(produceVersion int16) *kgo.Client {
	cl, ok := r.clients[produceVersion]
	if !ok {
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(int16(kmsg.Produce), produceVersion)
		vs.SetMaxKeyVersion(int16(kmsg.Fetch), 11)
		cl = r.c.Client(kgo.MaxVersions(vs))
		r.clients[produceVersion] = cl
	}
	return cl
}

// onePartitionProduce is a produce request for one partition.
func onePartitionProduce(version, acks int16, timeout time.Duration, topic string, partition int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, acks, int32(timeout/time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produce sends one produce request (acks=1) at the given version for one
// partition with the given records field and returns the partition's
// answer.
func (r *rawKafka) produce(t testing.TB, version int16, topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := onePartitionProduce(version, 1, 10*time.Second, topic, partition, records)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, r.client(version))
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if resp.Version != version {
		t.Fatalf("produce went as v%d, want v%d", resp.Version, version)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce answered %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// fetch fetches one partition from offset with a raw Fetch v11, at most
// maxBytes (but at least the first batch, as Kafka answers), and returns the
// partition's answer, failing the test on an error code.
func (r *rawKafka) fetch(t testing.TB, topic string, partition int32, offset int64, maxBytes int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes = -1, maxBytes
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = partition, offset, maxBytes, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, r.client(9))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answered %d topics", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch %s-%d at %d: %v", topic, partition, offset, kerr.ErrorForCode(p.ErrorCode))
	}
	return p
}

// logEnd returns the log end offset of a partition b holds.
func logEnd(t testing.TB, b *broker.Broker, topic string, partition int32) int64 {
	t.Helper()
	l, ok := b.Log(commitlog.TopicPartition{Topic: topic, Partition: partition})
	if !ok {
		t.Fatalf("no log for %s-%d", topic, partition)
	}
	return l.LogEndOffset()
}

// randomBatch builds an uncompressed batch of n records of size random
// bytes each, stamped now.
func randomBatch(t testing.TB, rng *rand.Rand, n, size int) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for j := range recs {
		v := make([]byte, size)
		for k := range v {
			v[k] = byte(rng.Uint32())
		}
		recs[j] = recordbatch.Record{Value: v, Timestamp: time.Now().UnixMilli()}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return batch
}
