// Package controller is Runnel's metadata controller, the counterpart of
// Kafka's KRaft controller (KIP-631). It runs on every metadata member but is
// active only on the raft leader.
//
// The controller turns requests and timeouts into metadata records. Admin
// requests (CreateTopic, DeleteTopic, CreatePartitions, AlterConfigs,
// AllocateProducerIDs) are checked, turned into records (placing replicas,
// choosing topic ids and producer id blocks), proposed, and answered once
// the entry is committed and applied locally, so a caller that got an answer
// sees its change in the image of the member that answered. Brokers register,
// heartbeat and send AlterPartition requests (KIP-497) to it.
//
// Decisions are serialized by one mutex and made against the latest local
// image: read the image, compute the records, check them with Image.Apply on
// a scratch copy, propose, wait for the apply. The state machine checks them
// again when they commit, against epochs carried in the records (partition
// epoch, broker epoch, the next producer id), so a decision made on stale
// state, say by a controller that lost leadership mid-way, is rejected
// instead of applied.
//
// Broker liveness follows Kafka, with one addition for fast failover. A
// broker that has not heartbeated for the session timeout is fenced; so is
// one whose raft node has had no connection to the controller's node for
// ConnLostGrace (1 s): a dead process's kernel closes its sockets, while a
// live one keeps a connection and dials again at once, and a slow or paused
// one keeps it too, so it is fenced by its session only and does not flap.
// Either way it is fenced in one commit together with its consequences:
// it leaves every ISR, and every partition it led gets a new leader, the
// first replica in replica order that is in the ISR and unfenced. If the ISR
// has no such member, a topic with unclean.leader.election.enable=true takes
// any unfenced replica (with an ISR of just that one); otherwise the
// partition goes leaderless, keeping its last ISR member so that broker can
// lead again when it returns. A fenced broker that heartbeats is unfenced in
// one commit with the leaderless partitions it can lead.
//
// Heartbeat times live only in the active controller's memory. On becoming
// leader the controller first commits an empty batch as a barrier (after it
// applies, the local image contains every earlier decision) and then starts
// every broker's session afresh, giving each a full session timeout to reach
// the new controller: no broker is fenced for heartbeats that went to the old
// one, and decisions already in the log are neither lost nor repeated.
//
// Leadership also moves on request and on schedule. ElectLeaders runs
// preferred or unclean elections (KIP-460). RebalanceLeaders, run every
// Rebalance.Interval, hands partitions back to their preferred replica when
// a broker's share led by others passes Rebalance.ImbalancePercentage
// (Kafka's auto.leader.rebalance.enable). A heartbeat with WantShutDown
// starts a controlled shutdown: the broker leaves the ISRs and its
// leaderships move, and it is never elected nor added to an ISR until it
// registers again; this state lives in the active controller's memory
// (every heartbeat of a stopping broker asks again, so a new controller
// learns it within one heartbeat). ReassignPartitions moves replicas
// (KIP-455): the replica set becomes the target followed by the replicas
// being removed, and the AlterPartition that puts every target replica in
// the ISR also drops the others.
//
// Every committed leader change is counted, apart for unclean ones (a
// leader outside the old ISR), which are also logged as warnings.
//
// Placement stripes replicas across racks like Kafka's StripedReplicaPlacer
// (see placer). Nothing here reads a clock except through Config.Now, so the
// package is tested with a fake clock and an in-memory Proposer.
package controller
