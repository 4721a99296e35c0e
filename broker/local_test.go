package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// localProduce sends one batch to topic/partition through HandleLocal and
// returns the partition's answer (nil for acks=0, which has none).
func localProduce(t *testing.T, b *broker.Broker, topic string, partition int32, acks int16, timeout time.Duration, batch []byte) *kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := onePartitionProduce(9, acks, timeout, topic, partition, batch)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := b.HandleLocal(ctx, req)
	if err != nil {
		t.Fatalf("HandleLocal produce: %v", err)
	}
	if acks == 0 {
		if resp != nil {
			t.Fatalf("acks=0 produce answered %T, want no answer", resp)
		}
		return nil
	}
	pr := resp.(*kmsg.ProduceResponse)
	if pr.GetVersion() != 9 || len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response v%d with %d topics, want v9 with one topic and partition", pr.GetVersion(), len(pr.Topics))
	}
	return &pr.Topics[0].Partitions[0]
}

// batchValues returns the values of the records in batches, in order.
func batchValues(t *testing.T, batches []byte) []string {
	t.Helper()
	var values []string
	for rest := batches; len(rest) > 0; {
		batch, next, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatalf("batches: %v", err)
		}
		recs, err := recordbatch.DecodeRecords(nil, batch, recordbatch.DecodeOptions{})
		if err != nil {
			t.Fatalf("records: %v", err)
		}
		for _, r := range recs {
			values = append(values, string(r.Value))
		}
		rest = next
	}
	return values
}

// labeledCounter reads the child of a counter vector whose api label is api,
// 0 when it has none.
func labeledCounter(t *testing.T, reg *prometheus.Registry, name, api string) float64 {
	t.Helper()
	for _, m := range familyOf(t, reg, name).GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "api" && l.GetValue() == api {
				return metricValue(m)
			}
		}
	}
	return 0
}

// TestHandleLocal serves produce (acks 0, 1, -1) and fetch requests in
// process: offsets as over the wire, a fetch's file regions read into the
// response, errors per partition, refused versions, and the requests
// counted as in-process ones, not as the listener's.
func TestHandleLocal(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("local", 2, nil)
	b := c.Nodes[0].Broker
	leads := func(topic string, p int32) bool { _, l, _ := b.LocalPartition(topic, p); return l }
	if !leads("local", 1) || leads("local", 2) || leads("nope", 0) {
		t.Fatal("LocalPartition: want leads for local/1 only")
	}
	if rp := localProduce(t, b, "local", 1, 1, 5*time.Second, batchOf(t, "a", "b")); rp.ErrorCode != 0 || rp.BaseOffset != 0 {
		t.Fatalf("acks=1: error %v, base offset %d; want offset 0", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}
	if rp := localProduce(t, b, "local", 1, -1, 5*time.Second, batchOf(t, "c")); rp.ErrorCode != 0 || rp.BaseOffset != 2 {
		t.Fatalf("acks=-1: error %v, base offset %d; want offset 2", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}
	localProduce(t, b, "local", 1, 0, 5*time.Second, batchOf(t, "d"))
	if rp := localProduce(t, b, "local", 7, 1, 5*time.Second, batchOf(t, "x")); !errors.Is(kerr.ErrorForCode(rp.ErrorCode), kerr.UnknownTopicOrPartition) {
		t.Fatalf("partition 7 of 2: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(rp.ErrorCode))
	}
	if rp := localProduce(t, b, "local", 0, 1, 5*time.Second, []byte("not a batch")); rp.ErrorCode == 0 {
		t.Fatal("a broken batch was taken")
	}

	// A fetch: the batches the log splices over the wire come back in
	// the response message.
	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(11)
	fr.ReplicaID, fr.MaxBytes = -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "local"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes, fp.LogStartOffset = 1, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	resp, err := b.HandleLocal(t.Context(), fr)
	if err != nil {
		t.Fatalf("HandleLocal fetch: %v", err)
	}
	fp0 := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if fp0.ErrorCode != 0 || fp0.HighWatermark != 4 {
		t.Fatalf("fetch: error %v, high watermark %d; want 4", kerr.ErrorForCode(fp0.ErrorCode), fp0.HighWatermark)
	}
	got := batchValues(t, fp0.RecordBatches)
	if want := []string{"a", "b", "c", "d"}; len(got) != len(want) || got[0] != "a" || got[3] != "d" {
		t.Fatalf("fetched %q, want %q", got, want)
	}

	// What no client could send is refused before anything is served.
	old := kmsg.NewPtrProduceRequest()
	old.SetVersion(99)
	if _, err := b.HandleLocal(t.Context(), old); !errors.Is(err, broker.ErrLocalRequest) {
		t.Fatalf("produce v99: %v, want ErrLocalRequest", err)
	}
	if _, err := b.HandleLocal(t.Context(), kmsg.NewPtrApiVersionsRequest()); !errors.Is(err, broker.ErrLocalRequest) {
		t.Fatalf("ApiVersions: %v, want ErrLocalRequest", err)
	}

	reg := c.Metrics(0)
	if n := labeledCounter(t, reg, "runnel_broker_local_requests_total", "Produce"); n != 5 {
		t.Fatalf("local produce requests counted %v, want 5", n)
	}
	if n := labeledCounter(t, reg, "runnel_broker_local_requests_total", "Fetch"); n != 1 {
		t.Fatalf("local fetch requests counted %v, want 1", n)
	}
	if n := labeledCounter(t, reg, "runnel_kafka_requests_total", "Produce"); n != 0 {
		t.Fatalf("the Kafka listener counted %v produce requests, want 0", n)
	}
}

// TestHandleLocalAcksAllWaits is TestAcksAllWaitsForFollowers in process:
// an acks=-1 produce returns once the followers have the records, and with
// them cut off it times out with REQUEST_TIMED_OUT (timeout_ms counted
// from the append), the records appended and not committed.
func TestHandleLocalAcksAllWaits(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{ReplicationProxies: true, ReplicaLagTimeMax: time.Minute})
	c.CreateReplicatedTopic("wait", 1, 3, nil)
	li := int(partitionOf(t, c, "wait", 0).Leader - 1)
	lb := c.Nodes[li].Broker
	if rp := localProduce(t, lb, "wait", 0, -1, 10*time.Second, batchOf(t, "a")); rp.ErrorCode != 0 || rp.BaseOffset != 0 {
		t.Fatalf("acks=-1: error %v, base offset %d", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}
	if hw := logOf(t, c, li, "wait", 0).Offsets().HighWatermark; hw != 1 {
		t.Fatalf("high watermark %d after an answered acks=-1 produce, want 1", hw)
	}
	c.Proxy(li).Block()
	start := time.Now()
	rp := localProduce(t, lb, "wait", 0, -1, 1500*time.Millisecond, batchOf(t, "b"))
	if !errors.Is(kerr.ErrorForCode(rp.ErrorCode), kerr.RequestTimedOut) {
		t.Fatalf("acks=-1 with followers cut off answered %v after %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(rp.ErrorCode), time.Since(start))
	}
	if end := logOf(t, c, li, "wait", 0).Offsets().LogEnd; end != 2 {
		t.Fatalf("log end %d, want 2 (the timed-out batch is appended)", end)
	}
	// The gateway's in-process produce waits and times out alike.
	out := make([]kmsg.ProduceResponseTopicPartition, 1)
	start = time.Now()
	if err := lb.ProduceLocal(t.Context(), "wait", -1, 1500*time.Millisecond, []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batchOf(t, "b2")}}, out); err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(out[0].ErrorCode); !errors.Is(err, kerr.RequestTimedOut) || time.Since(start) < 1500*time.Millisecond {
		t.Fatalf("ProduceLocal acks=-1 with followers cut off answered %v after %v, want REQUEST_TIMED_OUT after the timeout", err, time.Since(start))
	}
	c.Proxy(li).Unblock()
	if rp := localProduce(t, lb, "wait", 0, -1, 20*time.Second, batchOf(t, "c")); rp.ErrorCode != 0 || rp.BaseOffset != 3 {
		t.Fatalf("acks=-1 after the followers came back: error %v, base offset %d", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}
	if _, leads, _ := c.Nodes[(li+1)%3].Broker.LocalPartition("wait", 0); leads {
		t.Fatal("a follower says it leads")
	}
}

// TestHandleLocalManyPartitions produces to 12 partitions in one request,
// twice, so that handleProduces keeps its partition groups in a map (past
// groupScanMax) and reuses its pooled state: every partition gets its own
// batch at the right offset.
func TestHandleLocalManyPartitions(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("many", 12, nil)
	b := c.Nodes[0].Broker
	for round := range int64(2) {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(11)
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "many"
		for p := range int32(12) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = (p * 5) % 12 // out of order
			rp.Records = batchOf(t, "a", "b", "c")
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := b.HandleLocal(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		parts := resp.(*kmsg.ProduceResponse).Topics[0].Partitions
		if len(parts) != 12 {
			t.Fatalf("%d partitions answered, want 12", len(parts))
		}
		for i, rp := range parts {
			if rp.Partition != (int32(i)*5)%12 || rp.ErrorCode != 0 || rp.BaseOffset != 3*round {
				t.Fatalf("round %d: answer %d is partition %d at %d (error %v), want partition %d at %d",
					round, i, rp.Partition, rp.BaseOffset, kerr.ErrorForCode(rp.ErrorCode), (i*5)%12, 3*round)
			}
		}
	}
}

// TestProduceLocal: the gateway's in-process produce answers each
// partition as a ProduceRequest over the wire would: offsets that continue
// the log, errors per partition (unknown partition, broken batch) without
// holding up the others, all in one call; the broker's records read back;
// a transactional batch refused with the whole call; what no produce could
// say (acks 0 or 2, answers not matching parts) is refused with
// ErrLocalRequest before anything is appended; and each call counts as an
// in-process Produce.
func TestProduceLocal(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("pl", 3, nil)
	b := c.Nodes[0].Broker
	produce := func(acks int16, parts ...kmsg.ProduceRequestTopicPartition) []kmsg.ProduceResponseTopicPartition {
		t.Helper()
		out := make([]kmsg.ProduceResponseTopicPartition, len(parts))
		if err := b.ProduceLocal(t.Context(), "pl", acks, 5*time.Second, parts, out); err != nil {
			t.Fatalf("ProduceLocal: %v", err)
		}
		return out
	}
	part := func(p int32, records []byte) kmsg.ProduceRequestTopicPartition {
		return kmsg.ProduceRequestTopicPartition{Partition: p, Records: records}
	}
	out := produce(1, part(2, batchOf(t, "a", "b")), part(0, batchOf(t, "c")))
	if out[0].Partition != 2 || out[0].ErrorCode != 0 || out[0].BaseOffset != 0 || out[1].Partition != 0 || out[1].ErrorCode != 0 || out[1].BaseOffset != 0 {
		t.Fatalf("first produce answered %+v", out)
	}
	out = produce(-1, part(2, batchOf(t, "d")), part(9, batchOf(t, "x")), part(0, []byte("not a batch")))
	if out[0].ErrorCode != 0 || out[0].BaseOffset != 2 || out[0].LogAppendTime != -1 || out[0].LogStartOffset != 0 {
		t.Fatalf("acks=-1 to partition 2: %+v, want offset 2", out[0])
	}
	if err := kerr.ErrorForCode(out[1].ErrorCode); !errors.Is(err, kerr.UnknownTopicOrPartition) || out[1].BaseOffset != -1 {
		t.Fatalf("partition 9 of 3: %v at %d, want UNKNOWN_TOPIC_OR_PARTITION", err, out[1].BaseOffset)
	}
	if out[2].ErrorCode == 0 || out[2].ErrorMessage == nil || out[2].BaseOffset != -1 {
		t.Fatalf("a broken batch was answered %+v, want an error with its reason", out[2])
	}
	if end := logOf(t, c, 0, "pl", 0).Offsets().LogEnd; end != 1 {
		t.Fatalf("partition 0 ends at %d after its broken batch, want 1 (nothing appended)", end)
	}
	if got := batchValues(t, logBytes(t, logOf(t, c, 0, "pl", 2))); strings.Join(got, ",") != "a,b,d" {
		t.Fatalf("partition 2 holds %q, want a, b, d", got)
	}

	// A transactional batch refuses the whole call, as the listener
	// refuses such a request: the plain batch beside it is not appended.
	txn, err := recordbatch.Build(recordbatch.BuildOptions{Transactional: true, Producer: &recordbatch.Producer{ID: 1}},
		[]recordbatch.Record{{Value: []byte("t"), Timestamp: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range produce(1, part(1, batchOf(t, "plain")), part(2, txn)) {
		if rp.ErrorCode != kerr.UnsupportedVersion.Code || rp.ErrorMessage == nil || !strings.Contains(*rp.ErrorMessage, "transactions are not supported") || rp.BaseOffset != -1 {
			t.Fatalf("beside a transactional batch, partition %d answered %v %v at %d", rp.Partition, kerr.ErrorForCode(rp.ErrorCode), rp.ErrorMessage, rp.BaseOffset)
		}
	}

	for _, acks := range []int16{0, 2} {
		out := make([]kmsg.ProduceResponseTopicPartition, 1)
		if err := b.ProduceLocal(t.Context(), "pl", acks, time.Second, []kmsg.ProduceRequestTopicPartition{part(1, batchOf(t, "y"))}, out); !errors.Is(err, broker.ErrLocalRequest) {
			t.Fatalf("acks=%d: %v, want ErrLocalRequest", acks, err)
		}
	}
	if err := b.ProduceLocal(t.Context(), "pl", 1, time.Second, []kmsg.ProduceRequestTopicPartition{part(1, batchOf(t, "y"))}, nil); !errors.Is(err, broker.ErrLocalRequest) {
		t.Fatalf("no room for the answer: %v, want ErrLocalRequest", err)
	}
	if end := logOf(t, c, 0, "pl", 1).Offsets().LogEnd; end != 0 {
		t.Fatalf("refused calls appended: partition 1 ends at %d", end)
	}
	if n := labeledCounter(t, c.Metrics(0), "runnel_broker_local_requests_total", "Produce"); n != 3 {
		t.Fatalf("local produce requests counted %v, want 3", n)
	}
}
