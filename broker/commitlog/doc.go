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
// short walk over batch headers, read with pread. Each segment's file is
// reference-counted: the log holds one reference while the segment is part
// of it, and a read result one per slice until it is released (so does any
// scan that runs without the log's lock). Retention, DeleteRecords and Close
// take segments out of the log and unlink their files at once, but a file
// closes only with its last reference, so a fetch response still being sent
// from a deleted segment sends exactly the bytes it was given. Reader
// decodes records for tools and gateways. Waiters for new data (long-poll fetch) park on a channel
// that the next append or high-watermark move closes.
//
// # Durability and recovery
//
// Appends are written with one pwrite into the page cache. Append and
// AppendReplica validate what they are given (framing, size, CRC-32C);
// AppendBatches takes batches its caller validated, with their parsed
// headers (the broker checks every produced batch fully before it appends
// it), and writes several of them (the produce requests a client pipelined)
// with one pwritev, rolling between them where appending them one by one
// would, which costs less per byte than a pwrite each. By default nothing
// is fsynced on the append path (flush.messages and flush.ms change that), as
// in Kafka, where replication carries durability. A Store owns a data
// directory: it checkpoints recovery points, high watermarks and log start
// offsets, and marks a clean shutdown.
//
// Every open gives every segment a quick check: index files of whole entries
// that point inside the log, and the batch headers after the last index
// entry continuing from it to the end of the file, where the next segment
// starts. After a crash, every segment from the one holding the recovery
// point is re-read whole, each batch's framing, CRC and offsets checked, and
// so is any segment that fails its quick check or was quarantined before.
// A segment trusted after a quick check is re-read whole by the first read
// that needs it, before anything of it is served.
//
// Recovery cuts only a torn tail: bytes after the active segment's last good
// batch in which no valid batch follows. Damage anywhere else (a bad CRC,
// garbage or zeroes over batches, a cut or emptied file, bytes appended past
// a sealed segment's last batch, a gap or overlap with the next segment, a
// segment file missing) never deletes or cuts anything: the segment is
// quarantined. Its readable prefix is served; the offsets from its first
// unreadable batch to the next segment's base form an unreadable range,
// logged at error level with the file, byte position and offsets, listed by
// UnreadableRanges and recorded in the quarantine-checkpoint so that every
// later open re-reads the segment. Damage in the active segment with valid
// batches after it quarantines it whole, and appends go on in a new segment
// after the last batch found, so no offset is given out twice. Reads at an
// offset in an unreadable range get an *UnreadableRangeError (errors.Is
// ErrUnreadable) naming the range; a read from before it returns the batches
// before it. Reads that run into damage the checks missed (bytes changed on
// disk later) re-read the segment and quarantine it the same way. Indexes
// are derived data: damage found in them alone rebuilds them. A damaged
// leader-epoch-checkpoint is moved aside (<name>.corrupt) and rebuilt from
// the partition leader epochs in the batch headers, as is a missing one.
//
// A failed write or fsync (a full disk, a failing device) makes the log
// refuse writes with ErrLogFailed at once. The next write, or the flusher,
// retries with backoff: it cuts what a failed write left past the last
// acknowledged batch, checks the batches before it, reserves room for the
// next writes (so a disk still full fails the retry, not a write), writes
// again and fsyncs the bytes an fsync failed on, and then accepts writes;
// StorageError says whether it still refuses. Index files are memory-mapped,
// and a store into a hole of a file on a full disk kills a process with
// SIGBUS, so their blocks are reserved (fallocate) before an append writes a
// byte. Every change to a file or directory (creation, write, truncation,
// fsync, reservation, rename, removal) goes through the diskfs.FS seam
// (Options.FS, StoreOptions.FS); faultfs fails chosen ones in tests.
//
// # Retention
//
// DeleteExpired removes whole closed segments, oldest first, by time (the
// segment's largest timestamp against retention.ms) and by size
// (retention.bytes); the active segment is never removed. DeleteRecordsBefore
// moves the log start offset (Kafka's DeleteRecords). Reads below the log
// start get an *OffsetOutOfRangeError carrying both bounds. A compact-only
// log (cleanup.policy=compact) applies no time or size retention.
//
// # Compaction
//
// A Cleaner compacts a log with Options.Compact (cleanup.policy compact or
// compact,delete), keeping the last record of every key (cleaner.go). It
// never touches the active segment, segments past the high watermark or
// the recovery point (not committed or not fsynced), damaged ones, or
// records newer than min.compaction.lag.ms; it runs when the dirty share of
// the cleanable bytes reaches min.cleanable.dirty.ratio, or when a kept
// tombstone's delete horizon passed. A run maps the 128-bit hash of every
// key from the first dirty offset (the cleaner-offset-checkpoint) to the
// offset of its last record, in a fixed-size open-addressing table of 24
// bytes a key bounded by log.cleaner.dedupe.buffer.size (offsetmap.go);
// when it fills, the run stops mapping at a batch boundary and the next run
// goes on from there. It then rewrites, oldest first, every closed segment
// from the log start: a record goes when a later record of its key is
// mapped, when it has no key (as in Kafka), or when it is a tombstone past
// its delete horizon. Batches keep their offsets, producer fields, leader
// epoch and codec; a batch whose records all go stays as an empty batch
// (its header alone), and runs of empty batches merge into one
// (recordbatch.MergeEmpty), so offsets stay dense at the batch level and
// every read, index and recovery check works as before: a reader at a
// removed offset gets the batch holding it and moves on to the next record
// kept. A tombstone's batch is stamped with a delete horizon (KIP-534:
// attribute bit 6, the base timestamp) the first time it is cleaned; the
// tombstone goes in the first run after it. Each cleaned segment is
// written beside the old one (.cleaned), fsynced, and swapped in by
// renames (cleaner_swap.go): a crash at any point leaves the old segment
// or the new one, and the next open completes or rolls back the swap.
package commitlog
