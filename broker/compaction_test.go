package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactedTopicKafkaClients creates a topic with cleanup.policy=compact
// through the Kafka API, refuses a record without a key as Kafka does,
// produces many versions of few keys with franz-go over many segments,
// compacts (CleanLogs), and reads the topic back with franz-go and kcat:
// exactly the last value of every key, tombstones included (within
// delete.retention.ms), offsets ascending with gaps.
func TestCompactedTopicKafkaClients(t *testing.T) {
	b := brokertest.StartBroker(t, brokertest.Options{})
	policy, seg := "compact", "4096"
	b.CreateTopic("compacted", 1, map[string]*string{"cleanup.policy": &policy, "segment.bytes": &seg})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl := b.Client(kgo.DefaultProduceTopic("compacted"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	last := map[string][]byte{}
	const n, keys = 3000, 60
	var batch []*kgo.Record
	for i := range n {
		k := fmt.Sprintf("key-%d", rng.IntN(keys))
		var v []byte
		if rng.IntN(8) != 0 {
			v = fmt.Appendf(nil, "value-%d-%s", i, strings.Repeat("y", rng.IntN(100)))
		}
		last[k] = v
		// Small batches, so that the log has many segments.
		if batch = append(batch, &kgo.Record{Key: []byte(k), Value: v}); len(batch) == 20 {
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	l, ok := b.Log(commitlog.TopicPartition{Topic: "compacted", Partition: 0})
	if !ok {
		t.Fatal("no log")
	}
	end := l.LogEndOffset()
	before := l.Size()
	if len(l.Segments()) < 5 {
		t.Fatalf("%d segments, want many", len(l.Segments()))
	}
	// The closed segments are fsynced by the flusher in the background;
	// clean until the last closed one has been.
	closedEnd := l.Segments()[len(l.Segments())-1].BaseOffset
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := b.CleanLogs(ctx, true); err != nil {
			t.Fatal(err)
		}
		if o := l.Offsets(); o.RecoveryPoint >= closedEnd || time.Now().After(deadline) {
			if err := b.CleanLogs(ctx, true); err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after := l.Size(); after >= before/2 {
		t.Fatalf("log is %d bytes after compaction, %d before", after, before)
	}
	if l.LogEndOffset() != end {
		t.Fatalf("log end %d after compaction, was %d", l.LogEndOffset(), end)
	}
	if runs := gaugeValue(t, b.Metrics, "runnel_log_cleaner_runs_total"); runs < 1 {
		t.Fatalf("runnel_log_cleaner_runs_total = %v", runs)
	}
	if w := gaugeValue(t, b.Metrics, "runnel_log_cleaner_written_bytes_total"); w <= 0 {
		t.Fatalf("runnel_log_cleaner_written_bytes_total = %v", w)
	}

	// The active segment is not compacted: keys written to it may still
	// have older records in it. Everything before it holds one per key.
	active := l.Segments()[len(l.Segments())-1].BaseOffset
	check := func(who string, recs [][3]string) {
		t.Helper()
		got := map[string]string{}
		prev := int64(-1)
		seen := map[string]bool{}
		for _, r := range recs {
			var off int64
			fmt.Sscan(r[0], &off)
			if off <= prev {
				t.Fatalf("%s: offset %d after %d", who, off, prev)
			}
			prev = off
			if off < active && seen[r[1]] {
				t.Fatalf("%s: key %s twice below the active segment", who, r[1])
			}
			seen[r[1]] = true
			got[r[1]] = r[2]
		}
		if len(got) != len(last) {
			t.Fatalf("%s: %d keys, want %d", who, len(got), len(last))
		}
		for k, v := range last {
			if got[k] != string(v) {
				t.Fatalf("%s: key %s = %q, want %q", who, k, got[k], v)
			}
		}
		if len(recs) >= n/2 {
			t.Fatalf("%s: read %d records of %d produced: nothing compacted", who, len(recs), n)
		}
	}

	consumer := b.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"compacted": {0: kgo.NewOffset().AtStart()}}))
	var recs [][3]string
	for len(recs) == 0 || recs[len(recs)-1][0] != fmt.Sprint(end-1) {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch: %v (read %d records)", err, len(recs))
		}
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, [3]string{fmt.Sprint(r.Offset), string(r.Key), string(r.Value)})
		})
	}
	check("franz-go", recs)

	// DeleteRecords is refused on a compact-only topic, as Kafka refuses it.
	var offs kadm.Offsets
	offs.AddOffset("compacted", 0, 5, -1)
	dr, err := b.Admin().DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("compacted", 0); !errors.Is(r.Err, kerr.PolicyViolation) {
		t.Fatalf("DeleteRecords on a compacted topic: %v, want POLICY_VIOLATION", r.Err)
	}

	out := kcat(t, nil, "-b", b.Addr(), "-C", "-t", "compacted", "-e", "-q", "-f", "%o\t%k\t%s\n")
	recs = recs[:0]
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("kcat line %q", line)
		}
		recs = append(recs, [3]string{f[0], f[1], f[2]})
	}
	check("kcat", recs)
}

// TestCompactedReplicas compacts a topic with three replicas: every broker
// cleans its own copy (CleanLogs), each copy then reads the last value of
// every key; a follower whose copy is wiped while it is down fetches the
// leader's compacted batches (offsets with gaps, emptied batches) and
// reads the same.
func TestCompactedReplicas(t *testing.T) {
	c := brokertest.Start(t, 3, brokertest.Options{})
	policy, seg := "compact,delete", "4096"
	c.CreateReplicatedTopic("repl-compacted", 1, 3, map[string]*string{"cleanup.policy": &policy, "segment.bytes": &seg})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("repl-compacted"), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	last := map[string]string{}
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range 150 {
		var batch []*kgo.Record
		for range 10 {
			k := fmt.Sprintf("key-%d", rng.IntN(30))
			v := fmt.Sprintf("value-%d-%s", i, strings.Repeat("z", rng.IntN(80)))
			last[k] = v
			batch = append(batch, &kgo.Record{Key: []byte(k), Value: []byte(v)})
		}
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	const end = 1500
	waitReplicated(t, c, "repl-compacted", 0, end)

	lastValuesOf := func(l *commitlog.Log) (map[string]string, int) {
		r := l.NewReader(0, commitlog.ToLogEnd)
		got, n := map[string]string{}, 0
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				return got, n
			}
			if err != nil {
				t.Fatal(err)
			}
			got[string(rec.Key)] = string(rec.Value)
			n++
		}
	}
	check := func(who string, l *commitlog.Log) int {
		t.Helper()
		got, n := lastValuesOf(l)
		if len(got) != len(last) {
			t.Fatalf("%s: %d keys, want %d", who, len(got), len(last))
		}
		for k, v := range last {
			if got[k] != v {
				t.Fatalf("%s: key %s = %q, want %q", who, k, got[k], v)
			}
		}
		if l.LogEndOffset() != end {
			t.Fatalf("%s: log end %d, want %d", who, l.LogEndOffset(), end)
		}
		return n
	}
	for i := range 3 {
		l := logOf(t, c, i, "repl-compacted", 0)
		testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
			if err := c.Nodes[i].Broker.CleanLogs(ctx, true); err != nil {
				return err
			}
			if _, n := lastValuesOf(l); n > end/2 {
				return fmt.Errorf("broker %d: %d records after cleaning", i+1, n)
			}
			return nil
		})
		check(fmt.Sprintf("broker %d", i+1), l)
	}

	mp := partitionOf(t, c, "repl-compacted", 0)
	f := 0
	for f < 3 && int32(f+1) == mp.Leader {
		f++
	}
	dir := logOf(t, c, f, "repl-compacted", 0).Dir()
	c.Stop(f)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	c.Restart(f)
	// Each copy was compacted on its own, so copies need not be equal
	// byte for byte (waitReplicated): the refetched one must catch up.
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		l, ok := c.Nodes[f].Broker.Log(commitlog.TopicPartition{Topic: "repl-compacted", Partition: 0})
		if !ok || l.LogEndOffset() < end {
			return fmt.Errorf("broker %d has not caught up", f+1)
		}
		return nil
	})
	if n := check(fmt.Sprintf("refetched broker %d", f+1), logOf(t, c, f, "repl-compacted", 0)); n > end/2 {
		t.Fatalf("refetched copy holds %d records: not the compacted ones", n)
	}
}
