package recordbatch

import "math"

// AttrDeleteHorizon marks a batch that log compaction rewrote while it held
// tombstones (KIP-534): its BaseTimestamp field then holds the delete
// horizon, the time after which the cleaner drops its tombstones, and the
// records' timestamp deltas are relative to it.
const AttrDeleteHorizon int16 = 0x40

// HasDeleteHorizon reports whether the batch carries a delete horizon in its
// BaseTimestamp field (see AttrDeleteHorizon).
func (h *Header) HasDeleteHorizon() bool { return h.Attributes&AttrDeleteHorizon != 0 }

// ValidateStored is Validate for batches read back from a log that
// compaction may have rewritten: such a batch keeps its offset span
// (BaseOffset to LastOffset) but may hold fewer records than the span, or
// none (an empty batch kept for its offsets and producer state, as Kafka
// keeps them). It checks framing, size, CRC-32C, the codec and that the
// record count is between 0 and lastOffsetDelta+1.
func ValidateStored(b []byte, maxBatchBytes int) (Header, error) {
	h, err := validateFrame(b, maxBatchBytes)
	if err != nil {
		return Header{}, err
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 || int64(h.NumRecords) > int64(h.LastOffsetDelta)+1 {
		return Header{}, batchErr(ErrInvalidRecordCount, "record count %d does not fit lastOffsetDelta %d", h.NumRecords, h.LastOffsetDelta)
	}
	return h, nil
}

// AppendRewritten appends to dst a copy of the batch whose header is h
// holding only records (decoded from that batch, in order): what log
// compaction writes. The copy keeps the base offset, last offset delta,
// partition leader epoch, max timestamp, producer fields, codec and every
// record's offset delta and timestamp, so offsets, producer state and
// timestamps read the same. With deleteHorizon >= 0 the copy carries it
// (AttrDeleteHorizon) and the record timestamp deltas are recomputed
// against it. With no records the copy is an empty batch: the header
// alone, uncompressed.
func AppendRewritten(dst []byte, h Header, records []Record, deleteHorizon int64) ([]byte, error) {
	if int64(len(records)) > int64(h.LastOffsetDelta)+1 {
		return dst, batchErr(ErrInvalidRecordCount, "%d records for lastOffsetDelta %d", len(records), h.LastOffsetDelta)
	}
	attrs, base := h.Attributes, h.BaseTimestamp
	if deleteHorizon >= 0 && len(records) > 0 {
		attrs |= AttrDeleteHorizon
		base = deleteHorizon
	}
	codec := h.Codec()
	if len(records) == 0 {
		attrs &^= AttrCodecMask
		codec = CodecNone
	}
	start := len(dst)
	out, err := appendSection(append(dst, make([]byte, HeaderSize)...), codec, func(raw []byte) []byte {
		for i := range records {
			// The stored delta is against the old base; the absolute
			// create time is the same whatever the base.
			raw = appendRecord(raw, &records[i], h.BaseTimestamp+records[i].TimestampDelta-base, records[i].OffsetDelta)
		}
		return raw
	})
	if err != nil {
		return dst, err
	}
	batchLength, err := batchLengthOf(out, start)
	if err != nil {
		return dst, err
	}
	hdr := h
	hdr.BatchLength, hdr.Attributes, hdr.BaseTimestamp, hdr.NumRecords = int32(batchLength), attrs, base, int32(len(records))
	putHeader(out[start:], &hdr)
	return out, nil
}

// MergeEmpty returns the empty batch header that spans the empty batches
// a and b, where b directly follows a (b.BaseOffset == a.NextOffset()),
// when one batch can stand for both without changing what a reader, the
// leader epochs or the producer state see: the same partition leader epoch
// and attributes, and either no producer on both or the same producer and
// epoch with b's sequence numbers continuing a's. ok is false otherwise.
func MergeEmpty(a, b Header) (Header, bool) {
	if a.NumRecords != 0 || b.NumRecords != 0 || b.BaseOffset != a.NextOffset() ||
		a.PartitionLeaderEpoch != b.PartitionLeaderEpoch || a.Attributes != b.Attributes ||
		a.ProducerID != b.ProducerID || a.ProducerEpoch != b.ProducerEpoch ||
		b.LastOffset()-a.BaseOffset > math.MaxInt32 {
		return a, false
	}
	if a.ProducerID != NoProducerID {
		next := int64(a.BaseSequence) + int64(a.LastOffsetDelta) + 1
		if a.BaseSequence < 0 || int64(b.BaseSequence) != next || next+int64(b.LastOffsetDelta) > math.MaxInt32 {
			return a, false
		}
	}
	m := a
	m.LastOffsetDelta = int32(b.LastOffset() - a.BaseOffset)
	m.MaxTimestamp = max(a.MaxTimestamp, b.MaxTimestamp)
	return m, true
}
