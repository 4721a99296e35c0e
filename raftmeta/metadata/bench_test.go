package metadata

import (
	"testing"

	"github.com/google/uuid"
)

// BenchmarkApplyPartitionChanged measures the state machine's apply path
// (decode, validate, copy-on-write) for an ISR change in a cluster of 1000
// topics with 10 partitions each, and reports entries/s.
func BenchmarkApplyPartitionChanged(b *testing.B) {
	f := newFixture(b)
	f.threeBrokers()
	var ids []uuid.UUID
	for i := range 1000 {
		id := uuid.UUID{0: byte(i >> 8), 1: byte(i), 6: 0x40, 8: 0x80, 15: 9}
		parts := make([]PartitionState, 10)
		for p := range parts {
			parts[p] = ps(1, []int32{1, 2, 3}, []int32{1, 2, 3})
		}
		f.apply(createTopic("topic-"+uuid.UUID(id).String()[:8], id, parts...))
		ids = append(ids, id)
	}
	sm := NewStateMachine(Options{})
	data, err := f.img.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	if err := sm.Restore(f.index, data); err != nil {
		b.Fatal(err)
	}
	index := f.index
	isrs := [][]int32{{1, 2}, {1, 2, 3}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		p, _ := sm.Image().Partition(id, 0)
		index++
		entry := MustEncode(Batch{Records: []Record{{PartitionChanged: &PartitionChanged{
			ID: id, PartitionEpoch: p.PartitionEpoch, Leader: 1, ISR: isrs[(i/len(ids))%2]}}}})
		if err := sm.Apply(index, entry); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
