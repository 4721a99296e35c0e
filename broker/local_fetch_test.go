package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TestLocalReadPath: LocalPartition tells a known, led partition from an
// unknown one and one led elsewhere; HandleLocal produces and fetches in
// process, the fetched record batches in memory, and refuses a version the
// listener does not serve; WaitLocal returns at once away from the high
// watermark, when the high watermark moves past it, and when the broker
// stops leading the partition. It runs on in-memory metadata.
func TestLocalReadPath(t *testing.T) {
	b := brokertest.StartBroker(t, brokertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Member.RegisterBroker(ctx, 2, "127.0.0.1:1", ""); err != nil {
		t.Fatal(err)
	}
	id := [16]byte{7, 6: 0x40, 8: 0x80}
	if err := b.Member.Apply(metadata.Record{TopicCreated: &metadata.TopicCreated{
		Name: "local", ID: id,
		Partitions: []metadata.PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}},
	}}); err != nil {
		t.Fatal(err)
	}
	produce := func(values ...string) error {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 11, 1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "local"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = buildBatch(t, recordbatch.BuildOptions{}, time.Now().UnixMilli(), values...)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.HandleLocal(ctx, req)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode)
	}
	// Until the broker opened the partition it is not its leader yet.
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error { return produce("a", "b", "c") })

	if got, leads, known := b.LocalPartition("local", 0); got != id || !leads || !known {
		t.Fatalf("LocalPartition(local, 0) = %x, leads %v, known %v; want %x, led here", got, leads, known, id)
	}
	for _, p := range []struct {
		topic string
		part  int32
	}{{"nope", 0}, {"local", 1}, {"local", -1}} {
		if _, leads, known := b.LocalPartition(p.topic, p.part); leads || known {
			t.Fatalf("LocalPartition(%s, %d): leads %v, known %v; want unknown", p.topic, p.part, leads, known)
		}
	}

	fetch := func(offset int64) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxBytes, req.SessionEpoch = 15, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := b.HandleLocal(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	p := fetch(0)
	if p.ErrorCode != 0 || p.HighWatermark != 3 {
		t.Fatalf("fetch at 0: %v, high watermark %d", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
	}
	batch, _, err := recordbatch.Next(p.RecordBatches)
	if err != nil {
		t.Fatalf("fetched record batches (%d bytes) do not parse: %v", len(p.RecordBatches), err)
	}
	if h, err := recordbatch.Validate(batch, 0); err != nil || h.BaseOffset != 0 || h.NextOffset() != 3 {
		t.Fatalf("fetched batch: %+v, %v; want offsets 0 to 2", h, err)
	}
	old := kmsg.NewPtrFetchRequest()
	old.Version = 3
	if _, err := b.HandleLocal(ctx, old); err == nil {
		t.Fatal("Fetch v3 served in-process; the listener serves v4 and later")
	}

	// Away from the high watermark WaitLocal does not wait.
	b.WaitLocal(ctx, "local", 0, 1)
	// At it, it waits for the next event.
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		b.WaitLocal(ctx, "local", 0, 3)
	}()
	if err := produce("d"); err != nil {
		t.Fatal(err)
	}
	<-waited
	if ctx.Err() != nil {
		t.Fatal("WaitLocal at the high watermark returned only when its context ended")
	}
	if p := fetch(3); p.HighWatermark != 4 {
		t.Fatalf("after WaitLocal at 3: high watermark %d, want 4", p.HighWatermark)
	}
	// And it ends when another broker takes the partition over.
	waited = make(chan struct{})
	go func() {
		defer close(waited)
		b.WaitLocal(ctx, "local", 0, 4)
	}()
	if _, err := b.Member.SetPartition("local", 0, 2, []int32{2}); err != nil {
		t.Fatal(err)
	}
	<-waited
	if ctx.Err() != nil {
		t.Fatal("WaitLocal returned only when its context ended, not when the leadership moved")
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if _, leads, known := b.LocalPartition("local", 0); leads || !known {
			return fmt.Errorf("led by broker 2: LocalPartition says leads %v, known %v", leads, known)
		}
		if p := fetch(4); p.ErrorCode != kerr.NotLeaderForPartition.Code {
			return fmt.Errorf("led by broker 2: fetch answers %v", kerr.ErrorForCode(p.ErrorCode))
		}
		return nil
	})
}
