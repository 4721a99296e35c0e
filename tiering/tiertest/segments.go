// Package tiertest makes remote segments for tests of the read path: it
// uploads the files of a real rolled commitlog segment under a
// tiering.SegmentKey and records it through a metadata member, as the
// upload path does. Tests keep to these helpers so that the record they
// create changes in one place when the upload path's does. Metric reads
// the tier metrics they check.
package tiertest

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/controller"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// UploadSegment puts the files of seg, a rolled (not active) segment of a
// local log, under a new SegmentKey and returns the metadata record that
// describes it. The leader-epoch checkpoint is the log directory's; the
// producer snapshot is empty (readers do not use it).
func UploadSegment(tb testing.TB, store tiering.Store, prefix string, topicID uuid.UUID, partition, leaderEpoch int32, seg commitlog.SegmentInfo) metadata.RemoteSegment {
	tb.Helper()
	if seg.Active {
		tb.Fatalf("segment %d is the active segment: only rolled segments are uploaded", seg.BaseOffset)
	}
	key := tiering.NewSegmentKey(prefix, topicID, partition, seg.BaseOffset, leaderEpoch)
	base := strings.TrimSuffix(seg.Path, commitlog.LogFileSuffix)
	files := map[string]string{
		tiering.SegmentIndexFile:     base + commitlog.IndexFileSuffix,
		tiering.SegmentTimeIndexFile: base + commitlog.TimeIndexFileSuffix,
		tiering.SegmentEpochsFile:    filepath.Join(filepath.Dir(seg.Path), commitlog.LeaderEpochCheckpointFile),
		tiering.SegmentLogFile:       seg.Path,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range tiering.SegmentFiles {
		var b []byte
		if path, ok := files[name]; ok {
			var err error
			if b, err = os.ReadFile(path); err != nil && !(errors.Is(err, fs.ErrNotExist) && name == tiering.SegmentEpochsFile) {
				tb.Fatalf("upload segment %d: %v", seg.BaseOffset, err)
			}
		}
		if name == tiering.SegmentLogFile && int64(len(b)) != seg.Size {
			tb.Fatalf("segment %d: log file holds %d bytes, the log says %d", seg.BaseOffset, len(b), seg.Size)
		}
		if _, err := store.Put(ctx, key.Object(name), bytes.NewReader(b), int64(len(b))); err != nil {
			tb.Fatalf("upload segment %d: %v", seg.BaseOffset, err)
		}
	}
	return metadata.RemoteSegment{
		BaseOffset: seg.BaseOffset, EndOffset: seg.NextOffset - 1, ObjectKey: key.String(),
		Size: seg.Size, LeaderEpoch: leaderEpoch, MaxTimestamp: seg.MaxTimestamp,
	}
}

// Recorder is what records a remote segment: a *raftmeta.Member.
type Recorder interface {
	AddRemoteSegment(ctx context.Context, req controller.RemoteSegmentRequest) error
	Image() *metadata.Image
}

// RecordSegment proposes RemoteSegmentAdded for seg through m, as the
// partition's current leader (the record is fenced on it), and returns once
// this member applied it. seg.LeaderEpoch must be the current leader epoch.
func RecordSegment(tb testing.TB, m Recorder, topicID uuid.UUID, partition int32, seg metadata.RemoteSegment) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.AddRemoteSegment(ctx, LeaderRequest(tb, m.Image(), topicID, partition, seg)); err != nil {
		tb.Fatalf("record remote segment %s: %v", seg.ObjectKey, err)
	}
}

// LeaderRequest is the request that adds or removes seg as the partition's
// current leader in img.
func LeaderRequest(tb testing.TB, img *metadata.Image, topicID uuid.UUID, partition int32, seg metadata.RemoteSegment) controller.RemoteSegmentRequest {
	tb.Helper()
	p, ok := img.Partition(topicID, partition)
	if !ok {
		tb.Fatalf("partition %s/%d not in the metadata image", topicID, partition)
	}
	return controller.RemoteSegmentRequest{TopicID: topicID, Partition: partition, Segment: seg, BrokerID: p.Leader, LeaderEpoch: p.LeaderEpoch}
}

// TierLog uploads every rolled segment of l but the last keep (and the
// active one), records each through m, then moves l's log start past them,
// as local retention of uploaded segments does. It returns the recorded
// segments, oldest first.
func TierLog(tb testing.TB, store tiering.Store, prefix string, m Recorder, l *commitlog.Log, topicID uuid.UUID, partition, leaderEpoch int32, keep int) []metadata.RemoteSegment {
	tb.Helper()
	segs := l.Segments()
	n := len(segs) - 1 - keep
	if n < 1 {
		tb.Fatalf("the log has %d segments: nothing to tier keeping %d rolled ones", len(segs), keep)
	}
	var out []metadata.RemoteSegment
	for _, s := range segs[:n] {
		rs := UploadSegment(tb, store, prefix, topicID, partition, leaderEpoch, s)
		RecordSegment(tb, m, topicID, partition, rs)
		out = append(out, rs)
	}
	if _, err := l.DeleteRecordsBefore(segs[n].BaseOffset); err != nil {
		tb.Fatalf("move the local log start to %d: %v", segs[n].BaseOffset, err)
	}
	if got := l.LogStartOffset(); got != segs[n].BaseOffset {
		tb.Fatalf("local log start %d, want %d", got, segs[n].BaseOffset)
	}
	return out
}

// Metric returns the value of the counter or gauge name (one series) in
// reg, failing the test when reg has none.
func Metric(tb testing.TB, reg prometheus.Gatherer, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	tb.Fatalf("no metric %s", name)
	return 0
}
