package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
)

// castagnoli is the CRC-32C table, built once; crc32 uses the SSE4.2 or
// ARMv8 CRC instructions for it where the CPU has them.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Validate checks that b is exactly one whole, intact v2 batch and returns its
// header. It checks, in order: the header is present, magic is 2, batchLength
// is sane and matches len(b), the batch is at most maxBatchBytes bytes, the
// CRC-32C matches, the codec is known, and the record count is at least one
// and equals lastOffsetDelta+1. The CRC comes before the field checks so
// that damaged bytes are reported as ErrCorrupt, and a well-formed batch
// with bad fields as the specific error.
//
// Validate reads the records section only to checksum it; it does not
// decompress or decode records (see Records). It is safe for concurrent use
// and allocates nothing unless it returns an error, so it can run on every
// append.
//
// Attribute bits above the control bit are not checked: Kafka's compaction
// uses bit 6 to mark a delete horizon. A maxBatchBytes of zero or less means
// no limit.
//
// The count check matches what Kafka requires of produced batches. Batches
// rewritten by compaction may have gaps, so a reader of compacted data
// should use ParseHeader and VerifyCRC instead.
func Validate(b []byte, maxBatchBytes int) (Header, error) {
	h, err := validateFrame(b, maxBatchBytes)
	if err != nil {
		return Header{}, err
	}
	if h.NumRecords < 1 {
		return Header{}, batchErr(ErrInvalidRecordCount, "record count %d is below 1", h.NumRecords)
	}
	if int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return Header{}, batchErr(ErrInvalidRecordCount, "record count %d does not match lastOffsetDelta %d", h.NumRecords, h.LastOffsetDelta)
	}
	return h, nil
}

// validateFrame is what Validate and ValidateStored share: the header,
// framing, size, CRC-32C and codec.
func validateFrame(b []byte, maxBatchBytes int) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Header{}, err
	}
	if err := checkWhole(&h, len(b)); err != nil {
		return Header{}, err
	}
	if maxBatchBytes > 0 && len(b) > maxBatchBytes {
		return Header{}, batchErr(ErrTooLarge, "batch is %d bytes, limit is %d", len(b), maxBatchBytes)
	}
	if err := verifyCRC(b, h.CRC); err != nil {
		return Header{}, err
	}
	if c := h.Codec(); !c.Valid() {
		return Header{}, batchErr(ErrUnknownCodec, "attributes 0x%04x name codec %d", uint16(h.Attributes), int8(c))
	}
	return h, nil
}

// VerifyCRC checks the CRC-32C of the whole batch b (len(b) must equal the
// size its header gives) without the record count and size checks Validate
// adds. It allocates nothing unless it fails.
func VerifyCRC(b []byte) error {
	h, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if err := checkWhole(&h, len(b)); err != nil {
		return err
	}
	return verifyCRC(b, h.CRC)
}

// checkWhole checks that a buffer of n bytes holds exactly the batch whose
// header is h: fewer bytes is a truncation, more is a framing error.
func checkWhole(h *Header, n int) error {
	size := int64(lengthPrefix) + int64(h.BatchLength)
	if int64(n) < size {
		return batchErr(ErrTruncated, "batchLength %d needs %d bytes, have %d", h.BatchLength, size, n)
	}
	if int64(n) > size {
		return batchErr(ErrCorrupt, "%d bytes follow the batch, whose batchLength %d makes it %d bytes", int64(n)-size, h.BatchLength, size)
	}
	return nil
}

func verifyCRC(b []byte, stored uint32) error {
	if computed := crc32.Checksum(b[offAttributes:], castagnoli); computed != stored {
		return batchErr(ErrCorrupt, "crc mismatch: stored 0x%08x computed 0x%08x", stored, computed)
	}
	return nil
}

// putCRC computes and stores the CRC of the whole batch b.
func putCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}
