package producerstate

import "testing"

// BenchmarkCheckUpdate measures the per-batch cost on the produce path: one
// Check and one Update, over 1000 producers.
func BenchmarkCheckUpdate(b *testing.B) {
	log := &memLog{}
	m := newManager(b, log)
	const producers = 1000
	seq := make([]int32, producers)
	off := int64(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pid := int64(i % producers)
		h := hdr(pid, 0, seq[pid], 4)
		if _, err := m.Check(h); err != nil {
			b.Fatal(err)
		}
		m.Update(h, off)
		seq[pid] += 4
		off += 4
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
}

// BenchmarkTakeSnapshot measures writing a snapshot of 10000 producers with
// full windows, fsyncs included.
func BenchmarkTakeSnapshot(b *testing.B) {
	log := &memLog{}
	m := newManager(b, log)
	off := int64(0)
	for pid := range int64(10000) {
		for s := range int32(RetainedBatches) {
			m.Update(hdr(pid, 0, s*2, 2), off)
			off += 2
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.TakeSnapshot(off); err != nil {
			b.Fatal(err)
		}
	}
}
