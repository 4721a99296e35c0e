package broker_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// initProducerID asks the broker for an idempotent producer id.
func initProducerID(t *testing.T, cl *kgo.Client) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// TestIdempotentProducerSequenceRules sends an idempotent producer's batches
// with raw requests. A producer the partition has no state for must start at
// sequence 0: a first batch at sequence 1000 is UNKNOWN_PRODUCER_ID with the
// log start offset (produce v5+), OUT_OF_ORDER_SEQUENCE_NUMBER before v5, and
// writes nothing. Then sequences must follow, and a retry is answered with
// the original offset.
func TestIdempotentProducerSequenceRules(t *testing.T) {
	c := brokertest.StartBroker(t, brokertest.Options{})
	c.CreateTopic("idem", 1, nil)
	raw := newRawKafka(c)
	pid, epoch := initProducerID(t, raw.client(9))
	now := time.Now().UnixMilli()
	batch := func(seq int32, values ...string) []byte {
		return buildBatch(t, recordbatch.BuildOptions{Producer: &recordbatch.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}}, now, values...)
	}

	rp := raw.produce(t, 9, "idem", 0, batch(1000, "late"))
	if rp.ErrorCode != kerr.UnknownProducerID.Code || rp.LogStartOffset != 0 || rp.BaseOffset != -1 {
		t.Fatalf("first batch at sequence 1000 (v9): %v, log start %d, base offset %d; want UNKNOWN_PRODUCER_ID with log start 0",
			kerr.ErrorForCode(rp.ErrorCode), rp.LogStartOffset, rp.BaseOffset)
	}
	if rp := raw.produce(t, 4, "idem", 0, batch(1000, "late")); rp.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("first batch at sequence 1000 (v4): %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(rp.ErrorCode))
	}
	if end := logEnd(t, c.Broker, "idem", 0); end != 0 {
		t.Fatalf("log end %d after refused first batches", end)
	}

	steps := []struct {
		seq    int32
		values []string
		code   *kerr.Error
		base   int64
	}{
		{0, []string{"a", "b"}, nil, 0},
		{3, []string{"gap"}, kerr.OutOfOrderSequenceNumber, -1},
		{2, []string{"c"}, nil, 2},
		{0, []string{"a", "b"}, nil, 0}, // a retry: the original's offset, not written again
		{3, []string{"d"}, nil, 3},
	}
	for i, s := range steps {
		rp := raw.produce(t, 9, "idem", 0, batch(s.seq, s.values...))
		want := int16(0)
		if s.code != nil {
			want = s.code.Code
		}
		if rp.ErrorCode != want || rp.BaseOffset != s.base {
			t.Fatalf("step %d (sequence %d): %v at %d, want %v at %d", i, s.seq, kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset, s.code, s.base)
		}
	}
	if end := logEnd(t, c.Broker, "idem", 0); end != 4 {
		t.Fatalf("log end %d, want 4", end)
	}
}

// TestFranzGoIdempotentProducerRecovers checks that franz-go's idempotent
// producer keeps working when the partition forgets it and answers
// UNKNOWN_PRODUCER_ID: after DeleteRecords and a restart removed its state
// with its batches (franz-go sees the log start past its last acknowledged
// offset and restarts its sequences without reporting loss, so even
// StopProducerOnDataLossDetected goes on; before the fix the partition
// silently took the next sequence), and after its state expired
// across a restart (its records' timestamps are two days old) with its
// batches still there (franz-go takes a new epoch and goes on). Every record
// is written once, in order.
func TestFranzGoIdempotentProducerRecovers(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("removed", 1, nil)
	c.CreateTopic("expired", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(cl *kgo.Client, topic string, ts time.Time, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i)), Timestamp: ts}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %d to %s: %v", i, topic, err)
			}
		}
	}
	// A refused batch makes franz-go refresh metadata, at most every
	// MetadataMinAge (5 s by default).
	strict := c.Client(kgo.StopProducerOnDataLossDetected(), kgo.MetadataMinAge(50*time.Millisecond))
	lenient := c.Client(kgo.MetadataMinAge(50 * time.Millisecond))
	old := time.Now().Add(-48 * time.Hour)
	produce(strict, "removed", time.Now(), 0, 3)
	produce(lenient, "expired", old, 0, 3)
	// Another producer's record follows, as on a busy partition: franz-go
	// takes a log start past its last offset + 1 for proof that retention,
	// not loss, removed its batches.
	other := c.Client(kgo.DisableIdempotentWrite())
	produce(other, "removed", time.Now(), 100, 101)

	adm := kadm.NewClient(c.Client())
	var to kadm.Offsets
	to.Add(kadm.Offset{Topic: "removed", Partition: 0, At: 4})
	if resp, err := adm.DeleteRecords(ctx, to); err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v %v", err, resp.Error())
	}
	c.Stop(0)
	c.Restart(0)
	c.WaitForBrokers(1)
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		for _, topic := range []string{"removed", "expired"} {
			if _, ok := c.Nodes[0].Broker.Log(commitlog.TopicPartition{Topic: topic}); !ok {
				return fmt.Errorf("%s not open yet", topic)
			}
		}
		return nil
	})
	produce(strict, "removed", time.Now(), 3, 6)
	produce(lenient, "expired", old, 3, 6)

	consume := func(topic string, want []string) {
		t.Helper()
		cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		var got []string
		for len(got) < len(want) {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume %s: %v", topic, err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s holds %q, want %q", topic, got, want)
		}
	}
	consume("removed", []string{"3", "4", "5"})
	consume("expired", []string{"0", "1", "2", "3", "4", "5"})
}
