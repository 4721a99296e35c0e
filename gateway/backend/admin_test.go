package backend

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/gateway/apierr"
	"github.com/runnel-dev/runnel/gateway/event"
)

func TestTopicAdmin(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	b := newBackend(t, c)
	ctx := testCtx(t)

	info, err := b.CreateTopic(ctx, TopicSpec{Name: "events", Partitions: 3, ReplicationFactor: 1, Config: map[string]string{"retention.ms": "3600000"}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "events" || len(info.ID) != 36 || len(info.Partitions) != 3 || info.Config["retention.ms"] != "3600000" {
		t.Fatalf("created %+v", info)
	}
	if info.Config["cleanup.policy"] != "delete" {
		t.Fatalf("defaults are part of the config: cleanup.policy is %q", info.Config["cleanup.policy"])
	}
	for i, p := range info.Partitions {
		if p.ID != int32(i) || p.Leader != 1 || !slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.ISR, []int32{1}) ||
			p.LogStartOffset != 0 || p.HighWatermark != 0 {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}
	// The topic is usable at once.
	if _, err := b.Produce(ctx, "events", AcksAll, values(4, 1, "v"), ""); err != nil {
		t.Fatal(err)
	}
	info, err = b.DescribeTopic(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	if hw := info.Partitions[1].HighWatermark; hw != 4 {
		t.Fatalf("partition 1 high watermark %d after 4 events", hw)
	}

	_, err = b.CreateTopic(ctx, TopicSpec{Name: "events", Partitions: 1})
	wantAPIError(t, err, http.StatusConflict, apierr.CodeTopicExists)
	for name, spec := range map[string]TopicSpec{
		"bad name":           {Name: "bad name!", Partitions: 1},
		"unknown config":     {Name: "x1", Partitions: 1, Config: map[string]string{"no.such.config": "1"}},
		"bad config value":   {Name: "x2", Partitions: 1, Config: map[string]string{"retention.ms": "soon"}},
		"replication factor": {Name: "x3", Partitions: 1, ReplicationFactor: 3},
		"negative":           {Name: "x4", Partitions: -3},
	} {
		_, err := b.CreateTopic(ctx, spec)
		ae := wantAPIError(t, err, http.StatusBadRequest, apierr.CodeInvalidRequest)
		t.Logf("%s: %s", name, ae.Message)
	}

	if _, err := b.CreateTopic(ctx, TopicSpec{Name: "audit"}); err != nil { // broker defaults
		t.Fatal(err)
	}
	list, err := b.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "audit" || list[1].Name != "events" || len(list[1].Partitions) != 3 ||
		list[1].Partitions[1].HighWatermark != 4 || list[1].Config["retention.ms"] != "3600000" {
		t.Fatalf("list: %+v", list)
	}

	// PATCH: more partitions and config changes; a nil value restores the default.
	six := int32(6)
	info, err = b.AlterTopic(ctx, "events", TopicChange{Partitions: &six, Config: map[string]*string{"retention.ms": nil, "segment.bytes": ptr("1048576")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != 6 || info.Config["segment.bytes"] != "1048576" || info.Config["retention.ms"] != "604800000" {
		t.Fatalf("altered: %d partitions, config %v", len(info.Partitions), info.Config)
	}
	if meta, err := b.TopicMeta(ctx, "events"); err != nil || meta.Partitions != 6 {
		t.Fatalf("TopicMeta after growing: %+v %v", meta, err)
	}
	if _, err := b.Produce(ctx, "events", AcksAll, values(1, 5, "new"), ""); err != nil {
		t.Fatalf("produce to an added partition: %v", err)
	}
	if _, err := b.AlterTopic(ctx, "events", TopicChange{Partitions: &six}); err != nil {
		t.Fatalf("the same partition count is no change: %v", err)
	}
	two := int32(2)
	_, err = b.AlterTopic(ctx, "events", TopicChange{Partitions: &two})
	wantAPIError(t, err, http.StatusConflict, apierr.CodeConflict)
	_, err = b.AlterTopic(ctx, "events", TopicChange{Config: map[string]*string{"retention.ms": ptr("never")}})
	wantAPIError(t, err, http.StatusBadRequest, apierr.CodeInvalidRequest)
	// A refused PATCH changes nothing: the partition count is checked
	// before the configs are written.
	lots := int32(1 << 20)
	_, err = b.AlterTopic(ctx, "events", TopicChange{Partitions: &lots, Config: map[string]*string{"retention.ms": ptr("1000")}})
	wantAPIError(t, err, http.StatusConflict, apierr.CodeConflict)
	if info, err = b.DescribeTopic(ctx, "events"); err != nil || info.Config["retention.ms"] != "604800000" {
		t.Fatalf("after a refused PATCH: retention.ms %q, %v", info.Config["retention.ms"], err)
	}
	_, err = b.AlterTopic(ctx, "nope", TopicChange{Partitions: &six})
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)

	// Delete, then the topic is gone everywhere; created again it has a new ID.
	old, err := b.TopicMeta(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteTopic(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	_, err = b.DescribeTopic(ctx, "events")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	_, err = b.TopicMeta(ctx, "events")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	err = b.DeleteTopic(ctx, "events")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	_, err = b.Produce(ctx, "events", AcksAll, values(1, -1, "v"), "")
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	if _, err := b.CreateTopic(ctx, TopicSpec{Name: "events", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	meta, err := b.TopicMeta(ctx, "events")
	if err != nil || meta.ID == old.ID || meta.Partitions != 1 {
		t.Fatalf("recreated topic: %+v (old ID %s), %v", meta, old.ID, err)
	}
}

func TestOffsets(t *testing.T) {
	c := brokertest.Start(t, 1, brokertest.Options{})
	c.CreateTopic("t", 2, nil)
	b := newBackend(t, c)
	ctx := testCtx(t)
	base := time.Now().Add(-time.Hour).UnixMilli()
	evs := make([]event.Event, 10)
	for i := range evs {
		evs[i] = event.Event{Partition: 0, Value: []byte("v"), Timestamp: base + int64(i)*1000}
	}
	if _, err := b.Produce(ctx, "t", AcksAll, evs, ""); err != nil {
		t.Fatal(err)
	}

	offs, err := b.Offsets(ctx, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []PartitionOffsets{{Partition: 0, Earliest: 0, Latest: 10}, {Partition: 1, Earliest: 0, Latest: 0}}
	if !slices.Equal(offs, want) {
		t.Fatalf("offsets %+v, want %+v", offs, want)
	}
	at := base + 3500 // between the 4th and 5th event
	offs, err = b.Offsets(ctx, "t", &at)
	if err != nil {
		t.Fatal(err)
	}
	if len(offs) != 2 || offs[0].ForTimestamp == nil || *offs[0].ForTimestamp != 4 || offs[1].ForTimestamp == nil || *offs[1].ForTimestamp != -1 { // partition 1 is empty
		t.Fatalf("offsets for %d: %+v", at, offs)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	if offs, err = b.Offsets(ctx, "t", &future); err != nil || *offs[0].ForTimestamp != -1 {
		t.Fatalf("offsets for the future: %+v %v, want -1 (no such event), as Kafka", offs, err)
	}

	for ms, want := range map[int64]int64{0: 0, base: 0, at: 4, base + 9000: 9, future: 10} {
		got, err := b.OffsetForTime(ctx, "t", 0, ms)
		if err != nil || got != want {
			t.Fatalf("OffsetForTime(%d) = %d, %v; want %d", ms, got, err, want)
		}
	}
	// A group reset to a time after every event goes to the end, as
	// kafka-consumer-groups --to-datetime, not to -1.
	for ms, want := range map[int64]int64{at: 4, future: 10} {
		p0 := int32(0)
		got, err := b.ResetGroupOffsets(ctx, "reset", "t", &p0, ResetTo{Time: &ms})
		if err != nil || len(got) != 1 || got[0].Offset != want {
			t.Fatalf("ResetGroupOffsets to %d = %+v, %v; want offset %d", ms, got, err, want)
		}
	}
	_, err = b.Offsets(ctx, "nope", nil)
	wantAPIError(t, err, http.StatusNotFound, apierr.CodeTopicNotFound)
	_, err = b.OffsetForTime(ctx, "t", 7, 0)
	wantAPIError(t, err, http.StatusNotFound, apierr.CodePartitionNotFound)
}
