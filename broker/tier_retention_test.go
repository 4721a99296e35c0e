package broker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

func TestRemoteRetentionPlan(t *testing.T) {
	const now = int64(1_000_000_000)
	seg := func(base, end, size, ts int64) metadata.RemoteSegment {
		return metadata.RemoteSegment{BaseOffset: base, EndOffset: end, Size: size, MaxTimestamp: ts, ObjectKey: "k" + string(rune('a'+base/10))}
	}
	remote := []metadata.RemoteSegment{seg(0, 9, 100, now-5000), seg(10, 19, 100, now-4000), seg(20, 29, 100, now-3000)}
	// Local copies of the last uploaded segment and two not uploaded yet.
	local := []commitlog.SegmentInfo{{BaseOffset: 20, NextOffset: 30, Size: 100}, {BaseOffset: 30, NextOffset: 40, Size: 100}, {BaseOffset: 40, NextOffset: 45, Size: 50, Active: true}}
	mp := metadata.Partition{RemoteSegments: remote}
	plan := func(mp metadata.Partition, cfg map[string]string) []string {
		var out []string
		for _, e := range remoteRetentionPlan(mp, local, remoteRetentionOf(cfg), now) {
			out = append(out, keysOf([]metadata.RemoteSegment{e.seg})+" "+e.reason)
		}
		return out
	}
	// local.retention.* bound the local copy only: they never delete
	// remote segments.
	local1 := map[string]string{"retention.ms": "-1", "local.retention.ms": "1", "local.retention.bytes": "1", "remote.storage.enable": "true"}
	for _, tc := range []struct {
		name string
		mp   metadata.Partition
		cfg  map[string]string
		want []string
	}{
		{"nothing expired", mp, map[string]string{"retention.ms": "3600000"}, nil},
		{"default retention.ms is 7 days", mp, nil, nil},
		{"local retention does not apply remotely", mp, local1, nil},
		{"by time, oldest first, stops at the first kept", mp, map[string]string{"retention.ms": "4500"}, []string{"[0,9] retention.ms"}},
		{"by time, all but the newest", mp, map[string]string{"retention.ms": "3500"}, []string{"[0,9] retention.ms", "[10,19] retention.ms"}},
		// Total = 300 remote + 150 local not uploaded (the local copy of
		// [20,29] is not counted twice) = 450.
		{"by size counts remote plus local not uploaded", mp, map[string]string{"retention.ms": "-1", "retention.bytes": "350"}, []string{"[0,9] retention.bytes"}},
		{"by size, two", mp, map[string]string{"retention.ms": "-1", "retention.bytes": "250"}, []string{"[0,9] retention.bytes", "[10,19] retention.bytes"}},
		{"by size, at the bound keeps", mp, map[string]string{"retention.ms": "-1", "retention.bytes": "451"}, nil},
		{"retention.bytes -1 keeps", mp, map[string]string{"retention.ms": "-1", "retention.bytes": "-1"}, nil},
		{"below the remote log start first", metadata.Partition{RemoteSegments: remote, RemoteLogStart: 15}, map[string]string{"retention.ms": "-1"}, []string{"[0,9] log_start"}},
		{"a segment holding the log start stays", metadata.Partition{RemoteSegments: remote, RemoteLogStart: 19}, map[string]string{"retention.ms": "-1"}, []string{"[0,9] log_start"}},
		{"compact-only deletes nothing", mp, map[string]string{"retention.ms": "1", "cleanup.policy": "compact"}, nil},
		{"compact,delete deletes", mp, map[string]string{"retention.ms": "4500", "cleanup.policy": "compact,delete"}, []string{"[0,9] retention.ms"}},
		{"no timestamps: size only", metadata.Partition{RemoteSegments: []metadata.RemoteSegment{seg(0, 9, 100, -1)}}, map[string]string{"retention.ms": "1"}, nil},
	} {
		if got := plan(tc.mp, tc.cfg); !slices.Equal(got, tc.want) {
			t.Errorf("%s: plan %q, want %q", tc.name, got, tc.want)
		}
	}
}

// orderingStore fails the test when a remote segment's object is deleted
// while the metadata still records the segment: records go first.
type orderingStore struct {
	tiering.Store
	mu      sync.Mutex
	env     *tierEnv
	bad     []string
	failing bool // Delete fails
}

func (s *orderingStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return errors.New("injected delete failure")
	}
	if e := s.env; e != nil {
		for _, top := range e.m.Image().Topics() {
			for _, p := range top.Partitions {
				for _, r := range p.RemoteSegments {
					if strings.HasPrefix(key, r.ObjectKey+"/") {
						s.bad = append(s.bad, key)
					}
				}
			}
		}
	}
	return s.Store.Delete(ctx, key)
}

func (s *orderingStore) setFailing(v bool) {
	s.mu.Lock()
	s.failing = v
	s.mu.Unlock()
}

func TestRemoteRetentionDeletesRecordThenObjects(t *testing.T) {
	var st *orderingStore
	e := newTierEnv(t, func(s tiering.Store) tiering.Store { st = &orderingStore{Store: s}; return st })
	st.env = e
	e.createTopic("tiered", map[string]string{"retention.ms": "3600000"})
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	var segs []metadata.RemoteSegment
	for i := range 3 {
		ts := time.Now().UnixMilli()
		if i == 0 {
			ts = old
		}
		segs = append(segs, e.uploadSegment("tiered", e.rollSegment("tiered", 20, ts)))
	}
	for _, s := range segs {
		if n := e.segmentObjects(s.ObjectKey); n != len(tiering.SegmentFiles) {
			t.Fatalf("segment %s has %d objects after upload", s.ObjectKey, n)
		}
	}
	if got := e.metric("runnel_tier_remote_segments", map[string]string{"topic": "tiered"}); got != 3 {
		t.Fatalf("runnel_tier_remote_segments %v, want 3", got)
	}

	e.b.tierMaint.applyRetention(e.ctx)
	if got := e.remote("tiered").RemoteSegments; keysOf(got) != keysOf(segs[1:]) {
		t.Fatalf("remote segments after time retention %s, want %s", keysOf(got), keysOf(segs[1:]))
	}
	if n := e.segmentObjects(segs[0].ObjectKey); n != 0 {
		t.Fatalf("expired segment still has %d objects", n)
	}
	for _, s := range segs[1:] {
		if n := e.segmentObjects(s.ObjectKey); n != len(tiering.SegmentFiles) {
			t.Fatalf("kept segment %s has %d objects", s.ObjectKey, n)
		}
	}
	if len(st.bad) > 0 {
		t.Fatalf("objects deleted while their record stood: %q", st.bad)
	}
	if got := e.metric("runnel_tier_segments_deleted_total", map[string]string{"reason": reasonRetentionTime}); got != 1 {
		t.Fatalf("segments deleted by retention.ms: %v, want 1", got)
	}

	// Size: the two remote segments plus the active local one; a bound of
	// one segment's size deletes the older remote one. The store fails
	// the object deletes: the record goes, the objects stay as orphans,
	// which the sweep deletes once past the grace period.
	e.setConfig("tiered", "retention.bytes", "1")
	st.setFailing(true)
	e.b.tierMaint.applyRetention(e.ctx)
	st.setFailing(false)
	if got := e.remote("tiered").RemoteSegments; keysOf(got) != keysOf(segs[2:]) {
		t.Fatalf("remote segments after size retention %s, want %s", keysOf(got), keysOf(segs[2:]))
	}
	if n := e.segmentObjects(segs[1].ObjectKey); n != len(tiering.SegmentFiles) {
		t.Fatalf("failed deletes left %d objects, want all %d", n, len(tiering.SegmentFiles))
	}
	e.b.tierMaint.sweep(e.ctx)
	if n := e.segmentObjects(segs[1].ObjectKey); n != len(tiering.SegmentFiles) {
		t.Fatalf("the sweep deleted objects younger than the grace period: %d left", n)
	}
	e.advance(2 * time.Hour)
	e.b.tierMaint.sweep(e.ctx)
	if n := e.segmentObjects(segs[1].ObjectKey); n != 0 {
		t.Fatalf("the sweep left %d orphaned objects", n)
	}
	if n := e.segmentObjects(segs[2].ObjectKey); n != len(tiering.SegmentFiles) {
		t.Fatalf("the sweep deleted objects of a recorded segment: %d left", n)
	}
	if got := e.metric("runnel_tier_objects_deleted_total", map[string]string{"reason": reasonOrphan}); got != float64(len(tiering.SegmentFiles)) {
		t.Fatalf("orphan objects deleted: %v", got)
	}
}
