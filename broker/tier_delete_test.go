package broker

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/runnel-dev/runnel/broker/kafkaserver"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteRecordsAt sends DeleteRecords for partition 0 of topic.
func (e *tierEnv) deleteRecordsAt(topic string, offset int64) kmsg.DeleteRecordsResponseTopicPartition {
	e.t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version = 2
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := e.b.handleDeleteRecords(e.ctx, &kafkaserver.Request{Msg: req})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Msg.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
}

func TestDeleteRecordsOnTieredPartition(t *testing.T) {
	e := newTierEnv(t, nil)
	e.createTopic("tiered", map[string]string{"retention.ms": "-1"})
	now := time.Now().UnixMilli()
	var segs []metadata.RemoteSegment
	for range 3 {
		segs = append(segs, e.uploadSegment("tiered", e.rollSegment("tiered", 10, now)))
	}
	// Offsets: remote [0,9] [10,19] [20,29]; the local log still has them
	// all (no local retention here), high watermark 30.
	if got := e.deleteRecordsAt("tiered", 31); got.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("past the high watermark: error %d", got.ErrorCode)
	}
	got := e.deleteRecordsAt("tiered", 15)
	if got.ErrorCode != 0 || got.LowWatermark != 15 {
		t.Fatalf("delete before 15: error %d low watermark %d", got.ErrorCode, got.LowWatermark)
	}
	if p := e.remote("tiered"); p.RemoteLogStart != 15 {
		t.Fatalf("remote log start %d, want 15", p.RemoteLogStart)
	}
	if start, _ := e.remote("tiered").RemoteStart(); start != 15 {
		t.Fatalf("remote start %d, want 15", start)
	}
	// The segment wholly below 15 goes (the housekeeping is poked), the
	// one holding 15 stays.
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := e.remote("tiered").RemoteSegments; keysOf(got) != keysOf(segs[1:]) {
			return fmt.Errorf("remote segments %s, want %s", keysOf(got), keysOf(segs[1:]))
		}
		if n := e.segmentObjects(segs[0].ObjectKey); n != 0 {
			return fmt.Errorf("%d objects of the deleted segment left", n)
		}
		return nil
	})
	if got := e.metric("runnel_tier_segments_deleted_total", map[string]string{"reason": reasonLogStart}); got != 1 {
		t.Fatalf("segments deleted for the log start: %v", got)
	}
	p, err := e.b.partitionFor("tiered", 0)
	if err != nil {
		t.Fatal(err)
	}
	if start := p.log.Offsets().LogStart; start != 15 {
		t.Fatalf("local log start %d, want 15", start)
	}
	// Below the start: nothing changes, the answer is the start.
	if got := e.deleteRecordsAt("tiered", 3); got.ErrorCode != 0 || got.LowWatermark != 15 {
		t.Fatalf("delete before 3: error %d low watermark %d, want 15", got.ErrorCode, got.LowWatermark)
	}
	// -1: up to the high watermark; every remote segment is below it.
	if got := e.deleteRecordsAt("tiered", -1); got.ErrorCode != 0 || got.LowWatermark != 30 {
		t.Fatalf("delete to the high watermark: error %d low watermark %d", got.ErrorCode, got.LowWatermark)
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := len(e.remote("tiered").RemoteSegments); n != 0 {
			return fmt.Errorf("%d remote segments left", n)
		}
		if keys := e.objects(tierTestPrefix + "/"); len(keys) != 0 {
			return fmt.Errorf("objects left: %q", keys)
		}
		return nil
	})
}

func TestTopicDeletionDeletesRemoteObjects(t *testing.T) {
	e := newTierEnv(t, nil)
	top := e.createTopic("doomed", nil)
	keep := e.createTopic("kept", nil)
	now := time.Now().UnixMilli()
	for range 2 {
		e.uploadSegment("doomed", e.rollSegment("doomed", 10, now))
	}
	kept := e.uploadSegment("kept", e.rollSegment("kept", 10, now))
	if n := len(e.objects(tiering.TopicPrefix(tierTestPrefix, top.ID))); n != 2*len(tiering.SegmentFiles) {
		t.Fatalf("%d objects uploaded", n)
	}
	if err := e.m.DeleteTopic(e.ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, 5*time.Millisecond, func() error {
		if keys := e.objects(tiering.TopicPrefix(tierTestPrefix, top.ID)); len(keys) != 0 {
			return fmt.Errorf("objects of the deleted topic left: %q", keys)
		}
		// Counted after each delete returns: the last may still be on its way.
		if got := e.metric("runnel_tier_objects_deleted_total", map[string]string{"reason": reasonTopicDeleted}); got != float64(2*len(tiering.SegmentFiles)) {
			return fmt.Errorf("objects deleted for the topic deletion: %v", got)
		}
		return nil
	})
	if n := e.segmentObjects(kept.ObjectKey); n != len(tiering.SegmentFiles) {
		t.Fatalf("another topic's segment lost objects: %d left", n)
	}
	if n := len(e.objects(tiering.TopicPrefix(tierTestPrefix, keep.ID))); n != len(tiering.SegmentFiles) {
		t.Fatalf("the kept topic has %d objects", n)
	}
}

func TestOrphanSweep(t *testing.T) {
	e := newTierEnv(t, nil)
	top := e.createTopic("tiered", nil)
	recorded := e.uploadSegment("tiered", e.rollSegment("tiered", 10, time.Now().UnixMilli()))
	put := func(key string) {
		t.Helper()
		if _, err := e.store.Put(e.ctx, key, bytes.NewReader([]byte("x")), 1); err != nil {
			t.Fatal(err)
		}
	}
	// An upload whose record never came, a file of a recorded segment's
	// prefix the record does not list (kept: the prefix is named), a
	// key that is no segment's (kept: not understood), and a segment of a
	// topic id that does not exist.
	orphan := tiering.NewSegmentKey(tierTestPrefix, top.ID, 0, 10, 0)
	put(orphan.Object(tiering.SegmentLogFile))
	put(orphan.Object(tiering.SegmentIndexFile))
	put(recorded.ObjectKey + "/extra")
	stray := tiering.PartitionPrefix(tierTestPrefix, top.ID, 0) + "notes.txt"
	put(stray)
	ghost := tiering.NewSegmentKey(tierTestPrefix, uuid.New(), 3, 0, 1)
	put(ghost.Object(tiering.SegmentLogFile))

	e.b.tierMaint.sweep(e.ctx)
	if n := len(e.objects(tierTestPrefix + "/")); n != len(tiering.SegmentFiles)+5 {
		t.Fatalf("the sweep deleted objects younger than the grace period: %d left", n)
	}
	e.advance(2 * time.Hour)
	e.b.tierMaint.sweep(e.ctx)
	if n := e.segmentObjects(orphan.String()); n != 0 {
		t.Fatalf("orphaned upload: %d objects left", n)
	}
	if n := e.segmentObjects(ghost.String()); n != 0 {
		t.Fatalf("deleted topic's orphan: %d objects left", n)
	}
	if n := e.segmentObjects(recorded.ObjectKey); n != len(tiering.SegmentFiles)+1 {
		t.Fatalf("recorded segment: %d objects left, want %d", n, len(tiering.SegmentFiles)+1)
	}
	if keys := e.objects(stray); len(keys) != 1 {
		t.Fatalf("a key the sweep does not understand was deleted")
	}
}
