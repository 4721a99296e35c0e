package recordbatch

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// NoTimestamp is the timestamp of a record that has none (-1). Timestamp
// checks skip it, and it is the max timestamp of a batch whose records all
// lack one, as in Kafka.
const NoTimestamp = -1

// NoTimestampLimit, as a ProduceRules timestamp bound, accepts any timestamp
// on that side of the broker's clock: Kafka's Long.MAX_VALUE.
const NoTimestampLimit = math.MaxInt64

// DefaultTimestampAfterMax is Kafka's default message.timestamp.after.max.ms
// (since Kafka 4.0): a record may be stamped at most an hour ahead of the
// broker's clock. message.timestamp.before.max.ms defaults to no limit.
const DefaultTimestampAfterMax = time.Hour

// ProduceRules are what a topic asks of the batches producers write to it
// beyond being well formed: Kafka's max.message.bytes and message.timestamp.*
// topic configs. Start from DefaultProduceRules: in the zero value both
// timestamp bounds are 0, which Kafka reads as "exactly the broker's clock".
type ProduceRules struct {
	// MaxBatchBytes is max.message.bytes, the largest batch accepted; zero
	// or less means no limit.
	MaxBatchBytes int
	// Decode bounds the decompression of compressed batches. Use the limit
	// the log's readers use, so that whatever is accepted can be read.
	Decode DecodeOptions
	// LogAppendTime is message.timestamp.type=LogAppendTime: the broker
	// stamps its clock into each batch (SetMaxTimestamp), so the producer's
	// timestamps are not checked.
	LogAppendTime bool
	// Now is the broker's clock, in milliseconds since the epoch.
	Now int64
	// TimestampBeforeMax and TimestampAfterMax are
	// message.timestamp.before.max.ms and message.timestamp.after.max.ms: how
	// many milliseconds before and after Now a record's create time may be.
	// NoTimestampLimit means any; negative values count as 0.
	TimestampBeforeMax, TimestampAfterMax int64
	// RequireKeys is set for a compacted topic (cleanup.policy has
	// compact): a record without a key is refused (ErrInvalidRecord), as
	// Kafka refuses it, since compaction keeps records by key.
	RequireKeys bool
}

// DefaultProduceRules returns Kafka's defaults at the broker time now: no
// size limit, CreateTime, timestamps at most DefaultTimestampAfterMax ahead
// and any time before.
func DefaultProduceRules(now time.Time) ProduceRules {
	return ProduceRules{
		Now:                now.UnixMilli(),
		TimestampBeforeMax: NoTimestampLimit,
		TimestampAfterMax:  DefaultTimestampAfterMax.Milliseconds(),
	}
}

// Produced describes a batch that ValidateProduced accepted.
type Produced struct {
	// Header is the batch's header, as sent.
	Header Header
	// MaxTimestamp is the largest timestamp among the batch's records, or
	// NoTimestamp when none has one. Kafka stores it as the batch's max
	// timestamp whatever the producer wrote there (see SetMaxTimestamp).
	MaxTimestamp int64
}

// ValidateProduced checks a batch a producer sent, fully, before the broker
// appends it, as Kafka's LogValidator does, so that nothing stored can stop
// a reader later. b must be one whole batch. On top of Validate (framing,
// size, CRC-32C, codec, record count) it refuses:
//
//   - a control batch, which only the broker writes, and a producer id
//     without a base sequence (ErrInvalidRecord);
//   - a compressed records section that does not decompress within
//     rules.Decode's limit (ErrCorrupt, ErrTooLarge);
//   - any record that is malformed (lengths, varints, a null header key,
//     bytes left over), whose offset delta is not its position in the batch
//     (0, 1, 2, ...), or records that do not fill the records section
//     exactly or number other than the header says (ErrInvalidRecord,
//     ErrInvalidRecordCount);
//   - a record without a key when rules.RequireKeys (ErrInvalidRecord);
//   - the log-append-time type, which only the broker sets, and, on a
//     CreateTime topic, create times outside [Now - TimestampBeforeMax,
//     Now + TimestampAfterMax] (ErrInvalidTimestamp).
//
// Errors are *BatchError values; one about particular records names them in
// Records. ValidateProduced does not modify b. An uncompressed batch is read
// in place, with no allocation unless it is refused; a compressed one is
// decompressed once, into a pooled buffer reused for the next batch.
func ValidateProduced(b []byte, rules ProduceRules) (Produced, error) {
	h, err := Validate(b, rules.MaxBatchBytes)
	if err != nil {
		return Produced{}, err
	}
	if h.IsControl() {
		return Produced{}, batchErr(ErrInvalidRecord, "attributes 0x%04x mark a control batch, which only the broker writes", uint16(h.Attributes))
	}
	if h.ProducerID >= 0 && h.BaseSequence < 0 {
		return Produced{}, batchErr(ErrInvalidRecord, "producer id %d with base sequence %d: an idempotent batch needs a sequence", h.ProducerID, h.BaseSequence)
	}
	data := b[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		limit := rules.Decode.MaxDecompressedBytes
		if limit <= 0 {
			limit = DefaultMaxDecompressedBytes
		}
		buf := decompressBufs.Get().(*[]byte)
		if data, err = decompress(*buf, c, data, limit); err != nil {
			decompressBufs.Put(buf)
			return Produced{}, err
		}
		defer putDecompressBuf(buf, data)
	}
	if int64(h.NumRecords)*minRecordSize > int64(len(data)) {
		return Produced{}, batchErr(ErrInvalidRecordCount, "record count %d cannot fit in %d bytes of records", h.NumRecords, len(data))
	}
	w := rules.window(&h)
	maxTS := int64(NoTimestamp)
	var tsErrs timestampErrors
	var r Record
	off := 0
	for i := int32(0); i < h.NumRecords; i++ {
		if off == len(data) {
			return Produced{}, batchErr(ErrInvalidRecordCount, "record count %d but the records section ends after %d records", h.NumRecords, i)
		}
		rec, next, err := recordAt(data, off, i, ErrInvalidRecord)
		if err != nil {
			return Produced{}, atRecord(err, i)
		}
		off = next
		if err := decodeRecord(&r, rec, i, ErrInvalidRecord, false); err != nil {
			return Produced{}, atRecord(err, i)
		}
		if rules.RequireKeys && r.Key == nil {
			return Produced{}, atRecord(batchErr(ErrInvalidRecord, "record %d: compacted topic cannot accept message without key", i), i)
		}
		if r.OffsetDelta != i {
			return Produced{}, atRecord(batchErr(ErrInvalidRecord,
				"record %d has offset delta %d: the records of a produced batch have offset deltas 0, 1, 2, ...", i, r.OffsetDelta), i)
		}
		ts := h.BaseTimestamp + r.TimestampDelta
		if !w.accepts(ts) {
			tsErrs.add(i, ts, &w)
		}
		maxTS = max(maxTS, ts)
	}
	if off != len(data) {
		return Produced{}, batchErr(ErrInvalidRecordCount, "%d bytes follow the last of %d records", len(data)-off, h.NumRecords)
	}
	if tsErrs.n > 0 {
		return Produced{}, tsErrs.err(h.NumRecords, &w)
	}
	return Produced{Header: h, MaxTimestamp: maxTS}, nil
}

// decompressBufs holds the buffers ValidateProduced decompresses into: the
// records are only checked, never kept, so the memory serves the next batch.
var decompressBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledDecompressBuf caps the buffers decompressBufs keeps, so that one
// batch that decompresses to many megabytes does not stay pinned.
const maxPooledDecompressBuf = 4 << 20

// putDecompressBuf returns buf to the pool, holding used's memory when that
// is small enough to keep.
func putDecompressBuf(buf *[]byte, used []byte) {
	if cap(used) <= maxPooledDecompressBuf {
		*buf = used[:0]
	}
	decompressBufs.Put(buf)
}

// atRecord names record i as the one at fault in err, a *BatchError.
func atRecord(err error, i int32) error {
	if be, ok := err.(*BatchError); ok {
		be.Records = []RecordError{{Index: i, Message: be.Reason}}
	}
	return err
}

// timestampWindow is the range of create times a batch's records may have.
type timestampWindow struct {
	lo, hi    int64
	now       int64
	logAppend bool // the producer set LogAppendTime: no record is accepted
}

// window returns the timestamps the records of h may carry under r.
func (r *ProduceRules) window(h *Header) timestampWindow {
	w := timestampWindow{lo: math.MinInt64, hi: math.MaxInt64, now: r.Now, logAppend: h.TimestampType() == TimestampLogAppend}
	if r.LogAppendTime {
		return w // the broker's clock replaces the producer's timestamps
	}
	if before := max(r.TimestampBeforeMax, 0); before != NoTimestampLimit && r.Now >= math.MinInt64+before {
		w.lo = r.Now - before
	}
	if after := max(r.TimestampAfterMax, 0); after != NoTimestampLimit && r.Now <= math.MaxInt64-after {
		w.hi = r.Now + after
	}
	return w
}

// String gives the window as [lo, hi], an open side as "any".
func (w *timestampWindow) String() string {
	bound := func(b, open int64) string {
		if b == open {
			return "any"
		}
		return strconv.FormatInt(b, 10)
	}
	return "[" + bound(w.lo, math.MinInt64) + ", " + bound(w.hi, math.MaxInt64) + "]"
}

func (w *timestampWindow) accepts(ts int64) bool {
	return !w.logAppend && (ts == NoTimestamp || w.lo <= ts && ts <= w.hi)
}

// timestampErrors collects the records whose timestamps a window refused.
type timestampErrors struct {
	n       int
	records []RecordError
}

//go:noinline
func (e *timestampErrors) add(i int32, ts int64, w *timestampWindow) {
	e.n++
	if len(e.records) == MaxRecordErrors {
		return
	}
	msg := "the producer set the timestamp type LogAppendTime, which only the broker sets"
	if !w.logAppend {
		msg = fmt.Sprintf("timestamp %d is outside %s", ts, w.String())
	}
	e.records = append(e.records, RecordError{Index: i, Message: msg})
}

func (e *timestampErrors) err(n int32, w *timestampWindow) error {
	if w.logAppend {
		return &BatchError{Kind: ErrInvalidTimestamp, Records: e.records,
			Reason: "the batch has the timestamp type LogAppendTime, which only the broker sets"}
	}
	return &BatchError{Kind: ErrInvalidTimestamp, Records: e.records,
		Reason: fmt.Sprintf("%d of %d records have a timestamp outside %s, the window message.timestamp.before.max.ms and message.timestamp.after.max.ms allow around the broker's clock %d",
			e.n, n, w.String(), w.now)}
}

// SetMaxTimestamp stores the timestamp type t and the max timestamp ts in
// the batch b, one whole batch, and in h, its header as parsed, as the
// broker does before appending a produced batch: Kafka keeps the largest
// timestamp the records really hold (Produced.MaxTimestamp), or with
// LogAppendTime the broker's clock, which then stands for every record's
// timestamp. Both fields are covered by the CRC, which is recomputed (in b
// and h) when either changes. It reports whether b changed.
func SetMaxTimestamp(b []byte, h *Header, t TimestampType, ts int64) bool {
	attrs := int16(binary.BigEndian.Uint16(b[offAttributes:]))
	want := attrs &^ AttrLogAppendTime
	if t == TimestampLogAppend {
		want |= AttrLogAppendTime
	}
	if attrs == want && int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) == ts {
		return false
	}
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(want))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	putCRC(b)
	h.Attributes, h.MaxTimestamp, h.CRC = want, ts, binary.BigEndian.Uint32(b[offCRC:])
	return true
}
