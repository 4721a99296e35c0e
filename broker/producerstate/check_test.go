package producerstate

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/internal/diskfs"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestSequencesInOrder(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	if _, ok := m.Producer(7); ok || m.Len() != 0 {
		t.Fatal("new manager knows producers")
	}
	seq := int32(0)
	for i := range 8 {
		n := int32(i%3 + 1)
		h := mustWrite(t, m, log, hdr(7, 0, seq, n))
		p, ok := m.Producer(7)
		if !ok {
			t.Fatal("producer unknown after a write")
		}
		last := p.Batches[len(p.Batches)-1]
		want := BatchMetadata{FirstSeq: seq, LastSeq: seq + n - 1, FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp}
		if last != want || p.LastSeq() != seq+n-1 || p.LastOffset != h.LastOffset() || p.LastTimestamp != h.MaxTimestamp {
			t.Fatalf("after batch %d: state %+v, want last batch %+v", i, p, want)
		}
		if len(p.Batches) != min(i+1, RetainedBatches) {
			t.Fatalf("after batch %d: %d batches retained", i, len(p.Batches))
		}
		seq += n
	}
	// Another producer's sequences are independent.
	mustWrite(t, m, log, hdr(8, 3, 0, 2))
	mustWrite(t, m, log, hdr(8, 3, 2, 1))
	if m.Len() != 2 {
		t.Fatalf("Len = %d, want 2", m.Len())
	}
	// Batches without a producer id always pass and change nothing.
	if d, err := m.Check(hdr(recordbatch.NoProducerID, -1, -1, 3)); err != nil || d.Duplicate {
		t.Fatalf("non-idempotent batch: %+v, %v", d, err)
	}
}

func TestDuplicatesOfLastFive(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	mustWrite(t, m, log, hdr(-1, -1, -1, 4)) // shift offsets away from sequences
	var written []recordbatch.Header
	for i := range 7 {
		h := hdr(42, 1, int32(2*i), 2)
		h.MaxTimestamp += int64(100 * i)
		written = append(written, mustWrite(t, m, log, h))
		mustWrite(t, m, log, hdr(-1, -1, -1, 1)) // someone else's batch in between
	}
	end := log.end()
	for i, h := range written[len(written)-RetainedBatches:] {
		d, err := m.Check(hdr(42, 1, h.BaseSequence, 2))
		if err != nil || !d.Duplicate {
			t.Fatalf("retry of retained batch %d (seq %d): %+v, %v", i, h.BaseSequence, d, err)
		}
		want := BatchMetadata{FirstSeq: h.BaseSequence, LastSeq: h.BaseSequence + 1, FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp}
		if d.Original != want {
			t.Fatalf("retry of seq %d answered with %+v, want %+v", h.BaseSequence, d.Original, want)
		}
	}
	// The sixth and seventh most recent batches are no longer retained: a
	// retry of them is out of order, as in Kafka.
	for _, h := range written[:len(written)-RetainedBatches] {
		_, err := m.Check(hdr(42, 1, h.BaseSequence, 2))
		wantRefused(t, err, kerr.OutOfOrderSequenceNumber)
	}
	// A retry must match the sequence range exactly to be a duplicate.
	_, err := m.Check(hdr(42, 1, written[5].BaseSequence, 1))
	wantRefused(t, err, kerr.OutOfOrderSequenceNumber)
	// A retry under another epoch is not a duplicate; an older epoch is fenced.
	_, err = m.Check(hdr(42, 0, written[6].BaseSequence, 2))
	wantRefused(t, err, kerr.InvalidProducerEpoch)
	if log.end() != end {
		t.Fatal("a duplicate was written")
	}
}

func TestGapsRejected(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	mustWrite(t, m, log, hdr(1, 0, 0, 5))
	for _, seq := range []int32{6, 4, 1, 100, math.MaxInt32} {
		_, err := m.Check(hdr(1, 0, seq, 1))
		wantRefused(t, err, kerr.OutOfOrderSequenceNumber)
		var pe *ProducerError
		errors.As(err, &pe)
		if pe.ProducerID != 1 || pe.FirstSeq != seq || pe.LastSeq != 4 || pe.CurrentEpoch != 0 || pe.Error() == "" {
			t.Fatalf("error details %+v", pe)
		}
	}
	mustWrite(t, m, log, hdr(1, 0, 5, 1))
}

func TestEpochBump(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	mustWrite(t, m, log, hdr(1, 0, 0, 3))
	old := mustWrite(t, m, log, hdr(1, 0, 3, 3))

	// A new epoch must restart at sequence 0.
	_, err := m.Check(hdr(1, 1, 6, 1))
	wantRefused(t, err, kerr.OutOfOrderSequenceNumber)
	_, err = m.Check(hdr(1, 5, 1, 1))
	wantRefused(t, err, kerr.OutOfOrderSequenceNumber)
	mustWrite(t, m, log, hdr(1, 1, 0, 2))
	p, _ := m.Producer(1)
	if p.Epoch != 1 || len(p.Batches) != 1 || p.LastSeq() != 1 {
		t.Fatalf("after the bump: %+v", p)
	}

	// The old epoch is fenced, retries of its batches included.
	_, err = m.Check(hdr(1, 0, 6, 1))
	wantRefused(t, err, kerr.InvalidProducerEpoch)
	_, err = m.Check(hdr(1, 0, old.BaseSequence, 3))
	wantRefused(t, err, kerr.InvalidProducerEpoch)
	mustWrite(t, m, log, hdr(1, 1, 2, 1))

	// A transaction marker with a higher epoch fences the producer too.
	marker := hdr(1, 2, -1, 1)
	marker.Attributes = recordbatch.AttrControl | recordbatch.AttrTransactional
	if _, err := m.Check(marker); err != nil {
		t.Fatalf("marker: %v", err)
	}
	mustWrite(t, m, log, marker)
	_, err = m.Check(hdr(1, 1, 3, 1))
	wantRefused(t, err, kerr.InvalidProducerEpoch)
	stale := hdr(1, 1, -1, 1)
	stale.Attributes = recordbatch.AttrControl
	_, err = m.Check(stale)
	wantRefused(t, err, kerr.InvalidProducerEpoch)
	mustWrite(t, m, log, hdr(1, 2, 0, 1))
}

// TestUnknownProducerStartsAtSequenceZero: a producer the partition has no
// state for starts at sequence 0; any other first sequence is
// UNKNOWN_PRODUCER_ID (Kafka 1.0 to 2.4), and changes nothing.
func TestUnknownProducerStartsAtSequenceZero(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	_, err := m.Check(hdr(9, 4, 1000, 2))
	wantRefused(t, err, kerr.UnknownProducerID)
	a := m.NewAppend()
	_, err = a.Check(hdr(9, 4, 1, 1))
	wantRefused(t, err, kerr.UnknownProducerID)
	if _, ok := m.Producer(9); ok || log.end() != 0 {
		t.Fatal("a refused first batch left state behind")
	}
	mustWrite(t, m, log, hdr(9, 4, 0, 2))
	mustWrite(t, m, log, hdr(9, 4, 2, 1))
	_, err = m.Check(hdr(9, 4, 4, 1))
	wantRefused(t, err, kerr.OutOfOrderSequenceNumber)

	// Several batches of a new producer in one request: the first starts
	// at 0, the others follow it.
	a = m.NewAppend()
	for _, h := range []recordbatch.Header{hdr(12, 0, 0, 3), hdr(12, 0, 3, 1)} {
		if _, err := a.Check(h); err != nil {
			t.Fatal(err)
		}
	}

	// A batch with a producer id but no sequence is malformed.
	_, err = m.Check(hdr(10, 0, -1, 1))
	wantRefused(t, err, kerr.InvalidRecord)

	// A producer known by its epoch alone (a transaction marker is all the
	// partition kept) has no next sequence either.
	marker := hdr(11, 2, -1, 1)
	marker.Attributes = recordbatch.AttrControl | recordbatch.AttrTransactional
	replicate(m, log, marker)
	_, err = m.Check(hdr(11, 2, 5, 1))
	wantRefused(t, err, kerr.UnknownProducerID)
	_, err = m.Check(hdr(11, 3, 5, 1))
	wantRefused(t, err, kerr.OutOfOrderSequenceNumber) // a new epoch starts at 0
	mustWrite(t, m, log, hdr(11, 2, 0, 1))

	// An entry from batches without a real epoch (-1) holds the producer
	// to nothing but sequence 0 either.
	replicate(m, log, hdr(13, -1, 40, 1))
	_, err = m.Check(hdr(13, 0, 7, 1))
	wantRefused(t, err, kerr.UnknownProducerID)
	mustWrite(t, m, log, hdr(13, 0, 0, 1))
}

func TestSequenceWrapAround(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	replicate(m, log, hdr(3, 0, math.MaxInt32-4, 3)) // MaxInt32-4 .. MaxInt32-2
	h := mustWrite(t, m, log, hdr(3, 0, math.MaxInt32-1, 4))
	p, _ := m.Producer(3)
	if p.LastSeq() != 1 {
		t.Fatalf("last sequence %d after a batch across MaxInt32, want 1", p.LastSeq())
	}
	// Its retry is recognized across the wrap.
	if d, err := m.Check(hdr(3, 0, math.MaxInt32-1, 4)); err != nil || !d.Duplicate || d.Original.FirstOffset != h.BaseOffset {
		t.Fatalf("retry across the wrap: %+v, %v", d, err)
	}
	mustWrite(t, m, log, hdr(3, 0, 2, 1))

	// A batch ending exactly at MaxInt32 is followed by 0.
	replicate(m, log, hdr(4, 0, math.MaxInt32-1, 2))
	_, err := m.Check(hdr(4, 0, math.MaxInt32+0, 1))
	wantRefused(t, err, kerr.OutOfOrderSequenceNumber)
	mustWrite(t, m, log, hdr(4, 0, 0, 1))
}

func TestAppendChecksBatchesInOrder(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	mustWrite(t, m, log, hdr(1, 0, 0, 2))
	first := log.end()

	// Three batches of producer 1 with one of nobody's in between; each
	// follows the one before it, which is not yet in the state.
	batch := []recordbatch.Header{hdr(1, 0, 2, 3), hdr(-1, -1, -1, 4), hdr(1, 0, 5, 1), hdr(2, 0, 0, 2), hdr(1, 0, 6, 2)}
	a := m.NewAppend()
	for i, h := range batch {
		if d, err := a.Check(h); err != nil || d.Duplicate {
			t.Fatalf("batch %d: %+v, %v", i, d, err)
		}
		if _, err := m.Check(h); i == 2 && err == nil {
			t.Fatal("Manager.Check saw a batch that is not applied yet")
		}
	}
	for _, h := range batch {
		log.add(h)
	}
	if err := a.Commit(first); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Producer(1)
	want := []BatchMetadata{
		{FirstSeq: 0, LastSeq: 1, FirstOffset: 0, LastOffset: 1, MaxTimestamp: baseTime.UnixMilli() + 1},
		{FirstSeq: 2, LastSeq: 4, FirstOffset: 2, LastOffset: 4, MaxTimestamp: baseTime.UnixMilli() + 2},
		{FirstSeq: 5, LastSeq: 5, FirstOffset: 9, LastOffset: 9, MaxTimestamp: baseTime.UnixMilli()},
		{FirstSeq: 6, LastSeq: 7, FirstOffset: 12, LastOffset: 13, MaxTimestamp: baseTime.UnixMilli() + 1},
	}
	if len(p.Batches) != len(want) {
		t.Fatalf("batches %+v, want %+v", p.Batches, want)
	}
	for i := range want {
		if p.Batches[i] != want[i] {
			t.Fatalf("batch %d: %+v, want %+v", i, p.Batches[i], want[i])
		}
	}
	if q, _ := m.Producer(2); q.LastOffset != 11 {
		t.Fatalf("producer 2: %+v", q)
	}

	// A gap after an accepted batch of the same request refuses the request.
	a = m.NewAppend()
	if _, err := a.Check(hdr(1, 0, 8, 1)); err != nil {
		t.Fatal(err)
	}
	_, err := a.Check(hdr(1, 0, 8, 1))
	wantRefused(t, err, kerr.OutOfOrderSequenceNumber)
	if err := a.Commit(log.end()); !errors.Is(err, ErrNotCommittable) {
		t.Fatalf("Commit after a refusal: %v", err)
	}
	if p, _ := m.Producer(1); p.LastSeq() != 7 {
		t.Fatalf("refused append changed the state: %+v", p)
	}

	// A retry of a logged batch is a duplicate, also inside an Append.
	a = m.NewAppend()
	d, err := a.Check(hdr(1, 0, 5, 1))
	if err != nil || !d.Duplicate || d.Original.FirstOffset != 9 {
		t.Fatalf("duplicate in an append: %+v, %v", d, err)
	}
	if err := a.Commit(log.end()); !errors.Is(err, ErrNotCommittable) {
		t.Fatalf("Commit after a duplicate: %v", err)
	}

	// An epoch bump earlier in the request fences the old epoch after it.
	a = m.NewAppend()
	if _, err := a.Check(hdr(1, 1, 0, 1)); err != nil {
		t.Fatal(err)
	}
	_, err = a.Check(hdr(1, 0, 5, 1))
	wantRefused(t, err, kerr.InvalidProducerEpoch)
}

func TestRemoveExpired(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	old := hdr(1, 0, 0, 1)
	old.MaxTimestamp = baseTime.Add(-25 * DefaultExpiration / 24).UnixMilli() // 25 h before
	mustWrite(t, m, log, old)
	mustWrite(t, m, log, hdr(2, 0, 0, 1))
	if n := m.RemoveExpired(baseTime); n != 1 {
		t.Fatalf("removed %d, want 1", n)
	}
	if _, ok := m.Producer(1); ok {
		t.Fatal("expired producer kept")
	}
	if _, ok := m.Producer(2); !ok {
		t.Fatal("active producer removed")
	}
	// An expired producer is unknown: it starts again at sequence 0.
	_, err := m.Check(hdr(1, 0, 1, 1))
	wantRefused(t, err, kerr.UnknownProducerID)
	mustWrite(t, m, log, hdr(1, 0, 0, 1))
	if n := m.RemoveExpired(baseTime.Add(DefaultExpiration)); n != 2 {
		t.Fatalf("removed %d a day later, want 2", n)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("zero options: %v", err)
	}
	if err := (Options{Expiration: -1}).Validate(); err == nil {
		t.Fatal("negative expiration accepted")
	}
	if _, err := Load(t.Context(), t.TempDir(), &memLog{}, Options{Expiration: -5}); err == nil {
		t.Fatal("Load accepted bad options")
	}
}

func TestTruncateWithoutRebuild(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	mustWrite(t, m, log, hdr(1, 0, 0, 3))
	covered := log.end()
	// Batches of no producer that the leader did not pass to Update.
	log.add(hdr(-1, -1, -1, 5))
	if err := m.TakeSnapshot(log.end()); err != nil {
		t.Fatal(err)
	}
	want := m.Producers()
	log.headers = log.headers[:1]
	if err := m.TruncateTo(t.Context(), covered); err != nil {
		t.Fatal(err)
	}
	sameState(t, m.Producers(), want)
	if offs, err := listSnapshots(diskfs.OS{}, m.dir); err != nil || len(offs) != 0 {
		t.Fatalf("snapshots above the truncation point: %v, %v", offs, err)
	}
}

// TestConcurrentReaders runs the read-only accessors beside the serialized
// writer, for the race detector.
func TestConcurrentReaders(t *testing.T) {
	log := &memLog{}
	m := newManager(t, log)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if p, ok := m.Producer(int64(r)); ok && len(p.Batches) > RetainedBatches {
					t.Errorf("producer %d has %d batches", r, len(p.Batches))
					return
				}
				_ = m.Producers()
				_ = m.Len()
			}
		}()
	}
	seq := map[int64]int32{}
	for i := range 2000 {
		pid := int64(i % 3)
		mustWrite(t, m, log, hdr(pid, 0, seq[pid], 2))
		seq[pid] += 2
	}
	close(done)
	wg.Wait()
}
