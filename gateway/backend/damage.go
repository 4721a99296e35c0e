package backend

import (
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
	"github.com/runnel-dev/runnel/gateway/event"
)

// damage is a range of a partition that cannot be read, [from, to), and
// why.
type damage struct {
	from, to int64
	cause    error
}

// brokerDamage reads the range a broker that answered CORRUPT_MESSAGE for
// offset names in Runnel's tagged field. The bytes come from the network:
// a value that does not parse, or a range that does not hold offset, is
// not believed, and without one only offset itself is known to be lost.
func brokerDamage(p *kmsg.FetchResponseTopicPartition, offset int64) damage {
	d := damage{from: offset, to: offset + 1, cause: fmt.Errorf("the broker answered %w", kerr.CorruptMessage)}
	p.UnknownTags.Each(func(tag uint32, v []byte) {
		if tag != kafkaext.UnreadableRangeTag {
			return
		}
		r, err := kafkaext.ParseUnreadableRange(v)
		switch {
		case err != nil:
			d.cause = fmt.Errorf("%w; its unreadable range is not believed: %w", d.cause, err)
		case offset < r.From || offset >= r.To:
			d.cause = fmt.Errorf("%w; its unreadable range [%d, %d) is not believed: it does not hold the fetch offset", d.cause, r.From, r.To)
		default:
			d.from, d.to = r.From, r.To
		}
	})
	return d
}

// unreadable logs damage once per range and returns what the reader at
// offset lost.
func (s *KafkaSource) unreadable(topic string, partition int32, offset int64, d damage) *event.UnreadableError {
	if s.Logger != nil && s.reported.first(damageKey{topic, partition, d.from, d.to}) {
		s.Logger.Error("stored events cannot be read; readers are told and skip them",
			"topic", topic, "partition", partition, "offsets", event.Offsets(d.from, d.to), "resume_at", d.to, "err", d.cause)
	}
	return &event.UnreadableError{Topic: topic, Partition: partition, From: offset, To: d.to, Cause: d.cause}
}

// damagedBatch is the damage of the batch at the start of buf, which a
// fetch at offset could not decode. Its header, when it parses, says which
// offsets the batch holds; but a damaged header may lie, and believing a
// flipped bit in lastOffsetDelta would skip readable events. So its range
// is believed only when the record count agrees with lastOffsetDelta (the
// CRC covers both; one damaged field breaks the agreement), and the range
// runs from at most offset to past offset and ends at or below the high
// watermark, where every served batch ends. Otherwise only offset is known
// to be lost.
func damagedBatch(buf []byte, offset, hwm int64, cause error) damage {
	d := damage{from: offset, to: offset + 1, cause: cause}
	h, err := recordbatch.ParseHeader(buf)
	if err != nil || h.LastOffsetDelta < 0 || int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 ||
		h.BaseOffset < 0 || h.BaseOffset > offset {
		return d
	}
	if next := h.NextOffset(); next > offset && next <= hwm {
		d.from, d.to = h.BaseOffset, next
	}
	return d
}

// maxReported bounds how many damaged ranges a KafkaSource remembers having
// logged.
const maxReported = 1024

// reportedRanges remembers the damaged ranges already logged, the most
// recent maxReported of them, so that each is logged once however many
// readers meet it and however often they retry.
type reportedRanges struct {
	mu   sync.Mutex
	seen map[damageKey]struct{}
	ring []damageKey // insertion order; the oldest is forgotten first
	next int         // ring slot to overwrite once the ring is full
}

type damageKey struct {
	topic     string
	partition int32
	from, to  int64
}

// first reports whether k is new, remembering it.
func (r *reportedRanges) first(k damageKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[k]; ok {
		return false
	}
	if r.seen == nil {
		r.seen = make(map[damageKey]struct{})
	}
	if len(r.ring) < maxReported {
		r.ring = append(r.ring, k)
	} else {
		delete(r.seen, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % maxReported
	}
	r.seen[k] = struct{}{}
	return true
}
