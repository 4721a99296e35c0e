// Package broker serves the Kafka protocol over the partitions one Runnel
// broker holds. Node wires the three parts of a broker process together: the
// metadata member (raftmeta), the Broker, and the protocol server
// (kafkaserver), which calls Broker.Handle and Broker.HandleBatch.
//
// # Handlers
//
// Each Kafka API lives in a file named after it (produce.go, fetch.go,
// list_offsets.go, ...) whose init registers its handler and the versions it
// supports in one table; APIs gives the server that table and Handle looks
// handlers up in it. A handler turns every failure into the Kafka error code
// of its partition (errors.go maps the sentinel errors of commitlog,
// recordbatch, metadata and the controller to kerr codes) and never fails the
// whole request for one partition.
//
// # Partitions
//
// A partition is one partition this broker holds a replica of: its log
// (partitionLog, a commitlog.Log), its idempotent-producer state
// (producerstate), its recent HTTP Idempotency-Keys (idemwindow), and the
// metadata image's view of it (leader, leader epoch, ISR, topic config and
// the produce rules derived from it) in an atomic pointer that handlers read
// without a lock. Requests are answered as leader only; a client's leader
// epoch is checked against the image's (FENCED_LEADER_EPOCH,
// UNKNOWN_LEADER_EPOCH).
//
// # Replication
//
// Followers pull (replica_manager.go, replica_fetcher.go): one fetcher
// goroutine per leader broker, over one connection (peer_client.go, franz-go's
// kmsg framing), batches every partition this broker follows from that
// leader into one Fetch v15 carrying its broker id and epoch (ReplicaState).
// A partition that follows a new leader or epoch first asks OffsetForLeaderEpoch
// for its latest epoch and truncates its divergent tail (KIP-101, KIP-279);
// fetched batches are appended with their offsets and epochs unchanged, CRC
// checked (commitlog.Log.AppendReplica), and the producer state learns each
// one, so that a follower that takes over deduplicates retries. The address
// of a leader is the one it registered, unless Config.PeerKafkaAddrs names
// another (the fault harness routes replication through proxies).
//
// A leader serves follower fetches past the high watermark up to its log
// end, with sendfile like consumer fetches (counted apart:
// runnel_broker_replica_fetch_sendfile_bytes_total), and records each
// follower's fetch offset as its log end (replica_state.go). The high
// watermark is the least log end of the ISR and never moves back; a
// follower takes min(leader's, its own log end). runISRChecks drops from the
// ISR followers not caught up for replica.lag.time.max.ms and adds back
// those that reached the high watermark and the start of the leader's epoch,
// through the controller's AlterPartition; a refusal because the leader's
// epoch moved fences the partition's leader state, so that its waiting
// acks=all produces fail rather than ever being acknowledged. A broker that
// becomes leader records its epoch's start in the leader-epoch checkpoint
// and rebuilds its Idempotency-Key window from the log on first use.

// # Produce
//
// The server hands the produce requests a client pipelined on a connection
// to HandleBatch together. Each partition's batch is checked whole first
// (validateProduced: one batch of magic 2, every record decoded under the
// topic's rules), before anything of any request is appended, and parsed
// only there: the append works from the header and the Idempotency-Key
// found then. The batches for one partition then go to partition.appendLocked,
// the one place that decides what is written together: retries (a
// producer's repeated sequence, a repeated Idempotency-Key) are answered
// with the original offsets, sequence errors are refused, and the rest go to
// the log in runs of one vectored write (commitlog.Log.AppendBatches, which
// trusts that validation and does not checksum again). acks=0 is not
// answered, acks=1 after the append, acks=-1 once the high watermark passes
// the records: refused before the append with NOT_ENOUGH_REPLICAS when the
// ISR is smaller than min.insync.replicas, and answered
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when it shrank below it meanwhile. A
// build with the runnel_unsafe_acks tag answers acks=-1 at the append
// (acks_unsafe.go): the fault harness uses it to show that its checker
// catches lost records.
//
// # Fetch
//
// Fetch never reads record bytes: commitlog.Log.Read returns the file
// regions of whole batches up to the high watermark, and the response
// splices them (kafkaserver.Response.Splice) so the server sends them with
// sendfile(2). The read holds a reference to each segment file until the
// server is done with the response (Response.Release), so retention or
// DeleteRecords deleting a segment meanwhile does not close a file a
// response is sent from. With min_bytes unmet, a fetch waits on the high
// watermarks of its partitions, up to max_wait_ms.
//
// # Following the metadata
//
// The broker applies the member's image at Start and on every change
// (followMetadata, one goroutine, stopped by Close). reconcile opens a log
// for every partition the image gives this broker, applies the image's
// leadership and config to the ones it has, and removes the ones it saw go
// (their directories renamed aside, deleted after file.delete.delay.ms). A
// directory holding data it cannot tie to the image's topic is refused
// (ErrPartitionRefused) and kept untouched; one of an older topic of the
// same name is moved aside only once the member has caught up, so a broker
// whose image is behind never removes data it has not seen go. Opening,
// closing and renaming happen outside the broker's lock: under it reconcile
// only takes partitions out of the map and puts opened ones in, so requests
// for other partitions never wait behind a log recovery.
//
// # Tiered storage
//
// With an object store (Config.Tier), the leader of each partition of a
// remote.storage.enable topic uploads its rolled segments that lie wholly
// below the high watermark, oldest first, past the partition's remote end
// offset (tierUploader, one task per partition and leader epoch, at most
// tierUploadConcurrency segments at once): the segment's files, held open
// without the log's lock (commitlog.ClosedSegment), go create-only under a
// fresh tiering.SegmentKey, the log last, and then a RemoteSegmentAdded
// record, which the metadata refuses unless this broker still leads at
// that epoch. Every replica learns the remote end offset from the image
// (setRemoteEnd) and its retention, then local.retention.*, deletes only
// segments that end at or below it.
//
// # Locks
//
// Lock order: Broker.reconcileMu (one reconcile at a time, held across
// opens), then Broker.mu; a partition's appendMu, then the log's own lock
// inside commitlog. Broker.mu guards only the partition map and the refused
// partitions: it is held to read or change them, never across a call into a
// log, so no request waits on it behind the disk. appendMu serializes a
// partition's appends with its producer state and key window and is held
// across the write; reads never take it.
//
// # Seams
//
// The broker reaches the metadata through Member (MetadataView,
// ControllerClient, Quorum), implemented by raftmeta.Member and, for handler
// tests without a raft group, by raftmetatest.Member; partitions reach their
// logs through partitionLog and the broker its data directory through
// logStore. brokertest runs one broker over in-memory metadata
// (StartBroker) or in-process clusters over raft (Start).
package broker
