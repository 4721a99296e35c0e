package metadata

import (
	"bytes"
	"errors"
	"testing"
)

// sampleImage builds an image that uses every record type.
func sampleImage(t testing.TB) *fixture {
	f := newFixture(t)
	f.threeBrokers()
	f.apply(Record{TopicCreated: &TopicCreated{Name: "orders", ID: topicID(1), Config: map[string]string{ConfigRetentionMs: "1000"},
		Partitions: []PartitionState{ps(1, []int32{1, 2}, []int32{1, 2}), ps(2, []int32{2, 3}, []int32{2, 3})}}})
	f.apply(createTopic("gone", topicID(2), ps(3, []int32{3}, []int32{3})))
	f.apply(Record{TopicDeleted: &TopicDeleted{ID: topicID(2)}})
	f.apply(Record{PartitionsCreated: &PartitionsCreated{ID: topicID(1), From: 2, Partitions: []PartitionState{ps(3, []int32{3, 1}, []int32{3, 1})}}})
	f.apply(Record{PartitionChanged: &PartitionChanged{ID: topicID(1), Partition: 0, Leader: 2, ISR: []int32{2}}})
	f.apply(Record{ProducerIDsAllocated: &ProducerIDsAllocated{BrokerID: 2, First: 0, Count: 1000}})
	f.apply(Record{RemoteSegmentAdded: &RemoteSegmentAdded{ID: topicID(1), Partition: 1, BrokerID: 2, Segment: RemoteSegment{BaseOffset: 0, EndOffset: 9, ObjectKey: "k", Size: 1}}})
	f.apply(Record{BrokerFenced: &BrokerFenced{ID: 3, Epoch: 3}})
	return f
}

func TestSnapshotRestore(t *testing.T) {
	f := sampleImage(t)
	data, err := f.img.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalImage(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != f.img.Hash() || got.Version() != f.img.Version() {
		t.Fatalf("restored image differs: %s@%d vs %s@%d", got.Hash(), got.Version(), f.img.Hash(), f.img.Version())
	}
	again, _ := got.Marshal()
	if !bytes.Equal(again, data) {
		t.Fatal("snapshot encoding not canonical")
	}
	for _, bad := range [][]byte{nil, []byte("{}"), []byte(`{"v":1,"brokers":[{"id":1},{"id":1}],"topics":[]}`), append(data, '{')} {
		if _, err := UnmarshalImage(bad); !errors.Is(err, ErrInvalidSnapshot) {
			t.Fatalf("UnmarshalImage(%q): %v", bad, err)
		}
	}
}

func TestStateMachine(t *testing.T) {
	var applied []Applied
	sm := NewStateMachine(Options{OnApply: func(a Applied) { applied = append(applied, a) }})
	img, ch := sm.Watch()
	if img.Version() != 0 {
		t.Fatal("fresh state machine not at version 0")
	}
	if err := sm.Apply(1, MustEncode(Batch{Records: []Record{register(1, "a")}})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("watch channel not closed on change")
	}
	img, ch = sm.Watch()
	if _, ok := img.Broker(1); !ok || img.Version() != 1 {
		t.Fatal("broker not applied")
	}
	// Empty entries and rejections advance the version only.
	if err := sm.Apply(2, nil); err != nil {
		t.Fatal(err)
	}
	if err := sm.Apply(3, MustEncode(Batch{Records: []Record{unfence(1, 99)}})); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale unfence: %v", err)
	}
	if err := sm.Apply(4, []byte("garbage")); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("garbage: %v", err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("watch did not fire for a new version")
	}
	if v := sm.Image().Version(); v != 4 {
		t.Fatalf("version %d, want 4", v)
	}
	if len(applied) != 4 || applied[2].Err == nil || applied[0].Hash != applied[3].Hash {
		t.Fatalf("OnApply history: %+v", applied)
	}
	// An index already covered is ignored.
	if err := sm.Apply(4, MustEncode(Batch{Records: []Record{unfence(1, 1)}})); err != nil {
		t.Fatal(err)
	}
	if b, _ := sm.Image().Broker(1); !b.Fenced {
		t.Fatal("re-applied entry took effect")
	}

	snap, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := NewStateMachine(Options{})
	if err := other.Restore(4, snap); err != nil {
		t.Fatal(err)
	}
	if other.Image().Hash() != sm.Image().Hash() || other.Image().Version() != 4 {
		t.Fatal("restore differs")
	}
	if err := other.Restore(5, []byte("x")); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
}

func TestCodecCanonical(t *testing.T) {
	f := sampleImage(t)
	_ = f
	b := Batch{Records: []Record{
		register(1, "a"),
		{TopicCreated: &TopicCreated{Name: "t", ID: topicID(1), Config: map[string]string{"z": "1", "a": "2", "m": "3"}, Partitions: []PartitionState{ps(1, []int32{1}, []int32{1})}}},
		{TopicConfigChanged: &TopicConfigChanged{ID: topicID(1), Set: map[string]string{"b": "1", "a": "2"}}},
	}}
	first := MustEncode(b)
	for range 20 {
		if !bytes.Equal(MustEncode(b), first) {
			t.Fatal("encoding not deterministic")
		}
	}
	got, err := Decode(first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(MustEncode(got), first) {
		t.Fatal("decode/encode not a round trip")
	}
	if _, err := Encode(Batch{Records: []Record{{}}}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("empty record encoded: %v", err)
	}
	for _, bad := range []string{``, `{}`, `{"v":4,"records":[]}`, `{"v":0,"records":[]}`,
		`{"v":2,"records":[{"user_scram_credential_deleted":{"user":"u","mechanism":"SCRAM-SHA-256"}}]}`,
		`{"v":1,"records":[{"partition_changed":{"id":"00000000-0000-0000-0000-000000000001","partition":0,"partition_epoch":0,"leader":1,"isr":[1],"reassign":{"replicas":[1]}}}]}`, `{"v":1}`, `{"v":1,"records":[{}]}`,
		`{"v":1,"records":[]} x`, `{"v":1,"records":[],"extra":1}`,
		`{"v":2,"records":[{"broker_registered":{"id":1,"addr":"x:1","incarnation":"00000000-0000-0000-0000-000000000001","listeners":[{"name":"A","addr":"x:1"}]}}]}`,
		`{"v":1,"records":[{"broker_fenced":{"id":1,"epoch":1},"broker_unfenced":{"id":1,"epoch":1}}]}`} {
		if _, err := Decode([]byte(bad)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Decode(%q): %v", bad, err)
		}
	}
}
