package fanout

import (
	"errors"
	"slices"
	"testing"

	"github.com/runnel-dev/runnel/broker/recordbatch"
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

	var b Batch
	b.NextOffset = 11
	if err := decodeInto(&b, 11, raw); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range b.Events {
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
	b = Batch{NextOffset: 13}
	if err := decodeInto(&b, 13, onlyCtrl); err != nil || len(b.Events) != 0 || b.NextOffset != 14 {
		t.Fatalf("control batch: err %v, events %v, next %d; want none and 14", err, b.Events, b.NextOffset)
	}

	// A damaged batch is an error, not silently skipped.
	bad := append([]byte(nil), raw[:full]...)
	bad[len(bad)-1] ^= 0xff
	b = Batch{NextOffset: 10}
	if err := decodeInto(&b, 10, bad); !errors.Is(err, recordbatch.ErrCorrupt) {
		t.Fatalf("damaged batch: %v, want ErrCorrupt", err)
	}
}
