// Package producerstate keeps the idempotent-producer state of one partition,
// as Kafka's ProducerStateManager does: for every producer id that wrote to
// the partition, its current epoch and the sequence numbers and offsets of
// its last five batches. With it the partition leader turns a producer's
// retries into exactly-once writes.
//
// # Checking appends
//
// The leader calls Manager.Check for each produced batch before appending it
// and Manager.Update after the append, both under the partition's append
// lock. Check applies Kafka's rules: an epoch below the producer's current one
// is fenced (INVALID_PRODUCER_EPOCH); a higher epoch must start at sequence 0;
// within an epoch each batch's first sequence must follow the last one, with
// int32 wrap-around from MaxInt32 to 0 (OUT_OF_ORDER_SEQUENCE_NUMBER). A batch
// whose sequence range equals one of the five retained batches is a retry of
// a request whose answer was lost: Check reports a Duplicate carrying the
// original offsets, and the leader answers with them without writing. A
// producer the partition has no state for (a new one, or one whose state
// went with its batches by retention or expired) must start at sequence 0;
// another first sequence is UNKNOWN_PRODUCER_ID, as in Kafka 1.0 to 2.4, and
// the produce answer's log start offset lets the client tell retention (it
// restarts its sequences under a new epoch) from lost records. Kafka 2.5+
// (KIP-360) accepts any first sequence instead, which hides a lost first
// write. A request with several batches is checked with an Append,
// each batch against the state including the ones before it, and applied
// with Append.Commit once written. Refusals are *ProducerError values that
// unwrap to the franz-go kerr error the produce response carries.
//
// # Snapshots and recovery
//
// The state is derived from the log: every batch header carries producer id,
// epoch, base sequence and offsets, so the state can always be rebuilt by
// replaying headers (without reading records). Snapshots bound that replay.
// TakeSnapshot, called when a segment rolls and on clean shutdown, writes
// <log end offset, 20 digits>.snapshot into the partition directory, whole
// (diskfs.WriteFileAtomic: temporary file, fsync, rename, fsync of the
// directory; Options.FS is the seam tests fail), versioned and
// protected by a CRC-32C; the newest two are kept. Load reads the newest
// snapshot at or below the log end offset, falling back to older ones (and
// moving damaged ones aside as <name>.corrupt) and finally to the log start,
// then replays the log from the snapshot's offset; ranges the log reports
// unreadable are skipped. TruncateTo deletes snapshots above the new log end
// and rebuilds the state the same way when truncated batches had been
// applied. Unlike Kafka's snapshots, which keep only each producer's last
// batch, these keep all five, so that a retry is still recognized as a
// duplicate after a restart.
//
// # Expiration
//
// A producer idle for longer than producer.id.expiration.ms (Options.
// Expiration, a day by default), measured from its last batch's timestamp as
// in Kafka, is forgotten by RemoveExpired, which the broker calls
// periodically, and skipped by Load. Producers whose last batch is below the
// log start offset are dropped on load.
//
// # Concurrency
//
// The caller serializes the calls that decide on or change the state (Check,
// NewAppend and the Append's methods, Update, TakeSnapshot, TruncateTo,
// RemoveExpired), normally by holding the partition's append lock. Producer, Producers and Len are
// safe to call from any goroutine at any time.
package producerstate
