package group

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func strp(s string) *string { return &s }

var layoutTopicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// cat joins byte pieces.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestRecords848Layout decodes hand-built bytes of every record type as
// Kafka's schemas lay them out, and checks the encoders write exactly
// those bytes: a codec agreeing only with itself fails here.
func TestRecords848Layout(t *testing.T) {
	uuid := layoutTopicID[:]
	cases := []struct {
		name   string
		key    key848
		keyRaw []byte
		value  any
		raw    []byte
		decode func([]byte) (any, error)
	}{{
		name: "metadata", key: key848{typ: 3, group: "g"}, keyRaw: []byte{0, 3, 0, 1, 'g'},
		value: cgMetadataValue{epoch: 7, metadataHash: 0x0102030405060708, creationTimeMs: 1000},
		raw: cat([]byte{0, 0}, []byte{0, 0, 0, 7}, []byte{2},
			[]byte{0, 8, 1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe8}),
		decode: func(b []byte) (any, error) { return decodeCGMetadataValue(b) },
	}, {
		name: "member", key: key848{typ: 5, group: "g", member: "m"}, keyRaw: []byte{0, 5, 0, 1, 'g', 0, 1, 'm'},
		value: cgMemberValue{instanceID: strp("i"), clientID: "c", clientHost: "/h", topics: []string{"t"},
			rebalanceTimeoutMs: 30000, serverAssignor: strp("uniform")},
		raw: cat([]byte{0, 0}, []byte{2, 'i'}, []byte{0}, []byte{2, 'c'}, []byte{3, '/', 'h'},
			[]byte{2, 2, 't'}, []byte{0}, []byte{0, 0, 0x75, 0x30}, []byte{8}, []byte("uniform"), []byte{0}),
		decode: func(b []byte) (any, error) { return decodeCGMemberValue(b) },
	}, {
		name: "target metadata", key: key848{typ: 6, group: "g"}, keyRaw: []byte{0, 6, 0, 1, 'g'},
		value:  cgTargetMetadataValue{assignmentEpoch: 5},
		raw:    []byte{0, 0, 0, 0, 0, 5, 0},
		decode: func(b []byte) (any, error) { return decodeCGTargetMetadataValue(b) },
	}, {
		name: "target member", key: key848{typ: 7, group: "g", member: "m"}, keyRaw: []byte{0, 7, 0, 1, 'g', 0, 1, 'm'},
		value: cgTargetMemberValue{partitions: []topicPartitions848{{topicID: layoutTopicID, partitions: []int32{0, 2}}}},
		raw: cat([]byte{0, 0}, []byte{2}, uuid, []byte{3, 0, 0, 0, 0, 0, 0, 0, 2}, []byte{0},
			[]byte{0}),
		decode: func(b []byte) (any, error) { return decodeCGTargetMemberValue(b) },
	}, {
		name: "current assignment", key: key848{typ: 8, group: "g", member: "m"}, keyRaw: []byte{0, 8, 0, 1, 'g', 0, 1, 'm'},
		value: cgCurrentValue{memberEpoch: 5, previousMemberEpoch: 4, state: cgStateUnrevokedPartitions,
			assigned: []topicPartitions848{{topicID: layoutTopicID, partitions: []int32{1}, epochs: []int32{4}}},
			revoking: []topicPartitions848{}},
		raw: cat([]byte{0, 0}, []byte{0, 0, 0, 5}, []byte{0, 0, 0, 4}, []byte{2},
			[]byte{2}, uuid, []byte{2, 0, 0, 0, 1}, []byte{1, 0, 5, 2, 0, 0, 0, 4},
			[]byte{1}, []byte{0}),
		decode: func(b []byte) (any, error) { return decodeCGCurrentValue(b) },
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.key.encode(); !bytes.Equal(got, tc.keyRaw) {
				t.Fatalf("key encodes as %x, want %x", got, tc.keyRaw)
			}
			k, err := decodeKey848(tc.keyRaw)
			if err != nil || k != tc.key {
				t.Fatalf("key decodes as %+v, %v; want %+v", k, err, tc.key)
			}
			got, err := tc.decode(tc.raw)
			if err != nil {
				t.Fatalf("decode %x: %v", tc.raw, err)
			}
			if !reflect.DeepEqual(got, tc.value) {
				t.Fatalf("decoded %+v, want %+v", got, tc.value)
			}
			if b := encode848(tc.value); !bytes.Equal(b, tc.raw) {
				t.Fatalf("encodes as %x, want %x", b, tc.raw)
			}
			// Every truncation is refused, never a panic.
			for n := range len(tc.raw) {
				if _, err := tc.decode(tc.raw[:n]); !errors.Is(err, ErrBadRecord) {
					t.Fatalf("%d of %d bytes: err %v, want ErrBadRecord", n, len(tc.raw), err)
				}
			}
		})
	}
}

// encode848 encodes any of the value types.
func encode848(v any) []byte {
	return v.(interface{ encode() []byte }).encode()
}

// TestRecords848UnknownTags: a value carrying a tag this coordinator does
// not know (a newer Kafka's) decodes, the tag skipped; a value of another
// version, trailing bytes, or tags out of order are refused.
func TestRecords848UnknownTags(t *testing.T) {
	raw := []byte{0, 0, 0, 0, 0, 5, 2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 9, 7, 2, 0xaa, 0xbb}
	v, err := decodeCGTargetMetadataValue(raw)
	if err != nil || v.assignmentEpoch != 5 || v.timestampMs != 9 {
		t.Fatalf("got %+v, %v", v, err)
	}
	for name, b := range map[string][]byte{
		"version 1":      {0, 1, 0, 0, 0, 5, 0},
		"trailing":       {0, 0, 0, 0, 0, 5, 0, 0},
		"tags unordered": {0, 0, 0, 0, 0, 5, 2, 7, 0, 0, 0},
		"huge array":     {0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeCGTargetMetadataValue(b); !errors.Is(err, ErrBadRecord) {
			if _, err2 := decodeCGTargetMemberValue(b); !errors.Is(err2, ErrBadRecord) {
				t.Errorf("%s: %v / %v, want ErrBadRecord", name, err, err2)
			}
		}
	}
	if _, err := decodeKey848([]byte{0, 2, 0, 1, 'g'}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("key type 2 decoded as a consumer group key: %v", err)
	}
}

// TestRecords848RoundTrip encodes and decodes values with every field
// set and unset.
func TestRecords848RoundTrip(t *testing.T) {
	values := []any{
		cgMetadataValue{epoch: 1, creationTimeMs: -1},
		cgMetadataValue{epoch: -5, metadataHash: -1, creationTimeMs: 0},
		cgMemberValue{clientID: "", clientHost: "", topics: []string{}, rebalanceTimeoutMs: -1},
		cgMemberValue{instanceID: strp(""), rackID: strp("r1"), clientID: "cl", clientHost: "/127.0.0.1",
			topics: []string{"a", "b"}, regex: strp("a.*"), rebalanceTimeoutMs: 1, serverAssignor: strp("range")},
		cgTargetMetadataValue{assignmentEpoch: 3, timestampMs: 1234},
		cgTargetMemberValue{partitions: []topicPartitions848{}},
		cgTargetMemberValue{partitions: []topicPartitions848{{topicID: layoutTopicID, partitions: []int32{}}, {partitions: []int32{5, 6, 7}}}},
		cgCurrentValue{memberEpoch: -2, previousMemberEpoch: 9, state: cgStateUnreleasedPartitions,
			assigned: []topicPartitions848{{topicID: layoutTopicID, partitions: []int32{1, 2}, epochs: []int32{3, 4}}},
			revoking: []topicPartitions848{{partitions: []int32{0}}}},
	}
	for _, v := range values {
		var got any
		var err error
		b := encode848(v)
		switch v.(type) {
		case cgMetadataValue:
			got, err = decodeCGMetadataValue(b)
		case cgMemberValue:
			got, err = decodeCGMemberValue(b)
		case cgTargetMetadataValue:
			got, err = decodeCGTargetMetadataValue(b)
		case cgTargetMemberValue:
			got, err = decodeCGTargetMemberValue(b)
		case cgCurrentValue:
			got, err = decodeCGCurrentValue(b)
		}
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%+v round-trips as %+v, %v", v, got, err)
		}
	}
}

// FuzzDecode848 feeds hostile bytes to every decoder: never a panic, and
// what decodes encodes back to a value that decodes the same.
func FuzzDecode848(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 5, 0})
	f.Add(cgCurrentValue{memberEpoch: 1, assigned: []topicPartitions848{{partitions: []int32{1}, epochs: []int32{1}}}}.encode())
	f.Add(cgMemberValue{clientID: "c", topics: []string{"t"}}.encode())
	f.Add(key848{typ: 8, group: "g", member: "m"}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := decodeKey848(b); err == nil {
			if k2, err := decodeKey848(k.encode()); err != nil || k2 != k {
				t.Fatalf("key %+v re-decodes as %+v, %v", k, k2, err)
			}
		}
		check := func(v any, err error, decode func([]byte) (any, error)) {
			if err != nil {
				if !errors.Is(err, ErrBadRecord) {
					t.Fatalf("error %v is not ErrBadRecord", err)
				}
				return
			}
			again, err := decode(encode848(v))
			if err != nil || !reflect.DeepEqual(again, v) {
				t.Fatalf("%+v re-decodes as %+v, %v", v, again, err)
			}
		}
		decoders := []func([]byte) (any, error){
			func(b []byte) (any, error) { return decodeCGMetadataValue(b) },
			func(b []byte) (any, error) { return decodeCGMemberValue(b) },
			func(b []byte) (any, error) { return decodeCGTargetMetadataValue(b) },
			func(b []byte) (any, error) { return decodeCGTargetMemberValue(b) },
			func(b []byte) (any, error) { return decodeCGCurrentValue(b) },
		}
		for _, d := range decoders {
			v, err := d(b)
			check(v, err, d)
		}
	})
}
