package recordbatch

import (
	"encoding/binary"
	"math"
	"sync"
)

// BuildOptions describes the batch Build writes. The zero value is an
// uncompressed CreateTime batch at base offset 0 from a producer that is
// neither idempotent nor transactional.
type BuildOptions struct {
	// BaseOffset is the offset of the first record. The log overwrites it
	// on append (SetBaseOffset), so producers leave it at zero.
	BaseOffset int64
	// PartitionLeaderEpoch is stored as is; producers leave it at zero
	// (Kafka clients send -1) and the leader stamps its own on append.
	PartitionLeaderEpoch int32
	// Codec compresses the records section. Snappy is written in the
	// xerial framing the Java client uses.
	Codec Codec
	// LogAppendTime sets the timestamp-type attribute: the batch's
	// MaxTimestamp then stands for every record's timestamp.
	LogAppendTime bool
	// Transactional sets the transactional attribute.
	Transactional bool
	// Control sets the control attribute; the records must then be
	// control records (key: version int16 + type int16).
	Control bool
	// Producer identifies an idempotent or transactional producer. Nil
	// writes Kafka's "no producer" values: id, epoch and base sequence -1.
	Producer *Producer
}

// Producer is the idempotence state a batch carries.
type Producer struct {
	ID           int64
	Epoch        int16
	BaseSequence int32
}

// Build returns a new v2 batch holding records, in order. Offset deltas are
// the records' positions (0, 1, ...); the base timestamp is the first
// record's Timestamp and the max timestamp the largest. The records'
// Offset, OffsetDelta and TimestampDelta fields are ignored, so records
// decoded from one batch can be rebuilt into another. Attributes and
// headers are copied as given.
//
// Build fails with ErrInvalidRecordCount for no records, ErrUnknownCodec for
// an unknown codec and ErrTooLarge when the batch would not fit the int32
// length field.
func Build(opts BuildOptions, records []Record) ([]byte, error) {
	return AppendBatch(nil, opts, records)
}

// scratch holds the uncompressed records section of compressed batches
// while they are being built.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledScratch keeps one huge batch from pinning its buffer in the pool.
const maxPooledScratch = 4 << 20

// AppendBatch is Build appending the batch to dst, for callers that reuse a
// buffer. On error dst is returned unchanged.
func AppendBatch(dst []byte, opts BuildOptions, records []Record) ([]byte, error) {
	if len(records) == 0 {
		return dst, batchErr(ErrInvalidRecordCount, "a batch needs at least one record")
	}
	if int64(len(records)) > math.MaxInt32 {
		return dst, batchErr(ErrTooLarge, "%d records do not fit a batch", len(records))
	}
	if !opts.Codec.Valid() {
		return dst, batchErr(ErrUnknownCodec, "codec %d", int8(opts.Codec))
	}
	base := records[0].Timestamp
	maxTS := base
	for i := range records {
		maxTS = max(maxTS, records[i].Timestamp)
	}

	start := len(dst)
	out, err := appendSection(append(dst, make([]byte, HeaderSize)...), opts.Codec, func(raw []byte) []byte {
		return appendRecords(raw, records, base)
	})
	if err != nil {
		return dst, err
	}
	batchLength, err := batchLengthOf(out, start)
	if err != nil {
		return dst, err
	}

	attrs := int16(opts.Codec)
	if opts.LogAppendTime {
		attrs |= AttrLogAppendTime
	}
	if opts.Transactional {
		attrs |= AttrTransactional
	}
	if opts.Control {
		attrs |= AttrControl
	}
	pid, epoch, seq := int64(NoProducerID), int16(NoProducerID), int32(NoProducerID)
	if p := opts.Producer; p != nil {
		pid, epoch, seq = p.ID, p.Epoch, p.BaseSequence
	}

	putHeader(out[start:], &Header{BaseOffset: opts.BaseOffset, BatchLength: int32(batchLength), PartitionLeaderEpoch: opts.PartitionLeaderEpoch,
		Attributes: attrs, LastOffsetDelta: int32(len(records) - 1), BaseTimestamp: base, MaxTimestamp: maxTS,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, NumRecords: int32(len(records))})
	return out, nil
}

// appendSection appends the records section encode writes, compressed
// with c.
func appendSection(out []byte, c Codec, encode func(raw []byte) []byte) ([]byte, error) {
	if c == CodecNone {
		return encode(out), nil
	}
	bufp := scratch.Get().(*[]byte)
	raw := encode((*bufp)[:0])
	out, err := appendCompressed(out, c, raw)
	if cap(raw) <= maxPooledScratch {
		*bufp = raw
		scratch.Put(bufp)
	}
	return out, err
}

// batchLengthOf returns the batchLength of the batch from start to the end
// of out, refusing one too large for the field.
func batchLengthOf(out []byte, start int) (int64, error) {
	batchLength := int64(len(out)-start) - lengthPrefix
	if batchLength > math.MaxInt32 {
		return 0, batchErr(ErrTooLarge, "batch of %d bytes does not fit the int32 length field", batchLength+lengthPrefix)
	}
	return batchLength, nil
}

// putHeader writes h (magic 2, whatever h.Magic says) at the start of b, a
// whole batch, and the CRC-32C of the batch.
func putHeader(b []byte, h *Header) {
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(b[offBatchLength:], uint32(h.BatchLength))
	be.PutUint32(b[offPartitionLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], uint16(h.Attributes))
	be.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(h.NumRecords))
	putCRC(b)
}

// appendRecords appends the uncompressed encoding of records.
func appendRecords(dst []byte, records []Record, baseTimestamp int64) []byte {
	for i := range records {
		dst = appendRecord(dst, &records[i], records[i].Timestamp-baseTimestamp, int32(i))
	}
	return dst
}

// appendRecord appends the encoding of r with the given deltas.
func appendRecord(dst []byte, r *Record, tsDelta int64, offDelta int32) []byte {
	dst = binary.AppendVarint(dst, int64(recordBodySize(r, tsDelta, offDelta)))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, tsDelta)
	dst = binary.AppendVarint(dst, int64(offDelta))
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytesField(dst, h.Value)
	}
	return dst
}

// recordBodySize is the encoded size of a record after its length prefix.
func recordBodySize(r *Record, tsDelta int64, offDelta int32) int {
	n := 1 + varintSize(tsDelta) + varintSize(int64(offDelta)) +
		bytesFieldSize(r.Key) + bytesFieldSize(r.Value) + varintSize(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintSize(int64(len(h.Key))) + len(h.Key) + bytesFieldSize(h.Value)
	}
	return n
}

func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func bytesFieldSize(b []byte) int {
	if b == nil {
		return 1
	}
	return varintSize(int64(len(b))) + len(b)
}

// varintSize is the size of v as a zigzag varint.
func varintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
