package recordbatch

import (
	"encoding/binary"
	"io"
	"strconv"
)

// HeaderSize is the size in bytes of a v2 batch header, which precedes the
// records section.
const HeaderSize = 61

// Magic is the only batch format version this package reads and writes.
const Magic = 2

// lengthPrefix is the number of bytes before and including batchLength
// (baseOffset and batchLength); batchLength counts everything after it.
const lengthPrefix = 12

// minBatchLength is the smallest sane batchLength: a header with no records.
const minBatchLength = HeaderSize - lengthPrefix

// Byte offsets of the header fields.
const (
	offBaseOffset           = 0
	offBatchLength          = 8
	offPartitionLeaderEpoch = 12
	offMagic                = 16
	offCRC                  = 17
	offAttributes           = 21
	offLastOffsetDelta      = 23
	offBaseTimestamp        = 27
	offMaxTimestamp         = 35
	offProducerID           = 43
	offProducerEpoch        = 51
	offBaseSequence         = 53
	offRecordCount          = 57
)

// Attribute bits of a batch.
const (
	// AttrCodecMask selects the compression codec bits (0-2).
	AttrCodecMask int16 = 0x07
	// AttrLogAppendTime marks timestamps as assigned by the broker.
	AttrLogAppendTime int16 = 0x08
	// AttrTransactional marks a batch written inside a transaction.
	AttrTransactional int16 = 0x10
	// AttrControl marks a control batch (transaction commit/abort marker).
	AttrControl int16 = 0x20
)

// NoProducerID is the producer id, epoch and sequence value (-1) of a batch
// written by a producer that is neither idempotent nor transactional.
const NoProducerID = -1

// Codec is a batch compression codec, as stored in attribute bits 0-2.
type Codec int8

// The codecs Kafka defines.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns the codec's Kafka name ("none", "gzip", ...).
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return "unknown(" + strconv.Itoa(int(c)) + ")"
}

// Valid reports whether c is one of the five codecs Kafka defines.
func (c Codec) Valid() bool { return c >= CodecNone && c <= CodecZstd }

// TimestampType says who assigned a batch's timestamps.
type TimestampType int8

const (
	// TimestampCreate means the producer set the timestamps.
	TimestampCreate TimestampType = 0
	// TimestampLogAppend means the broker set MaxTimestamp on append and
	// it applies to every record of the batch.
	TimestampLogAppend TimestampType = 1
)

// String returns "CreateTime" or "LogAppendTime", as Kafka names them.
func (t TimestampType) String() string {
	if t == TimestampLogAppend {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// Header is the decoded 61-byte header of a v2 record batch.
type Header struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the BatchLength field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32 // CRC-32C of the bytes from Attributes to the end
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Codec returns the compression codec named by the attributes. It may be an
// unknown value for a batch that has not been validated; see Codec.Valid.
func (h *Header) Codec() Codec { return Codec(h.Attributes & AttrCodecMask) }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsControl reports whether the batch is a control batch.
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// TimestampType reports whether timestamps are create or log-append times.
func (h *Header) TimestampType() TimestampType {
	if h.Attributes&AttrLogAppendTime != 0 {
		return TimestampLogAppend
	}
	return TimestampCreate
}

// CodecOf returns the codec named by the attributes of the batch at the
// start of b, which must hold a header's worth of bytes with magic 2 (a
// batch Next returned), without parsing the rest: for the request-level
// check Kafka makes before a batch is validated (zstd needs produce v7).
func CodecOf(b []byte) Codec {
	return Codec(int16(binary.BigEndian.Uint16(b[offAttributes:])) & AttrCodecMask)
}

// Size returns the size in bytes of the whole batch, header included.
func (h *Header) Size() int { return lengthPrefix + int(h.BatchLength) }

// LastOffset returns the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset returns the offset that follows the batch's last record.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// ParseHeader decodes the header at the start of b, which must hold at least
// HeaderSize bytes; bytes past the header are not read. It checks the magic
// byte and that BatchLength is at least a header's worth, but not the CRC or
// anything else: use Validate for a whole batch. It never panics and does not
// allocate unless it fails.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		if err := checkPrefix(b); err != nil {
			return Header{}, err
		}
		return Header{}, batchErr(ErrTruncated, "header needs %d bytes, have %d", HeaderSize, len(b))
	}
	b = b[:HeaderSize]
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offPartitionLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if h.Magic != Magic {
		return Header{}, errMagic(h.Magic)
	}
	if h.BatchLength < minBatchLength {
		return Header{}, errBatchLength(h.BatchLength)
	}
	return h, nil
}

// checkPrefix checks the magic byte and batchLength of a buffer too short to
// hold a header, as far as they are present, so that garbage is reported as
// corruption rather than as a torn tail.
func checkPrefix(b []byte) error {
	if len(b) > offMagic && int8(b[offMagic]) != Magic {
		return errMagic(int8(b[offMagic]))
	}
	if len(b) >= lengthPrefix {
		if l := int32(binary.BigEndian.Uint32(b[offBatchLength:])); l < minBatchLength {
			return errBatchLength(l)
		}
	}
	return nil
}

//go:noinline
func errMagic(m int8) error {
	return batchErr(ErrUnsupportedMagic, "magic byte is %d, want %d", m, Magic)
}

//go:noinline
func errBatchLength(l int32) error {
	return batchErr(ErrCorrupt, "batchLength %d is below the minimum %d", l, minBatchLength)
}

// Next splits the first batch off buf, a sequence of concatenated batches
// such as a produce request's records field or a region of a segment file.
// It checks the framing only (magic and lengths); each batch must still be
// passed to Validate before it is trusted.
//
// Next returns io.EOF when buf is empty and an error wrapping ErrTruncated
// when buf ends partway through a batch, so that a torn tail can be told
// apart from corruption (ErrCorrupt, ErrUnsupportedMagic). batch and rest
// alias buf.
func Next(buf []byte) (batch, rest []byte, err error) {
	if len(buf) == 0 {
		return nil, nil, io.EOF
	}
	if len(buf) < HeaderSize {
		if err := checkPrefix(buf); err != nil {
			return nil, buf, err
		}
		return nil, buf, batchErr(ErrTruncated, "%d trailing bytes are shorter than a %d-byte batch header", len(buf), HeaderSize)
	}
	if err := checkPrefix(buf[:HeaderSize]); err != nil {
		return nil, buf, err
	}
	size := lengthPrefix + int64(int32(binary.BigEndian.Uint32(buf[offBatchLength:])))
	if int64(len(buf)) < size {
		return nil, buf, batchErr(ErrTruncated, "batch needs %d bytes, have %d", size, len(buf))
	}
	return buf[:size:size], buf[size:], nil
}

// SetBaseOffset overwrites the base offset of the batch at the start of b,
// as the log does when it assigns offsets on append. The field is outside the
// CRC, so the batch stays valid. b must hold at least HeaderSize bytes.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:offBaseOffset+8], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the partition leader epoch of the batch
// at the start of b. The field is outside the CRC, so the batch stays valid.
// b must hold at least HeaderSize bytes.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:offPartitionLeaderEpoch+4], uint32(epoch))
}
