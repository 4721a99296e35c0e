package metadata

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestBrokerRecords(t *testing.T) {
	f := newFixture(t)
	f.apply(register(1, "a"))
	b, ok := f.img.Broker(1)
	if !ok || !b.Fenced || b.Epoch != 1 || b.Rack != "a" {
		t.Fatalf("registered broker: %+v %v", b, ok)
	}
	f.reject(ErrInvalidBroker, Record{BrokerRegistered: &BrokerRegistered{ID: -1, Addr: "x", Incarnation: incarnation(1, 0)}})
	f.reject(ErrInvalidBroker, Record{BrokerRegistered: &BrokerRegistered{ID: 2, Addr: "", Incarnation: incarnation(2, 0)}})
	f.reject(ErrInvalidBroker, Record{BrokerRegistered: &BrokerRegistered{ID: 2, Addr: "x"}})
	f.reject(ErrUnknownBroker, unfence(9, 1))
	f.reject(ErrStaleBrokerEpoch, unfence(1, 7))
	f.reject(ErrBrokerState, Record{BrokerFenced: &BrokerFenced{ID: 1, Epoch: 1}})
	f.apply(unfence(1, 1))
	f.reject(ErrBrokerState, unfence(1, 1))

	// Same incarnation again: a retry, keeps epoch and fencing.
	f.apply(Record{BrokerRegistered: &BrokerRegistered{ID: 1, Addr: "other:1", Rack: "a", Incarnation: incarnation(1, 0)}})
	if b, _ := f.img.Broker(1); b.Epoch != 1 || b.Fenced || b.Addr != "other:1" {
		t.Fatalf("re-registration: %+v", b)
	}
	// New incarnation: new epoch, fenced.
	f.apply(Record{BrokerRegistered: &BrokerRegistered{ID: 1, Addr: "x:1", Incarnation: incarnation(1, 1)}})
	if b, _ := f.img.Broker(1); b.Epoch != f.index || !b.Fenced {
		t.Fatalf("new incarnation: %+v", b)
	}
	f.apply(unfence(1, f.index))
	f.apply(Record{BrokerFenced: &BrokerFenced{ID: 1, Epoch: f.index - 1}})
	if b, _ := f.img.Broker(1); !b.Fenced {
		t.Fatal("not fenced")
	}
}

func TestTopicCreated(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	good := []PartitionState{ps(1, []int32{1, 2}, []int32{1, 2}), ps(2, []int32{2, 3}, []int32{2, 3})}
	cases := []struct {
		name string
		rec  Record
		want error
	}{
		{"empty name", createTopic("", topicID(1), good...), ErrInvalidTopicName},
		{"dot", createTopic(".", topicID(1), good...), ErrInvalidTopicName},
		{"dotdot", createTopic("..", topicID(1), good...), ErrInvalidTopicName},
		{"bad char", createTopic("a/b", topicID(1), good...), ErrInvalidTopicName},
		{"too long", createTopic(strings.Repeat("x", 250), topicID(1), good...), ErrInvalidTopicName},
		{"nil id", createTopic("t", uuid.Nil, good...), ErrInvalidRecord},
		{"no partitions", createTopic("t", topicID(1)), ErrInvalidPartitions},
		{"unequal rf", createTopic("t", topicID(1), ps(1, []int32{1}, []int32{1}), ps(2, []int32{2, 3}, []int32{2})), ErrInvalidReplicationFactor},
		{"empty replicas", createTopic("t", topicID(1), ps(NoLeader, nil, []int32{1})), ErrInvalidReplicationFactor},
		{"dup replica", createTopic("t", topicID(1), ps(1, []int32{1, 1}, []int32{1})), ErrInvalidReplicas},
		{"unknown broker", createTopic("t", topicID(1), ps(9, []int32{9}, []int32{9})), ErrUnknownBroker},
		{"leader not in isr", createTopic("t", topicID(1), ps(2, []int32{1, 2}, []int32{1})), ErrInvalidISR},
		{"isr not replica", createTopic("t", topicID(1), ps(1, []int32{1, 2}, []int32{1, 3})), ErrInvalidISR},
		{"empty isr", createTopic("t", topicID(1), ps(NoLeader, []int32{1, 2}, nil)), ErrInvalidISR},
		{"bad config", Record{TopicCreated: &TopicCreated{Name: "t", ID: topicID(1), Partitions: good, Config: map[string]string{ConfigUncleanLeaderElection: "yes"}}}, ErrInvalidConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { f.t = t; f.reject(c.want, c.rec) })
	}
	f.t = t
	f.apply(Record{TopicCreated: &TopicCreated{Name: "t", ID: topicID(1), Partitions: good, Config: map[string]string{ConfigUncleanLeaderElection: "true"}}})
	top, ok := f.img.Topic("t")
	if !ok || len(top.Partitions) != 2 || top.ReplicationFactor() != 2 || !top.UncleanLeaderElection() {
		t.Fatalf("topic: %+v", top)
	}
	if byID, _ := f.img.TopicByID(topicID(1)); byID != top {
		t.Fatal("TopicByID differs from Topic")
	}
	f.reject(ErrTopicExists, createTopic("t", topicID(2), good...))
	f.reject(ErrTopicExists, createTopic("u", topicID(1), good...))

	// A fenced leader is refused.
	f.apply(Record{BrokerFenced: &BrokerFenced{ID: 3, Epoch: 3}})
	f.reject(ErrIneligibleReplica, createTopic("u", topicID(2), ps(3, []int32{3}, []int32{3})))

	f.apply(Record{TopicDeleted: &TopicDeleted{ID: topicID(1)}})
	if _, ok := f.img.Topic("t"); ok {
		t.Fatal("deleted topic still there")
	}
	f.reject(ErrUnknownTopic, Record{TopicDeleted: &TopicDeleted{ID: topicID(1)}})
}

func TestTopicConfigChanged(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	f.apply(Record{TopicCreated: &TopicCreated{Name: "t", ID: topicID(1), Partitions: []PartitionState{ps(1, []int32{1}, []int32{1})}, Config: map[string]string{"retention.ms": "10"}}})
	f.apply(Record{TopicConfigChanged: &TopicConfigChanged{ID: topicID(1), Set: map[string]string{ConfigMinInsyncReplicas: "2"}, Delete: []string{"retention.ms"}}})
	top, _ := f.img.Topic("t")
	if len(top.Config) != 1 || top.Config[ConfigMinInsyncReplicas] != "2" {
		t.Fatalf("config: %v", top.Config)
	}
	f.reject(ErrInvalidConfig, Record{TopicConfigChanged: &TopicConfigChanged{ID: topicID(1), Set: map[string]string{ConfigMinInsyncReplicas: "0"}}})
	f.reject(ErrInvalidConfig, Record{TopicConfigChanged: &TopicConfigChanged{ID: topicID(1), Set: map[string]string{"": "x"}}})
	f.reject(ErrInvalidConfig, Record{TopicConfigChanged: &TopicConfigChanged{ID: topicID(1), Set: map[string]string{"a": "1"}, Delete: []string{"a"}}})
	f.reject(ErrUnknownTopic, Record{TopicConfigChanged: &TopicConfigChanged{ID: topicID(2)}})
}

func TestPartitionsCreated(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	f.apply(createTopic("t", topicID(1), ps(1, []int32{1, 2}, []int32{1, 2})))
	add := func(from int32, parts ...PartitionState) Record {
		return Record{PartitionsCreated: &PartitionsCreated{ID: topicID(1), From: from, Partitions: parts}}
	}
	f.reject(ErrInvalidPartitions, add(0, ps(2, []int32{2, 3}, []int32{2, 3})))
	f.reject(ErrInvalidPartitions, add(1))
	f.reject(ErrInvalidReplicationFactor, add(1, ps(2, []int32{2}, []int32{2})))
	f.reject(ErrUnknownTopic, Record{PartitionsCreated: &PartitionsCreated{ID: topicID(2), From: 1, Partitions: []PartitionState{ps(2, []int32{2, 3}, []int32{2, 3})}}})
	f.apply(add(1, ps(2, []int32{2, 3}, []int32{2, 3}), ps(3, []int32{3, 1}, []int32{3, 1})))
	top, _ := f.img.Topic("t")
	if len(top.Partitions) != 3 || top.Partitions[2].Index != 2 || top.Partitions[2].Leader != 3 {
		t.Fatalf("partitions: %+v", top.Partitions)
	}
}

func TestPartitionChanged(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	f.apply(createTopic("t", topicID(1), ps(1, []int32{1, 2, 3}, []int32{1, 2, 3})))
	change := func(epoch int32, leader int32, isr ...int32) Record {
		return Record{PartitionChanged: &PartitionChanged{ID: topicID(1), Partition: 0, PartitionEpoch: epoch, Leader: leader, ISR: isr}}
	}
	// ISR shrink by the leader: partition epoch bumps, leader epoch does not.
	f.apply(change(0, 1, 1, 2))
	p, _ := f.img.Partition(topicID(1), 0)
	if p.PartitionEpoch != 1 || p.LeaderEpoch != 0 || !slices.Equal(p.ISR, []int32{1, 2}) {
		t.Fatalf("after shrink: %+v", p)
	}
	// A change computed against epoch 0 is stale now.
	f.reject(ErrStalePartitionEpoch, change(0, 1, 1))
	f.reject(ErrInvalidISR, change(1, 3, 1, 2))
	f.reject(ErrInvalidISR, change(1, 1))
	f.reject(ErrInvalidISR, change(1, 1, 1, 1))
	f.reject(ErrUnknownPartition, Record{PartitionChanged: &PartitionChanged{ID: topicID(1), Partition: 1, Leader: 1, ISR: []int32{1}}})
	f.reject(ErrUnknownTopic, Record{PartitionChanged: &PartitionChanged{ID: topicID(9), Leader: 1, ISR: []int32{1}}})

	// Leader change bumps both epochs.
	f.apply(change(1, 2, 2))
	p, _ = f.img.Partition(topicID(1), 0)
	if p.PartitionEpoch != 2 || p.LeaderEpoch != 1 || p.Leader != 2 {
		t.Fatalf("after leader change: %+v", p)
	}
	// A fenced broker cannot lead or join the ISR.
	f.apply(Record{BrokerFenced: &BrokerFenced{ID: 3, Epoch: 3}})
	f.reject(ErrIneligibleReplica, change(2, 3, 2, 3))
	f.reject(ErrIneligibleReplica, change(2, 2, 2, 3))
	// Leaderless keeps the ISR.
	f.apply(change(2, NoLeader, 2))
	p, _ = f.img.Partition(topicID(1), 0)
	if p.Leader != NoLeader || p.LeaderEpoch != 2 || p.PartitionEpoch != 3 {
		t.Fatalf("leaderless: %+v", p)
	}
}

func TestProducerIDsAllocated(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	alloc := func(first int64, count int32) Record {
		return Record{ProducerIDsAllocated: &ProducerIDsAllocated{BrokerID: 1, First: first, Count: count}}
	}
	f.apply(alloc(0, 1000))
	f.apply(alloc(1000, 1000))
	if f.img.NextProducerID() != 2000 {
		t.Fatalf("next producer id %d", f.img.NextProducerID())
	}
	f.reject(ErrStaleProducerIDBlock, alloc(1000, 1000))
	f.reject(ErrInvalidProducerIDBlock, alloc(2000, 0))
	f.reject(ErrInvalidProducerIDBlock, alloc(2000, MaxProducerIDBlock+1))
	f.reject(ErrUnknownBroker, Record{ProducerIDsAllocated: &ProducerIDsAllocated{BrokerID: 9, First: 2000, Count: 1}})
}

func TestRemoteSegments(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	f.apply(createTopic("t", topicID(1), ps(1, []int32{1}, []int32{1})))
	add := func(key string, base, end int64) Record {
		return Record{RemoteSegmentAdded: &RemoteSegmentAdded{ID: topicID(1), Partition: 0, BrokerID: 1, Segment: RemoteSegment{BaseOffset: base, EndOffset: end, ObjectKey: key, Size: 10}}}
	}
	f.apply(add("a", 0, 99))
	f.apply(add("b", 100, 199))
	p, _ := f.img.Partition(topicID(1), 0)
	if len(p.RemoteSegments) != 2 || p.RemoteSegments[0].ObjectKey != "a" || p.RemoteEndOffset() != 199 {
		t.Fatalf("segments: %+v", p.RemoteSegments)
	}
	f.reject(ErrRemoteSegmentExists, add("a", 0, 99))
	f.reject(ErrInvalidRemoteSegment, add("", 200, 299))
	f.reject(ErrInvalidRemoteSegment, add("c", 210, 209))
	f.reject(ErrInvalidRemoteSegment, add("c", -1, 209))
	empty := add("c", 200, 299)
	empty.RemoteSegmentAdded.Segment.Size = 0
	f.reject(ErrInvalidRemoteSegment, empty)
	// A segment must extend the remote log: one ending at or before its
	// end is refused, one overlapping it but ending past it is taken.
	f.reject(ErrRemoteSegmentBehind, add("c", 150, 199))
	f.reject(ErrRemoteSegmentBehind, add("c", 0, 50))
	f.apply(add("c", 150, 250))
	f.reject(ErrUnknownPartition, Record{RemoteSegmentAdded: &RemoteSegmentAdded{ID: topicID(1), Partition: 5, BrokerID: 1, Segment: RemoteSegment{ObjectKey: "x", Size: 1}}})
	f.apply(Record{RemoteSegmentRemoved: &RemoteSegmentRemoved{ID: topicID(1), Partition: 0, ObjectKey: "a"}})
	f.reject(ErrUnknownRemoteSegment, Record{RemoteSegmentRemoved: &RemoteSegmentRemoved{ID: topicID(1), Partition: 0, ObjectKey: "a"}})
	move := func(off int64) Record {
		return Record{RemoteLogStartMoved: &RemoteLogStartMoved{ID: topicID(1), Partition: 0, Offset: off}}
	}
	f.apply(move(40))
	if p, _ := f.img.Partition(topicID(1), 0); p.RemoteLogStart != 40 {
		t.Fatalf("remote log start %d, want 40", p.RemoteLogStart)
	}
	f.reject(ErrInvalidRemoteLogStart, move(40))
	f.reject(ErrInvalidRemoteLogStart, move(39))
	f.reject(ErrUnknownPartition, Record{RemoteLogStartMoved: &RemoteLogStartMoved{ID: topicID(1), Partition: 5, Offset: 1}})
}

// TestRemoteSegmentFencing checks that only the partition's leader, at its
// current leader epoch, records remote segments: a deposed leader's late
// record is refused.
func TestRemoteSegmentFencing(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	f.apply(createTopic("t", topicID(1), ps(1, []int32{1, 2}, []int32{1, 2})))
	add := func(broker, epoch int32, key string, base, end int64) Record {
		return Record{RemoteSegmentAdded: &RemoteSegmentAdded{ID: topicID(1), Partition: 0, BrokerID: broker,
			Segment: RemoteSegment{BaseOffset: base, EndOffset: end, ObjectKey: key, Size: 10, LeaderEpoch: epoch}}}
	}
	f.reject(ErrFencedRemoteUpload, add(2, 0, "follower", 0, 9))
	f.reject(ErrFencedRemoteUpload, add(1, 1, "future epoch", 0, 9))
	f.apply(add(1, 0, "leader", 0, 9))
	// Broker 2 takes over: epoch 1. Broker 1's upload of the next range,
	// begun at epoch 0, is refused; broker 2's at epoch 1 is taken.
	f.apply(Record{PartitionChanged: &PartitionChanged{ID: topicID(1), Partition: 0, PartitionEpoch: 0, Leader: 2, ISR: []int32{2}}})
	p, _ := f.img.Partition(topicID(1), 0)
	if p.Leader != 2 || p.LeaderEpoch != 1 {
		t.Fatalf("after leader change: %+v", p)
	}
	f.reject(ErrFencedRemoteUpload, add(1, 0, "deposed", 10, 19))
	f.reject(ErrFencedRemoteUpload, add(1, 1, "deposed, new epoch", 10, 19))
	f.reject(ErrFencedRemoteUpload, add(2, 0, "new leader, old epoch", 10, 19))
	f.apply(add(2, 1, "new leader", 10, 19))
	p, _ = f.img.Partition(topicID(1), 0)
	if len(p.RemoteSegments) != 2 || p.RemoteSegments[1].ObjectKey != "new leader" {
		t.Fatalf("segments: %+v", p.RemoteSegments)
	}
}

// TestBatchAtomic checks that one bad record rejects the whole batch.
func TestBatchAtomic(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	f.reject(ErrTopicExists,
		createTopic("t", topicID(1), ps(1, []int32{1}, []int32{1})),
		createTopic("t", topicID(2), ps(1, []int32{1}, []int32{1})))
	if _, ok := f.img.Topic("t"); ok {
		t.Fatal("half a batch applied")
	}
}

// TestCopyOnWrite checks that applying never changes an older image.
func TestCopyOnWrite(t *testing.T) {
	f := newFixture(t)
	f.threeBrokers()
	old := f.apply(createTopic("t", topicID(1), ps(1, []int32{1, 2}, []int32{1, 2})))
	oldHash := old.Hash()
	f.apply(Record{PartitionChanged: &PartitionChanged{ID: topicID(1), PartitionEpoch: 0, Leader: 2, ISR: []int32{2}}},
		Record{TopicConfigChanged: &TopicConfigChanged{ID: topicID(1), Set: map[string]string{"x": "y"}}},
		Record{BrokerFenced: &BrokerFenced{ID: 1, Epoch: 1}})
	if old.Hash() != oldHash {
		t.Fatal("old image changed")
	}
	if p, _ := old.Partition(topicID(1), 0); p.Leader != 1 || p.PartitionEpoch != 0 {
		t.Fatalf("old partition changed: %+v", p)
	}
	if f.img.Version() != f.index || old.Version() != f.index-1 {
		t.Fatalf("versions %d %d", f.img.Version(), old.Version())
	}
}

// TestRemoteEndOffset checks that the remote end offset is the largest end
// of the remote segments, and never below the remote log start.
func TestRemoteEndOffset(t *testing.T) {
	p := Partition{}
	if p.RemoteEndOffset() != -1 {
		t.Fatalf("no segments: %d", p.RemoteEndOffset())
	}
	p.RemoteSegments = []RemoteSegment{{BaseOffset: 0, EndOffset: 99}, {BaseOffset: 50, EndOffset: 120}, {BaseOffset: 100, EndOffset: 110}}
	if p.RemoteEndOffset() != 120 {
		t.Fatalf("overlapping segments: %d", p.RemoteEndOffset())
	}
	p.RemoteSegments, p.RemoteLogStart = nil, 500
	if p.RemoteEndOffset() != 499 {
		t.Fatalf("every segment removed past the remote log start 500: %d", p.RemoteEndOffset())
	}
}
