// Package recordbatch reads and writes Kafka RecordBatch v2 ("magic 2"), the
// unit in which producers send records, the log stores them and consumers
// fetch them.
//
// Runnel keeps batches exactly as producers sent them: the log appends the
// producer's bytes after stamping the base offset and partition leader epoch
// into the header (SetBaseOffset, SetPartitionLeaderEpoch). Both fields sit
// before the CRC-covered region, so neither write invalidates the checksum and
// no record is re-encoded on the write path. Consumers later receive the same
// bytes, compressed or not.
//
// The package has three layers, from cheapest to most expensive:
//
//   - Framing: ParseHeader reads the fixed 61-byte header and Next splits a
//     buffer of concatenated batches (a produce request's records, a segment
//     file region) into whole batches. A buffer that stops partway through a
//     batch yields ErrTruncated, which the log uses to tell a torn tail after
//     a crash from corruption.
//   - Validation: Validate checks one whole batch, the CRC-32C included,
//     without decoding records. It runs on every append, so it allocates
//     nothing on success and costs little more than the checksum.
//     ValidateProduced adds what Kafka's log validator checks of a batch a
//     producer sent before the broker stores it: it decompresses once and
//     walks every record (lengths, varints, offset deltas 0..n-1, the
//     count, the topic's timestamp window), so that no batch a reader
//     cannot decode is ever stored. SetMaxTimestamp then stamps the
//     records' real max timestamp, or the broker's clock for
//     LogAppendTime topics.
//   - Records: Records and DecodeRecords decompress (gzip, snappy raw or
//     xerial-framed, lz4 frames, zstd) and decode the records, for the
//     protocol server, the HTTP gateway and compaction. Decompression is
//     bounded by DecodeOptions.MaxDecompressedBytes, and every length and
//     varint is checked, so hostile input yields an error, never a panic, an
//     out-of-bounds read or an unbounded allocation.
//
// Build and AppendBatch write batches, for tests and for records the broker
// writes itself (control markers, internal topics).
//
// Every error wraps one of the sentinel errors (ErrCorrupt, ErrTruncated,
// ErrTooLarge, ErrUnsupportedMagic, ErrInvalidRecordCount, ErrUnknownCodec,
// ErrInvalidRecord, ErrInvalidTimestamp) through a *BatchError whose Reason
// names the fields and values at fault, and whose Records name the records
// at fault when single records are. Classify with errors.Is; the sentinels'
// docs say what to do about each.
package recordbatch
