// Package metadata holds Runnel's cluster metadata: the records that make up
// the raft log, the Image they build, and the StateMachine that the raft node
// drives.
//
// Records. Every raft entry is one Batch of Records, encoded by Encode as
// versioned canonical JSON (fields in declaration order, map keys sorted), so
// equal batches are equal bytes. A batch applies atomically: either every
// record applies or none does. Record types follow Kafka's KRaft metadata
// log: broker registration and fencing, topic creation, deletion and config
// changes, partition creation, partition changes (leader and ISR), producer
// id blocks and, for tiering, remote segments. Decode is safe on untrusted
// bytes and is fuzzed.
//
// Image. An Image is one immutable version of the metadata, as of the raft
// index Version. Applying a batch produces a new Image that shares every
// unchanged map and topic with the old one (copy-on-write), so readers hold
// an Image without locks and never see it change. Hash digests a canonical
// serialization (brokers by id, topics by name) so that tests can compare
// nodes; Marshal and UnmarshalImage are the snapshot format.
//
// Validation. Image.Apply checks each record against the image it applies to
// and rejects, with a sentinel error, anything inconsistent: duplicate or
// unknown topics, bad names, unregistered replicas, ISRs that do not contain
// the leader, fenced leaders, stale broker epochs, and changes computed
// against an old partition epoch or producer id counter. The last two make
// proposals optimistic: the controller computes a change from the image it
// sees, and if the image moved in the meantime the change is rejected rather
// than applied to state it was not meant for. Validation looks only at the
// entry and the image, never at clocks, randomness or map order (the
// proposer chooses topic ids and places replicas), so every node accepts and
// rejects the same entries and ends with the same image.
//
// Epochs follow Kafka: a partition's leader epoch increases when its leader
// changes, its partition epoch on every change. A broker's epoch is the raft
// index of the registration of its current incarnation.
package metadata
