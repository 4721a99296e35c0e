package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/raftmeta/raftmetatest"
	"github.com/runnel-dev/runnel/tiering"
)

// tierEnv is a broker with tiering on a DirStore over in-memory metadata,
// for the remote-data housekeeping's tests. Remote segments are made as
// the uploader makes them (uploadSegment); the housekeeping's periodic
// work is off (long intervals): tests call it, or poke it.
type tierEnv struct {
	t      *testing.T
	ctx    context.Context
	b      *Broker
	m      *raftmetatest.Member
	store  tiering.Store     // the bucket, as tests put and list it
	dir    *tiering.DirStore // the same, when it is a directory (nil on S3)
	reg    *prometheus.Registry
	prefix string
	clock  atomic.Int64 // the housekeeping's clock, Unix ms
}

const tierTestPrefix = "runnel/test-cluster"

func newTierEnv(t *testing.T, wrap func(tiering.Store) tiering.Store) *tierEnv {
	t.Helper()
	dir, err := tiering.OpenDir(filepath.Join(t.TempDir(), "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	e := newTierEnvOn(t, dir, wrap)
	e.dir = dir
	return e
}

// newTierEnvOn is newTierEnv on the given store.
func newTierEnvOn(t *testing.T, store tiering.Store, wrap func(tiering.Store) tiering.Store) *tierEnv {
	t.Helper()
	m, err := raftmetatest.New(raftmetatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := store
	if wrap != nil {
		s = wrap(store)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &tierEnv{t: t, ctx: ctx, m: m, store: store, reg: prometheus.NewRegistry(), prefix: tierTestPrefix}
	e.clock.Store(time.Now().UnixMilli())
	e.b, err = New(Config{
		BrokerID: 1, DataDir: t.TempDir(), Member: m, Logger: slog.New(slog.DiscardHandler), Metrics: e.reg,
		RetentionCheckInterval: time.Hour,
		Tier:                   TierConfig{Store: s, Prefix: e.prefix, OrphanGrace: time.Hour, SweepInterval: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.b.tierMaint.now = func() time.Time { return time.UnixMilli(e.clock.Load()) }
	e.b.Start()
	t.Cleanup(func() { e.b.Close() })
	return e
}

// advance moves the housekeeping's clock.
func (e *tierEnv) advance(d time.Duration) { e.clock.Add(d.Milliseconds()) }

// createTopic creates a one-partition topic and waits until the broker
// leads it.
func (e *tierEnv) createTopic(name string, cfg map[string]string) *metadata.Topic {
	e.t.Helper()
	top, err := e.m.CreateTopic(e.ctx, controller.CreateTopicRequest{Name: name, Partitions: 1, ReplicationFactor: 1, Config: cfg})
	if err != nil {
		e.t.Fatal(err)
	}
	testwait.For(e.t, 10*time.Second, 5*time.Millisecond, func() error {
		p, err := e.b.partitionFor(name, 0)
		if err != nil {
			return err
		}
		_, err = p.leaderState(-1)
		return err
	})
	return top
}

// rollSegment appends n records of timestamp ts to the topic's partition
// and rolls its log, and returns the closed segment.
func (e *tierEnv) rollSegment(topic string, n int, ts int64) commitlog.SegmentInfo {
	e.t.Helper()
	p, err := e.b.partitionFor(topic, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: []byte(strings.Repeat("v", 100) + strconv.Itoa(i)), Timestamp: ts}
	}
	batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
	if err != nil {
		e.t.Fatal(err)
	}
	l := p.log.(*commitlog.Log)
	if _, err := l.Append(batch, p.state.Load().leaderEpoch); err != nil {
		e.t.Fatal(err)
	}
	p.maybeAdvanceHighWatermark()
	if err := l.Roll(); err != nil {
		e.t.Fatal(err)
	}
	segs := l.Segments()
	return segs[len(segs)-2]
}

// uploadSegment puts a closed local segment's files in the store under a
// new SegmentKey, as the uploader does, and records it through the
// member: the one place tests make remote segments (the record's fencing
// fields follow the partition's leadership).
func (e *tierEnv) uploadSegment(topic string, seg commitlog.SegmentInfo) metadata.RemoteSegment {
	e.t.Helper()
	top, ok := e.m.Image().Topic(topic)
	if !ok {
		e.t.Fatalf("no topic %s", topic)
	}
	mp := top.Partitions[0]
	key := tiering.NewSegmentKey(e.prefix, top.ID, 0, seg.BaseOffset, mp.LeaderEpoch)
	base := strings.TrimSuffix(seg.Path, commitlog.LogFileSuffix)
	files := map[string]string{
		tiering.SegmentLogFile:       seg.Path,
		tiering.SegmentIndexFile:     base + commitlog.IndexFileSuffix,
		tiering.SegmentTimeIndexFile: base + commitlog.TimeIndexFileSuffix,
		tiering.SegmentEpochsFile:    filepath.Join(filepath.Dir(seg.Path), commitlog.LeaderEpochCheckpointFile),
	}
	for _, f := range tiering.SegmentFiles {
		var data []byte
		if path, ok := files[f]; ok {
			var err error
			if data, err = os.ReadFile(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				e.t.Fatal(err)
			}
		}
		if _, err := e.store.Put(e.ctx, key.Object(f), bytes.NewReader(data), int64(len(data))); err != nil {
			e.t.Fatal(err)
		}
	}
	rs := metadata.RemoteSegment{
		BaseOffset: seg.BaseOffset, EndOffset: seg.NextOffset - 1, ObjectKey: key.String(),
		Size: seg.Size, LeaderEpoch: mp.LeaderEpoch, MaxTimestamp: seg.MaxTimestamp,
	}
	err := e.m.AddRemoteSegment(e.ctx, controller.RemoteSegmentRequest{
		TopicID: top.ID, Partition: 0, Segment: rs, BrokerID: mp.Leader, LeaderEpoch: mp.LeaderEpoch,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// remote returns the partition's remote segments and remote log start as
// the image has them.
func (e *tierEnv) remote(topic string) metadata.Partition {
	e.t.Helper()
	top, ok := e.m.Image().Topic(topic)
	if !ok {
		e.t.Fatalf("no topic %s", topic)
	}
	return top.Partitions[0]
}

// objects lists the store's keys under prefix.
func (e *tierEnv) objects(prefix string) []string {
	e.t.Helper()
	objs, err := listObjects(e.ctx, e.store, prefix)
	if err != nil {
		e.t.Fatal(err)
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

// segmentObjects is how many of a remote segment's files the store holds.
func (e *tierEnv) segmentObjects(key string) int {
	return len(e.objects(key + "/"))
}

// metric returns the value of a counter or gauge with the given labels.
func (e *tierEnv) metric(name string, labels map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// keysOf lists the object keys of remote segments.
func keysOf(segs []metadata.RemoteSegment) string {
	var out []string
	for _, s := range segs {
		out = append(out, fmt.Sprintf("[%d,%d]", s.BaseOffset, s.EndOffset))
	}
	return strings.Join(out, " ")
}

// setConfig sets a topic config and waits until the broker's partition
// has it.
func (e *tierEnv) setConfig(topic, key, value string) {
	e.t.Helper()
	if err := e.m.AlterConfigs(e.ctx, controller.AlterConfigsRequest{Name: topic, Set: map[string]string{key: value}}); err != nil {
		e.t.Fatal(err)
	}
	testwait.For(e.t, 10*time.Second, 5*time.Millisecond, func() error {
		p, err := e.b.partitionFor(topic, 0)
		if err != nil {
			return err
		}
		if got := p.state.Load().config[key]; got != value {
			return fmt.Errorf("%s=%q, want %q", key, got, value)
		}
		return nil
	})
}
