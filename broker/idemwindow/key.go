package idemwindow

import (
	"encoding/binary"

	"github.com/runnel-dev/runnel/broker/kafkaext"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// FirstKey returns the Idempotency-Key of the first batch of records (a
// produce request's records for one partition: the gateway sends one batch).
// See KeyOf.
func FirstKey(records []byte) ([]byte, bool) {
	batch, _, err := recordbatch.Next(records)
	if err != nil {
		return nil, false
	}
	return KeyOf(batch)
}

// KeyOf returns the value of the kafkaext.IdempotencyKeyHeader header of
// the first record of batch, aliasing batch. It looks only at uncompressed,
// non-control v2 batches, reads nothing past the first record and allocates
// nothing; a malformed batch simply has no key (the log's own validation
// reports it).
func KeyOf(batch []byte) ([]byte, bool) {
	if len(batch) < recordbatch.HeaderSize {
		return nil, false
	}
	h, err := recordbatch.ParseHeader(batch)
	if err != nil {
		return nil, false
	}
	return KeyIn(batch, &h)
}

// KeyIn is KeyOf for a batch whose header h was parsed already (a produced
// batch the broker validated).
func KeyIn(batch []byte, h *recordbatch.Header) ([]byte, bool) {
	if h.Codec() != recordbatch.CodecNone || h.IsControl() || h.NumRecords < 1 {
		return nil, false
	}
	end := min(len(batch), h.Size())
	b := batch[recordbatch.HeaderSize:end]
	recLen, n := binary.Varint(b)
	if n <= 0 || recLen <= 0 || recLen > int64(len(b)-n) {
		return nil, false
	}
	r := reader{b: b[n : n+int(recLen)]}
	r.p = 1    // attributes
	r.varint() // timestamp delta
	r.varint() // offset delta
	r.bytes()  // key
	r.bytes()  // value
	count := r.varint()
	if r.bad || count < 0 || count > int64(len(r.b)) {
		return nil, false
	}
	for range count {
		kl := r.varint()
		if r.bad || kl < 0 || kl > int64(len(r.b)-r.p) {
			return nil, false
		}
		k := r.b[r.p : r.p+int(kl)]
		r.p += int(kl)
		v, isNull := r.bytes()
		if r.bad {
			return nil, false
		}
		if string(k) == kafkaext.IdempotencyKeyHeader {
			return v, !isNull
		}
	}
	return nil, false
}

// reader walks the fields of one record; bad sticks once a field does not
// fit.
type reader struct {
	b   []byte
	p   int
	bad bool
}

func (r *reader) varint() int64 {
	if r.bad || r.p > len(r.b) {
		r.bad = true
		return 0
	}
	v, n := binary.Varint(r.b[r.p:])
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.p += n
	return v
}

// bytes reads a nullable length-prefixed field.
func (r *reader) bytes() (v []byte, isNull bool) {
	l := r.varint()
	switch {
	case r.bad:
		return nil, false
	case l == -1:
		return nil, true
	case l < -1 || l > int64(len(r.b)-r.p):
		r.bad = true
		return nil, false
	}
	v = r.b[r.p : r.p+int(l)]
	r.p += int(l)
	return v, false
}
