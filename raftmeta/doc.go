// Package raftmeta is Runnel's cluster metadata: an etcd-raft group over the
// brokers whose log holds metadata records, in the manner of Kafka's KRaft.
// A broker embeds one Member.
//
// A Member is three things. A raftnode.Node (package raftnode: WAL,
// snapshots, TCP transport) drives a metadata.StateMachine, which applies
// every committed entry to an immutable, copy-on-write metadata.Image; Image
// and Watch give readers a consistent version without locks. A
// controller.Controller runs on every member but is active only while its
// node is the raft leader; a goroutine follows raftnode's leadership channel
// and starts or stops it. And, when AdvertisedAddr is set, a heartbeat loop
// registers this broker with the controller and heartbeats every
// HeartbeatInterval, registering again if the controller answers that the
// broker's epoch is stale.
//
// Requests go to the controller, never straight into the log. Admin calls
// (CreateTopic, DeleteTopic, CreatePartitions, AlterConfigs,
// AllocateProducerIDs), AlterPartition, RegisterBroker and heartbeats are
// sent, from whichever member the caller uses, to the raft leader with
// raftnode's Call; the leader's member hands them to its controller, which
// decides, proposes, and answers after the entry is applied on the leader.
// Forwarding rather than proposing from any member is deliberate: decisions
// such as replica placement, producer id blocks and epoch checks must be made
// against the latest image, serialized with each other, and broker session
// timers exist only on the leader. A follower that forwarded a change then
// waits until its own image has it, so a caller that got an answer reads its
// own writes from the same member. Errors travel as codes and come back as
// RemoteError values that unwrap to the same sentinels (errors.Is works
// across the network). While there is no leader, or the new leader's
// controller is still catching up, calls retry with backoff until their
// context ends; a retried request whose first answer was lost may report the
// conflict its own first attempt caused (for example ErrTopicExists).
//
// Safety does not depend on there being one controller. Every decision is a
// batch validated by the state machine against epochs it carries (partition
// epoch, broker epoch, next producer id), so a deposed controller's late
// proposals are rejected, identically on every node. On becoming leader a
// controller commits an empty barrier batch before acting, so it decides from
// a complete image, and gives every broker a fresh session timeout.
//
// Membership changes go through raft configuration changes: AddVoter,
// AddLearner and RemoveVoter propose a ConfChangeV2 and return once it is
// applied locally.
package raftmeta
