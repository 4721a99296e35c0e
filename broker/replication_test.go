package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReplicationReplicatesAndConsumes produces with acks=all to a topic
// with replication factor 3 and checks that both followers hold the
// leader's log byte for byte, that a consumer reads everything, and that
// the bytes the leader sent followers with sendfile equal the bytes the
// followers appended.
func TestReplicationReplicatesAndConsumes(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.CreateReplicatedTopic("rep", 1, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("rep"), kgo.RequiredAcks(kgo.AllISRAcks()))
	// While records go in, the leader's high watermark never passes a
	// follower's log end: read the high watermark first, then the log
	// ends, which only grow here.
	mp := partitionOf(t, c, "rep", 0)
	var logs []*commitlog.Log
	for _, r := range mp.Replicas {
		logs = append(logs, logOf(t, c, int(r-1), "rep", 0))
	}
	leaderLog := logOf(t, c, int(mp.Leader-1), "rep", 0)
	sampled := make(chan int)
	stop := make(chan struct{})
	go func() {
		samples := 0
		defer func() { sampled <- samples }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			hw := leaderLog.Offsets().HighWatermark
			for i, l := range logs {
				if end := l.Offsets().LogEnd; hw > end {
					t.Errorf("leader high watermark %d past replica %d's log end %d", hw, mp.Replicas[i], end)
				}
			}
			samples++
			time.Sleep(time.Millisecond)
		}
	}()
	const n = 500
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%04d", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	if samples := <-sampled; samples == 0 {
		t.Error("the high watermark was never sampled")
	}
	waitReplicated(t, c, "rep", 0, n)

	consumer := c.Client(kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < n; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("v%04d", r.Offset); string(r.Value) != want {
				t.Fatalf("offset %d: %q, want %q", r.Offset, r.Value, want)
			}
			got++
		})
	}

	size := logOf(t, c, int(mp.Leader-1), "rep", 0).Size()
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		var sent, appended float64
		for i := range 3 {
			sent += gaugeValue(t, c.Metrics(i), "runnel_broker_replica_fetch_sendfile_bytes_total")
			appended += gaugeValue(t, c.Metrics(i), "runnel_broker_replica_appended_bytes_total")
		}
		if sent != appended || appended != float64(2*size) {
			return fmt.Errorf("leader sent %v bytes to followers with sendfile, followers appended %v, want both %d (twice the log)", sent, appended, 2*size)
		}
		return nil
	})
	if hw := leaderLog.Offsets().HighWatermark; hw != n {
		t.Errorf("leader high watermark %d, want %d", hw, n)
	}
	// Followers learn the high watermark from their next fetch, and
	// checkpoint it in replication-offset-checkpoint.
	fi := int(mp.Replicas[0] - 1)
	if mp.Replicas[0] == mp.Leader {
		fi = int(mp.Replicas[1] - 1)
	}
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		if hw := logOf(t, c, fi, "rep", 0).Offsets().HighWatermark; hw != n {
			return fmt.Errorf("follower %d high watermark %d, want %d", fi+1, hw, n)
		}
		return nil
	})
	c.Stop(fi)
	data, err := os.ReadFile(filepath.Join(c.DataDir(fi), "replication-offset-checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), fmt.Sprintf("\nrep 0 %d\n", n)) {
		t.Errorf("follower's replication-offset-checkpoint lacks rep 0 %d:\n%s", n, data)
	}
}

// TestFollowersFollowDeleteRecords deletes records on the leader of a
// replicated partition and checks that the followers move their log start
// to the leader's.
func TestFollowersFollowDeleteRecords(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	c.CreateReplicatedTopic("del", 1, 3, nil)
	cl := acksClient(c, -1)
	for i := range 3 {
		if rp := produceRaw(t, c, cl, "del", -1, 10*time.Second, batchOf(t, fmt.Sprintf("r%d", i))); rp.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(rp.ErrorCode))
		}
	}
	waitReplicated(t, c, "del", 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDeleteRecordsRequest()
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = "del"
	dp := kmsg.NewDeleteRecordsRequestTopicPartition()
	dp.Partition, dp.Offset = 0, 2
	dt.Partitions = append(dt.Partitions, dp)
	req.Topics = append(req.Topics, dt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("delete records: %v %v", err, kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	testwait.For(t, 10*time.Second, 20*time.Millisecond, func() error {
		for i := range 3 {
			if start := logOf(t, c, i, "del", 0).Offsets().LogStart; start != 2 {
				return fmt.Errorf("broker %d log start %d, want 2", i+1, start)
			}
		}
		return nil
	})
}

// TestFollowerCatchesUpAcrossSegments stops a follower, writes several
// segments' worth of records with acks=all (the ISR shrinks once it is
// fenced), and restarts it: it fetches everything, rejoins the ISR and ends
// with the leader's log byte for byte. (A follower rolls its own segments,
// by the same limits, but appends each fetched chunk whole, as Kafka's
// followers do: its segment boundaries may differ from the leader's.)
func TestFollowerCatchesUpAcrossSegments(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{SessionTimeout: 2 * time.Second})
	seg := "20000"
	c.CreateReplicatedTopic("catch", 1, 3, map[string]*string{"segment.bytes": &seg})
	mp := partitionOf(t, c, "catch", 0)
	var fi int
	for _, r := range mp.Replicas {
		if r != mp.Leader {
			fi = int(r - 1)
		}
	}
	c.Stop(fi)
	waitISR(t, c, "catch", 0, 2, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("catch"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(4000),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	const n = 3000
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("value-%06d-%s", i, strings.Repeat("x", 40)))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if segs := len(logOf(t, c, int(mp.Leader-1), "catch", 0).Segments()); segs < 5 {
		t.Fatalf("leader has %d segments, want several", segs)
	}
	c.Restart(fi)
	waitReplicated(t, c, "catch", 0, n)
	waitISR(t, c, "catch", 0, 3, 30*time.Second)
}
