package producerstate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"slices"
	"testing"
)

// seedStates are producer tables the snapshot tests and the fuzz seeds
// encode: empty, one producer with a full window, a window across the
// sequence wrap, a producer known only from a marker, several producers.
func seedStates() map[string]struct {
	offset    int64
	producers map[int64]*entry
} {
	full := &entry{epoch: 3, lastOffset: 99, lastTimestamp: 1700000000000}
	for i := range RetainedBatches {
		full.batches = append(full.batches, BatchMetadata{
			FirstSeq: int32(10 * i), LastSeq: int32(10*i + 9), FirstOffset: int64(50 + 10*i), LastOffset: int64(59 + 10*i), MaxTimestamp: 1700000000000 - int64(i),
		})
	}
	wrap := &entry{epoch: 0, lastOffset: 7, lastTimestamp: -1, batches: []BatchMetadata{
		{FirstSeq: math.MaxInt32 - 2, LastSeq: math.MaxInt32, FirstOffset: 0, LastOffset: 2},
		{FirstSeq: 0, LastSeq: 4, FirstOffset: 3, LastOffset: 7},
	}}
	many := map[int64]*entry{}
	for id := range int64(12) {
		many[id*1000+1] = &entry{epoch: int16(id), lastOffset: id, lastTimestamp: id * 7, batches: []BatchMetadata{{FirstSeq: int32(id), LastSeq: int32(id), FirstOffset: id, LastOffset: id}}}
	}
	return map[string]struct {
		offset    int64
		producers map[int64]*entry
	}{
		"empty":       {0, map[int64]*entry{}},
		"full_window": {100, map[int64]*entry{42: full}},
		"wrap":        {8, map[int64]*entry{math.MaxInt64: wrap}},
		"marker_only": {1 << 40, map[int64]*entry{0: {epoch: math.MaxInt16, lastOffset: 1<<40 - 1, lastTimestamp: 5}}},
		"many":        {12, many},
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	for name, s := range seedStates() {
		b := encodeSnapshot(s.offset, s.producers)
		off, got, err := decodeSnapshot(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if off != s.offset || len(got) != len(s.producers) {
			t.Fatalf("%s: offset %d, %d producers", name, off, len(got))
		}
		for id, e := range s.producers {
			g := got[id]
			if g == nil || g.epoch != e.epoch || g.lastOffset != e.lastOffset || g.lastTimestamp != e.lastTimestamp || !slices.Equal(g.batches, e.batches) {
				t.Fatalf("%s: producer %d decoded as %+v, want %+v", name, id, g, e)
			}
		}
		off2, states, err := DecodeSnapshot(b)
		if err != nil || off2 != s.offset || len(states) != len(s.producers) {
			t.Fatalf("%s: DecodeSnapshot: %d, %d, %v", name, off2, len(states), err)
		}
		for i := 1; i < len(states); i++ {
			if states[i-1].ID >= states[i].ID {
				t.Fatalf("%s: DecodeSnapshot not sorted by id", name)
			}
		}
	}
}

// fixCRC rewrites the CRC of a snapshot so that structural checks run.
func fixCRC(b []byte) []byte {
	if len(b) >= crcStart {
		binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[crcStart:], castagnoli))
	}
	return b
}

func TestSnapshotDecodeRejects(t *testing.T) {
	good := encodeSnapshot(100, seedStates()["full_window"].producers)
	const p0 = snapshotHeaderLen // start of the first producer
	const b0 = p0 + producerLen  // start of its first batch
	put32 := func(at int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[at:], v); return fixCRC(b) }
	}
	put64 := func(at int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint64(b[at:], v); return fixCRC(b) }
	}
	cases := map[string]func([]byte) []byte{
		"short":              func(b []byte) []byte { return b[:snapshotHeaderLen-1] },
		"version":            func(b []byte) []byte { b[1] = 2; return fixCRC(b) },
		"crc":                func(b []byte) []byte { b[len(b)-1]++; return b },
		"cut":                func(b []byte) []byte { return fixCRC(b[:len(b)-1]) },
		"trailing":           func(b []byte) []byte { return fixCRC(append(b, 0)) },
		"negative offset":    put64(crcStart, math.MaxUint64),
		"count":              put32(crcStart+8, 2),
		"huge count":         put32(crcStart+8, math.MaxUint32),
		"negative id":        put64(p0, math.MaxUint64),
		"last offset":        put64(p0+10, 100),
		"negative last":      put64(p0+10, math.MaxUint64),
		"too many batches":   func(b []byte) []byte { b[p0+26] = RetainedBatches + 1; return fixCRC(b) },
		"negative seq":       put32(b0, math.MaxUint32),
		"seq mismatch":       put32(b0+4, 10),
		"offsets reversed":   put64(b0+8, 60),
		"offsets past entry": put64(b0+4*batchLen+16, 100),
		"overlap":            put64(batchLen+b0+8, 59),
	}
	for name, mutate := range cases {
		b := mutate(slices.Clone(good))
		if _, _, err := decodeSnapshot(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: decode gave %v, want ErrCorruptSnapshot", name, err)
		}
		if _, _, err := DecodeSnapshot(b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: DecodeSnapshot gave %v", name, err)
		}
	}
	// Producers out of order.
	two := encodeSnapshot(10, map[int64]*entry{1: {lastOffset: 1}, 2: {lastOffset: 2}})
	binary.BigEndian.PutUint64(two[p0+producerLen:], 1)
	if _, _, err := decodeSnapshot(fixCRC(two)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("repeated producer id: %v", err)
	}
}

// FuzzDecodeSnapshot feeds damaged snapshots to the decoder: it must never
// panic, must classify every failure as ErrCorruptSnapshot, and whatever it
// accepts must re-encode to the same bytes and be usable by Check. Each input
// is also tried with its CRC fixed, so that mutations reach the structural
// checks behind it.
func FuzzDecodeSnapshot(f *testing.F) {
	for _, s := range seedStates() {
		f.Add(encodeSnapshot(s.offset, s.producers))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, fixCRC(slices.Clone(b))} {
			off, producers, err := decodeSnapshot(in)
			if err != nil {
				if !errors.Is(err, ErrCorruptSnapshot) {
					t.Fatalf("error %v does not wrap ErrCorruptSnapshot", err)
				}
				continue
			}
			if again := encodeSnapshot(off, producers); !bytes.Equal(again, in) {
				t.Fatalf("decoded snapshot re-encodes differently:\n in %x\nout %x", in, again)
			}
			for id, e := range producers {
				next := int32(0)
				if last := e.lastSeq(); last >= 0 {
					next = lastSequence(last, 1)
				}
				h := hdr(id, e.epoch, next, 1)
				if _, err := check(e, e, &h); err != nil {
					t.Fatalf("producer %d (%+v): next sequence %d refused: %v", id, e, next, err)
				}
				e.apply(&h, e.lastOffset+1)
			}
		}
	})
}
