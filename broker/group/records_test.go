package group

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPartitionFor checks Kafka's mapping: Utils.abs(String.hashCode) % n,
// where abs(MinInt32) is 0.
func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		group string
		hash  int32
	}{
		{"", 0},
		{"a", 97},
		{"my-group", -1906497762},
		{"console-consumer-1", 35782224},
		{"\U0001F600", 1772899},             // a surrogate pair in UTF-16
		{"polygenelubricants", -2147483648}, // Java's famous MinInt32 hash
	} {
		if got := javaStringHashCode(tc.group); got != tc.hash {
			t.Errorf("hashCode(%q) = %d, want %d", tc.group, got, tc.hash)
		}
		want := int64(tc.hash)
		if want == -2147483648 {
			want = 0
		} else if want < 0 {
			want = -want
		}
		if got := PartitionFor(tc.group, 50); int64(got) != want%50 {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.group, got, want%50)
		}
	}
}

// TestRecordsRoundTrip encodes each record type and decodes it back, and
// checks the bytes against Kafka's layout.
func TestRecordsRoundTrip(t *testing.T) {
	k, err := decodeKey(offsetKey("g", "t", 7))
	if err != nil || !k.isOffset || k.group != "g" || k.topic != "t" || k.partition != 7 {
		t.Fatalf("offset key: %+v %v", k, err)
	}
	// version 1, "g", "t", partition 7
	if want := []byte{0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 7}; !bytes.Equal(offsetKey("g", "t", 7), want) {
		t.Fatalf("offset key bytes % x, want % x", offsetKey("g", "t", 7), want)
	}
	o := Offset{Offset: 42, LeaderEpoch: 3, Metadata: "m", CommitTime: 1000, ExpireTime: -1}
	got, err := decodeOffsetValue(offsetValue(o))
	if err != nil || got != o {
		t.Fatalf("offset value: %+v %v, want %+v", got, err, o)
	}
	// version 3: offset, leader epoch, metadata, commit timestamp
	want := []byte{0, 3, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 3, 0, 1, 'm', 0, 0, 0, 0, 0, 0, 3, 0xe8}
	if b := offsetValue(o); !bytes.Equal(b, want) {
		t.Fatalf("offset value bytes % x, want % x", b, want)
	}
	// An explicit expiry is written as v1, the only version that has it.
	exp := Offset{Offset: 42, LeaderEpoch: -1, Metadata: "m", CommitTime: 1000, ExpireTime: 5000}
	if b := offsetValue(exp); b[1] != 1 {
		t.Fatalf("offset value with an expiry written as v%d, want v1", b[1])
	} else if got, err := decodeOffsetValue(b); err != nil || got != exp {
		t.Fatalf("offset value v1: %+v %v, want %+v", got, err, exp)
	}
	gk, err := decodeKey(groupKey("grp"))
	if err != nil || gk.isOffset || gk.group != "grp" {
		t.Fatalf("group key: %+v %v", gk, err)
	}
	v := kmsg.NewGroupMetadataValue()
	v.ProtocolType, v.Generation = "consumer", 5
	m := kmsg.NewGroupMetadataValueMember()
	m.MemberID, m.ClientID, m.SessionTimeoutMillis, m.RebalanceTimeoutMillis = "m1", "c", 10000, 20000
	v.Members = append(v.Members, m)
	gv, err := decodeGroupValue(groupValue(&v))
	if err != nil || gv.Version != 3 || gv.Generation != 5 || len(gv.Members) != 1 || gv.Members[0].MemberID != "m1" {
		t.Fatalf("group value: %+v %v", gv, err)
	}
	// The flexible v4 a newer Kafka writes decodes too.
	v.Version = 4
	if gv, err := decodeGroupValue(v.AppendTo(nil)); err != nil || gv.Members[0].RebalanceTimeoutMillis != 20000 {
		t.Fatalf("group value v4: %+v %v", gv, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 9}, {0, 1, 0}, {0xff, 0xff}} {
		if _, err := decodeOffsetValue(bad); err == nil {
			t.Errorf("offset value % x decoded", bad)
		}
	}
}

// TestLoaderLastRecordWins replays commits, a tombstone and a group
// deletion.
func TestLoaderLastRecordWins(t *testing.T) {
	l := newLoader()
	l.apply(0, Record{Key: offsetKey("g", "t", 0), Value: offsetValue(Offset{Offset: 5})})
	l.apply(1, Record{Key: offsetKey("g", "t", 0), Value: offsetValue(Offset{Offset: 9})})
	l.apply(2, Record{Key: offsetKey("g", "t", 1), Value: offsetValue(Offset{Offset: 3})})
	l.apply(3, Record{Key: offsetKey("g", "t", 1)})
	l.apply(4, Record{Key: offsetKey("h", "t", 0), Value: offsetValue(Offset{Offset: 1})})
	l.apply(5, Record{Key: groupKey("h")})
	l.apply(6, Record{Key: []byte{0, 1, 2}, Value: []byte{1}})
	g := l.groups["g"]
	if len(g.offsets) != 1 || g.offsets[topicPartition{"t", 0}].Offset != 9 {
		t.Fatalf("group g offsets %+v, want t/0 at 9 only", g.offsets)
	}
	if h := l.groups["h"]; len(h.offsets) != 1 || h.meta != nil {
		t.Fatalf("group h after its metadata's tombstone: %+v, want its offset only", h)
	}
	if l.skipped != 1 {
		t.Fatalf("skipped %d records, want 1", l.skipped)
	}
}

// FuzzLoader feeds arbitrary keys and values to the loader: it never
// panics, and what it keeps is valid.
func FuzzLoader(f *testing.F) {
	f.Add(offsetKey("g", "t", 1), offsetValue(Offset{Offset: 1, LeaderEpoch: -1}))
	v := kmsg.NewGroupMetadataValue()
	f.Add(groupKey("g"), groupValue(&v))
	f.Add([]byte{0, 2, 0, 1}, []byte{0, 4, 0xff})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		l := newLoader()
		l.apply(0, Record{Key: key, Value: value})
		for _, g := range l.groups {
			for _, o := range g.offsets {
				if o.Offset < 0 {
					t.Fatalf("negative offset kept: %+v", o)
				}
			}
		}
		l.apply(1, Record{Key: key})
	})
}
