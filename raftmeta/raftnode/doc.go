// Package raftnode runs one member of an etcd-raft group with its own durable
// storage and TCP transport. Runnel's metadata (package raftmeta) is built on it:
// the brokers form one raft group, the leader acts as controller, and every broker
// applies the committed metadata records to its in-memory image.
//
// # Loop
//
// A Node owns a raft.RawNode on one goroutine (run). Each turn it takes one input
// (a tick, a batch of proposals, a batch of received messages, transport reports)
// and then handles a Ready in the order of etcd's raftexample serveChannels:
// persist (snapshot file, then WAL entries and HardState with one write and one
// fdatasync, then raft's MemoryStorage), send, apply committed entries (normal
// entries to the StateMachine, configuration changes to raft), Advance.
// Concurrent proposals queue on a channel and are stepped as one MsgProp, so a
// busy node writes many entries per fsync.
//
// Every proposal carries an envelope (proposer id, a random per-start epoch, a
// sequence number) in front of the caller's data. When the entry is applied, the
// proposer's waiter is found by it and gets the entry's index and the error
// StateMachine.Apply returned; the StateMachine only ever sees the caller's bytes.
//
// # Storage
//
// Dir/wal holds segment files of CRC-32C framed records (entries, HardState,
// snapshot markers); Dir/snap holds snapshot files written whole
// (diskfs.WriteFileAtomic: temp, fsync, rename, fsync dir), and checked by CRC
// when loaded. Every change to these files goes through Config.FS, the seam
// tests fail (faultfs); a failed write or sync stops the node (Err). On open the newest whole snapshot is
// restored into the StateMachine and the WAL after it is replayed. Only a write
// torn by a crash at the very end of the log is cut (the file is truncated at the
// last good record and the cut bytes are kept in a .broken file); what counts as
// torn follows etcd's WAL: a record running past the end of the file, or one with
// a sector of zeros, with no valid record after it. Any other damage, and a WAL
// and snapshots that together miss committed entries, is a *CorruptError naming
// the file and offset: the node refuses to start rather than lose committed
// metadata. A damaged newest snapshot is passed over (and renamed *.broken) only
// when an older one plus the WAL hold the same state. After SnapshotEntries applied entries
// the node snapshots the StateMachine, compacts the in-memory log (keeping
// SnapshotCatchUpEntries for slow followers) and deletes WAL segments the snapshot
// covers. Followers further behind get the snapshot over the transport (MsgSnap)
// and Restore it.
//
// # Transport
//
// Each node keeps one outgoing TCP connection per peer, written by one goroutine
// from a bounded queue: queued messages go out in one write, and when the queue is
// full raft messages are dropped (raft retries) and reported with
// ReportUnreachable / ReportSnapshot. Frames are length-prefixed and CRC-checked;
// a connection starts with a handshake naming cluster id, sender and receiver, and
// a peer of another cluster is refused and logged. Garbage, absurd lengths or
// unexpected frames close that connection with a log line; nothing a peer sends is
// trusted for an allocation larger than the bytes it actually sent. The same
// connections carry Call, a small request/response RPC served by Config.Handler.
//
// # Membership
//
// A node with an empty Dir bootstraps with Config.Voters (identical on every
// initial voter). A Learner starts empty and waits to be added by a member with
// ProposeConfChange; it dials the known peers at start so that they learn its
// address from the handshake. Configuration changes are validated before raft
// applies them, so an invalid one is rejected on every node instead of panicking.
//
// Package raftnodetest runs in-process and multi-process clusters with fault
// injection for tests.
package raftnode
