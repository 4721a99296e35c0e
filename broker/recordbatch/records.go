package recordbatch

import (
	"io"
	"slices"
)

// Record is one decoded record of a batch.
//
// Key, Value and header values alias the batch passed to Records (or, for a
// compressed batch, a buffer private to the iterator), so they stay valid as
// long as that memory is not reused. A nil Key or Value is Kafka's null; an
// empty non-nil slice is an empty key or value.
type Record struct {
	// Attributes is the record's attribute byte; Kafka defines no bits.
	Attributes int8
	// TimestampDelta is the record's timestamp minus the batch's base
	// timestamp, as stored.
	TimestampDelta int64
	// OffsetDelta is the record's offset minus the batch's base offset.
	OffsetDelta int32
	// Offset is the absolute offset: BaseOffset + OffsetDelta.
	Offset int64
	// Timestamp is the absolute timestamp in milliseconds: BaseTimestamp
	// + TimestampDelta, or the batch's MaxTimestamp when the batch uses
	// log-append time.
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
}

// RecordHeader is one header of a record. Kafka forbids null header keys; a
// nil Value is a null value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// DecodeOptions tunes record decoding. The zero value uses the defaults.
type DecodeOptions struct {
	// MaxDecompressedBytes bounds the size of a compressed batch's records
	// after decompression; a batch over it fails with ErrTooLarge. Zero
	// means DefaultMaxDecompressedBytes. Use one configured value: each
	// distinct limit keeps its own zstd decoder.
	MaxDecompressedBytes int
}

// minRecordSize is the smallest encoding of a record: length, attributes,
// timestampDelta, offsetDelta, keyLength, valueLength and headerCount, one
// byte each.
const minRecordSize = 7

// maxPrealloc caps how many Records DecodeRecords reserves up front.
const maxPrealloc = 1 << 14

// RecordIter decodes the records of one batch in order. It is not safe for
// concurrent use.
type RecordIter struct {
	h    Header
	data []byte // the (decompressed) records section
	off  int    // read position in data
	n    int32  // records returned so far
	err  error  // sticky
}

// Records returns an iterator over the records of batch, which must be one
// whole batch (see Next). It decompresses a compressed records section up
// front, bounded by opts.MaxDecompressedBytes.
//
// Records checks the framing but not the CRC: call Validate first on bytes
// that were not already validated. Decoding never panics or reads out of
// bounds, whatever the input.
func Records(batch []byte, opts DecodeOptions) (*RecordIter, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return nil, err
	}
	if err := checkWhole(&h, len(batch)); err != nil {
		return nil, err
	}
	if h.NumRecords < 0 {
		return nil, batchErr(ErrInvalidRecordCount, "record count %d is negative", h.NumRecords)
	}
	data := batch[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		if !c.Valid() {
			return nil, batchErr(ErrUnknownCodec, "attributes 0x%04x name codec %d", uint16(h.Attributes), int8(c))
		}
		limit := opts.MaxDecompressedBytes
		if limit <= 0 {
			limit = DefaultMaxDecompressedBytes
		}
		if data, err = decompress(nil, c, data, limit); err != nil {
			return nil, err
		}
	}
	if int64(h.NumRecords)*minRecordSize > int64(len(data)) {
		return nil, batchErr(ErrInvalidRecordCount, "record count %d cannot fit in %d bytes of records", h.NumRecords, len(data))
	}
	return &RecordIter{h: h, data: data}, nil
}

// Header returns the header of the batch being decoded.
func (it *RecordIter) Header() Header { return it.h }

// Remaining returns how many records the header says are still to come.
func (it *RecordIter) Remaining() int { return int(it.h.NumRecords - it.n) }

// Next decodes and returns the next record. After the last record it checks
// that nothing follows and returns io.EOF. Any other error is sticky and
// wraps ErrCorrupt or ErrInvalidRecordCount.
func (it *RecordIter) Next() (Record, error) {
	if it.err != nil {
		return Record{}, it.err
	}
	if it.n == it.h.NumRecords {
		if it.off != len(it.data) {
			it.err = batchErr(ErrCorrupt, "%d bytes follow the last of %d records", len(it.data)-it.off, it.h.NumRecords)
		} else {
			it.err = io.EOF
		}
		return Record{}, it.err
	}
	if it.off == len(it.data) {
		it.err = batchErr(ErrInvalidRecordCount, "record count %d but the records section ends after %d records", it.h.NumRecords, it.n)
		return Record{}, it.err
	}
	r, err := it.decode()
	if err != nil {
		it.err = err
		return Record{}, err
	}
	it.n++
	return r, nil
}

// decode reads the record at it.off.
func (it *RecordIter) decode() (Record, error) {
	idx := it.n
	rec, next, err := recordAt(it.data, it.off, idx, ErrCorrupt)
	if err != nil {
		return Record{}, err
	}
	it.off = next
	var r Record
	if err := decodeRecord(&r, rec, idx, ErrCorrupt, true); err != nil {
		return Record{}, err
	}
	r.Offset = it.h.BaseOffset + int64(r.OffsetDelta)
	if it.h.TimestampType() == TimestampLogAppend {
		r.Timestamp = it.h.MaxTimestamp
	} else {
		r.Timestamp = it.h.BaseTimestamp + r.TimestampDelta
	}
	return r, nil
}

// recordAt reads the length of record idx at data[off:] and returns the
// record's bytes and the offset after it. kind is the sentinel a malformed
// length is reported with.
func recordAt(data []byte, off int, idx int32, kind error) (rec []byte, next int, err error) {
	length, n := varint(data[off:])
	if n <= 0 {
		return nil, off, errVarint(kind, idx, "length")
	}
	off += n
	if length < 0 || int(length) > len(data)-off {
		return nil, off, batchErr(kind, "record %d: length %d with %d bytes left", idx, length, len(data)-off)
	}
	return data[off : off+int(length)], off + int(length), nil
}

// decodeRecord decodes rec, the bytes of record idx after its length, into
// r (filled in place: a Record is too large to return cheaply in a loop over
// every record) and checks that its fields fill it exactly. With headers false the headers are
// checked but not returned, and nothing is allocated. Malformed input is
// reported with the sentinel kind. Offset and Timestamp are left for the
// caller, which knows the batch header.
func decodeRecord(r *Record, rec []byte, idx int32, kind error, headers bool) error {
	if len(rec) < 1 {
		return batchErr(kind, "record %d: empty record", idx)
	}
	r.Attributes = int8(rec[0])
	p := 1
	var n int
	if r.TimestampDelta, n = varlong(rec[p:]); n <= 0 {
		return errVarint(kind, idx, "timestampDelta")
	}
	p += n
	if r.OffsetDelta, n = varint(rec[p:]); n <= 0 {
		return errVarint(kind, idx, "offsetDelta")
	}
	p += n
	var err error
	if r.Key, p, err = bytesField(rec, p, idx, "key", kind); err != nil {
		return err
	}
	if r.Value, p, err = bytesField(rec, p, idx, "value", kind); err != nil {
		return err
	}
	count, n := varint(rec[p:])
	if n <= 0 {
		return errVarint(kind, idx, "headerCount")
	}
	p += n
	// Each header takes at least two bytes, which bounds the allocation.
	if count < 0 || int(count) > (len(rec)-p)/2 {
		return batchErr(kind, "record %d: header count %d with %d bytes left", idx, count, len(rec)-p)
	}
	if headers && count > 0 {
		r.Headers = make([]RecordHeader, count)
	}
	for i := range int(count) {
		var key, value []byte
		if key, p, err = bytesField(rec, p, idx, "header key", kind); err != nil {
			return err
		}
		if key == nil {
			return batchErr(kind, "record %d: header %d has a null key", idx, i)
		}
		if value, p, err = bytesField(rec, p, idx, "header value", kind); err != nil {
			return err
		}
		if headers {
			r.Headers[i] = RecordHeader{Key: string(key), Value: value}
		}
	}
	if p != len(rec) {
		return batchErr(kind, "record %d: %d bytes follow its last field", idx, len(rec)-p)
	}
	return nil
}

// bytesField reads a varint length (-1 for null) and that many bytes from
// rec at p, reporting malformed input with the sentinel kind. The result aliases rec with its capacity clipped, so appending to
// it cannot overwrite the next field.
func bytesField(rec []byte, p int, idx int32, what string, kind error) ([]byte, int, error) {
	l, n := varint(rec[p:])
	if n <= 0 {
		return nil, p, errVarint(kind, idx, what+" length")
	}
	p += n
	if l == -1 {
		return nil, p, nil
	}
	if l < 0 || int(l) > len(rec)-p {
		return nil, p, batchErr(kind, "record %d: %s length %d with %d bytes left", idx, what, l, len(rec)-p)
	}
	end := p + int(l)
	return rec[p:end:end], end, nil
}

//go:noinline
func errVarint(kind error, idx int32, what string) error {
	return batchErr(kind, "record %d: malformed or truncated %s varint", idx, what)
}

// DecodeRecords decodes every record of batch, appending them to dst, and
// returns the extended slice. It is Records followed by Next until io.EOF;
// the same aliasing and validation rules apply. A Record takes more memory
// than its smallest encoding (7 bytes), so callers handling batches with
// very many tiny records should stream them with Records instead.
func DecodeRecords(dst []Record, batch []byte, opts DecodeOptions) ([]Record, error) {
	it, err := Records(batch, opts)
	if err != nil {
		return dst, err
	}
	// Reserve room for the declared count, but not so much that a batch
	// failing on an early record has already cost a huge allocation.
	dst = slices.Grow(dst, min(it.Remaining(), maxPrealloc))
	for {
		r, err := it.Next()
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		dst = append(dst, r)
	}
}

// varint decodes a zigzag varint of at most 5 bytes that fits in an int32,
// as Kafka writes them. n is the number of bytes read, or 0 if b is too short
// or the encoding is malformed. It is small enough to be inlined into the
// record decoder's hot loop.
func varint(b []byte) (v int32, n int) {
	var u uint32
	for i := 0; i < 5 && i < len(b); i++ {
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, 0
		}
		u |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, 0
}

// varlong decodes a zigzag varint of at most 10 bytes that fits in an int64.
// n is the number of bytes read, or 0 if b is too short or malformed.
func varlong(b []byte) (v int64, n int) {
	var u uint64
	for i := 0; i < 10 && i < len(b); i++ {
		c := b[i]
		if i == 9 && c > 0x01 {
			return 0, 0
		}
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, 0
}
