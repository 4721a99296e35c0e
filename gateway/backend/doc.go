// Package backend is the gateway's way into the cluster: it produces,
// fetches, lists offsets and administers topics over the Kafka protocol with
// franz-go (kgo for produce, raw Fetch requests to partition leaders for
// reads, kadm for admin), following Metadata to partition leaders. It keeps
// no state that a restart or a second gateway would lose.
//
// Every error it returns for something the client did or can retry is an
// *apierr.Error with the status and code the REST API sends (404
// topic_not_found, 416 offset_out_of_range with both bounds, 409
// topic_exists, 503 unavailable with Retry-After, ...). errors.go holds the
// one table from Kafka error codes to those.
//
// # Produce
//
// Requests are checked before anything is written: the topic must exist
// (a small metadata cache, asked again on a miss and never allowed to
// auto-create a topic) and every named partition too, so a request is either
// refused whole or written. Events then go through one franz-go producer
// per acks level, made on first use: acks=all is idempotent (franz-go's own
// retries never duplicate), acks=1 and 0 are plain. A custom partitioner
// honours an event's partition, sends keyed events where Kafka's Java client
// would (murmur2) and spreads keyless ones round-robin.
//
// With a broker in the gateway's own process (Config.Local, which "runnel
// dev" sets), a produce without an Idempotency-Key is a function call
// instead (produce_local.go): the events of the partitions that broker
// leads go in one call, one batch per partition, that the broker serves
// as its Kafka listener would a ProduceRequest (broker.Broker.ProduceLocal),
// with no TCP hop, no franz-go, no request message and no goroutine;
// partitions are chosen as the partitioner chooses them and answers mapped
// by the same table. Events for partitions it does not lead, or that it
// turns away before appending, go through franz-go; a batch it may have
// appended is never sent again.
//
// A produce with an Idempotency-Key takes another path, described in
// idempotent.go: one uncompressed batch per partition, tagged with the key,
// deduplicated by the partition leader (broker/idemwindow; the header name
// is kafkaext.IdempotencyKeyHeader, shared with the broker without its storage), and read back so
// that a retry is answered with the first answer, stored timestamps included.
//
// # Fetch
//
// Fetch goes through the KafkaSource that Source returns (shared with the
// WebSocket hub, for which it is a fanout.Source) with a per-call long-poll
// wait. KafkaSource sends raw Fetch requests to partition leaders, decodes
// the record batches into event.Records, and turns damaged stored data into
// an *event.UnreadableError that names the lost offsets.
//
// When Config.Local is a broker in the gateway's own process that serves
// reads in-process (a LocalFetcher: "runnel dev" attaches its broker),
// Source is a LocalSource instead: the partitions that broker leads are
// read with function calls into its own Fetch and ListOffsets handlers,
// their record batches copied out of the log files rather than sent with
// sendfile, and decoded as the KafkaSource decodes them; a read at the high
// watermark waits on the partition's log and reads once it moves. Every
// other partition (led by another broker, or moving) still goes through
// the KafkaSource. So a new event reaches the WebSocket hub's tail with
// one wake-up and no Kafka round trip over TCP.
//
// # Topics
//
// A described topic's Config holds every config with its effective value,
// broker defaults included, so a reader sees what applies; a PATCH that
// deletes a key shows its default again. Partitions carry leader, replicas,
// in-sync replicas, log start offset and high watermark (-1 for the offsets
// when the partition's leader cannot say).
package backend
