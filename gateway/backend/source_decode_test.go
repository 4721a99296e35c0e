package backend

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/gateway/event"
)

func TestDecodeIntoSkipsControlAndEarlierRecords(t *testing.T) {
	recs := func(vals ...string) []recordbatch.Record {
		var out []recordbatch.Record
		for _, v := range vals {
			out = append(out, recordbatch.Record{Timestamp: 1000, Value: []byte(v),
				Headers: []recordbatch.RecordHeader{{Key: "h", Value: []byte(v)}}})
		}
		return out
	}
	var raw []byte
	var err error
	// Offsets 10-12, a control batch at 13, then 14-15, then a torn batch.
	if raw, err = recordbatch.AppendBatch(raw, recordbatch.BuildOptions{BaseOffset: 10, Codec: recordbatch.CodecZstd}, recs("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	ctrl := recordbatch.Record{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}
	if raw, err = recordbatch.AppendBatch(raw, recordbatch.BuildOptions{BaseOffset: 13, Control: true, Transactional: true}, []recordbatch.Record{ctrl}); err != nil {
		t.Fatal(err)
	}
	if raw, err = recordbatch.AppendBatch(raw, recordbatch.BuildOptions{BaseOffset: 14}, recs("e", "f")); err != nil {
		t.Fatal(err)
	}
	full := len(raw)
	if raw, err = recordbatch.AppendBatch(raw, recordbatch.BuildOptions{BaseOffset: 16}, recs("g")); err != nil {
		t.Fatal(err)
	}
	raw = raw[:full+20]

	b := event.Batch{NextOffset: 11, HighWatermark: 17}
	if err := decodeInto(&b, 0, 11, raw); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range b.Records {
		got = append(got, e.Offset)
		if len(e.Headers) != 1 || string(e.Headers[0].Value) != string(e.Value) || e.Timestamp != 1000 {
			t.Fatalf("event %+v", e)
		}
	}
	if want := []int64{11, 12, 14, 15}; !slices.Equal(got, want) {
		t.Fatalf("offsets %v, want %v", got, want)
	}
	if b.NextOffset != 16 {
		t.Fatalf("NextOffset %d, want 16", b.NextOffset)
	}

	// Only a control batch: no events, but the position moves past it.
	onlyCtrl, err := recordbatch.Build(recordbatch.BuildOptions{BaseOffset: 13, Control: true, Transactional: true}, []recordbatch.Record{ctrl})
	if err != nil {
		t.Fatal(err)
	}
	b = event.Batch{NextOffset: 13, HighWatermark: 14}
	if err := decodeInto(&b, 0, 13, onlyCtrl); err != nil || len(b.Records) != 0 || b.NextOffset != 14 {
		t.Fatalf("control batch: err %v, events %v, next %d; want none and 14", err, b.Records, b.NextOffset)
	}

}

// TestDecodeIntoStopsAtADamagedBatch: what precedes a batch that does not
// decode is returned; a damaged batch met first is reported with the
// offsets its header names, when the header can be believed.
func TestDecodeIntoStopsAtADamagedBatch(t *testing.T) {
	build := func(base int64, codec recordbatch.Codec, n int) []byte {
		t.Helper()
		var recs []recordbatch.Record
		for i := range n {
			recs = append(recs, recordbatch.Record{Timestamp: 1000, Value: fmt.Appendf(nil, "value %d", i)})
		}
		b, err := recordbatch.Build(recordbatch.BuildOptions{BaseOffset: base, Codec: codec}, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := build(10, recordbatch.CodecNone, 3)                           // 10-12
	crcBad := flipLast(build(13, recordbatch.CodecNone, 3))               // 13-15, CRC mismatch
	poison := withValidCRC(flipLast(build(13, recordbatch.CodecNone, 3))) // 13-15, records broken
	badZstd := withValidCRC(flipLast(build(13, recordbatch.CodecZstd, 3)))
	lying := build(13, recordbatch.CodecNone, 3)
	binary.BigEndian.PutUint32(lying[23:], 3<<20) // lastOffsetDelta: the CRC no longer matches
	ctrl, err := recordbatch.Build(recordbatch.BuildOptions{BaseOffset: 13, Control: true, Transactional: true},
		[]recordbatch.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	afterCtrl := bytes.Clone(crcBad)
	recordbatch.SetBaseOffset(afterCtrl, 14)

	for _, tc := range []struct {
		name        string
		offset, hwm int64
		raw         []byte
		events      int   // returned when no damage
		next        int64 // b.NextOffset when no damage
		from, to    int64 // the damage, when to > 0
	}{
		{name: "events before the damage come first", offset: 10, hwm: 20, raw: cat(good, crcBad), events: 3, next: 13},
		{name: "a control batch before the damage", offset: 13, hwm: 20, raw: cat(ctrl, afterCtrl), next: 14},
		{name: "CRC mismatch", offset: 13, hwm: 20, raw: crcBad, from: 13, to: 16},
		{name: "inside the damaged batch", offset: 14, hwm: 20, raw: crcBad, from: 13, to: 16},
		{name: "valid CRC, broken records", offset: 13, hwm: 20, raw: poison, from: 13, to: 16},
		{name: "valid CRC, zstd that does not decompress", offset: 13, hwm: 20, raw: badZstd, from: 13, to: 16},
		{name: "a lying lastOffsetDelta is not believed", offset: 13, hwm: 1 << 30, raw: lying, from: 13, to: 14},
		{name: "a range past the high watermark is not believed", offset: 13, hwm: 15, raw: crcBad, from: 13, to: 14},
		{name: "a cut first batch", offset: 13, hwm: 20, raw: crcBad[:len(crcBad)-5], from: 13, to: 16},
		{name: "not a batch at all", offset: 13, hwm: 20, raw: bytes.Repeat([]byte{0xee}, 100), from: 13, to: 14},
		{name: "a cut header", offset: 13, hwm: 20, raw: crcBad[:30], from: 13, to: 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := event.Batch{NextOffset: tc.offset, HighWatermark: tc.hwm}
			d := decodeInto(&b, 0, tc.offset, tc.raw)
			if tc.to == 0 {
				if d != nil || len(b.Records) != tc.events || b.NextOffset != tc.next {
					t.Fatalf("damage %v, %d events, next %d; want none, %d events, next %d", d, len(b.Records), b.NextOffset, tc.events, tc.next)
				}
				return
			}
			if d == nil || d.from != tc.from || d.to != tc.to || d.cause == nil {
				t.Fatalf("damage %+v, want [%d, %d) with a cause", d, tc.from, tc.to)
			}
			if len(b.Records) != 0 {
				t.Fatalf("%d events returned with the damage", len(b.Records))
			}
		})
	}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// flipLast returns b with its last byte flipped.
func flipLast(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 0xff
	return b
}

// withValidCRC stores the CRC-32C of b in its header, as a producer that
// sent garbage inside a well-formed batch would.
func withValidCRC(b []byte) []byte {
	const crcAt, attributesAt = 17, 21
	binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b[attributesAt:], crc32.MakeTable(crc32.Castagnoli)))
	if err := recordbatch.VerifyCRC(b); err != nil {
		panic(err)
	}
	return b
}
