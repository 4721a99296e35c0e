package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/openapitest"
	"github.com/runnel-dev/runnel/internal/testwait"
	"github.com/runnel-dev/runnel/raftmeta/metadata"
	"github.com/runnel-dev/runnel/tiering"
)

// TestTieredRetentionByTime: a tiered topic's old events are uploaded by
// the broker and gone from its disk; lowering retention.ms removes the
// remote segments holding only older events, whole (record and objects),
// and keeps the rest. Below the new start, a Kafka Fetch is
// OFFSET_OUT_OF_RANGE and a REST read 416, both naming the new log start;
// ListOffsets earliest is that start, and reads from it get every kept event.
func TestTieredRetentionByTime(t *testing.T) { readPaths(t, testTieredRetentionByTime) }

func testTieredRetentionByTime(t *testing.T, local bool) {
	store, err := tiering.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := brokertest.Start(t, 1, brokertest.Options{Tier: broker.TierConfig{Store: store, Prefix: "gw"}, RetentionCheckInterval: 20 * time.Millisecond})
	cfg := func(v string) *string { return &v }
	c.CreateTopic("tiered", 1, map[string]*string{
		"segment.bytes": cfg("1024"), "remote.storage.enable": cfg("true"), "local.retention.bytes": cfg("1"), "retention.ms": cfg("-1"),
	})
	cl := c.Client()
	const old, n = 300, 600
	twoDaysAgo := time.Now().Add(-48 * time.Hour)
	for first := 0; first < n; first += 10 {
		ts := time.Now()
		if first < old {
			ts = twoDaysAgo
		}
		produceBatchAt(t, cl, "tiered", first, 10, ts)
	}
	member := c.Nodes[0].Member
	remote := func() metadata.Partition {
		mt, _ := member.Image().Topic("tiered")
		return mt.Partitions[0]
	}
	testwait.For(t, 60*time.Second, 20*time.Millisecond, func() error {
		if end := remote().RemoteEndOffset(); end < old {
			return fmt.Errorf("remote end %d: the old events are not all uploaded", end)
		}
		return nil
	})
	before := remote().RemoteSegments
	if before[0].BaseOffset != 0 {
		t.Fatalf("first remote segment %+v", before[0])
	}

	resp, err := kadm.NewClient(cl).AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "retention.ms", Value: cfg("3600000")}}, "tiered")
	if err == nil {
		err = resp[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	var start int64
	testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
		p := remote()
		// Done when the first remote segment holds a new event.
		if len(p.RemoteSegments) == 0 || p.RemoteSegments[0].EndOffset < old {
			return fmt.Errorf("remote segments %v: segments of old events only remain", p.RemoteSegments)
		}
		start, _ = p.RemoteStart()
		return nil
	})
	// Whole segments: every removed one held only old events and has no
	// object left; every kept one holds a new event and all its objects.
	kept := remote().RemoteSegments
	if start == 0 || start > old || start != kept[0].BaseOffset {
		t.Fatalf("remote start %d (first kept segment %+v): removed past the old events, or not whole segments", start, kept[0])
	}
	// The record goes first, then the objects: a removed segment's objects
	// may still be being deleted when the metadata shows it gone.
	countObjects := func(rs metadata.RemoteSegment) int {
		objects := 0
		if err := store.List(context.Background(), rs.ObjectKey+"/", func(tiering.ObjectInfo) error { objects++; return nil }); err != nil {
			t.Fatal(err)
		}
		return objects
	}
	for _, rs := range before {
		switch {
		case rs.BaseOffset < start:
			if rs.EndOffset >= old {
				t.Fatalf("removed segment [%d,%d] held new events", rs.BaseOffset, rs.EndOffset)
			}
			testwait.For(t, 30*time.Second, 20*time.Millisecond, func() error {
				if n := countObjects(rs); n != 0 {
					return fmt.Errorf("removed segment [%d,%d]: %d objects left", rs.BaseOffset, rs.EndOffset, n)
				}
				return nil
			})
		case countObjects(rs) != len(tiering.SegmentFiles):
			t.Fatalf("kept segment [%d,%d] has %d objects", rs.BaseOffset, rs.EndOffset, countObjects(rs))
		}
	}

	// Kafka: Fetch below the start is out of range, ListOffsets earliest
	// is the start.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxWaitMillis, fetch.MaxBytes = 100, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	mt, _ := member.Image().Topic("tiered")
	ft.Topic, ft.TopicID = "tiered", mt.ID // Fetch v13+ names topics by id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fr, err := fetch.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := fr.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != start {
		t.Fatalf("Kafka fetch at 0: %v, log start %d; want OFFSET_OUT_OF_RANGE and %d", kerr.ErrorForCode(p.ErrorCode), p.LogStartOffset, start)
	}
	offs, err := kadm.NewClient(cl).ListStartOffsets(ctx, "tiered")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("tiered", 0); o.Err != nil || o.Offset != start {
		t.Fatalf("ListOffsets earliest %d (%v), want %d", o.Offset, o.Err, start)
	}

	// REST: 416 below the start with the new log start; from it, every
	// kept event in order.
	g := startGateway(t, c, readPath(c, local))
	tok := adminToken(t)
	client := &http.Client{Transport: openapitest.Transport(t, nil)}
	get := func(off int64) (int, map[string]any) {
		t.Helper()
		return getEvents(t, client, g.URL(), tok, "tiered", off)
	}
	for _, off := range []int64{0, start - 1} {
		status, body := get(off)
		if e, _ := body["error"].(map[string]any); status != http.StatusRequestedRangeNotSatisfiable || e["log_start_offset"] != float64(start) {
			t.Fatalf("REST fetch at %d below the remote start: %d %v, want 416 with log start %d", off, status, body, start)
		}
	}
	next := start
	for next < n {
		status, body := get(next)
		if status != http.StatusOK {
			t.Fatalf("REST fetch at %d: %d %v", next, status, body)
		}
		for _, e := range body["events"].([]any) {
			ev := e.(map[string]any)
			if ev["offset"] != float64(next) || ev["value"] != float64(next) { // the value is the offset as JSON
				t.Fatalf("event %v, want offset and value %d", ev, next)
			}
			next++
		}
	}
}
