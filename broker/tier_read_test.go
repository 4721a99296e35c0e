package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/tiertest"
)

// faultyStore fails every Get while fail is set, and holds every Get
// while hold is set, until release is closed.
type faultyStore struct {
	tiering.Store
	fail    atomic.Bool
	hold    atomic.Bool
	held    chan struct{} // receives one value per Get held
	release chan struct{}
}

func (s *faultyStore) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if s.hold.Load() {
		s.held <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.fail.Load() {
		return nil, &tiering.Error{Op: "get", Key: key, Err: errors.New("injected store failure")}
	}
	return s.Store.Get(ctx, key, off, length)
}

// tieredCluster is a one-broker cluster whose topic has most of its
// segments in a directory store and no longer on local disk.
type tieredCluster struct {
	c      *brokertest.Cluster
	store  *faultyStore
	topic  string
	n      int                      // records produced
	remote []metadata.RemoteSegment // recorded, oldest first
	local  int64                    // the local log start after tiering
}

// recordTS is the timestamp of record i.
func recordTS(i int) time.Time { return time.UnixMilli(1_700_000_000_000 + int64(i)*10) }

func recordValue(i int) string { return fmt.Sprintf("v%05d-%s", i, strings.Repeat("r", i%97)) }

// startTiered produces n records to a topic with small segments, uploads
// every rolled segment but the last two and records them through the
// member, then moves the local log start past them (as local retention of
// an uploaded segment does).
func startTiered(t *testing.T, n int) *tieredCluster {
	t.Helper()
	dir, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &faultyStore{Store: dir, held: make(chan struct{}, 16), release: make(chan struct{})}
	c := brokertest.Start(t, 1, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "test-cluster", CacheBytes: 64 << 20}})
	topic := "tiered"
	c.CreateTopic(topic, 1, map[string]*string{"segment.bytes": ptr("8192")})
	produceRecords(t, c, topic, n)
	tc := &tieredCluster{c: c, store: store, topic: topic, n: n}
	l := tc.log(t)
	if len(l.Segments()) < 6 {
		t.Fatalf("only %d segments: the test needs small segments", len(l.Segments()))
	}
	member := c.Nodes[0].Member
	mt, _ := member.Image().Topic(topic)
	tc.remote = tiertest.TierLog(t, store, "test-cluster", member, l, mt.ID, 0, mt.Partitions[0].LeaderEpoch, 2)
	tc.local = l.LogStartOffset()
	return tc
}

func ptr(s string) *string { return &s }

// produceRecords produces records 0 to n-1 (recordValue, recordTS) to
// partition 0 of topic, uncompressed, in batches of 50.
func produceRecords(t *testing.T, c *brokertest.Cluster, topic string, n int) {
	t.Helper()
	produceRecordRange(t, c, topic, 0, n)
}

// produceRecordRange produces records from to n-1 as produceRecords does.
func produceRecordRange(t *testing.T, c *brokertest.Cluster, topic string, from, n int) {
	t.Helper()
	cl := c.Client(kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := from; i < n; i += 50 {
		var rs []*kgo.Record
		for j := i; j < min(i+50, n); j++ {
			rs = append(rs, &kgo.Record{Topic: topic, Value: []byte(recordValue(j)), Timestamp: recordTS(j)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func (tc *tieredCluster) log(t *testing.T) *commitlog.Log {
	t.Helper()
	l, ok := tc.c.Nodes[0].Broker.Log(commitlog.TopicPartition{Topic: tc.topic, Partition: 0})
	if !ok {
		t.Fatal("no local log")
	}
	return l
}

// consumeAll reads the topic from its earliest offset with franz-go and
// checks that every record comes exactly once, in order, unchanged.
func (tc *tieredCluster) consumeAll(t *testing.T) {
	t.Helper()
	cl := tc.c.Client(kgo.ConsumeTopics(tc.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<10))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	next := 0
	for next < tc.n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", next, tc.n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(next) || string(r.Value) != recordValue(next) || !r.Timestamp.Equal(recordTS(next)) {
				t.Fatalf("record %d: got offset %d value %.20q ts %v", next, r.Offset, r.Value, r.Timestamp)
			}
			next++
		})
	}
}

// TestTieredFetchReadsRemoteThenLocal: franz-go consuming from the start
// reads the remote segments, then the local log, every record once in
// order; the log start it is told is the remote start.
func TestTieredFetchReadsRemoteThenLocal(t *testing.T) {
	tc := startTiered(t, 2000)
	tc.consumeAll(t)
	raw := newRawKafka(tc.c)
	p := raw.fetch(t, tc.topic, 0, 5, 1)
	if p.LogStartOffset != 0 {
		t.Fatalf("fetch reports log start %d, want the remote start 0", p.LogStartOffset)
	}
	if vs := valuesOf(t, p.RecordBatches); len(vs) == 0 {
		t.Fatal("remote fetch at 5 returned no records")
	}
	reg := tc.c.Metrics(0)
	if got := tiertest.Metric(t, reg, "runnel_tier_remote_read_bytes_total"); got < float64(tc.remote[0].Size) {
		t.Fatalf("remote read bytes %v, want at least %d", got, tc.remote[0].Size)
	}
	// The chunks are cached beside the data directory, not in it.
	if files, _ := filepath.Glob(filepath.Join(broker.DefaultTierCacheDir(tc.c.DataDir(0)), "*.chunk")); len(files) == 0 {
		t.Fatalf("no chunk files in %s", broker.DefaultTierCacheDir(tc.c.DataDir(0)))
	}
	// A second pass is served by the chunk cache.
	misses := tiertest.Metric(t, reg, "runnel_tier_cache_misses_total")
	tc.consumeAll(t)
	if got := tiertest.Metric(t, reg, "runnel_tier_cache_misses_total"); got != misses {
		t.Fatalf("second pass missed the cache: misses %v → %v", misses, got)
	}
	if tiertest.Metric(t, reg, "runnel_tier_cache_hits_total") == 0 {
		t.Fatal("no cache hits counted")
	}
}

// TestTieredListOffsets: earliest is the remote start; a timestamp in the
// remote range is found there, one in the local range locally.
func TestTieredListOffsets(t *testing.T) {
	tc := startTiered(t, 1500)
	adm := tc.c.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, tc.topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(tc.topic, 0); o.Err != nil || o.Offset != 0 {
		t.Fatalf("earliest: %+v, want 0 (the remote start; the local start is %d)", o, tc.local)
	}
	for _, i := range []int{0, 1, 17, int(tc.remote[1].BaseOffset) + 3, int(tc.local) - 1, int(tc.local), int(tc.local) + 5, tc.n - 1} {
		got, err := adm.ListOffsetsAfterMilli(ctx, recordTS(i).UnixMilli()-5, tc.topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := got.Lookup(tc.topic, 0); o.Err != nil || o.Offset != int64(i) {
			t.Fatalf("offset for the timestamp of record %d (minus 5 ms): %+v", i, o)
		}
	}
}

// TestTieredReadErrors: a store failing gives KAFKA_STORAGE_ERROR (and
// works again after); an offset below the remote start is
// OFFSET_OUT_OF_RANGE with the remote start as log start; a follower is
// never served from the bucket.
func TestTieredReadErrors(t *testing.T) {
	tc := startTiered(t, 1500)
	tc.store.fail.Store(true)
	p := tierFetch(t, tc.c, tc.topic, 3, -1)
	if err := kerr.ErrorForCode(p.ErrorCode); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("fetch with the store failing: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if tiertest.Metric(t, tc.c.Metrics(0), "runnel_tier_remote_read_errors_total") == 0 {
		t.Fatal("no remote read error counted")
	}
	tc.store.fail.Store(false)
	if p := tierFetch(t, tc.c, tc.topic, 3, -1); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch after the store recovered: %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}

	// Past the end: OFFSET_OUT_OF_RANGE, the log start still the remote one.
	if p := tierFetch(t, tc.c, tc.topic, int64(tc.n)+10, -1); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 0 {
		t.Fatalf("fetch past the end: %v log start %d, want OFFSET_OUT_OF_RANGE and 0", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset)
	}

	// A follower below the leader's local start: OFFSET_OUT_OF_RANGE with
	// the local start (it restarts its log there).
	if p := tierFetch(t, tc.c, tc.topic, 3, 1); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != tc.local {
		t.Fatalf("follower fetch below the local start: %v log start %d, want OFFSET_OUT_OF_RANGE and %d",
			kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset, tc.local)
	}

	// Forget the first remote segment: its offsets are below the start.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mt, _ := tc.c.Nodes[0].Member.Image().Topic(tc.topic)
	if err := tc.c.Nodes[0].Member.RemoveRemoteSegment(ctx, tiertest.LeaderRequest(t, tc.c.Nodes[0].Member.Image(), mt.ID, 0, tc.remote[0])); err != nil {
		t.Fatal(err)
	}
	start := tc.remote[1].BaseOffset
	p = tierFetch(t, tc.c, tc.topic, 3, -1)
	if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != start {
		t.Fatalf("fetch below the remote start: %v log start %d, want OFFSET_OUT_OF_RANGE and %d", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset, start)
	}
	if p := tierFetch(t, tc.c, tc.topic, start, -1); p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.LogStartOffset != start {
		t.Fatalf("fetch at the remote start: %v, %d bytes, log start %d", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches), p.LogStartOffset)
	}
}

// TestTieredReadDoesNotBlockOthers: while a consumer's fetch waits on the
// bucket, fetches of the partition's local records are answered.
func TestTieredReadDoesNotBlockOthers(t *testing.T) {
	tc := startTiered(t, 1500)
	tc.store.hold.Store(true)
	remote := make(chan kmsg.FetchResponseTopicPartition, 1)
	go func() { remote <- tierFetch(t, tc.c, tc.topic, 0, -1) }()
	select {
	case <-tc.store.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the remote fetch never reached the store")
	}
	for range 3 {
		if p := tierFetch(t, tc.c, tc.topic, tc.local, -1); p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
			t.Fatalf("local fetch during a remote read: %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
		}
	}
	select {
	case <-remote:
		t.Fatal("the remote fetch finished while the store held it")
	default:
	}
	tc.store.hold.Store(false)
	close(tc.store.release)
	select {
	case p := <-remote:
		if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
			t.Fatalf("remote fetch: %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the remote fetch did not finish after the store let it go")
	}
}

// tierFetch sends one Fetch v11 for partition 0 as replica (-1: a consumer)
// and returns the partition's answer, whatever its error code.
func tierFetch(t *testing.T, c *brokertest.Cluster, topic string, offset int64, replica int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(kmsg.Fetch), 11)
	cl := c.Client(kgo.MaxVersions(vs))
	defer cl.Close()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 11, replica, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = offset, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answered %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// TestTieredKcat: kcat -o beginning reads the remote records, then the
// local ones, each once in order.
func TestTieredKcat(t *testing.T) {
	tc := startTiered(t, 1200)
	out := kcat(t, nil, "-b", tc.c.Addrs()[0], "-C", "-t", tc.topic, "-o", "beginning", "-e", "-q", "-f", "%o %s\n")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != tc.n {
		t.Fatalf("kcat read %d records, want %d", len(lines), tc.n)
	}
	for i, line := range lines {
		if want := strconv.Itoa(i) + " " + recordValue(i); line != want {
			t.Fatalf("kcat record %d: %.40q, want %.40q", i, line, want)
		}
	}
}

// TestTieredReadAfterLeaderChange: with three replicas, the leader's old
// segments tiered and gone from every replica's disk (followers follow the
// leader's log start), the leader stops; the new leader serves the remote
// records from the same bucket, and a consumer from the start reads every
// record once in order.
func TestTieredReadAfterLeaderChange(t *testing.T) {
	dir, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, 3, brokertest.Options{Tier: broker.TierConfig{Store: dir, Prefix: "rf3"}})
	const topic, n = "tiered3", 1500
	c.CreateReplicatedTopic(topic, 1, 3, map[string]*string{"segment.bytes": ptr("8192")})
	produceRecords(t, c, topic, n)
	waitReplicated(t, c, topic, 0, n)
	mp := partitionOf(t, c, topic, 0)
	leader := int(mp.Leader - 1)
	mt, _ := c.Nodes[leader].Member.Image().Topic(topic)
	l := logOf(t, c, leader, topic, 0)
	remote := tiertest.TierLog(t, dir, "rf3", c.Nodes[leader].Member, l, mt.ID, 0, mp.LeaderEpoch, 2)
	localStart := l.LogStartOffset()
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		for i := range c.Nodes {
			if got := logOf(t, c, i, topic, 0).LogStartOffset(); got != localStart {
				return fmt.Errorf("node %d log start %d, want the leader's %d", i+1, got, localStart)
			}
		}
		return nil
	})
	c.Stop(leader)
	testwait.For(t, 30*time.Second, 50*time.Millisecond, func() error {
		if p := partitionOf(t, c, topic, 0); p.Leader < 1 || int(p.Leader-1) == leader {
			return fmt.Errorf("leader %d", p.Leader)
		}
		return nil
	})
	tc := &tieredCluster{c: c, topic: topic, n: n, remote: remote, local: localStart}
	tc.consumeAll(t)
	newLeader := int(partitionOf(t, c, topic, 0).Leader - 1)
	if got := tiertest.Metric(t, c.Metrics(newLeader), "runnel_tier_remote_read_bytes_total"); got < float64(remote[0].Size) {
		t.Fatalf("the new leader read %v bytes from the bucket, want at least %d", got, remote[0].Size)
	}
}
