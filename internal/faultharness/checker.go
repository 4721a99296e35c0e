package faultharness

import (
	"fmt"
	"sort"
	"strings"
)

// LogRecord is one record of a partition as read back after the run.
type LogRecord struct {
	Offset int64
	Value  []byte
}

// ViolationKind is what went wrong with a record.
type ViolationKind string

const (
	// Lost: an acknowledged record is not in the log.
	Lost ViolationKind = "lost"
	// Duplicated: a record is in the log more than once.
	Duplicated ViolationKind = "duplicated"
	// Moved: an acknowledged record is in the log, but not at the offset
	// (or partition) it was acknowledged at.
	Moved ViolationKind = "moved"
	// Reordered: a producer's records of one partition are not in the
	// order it sent them.
	Reordered ViolationKind = "reordered"
	// Phantom: a consumer read a record at an offset that, in the final
	// log, holds another record or none.
	Phantom ViolationKind = "phantom-read"
	// Foreign: the log holds a record no workload wrote.
	Foreign ViolationKind = "foreign"
)

// Violation is one broken guarantee, located precisely.
type Violation struct {
	Kind      ViolationKind
	Partition int32
	Offset    int64
	ID        RecordID
	Detail    string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: partition %d offset %d record %s: %s", v.Kind, v.Partition, v.Offset, v.ID, v.Detail)
}

// Report is the checker's verdict on one run.
type Report struct {
	Seed       uint64
	Acked      int
	Read       int
	Records    int // in the final log
	Violations []Violation
	where      map[RecordID][]place
}

// Find says where record id is in the final log ("partition P offset O"
// for each copy; none when absent).
func (r *Report) Find(id RecordID) []string {
	var out []string
	for _, pl := range r.where[id] {
		out = append(out, fmt.Sprintf("partition %d offset %d", pl.partition, pl.offset))
	}
	return out
}

// Count returns how many violations are of kind k.
func (r *Report) Count(k ViolationKind) int {
	n := 0
	for _, v := range r.Violations {
		if v.Kind == k {
			n++
		}
	}
	return n
}

// String summarises the report, listing the first violations.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d acknowledged, %d consumed, %d records in the log, %d violations",
		r.Seed, r.Acked, r.Read, r.Records, len(r.Violations))
	const shown = 30
	for i, v := range r.Violations {
		if i == shown {
			fmt.Fprintf(&b, "\n  ... and %d more", len(r.Violations)-shown)
			break
		}
		fmt.Fprintf(&b, "\n  seed %d: %s", r.Seed, v)
	}
	return b.String()
}

// place is where a record sits in the final log.
type place struct {
	partition int32
	offset    int64
}

// Check proves the guarantees of acks=all against the final log (every
// partition read from its log start to its high watermark): every
// acknowledged record is present exactly once, at the partition and offset
// it was acknowledged at; every producer's records of a partition are in the
// order it sent them; and every record a consumer read is still at the
// offset it was read at. A record acknowledged twice (a retried REST
// request with the same Idempotency-Key) must be acknowledged at one place.
func Check(seed uint64, h *History, log map[int32][]LogRecord) *Report {
	r := &Report{Seed: seed}
	add := func(v Violation) { r.Violations = append(r.Violations, v) }

	where := map[RecordID][]place{}
	r.where = where
	at := map[place]RecordID{}
	partitions := make([]int32, 0, len(log))
	for p := range log {
		partitions = append(partitions, p)
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i] < partitions[j] })
	for _, p := range partitions {
		last := map[string]RecordID{} // per producer, the previous record in this partition
		for _, rec := range log[p] {
			r.Records++
			id, err := ParseRecordID(rec.Value)
			if err != nil {
				add(Violation{Kind: Foreign, Partition: p, Offset: rec.Offset, Detail: err.Error()})
				continue
			}
			pl := place{p, rec.Offset}
			at[pl] = id
			if prev := where[id]; len(prev) > 0 {
				add(Violation{Kind: Duplicated, Partition: p, Offset: rec.Offset, ID: id,
					Detail: fmt.Sprintf("also at partition %d offset %d", prev[0].partition, prev[0].offset)})
			}
			where[id] = append(where[id], pl)
			if prev, ok := last[id.Producer]; ok && prev.Seq > id.Seq {
				add(Violation{Kind: Reordered, Partition: p, Offset: rec.Offset, ID: id,
					Detail: fmt.Sprintf("after %s, which the producer sent later", prev)})
			}
			last[id.Producer] = id
		}
	}

	acks := h.Acks()
	r.Acked = len(acks)
	ackedAt := map[RecordID]place{}
	for _, a := range acks {
		pl := place{a.Partition, a.Offset}
		if first, ok := ackedAt[a.ID]; ok {
			if first != pl {
				add(Violation{Kind: Moved, Partition: a.Partition, Offset: a.Offset, ID: a.ID,
					Detail: fmt.Sprintf("acknowledged twice, first at partition %d offset %d", first.partition, first.offset)})
			}
			continue
		}
		ackedAt[a.ID] = pl
		got := where[a.ID]
		switch {
		case len(got) == 0:
			detail := "absent from the log"
			if other, ok := at[pl]; ok {
				detail += fmt.Sprintf("; its offset holds %s", other)
			}
			add(Violation{Kind: Lost, Partition: a.Partition, Offset: a.Offset, ID: a.ID, Detail: detail})
		case got[0] != pl:
			add(Violation{Kind: Moved, Partition: a.Partition, Offset: a.Offset, ID: a.ID,
				Detail: fmt.Sprintf("acknowledged here, found at partition %d offset %d", got[0].partition, got[0].offset)})
		}
	}

	reads := h.Reads()
	r.Read = len(reads)
	for _, rd := range reads {
		got, ok := at[place{rd.Partition, rd.Offset}]
		switch {
		case !ok:
			add(Violation{Kind: Phantom, Partition: rd.Partition, Offset: rd.Offset, ID: rd.ID,
				Detail: fmt.Sprintf("%s read it; the offset is not in the final log", rd.Reader)})
		case got != rd.ID:
			add(Violation{Kind: Phantom, Partition: rd.Partition, Offset: rd.Offset, ID: rd.ID,
				Detail: fmt.Sprintf("%s read it; the final log holds %s there", rd.Reader, got)})
		}
	}
	return r
}
