package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/producerstate"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/storetest"
)

// tieredBroker starts a broker whose tiered storage is a directory store,
// with retention checked often.
func tieredBroker(t *testing.T, opts brokertest.Options) (*brokertest.Broker, tiering.Store) {
	t.Helper()
	store, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts.Tier = broker.TierConfig{Store: store, Prefix: "runnel/test"}
	opts.RetentionCheckInterval = 20 * time.Millisecond
	return brokertest.StartBroker(t, opts), store
}

// produceTiered writes n batches of 20 records of 200 bytes to partition 0.
func produceTiered(t *testing.T, b *brokertest.Broker, topic string, n int) {
	t.Helper()
	raw := newRawKafka(b)
	for i := range n {
		recs := make([]recordbatch.Record, 20)
		for j := range recs {
			recs[j] = recordbatch.Record{Value: bytes.Repeat([]byte{byte(i + j)}, 200), Timestamp: time.Now().UnixMilli()}
		}
		batch, err := recordbatch.Build(recordbatch.BuildOptions{}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if rp := raw.produce(t, 9, topic, 0, batch); rp.ErrorCode != 0 {
			t.Fatalf("produce %d: %v", i, kerr.ErrorForCode(rp.ErrorCode))
		}
	}
}

// remoteOf returns the image's partition 0 of topic.
func remoteOf(t testing.TB, b *brokertest.Broker, topic string) metadata.Partition {
	t.Helper()
	top, ok := b.Member.Image().Topic(topic)
	if !ok {
		t.Fatalf("no topic %s", topic)
	}
	return top.Partitions[0]
}

// TestTierUpload rolls many segments of a tiered topic and checks that
// every rolled segment below the high watermark is uploaded with all its
// files, byte for byte, and recorded; that nothing is deleted locally while
// local retention allows everything; and that once local.retention.bytes is
// small, only uploaded segments go.
func TestTierUpload(t *testing.T) {
	b, store := tieredBroker(t, brokertest.Options{})
	l := uploadAndCheck(t, b, store, "runnel/test")
	// Local retention: a few segments' worth stays local, the rest goes,
	// and only what is remote.
	small := "40000"
	if err := alterTopicConfig(b, "tiered", "local.retention.bytes", small); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if l.Size() > 40000+16384 {
			return fmt.Errorf("local log holds %d bytes", l.Size())
		}
		return nil
	})
	if start, end := l.LogStartOffset(), remoteOf(t, b, "tiered").RemoteEndOffset(); start == 0 || start > end+1 {
		t.Fatalf("local log start %d with remote end %d", start, end)
	}
}

// uploadAndCheck creates a tiered topic on b, rolls many segments and
// checks that every rolled segment below the high watermark is uploaded
// under prefix with all its files, its log byte for byte, and recorded in
// the metadata at the leader's epoch, and that nothing was deleted locally
// (local retention unlimited). It returns the topic's log.
func uploadAndCheck(t *testing.T, b *brokertest.Broker, store tiering.Store, prefix string) *commitlog.Log {
	t.Helper()
	seg, on := "16384", "true"
	b.CreateTopic("tiered", 1, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": &on})
	produceTiered(t, b, "tiered", 60) // ~250 KiB: about 15 segments
	tp := commitlog.TopicPartition{Topic: "tiered", Partition: 0}
	l, ok := b.Log(tp)
	if !ok {
		t.Fatal("no log")
	}
	segs := l.Segments()
	if len(segs) < 10 {
		t.Fatalf("%d segments, want many", len(segs))
	}
	lastClosed := segs[len(segs)-2]
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		if end := remoteOf(t, b, "tiered").RemoteEndOffset(); end != lastClosed.NextOffset-1 {
			return fmt.Errorf("remote end %d, want %d", end, lastClosed.NextOffset-1)
		}
		return nil
	})
	if l.LogStartOffset() != 0 {
		t.Fatalf("local log start %d: retention.bytes is unlimited, nothing may go", l.LogStartOffset())
	}
	local, _, err := l.ReadBatches(0, 1<<30, commitlog.ToHighWatermark)
	if err != nil {
		t.Fatal(err)
	}
	p := remoteOf(t, b, "tiered")
	if len(p.RemoteSegments) != len(segs)-1 {
		t.Fatalf("%d remote segments for %d closed ones", len(p.RemoteSegments), len(segs)-1)
	}
	var remote []byte
	for i, rs := range p.RemoteSegments {
		if rs.BaseOffset != segs[i].BaseOffset || rs.EndOffset != segs[i].NextOffset-1 || rs.Size != segs[i].Size || rs.LeaderEpoch != p.LeaderEpoch || rs.MaxTimestamp != segs[i].MaxTimestamp {
			t.Fatalf("remote segment %d %+v, local %+v", i, rs, segs[i])
		}
		k, file, err := tiering.ParseSegmentKey(prefix, rs.ObjectKey)
		top, _ := b.Member.Image().Topic("tiered")
		if err != nil || file != "" || k.TopicID != top.ID || k.BaseOffset != rs.BaseOffset || k.LeaderEpoch != p.LeaderEpoch {
			t.Fatalf("object key %q: %+v %q %v", rs.ObjectKey, k, file, err)
		}
		for _, f := range tiering.SegmentFiles {
			if _, err := store.Stat(context.Background(), tiering.SegmentObject(rs.ObjectKey, f)); err != nil {
				t.Fatalf("segment %d: %s: %v", i, f, err)
			}
		}
		remote = append(remote, storetest.ReadAll(t, store, tiering.SegmentObject(rs.ObjectKey, tiering.SegmentLogFile))...)
		if ix := storetest.ReadAll(t, store, tiering.SegmentObject(rs.ObjectKey, tiering.SegmentIndexFile)); len(ix) == 0 || len(ix)%8 != 0 {
			t.Fatalf("segment %d: index of %d bytes", i, len(ix))
		}
		if ep := storetest.ReadAll(t, store, tiering.SegmentObject(rs.ObjectKey, tiering.SegmentEpochsFile)); !strings.HasPrefix(string(ep), "0\n1\n0 0\n") {
			t.Fatalf("segment %d: epochs %q", i, ep)
		}
		snap := storetest.ReadAll(t, store, tiering.SegmentObject(rs.ObjectKey, tiering.SegmentProducersFile))
		if off, _, err := producerstate.DecodeSnapshot(snap); err != nil || off <= rs.EndOffset {
			t.Fatalf("segment %d: producer snapshot at %d (%v), want past %d", i, off, err, rs.EndOffset)
		}
	}
	if !bytes.Equal(remote, local[:len(remote)]) {
		t.Fatal("the remote segments' logs are not the local log's bytes")
	}
	if got := gaugeValue(t, b.Metrics, "runnel_tier_uploaded_segments_total"); got != float64(len(p.RemoteSegments)) {
		t.Fatalf("uploaded segments metric %v, want %d", got, len(p.RemoteSegments))
	}
	if got := gaugeValue(t, b.Metrics, "runnel_tier_uploaded_bytes_total"); got < float64(len(remote)) {
		t.Fatalf("uploaded bytes metric %v, below the %d log bytes", got, len(remote))
	}
	if got := gaugeValue(t, b.Metrics, "runnel_tier_upload_lag_segments"); got != 0 {
		t.Fatalf("upload lag %v after everything was uploaded", got)
	}

	return l
}

// alterTopicConfig sets one config of a topic with IncrementalAlterConfigs.
func alterTopicConfig(b *brokertest.Broker, topic, key, value string) error {
	resp, err := b.Admin().AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: key, Value: kmsg.StringPtr(value)}}, topic)
	if err != nil {
		return err
	}
	for _, r := range resp {
		if r.Err != nil {
			return fmt.Errorf("%s: %w (%s)", r.Name, r.Err, r.ErrMessage)
		}
	}
	return nil
}

// TestTierConfigs checks the topic configs of tiering on a broker with an
// object store: remote.storage.enable is refused with compaction and
// cannot be turned off once on; the local retention configs are taken.
func TestTierConfigs(t *testing.T) {
	b, _ := tieredBroker(t, brokertest.Options{})
	ctx := context.Background()
	adm := b.Admin()
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"remote.storage.enable": kmsg.StringPtr("true"), "cleanup.policy": kmsg.StringPtr("compact")}, "compacted")
	if !errors.Is(resp.Err, kerr.InvalidConfig) || !strings.Contains(resp.ErrMessage, "cleanup.policy=delete") {
		t.Fatalf("tiered compacted topic: %v %v %q", err, resp.Err, resp.ErrMessage)
	}
	on, local := "true", "3600000"
	b.CreateTopic("tiered", 1, map[string]*string{"remote.storage.enable": &on, "local.retention.ms": &local})
	if err := alterTopicConfig(b, "tiered", "remote.storage.enable", "false"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("turning tiering off: %v", err)
	}
	if err := alterTopicConfig(b, "tiered", "cleanup.policy", "compact"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("compacting a tiered topic: %v", err)
	}
	if err := alterTopicConfig(b, "tiered", "local.retention.bytes", "100000"); err != nil {
		t.Fatal(err)
	}
	if err := alterTopicConfig(b, "tiered", "retention.ms", "60000"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("retention.ms below local.retention.ms: %v", err)
	}
	if err := alterTopicConfig(b, "tiered", "retention.bytes", "200000"); err != nil {
		t.Fatal(err)
	}
}
