// Package idemwindow lets a partition leader answer a retried HTTP produce
// with the offsets of its first attempt instead of writing it again: the
// broker-side half of the gateway's Idempotency-Key.
//
// The gateway writes every produce that carries an Idempotency-Key as one
// uncompressed RecordBatch per partition whose first record holds the header
// kafkaext.IdempotencyKeyHeader with the key (already scoped by the caller's
// identity; the header name lives in broker/kafkaext so that the gateway
// can name it without importing this package's storage). Because the key is
// stored in the log, the state that deduplicates survives what a
// gateway's memory would not: another gateway copy answering the retry, a
// gateway restart, a broker restart.
//
// An Index is the per-partition memory of recent keys: key → the offsets the
// first append got. The partition calls, under its append lock,
//
//   - FirstKey on the produce request's records (cheap: it reads the first
//     record's headers of an uncompressed batch in place and allocates
//     nothing; compressed batches are never checked, since the gateway does
//     not compress keyed batches),
//   - Check before appending: a hit means a retry, answered with the
//     original base offset and nothing written,
//   - Record after a successful append.
//
// Entries are kept for a window (Options.Window, 24 hours by default) and
// bounded in number (Options.MaxKeys, oldest evicted first). Keys are stored
// as 128-bit SHA-256 prefixes, so memory per entry does not depend on key
// length and no key can be crafted to collide with another.
//
// When a partition opens, Rebuild reads the log tail back to the window's
// start or Options.RebuildBytes, whichever is nearer, and re-indexes the keys
// it finds: that is how the window survives a broker restart. A live entry's
// age counts from when it was recorded (the broker's clock); a rebuilt
// entry's from its batch's largest timestamp, which the gateway sets to the
// produce time unless the client gave explicit timestamps.
//
// A follower that appends replicated batches should pass them to
// RecordBatches, and a truncation should call Forget, so that the index of a
// replica that becomes leader matches its log.
package idemwindow
