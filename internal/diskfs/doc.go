// Package diskfs is the seam through which Runnel's stores change files on
// disk — the partition logs and their checkpoints (broker/commitlog), the
// producer snapshots (broker/producerstate), the raft WAL and snapshots
// (raftmeta/raftnode) — and the one way they write a file that must appear
// whole.
//
// FS names every operation that changes a file or a directory: opening and
// creating, writing (pwrite and pwritev), truncating, fsync and fdatasync,
// reserving blocks (fallocate), renaming, removing, making and listing
// directories, and fsyncing a directory. Reads of open files and of whole
// files go to the operating system directly: a failing disk shows in the
// writes and syncs a store must refuse after, and that is what tests need
// to inject. OS is the operating system's FS; package faultfs wraps an FS
// and fails chosen operations (a write, an fsync, a rename, ENOSPC at the
// n-th write to files matching a pattern), as pebble's vfs/errorfs and
// franz-go's kfake persistence seam do.
//
// The hot path pays one interface call per write: OS holds no state and a
// single-buffer write is one pwrite, with no allocation.
//
// WriteFileAtomic writes a file that must never be seen half-written:
// temporary file, fsync, rename over the old one, fsync of the directory.
// After a crash the path holds its old contents or the new ones, whole.
package diskfs
