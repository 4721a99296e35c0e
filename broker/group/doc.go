// Package group is Runnel's group coordinator: Kafka's classic consumer
// group protocol and committed offsets, for the groups whose partition of
// __consumer_offsets the broker leads.
//
// A group belongs to partition abs(hashCode(group)) % n of
// __consumer_offsets (PartitionFor, Kafka's mapping, so a Kafka tool finds
// the same coordinator). The broker tells the Coordinator which of those
// partitions it leads (Sync) after every metadata change; a newly led
// partition is loaded from its log (Log.Replay: the last record of each
// key wins, tombstones remove) while its groups answer
// COORDINATOR_LOAD_IN_PROGRESS, and a partition no longer led is unloaded
// (NOT_COORDINATOR, waiting joins and syncs answered).
//
// Records are Kafka's own (kmsg's generated codecs of Kafka's JSON
// schemas): OffsetCommitKey v1 and OffsetCommitValue v3 for offsets,
// GroupMetadataKey v2 and GroupMetadataValue v3 for a group's generation,
// protocol, leader and members with their assignments; v4 (flexible)
// values decode too. Every write goes through Log.Append, which returns
// once the partition's in-sync replicas have it: an offset is answered and
// visible only after that, and a generation becomes Stable only once its
// assignment is written.
//
// The state machine follows Kafka's GroupCoordinator: Empty,
// PreparingRebalance (members rejoin within the rebalance timeout; the
// first rebalance of an empty group waits group.initial.rebalance.delay.ms
// for more members), CompletingRebalance (the leader's SyncGroup carries
// the assignment; assignors are the clients'), Stable, Dead. A member is
// removed when it is not heard from within its session timeout. KIP-394
// hands a new dynamic member its id with MEMBER_ID_REQUIRED; static members
// (KIP-345) keep their place across restarts under group.instance.id, an
// older instance being fenced (FENCED_INSTANCE_ID). Offsets of a group
// that stayed Empty for offsets.retention.minutes are tombstoned.
//
// KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe)
// live beside classic ones (consumer.go, heartbeat848.go): members
// heartbeat with their owned partitions, the coordinator keeps a group
// epoch (bumped once per request that changes members, subscriptions or
// subscribed topics), computes the target assignment with the uniform or
// range assignor (assignors.go), and moves each member toward it: revoked
// partitions first, at the member's old epoch (so it can commit them), and
// a partition goes to its new owner only after the old one reported it
// released; a member that does not release within its rebalance timeout
// is fenced. Every change is written to __consumer_offsets as Kafka's
// ConsumerGroup* records (records848.go: group epoch, member metadata,
// target assignment, current assignment; tombstones when a member leaves
// or the group is deleted) through the group's ordered write queue, and
// the heartbeat is answered only once they have every in-sync replica. A
// new coordinator replays them with the classic records and rebuilds each
// consumer group, starting every member's session afresh: members go on
// with their ids, epochs and partitions. A failed write reloads the
// partition from the log, so a member is never told what the log lacks.
//
// One mutex guards every group; it is never held across a write or a
// wait. Timers (sessions, rebalances, pending member ids) take it when
// they fire and check that what they were armed for still holds.
package group
