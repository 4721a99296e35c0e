package recordbatch

import (
	"bytes"
	"errors"
	"testing"
)

func TestValidateProducedRequireKeys(t *testing.T) {
	rules := DefaultProduceRules(produceNow)
	rules.RequireKeys = true
	keyed := mustBuild(t, BuildOptions{}, []Record{{Key: []byte("a"), Value: []byte("1"), Timestamp: produceNow.UnixMilli()}})
	if _, err := ValidateProduced(keyed, rules); err != nil {
		t.Fatalf("keyed batch refused: %v", err)
	}
	keyless := mustBuild(t, BuildOptions{}, []Record{{Key: []byte("a"), Timestamp: produceNow.UnixMilli()}, {Value: []byte("1"), Timestamp: produceNow.UnixMilli()}})
	_, err := ValidateProduced(keyless, rules)
	var be *BatchError
	if !errors.Is(err, ErrInvalidRecord) || !errors.As(err, &be) || len(be.Records) != 1 || be.Records[0].Index != 1 {
		t.Fatalf("keyless record: %v, want ErrInvalidRecord naming record 1", err)
	}
	rules.RequireKeys = false
	if _, err := ValidateProduced(keyless, rules); err != nil {
		t.Fatalf("keyless batch refused without RequireKeys: %v", err)
	}
}

func TestAppendRewrittenKeepsOffsetsAndTimestamps(t *testing.T) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		recs := []Record{
			{Key: []byte("a"), Value: []byte("1"), Timestamp: 1000},
			{Key: []byte("b"), Value: nil, Timestamp: 1005, Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}},
			{Key: []byte("c"), Value: []byte("3"), Timestamp: 990},
		}
		b := mustBuild(t, BuildOptions{BaseOffset: 40, Codec: c, Producer: &Producer{ID: 7, Epoch: 1, BaseSequence: 12}}, recs)
		dec, err := DecodeRecords(nil, b, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHeader(b)
		out, err := AppendRewritten(nil, h, []Record{dec[1], dec[2]}, 5000)
		if err != nil {
			t.Fatal(err)
		}
		nh, err := ValidateStored(out, 0)
		if err != nil {
			t.Fatalf("%v: rewritten batch invalid: %v", c, err)
		}
		if _, err := Validate(out, 0); !errors.Is(err, ErrInvalidRecordCount) {
			t.Fatalf("%v: Validate of a batch with a gap: %v", c, err)
		}
		if nh.BaseOffset != 40 || nh.LastOffsetDelta != 2 || nh.NumRecords != 2 || nh.ProducerID != 7 || nh.BaseSequence != 12 ||
			!nh.HasDeleteHorizon() || nh.BaseTimestamp != 5000 || nh.MaxTimestamp != h.MaxTimestamp || nh.Codec() != c {
			t.Fatalf("%v: header %+v", c, nh)
		}
		got, err := DecodeRecords(nil, out, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Offset != 41 || got[1].Offset != 42 || got[0].Timestamp != 1005 || got[1].Timestamp != 990 ||
			got[0].Value != nil || !bytes.Equal(got[1].Value, []byte("3")) || len(got[0].Headers) != 1 {
			t.Fatalf("%v: records %+v", c, got)
		}
		empty, err := AppendRewritten(nil, h, nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		eh, err := ValidateStored(empty, 0)
		if err != nil || eh.NumRecords != 0 || len(empty) != HeaderSize || eh.Codec() != CodecNone || eh.LastOffsetDelta != 2 {
			t.Fatalf("%v: empty batch %+v %v", c, eh, err)
		}
	}
}

func TestMergeEmpty(t *testing.T) {
	empty := func(base int64, delta int32, pid int64, seq int32, epoch int32) Header {
		return Header{BaseOffset: base, LastOffsetDelta: delta, PartitionLeaderEpoch: epoch, ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq, MaxTimestamp: base}
	}
	for _, tc := range []struct {
		name string
		a, b Header
		ok   bool
	}{
		{"no producer", empty(10, 2, -1, -1, 1), empty(13, 4, -1, -1, 1), true},
		{"same producer, sequences continue", empty(10, 2, 7, 100, 1), empty(13, 4, 7, 103, 1), true},
		{"sequence gap", empty(10, 2, 7, 100, 1), empty(13, 4, 7, 104, 1), false},
		{"other producer", empty(10, 2, 7, 100, 1), empty(13, 4, 8, 103, 1), false},
		{"producer after none", empty(10, 2, -1, -1, 1), empty(13, 4, 7, 0, 1), false},
		{"leader epoch changes", empty(10, 2, -1, -1, 1), empty(13, 4, -1, -1, 2), false},
		{"offset gap", empty(10, 2, -1, -1, 1), empty(14, 4, -1, -1, 1), false},
	} {
		m, ok := MergeEmpty(tc.a, tc.b)
		if ok != tc.ok {
			t.Fatalf("%s: ok %v", tc.name, ok)
		}
		if !ok {
			continue
		}
		if m.BaseOffset != tc.a.BaseOffset || m.LastOffset() != tc.b.LastOffset() || m.MaxTimestamp != tc.b.MaxTimestamp {
			t.Fatalf("%s: merged %+v", tc.name, m)
		}
		if tc.a.ProducerID >= 0 && int64(m.BaseSequence)+int64(m.LastOffsetDelta) != int64(tc.b.BaseSequence)+int64(tc.b.LastOffsetDelta) {
			t.Fatalf("%s: last sequence %d, want %d", tc.name, int64(m.BaseSequence)+int64(m.LastOffsetDelta), int64(tc.b.BaseSequence)+int64(tc.b.LastOffsetDelta))
		}
	}
}
