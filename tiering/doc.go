// Package tiering keeps closed log segments in object storage so a topic can
// retain far more history than the broker's disk holds.
//
// The foundation is [Store], a deliberately small object-store interface:
// create-only Put with a checksum, ranged Get, Stat, List by prefix and an
// idempotent Delete. Two implementations pass one acceptance suite
// (package tiering/storetest):
//
//   - [S3Store] speaks to any S3-compatible server through minio-go. Large
//     objects go up as multipart uploads; every write carries
//     `If-None-Match: *`, so an object, once written, can never be replaced
//     (a deposed partition leader's late upload fails with [ErrExists]).
//     Calls are retried with capped exponential backoff, each attempt under
//     its own timeout.
//   - [DirStore] keeps objects as files under a local directory (for
//     `runnel dev --tier-dir`): written to a temporary file, fsynced, then
//     hard-linked into place, which fails rather than overwrites.
//
// Integrity: Put computes the CRC-32C (Castagnoli) of the bytes before sending
// them and stores it with the object (S3 user metadata
// x-amz-meta-runnel-crc32c; a header in the local file). S3 bodies go with
// that CRC-32C in x-amz-checksum-crc32c, which the server verifies, and
// UNSIGNED-PAYLOAD (requests are still SigV4-signed; their bodies are not
// hashed with SHA-256 on either side). A Get of a whole
// object recomputes it while the caller reads and fails the final Read with
// [ErrChecksum] when they differ, so damage in the bucket is never passed on
// silently. Ranged reads cannot be checked against a whole-object checksum;
// segment data carries its own RecordBatch CRCs for that.
//
// Keys are slash-separated paths of printable segments; see [ValidateKey].
// Uploading segments, recording them in raftmeta and reading them back are
// built on top of Store.
//
// Reading back: a [Reader] serves record batches of a remote segment
// (metadata.RemoteSegment) from any offset in it. It fetches the segment's
// offset index once (whole, so its checksum is verified) and keeps it in
// memory within a bound; it reads segment.log in aligned chunks (1 MiB by
// default) with ranged Gets, through a bounded on-disk cache of chunk files
// (least recently used evicted, each written to a temporary file and
// renamed, each carrying the CRC-32C of its bytes: a damaged file is
// dropped and fetched again, never served) and a few recent chunks in
// memory. Concurrent reads of one chunk share one fetch and the chunk
// after a read is fetched ahead in the background, so a consumer reading a
// segment from its start fetches each chunk once. Ranged reads cannot be
// checked against the object's checksum, so every batch is checked before
// it is returned: its header, its offsets (inside the segment, never going
// back) and its CRC-32C; anything else is [ErrRemoteData]. A missing or
// inconsistent index is passed over (the log is scanned from its start):
// indexes are derived data.
package tiering
