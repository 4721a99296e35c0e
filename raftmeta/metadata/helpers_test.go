package metadata

import (
	"errors"
	"testing"

	"github.com/google/uuid"
)

// fixture builds images step by step, failing the test on a rejection.
type fixture struct {
	t     testing.TB
	img   *Image
	index uint64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{t: t, img: NewImage()}
}

// apply applies recs as one batch and fails the test if it is rejected.
func (f *fixture) apply(recs ...Record) *Image {
	f.t.Helper()
	f.index++
	next, err := f.img.Apply(f.index, Batch{Records: recs})
	if err != nil {
		f.t.Fatalf("apply %d: %v", f.index, err)
	}
	f.img = next
	return next
}

// reject applies recs and fails the test unless the batch is rejected with
// want, and the image is left as it was.
func (f *fixture) reject(want error, recs ...Record) {
	f.t.Helper()
	before := f.img.Hash()
	_, err := f.img.Apply(f.index+1, Batch{Records: recs})
	if !errors.Is(err, want) {
		f.t.Fatalf("apply: got %v, want %v", err, want)
	}
	var re *RecordError
	if !errors.As(err, &re) {
		f.t.Fatalf("apply: %v is not a *RecordError", err)
	}
	if f.img.Hash() != before {
		f.t.Fatal("rejected batch changed the image")
	}
}

// incarnation returns a fixed incarnation id for broker id.
func incarnation(id int32, gen byte) uuid.UUID {
	return uuid.UUID{0: byte(id), 1: gen, 6: 0x40, 8: 0x80, 15: 1}
}

func topicID(n byte) uuid.UUID { return uuid.UUID{0: 0xee, 1: n, 6: 0x40, 8: 0x80, 15: 2} }

func register(id int32, rack string) Record {
	return Record{BrokerRegistered: &BrokerRegistered{ID: id, Addr: "localhost:9092", Rack: rack, Incarnation: incarnation(id, 0)}}
}

func unfence(id int32, epoch uint64) Record {
	return Record{BrokerUnfenced: &BrokerUnfenced{ID: id, Epoch: epoch}}
}

// threeBrokers registers and unfences brokers 1, 2 and 3 at indexes 1..3 and
// 4.
func (f *fixture) threeBrokers() {
	f.apply(register(1, "a"))
	f.apply(register(2, "b"))
	f.apply(register(3, "c"))
	f.apply(unfence(1, 1), unfence(2, 2), unfence(3, 3))
}

func createTopic(name string, id uuid.UUID, parts ...PartitionState) Record {
	return Record{TopicCreated: &TopicCreated{Name: name, ID: id, Partitions: parts}}
}

func ps(leader int32, replicas []int32, isr []int32) PartitionState {
	return PartitionState{Replicas: replicas, ISR: isr, Leader: leader}
}
