package broker_test

import (
	"strconv"
	"testing"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPartitionAdminAPIs runs InitProducerId, DeleteRecords and
// OffsetForLeaderEpoch against one single-node cluster.
func TestPartitionAdminAPIs(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	cl := c.Client()
	adm := kadm.NewClient(cl)

	t.Run("InitProducerId", func(t *testing.T) { testInitProducerID(t, c, cl) })
	t.Run("DeleteRecords", func(t *testing.T) { testDeleteRecords(t, c, cl, adm) })
	t.Run("OffsetForLeaderEpoch", func(t *testing.T) { testOffsetForLeaderEpoch(t, c, cl, adm) })
}

// produceIdempotent writes n records to partition 0 of topic, one batch
// each, with an idempotent producer (kgo's default).
func produceIdempotent(t *testing.T, c *brokertest.Cluster, topic string, n int) {
	t.Helper()
	p := c.Client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range n {
		r := &kgo.Record{Value: []byte("event " + strconv.Itoa(i)), Partition: 0}
		if err := p.ProduceSync(adminCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

func testInitProducerID(t *testing.T, c *brokertest.Cluster, cl *kgo.Client) {
	c.CreateTopic("idempotent", 1, nil)
	produceIdempotent(t, c, "idempotent", 3)
	fetched := fetchPartition0(t, c, cl, "idempotent", 0)
	if fetched.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(fetched.ErrorCode))
	}
	var batch kmsg.RecordBatch
	if err := batch.ReadFrom(fetched.RecordBatches); err != nil {
		t.Fatal(err)
	}
	if batch.ProducerID < 0 || batch.ProducerEpoch != 0 {
		t.Errorf("first batch has producer %d epoch %d, want an idempotent producer at epoch 0", batch.ProducerID, batch.ProducerEpoch)
	}

	// InitProducerId goes to a named broker: kgo would look up a
	// transaction coordinator for a transactional id first.
	broker := cl.Broker(1)
	init := func(txnID *string, id int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, id, epoch
		req.TransactionTimeoutMillis = 60000
		resp, err := broker.Request(adminCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.InitProducerIDResponse)
		if r.Version != 4 {
			t.Errorf("answered with v%d, want v4", r.Version)
		}
		return r
	}
	first := init(nil, -1, -1)
	if first.ErrorCode != 0 || first.ProducerID < 0 || first.ProducerEpoch != 0 {
		t.Fatalf("new producer: %v id %d epoch %d", kerr.ErrorForCode(first.ErrorCode), first.ProducerID, first.ProducerEpoch)
	}
	second := init(nil, -1, -1)
	if second.ProducerID == first.ProducerID || second.ProducerID == batch.ProducerID {
		t.Errorf("producer id %d handed out twice", second.ProducerID)
	}
	bumped := init(nil, first.ProducerID, 0)
	if bumped.ErrorCode != 0 || bumped.ProducerID != first.ProducerID || bumped.ProducerEpoch != 1 {
		t.Errorf("epoch bump: %v id %d epoch %d, want %d epoch 1", kerr.ErrorForCode(bumped.ErrorCode), bumped.ProducerID, bumped.ProducerEpoch, first.ProducerID)
	}
	exhausted := init(nil, first.ProducerID, 32766)
	if exhausted.ErrorCode != 0 || exhausted.ProducerID == first.ProducerID || exhausted.ProducerEpoch != 0 {
		t.Errorf("bump at the last epoch: %v id %d epoch %d, want a fresh id at epoch 0", kerr.ErrorForCode(exhausted.ErrorCode), exhausted.ProducerID, exhausted.ProducerEpoch)
	}
	unknown := init(nil, 1<<62, 3)
	if unknown.ErrorCode != 0 || unknown.ProducerID == 1<<62 || unknown.ProducerEpoch != 0 {
		t.Errorf("bump of an id never handed out: %v id %d epoch %d, want a fresh id", kerr.ErrorForCode(unknown.ErrorCode), unknown.ProducerID, unknown.ProducerEpoch)
	}
	if r := init(nil, first.ProducerID, -1); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("id without epoch: %v, want INVALID_REQUEST", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := init(kmsg.StringPtr("payments"), -1, -1); r.ErrorCode != kerr.UnsupportedVersion.Code || r.ProducerID != -1 {
		t.Errorf("transactional: %v id %d, want UNSUPPORTED_VERSION (transactions are not supported)", kerr.ErrorForCode(r.ErrorCode), r.ProducerID)
	}
	if r := init(kmsg.StringPtr(""), -1, -1); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("empty transactional id: %v, want INVALID_REQUEST", kerr.ErrorForCode(r.ErrorCode))
	}
}

// fetchPartition0 fetches partition 0 of topic from offset.
func fetchPartition0(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	mt, ok := c.Nodes[0].Member.Image().Topic(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.MaxWaitMillis = 1<<20, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, mt.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(adminCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answered %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func testDeleteRecords(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	c.CreateTopic("trim", 1, nil)
	produceIdempotent(t, c, "trim", 10)

	deleteBefore := func(offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		os := make(kadm.Offsets)
		os.Add(kadm.Offset{Topic: "trim", Partition: 0, At: offset, LeaderEpoch: -1})
		resp, err := adm.DeleteRecords(adminCtx(t), os)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := resp.Lookup("trim", 0)
		if !ok {
			t.Fatalf("no answer for trim-0")
		}
		return r
	}
	start := func() int64 {
		t.Helper()
		lo, err := adm.ListStartOffsets(adminCtx(t), "trim")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := lo.Lookup("trim", 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		return o.Offset
	}

	if r := deleteBefore(4); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete before 4: %v, low watermark %d", r.Err, r.LowWatermark)
	}
	if s := start(); s != 4 {
		t.Errorf("earliest offset %d after deleting before 4", s)
	}
	if p := fetchPartition0(t, c, cl, "trim", 0); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 4 {
		t.Errorf("fetch from 0: %v, log start %d; want OFFSET_OUT_OF_RANGE and 4", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}
	if p := fetchPartition0(t, c, cl, "trim", 4); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Errorf("fetch from 4: %v with %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}

	if r := deleteBefore(2); r.Err != nil || r.LowWatermark != 4 {
		t.Errorf("delete below the start: %v, low watermark %d; want no change", r.Err, r.LowWatermark)
	}
	for _, off := range []int64{11, -2, -1 << 62} {
		if r := deleteBefore(off); r.Err != kerr.OffsetOutOfRange {
			t.Errorf("delete before %d: %v, want OFFSET_OUT_OF_RANGE", off, r.Err)
		}
	}
	if r := deleteBefore(-1); r.Err != nil || r.LowWatermark != 10 {
		t.Errorf("delete up to the high watermark: %v, low watermark %d; want 10", r.Err, r.LowWatermark)
	}
	if s := start(); s != 10 {
		t.Errorf("earliest offset %d after deleting everything", s)
	}
	produceIdempotent(t, c, "trim", 1)
	if p := fetchPartition0(t, c, cl, "trim", 10); p.ErrorCode != 0 || p.HighWatermark != 11 {
		t.Errorf("fetch after deleting everything and producing one: %v hw %d", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
	}

	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "trim"
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 7, 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.Client().Broker(1).Request(adminCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown partition: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

func testOffsetForLeaderEpoch(t *testing.T, c *brokertest.Cluster, cl *kgo.Client, adm *kadm.Client) {
	c.CreateTopic("epochs", 1, nil)
	mt, _ := c.Nodes[0].Member.Image().Topic("epochs")
	epoch := mt.Partitions[0].LeaderEpoch

	ask := func(topic string, partition, current, requested int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = partition, current, requested
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(1).Request(adminCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.OffsetForLeaderEpochResponse)
		if r.Version != 4 {
			t.Errorf("answered with v%d, want v4", r.Version)
		}
		return r.Topics[0].Partitions[0]
	}
	check := func(what string, p kmsg.OffsetForLeaderEpochResponseTopicPartition, code *kerr.Error, wantEpoch int32, wantEnd int64) {
		t.Helper()
		if p.ErrorCode != code.Code || p.LeaderEpoch != wantEpoch || p.EndOffset != wantEnd {
			t.Errorf("%s: %v epoch %d end %d; want %v epoch %d end %d", what, kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset, code, wantEpoch, wantEnd)
		}
	}
	none := &kerr.Error{Message: "NONE", Code: 0}
	check("empty log, current epoch", ask("epochs", 0, -1, epoch), none, epoch, 0)

	produceIdempotent(t, c, "epochs", 3)
	check("current epoch", ask("epochs", 0, epoch, epoch), none, epoch, 3)
	check("no current epoch given", ask("epochs", 0, -1, epoch), none, epoch, 3)
	check("future epoch", ask("epochs", 0, -1, epoch+5), none, -1, -1)
	check("undefined epoch", ask("epochs", 0, -1, -1), none, -1, -1)
	check("client ahead", ask("epochs", 0, epoch+1, epoch), kerr.UnknownLeaderEpoch, -1, -1)
	if epoch > 0 {
		check("client behind", ask("epochs", 0, epoch-1, epoch), kerr.FencedLeaderEpoch, -1, -1)
	}
	check("unknown topic", ask("no-such-topic", 0, -1, 0), kerr.UnknownTopicOrPartition, -1, -1)
	check("unknown partition", ask("epochs", 9, -1, 0), kerr.UnknownTopicOrPartition, -1, -1)

	// kadm sends the request (replica id -1, as consumers do) to the leader.
	var kreq kadm.OffsetForLeaderEpochRequest
	kreq.Add("epochs", 0, epoch)
	res, err := adm.OffsetForLeaderEpoch(adminCtx(t), kreq)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["epochs"][0]; r.Err != nil || r.EndOffset != 3 || r.LeaderEpoch != epoch || r.NodeID != 1 {
		t.Errorf("kadm: %+v", r)
	}
}
