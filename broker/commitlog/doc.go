// Package commitlog is Runnel's partition log engine: one append-only log of
// Kafka RecordBatch v2 bytes per partition directory, as Kafka stores it.
//
// # Layout
//
// A log is a sequence of segments named by their base offset (20 digits). Each
// segment has a .log file holding whole batches back to back, byte for byte as
// producers sent them (the leader only stamps the base offset and its leader
// epoch into the header, both outside the CRC); a sparse .index mapping
// relative offsets to file positions, one entry per index.interval.bytes; and
// a .timeindex mapping the largest timestamp so far to a relative offset. The
// active segment's indexes are preallocated and memory-mapped read-write; when
// a segment rolls (segment.bytes, segment.ms, a full index) its indexes are
// trimmed and mapped read-only, and it is fsynced in the background, after
// which the recovery point moves past it. The leader-epoch-checkpoint records
// where each leader epoch began, for OffsetForLeaderEpoch.
//
// # Reads
//
// Read does not read record bytes: it returns FileSlices — file, position,
// length of whole batches — so that a broker can hand them to sendfile(2) at
// an explicit offset. An offset is found by a binary search of the index and a
// short walk over batch headers, read with pread. Reader decodes records for
// tools and gateways. Waiters for new data (long-poll fetch) park on a channel
// that the next append or high-watermark move closes.
//
// # Durability and recovery
//
// Appends are written with one pwrite into the page cache; AppendEach writes
// several record sets (the produce requests a client pipelined) with one
// pwritev, rolling between them where appending them one by one would, which
// costs less per byte than a pwrite each. By default nothing
// is fsynced on the append path (flush.messages and flush.ms change that), as
// in Kafka, where replication carries durability. A Store owns a data
// directory: it checkpoints recovery points, high watermarks and log start
// offsets, and marks a clean shutdown. After a crash, every segment from the
// one holding the recovery point is re-read: each batch's CRC, lengths and
// offsets are checked, the file is cut at the first torn or corrupt batch,
// later segments are dropped, and the indexes are rebuilt. Indexes of other
// segments are sanity-checked and rebuilt when damaged. A failed write or
// fsync makes the log refuse writes until it is reopened.
//
// # Retention
//
// DeleteExpired removes whole closed segments, oldest first, by time (the
// segment's largest timestamp against retention.ms) and by size
// (retention.bytes); the active segment is never removed. DeleteRecordsBefore
// moves the log start offset (Kafka's DeleteRecords). Reads below the log
// start get an *OffsetOutOfRangeError carrying both bounds.
package commitlog
