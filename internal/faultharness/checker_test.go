package faultharness

import (
	"strings"
	"testing"
)

func id(p string, seq int) RecordID { return RecordID{Producer: p, Seq: seq} }

func logOf(ids ...RecordID) []LogRecord {
	out := make([]LogRecord, len(ids))
	for i, id := range ids {
		out[i] = LogRecord{Offset: int64(i), Value: id.Value()}
	}
	return out
}

func TestParseRecordID(t *testing.T) {
	for _, v := range []string{"a:00000007", `"a:00000007"`, " a:7\n"} {
		got, err := ParseRecordID([]byte(v))
		if err != nil || got != id("a", 7) {
			t.Errorf("%q: %v, %v", v, got, err)
		}
	}
	for _, v := range []string{"", "a", ":1", "a:x", "a:-1", `{"a":1}`} {
		if _, err := ParseRecordID([]byte(v)); err == nil {
			t.Errorf("%q parsed", v)
		}
	}
}

func TestCheckCleanRun(t *testing.T) {
	h := NewHistory()
	h.Acked(Ack{ID: id("k", 0), Partition: 0, Offset: 0})
	h.Acked(Ack{ID: id("r", 0), Partition: 0, Offset: 1})
	h.Acked(Ack{ID: id("r", 0), Partition: 0, Offset: 1}) // an Idempotency-Key retry
	h.Acked(Ack{ID: id("k", 2), Partition: 1, Offset: 0})
	h.Consumed(Read{Reader: "c", ID: id("k", 0), Partition: 0, Offset: 0})
	log := map[int32][]LogRecord{
		// k:1 was never acknowledged (its producer gave up) yet written: fine.
		0: logOf(id("k", 0), id("r", 0), id("k", 1)),
		1: logOf(id("k", 2)),
	}
	r := Check(9, h, log)
	if len(r.Violations) != 0 || r.Acked != 4 || r.Read != 1 || r.Records != 4 {
		t.Fatalf("clean run: %s", r)
	}
}

// Each kind of broken guarantee is reported with its partition, offset and
// record.
func TestCheckFindsEveryViolation(t *testing.T) {
	h := NewHistory()
	h.Acked(Ack{ID: id("k", 0), Partition: 0, Offset: 0})
	h.Acked(Ack{ID: id("k", 1), Partition: 0, Offset: 1}) // lost: offset 1 holds k:3
	h.Acked(Ack{ID: id("k", 2), Partition: 0, Offset: 2}) // moved to offset 4
	h.Acked(Ack{ID: id("r", 0), Partition: 1, Offset: 0})
	h.Acked(Ack{ID: id("r", 0), Partition: 1, Offset: 5}) // a retry acknowledged elsewhere
	h.Consumed(Read{Reader: "c1", ID: id("k", 9), Partition: 0, Offset: 2})
	h.Consumed(Read{Reader: "c2", ID: id("k", 8), Partition: 0, Offset: 99})
	log := map[int32][]LogRecord{
		0: append(logOf(id("k", 0), id("k", 3), id("x", 0), id("x", 0)), LogRecord{Offset: 4, Value: id("k", 2).Value()}),
		1: append(logOf(id("r", 0)), LogRecord{Offset: 1, Value: []byte("garbage")}),
	}
	r := Check(77, h, log)
	want := []string{
		"lost: partition 0 offset 1 record k:00000001: absent from the log; its offset holds k:00000003",
		"moved: partition 0 offset 2 record k:00000002: acknowledged here, found at partition 0 offset 4",
		"moved: partition 1 offset 5 record r:00000000: acknowledged twice, first at partition 1 offset 0",
		"duplicated: partition 0 offset 3 record x:00000000: also at partition 0 offset 2",
		"reordered: partition 0 offset 4 record k:00000002: after k:00000003",
		"phantom-read: partition 0 offset 2 record k:00000009: c1 read it; the final log holds x:00000000 there",
		"phantom-read: partition 0 offset 99 record k:00000008: c2 read it; the offset is not in the final log",
		"foreign: partition 1 offset 1",
	}
	s := r.String()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	if len(r.Violations) != len(want) {
		t.Errorf("%d violations, want %d", len(r.Violations), len(want))
	}
	if !strings.HasPrefix(s, "seed 77:") || !strings.Contains(s, "\n  seed 77: lost") || r.Count(Lost) != 1 || r.Count(Phantom) != 2 {
		t.Errorf("report:\n%s", s)
	}
	t.Log(s)
}
