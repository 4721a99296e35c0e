package faultharness

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// RecordID names one record a workload wrote: its producer and the
// producer's sequence number, starting at 0. It travels as the record's
// value, "producer:seq" (for REST, as a JSON string).
type RecordID struct {
	Producer string
	Seq      int
}

func (id RecordID) String() string { return fmt.Sprintf("%s:%08d", id.Producer, id.Seq) }

// Value is the record value that carries id.
func (id RecordID) Value() []byte { return []byte(id.String()) }

// ParseRecordID reads the id back from a stored value, as written by a Kafka
// producer (raw) or through the gateway (a JSON string).
func ParseRecordID(v []byte) (RecordID, error) {
	s := string(bytes.TrimSpace(v))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	p, seq, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(seq)
	if !ok || p == "" || err != nil || n < 0 {
		return RecordID{}, fmt.Errorf("record value %q is not producer:seq", truncate(v, 60))
	}
	return RecordID{Producer: p, Seq: n}, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Ack is an acknowledged write: the broker (or gateway) said record ID is at
// Offset of Partition.
type Ack struct {
	ID        RecordID
	Partition int32
	Offset    int64
}

// Read is a record a consumer was given.
type Read struct {
	Reader    string
	ID        RecordID
	Partition int32
	Offset    int64
}

// History collects what workloads saw; it is safe for concurrent use.
type History struct {
	mu     sync.Mutex
	acks   []Ack
	reads  []Read
	errors map[string]int // produce errors by text, for the report
}

// NewHistory returns an empty History.
func NewHistory() *History { return &History{errors: map[string]int{}} }

// Acked records an acknowledged write.
func (h *History) Acked(a Ack) {
	h.mu.Lock()
	h.acks = append(h.acks, a)
	h.mu.Unlock()
}

// Consumed records a record a consumer read.
func (h *History) Consumed(r Read) {
	h.mu.Lock()
	h.reads = append(h.reads, r)
	h.mu.Unlock()
}

// Failed counts a produce that was not acknowledged, by error text.
func (h *History) Failed(err error) {
	h.mu.Lock()
	h.errors[err.Error()]++
	h.mu.Unlock()
}

// Acks returns a copy of the acknowledged writes.
func (h *History) Acks() []Ack {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Ack(nil), h.acks...)
}

// Reads returns a copy of the consumed records.
func (h *History) Reads() []Read {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Read(nil), h.reads...)
}

// Errors returns the produce errors seen, by text, with counts.
func (h *History) Errors() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.errors))
	for k, v := range h.errors {
		out[k] = v
	}
	return out
}
